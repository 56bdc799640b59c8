"""Streams on real parts: a tone station (ffmpeg), the controller and three node-agent
processes against Mosquitto; Chromium for live speech."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.streams.tone import HlsStation, ToneStation
from tests.support.broker import Mosquitto
from tests.support.system import Commune


@pytest.fixture
def station() -> Iterator[ToneStation]:
    s = ToneStation()
    s.start()
    yield s
    s.stop()


@pytest.fixture(scope="session")
def hls() -> Iterator[HlsStation]:
    """One HLS station for the session (starting one waits for three segments)."""
    s = HlsStation()
    s.start()
    yield s
    s.stop()


@pytest.fixture
def commune(tmp_path: Path, mosquitto: Mosquitto) -> Iterator[Commune]:
    c = Commune(tmp_path, mosquitto.url, tick_s=0.3)
    try:
        yield c
    finally:
        c.stop()
        print(c.logs())
