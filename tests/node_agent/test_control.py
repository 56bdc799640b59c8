"""State, heartbeat, node.config, play.now and play.stop through a real agent process."""

from __future__ import annotations

import time

from loa.protocol import NodeConfig, PlayNow, PlayStop, QuietHours, SchedulePut
from tests.node_agent.harness import (
    Controller,
    item,
    media_blob,
    parse_time,
    quiet_window_around_now,
    soon,
    wait_online,
)
from tests.support.net import wait_until


def test_heartbeat_carries_telemetry(node_factory, controller):
    node = node_factory(heartbeat_s=0.5).start()
    wait_online(controller, node.node_id)
    beats = wait_until(
        lambda: len(controller.telemetry(node.node_id)) >= 2 and controller.telemetry(node.node_id),
        10,
        what="two heartbeats",
    )
    beat = beats[-1]
    assert beat["version"] and beat["interval_s"] == 0.5 and beat["uptime_s"] > 0
    assert beat["disk_free_mb"] > 0 and beat["cache_free_mb"] > 0 and beat["scheduled"] == 0
    assert beat["load1"] is not None
    assert parse_time(beats[-1]["at"]) > parse_time(beats[0]["at"])


def test_state_is_retained_and_the_will_marks_a_dead_agent_offline(node_factory, controller):
    node = node_factory().start()
    wait_online(controller, node.node_id)
    node.kill()
    will = wait_until(
        lambda: [s for s in controller.states(node.node_id) if not s["online"]],
        10,
        what="last will",
    )[-1]
    assert will["reason"] == "will" and will["at"]
    late = Controller(controller.port)  # someone subscribing later gets the retained state
    late.start()
    try:
        [retained] = wait_until(lambda: late.states(node.node_id), 5)
        assert retained["online"] is False
    finally:
        late.stop()


def test_clean_stop_says_why(node_factory, controller):
    node = node_factory().start()
    wait_online(controller, node.node_id)
    node.stop()
    last = wait_until(lambda: [s for s in controller.states(node.node_id) if not s["online"]], 10)[
        -1
    ]
    assert last["reason"] == "shutdown"


def test_node_config_sets_volume_and_heartbeat_and_persists(node_factory, controller):
    node = node_factory().start()
    wait_online(controller, node.node_id)
    env = controller.send("node.config", node.node_id, NodeConfig(volume=40, heartbeat_s=1))
    assert controller.ack(env["id"])["ok"]
    wait_until(lambda: any(s.get("volume") == 40 for s in controller.states(node.node_id)), 5)
    beat = wait_until(lambda: controller.telemetry(node.node_id), 5)[-1]
    assert beat["interval_s"] == 1
    node.stop()
    n = len(controller.states(node.node_id))
    node.start()
    wait_until(lambda: [s for s in controller.states(node.node_id)[n:] if s["online"]], 10)
    assert [s for s in controller.states(node.node_id)[n:] if s["online"]][-1]["volume"] == 40


def test_quiet_hours_from_node_config_hold_back_normal_items(node_factory, controller, media):
    node = node_factory().start()
    wait_online(controller, node.node_id)
    start, end = quiet_window_around_now()
    env = controller.send(
        "node.config", node.node_id, NodeConfig(quiet_hours=QuietHours(start=start, end=end))
    )
    controller.ack(env["id"])
    content = media.content(media_blob("quiet"), duration_s=0.2)
    controller.send(
        "schedule.put",
        node.node_id,
        SchedulePut(
            items=[item(1, content, soon(1.5)), item(2, content, soon(1.6), priority="emergency")]
        ),
    )
    assert controller.finished(node.node_id, 1)["error"].startswith("quiet_hours")
    assert controller.finished(node.node_id, 2)["result"] == "played"
    # and quiet hours can be lifted again
    env = controller.send("node.config", node.node_id, NodeConfig(quiet_hours=None))
    controller.ack(env["id"])
    controller.send("schedule.put", node.node_id, SchedulePut(items=[item(3, content, soon(1))]))
    assert controller.finished(node.node_id, 3)["result"] == "played"


def test_play_now_starts_at_once_and_play_stop_ends_it(node_factory, controller, media):
    node = node_factory().start()
    wait_online(controller, node.node_id)
    long = media.content(media_blob("long"), duration_s=30)
    sent = time.time()
    controller.send(
        "play.now", node.node_id, PlayNow(item=item(5, long, sent + 3600, priority="emergency"))
    )
    started = wait_until(lambda: controller.reports(node.node_id, "play.started"), 5)[0]
    assert parse_time(started["body"]["started_at"]) - sent < 1.0
    wait_until(lambda: any(s.get("playing") for s in controller.states(node.node_id)), 5)
    env = controller.send("play.stop", node.node_id, PlayStop())
    assert controller.ack(env["id"])["ok"]
    done = controller.finished(node.node_id, 5)
    assert done["result"] == "cancelled" and done["error"] == "play.stop"
    assert parse_time(done["ended_at"]) - sent < 5
    wait_until(
        lambda: controller.states(node.node_id)[-1]["playing"] is None,
        5,
        what="state: nothing playing",
    )
