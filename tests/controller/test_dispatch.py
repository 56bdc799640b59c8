"""The dispatcher against a real Mosquitto and a real SQLite file: what it sends, when, and how
node reports move dispatch states."""

from __future__ import annotations

import json
import queue
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest

from controller.core.db import Store, insert
from controller.core.settings import Settings
from controller.domain.seed import SeededCommune, seed_commune
from controller.services.dispatch import Dispatcher
from controller.services.mqtt_link import MqttLink
from loa import protocol
from loa.protocol import to_wire_time
from loa.signing import load_or_create_private_key, signature_ok
from tests.support.broker import Mosquitto

# An hour ahead, so the suite can run long before a test that uses the real clock sees it past.
NOW = datetime.now(UTC).replace(microsecond=0) + timedelta(hours=1)
SHA = "b" * 64


class Harness:
    def __init__(self, tmp: Path, broker: Mosquitto):
        self.settings = Settings(data_dir=tmp, public_url="http://ctl.example")
        self.store = Store(self.settings.db_path)
        self.key = load_or_create_private_key(self.settings.key_path)
        self.commune: SeededCommune = seed_commune(self.store)
        self.link = MqttLink(broker.url, lambda t, p: None, client_id=f"ctl-{uuid.uuid4()}")
        self.link.start()
        self.link.connected.wait(5)
        self.dispatcher = Dispatcher(self.store, self.settings, self.key, self.link.publish)
        self.commands: queue.Queue[dict] = queue.Queue()
        self.spy = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"spy-{uuid.uuid4()}")
        self.spy.username_pw_set("spy")
        self.spy.on_message = lambda c, u, m: self.commands.put(json.loads(m.payload))
        self.spy.connect(broker.host, broker.port)
        self.spy.subscribe("loa/v1/node/+/cmd", qos=1)
        self.spy.loop_start()
        subscribed = self.spy.publish("loa/v1/probe", b"x", qos=1)
        subscribed.wait_for_publish(5)
        self.media = insert(
            self.store.db,
            "media",
            {"sha256": SHA, "bytes": 1000, "duration_s": 4.0, "mime": "audio/mpeg"},
        )

    def broadcast(self, play_at: datetime, zone_id: int | None = None) -> int:
        db = self.store.db
        ann = insert(
            db,
            "announcements",
            {
                "title": "Tin",
                "text": "x",
                "status": "approved",
                "media_sha256": SHA,
                "priority": "normal",
            },
        )
        bid = insert(
            db,
            "broadcasts",
            {
                "announcement_id": ann,
                "zone_ids": "[]",
                "starts_at": to_wire_time(play_at),
                "priority": "normal",
                "max_late_s": 30.0,
                "repeats": 1,
                "status": "active",
            },
        )
        from controller.domain.zones import nodes_under

        for node in nodes_under(db, [zone_id or self.commune.commune_id]):
            insert(
                db,
                "dispatches",
                {
                    "broadcast_id": bid,
                    "occurrence": "o",
                    "node_id": node,
                    "play_at": to_wire_time(play_at),
                    "state": "queued",
                },
            )
        return bid

    def states(self, bid: int) -> dict[str, str]:
        return {
            r["node_id"]: r["state"]
            for r in self.store.db.query(
                "SELECT node_id, state FROM dispatches WHERE broadcast_id = ?", [bid]
            )
        }

    def received(self, count: int) -> list[dict]:
        return [self.commands.get(timeout=5) for _ in range(count)]

    def report(self, node: str, type_: protocol.ReportType, body: protocol._Model) -> tuple:
        return (
            protocol.node_topic(node, "report"),
            protocol.dumps(protocol.new_report(type_, node, body)),
        )

    def close(self) -> None:
        self.spy.disconnect()
        self.spy.loop_stop()
        self.link.stop()


@pytest.fixture
def h(tmp_path: Path, mosquitto: Mosquitto) -> Iterator[Harness]:
    harness = Harness(tmp_path, mosquitto)
    yield harness
    harness.close()


def test_deliver_sends_one_signed_put_per_node_and_marks_dispatches_sent(h: Harness):
    first, second = h.broadcast(NOW), h.broadcast(NOW + timedelta(minutes=5))
    assert h.dispatcher.deliver(now=NOW - timedelta(minutes=1)) == 6
    commands = h.received(3)
    assert sorted(c["node"] for c in commands) == sorted(n.node_id for n in h.commune.nodes)
    for cmd in commands:
        assert cmd["type"] == "schedule.put"
        assert signature_ok(cmd, h.key.public_key())
        items = cmd["body"]["items"]
        assert [i["broadcast"] for i in items] == [first, second]
        assert items[0]["content"]["url"] == f"http://ctl.example/media/{SHA}.mp3"
    assert set(h.states(first).values()) == {"sent"}
    assert h.dispatcher.deliver(now=NOW - timedelta(minutes=1)) == 0, "nothing is sent twice"


def test_occurrences_beyond_the_horizon_wait(h: Harness):
    bid = h.broadcast(NOW + timedelta(days=2))
    assert h.dispatcher.deliver(now=NOW) == 0
    assert set(h.states(bid).values()) == {"queued"}


def test_after_an_outage_stale_occurrences_are_missed_not_sent(h: Harness):
    stale = h.broadcast(NOW)
    late_but_ok = h.broadcast(NOW + timedelta(minutes=10))
    back = NOW + timedelta(minutes=10, seconds=10)  # controller returns 10 min 10 s later
    assert h.dispatcher.expire(now=back) == 3
    assert h.dispatcher.deliver(now=back) == 3
    assert set(h.states(stale).values()) == {"missed"}
    assert set(h.states(late_but_ok).values()) == {"sent"}
    assert all(i["broadcast"] == late_but_ok for c in h.received(3) for i in c["body"]["items"])


def test_reports_move_a_dispatch_through_its_states(h: Harness):
    bid = h.broadcast(NOW)
    h.dispatcher.deliver(now=NOW - timedelta(minutes=1))
    node = h.commune.nodes[0].node_id
    cmd = next(c for c in h.received(3) if c["node"] == node)
    h.dispatcher.handle_batch([h.report(node, "ack", protocol.Ack(cmd_id=cmd["id"], ok=True))])
    assert h.states(bid)[node] == "acked"
    started = NOW + timedelta(milliseconds=3)
    h.dispatcher.handle_batch(
        [
            h.report(
                node,
                "play.started",
                protocol.PlayStarted(
                    broadcast=bid, occurrence="o", sha256=SHA, play_at=NOW, started_at=started
                ),
            )
        ]
    )
    assert h.states(bid)[node] == "playing"
    finished = h.report(
        node,
        "play.finished",
        protocol.PlayFinished(
            broadcast=bid,
            occurrence="o",
            sha256=SHA,
            play_at=NOW,
            started_at=started,
            ended_at=started + timedelta(seconds=4),
            result="played",
        ),
    )
    h.dispatcher.handle_batch([finished, finished])  # a QoS 1 duplicate changes nothing
    row = next(
        h.store.db.query(
            "SELECT * FROM dispatches WHERE node_id = ? AND broadcast_id = ?", [node, bid]
        )
    )
    assert row["state"] == "played"
    assert row["started_at"] == to_wire_time(started)
    assert h.states(bid)[h.commune.nodes[1].node_id] == "sent"


def test_a_refused_command_fails_its_dispatches_with_the_reason(h: Harness):
    bid = h.broadcast(NOW)
    h.dispatcher.deliver(now=NOW - timedelta(minutes=1))
    node = h.commune.nodes[0].node_id
    cmd = next(c for c in h.received(3) if c["node"] == node)
    h.dispatcher.handle_batch(
        [
            h.report(
                node, "ack", protocol.Ack(cmd_id=cmd["id"], ok=False, code="expired", error="late")
            )
        ]
    )
    row = next(
        h.store.db.query(
            "SELECT state, error FROM dispatches WHERE node_id = ? AND broadcast_id = ?",
            [node, bid],
        )
    )
    assert row == {"state": "failed", "error": "expired: late"}


def test_garbage_and_impostor_messages_are_dropped_without_harm(h: Harness):
    bid = h.broadcast(NOW)
    node, other = h.commune.nodes[0].node_id, h.commune.nodes[1].node_id
    impostor = h.report(
        other,
        "play.finished",
        protocol.PlayFinished(
            broadcast=bid, occurrence="o", play_at=NOW, ended_at=NOW, result="played"
        ),
    )
    h.dispatcher.handle_batch(
        [
            (protocol.node_topic(node, "report"), b"{not json"),
            (protocol.node_topic(node, "report"), b'{"v": 1}'),
            (protocol.node_topic(node, "report"), impostor[1]),  # other's report on node's topic
            (protocol.node_topic("ghost-node", "state"), b"{}"),
            ("loa/v1/elsewhere", b"hello"),
        ]
    )
    assert set(h.states(bid).values()) == {"queued"}


def test_a_reconnecting_node_gets_its_whole_schedule_and_a_stale_state_does_not(h: Harness):
    bid = h.broadcast(NOW)
    h.dispatcher.deliver(now=NOW - timedelta(minutes=1))
    h.received(3)
    node = h.commune.nodes[0].node_id

    def state(at: datetime) -> tuple[str, bytes]:
        body = protocol.State(node=node, online=True, at=at, version="t")
        return protocol.node_topic(node, "state"), protocol.dumps(body)

    h.dispatcher.handle_batch([state(datetime.now(UTC))])
    sync = h.received(1)[0]
    assert sync["type"] == "schedule.sync" and sync["node"] == node
    assert [i["broadcast"] for i in sync["body"]["items"]] == [bid]
    h.dispatcher.handle_batch([state(datetime.now(UTC) - timedelta(hours=1))])
    with pytest.raises(queue.Empty):
        h.commands.get(timeout=0.5)


def test_node_goes_offline_after_missed_heartbeats(h: Harness):
    from controller.domain.fleet import list_nodes

    node = h.commune.nodes[0].node_id
    seen = datetime.now(UTC)
    h.dispatcher.handle_batch(
        [
            (
                protocol.node_topic(node, "state"),
                protocol.dumps(protocol.State(node=node, online=True, at=seen)),
            )
        ],
        now=seen,
    )
    h.received(1)  # the sync

    def online(at: datetime) -> bool:
        return next(n for n in list_nodes(h.store.db, at, 3) if n["id"] == node)["online"]

    assert online(seen + timedelta(seconds=60))
    assert not online(seen + timedelta(seconds=91)), "three 30 s heartbeats missed"


def test_a_replayed_copy_of_an_obeyed_command_is_not_a_failure(h: Harness):
    bid = h.broadcast(NOW)
    h.dispatcher.deliver(now=NOW - timedelta(minutes=1))
    node = h.commune.nodes[0].node_id
    cmd = next(c for c in h.received(3) if c["node"] == node)
    refused = protocol.Ack(cmd_id=cmd["id"], ok=False, code="replayed", error="seen")
    h.dispatcher.handle_batch([h.report(node, "ack", refused)])  # QoS 1 redelivery first
    assert h.states(bid)[node] == "sent"
    h.dispatcher.handle_batch([h.report(node, "ack", protocol.Ack(cmd_id=cmd["id"], ok=True))])
    assert h.states(bid)[node] == "acked"
