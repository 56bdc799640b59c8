"""A node never plays what the controller didn't sign for it: forged, misaddressed, expired and
replayed commands published with a plain MQTT client are refused, acked with a reason, and nothing
plays. Real Mosquitto, a real node-agent process."""

from __future__ import annotations

import json
import queue
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from loa import protocol
from loa.protocol import FileContent, ScheduleItem, SchedulePut, utcnow
from loa.signing import sign
from tests.support.broker import Mosquitto
from tests.support.media import serve_directory, tone_mp3
from tests.support.net import wait_until
from tests.support.system import Commune

pytestmark = pytest.mark.slow


@pytest.fixture
def setup(tmp_path: Path, mosquitto: Mosquitto) -> Iterator[tuple[Commune, str, str, int]]:
    commune = Commune(tmp_path, mosquitto.url)
    media = tmp_path / "media"
    media.mkdir()
    sha, size = tone_mp3(media / "tone.mp3", seconds=0.5)
    with serve_directory(media) as base:
        try:
            yield commune, f"{base}/tone.mp3", sha, size
        finally:
            commune.stop()
            print(commune.logs())


def _reports(
    mosquitto: Mosquitto, node_id: str
) -> tuple[mqtt.Client, queue.Queue, threading.Event]:
    """The node's reports, and an event set once it says it is online (its retained state comes
    after it subscribed to its commands: a command published before that would be lost). A
    state retained from an earlier test's agent of the same id is older than this call."""
    inbox: queue.Queue = queue.Queue()
    online = threading.Event()
    since = datetime.now(UTC)

    def on_message(_c: mqtt.Client, _u: object, message: mqtt.MQTTMessage) -> None:
        body = json.loads(message.payload)
        if message.topic == protocol.node_topic(node_id, "state"):
            if body.get("online") and datetime.fromisoformat(body["at"]) >= since:
                online.set()
        else:
            inbox.put(body)

    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="test-listener")
    client.username_pw_set("test-listener")
    client.on_message = on_message
    client.connect(mosquitto.host, mosquitto.port)
    client.subscribe(protocol.node_topic(node_id, "report"), qos=1)
    client.subscribe(protocol.node_topic(node_id, "state"), qos=1)
    client.loop_start()
    return client, inbox, online


def _acks(inbox: queue.Queue, ids: list[str], timeout: float = 10) -> dict[str, dict]:
    """The first ack of each command in ``ids``. Acks of other commands are passed over: the
    session-wide broker may still hold commands for this node id from an earlier test, which
    the agent refuses (bad signature) with acks of their own."""
    acks: dict[str, dict] = {}
    while set(ids) - set(acks):
        report = inbox.get(timeout=timeout)
        if report["type"] == "ack" and report["body"]["cmd_id"] in ids:
            acks.setdefault(report["body"]["cmd_id"], report["body"])
    return acks


def test_forged_misaddressed_expired_and_replayed_commands_play_nothing(
    setup: tuple[Commune, str, str, int], mosquitto: Mosquitto
):
    commune, url, sha, size = setup
    node_id = commune.seeded.nodes[0].node_id
    other_node = commune.seeded.nodes[1].node_id
    listener, inbox, online = _reports(mosquitto, node_id)
    commune.start_node(node_id)
    assert online.wait(20), "the agent came online (and so subscribed to its commands)"

    play_at = utcnow() + timedelta(seconds=4)

    def put(broadcast: int, node: str = node_id, ttl: float = 60) -> dict:
        item = ScheduleItem(
            broadcast=broadcast,
            occurrence="o1",
            play_at=play_at,
            content=FileContent(url=url, sha256=sha, bytes=size, duration_s=0.5),
        )
        return protocol.new_command(
            "schedule.put", node, SchedulePut(items=[item]), ttl=timedelta(seconds=ttl)
        )

    forged = sign(put(101), Ed25519PrivateKey.generate())
    misaddressed = sign(put(102, node=other_node), commune.key)
    expired = sign(put(103, ttl=-1), commune.key)
    unsigned = put(104)
    valid = sign(put(105), commune.key)

    topic = protocol.node_topic(node_id, "cmd")
    publisher = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="intruder")
    publisher.username_pw_set("intruder")
    publisher.connect(mosquitto.host, mosquitto.port)
    publisher.loop_start()
    for envelope in (forged, misaddressed, expired, unsigned, valid, valid):
        publisher.publish(topic, protocol.dumps(envelope), qos=1).wait_for_publish(5)
    publisher.publish(topic, b"{definitely not json", qos=1).wait_for_publish(5)
    publisher.publish(topic, b"x" * (protocol.MAX_PAYLOAD_BYTES + 1), qos=1).wait_for_publish(5)

    acks = _acks(inbox, [c["id"] for c in (forged, misaddressed, expired, unsigned, valid)])
    assert acks[forged["id"]]["code"] == "bad_signature"
    assert acks[misaddressed["id"]]["code"] == "wrong_node"
    assert acks[expired["id"]]["code"] == "expired"
    assert acks[unsigned["id"]]["code"] == "bad_signature"
    assert acks[valid["id"]]["ok"] is True
    # the replayed copy of the valid command is refused with its own ack
    replay = inbox.get(timeout=10)
    while replay["type"] != "ack" or replay["body"]["cmd_id"] != valid["id"]:
        replay = inbox.get(timeout=10)
    assert replay["body"] == {
        **replay["body"],
        "cmd_id": valid["id"],
        "ok": False,
        "code": "replayed",
    }

    wait_until(lambda: commune.plays(node_id), timeout=15, what="the valid item to play")
    time.sleep(1.5)
    plays = commune.plays(node_id)
    assert [p["broadcast"] for p in plays] == [105]
    assert commune.nodes[node_id].running, "the agent must stay up"
    publisher.loop_stop()
    listener.loop_stop()
