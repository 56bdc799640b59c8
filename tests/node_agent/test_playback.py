"""Scheduled media plays on time from the node's own cache, and every play is reported."""

from __future__ import annotations

import time

from loa.protocol import ItemRef, ScheduleCancel, SchedulePut, ScheduleSync
from tests.node_agent.harness import (
    TOKEN,
    item,
    media_blob,
    parse_time,
    soon,
    wait_online,
)
from tests.support.net import wait_until


def test_scheduled_item_plays_on_time_and_is_reported(node_factory, controller, media):
    node = node_factory().start()
    wait_online(controller, node.node_id)
    content = media.content(media_blob("a"), duration_s=0.4)
    play_at = soon(2.0)
    env = controller.send(
        "schedule.put", node.node_id, SchedulePut(items=[item(7, content, play_at)])
    )
    assert controller.ack(env["id"])["ok"] is True

    finished = controller.finished(node.node_id, 7)
    assert finished["result"] == "played"
    [play] = wait_until(node.plays, 5, what="sink line")
    assert play["sha256"] == content.sha256
    assert play["node"] == node.node_id and play["broadcast"] == 7 and play["occurrence"] == "o1"
    assert play["result"] == "played"
    started, ended = parse_time(play["started_at"]), parse_time(play["finished_at"])
    assert abs(started - play_at) < 0.1
    assert 0.38 < ended - started < 0.6, "the sink takes the media's real duration"
    assert parse_time(finished["started_at"]) == parse_time(play["started_at"])
    [started_report] = controller.reports(node.node_id, "play.started")
    assert started_report["body"]["sha256"] == content.sha256
    assert media.requests and media.requests[0]["auth"] == f"Bearer {TOKEN}"
    assert media.requests[0]["sha"] == content.sha256


def test_media_is_fetched_when_scheduled_not_at_play_time(node_factory, controller, media):
    node = node_factory().start()
    wait_online(controller, node.node_id)
    content = media.content(media_blob("early"))
    controller.send("schedule.put", node.node_id, SchedulePut(items=[item(8, content, soon(30))]))
    wait_until(
        lambda: (node.data_dir / "media" / content.sha256).exists(), 10, what="media in cache"
    )
    assert not node.plays()


def test_cancelled_item_does_not_play(node_factory, controller, media):
    node = node_factory().start()
    wait_online(controller, node.node_id)
    content = media.content(media_blob("c"), duration_s=0.3)
    play_at = soon(2.0)
    controller.send(
        "schedule.put",
        node.node_id,
        SchedulePut(items=[item(1, content, play_at), item(2, content, play_at + 0.5)]),
    )
    env = controller.send(
        "schedule.cancel", node.node_id, ScheduleCancel(items=[ItemRef(broadcast=1)])
    )
    assert controller.ack(env["id"])["ok"]
    controller.finished(node.node_id, 2)
    assert [p["broadcast"] for p in node.plays()] == [2]


def test_sync_replaces_the_schedule(node_factory, controller, media):
    node = node_factory().start()
    wait_online(controller, node.node_id)
    content = media.content(media_blob("s"), duration_s=0.3)
    play_at = soon(2.0)
    controller.send("schedule.put", node.node_id, SchedulePut(items=[item(1, content, play_at)]))
    env = controller.send(
        "schedule.sync", node.node_id, ScheduleSync(items=[item(3, content, play_at + 0.2)])
    )
    assert controller.ack(env["id"])["ok"]
    controller.finished(node.node_id, 3)
    time.sleep(0.3)
    assert [p["broadcast"] for p in node.plays()] == [3]


def test_schedule_survives_a_killed_agent(node_factory, controller, media):
    node = node_factory().start()
    wait_online(controller, node.node_id)
    content = media.content(media_blob("k"), duration_s=0.3)
    play_at = soon(4.0)
    env = controller.send(
        "schedule.put", node.node_id, SchedulePut(items=[item(4, content, play_at)])
    )
    controller.ack(env["id"])
    node.kill()
    node.start()
    [play] = wait_until(node.plays, 10, what="play after restart")
    assert abs(parse_time(play["started_at"]) - play_at) < 0.1
    assert play["result"] == "played"
