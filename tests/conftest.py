"""Shared fixtures: a real Mosquitto on a free loopback port for the whole session."""

from __future__ import annotations

from collections.abc import Iterator

import anyio
import pytest

from tests.support.broker import Mosquitto

# anyio imports its parts on first use, and pytest rewrites anyio (a plugin) as it imports it:
# a first use inside a test's server thread then parses source there while another thread may
# be parsing too, which CPython 3.11 can fail with "SystemError: AST constructor recursion
# depth mismatch" (python/cpython#106905; a four-worker run hit it in a FileResponse). Import
# every part here, once, in the main thread.
for _name in dir(anyio):
    if not _name.startswith("_"):
        getattr(anyio, _name)


@pytest.fixture(scope="session")
def mosquitto(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mosquitto]:
    broker = Mosquitto(tmp_path_factory.mktemp("mosquitto"))
    broker.start()
    yield broker
    broker.stop()


@pytest.fixture
def own_mosquitto(tmp_path) -> Iterator[Mosquitto]:
    """A broker of the test's own, for tests that stop or restart it."""
    broker = Mosquitto(tmp_path / "mosquitto")
    broker.start()
    yield broker
    broker.stop()
