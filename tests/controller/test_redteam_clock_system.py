"""Issue 12, finding 6 on real processes: a controller and three node agents on a real
Mosquitto. A retained state dated 2099 on a node's topic (here the test broker lets anyone
publish; in production it takes that node's credentials) used to pin the controller's
``state_at`` in 2099, so the node's next real reconnect got no ``schedule.sync``."""

from __future__ import annotations

import json
import signal
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest

from loa import protocol
from tests.support.broker import Mosquitto
from tests.support.net import wait_until
from tests.support.system import Commune

pytestmark = pytest.mark.slow

NODE = "lac-binh-1"


@pytest.fixture
def commune(tmp_path: Path, mosquitto: Mosquitto) -> Iterator[Commune]:
    c = Commune(tmp_path, mosquitto.url)
    try:
        yield c
    finally:
        c.stop()
        print(c.logs())


def _syncs(commune: Commune) -> int:
    assert commune.controller is not None
    return commune.controller.log().count(f"schedule.sync to {NODE} ")


def _node(commune: Commune) -> dict:
    with commune.api() as api:
        return api.get(f"/api/v1/nodes/{NODE}").json()


def test_a_retained_state_from_2099_does_not_silence_the_next_reconnect(
    commune: Commune, mosquitto: Mosquitto
):
    commune.start_controller()
    commune.start_nodes()
    commune.wait_nodes_online(timeout=30)
    wait_until(lambda: _syncs(commune) >= 1, 10, what="the first sync")

    forged = protocol.State(
        node=NODE, online=True, at=datetime(2099, 1, 1, tzinfo=UTC), version="x"
    )
    attacker = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"x-{uuid.uuid4().hex}")
    attacker.connect(mosquitto.host, mosquitto.port)
    attacker.loop_start()
    attacker.publish(
        protocol.node_topic(NODE, "state"), protocol.dumps(forged), qos=1, retain=True
    ).wait_for_publish(5)
    attacker.disconnect()
    attacker.loop_stop()
    # Generous waits: under a full test run on two cores the controller may take seconds to
    # read the message; they end as soon as it is read.
    # The forged state is applied when ``state_at`` jumps ahead of the clock (to the bound).
    # Not by its ``version``: the node's next heartbeat, a second later, writes the real one
    # back, and a poll under load can miss that second.
    ahead = protocol.to_wire_time(datetime.now(UTC) + timedelta(minutes=1))
    wait_until(
        lambda: (_node(commune)["state_at"] or "") > ahead, 30, what="the forged state applied"
    )
    ceiling = protocol.to_wire_time(datetime.now(UTC) + timedelta(minutes=3))
    assert _node(commune)["state_at"] < ceiling, "a node's time is bounded by the controller's"

    before = _syncs(commune)
    commune.nodes[NODE].kill(signal.SIGKILL)  # the broker publishes its will
    wait_until(lambda: not _node(commune)["online"], 20, what="offline by its will")
    commune.start_node(NODE)
    wait_until(lambda: _node(commune)["online"], 20, what="back online")
    wait_until(lambda: _syncs(commune) > before, 10, what="a schedule.sync after the reconnect")
    history = [(h["online"], h["reason"]) for h in reversed(_node(commune)["history"])]
    assert history[-2:] == [(False, "will"), (True, "connected")], json.dumps(history)
