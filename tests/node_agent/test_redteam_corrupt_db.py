"""A damaged node database (issue 12, finding 11), with real agent processes on a real broker.

Damaged pages used to make every later schedule.put fail until someone intervened, and a damaged
header made the agent crash-loop under systemd. Now the agent checks the file when it starts,
keeps a damaged one aside, starts fresh, asks the controller for its schedule (an online state
with reason ``store_reset``) and reports the reset in its heartbeats.
"""

from __future__ import annotations

import os
import sqlite3
import stat
import time
from pathlib import Path

from loa.protocol import SchedulePut
from tests.node_agent.harness import Controller, NodeProcess, item, media_blob, wait_online
from tests.support.net import wait_until

FAR = time.time() + 3 * 86400


def _fill(ctl: Controller, node: NodeProcess, media, count: int = 60) -> None:
    """Give the node a schedule big enough to span many database pages."""
    content = media.content(media_blob("corrupt"), duration_s=0.3)
    items = [item(b, content, FAR + b, title="x" * 150) for b in range(1, count + 1)]
    env = ctl.send("schedule.put", node.node_id, SchedulePut(items=items))
    assert ctl.ack(env["id"])["ok"]


def _restart_damaged(node: NodeProcess, damage) -> Path:
    node.stop()
    db = node.data_dir / "node.db"
    damage(db)
    node.start()
    return db


def _expect_recovery(ctl: Controller, node: NodeProcess, media) -> None:
    wait_until(
        lambda: any(s.get("reason") == "store_reset" for s in ctl.states(node.node_id)),
        15,
        what="an online state asking for a sync (reason store_reset)",
    )
    time.sleep(1.0)
    assert node.alive, node.log()[-2000:]
    kept = [p.name for p in node.data_dir.iterdir() if ".damaged-" in p.name]
    assert any(name.startswith("node.db.damaged-") for name in kept), kept
    # a heartbeat says so, for the controller's store_reset alert
    beat = wait_until(
        lambda: next((t for t in ctl.telemetry(node.node_id) if t.get("store_reset_at")), None),
        15,
        what="a heartbeat with store_reset_at",
    )
    assert beat["store_reset_kept"].startswith("node.db.damaged-")
    # and the node takes a schedule again
    content = media.content(media_blob("after"), duration_s=0.3)
    env = ctl.send("schedule.put", node.node_id, SchedulePut(items=[item(900, content, FAR)]))
    ack = ctl.ack(env["id"])
    assert ack["ok"], ack


def test_damaged_pages_are_found_at_start_and_the_node_starts_clean(
    node_factory, controller, media
):
    node = node_factory(heartbeat_s=1).start()
    wait_online(controller, node.node_id)
    _fill(controller, node, media)

    def damage_pages(db: Path) -> None:
        size = db.stat().st_size
        page = 4096
        assert size >= 4 * page, size
        with db.open("r+b") as f:
            for n in range(2, size // page):  # every page but the header page
                f.seek(n * page + 8)
                f.write(os.urandom(64))

    _restart_damaged(node, damage_pages)
    _expect_recovery(controller, node, media)


def test_a_damaged_header_does_not_make_the_agent_crash_loop(node_factory, controller, media):
    node = node_factory(heartbeat_s=1).start()
    wait_online(controller, node.node_id)
    _fill(controller, node, media, count=5)

    def damage_header(db: Path) -> None:
        with db.open("r+b") as f:
            f.write(b"garbage, not SQLite" * 5)

    _restart_damaged(node, damage_header)
    _expect_recovery(controller, node, media)


def test_damage_found_while_running_is_refused_then_recovered_by_a_restart(
    node_factory, controller, media
):
    node = node_factory(heartbeat_s=1).start()
    wait_online(controller, node.node_id)
    _fill(controller, node, media)
    db = node.data_dir / "node.db"
    # checkpoint so the pages are in the main file, then damage them under the running agent
    with sqlite3.connect(db) as c:
        c.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    size = db.stat().st_size
    with db.open("r+b") as f:
        for n in range(1, size // 4096):
            f.seek(n * 4096)
            f.write(os.urandom(4096))
    content = media.content(media_blob("during"), duration_s=0.3)
    env = controller.send(
        "schedule.put", node.node_id, SchedulePut(items=[item(700, content, FAR)])
    )
    ack = controller.ack(env["id"])
    assert not ack["ok"] and ack["code"] == "store_damaged", ack
    # the agent stops with a non-zero status, so systemd (Restart=always) starts it again
    assert wait_until(lambda: node.proc.poll() is not None, 15, what="the agent exits")
    assert node.proc.returncode != 0
    node.start()
    _expect_recovery(controller, node, media)


def test_the_node_database_is_private(node_factory, controller):
    node = node_factory().start()
    wait_online(controller, node.node_id)
    for name in ("node.db", "node.db-wal", "node.db-shm"):
        path = node.data_dir / name
        if path.exists():
            assert stat.S_IMODE(path.stat().st_mode) == 0o600, (name, oct(path.stat().st_mode))
