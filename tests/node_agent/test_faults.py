"""Faults against real Mosquitto and real agent processes: broker restarts, killed agents,
bad media servers, the link down at play time."""

from __future__ import annotations

import json
import random
import sqlite3
import time

from loa.protocol import SchedulePut, ScheduleSync
from tests.node_agent.harness import item, media_blob, parse_time, soon, wait_online
from tests.support.net import wait_until


def test_commands_queued_across_a_broker_restart_are_delivered_once(
    node_factory, restartable_broker, media
):
    from tests.node_agent.harness import Controller

    ctl = Controller(restartable_broker.port)
    ctl.start()
    try:
        node = node_factory(broker=restartable_broker)
        node.public_key = ctl.public_b64
        node.start()
        wait_online(ctl, node.node_id)
        node.stop()  # offline: its persistent session queues what comes next
        content = media.content(media_blob("q"), duration_s=0.3)
        play_at = soon(5)
        env = ctl.send("schedule.put", node.node_id, SchedulePut(items=[item(1, content, play_at)]))
        restartable_broker.restart()
        node.start()
        assert wait_until(lambda: ctl.ack(env["id"], timeout=15), 20)["ok"]
        done = ctl.finished(node.node_id, 1)
        assert done["result"] == "played"
        time.sleep(0.5)
        assert len(node.plays()) == 1
        assert abs(parse_time(node.plays()[0]["started_at"]) - play_at) < 0.1
    finally:
        ctl.stop()


def test_link_down_at_play_time_plays_from_cache_and_reports_later(
    node_factory, restartable_broker, media
):
    from tests.node_agent.harness import Controller

    ctl = Controller(restartable_broker.port)
    ctl.start()
    try:
        node = node_factory(broker=restartable_broker)
        node.public_key = ctl.public_b64
        node.start()
        wait_online(ctl, node.node_id)
        content = media.content(media_blob("down"), duration_s=0.3)
        play_at = soon(3)
        env = ctl.send("schedule.put", node.node_id, SchedulePut(items=[item(2, content, play_at)]))
        ctl.ack(env["id"])
        wait_until(lambda: (node.data_dir / "media" / content.sha256).exists(), 5)
        restartable_broker.stop()
        [play] = wait_until(node.plays, 10, what="play with the broker down")
        assert abs(parse_time(play["started_at"]) - play_at) < 0.1
        assert play["result"] == "played"
        restartable_broker.start()
        done = ctl.finished(node.node_id, 2, timeout=20)
        assert done["result"] == "played"
    finally:
        ctl.stop()


def test_agent_killed_mid_download_resumes_with_range(node_factory, controller, media):
    node = node_factory().start()
    wait_online(controller, node.node_id)
    data = media_blob("slow", size=120_000)
    content = media.content(data, duration_s=0.3)
    media.slow.add(content.sha256)
    play_at = soon(5)
    controller.send("schedule.put", node.node_id, SchedulePut(items=[item(3, content, play_at)]))
    part = node.data_dir / "media" / f"{content.sha256}.part"
    wait_until(lambda: part.exists() and part.stat().st_size > 20_000, 10, what="half a file")
    node.kill()
    media.slow.discard(content.sha256)
    node.start()
    done = controller.finished(node.node_id, 3, timeout=20)
    assert done["result"] == "played"
    ranges = [r["range"] for r in media.requests if r["sha"] == content.sha256]
    assert ranges[0] is None and ranges[-1] and ranges[-1].startswith("bytes=")
    assert int(ranges[-1][6:].split("-")[0]) > 0


def test_connection_dropped_mid_file_is_resumed(node_factory, controller, media):
    node = node_factory().start()
    wait_online(controller, node.node_id)
    content = media.content(media_blob("drop", size=80_000), duration_s=0.2)
    media.drop_once.add(content.sha256)
    controller.send("schedule.put", node.node_id, SchedulePut(items=[item(4, content, soon(4))]))
    assert controller.finished(node.node_id, 4)["result"] == "played"
    requests = [r for r in media.requests if r["sha"] == content.sha256]
    assert len(requests) >= 2 and requests[-1]["range"] == "bytes=40000-"


def test_wrong_hash_is_never_played_and_is_reported(node_factory, controller, media):
    node = node_factory().start()
    wait_online(controller, node.node_id)
    content = media.content(media_blob("bad"), duration_s=0.2)
    media.corrupt.add(content.sha256)
    controller.send(
        "schedule.put",
        node.node_id,
        SchedulePut(items=[item(5, content, soon(2), max_late_s=1)]),
    )
    done = controller.finished(node.node_id, 5)
    assert done["result"] == "failed"
    [failed] = controller.reports(node.node_id, "media.failed")
    assert "sha256 mismatch" in failed["body"]["error"]
    assert len([r for r in media.requests if r["sha"] == content.sha256]) >= 2, "retried"
    assert not node.plays()
    assert not (node.data_dir / "media" / content.sha256).exists()


def test_media_server_down_is_reported_then_later_items_recover(node_factory, controller, media):
    node = node_factory().start()
    wait_online(controller, node.node_id)
    content = media.content(media_blob("503"), duration_s=0.2)
    media.down = True
    controller.send(
        "schedule.put",
        node.node_id,
        SchedulePut(items=[item(6, content, soon(1.5), max_late_s=0.5), item(7, content, soon(5))]),
    )
    assert controller.finished(node.node_id, 6)["result"] == "failed"
    assert "503" in controller.reports(node.node_id, "media.failed")[0]["body"]["error"]
    media.down = False
    assert controller.finished(node.node_id, 7)["result"] == "played"


def test_agent_killed_during_a_schedule_write_keeps_a_whole_schedule(
    node_factory, controller, media
):
    node = node_factory().start()
    wait_online(controller, node.node_id)
    content = media.content(media_blob("w"), duration_s=0.2)
    play_at = soon(5)
    first = item(1, content, play_at)
    env = controller.send("schedule.put", node.node_id, SchedulePut(items=[first]))
    controller.ack(env["id"])
    many = [first] + [item(100 + n, content, soon(3600 + n)) for n in range(3000)]
    controller.send("schedule.sync", node.node_id, ScheduleSync(items=many))
    time.sleep(random.uniform(0.05, 0.4))
    node.kill()
    db = sqlite3.connect(node.data_dir / "node.db")
    assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    count = db.execute("SELECT count(*) FROM items WHERE status='pending'").fetchone()[0]
    db.close()
    assert count in (1, 3001), "all of the old schedule or all of the new, nothing between"
    node.start()
    [play] = wait_until(node.plays, 15, what="the first item plays")
    assert play["broadcast"] == 1 and abs(parse_time(play["started_at"]) - play_at) < 0.1


def test_reports_made_offline_survive_an_agent_crash(node_factory, restartable_broker, media):
    from tests.node_agent.harness import Controller

    ctl = Controller(restartable_broker.port)
    ctl.start()
    try:
        node = node_factory(broker=restartable_broker)
        node.public_key = ctl.public_b64
        node.start()
        wait_online(ctl, node.node_id)
        content = media.content(media_blob("outbox"), duration_s=0.2)
        env = ctl.send("schedule.put", node.node_id, SchedulePut(items=[item(3, content, soon(2))]))
        ctl.ack(env["id"])
        restartable_broker.stop()
        wait_until(node.plays, 10, what="the play, offline")
        wait_until(lambda: _outbox_has(node, "play.finished"), 10, what="the report, kept")
        node.kill()  # its play reports exist only in the agent's outbox now
        restartable_broker.start()
        node.start()
        done = ctl.finished(node.node_id, 3, timeout=20)
        assert done["result"] == "played"
        assert ctl.reports(node.node_id, "play.started")
    finally:
        ctl.stop()


def _outbox_has(node, report_type: str) -> bool:  # type: ignore[no-untyped-def]
    """Whether the agent's outbox (its database, where reports wait for the broker) holds a
    report of this type."""
    db = sqlite3.connect(node.data_dir / "node.db", timeout=10)
    try:
        return any(
            json.loads(payload)["type"] == report_type
            for (payload,) in db.execute("SELECT payload FROM outbox")
        )
    finally:
        db.close()
