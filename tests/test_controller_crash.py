"""The controller is SIGKILLed at each stage of a broadcast's life — queued, delivered and acked,
playing — and restarted: the broadcast completes, every node plays it exactly once, and the play
log ends complete. Real Mosquitto, real controller and node-agent processes."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.support.broker import Mosquitto
from tests.support.net import wait_until
from tests.support.system import EDITOR_TOKEN, Commune

pytestmark = pytest.mark.slow


@pytest.fixture
def commune(tmp_path: Path, mosquitto: Mosquitto) -> Iterator[Commune]:
    # Occurrences are delivered 4 s ahead, so a broadcast can be caught while still queued.
    c = Commune(tmp_path, mosquitto.url, horizon_s=4)
    try:
        yield c
    finally:
        c.stop()
        print(c.logs())


def test_a_broadcast_survives_the_controller_dying_at_every_stage(commune: Commune):
    commune.start_controller()
    commune.start_nodes()
    commune.wait_nodes_online()
    announcement = commune.approved_announcement("Họp dân", "Mời bà con họp lúc 19h tối nay.")
    play_at = datetime.now(UTC) + timedelta(seconds=16)
    with commune.api(EDITOR_TOKEN) as api:
        created = api.post(
            "/api/v1/broadcasts",
            json={
                "announcement_id": announcement,
                "zone_ids": [commune.seeded.commune_id],
                "starts_at": play_at.isoformat(),
            },
        ).json()
    broadcast_id = created["id"]
    assert created["dispatches"] == [], "not inside the delivery horizon yet"

    def states() -> set[str]:
        with commune.api() as api:
            response = api.get(f"/api/v1/broadcasts/{broadcast_id}")
            return {d["state"] for d in response.json()["dispatches"]}

    assert commune.controller is not None
    commune.controller.kill()  # 1: saved, not yet planned or delivered
    commune.start_controller()
    wait_until(lambda: states() == {"acked"}, timeout=25, what="delivered after restart")
    sha = created["media_sha256"]
    wait_until(
        lambda: all(
            (commune.node_dir(n.node_id) / "media" / sha).exists() for n in commune.seeded.nodes
        ),
        timeout=15,
        what="every node holds the media",
    )

    commune.controller.kill()  # 2: delivered and acked, before play time
    commune.start_controller()
    wait_until(
        lambda: "playing" in states() or "played" in states(),
        timeout=20,
        what="nodes report playing",
    )

    commune.controller.kill()  # 3: while the speakers play
    wait_until(
        lambda: all(commune.plays(n.node_id) for n in commune.seeded.nodes),
        timeout=30,
        what="every node finished",
    )
    commune.start_controller()
    wait_until(lambda: states() == {"played"}, timeout=20, what="the play log completes")

    for node in commune.seeded.nodes:
        plays = commune.plays(node.node_id)
        assert len(plays) == 1, f"{node.node_id} played {len(plays)} times"
        assert plays[0]["broadcast"] == broadcast_id and plays[0]["result"] == "played"
