"""Fixtures for the node agent's tests: real Mosquitto (from tests/conftest.py), a signing test
controller, a media server, and agent processes."""

from __future__ import annotations

import os
import shutil
import tempfile
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
def restartable_broker() -> Iterator[Mosquitto]:
    """A broker of the test's own whose persistence really works across restarts.

    Started as root, Mosquitto drops to its own user, which cannot write into pytest's private
    tmp_path (mode 0700): the shared ``own_mosquitto`` then silently loses every persistent
    session on restart. This one lives in a world-writable directory.
    """
    directory = Path(tempfile.mkdtemp(prefix="loa-node-mq-"))
    os.chmod(directory, 0o777)
    broker = Mosquitto(directory)
    broker.start()
    yield broker
    broker.stop()
    shutil.rmtree(directory, ignore_errors=True)


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
