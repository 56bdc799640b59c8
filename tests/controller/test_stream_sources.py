"""Stream sources through the API: a relay on a source that is off the air, removing a source a
relay still needs, and the audit trail of sources. The station is a closed loopback port, so
every health check fails at once; a healthy source is one whose last check passed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi.testclient import TestClient

from controller.core.db import table
from controller.domain.seed import SeededCommune
from tests.support.net import free_port

DEAD_URL = f"http://127.0.0.1:{free_port()}/vov1.mp3"


def _source(client: TestClient, name: str = "VOV1") -> int:
    made = client.post(
        "/api/v1/stream-sources",
        json={"name": name, "url": DEAD_URL, "accept_unhealthy": True},
    )
    assert made.status_code == 201, made.text
    return int(made.json()["id"])


def _relay(source_id: int, zone: int, **extra: Any) -> dict[str, Any]:
    starts = datetime.now(UTC) + timedelta(hours=2)
    return {
        "stream_source_id": source_id,
        "zone_ids": [zone],
        "window_s": 600,
        "starts_at": starts.isoformat(),
        **extra,
    }


def _relay_count(client: TestClient) -> int:
    db = client.app.state.runtime.store.db  # type: ignore[attr-defined]
    return int(db.execute("SELECT COUNT(*) FROM broadcasts WHERE kind = 'relay'").fetchone()[0])


def test_a_relay_on_a_source_off_the_air_is_refused_unless_accepted(
    client: TestClient, commune: SeededCommune
):
    source = _source(client)
    refused = client.post("/api/v1/relays", json=_relay(source, commune.commune_id))
    assert refused.status_code == 422, refused.text
    error = refused.json()["error"]
    assert (error["code"], error["field"]) == ("stream_source_unhealthy", "stream_source_id")
    assert error["message"].startswith("Nguồn «VOV1» đang lỗi")
    assert "refused" in error["details"]["error"].lower()
    assert _relay_count(client) == 0, "nothing saved"
    # checked again just now, not only read from the last check
    checked = client.get(f"/api/v1/stream-sources/{source}").json()["health"]["checked_at"]
    assert checked > (datetime.now(UTC) - timedelta(seconds=5)).isoformat()

    accepted = client.post(
        "/api/v1/relays", json=_relay(source, commune.commune_id, accept_unhealthy=True)
    )
    assert accepted.status_code == 201, accepted.text


def test_a_relay_on_a_healthy_source_needs_no_new_check(client: TestClient, commune: SeededCommune):
    source = _source(client)
    db = client.app.state.runtime.store.db  # type: ignore[attr-defined]
    table(db, "stream_sources").update(source, {"reachable": 1, "error": None})
    made = client.post("/api/v1/relays", json=_relay(source, commune.commune_id))
    assert made.status_code == 201, made.text


def test_a_source_a_relay_still_needs_is_not_removed(client: TestClient, commune: SeededCommune):
    source = _source(client)
    relay = client.post(
        "/api/v1/relays",
        json=_relay(source, commune.commune_id, accept_unhealthy=True, title="Thời sự sáng"),
    ).json()["id"]
    refused = client.delete(f"/api/v1/stream-sources/{source}")
    assert refused.status_code == 409, refused.text
    error = refused.json()["error"]
    assert error["code"] == "stream_source_in_use"
    assert error["details"] == [{"broadcast_id": relay, "title": "Thời sự sáng"}]
    assert "«Thời sự sáng»" in error["message"]
    assert client.get(f"/api/v1/stream-sources/{source}").status_code == 200, "still there"

    assert client.post(f"/api/v1/broadcasts/{relay}/cancel").is_success
    assert client.delete(f"/api/v1/stream-sources/{source}").status_code == 204
    assert client.get(f"/api/v1/stream-sources/{source}").status_code == 404


def test_adding_changing_and_removing_a_source_is_audited(client: TestClient):
    source = _source(client)
    changed = client.put(
        f"/api/v1/stream-sources/{source}",
        json={"name": "VOV1 (FM)", "url": DEAD_URL, "accept_unhealthy": True},
    )
    assert changed.status_code == 200, changed.text
    assert client.delete(f"/api/v1/stream-sources/{source}").status_code == 204
    entries = client.get(
        "/api/v1/audit", params={"entity": "stream_source", "entity_id": str(source)}
    ).json()
    assert sorted(e["action"] for e in entries) == [
        "stream_source.create",
        "stream_source.delete",
        "stream_source.update",
    ]
    update = next(e for e in entries if e["action"] == "stream_source.update")
    assert "VOV1" in str(update["before"]) and "VOV1 (FM)" in str(update["after"])
