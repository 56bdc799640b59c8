"""Fixtures for the node agent's tests: real Mosquitto (from tests/conftest.py), a signing test
controller, a media server, and agent processes."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.node_agent.harness import Controller, MediaServer, NodeProcess
from tests.support.broker import Mosquitto


@pytest.fixture
def media() -> Iterator[MediaServer]:
    server = MediaServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def controller(mosquitto: Mosquitto) -> Iterator[Controller]:
    ctl = Controller(mosquitto.port)
    ctl.start()
    yield ctl
    ctl.stop()


@pytest.fixture
def node_factory(
    tmp_path: Path, mosquitto: Mosquitto, controller: Controller
) -> Iterator[Callable[..., NodeProcess]]:
    started: list[NodeProcess] = []
    counter = [0]

    def make(node_id: str | None = None, broker: Mosquitto | None = None, **kw: Any) -> NodeProcess:
        counter[0] += 1
        nid = node_id or f"n{counter[0]}-{uuid.uuid4().hex[:8]}"
        node = NodeProcess(
            node_id=nid,
            dir=tmp_path / nid,
            broker_url=(broker or mosquitto).url,
            public_key=controller.public_b64,
            **kw,
        )
        started.append(node)
        return node

    yield make
    for node in started:
        node.stop()
