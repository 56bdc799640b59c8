"""Zone-addressed commands (issue 17) on real parts: a real Mosquitto, the real controller and
real node-agent processes. An emergency goes to a zone's topic once; the nodes of that zone and
of the zones below it play it and ack it each on their own topic, the others hear nothing; a node
of protocol 1 still gets its own command; a node offline during the emergency gets it when it
returns; the generated ACL lets a node read its own zones' topics and no other."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest

from controller.core import broker_files
from controller.core.db import Store
from controller.domain.seed import seed_commune
from loa import protocol
from loa.signing import load_or_create_private_key, sign
from tests.support.broker import Mosquitto
from tests.support.mqtt_auth import Client, auth_config
from tests.support.net import wait_until
from tests.support.system import APPROVER_TOKEN, Commune

pytestmark = pytest.mark.slow


@pytest.fixture
def commune(tmp_path: Path, mosquitto: Mosquitto) -> Iterator[Commune]:
    c = Commune(tmp_path, mosquitto.url)
    try:
        yield c
    finally:
        c.stop()
        print(c.logs())


def _listening(commune: Commune, node_ids: list[str]) -> None:
    """Wait until the controller told these nodes their zones (node.config) and they acked it:
    they listen (the SUBSCRIBE went to the broker before the ack)."""

    def confirmed() -> bool:
        rows = commune.store.db.query(
            "SELECT id, protocol, listen_zones, zones_confirmed FROM nodes WHERE id IN "
            f"({','.join('?' * len(node_ids))})",
            node_ids,
        )
        return all(
            r["protocol"] == 2 and r["listen_zones"] and r["zones_confirmed"] == r["listen_zones"]
            for r in rows
        )

    wait_until(confirmed, timeout=20, interval=0.1, what="nodes listening to their zones")


def _emergency(commune: Commune, zone_id: int, title: str) -> dict:
    with commune.api(APPROVER_TOKEN) as api:
        response = api.post(
            "/api/v1/emergency",
            json={
                "title": title,
                "text": "Khẩn cấp: nước sông lên nhanh, bà con di chuyển lên vùng cao.",
                "zone_ids": [zone_id],
                "repeats": 1,
            },
        )
        assert response.status_code == 201, response.text
        return response.json()


def _dispatches(commune: Commune, broadcast_id: int) -> dict[str, dict]:
    return {
        r["node_id"]: r
        for r in commune.store.db.query(
            "SELECT node_id, state, cmd_id, acked_at FROM dispatches WHERE broadcast_id = ?",
            [broadcast_id],
        )
    }


def _played(commune: Commune, node_id: str, broadcast_id: int) -> list[dict]:
    return [p for p in commune.plays(node_id) if p["broadcast"] == broadcast_id]


def test_a_zone_emergency_reaches_its_zone_and_below_once_each_and_no_other(commune: Commune):
    commune.start_controller()
    commune.start_nodes()
    commune.wait_nodes_online()
    nodes = [n.node_id for n in commune.seeded.nodes]
    _listening(commune, nodes)

    # one village: its node only
    village = commune.seeded.nodes[0]
    b1 = _emergency(commune, village.zone_id, "Lũ ở thôn")
    wait_until(
        lambda: _dispatches(commune, b1["id"]).get(village.node_id, {}).get("acked_at"),
        timeout=15,
        interval=0.1,
        what="the village's node acking",
    )
    assert set(_dispatches(commune, b1["id"])) == {village.node_id}
    wait_until(lambda: _played(commune, village.node_id, b1["id"]), timeout=40, what="played")

    # the commune: every node, one zone command (one cmd_id), each acking for itself
    b2 = _emergency(commune, commune.seeded.commune_id, "Lũ cả xã")
    wait_until(
        lambda: all(d["acked_at"] for d in _dispatches(commune, b2["id"]).values()),
        timeout=15,
        interval=0.1,
        what="every node acking",
    )
    rows = _dispatches(commune, b2["id"])
    assert set(rows) == set(nodes)
    assert len({r["cmd_id"] for r in rows.values()}) == 1, "one command for the whole commune"
    wait_until(lambda: all(_played(commune, n, b2["id"]) for n in nodes), timeout=40, what="played")
    time.sleep(2)  # a re-send or a sync must not make anyone play it twice
    for node_id in nodes:
        assert len(_played(commune, node_id, b2["id"])) == 1, node_id
    # the first emergency was for one village: the others never played it
    for node_id in nodes[1:]:
        assert _played(commune, node_id, b1["id"]) == []


def test_an_old_node_gets_its_own_command_and_an_offline_node_gets_it_on_return(
    commune: Commune, mosquitto: Mosquitto
):
    commune.start_controller()
    real = [n.node_id for n in commune.seeded.nodes[:2]]
    for node_id in real:
        commune.start_node(node_id)
    old = commune.seeded.nodes[2].node_id
    # A node of protocol 1: its state has no ``protocol``; it listens to its own topic only.
    received: list[dict] = []
    # a fresh session: the session-wide broker may hold one of this id from an earlier test
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=old, clean_session=True)
    client.username_pw_set(old)
    client.on_message = lambda _c, _u, m: received.append(json.loads(m.payload))
    client.connect(mosquitto.host, mosquitto.port)
    client.loop_start()
    try:
        client.subscribe(protocol.node_topic(old, "cmd"), qos=1)
        now = protocol.to_wire_time(datetime.now(UTC))
        state = {"v": 1, "node": old, "online": True, "at": now, "version": "0.9"}
        client.publish(
            protocol.node_topic(old, "state"), json.dumps(state).encode(), qos=1, retain=True
        ).wait_for_publish(5)
        commune.wait_nodes_online()
        _listening(commune, real)

        # the second real node is away during the emergency
        commune.nodes[real[1]].stop()
        wait_until(
            lambda: (
                not next(
                    commune.store.db.query("SELECT online FROM nodes WHERE id = ?", [real[1]])
                )["online"]
            ),
            timeout=10,
            what="the node seen offline",
        )
        broadcast = _emergency(commune, commune.seeded.commune_id, "Bão")

        def old_command() -> dict | None:
            return next((c for c in received if c.get("body", {}).get("item")), None)

        wait_until(old_command, timeout=10, interval=0.1, what="the old node's play.now")
        command = old_command()
        assert command is not None
        assert command["v"] == 1 and command["node"] == old and command["type"] == "play.now"
        assert all("zone" not in c for c in received), "a protocol-1 node gets no zone command"
        assert command["body"]["item"]["broadcast"] == broadcast["id"]
        wait_until(lambda: _played(commune, real[0], broadcast["id"]), timeout=40, what="play")

        commune.start_node(real[1])  # back: the command waited in its session
        wait_until(
            lambda: _played(commune, real[1], broadcast["id"]),
            timeout=40,
            what="the returning node playing the emergency",
        )
        assert _dispatches(commune, broadcast["id"])[real[1]]["acked_at"]
        time.sleep(2)
        assert len(_played(commune, real[1], broadcast["id"])) == 1
    finally:
        client.disconnect()
        client.loop_stop()


def test_the_broker_acl_lets_a_node_read_its_zones_and_no_other(tmp_path: Path):
    store = Store(tmp_path / "loa.db")
    seeded = seed_commune(store)
    files_dir = tmp_path / "broker"
    broker_files.write_broker_files(store.db, files_dir, "loa-controller", "mat-khau-ctl")
    broker = Mosquitto(tmp_path / "mq", extra_config=auth_config(files_dir))
    broker.start()
    key = load_or_create_private_key(tmp_path / "key.pem")
    mine, other = seeded.nodes[0], seeded.nodes[1]
    node = Client(broker.port, mine.node_id, mine.secret, mine.node_id)
    controller = Client(broker.port, "loa-controller", "mat-khau-ctl", f"ctl-{uuid.uuid4()}")
    try:
        assert node.connect() and controller.connect()
        for zone in (mine.zone_id, seeded.commune_id, other.zone_id):
            node.subscribe(protocol.zone_topic(zone))
        for zone in (other.zone_id, mine.zone_id, seeded.commune_id):
            envelope = sign(
                protocol.new_zone_command(
                    "play.stop",
                    zone,
                    protocol.PlayStop(broadcast=1),
                    ttl=timedelta(minutes=1),
                ),
                key,
            )
            controller.publish(protocol.zone_topic(zone), protocol.dumps(envelope))
        wait_until(lambda: len(node.messages) >= 2, timeout=5, what="the node's zone commands")
        time.sleep(0.5)
        topics = sorted(t for t, _ in node.messages)
        assert topics == sorted(
            [protocol.zone_topic(mine.zone_id), protocol.zone_topic(seeded.commune_id)]
        )
    finally:
        node.close()
        controller.close()
        broker.stop()
