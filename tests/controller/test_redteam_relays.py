"""Red-team finding 4 (issue 12): relays skipped approval. Stream sources are written by admins
and approvers only; a relay an editor schedules waits for an approver and reaches no node before.
Real controller app and SQLite; what nodes receive is read from a real Mosquitto."""

from __future__ import annotations

import queue
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient

from controller.domain.seed import SeededCommune
from tests.controller.conftest import People
from tests.controller.test_redteam_approval import NodeSide
from tests.support.broker import Mosquitto
from tests.support.net import free_port

DEAD_URL = f"http://127.0.0.1:{free_port()}/coi-bao-dong.mp3"


@pytest.fixture
def nodes(client: TestClient, mosquitto: Mosquitto) -> Iterator[NodeSide]:
    side = NodeSide(client, mosquitto)
    yield side
    side.close()


def _source(client: TestClient, people: People, who: str) -> tuple[int, int]:
    made = client.post(
        "/api/v1/stream-sources",
        json={"name": f"Nguồn của {who}", "url": DEAD_URL, "accept_unhealthy": True},
        headers=people.headers(who),
    )
    return made.status_code, int(made.json().get("id", 0))


def test_only_admins_and_approvers_add_or_change_stream_sources(client: TestClient, people: People):
    for who in ("editor", "viewer", "operator"):
        assert _source(client, people, who)[0] == 403, who
    status, source_id = _source(client, people, "approver")
    assert status == 201
    changed = client.put(
        f"/api/v1/stream-sources/{source_id}",
        json={"name": "Đổi", "url": DEAD_URL, "accept_unhealthy": True},
        headers=people.headers("editor"),
    )
    assert changed.status_code == 403
    removed = client.delete(f"/api/v1/stream-sources/{source_id}", headers=people.headers("editor"))
    assert removed.status_code == 403
    assert _source(client, people, "admin")[0] == 201


def test_an_editors_urgent_relay_waits_for_an_approver_before_any_node_gets_it(
    client: TestClient, people: People, commune: SeededCommune, nodes: NodeSide
):
    _, source_id = _source(client, people, "admin")
    node = commune.nodes[0]
    made = client.post(
        "/api/v1/relays",
        json={
            "stream_source_id": source_id,
            "zone_ids": [node.zone_id],
            "window_s": 600,
            "priority": "urgent",
            "accept_unhealthy": True,
            "starts_at": (datetime.now(UTC) + timedelta(minutes=30)).isoformat(),
        },
        headers=people.headers("editor"),
    )
    assert made.status_code == 201, made.text
    relay = made.json()
    assert relay["approval"] == "pending"
    nodes.dispatcher.deliver()
    with pytest.raises(queue.Empty):
        nodes.commands.get(timeout=0.5)
    url = f"/api/v1/relays/{relay['id']}/approve"
    assert client.post(url, headers=people.headers("editor")).status_code == 403
    approved = client.post(url, headers=people.headers("approver"))
    assert approved.status_code == 200, approved.text
    assert approved.json()["approval"] == "approved"
    again = client.post(url, headers=people.headers("approver"))
    assert again.status_code == 409 and again.json()["error"]["code"] == "relay_not_pending"
    nodes.dispatcher.deliver()
    put = nodes.received(1)[0]
    assert put["type"] == "schedule.put" and put["node"] == node.node_id
    assert [i["broadcast"] for i in put["body"]["items"]] == [relay["id"]]
    db = client.app.state.runtime.store.db  # type: ignore[attr-defined]
    actions = [
        r["action"]
        for r in db.query(
            "SELECT action FROM audit_log WHERE entity = 'broadcast' AND entity_id = ? ORDER BY id",
            [relay["id"]],
        )
    ]
    assert actions == ["broadcast.relay", "broadcast.relay_approve"]


def test_an_approvers_relay_is_approved_as_it_is_made(
    client: TestClient, people: People, commune: SeededCommune
):
    _, source_id = _source(client, people, "admin")
    made = client.post(
        "/api/v1/relays",
        json={
            "stream_source_id": source_id,
            "zone_ids": [commune.nodes[0].zone_id],
            "window_s": 600,
            "accept_unhealthy": True,
            "starts_at": (datetime.now(UTC) + timedelta(minutes=30)).isoformat(),
        },
        headers=people.headers("approver"),
    )
    assert made.status_code == 201 and made.json()["approval"] == "approved"


def test_the_relay_list_marks_a_pending_relay_and_counts_only_the_villages_dispatches(
    client: TestClient, people: People, commune: SeededCommune
):
    import re

    from tests.controller.test_web import _signed_in

    _, source_id = _source(client, people, "admin")
    made = client.post(
        "/api/v1/relays",
        json={
            "stream_source_id": source_id,
            "zone_ids": [people.village_zone, people.other_zone],
            "window_s": 600,
            "accept_unhealthy": True,
            "starts_at": (datetime.now(UTC) + timedelta(minutes=30)).isoformat(),
        },
        headers=people.headers("editor"),
    )
    assert made.status_code == 201, made.text
    relay_id = made.json()["id"]
    browser, _csrf = _signed_in(client, "village_approver")
    listing = browser.get("/relays").text
    row = re.sub(r"\s+", " ", re.search(rf'<tr data-relay="{relay_id}".*?</tr>', listing, re.S)[0])
    assert "Chờ duyệt" in row and "0/1" in row, row
    # another village shares it: the village's approver may not approve it for both
    refused = client.post(
        f"/api/v1/relays/{relay_id}/approve", headers=people.headers("village_approver")
    )
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "outside_area"


def test_an_editors_relay_waits_on_the_approvals_page_until_approved(
    client: TestClient, people: People, commune: SeededCommune
):
    """Approvers look for what waits on Duyệt bản tin: a pending relay is listed there with the
    way to its page (where it is approved), and leaves the list once approved."""
    from tests.controller.test_web import _signed_in

    _, source_id = _source(client, people, "admin")
    made = client.post(
        "/api/v1/relays",
        json={
            "stream_source_id": source_id,
            "title": "Tiếp sóng VOV1 chờ duyệt",
            "zone_ids": [commune.nodes[0].zone_id],
            "window_s": 600,
            "accept_unhealthy": True,
            "starts_at": (datetime.now(UTC) + timedelta(minutes=30)).isoformat(),
        },
        headers=people.headers("editor"),
    )
    assert made.status_code == 201, made.text
    relay_id = made.json()["id"]
    approver, _csrf = _signed_in(client, "approver")
    page = approver.get("/approvals").text
    assert "Tiếp sóng chờ duyệt" in page and "Tiếp sóng VOV1 chờ duyệt" in page
    assert f'href="/broadcasts/{relay_id}"' in page and "Xem và duyệt" in page
    editor, _ = _signed_in(client, "editor")
    assert "Xem và duyệt" not in editor.get("/approvals").text, "only approvers are offered it"
    approved = client.post(f"/api/v1/relays/{relay_id}/approve", headers=people.headers("approver"))
    assert approved.status_code == 200
    assert "Tiếp sóng VOV1 chờ duyệt" not in approver.get("/approvals").text
