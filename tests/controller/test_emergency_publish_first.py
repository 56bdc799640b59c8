"""A province's emergency (issue 17): its zone command is published as soon as the broadcast is
durable, before its 10,000 dispatch rows are written, and an ack that arrives before its row
exists still counts; a batch of acks is applied set-based with the effect of one by one."""

from __future__ import annotations

import json
import sqlite3
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from controller.core.settings import Settings
from controller.domain.identity import Identity, token_official
from controller.domain.seed import SeededCommune, seed_commune
from controller.domain.users import create_token, create_user
from controller.services.mqtt_link import MqttLink
from controller.services.runtime import Runtime
from loa import protocol
from tests.controller.test_dispatch import NOW, SHA, Harness
from tests.support.broker import Mosquitto
from tests.support.zones import listening_to_their_zones

TOKEN = "approver-publish-first-" + "t" * 24


@dataclass
class Province:
    runtime: Runtime
    commune: SeededCommune
    who: Identity
    link: MqttLink
    db_path: Path

    def committed(self, sql: str, *params: object) -> list[tuple]:
        """What another connection reads: only what is committed."""
        with sqlite3.connect(f"file:{self.db_path}?mode=ro", uri=True) as other:
            return other.execute(sql, params).fetchall()

    def on_publish(self, hook: Callable[[str, bytes], None]) -> None:
        """Publish through the real broker link, calling ``hook`` once a message is out."""

        def publish(topic: str, payload: bytes) -> bool:
            ok = self.link.publish(topic, payload)
            hook(topic, payload)
            return ok

        self.runtime.dispatcher.publish = publish

    def ack(self, node: str, cmd_id: str) -> tuple[str, bytes]:
        report = protocol.new_report("ack", node, protocol.Ack(cmd_id=cmd_id, ok=True))
        return protocol.node_topic(node, "report"), protocol.dumps(report)


@pytest.fixture
def province(tmp_path: Path, mosquitto: Mosquitto) -> Iterator[Province]:
    settings = Settings(data_dir=tmp_path, mqtt_url=mosquitto.url)
    runtime = Runtime(settings)  # not started: no scheduler tick, no ingest thread
    commune = seed_commune(runtime.store)
    with runtime.store.transaction() as db:
        db.execute("UPDATE nodes SET protocol = 2, online = 1")
        listening_to_their_zones(db)
        user = create_user(db, "duyet", "mat-khau-nguoi-duyet", "approver")
        create_token(db, "t", user_id=user, token=TOKEN)
    who = token_official(runtime.store.db, TOKEN)
    assert who is not None
    link = MqttLink(mosquitto.url, lambda t, p: None, client_id=f"ctl-{uuid.uuid4()}")
    link.start()
    assert link.connected.wait(5)
    yield Province(runtime, commune, who, link, settings.db_path)
    link.stop()


def test_the_zone_command_goes_out_before_the_rows_and_an_ack_before_its_row_counts(
    province: Province,
):
    nodes = [n.node_id for n in province.commune.nodes]
    seen: dict[str, object] = {}
    acking: list[threading.Thread] = []

    def hook(topic: str, payload: bytes) -> None:
        command = json.loads(payload)
        seen["topic"] = topic
        # durable before anything is published; its rows not written yet
        seen["broadcasts"] = province.committed(
            "SELECT id FROM broadcasts WHERE emergency = 1 AND status = 'active'"
        )
        seen["audit"] = province.committed(
            "SELECT count(*) FROM audit_log WHERE action = 'broadcast.emergency'"
        )[0][0]
        seen["rows"] = province.committed("SELECT count(*) FROM dispatches")[0][0]
        # the first node acks at once, before its dispatch row exists
        early = threading.Thread(
            target=province.runtime.dispatcher.handle_batch,
            args=([province.ack(nodes[0], command["id"])],),
        )
        early.start()
        early.join(0.5)
        seen["ack_waited"] = early.is_alive()
        acking.append(early)

    province.on_publish(hook)
    detail = province.runtime.emergency(
        province.who, "Lũ", "Bà con lên vùng cao ngay.", [province.commune.commune_id], repeats=1
    )
    acking[0].join(10)
    assert seen["topic"] == protocol.zone_topic(province.commune.commune_id)
    assert seen["broadcasts"] == [(detail["id"],)]
    assert seen["audit"] == 1
    assert seen["rows"] == 0
    assert seen["ack_waited"] is True  # held until the rows were committed
    rows = {
        r[0]: r[1:]
        for r in province.committed(
            "SELECT node_id, state, acked_at, cmd_id FROM dispatches WHERE broadcast_id = ?",
            detail["id"],
        )
    }
    assert sorted(rows) == sorted(nodes)
    assert rows[nodes[0]][0] == "acked" and rows[nodes[0]][1] is not None
    assert all(rows[n][0] == "sent" and rows[n][1] is None for n in nodes[1:])
    assert len({r[2] for r in rows.values()}) == 1  # one zone command carried every row
    carried = province.committed("SELECT count(*) FROM dispatch_commands")[0][0]
    kept = province.committed("SELECT count(*) FROM sent_commands")[0][0]
    assert (carried, kept) == (3, 1)  # an ack of it, or its re-send, finds every row


def test_an_emergency_is_on_record_when_the_controller_stops_right_after_publishing(
    province: Province,
):
    class Crash(Exception):
        pass

    def hook(topic: str, payload: bytes) -> None:
        raise Crash  # the process dies between the publish and the rows

    province.on_publish(hook)
    with pytest.raises(Crash):
        province.runtime.emergency(
            province.who, "Bão", "Bà con vào nơi trú ẩn.", [province.commune.commune_id]
        )
    assert province.committed("SELECT count(*) FROM broadcasts WHERE emergency = 1")[0][0] == 1
    assert province.committed(
        "SELECT count(*) FROM audit_log WHERE action = 'broadcast.emergency'"
    ) == [(1,)]


@pytest.fixture(name="h")
def harness(tmp_path: Path, mosquitto: Mosquitto) -> Iterator[Harness]:
    made = Harness(tmp_path, mosquitto)
    yield made
    made.close()


def test_a_batch_of_acks_updates_every_row_as_one_by_one_would(h: Harness):
    bid = h.broadcast(NOW)
    nodes = [n.node_id for n in h.commune.nodes]
    h.dispatcher.deliver(now=NOW - timedelta(minutes=1))
    puts = {c["node"]: c for c in h.received(3)}
    first = h.report(nodes[0], "ack", protocol.Ack(cmd_id=puts[nodes[0]]["id"], ok=True))
    started = protocol.PlayStarted(
        broadcast=bid, occurrence="o", sha256=SHA, play_at=NOW, started_at=NOW
    )
    refused = protocol.Ack(cmd_id=puts[nodes[2]]["id"], ok=False, code="expired", error="late")
    stranger = "not-a-node"
    h.dispatcher.handle_batch(
        [
            first,
            h.report(nodes[1], "ack", protocol.Ack(cmd_id=puts[nodes[1]]["id"], ok=True)),
            h.report(nodes[1], "play.started", started),  # after its ack, in the same batch
            first,  # a QoS 1 duplicate within the batch
            h.report(nodes[2], "ack", refused),
            h.report(stranger, "ack", protocol.Ack(cmd_id=puts[nodes[0]]["id"], ok=True)),
        ],
        now=datetime.now(UTC),
    )
    rows = {
        r["node_id"]: r
        for r in h.store.db.query("SELECT * FROM dispatches WHERE broadcast_id = ?", [bid])
    }
    assert rows[nodes[0]]["state"] == "acked" and rows[nodes[0]]["acked_at"]
    assert rows[nodes[1]]["state"] == "playing" and rows[nodes[1]]["acked_at"]
    assert rows[nodes[2]]["state"] == "failed" and rows[nodes[2]]["error"] == "expired: late"
    seen = h.store.db.execute("SELECT count(*) FROM seen_reports").fetchone()[0]
    assert seen == 4  # the duplicate and the stranger's are not recorded
    last_seen = {
        r["id"]: r["last_seen"] for r in h.store.db.query("SELECT id, last_seen FROM nodes")
    }
    assert all(last_seen[n] for n in nodes)
    # the duplicate, sent again in a later batch, changes nothing
    h.dispatcher.handle_batch([first])
    assert h.store.db.execute("SELECT count(*) FROM seen_reports").fetchone()[0] == 4


def test_many_acks_in_one_batch_each_ack_their_own_row(h: Harness):
    """A zone command's acks, a batch of them at once (the ingest takes up to 500)."""
    bid = h.broadcast(NOW)
    nodes = [n.node_id for n in h.commune.nodes]
    with h.store.transaction() as db:
        db.execute("UPDATE nodes SET protocol = 2")
        listening_to_their_zones(db)
        db.execute(
            "UPDATE broadcasts SET zone_ids = ?, emergency = 1 WHERE id = ?",
            [f"[{h.commune.commune_id}]", bid],
        )
    h.dispatcher.play_now(bid, group=True)
    cmd_id = h.store.db.execute("SELECT DISTINCT cmd_id FROM dispatches").fetchone()[0]
    acks = [h.report(n, "ack", protocol.Ack(cmd_id=cmd_id, ok=True)) for n in nodes[:2]]
    h.dispatcher.handle_batch(acks)
    assert h.states(bid) == {nodes[0]: "acked", nodes[1]: "acked", nodes[2]: "sent"}
