"""The fleet on real processes: a controller and three node agents on a real Mosquitto.

A frozen agent (SIGSTOP: its connection stays open, no last will) is marked offline by missed
heartbeats and online again when it resumes; a killed agent is marked offline by its last will
and online again when restarted. Every change is a row in the node's history. The controller
runs with JSON logs.
"""

from __future__ import annotations

import json
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.broker import Mosquitto
from tests.support.net import wait_until
from tests.support.system import Commune

pytestmark = pytest.mark.slow

FROZEN = "lac-xuan-1"
KILLED = "lac-binh-1"


@pytest.fixture
def commune(
    tmp_path: Path, own_mosquitto: Mosquitto, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Commune]:
    monkeypatch.setenv("LOA_LOG_FORMAT", "json")
    c = Commune(tmp_path, own_mosquitto.url)
    try:
        yield c
    finally:
        for proc in c.nodes.values():  # never leave a stopped process behind
            if proc.running and proc.popen is not None:
                proc.popen.send_signal(signal.SIGCONT)
        c.stop()
        print(c.logs())


def node(commune: Commune, node_id: str) -> dict:
    with commune.api() as api:
        response = api.get(f"/api/v1/nodes/{node_id}")
        assert response.status_code == 200, response.text
        return response.json()


def reasons(detail: dict) -> list[tuple[bool, str]]:
    return [(h["online"], h["reason"]) for h in reversed(detail["history"])]


def test_frozen_and_killed_agents_go_offline_and_come_back_with_history(
    commune: Commune,
) -> None:
    commune.start_controller()
    commune.start_nodes()
    commune.wait_nodes_online(timeout=30)

    # the controller learns each node's heartbeat interval (1 s here) from its first heartbeat
    for node_id in (FROZEN, KILLED):
        wait_until(lambda n=node_id: node(commune, n)["heartbeat_s"] == 1, timeout=20, what=node_id)

    frozen = commune.nodes[FROZEN]
    assert frozen.popen is not None
    frozen.popen.send_signal(signal.SIGSTOP)
    # heartbeats every 1 s: offline after 3 missed, found by the 0.5 s tick
    wait_until(
        lambda: node(commune, FROZEN)["history"][0]["online"] is False, timeout=20, what="frozen"
    )
    detail = node(commune, FROZEN)
    assert detail["online"] is False and detail["status"] == "offline"
    assert reasons(detail) == [(True, "connected"), (False, "heartbeat")]
    frozen.popen.send_signal(signal.SIGCONT)
    wait_until(lambda: node(commune, FROZEN)["online"], timeout=20, what="resumed")
    assert reasons(node(commune, FROZEN))[-1] == (True, "heartbeat")

    commune.nodes[KILLED].kill(signal.SIGKILL)
    wait_until(
        lambda: node(commune, KILLED)["history"][0]["online"] is False, timeout=20, what="killed"
    )
    # the broker published the will at once, before three heartbeats could be missed
    assert reasons(node(commune, KILLED)) == [(True, "connected"), (False, "will")]
    commune.start_node(KILLED)
    wait_until(lambda: node(commune, KILLED)["online"], timeout=20, what="restarted")
    detail = node(commune, KILLED)
    assert reasons(detail) == [(True, "connected"), (False, "will"), (True, "connected")]
    assert 0 < detail["uptime_pct"]["24h"] < 100

    with commune.api() as api:
        listed = {n["id"]: n for n in api.get("/api/v1/nodes").json()}
        metrics = api.get("/metrics").text
    assert all(n["online"] for n in listed.values())
    assert 'loa_nodes{status="online"} 3.0' in metrics
    assert 'loa_node_status_changes_total{reason="will",status="offline"} 1.0' in metrics

    assert commune.controller is not None
    lines = [line for line in commune.controller.log().splitlines() if line.strip()]
    entries = [json.loads(line) for line in lines]  # every line is one JSON object
    assert any(e["logger"].startswith("uvicorn") for e in entries)
    assert any(e["logger"] == "controller.dispatch" for e in entries)
