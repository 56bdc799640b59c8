"""Every node, every time (issue 17): an ack is never lost to a command sent meanwhile, acks
count per node, and a dispatch that was not acked is sent again."""

from __future__ import annotations

import queue
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from controller.services.dispatch import RESEND_MAX_BACKLOG
from loa import protocol
from tests.controller.test_dispatch import NOW, SHA, Harness
from tests.support.broker import Mosquitto
from tests.support.zones import listening_to_their_zones


@pytest.fixture(name="h")
def harness(tmp_path: Path, mosquitto: Mosquitto) -> Iterator[Harness]:
    made = Harness(tmp_path, mosquitto)
    yield made
    made.close()


def _state(node: str) -> tuple[str, bytes]:
    body = protocol.State(node=node, online=True, at=datetime.now(UTC), version="t")
    return protocol.node_topic(node, "state"), protocol.dumps(body)


def _row(h: Harness, bid: int, node: str) -> dict:
    return next(
        h.store.db.query(
            "SELECT * FROM dispatches WHERE broadcast_id = ? AND node_id = ?", [bid, node]
        )
    )


def test_an_ack_arriving_after_a_sync_took_the_dispatch_still_counts(h: Harness):
    """The emergency bench's lost acks: a node's online state (published on every play start
    and stop, so during an emergency by every node) makes the controller send it a
    ``schedule.sync``, which took over the ``cmd_id`` of the dispatches still ``sent``; the
    ``play.now``'s ack, arriving after, matched nothing, and once ``play.started`` moved the
    dispatch on, the sync's ack matched nothing either: ``acked_at`` stayed empty for ever."""
    bid = h.broadcast(NOW)
    h.dispatcher.deliver(now=NOW - timedelta(minutes=1))
    node = h.commune.nodes[0].node_id
    put = next(c for c in h.received(3) if c["node"] == node)
    h.dispatcher.handle_batch([_state(node)])  # a state the node sent just before the put
    sync = h.received(1)[0]
    assert sync["type"] == "schedule.sync"
    started = protocol.PlayStarted(
        broadcast=bid, occurrence="o", sha256=SHA, play_at=NOW, started_at=NOW
    )
    h.dispatcher.handle_batch(
        [
            h.report(node, "ack", protocol.Ack(cmd_id=put["id"], ok=True)),
            h.report(node, "play.started", started),
            h.report(node, "ack", protocol.Ack(cmd_id=sync["id"], ok=True)),
        ]
    )
    row = _row(h, bid, node)
    assert row["state"] == "playing"
    assert row["acked_at"] is not None


def test_one_nodes_ack_of_a_shared_command_acks_only_its_own_dispatch(h: Harness):
    bid = h.broadcast(NOW)
    nodes = [n.node_id for n in h.commune.nodes]
    with h.store.transaction() as db:  # as a zone command leaves them: one cmd_id for all
        db.execute("UPDATE nodes SET protocol = 2")
        listening_to_their_zones(db)
        db.execute(
            "UPDATE broadcasts SET zone_ids = ?, emergency = 1 WHERE id = ?",
            [f"[{h.commune.commune_id}]", bid],
        )
    assert h.dispatcher.play_now(bid, group=True) == len(nodes)
    ids = {r["cmd_id"] for r in h.store.db.query("SELECT cmd_id FROM dispatches")}
    assert len(ids) == 1
    h.dispatcher.handle_batch([h.report(nodes[0], "ack", protocol.Ack(cmd_id=ids.pop(), ok=True))])
    states = h.states(bid)
    assert states[nodes[0]] == "acked"
    assert all(states[n] == "sent" for n in nodes[1:])


def test_a_play_now_not_acked_is_sent_again_as_is_to_online_nodes_only(h: Harness):
    bid = h.broadcast(NOW)
    nodes = [n.node_id for n in h.commune.nodes]
    with h.store.transaction() as db:
        db.execute("UPDATE nodes SET online = CASE WHEN id = ? THEN 0 ELSE 1 END", [nodes[2]])
    sent_at = datetime.now(UTC)
    h.dispatcher.play_now(bid, now=sent_at)
    first = {c["node"]: c for c in h.received(len(nodes))}
    h.dispatcher.handle_batch(
        [h.report(nodes[0], "ack", protocol.Ack(cmd_id=first[nodes[0]]["id"], ok=True))]
    )
    assert h.dispatcher.resend(now=datetime.now(UTC)) == 0  # not yet: within resend_s
    later = datetime.now(UTC) + timedelta(seconds=h.settings.resend_s + 1)
    assert h.dispatcher.resend(now=later) == 1  # nodes[1]: online, not acked
    again = h.received(1)[0]
    assert again == first[nodes[1]]  # the same signed command: the node obeys it once
    assert _row(h, bid, nodes[1])["resends"] == 1
    assert h.dispatcher.resend(now=later) == 0  # not again before resend_s has passed


def test_re_sends_back_off_and_wait_while_acks_may_be_queued(h: Harness):
    bid = h.broadcast(NOW)
    node = h.commune.nodes[0].node_id
    with h.store.transaction() as db:
        db.execute("UPDATE nodes SET online = 1")
    h.dispatcher.play_now(bid, now=datetime.now(UTC))
    h.received(3)
    step = timedelta(seconds=h.settings.resend_s + 0.5)
    first = datetime.now(UTC) + step
    assert h.dispatcher.resend(now=first, backlog=RESEND_MAX_BACKLOG + 1) == 0
    assert h.dispatcher.resend(now=first) == 3
    assert h.dispatcher.resend(now=first + step) == 0  # twice as long after a re-send
    assert h.dispatcher.resend(now=first + 2 * step) == 3
    h.received(6)
    assert _row(h, bid, node)["resends"] == 2


def test_a_state_sent_because_playing_or_settings_changed_is_not_a_reconnect(h: Harness):
    """A node answers node.config with a state; when that state asked for a sync (and the
    reconnect path a node.config) the two went on for ever."""
    node = h.commune.nodes[0].node_id
    with h.store.transaction() as db:
        db.execute("UPDATE nodes SET online = 1, protocol = 2 WHERE id = ?", [node])

    def state(reason: str | None) -> tuple[str, bytes]:
        body = protocol.State(
            node=node, online=True, at=datetime.now(UTC), version="t", reason=reason, protocol=2
        )
        return protocol.node_topic(node, "state"), protocol.dumps(body)

    for reason in (protocol.STATE_REASON_CONFIG, protocol.STATE_REASON_PLAYING):
        h.dispatcher.handle_batch([state(reason)])
        with pytest.raises(queue.Empty):
            h.commands.get(timeout=0.3)
    h.dispatcher.handle_batch([state(None)])  # a new connection: its sync, and its zones
    got = {c["type"]: c for c in h.received(2)}
    assert set(got) == {"schedule.sync", "node.config"}
    chain = [h.commune.nodes[0].zone_id, h.commune.commune_id]
    assert got["node.config"]["body"] == {"zones": chain}


def test_an_emergency_is_cancelled_by_zone_for_new_nodes_and_per_node_for_old(h: Harness):
    bid = h.broadcast(NOW)
    nodes = [n.node_id for n in h.commune.nodes]
    with h.store.transaction() as db:
        db.execute("UPDATE nodes SET protocol = CASE WHEN id = ? THEN 1 ELSE 2 END", [nodes[2]])
        listening_to_their_zones(db)
        db.execute(
            "UPDATE broadcasts SET zone_ids = ?, emergency = 1 WHERE id = ?",
            [f"[{h.commune.commune_id}]", bid],
        )
    h.spy.subscribe("loa/v1/zone/+/cmd", qos=1)
    h.spy.publish("loa/v1/probe", b"x", qos=1).wait_for_publish(5)
    assert h.dispatcher.play_now(bid, group=True) == 3
    sent = h.received(2)  # one zone command for two nodes, one per-node command for the old one
    assert sorted(str(c.get("zone") or c.get("node")) for c in sent) == sorted(
        [str(h.commune.commune_id), nodes[2]]
    )
    told = h.dispatcher.cancel_group(bid, nodes)
    assert told == set(nodes[:2])
    cancels = h.received(2)
    assert {c["type"] for c in cancels} == {"schedule.cancel", "play.stop"}
    assert all(c["zone"] == h.commune.commune_id and c["v"] == 2 for c in cancels)
    # not an emergency: nothing by zone
    with h.store.transaction() as db:
        db.execute("UPDATE broadcasts SET emergency = 0 WHERE id = ?", [bid])
    assert h.dispatcher.cancel_group(bid, nodes) == set()


def test_a_node_gets_zone_commands_only_once_it_has_acked_its_zones(h: Harness):
    """A node told its zones a moment ago may not be subscribed yet (a mass enrolment, the
    emergency bench's first run: 171 of 1,000 heard it only when it was re-sent, 8 s later);
    until it acks the node.config it gets its own command."""
    bid = h.broadcast(NOW)
    nodes = [n.node_id for n in h.commune.nodes]
    with h.store.transaction() as db:
        db.execute("UPDATE nodes SET protocol = 2, online = 1")
        db.execute(
            "UPDATE broadcasts SET zone_ids = ?, emergency = 1 WHERE id = ?",
            [f"[{h.commune.commune_id}]", bid],
        )
    assert h.dispatcher.send_zones(nodes) == 3
    told = {c["node"]: c for c in h.received(3)}
    assert {c["type"] for c in told.values()} == {"node.config"}
    ack = protocol.Ack(cmd_id=told[nodes[0]]["id"], ok=True)
    h.dispatcher.handle_batch([h.report(nodes[0], "ack", ack)])
    h.spy.subscribe("loa/v1/zone/+/cmd", qos=1)
    h.spy.publish("loa/v1/probe", b"x", qos=1).wait_for_publish(5)
    assert h.dispatcher.play_now(bid, group=True) == 3
    sent = h.received(3)  # one zone command (nodes[0]), and the two unconfirmed by their own
    assert sorted(str(c.get("zone") or c.get("node")) for c in sent) == sorted(
        [str(h.commune.commune_id), nodes[1], nodes[2]]
    )


def test_no_re_sends_while_other_nodes_still_ack_the_same_broadcast(h: Harness):
    bid = h.broadcast(NOW)
    nodes = [n.node_id for n in h.commune.nodes]
    with h.store.transaction() as db:
        db.execute("UPDATE nodes SET online = 1")
    h.dispatcher.play_now(bid, now=datetime.now(UTC))
    first = {c["node"]: c for c in h.received(3)}
    later = datetime.now(UTC) + timedelta(seconds=h.settings.resend_s + 1)
    ack = protocol.Ack(cmd_id=first[nodes[0]]["id"], ok=True)
    h.dispatcher.handle_batch([h.report(nodes[0], "ack", ack)], now=later - timedelta(seconds=1))
    assert h.dispatcher.resend(now=later) == 0  # the fleet is still acking: slow, not lost
    quiet = later + timedelta(seconds=h.settings.resend_s + 1)
    assert h.dispatcher.resend(now=quiet) == 2


def test_an_ack_finds_its_command_by_a_key_probe_not_a_list_of_every_dispatch(tmp_path: Path):
    """A zone command carries every dispatch of the zone; each node's ack must not rebuild that
    list (10,000 acks × 10,000 entries took 18.7 s at p99 in bench/emergency_scale.py)."""
    from controller.core.db import connect, migrate
    from controller.services.dispatch import ACK_UPDATE

    db = connect(tmp_path / "loa.db")
    migrate(db)
    plan = " | ".join(
        str(row[-1])
        for row in db.execute("EXPLAIN QUERY PLAN " + ACK_UPDATE, ["t", "t", "n", "c", "c"])
    )
    assert "LIST SUBQUERY" not in plan, plan
    assert "(cmd_id=? AND dispatch_id=?)" in plan, plan
