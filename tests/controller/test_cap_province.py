"""Province → commune without a protocol of their own (issue 16): a province's Loa, served over
real HTTP, publishes its emergency on /cap/feed.atom; a commune's Loa polls that feed as a CAP
source and sounds it on the clusters of the zone whose administrative code the province named,
and the province's cancel stops it."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from fastapi.testclient import TestClient

from controller.app import create_app
from controller.core.settings import Settings
from controller.domain.seed import SeededCommune, seed_commune
from controller.domain.users import create_token
from controller.services.cap_feeds import CapFeeds
from tests.controller.conftest import TOKEN, People
from tests.support.net import free_port, wait_for_port

CODE = "20335"  # the commune's village Lạc Xuân, as the province and the commune both know it


def _db(client: TestClient) -> Any:
    return client.app.state.runtime.store.db  # type: ignore[attr-defined]


@pytest.fixture
def province(tmp_path: Path) -> Iterator[tuple[TestClient, SeededCommune, str]]:
    """A province's Loa on a real port (its own database, its own zones)."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    settings = Settings(
        data_dir=tmp_path / "province",
        api_token=TOKEN,
        public_url=base,
        cap_sender="loa@tinh-quang-nam",
    )
    app = create_app(settings, start_services=False)
    create_token(app.state.runtime.store.db, "test", token=TOKEN)
    seeded = seed_commune(app.state.runtime.store)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    wait_for_port(port)
    try:
        with TestClient(app, headers={"Authorization": f"Bearer {TOKEN}"}) as client:
            yield client, seeded, base
    finally:
        server.should_exit = True
        thread.join(10)


def test_a_province_emergency_reaches_the_commune_clusters_through_the_feed(
    client: TestClient,
    commune: SeededCommune,
    province: tuple[TestClient, SeededCommune, str],
) -> None:
    province_client, province_zones, base = province
    # the province names the village by its code; the commune's admin set the same code
    _db(province_client).execute(
        "UPDATE zones SET admin_code = ? WHERE id = ?", [CODE, province_zones.nodes[0].zone_id]
    )
    _db(client).execute(
        "UPDATE zones SET admin_code = ? WHERE id = ?", [CODE, commune.nodes[0].zone_id]
    )
    _db(client).execute(
        "UPDATE zones SET admin_code = '20350' WHERE id = ?", [commune.nodes[1].zone_id]
    )
    made = client.post(
        "/api/v1/cap/sources",
        json={"name": "Loa tỉnh Quảng Nam", "url": f"{base}/cap/feed.atom", "interval_s": 30},
    )
    assert made.status_code == 201, made.text
    feeds = CapFeeds(client.app.state.runtime)  # type: ignore[attr-defined]
    start = datetime.now(UTC)
    feeds.run_once(start)
    assert list(_db(client).query("SELECT * FROM cap_alerts")) == []  # an empty feed

    people = People(province_client, province_zones)
    sent = province_client.post(
        "/api/v1/emergency",
        json={
            "title": "Lũ quét",
            "text": "Nước lũ dâng nhanh ở thôn Lạc Xuân, sơ tán ngay.",
            "zone_ids": [province_zones.nodes[0].zone_id],
        },
        headers=people.headers("approver"),
    )
    assert sent.status_code == 201, sent.text
    province_broadcast = sent.json()["id"]

    feeds.run_once(start + timedelta(seconds=60))
    (row,) = _db(client).query("SELECT * FROM cap_alerts")
    assert row["sender"] == "loa@tinh-quang-nam" and row["outcome"] == "emergency", row
    assert row["identifier"].startswith(f"loa-b{province_broadcast}-")
    assert row["severity"] == "Extreme" and row["headline"] == "Lũ quét"
    nodes = {
        r["node_id"]
        for r in _db(client).query(
            "SELECT node_id FROM dispatches WHERE broadcast_id = ?", [row["broadcast_id"]]
        )
    }
    assert nodes == {commune.nodes[0].node_id}  # Lạc Xuân's cluster only

    cancelled = province_client.post(
        f"/api/v1/broadcasts/{province_broadcast}/cancel",
        json={"reason": "Nước đã rút"},
        headers=people.headers("approver"),
    )
    assert cancelled.status_code == 200, cancelled.text
    feeds.run_once(start + timedelta(seconds=120))
    outcomes = {
        r["msg_type"]: r["outcome"]
        for r in _db(client).query("SELECT msg_type, outcome FROM cap_alerts")
    }
    assert outcomes == {"Alert": "emergency", "Cancel": "cancelled"}, outcomes
    (status,) = (
        _db(client)
        .execute("SELECT status FROM broadcasts WHERE id = ?", [row["broadcast_id"]])
        .fetchone()
    )
    assert status == "cancelled"
