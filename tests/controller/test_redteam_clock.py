"""Red-team findings on node times and unreported dispatches (issue 12, finding 6), against a
real Mosquitto and a real SQLite file.

A node's credentials can publish a retained state with any ``at``: times from nodes are bounded
by the controller's clock, reconnects are recognised from the node's status as the controller
saw it, and a dispatch the node never reported on becomes ``missed`` (with an alert) instead of
staying ``sent`` for ever.
"""

from __future__ import annotations

import queue
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from controller.domain import fleet
from controller.services import alerts, dispatch
from loa import protocol
from tests.controller.test_dispatch import NOW, Harness
from tests.support.broker import Mosquitto


@pytest.fixture
def h(tmp_path: Path, mosquitto: Mosquitto) -> Iterator[Harness]:
    harness = Harness(tmp_path, mosquitto)
    yield harness
    harness.close()


def _state(node: str, online: bool, at: datetime, reason: str | None = None) -> tuple[str, bytes]:
    body = protocol.State(node=node, online=online, at=at, reason=reason)
    return protocol.node_topic(node, "state"), protocol.dumps(body)


def _drain(h: Harness) -> list[dict]:
    out = []
    while True:
        try:
            out.append(h.commands.get(timeout=0.5))
        except queue.Empty:
            return out


def test_a_far_future_state_does_not_stop_the_next_reconnect_from_syncing(h: Harness):
    node = h.commune.nodes[0].node_id
    now = datetime.now(UTC)
    h.dispatcher.handle_batch([_state(node, True, now)], now=now)
    assert [c["type"] for c in _drain(h)] == ["schedule.sync"]
    # The attack: a retained state dated 2099, with the node's own credentials.
    h.dispatcher.handle_batch([_state(node, True, datetime(2099, 1, 1, tzinfo=UTC))], now=now)
    _drain(h)
    stored = h.store.db.execute("SELECT state_at FROM nodes WHERE id = ?", [node]).fetchone()[0]
    bound = protocol.to_wire_time(now + fleet.MAX_CLOCK_AHEAD)
    assert stored <= bound, "a node's time is bounded by the controller's"
    # The real connection drops (the will carries the time it connected), then comes back.
    h.dispatcher.handle_batch([_state(node, False, now - timedelta(minutes=5), "will")], now=now)
    bid = h.broadcast(NOW)  # planned while the node was away
    back = datetime.now(UTC)
    h.dispatcher.handle_batch([_state(node, True, back)], now=back)
    syncs = [c for c in _drain(h) if c["type"] == "schedule.sync" and c["node"] == node]
    assert syncs, "the reconnect got no schedule.sync"
    assert [i["broadcast"] for i in syncs[-1]["body"]["items"]] == [bid]


def test_an_already_pinned_state_time_does_not_block_a_reconnect(h: Harness):
    """A database written before the fix may hold a state_at in 2099."""
    node = h.commune.nodes[0].node_id
    h.store.db.execute(
        "UPDATE nodes SET state_at = '2099-01-01T00:00:00.000Z', online = 0 WHERE id = ?", [node]
    )
    now = datetime.now(UTC)
    h.dispatcher.handle_batch([_state(node, True, now)], now=now)
    assert [c["type"] for c in _drain(h)] == ["schedule.sync"]
    row = h.store.db.execute("SELECT online, state_at FROM nodes WHERE id = ?", [node]).fetchone()
    assert row[0] == 1 and row[1] <= protocol.to_wire_time(now + fleet.MAX_CLOCK_AHEAD)


def test_a_reconnect_from_a_node_whose_clock_is_behind_still_syncs(h: Harness):
    node = h.commune.nodes[0].node_id
    now = datetime.now(UTC)
    h.dispatcher.handle_batch([_state(node, True, now)], now=now)
    _drain(h)
    h.dispatcher.handle_batch([_state(node, False, now, "will")], now=now)
    # Booted without a real-time clock: its clock says an hour ago.
    h.dispatcher.handle_batch([_state(node, True, now - timedelta(hours=1))], now=now)
    assert [c["type"] for c in _drain(h)] == ["schedule.sync"]


def test_a_sent_dispatch_nobody_reports_on_becomes_missed_and_raises_an_alert(h: Harness):
    bid = h.broadcast(NOW)
    h.dispatcher.deliver(now=NOW - timedelta(minutes=1))
    commands = h.received(3)
    node, other = h.commune.nodes[0].node_id, h.commune.nodes[1].node_id
    cmd = next(c for c in commands if c["node"] == other)
    h.dispatcher.handle_batch([h.report(other, "ack", protocol.Ack(cmd_id=cmd["id"], ok=True))])
    # Within the play time, lateness and grace nothing changes.
    assert h.dispatcher.expire(now=NOW + timedelta(seconds=29) + dispatch.REPORT_GRACE) == 0
    assert set(h.states(bid).values()) == {"sent", "acked"}
    later = NOW + timedelta(seconds=31) + dispatch.REPORT_GRACE
    assert h.dispatcher.expire(now=later) == 3
    rows = {
        r["node_id"]: r
        for r in h.store.db.query("SELECT * FROM dispatches WHERE broadcast_id = ?", [bid])
    }
    assert {r["state"] for r in rows.values()} == {"missed"}
    assert "no report" in rows[node]["error"] and "sent" in rows[node]["error"]
    assert "acked" in rows[other]["error"]
    events = alerts.evaluate(h.store, h.settings, later)
    opened = {a["node_id"] for e, a in events if e == "opened" and a["kind"] == alerts.PLAY_MISSED}
    assert opened == {n.node_id for n in h.commune.nodes}
    # A late report (the node played while cut off) still wins, and closes the alert.
    h.dispatcher.handle_batch(
        [
            h.report(
                node,
                "play.finished",
                protocol.PlayFinished(
                    broadcast=bid,
                    occurrence="o",
                    sha256="b" * 64,
                    play_at=NOW,
                    started_at=NOW,
                    ended_at=NOW + timedelta(seconds=4),
                    result="played",
                ),
            )
        ],
        now=later + timedelta(minutes=1),
    )
    assert h.states(bid)[node] == "played"
    events = alerts.evaluate(h.store, h.settings, later + timedelta(minutes=2))
    assert ("closed", node) in {(e, a["node_id"]) for e, a in events}


def _heartbeat(node: str, **readings: object) -> tuple[str, bytes]:
    body = protocol.Telemetry(
        node=node, at=datetime.now(UTC), uptime_s=5.0, version="t", interval_s=30.0, **readings
    )
    return protocol.node_topic(node, "telemetry"), protocol.dumps(body)


def test_a_full_disk_fails_the_dispatch_with_its_reason_and_raises_disk_low(h: Harness):
    """Issue 12, finding 10 (the controller's side)."""
    bid = h.broadcast(NOW)
    h.dispatcher.deliver(now=NOW - timedelta(minutes=1))
    node = h.commune.nodes[0].node_id
    cmd = next(c for c in h.received(3) if c["node"] == node)
    refused = protocol.Ack(
        cmd_id=cmd["id"], ok=False, code="disk_full", error="database or disk is full"
    )
    now = datetime.now(UTC)
    h.dispatcher.handle_batch(
        [
            _state(node, True, now),
            h.report(node, "ack", refused),
            _heartbeat(node, disk_free_mb=0.2),
        ],
        now=now,
    )
    row = h.store.db.execute(
        "SELECT state, error FROM dispatches WHERE node_id = ? AND broadcast_id = ?", [node, bid]
    ).fetchone()
    assert tuple(row) == ("failed", "disk_full: database or disk is full")
    events = alerts.evaluate(h.store, h.settings, now)
    low = [a for e, a in events if e == "opened" and a["kind"] == alerts.DISK_LOW]
    assert [a["node_id"] for a in low] == [node]
    assert "0.2 MB" in low[0]["message"]
    h.dispatcher.handle_batch([_heartbeat(node, disk_free_mb=500.0)], now=now)
    events = alerts.evaluate(h.store, h.settings, now + timedelta(seconds=1))
    assert ("closed", alerts.DISK_LOW) in {(e, a["kind"]) for e, a in events}


def test_a_node_that_reset_its_damaged_database_is_synced_and_alerted(h: Harness):
    """Issue 12, finding 11 (the controller's side): even when the controller still has the
    node online (it restarted within its keepalive), ``store_reset`` gets a full sync."""
    bid = h.broadcast(NOW)
    node = h.commune.nodes[0].node_id
    now = datetime.now(UTC)
    h.dispatcher.handle_batch([_state(node, True, now)], now=now)
    _drain(h)
    h.dispatcher.handle_batch(
        [
            _state(node, True, now - timedelta(seconds=1), "store_reset"),
            _heartbeat(node, store_reset_at=now, store_reset_kept="node.db.damaged-x"),
        ],
        now=now,
    )
    syncs = [c for c in _drain(h) if c["type"] == "schedule.sync"]
    assert syncs and [i["broadcast"] for i in syncs[-1]["body"]["items"]] == [bid]
    events = alerts.evaluate(h.store, h.settings, now)
    reset = [a for e, a in events if e == "opened" and a["kind"] == alerts.STORE_RESET]
    assert [a["node_id"] for a in reset] == [node]
    assert "node.db.damaged-x" in reset[0]["message"]
    assert not alerts.evaluate(h.store, h.settings, now + timedelta(minutes=1)), "opened once"
