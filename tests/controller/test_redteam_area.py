"""Red-team finding 3 (issue 12): one rule for broadcasts that target several zones. An official
acts on a broadcast (cancel, stop) only when every target zone lies in their area, and reads only
the dispatches of nodes inside it. Real controller app and SQLite, and the real Mosquitto side of
test_redteam_approval for what nodes are told."""

from __future__ import annotations

import queue
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient

from controller.domain.seed import SeededCommune
from tests.controller.conftest import People
from tests.controller.test_redteam_approval import NodeSide, _approve, _submitted
from tests.controller.test_web import _signed_in
from tests.support.broker import Mosquitto


@pytest.fixture
def nodes(client: TestClient, mosquitto: Mosquitto) -> Iterator[NodeSide]:
    side = NodeSide(client, mosquitto)
    yield side
    side.close()


def _two_villages(client: TestClient, people: People, commune: SeededCommune) -> int:
    announcement_id = _submitted(client, people)
    _approve(client, people, announcement_id)
    made = client.post(
        "/api/v1/broadcasts",
        json={
            "announcement_id": announcement_id,
            "zone_ids": [people.village_zone, people.other_zone],
            "starts_at": (datetime.now(UTC) + timedelta(minutes=3)).isoformat(),
        },
        headers=people.headers("approver"),
    )
    assert made.status_code == 201, made.text
    return int(made.json()["id"])


def _states(client: TestClient, broadcast_id: int) -> dict[str, str]:
    db = client.app.state.runtime.store.db  # type: ignore[attr-defined]
    return {
        r["node_id"]: r["state"]
        for r in db.query(
            "SELECT node_id, state FROM dispatches WHERE broadcast_id = ?", [broadcast_id]
        )
    }


def test_a_village_editor_cannot_cancel_a_broadcast_shared_with_another_village(
    client: TestClient, people: People, commune: SeededCommune, nodes: NodeSide
):
    broadcast_id = _two_villages(client, people, commune)
    client.app.state.runtime.dispatcher = nodes.dispatcher  # type: ignore[attr-defined]
    nodes.dispatcher.deliver()
    nodes.received(2)
    before = _states(client, broadcast_id)
    refused = client.post(
        f"/api/v1/broadcasts/{broadcast_id}/cancel", headers=people.headers("village_editor")
    )
    assert refused.status_code == 403, refused.text
    assert refused.json()["error"]["code"] == "outside_area"
    assert _states(client, broadcast_id) == before
    assert set(before.values()) == {"sent"}
    with pytest.raises(queue.Empty):
        nodes.commands.get(timeout=0.5)  # nobody was told to drop it
    # The web form follows the same rule.
    browser, csrf = _signed_in(client, "village_editor")
    page = browser.post(f"/broadcasts/{broadcast_id}/cancel", data={"csrf": csrf})
    assert page.status_code == 422
    assert _states(client, broadcast_id) == before
    # A commune-wide official may: every zone is inside their area.
    done = client.post(
        f"/api/v1/broadcasts/{broadcast_id}/cancel", headers=people.headers("editor")
    )
    assert done.status_code == 200, done.text
    assert set(_states(client, broadcast_id).values()) == {"cancelled"}


def test_reading_a_shared_broadcast_shows_only_the_dispatches_inside_the_area(
    client: TestClient, people: People, commune: SeededCommune
):
    broadcast_id = _two_villages(client, people, commune)
    db = client.app.state.runtime.store.db  # type: ignore[attr-defined]
    inside = {
        r["id"] for r in db.query("SELECT id FROM nodes WHERE zone_id = ?", [people.village_zone])
    }
    assert inside and set(_states(client, broadcast_id)) - inside
    detail = client.get(
        f"/api/v1/broadcasts/{broadcast_id}", headers=people.headers("village_editor")
    )
    assert detail.status_code == 200
    assert {d["node_id"] for d in detail.json()["dispatches"]} == inside
    listed = client.get("/api/v1/broadcasts", headers=people.headers("village_editor")).json()
    assert [b["total"] for b in listed if b["id"] == broadcast_id] == [len(inside)]
    browser, _ = _signed_in(client, "village_editor")
    page = browser.get(f"/broadcasts/{broadcast_id}")
    assert page.status_code == 200
    outside = set(_states(client, broadcast_id)) - inside
    assert not any(node_id in page.text for node_id in outside)
