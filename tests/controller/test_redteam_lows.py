"""Low findings of issue 12's red-team round, against real parts: a real Mosquitto started with
the documented size limits, the controller's real SQLite file, the dispatcher on a real broker."""

from __future__ import annotations

import logging
import re
import stat
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from prometheus_client import REGISTRY

from controller.core.broker_files import broker_limits_conf
from controller.core.db import Store
from loa import protocol
from tests.controller.test_dispatch import Harness
from tests.support.broker import Mosquitto
from tests.support.net import wait_until

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def h(tmp_path: Path, mosquitto: Mosquitto) -> Iterator[Harness]:
    harness = Harness(tmp_path, mosquitto)
    yield harness
    harness.close()


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_the_controller_database_and_its_wal_are_private(tmp_path: Path):
    path = tmp_path / "loa.db"
    store = Store(path)
    store.db.execute("INSERT INTO seen_reports (id, at) VALUES ('x', 'y')")
    for name in ("loa.db", "loa.db-wal", "loa.db-shm"):
        assert (tmp_path / name).exists(), name
        assert _mode(tmp_path / name) == 0o600, (name, oct(_mode(tmp_path / name)))


def test_a_world_readable_database_left_by_an_older_version_is_made_private(tmp_path: Path):
    path = tmp_path / "loa.db"
    Store(path).db.execute("SELECT 1")
    for name in ("loa.db", "loa.db-wal", "loa.db-shm"):
        (tmp_path / name).chmod(0o644)
    Store(path)
    for name in ("loa.db", "loa.db-wal", "loa.db-shm"):
        assert _mode(tmp_path / name) == 0o600, name


def test_malformed_messages_log_one_warning_per_node_per_minute(
    h: Harness, caplog: pytest.LogCaptureFixture
):
    node = h.commune.nodes[0].node_id
    garbage = [(protocol.node_topic(node, "report"), b"{not json")] * 500
    impostor = [(protocol.node_topic("ghost-node", "state"), b"{}")] * 500

    def dropped(reason: str) -> float:
        value = REGISTRY.get_sample_value("loa_node_messages_dropped_total", {"reason": reason})
        return value or 0.0

    before = dropped("malformed"), dropped("unknown_node")
    with caplog.at_level(logging.WARNING, logger="controller.services.dispatch"):
        h.dispatcher.handle_batch(garbage + impostor)
        h.dispatcher.handle_batch(garbage + impostor)
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 2, [r.getMessage() for r in warnings][:5]
    # every one is still counted
    assert (dropped("malformed") - before[0], dropped("unknown_node") - before[1]) == (1000, 1000)
    # after the minute, one more warning per node, with the count of what was left out
    h.dispatcher._bad_messages.period_s = 0.05
    h.dispatcher._bad_messages._until.clear()
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="controller.services.dispatch"):
        h.dispatcher.handle_batch(garbage[:1])
    text = caplog.records[-1].getMessage()
    assert "999 more like it" in text, text


def test_seen_reports_older_than_a_week_are_pruned(h: Harness):
    node = h.commune.nodes[0].node_id
    now = datetime.now(UTC)
    ack = protocol.Ack(cmd_id="c1", ok=True)
    old_report = h.report(node, "ack", ack)
    h.dispatcher.handle_batch([old_report], now=now - timedelta(days=8))
    h.dispatcher.handle_batch([h.report(node, "ack", ack)], now=now)
    assert h.store.db.execute("SELECT COUNT(*) FROM seen_reports").fetchone()[0] == 2
    # the scheduler tick's expire prunes them (at most hourly)
    h.dispatcher.expire(now=now)
    assert h.store.db.execute("SELECT COUNT(*) FROM seen_reports").fetchone()[0] == 1


def test_the_documented_broker_config_has_the_size_limits():
    conf = (ROOT / "docs/operations.md").read_text()
    block = re.search(r"### `/etc/mosquitto/conf.d/loa.conf`.*?```conf\n(.*?)```", conf, re.S)
    assert block is not None
    for line in broker_limits_conf().splitlines():
        assert line in block.group(1).splitlines(), line


@pytest.fixture
def limited_broker(tmp_path: Path) -> Iterator[Mosquitto]:
    broker = Mosquitto(tmp_path / "mq", extra_config=broker_limits_conf())
    broker.start()
    yield broker
    broker.stop()


def test_a_broker_with_the_limits_refuses_oversize_payloads(limited_broker: Mosquitto):
    got: list[int] = []
    received = threading.Event()

    def on_message(_c: object, _u: object, msg: mqtt.MQTTMessage) -> None:
        got.append(len(msg.payload))
        received.set()

    sub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"sub-{uuid.uuid4().hex[:6]}")
    sub.on_message = on_message
    sub.connect(limited_broker.host, limited_broker.port)
    sub.subscribe("loa/v1/node/+/cmd", qos=1)
    sub.loop_start()
    pub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"pub-{uuid.uuid4().hex[:6]}")
    pub.connect(limited_broker.host, limited_broker.port)
    pub.loop_start()
    try:
        wait_until(pub.is_connected, 5, what="publisher connected")
        time.sleep(0.3)
        topic = protocol.node_topic("lac-xuan-1", "cmd")
        # the protocol's largest message gets through
        pub.publish(topic, b"x" * protocol.MAX_PAYLOAD_BYTES, qos=1).wait_for_publish(5)
        wait_until(lambda: got, 5, what="the 256 KiB message")
        assert got == [protocol.MAX_PAYLOAD_BYTES]
        # one byte more is dropped; the publisher stays connected
        pub.publish(topic, b"x" * (protocol.MAX_PAYLOAD_BYTES + 1), qos=1).wait_for_publish(5)
        time.sleep(1.0)
        assert got == [protocol.MAX_PAYLOAD_BYTES]
        assert pub.is_connected()
        # 50 MB: the connection is closed before the broker reads it, nothing delivered
        pub.publish(topic, b"x" * (50 * 2**20), qos=1)
        wait_until(lambda: not pub.is_connected(), 20, what="the 50 MB publisher cut off")
        time.sleep(0.5)
        assert got == [protocol.MAX_PAYLOAD_BYTES]
    finally:
        pub.loop_stop()
        sub.loop_stop()
