"""The whole loop on real parts: text → Vietnamese speech → schedule → MQTT → three node-agent
processes playing on time. Real Mosquitto, real SQLite, real ffmpeg and espeak-ng."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.support.broker import Mosquitto
from tests.support.net import wait_until
from tests.support.system import APPROVER_TOKEN, EDITOR_TOKEN, Commune

pytestmark = pytest.mark.slow

TEXT = "Thông báo của UBND xã Lạc Lâm: 7h30 sáng mai, trạm y tế tiêm chủng cho trẻ em."


@pytest.fixture
def commune(tmp_path: Path, mosquitto: Mosquitto) -> Iterator[Commune]:
    c = Commune(tmp_path, mosquitto.url)
    try:
        yield c
    finally:
        c.stop()
        print(c.logs())


def _schedule(commune: Commune, seconds_ahead: float) -> dict:
    announcement_id = commune.approved_announcement("Tiêm chủng", TEXT)
    with commune.api(EDITOR_TOKEN) as api:
        starts_at = datetime.now(UTC) + timedelta(seconds=seconds_ahead)
        response = api.post(
            "/api/v1/broadcasts",
            json={
                "announcement_id": announcement_id,
                "zone_ids": [commune.seeded.commune_id],
                "starts_at": starts_at.isoformat(),
            },
        )
        assert response.status_code == 201, response.text
        return response.json()


def _broadcast(commune: Commune, broadcast_id: int) -> dict:
    with commune.api() as api:
        return api.get(f"/api/v1/broadcasts/{broadcast_id}").json()


def _assert_played_on_time(commune: Commune, broadcast: dict) -> None:
    play_at = datetime.fromisoformat(broadcast["starts_at"])
    for node in commune.seeded.nodes:
        plays = commune.plays(node.node_id)
        assert len(plays) == 1, (node.node_id, plays)
        play = plays[0]
        assert play["sha256"] == broadcast["media_sha256"]
        assert play["broadcast"] == broadcast["id"]
        assert play["result"] == "played"
        late_ms = (datetime.fromisoformat(play["started_at"]) - play_at).total_seconds() * 1000
        assert abs(late_ms) < 100, f"{node.node_id} started {late_ms:.1f} ms from play_at"


def test_announcement_plays_on_every_node_of_the_commune_on_time(commune: Commune):
    commune.start_controller()
    commune.start_nodes()
    commune.wait_nodes_online()
    broadcast = _schedule(commune, seconds_ahead=5)
    assert {d["node_id"] for d in broadcast["dispatches"]} == {
        n.node_id for n in commune.seeded.nodes
    }
    assert all(d["state"] in ("queued", "sent") for d in broadcast["dispatches"])

    def all_played() -> bool:
        states = {d["state"] for d in _broadcast(commune, broadcast["id"])["dispatches"]}
        return states == {"played"}

    wait_until(all_played, timeout=40, interval=0.25, what="every dispatch played")
    _assert_played_on_time(commune, broadcast)
    final = _broadcast(commune, broadcast["id"])
    assert final["played"] == 3
    for d in final["dispatches"]:
        assert d["started_at"] and d["finished_at"] and d["finished_at"] > d["started_at"]


def test_nodes_play_on_time_when_the_controller_is_killed_after_dispatch(commune: Commune):
    commune.start_controller()
    commune.start_nodes()
    commune.wait_nodes_online()
    broadcast = _schedule(commune, seconds_ahead=8)

    def all_held() -> bool:
        """Every node acked the schedule and holds the verified audio (an ack comes on receipt;
        the download follows, and a node can only play what it holds once the controller,
        which serves the audio, is gone)."""
        states = {d["state"] for d in _broadcast(commune, broadcast["id"])["dispatches"]}
        return states == {"acked"} and all(
            (commune.node_dir(n.node_id) / "media" / broadcast["media_sha256"]).is_file()
            for n in commune.seeded.nodes
        )

    wait_until(all_held, timeout=10, interval=0.1, what="every node acked and holds the audio")
    assert commune.controller is not None
    commune.controller.kill()  # SIGKILL, before play time

    play_at = datetime.fromisoformat(broadcast["starts_at"])
    wait_until(
        lambda: all(commune.plays(n.node_id) for n in commune.seeded.nodes),
        timeout=(play_at - datetime.now(UTC)).total_seconds() + 30,
        what="every node's sink to record the play",
    )
    _assert_played_on_time(commune, broadcast)

    # The reports the nodes sent while the controller was down wait in its persistent session.
    commune.start_controller()
    wait_until(
        lambda: (
            {d["state"] for d in _broadcast(commune, broadcast["id"])["dispatches"]} == {"played"}
        ),
        timeout=20,
        what="reports delivered after the controller restarts",
    )
    time.sleep(0.5)
    assert all(len(commune.plays(n.node_id)) == 1 for n in commune.seeded.nodes)


def test_emergency_reaches_every_node_at_once_and_plays(commune: Commune):
    commune.start_controller()
    commune.start_nodes()
    commune.wait_nodes_online()
    with commune.api(APPROVER_TOKEN) as api:
        asked = datetime.now(UTC)
        response = api.post(
            "/api/v1/emergency",
            json={
                "title": "Cảnh báo lũ",
                "text": "Khẩn cấp: nước sông lên nhanh, bà con di chuyển lên vùng cao.",
                "zone_ids": [commune.seeded.commune_id],
                "repeats": 1,
            },
        )
        assert response.status_code == 201, response.text
        broadcast = response.json()
        assert broadcast["emergency"] is True and broadcast["priority"] == "emergency"

        def acked() -> bool:
            detail = api.get(f"/api/v1/broadcasts/{broadcast['id']}").json()
            return bool(detail["acked"] == 3)

        wait_until(acked, timeout=15, interval=0.1, what="three nodes acking play.now")
    wait_until(
        lambda: all(commune.plays(n.node_id) for n in commune.seeded.nodes),
        timeout=40,
        what="the emergency played everywhere",
    )
    for node in commune.seeded.nodes:
        play = commune.plays(node.node_id)[0]
        assert play["broadcast"] == broadcast["id"]
        started = datetime.fromisoformat(play["started_at"])
        assert (started - asked).total_seconds() < 5, "an emergency does not wait"
