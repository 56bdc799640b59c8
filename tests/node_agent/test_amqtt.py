"""The same agent works on the embedded demo broker (amqtt 0.12, MQTT 3.1.1 only)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from loa.protocol import SchedulePut
from tests.node_agent.harness import Controller, item, media_blob, parse_time, soon, wait_online
from tests.support.net import free_port, wait_for_port

pytest.importorskip("amqtt")


@pytest.fixture
def amqtt_port() -> Iterator[int]:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, str(Path(__file__).with_name("amqtt_broker.py")), str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for_port(port, timeout=20)
        yield port
    finally:
        proc.terminate()
        proc.wait(10)


def test_agent_plays_and_reports_through_amqtt(node_factory, media, amqtt_port):
    ctl = Controller(amqtt_port)
    ctl.start()
    try:
        node = node_factory()
        node.broker_url = f"mqtt://127.0.0.1:{amqtt_port}"
        node.public_key = ctl.public_b64
        node.start()
        wait_online(ctl, node.node_id)
        content = media.content(media_blob("amqtt"), duration_s=0.3)
        play_at = soon(2)
        env = ctl.send("schedule.put", node.node_id, SchedulePut(items=[item(1, content, play_at)]))
        assert ctl.ack(env["id"])["ok"]
        done = ctl.finished(node.node_id, 1)
        assert done["result"] == "played"
        assert abs(parse_time(done["started_at"]) - play_at) < 0.1
    finally:
        ctl.stop()
