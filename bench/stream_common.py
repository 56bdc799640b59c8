"""Shared by the stream benchmarks: a commune (controller + node-agent processes) on a private
Mosquitto and the tone station (percentiles: node_common). Not a test: prints numbers."""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.streams.icecast import Icecast
from tests.streams.tone import ToneStation
from tests.support.broker import Mosquitto
from tests.support.system import Commune


@contextmanager
def commune(
    keep: bool = False, before_start: Callable[[Commune], None] | None = None
) -> Iterator[Commune]:
    """``before_start(commune)`` runs once its address is known, before the controller starts
    (an Icecast that checks listeners with that controller, say)."""
    root = Path(tempfile.mkdtemp(prefix="loa-bench-stream-"))
    broker = Mosquitto(root / "mosquitto")
    broker.start()
    c = Commune(root / "commune", broker.url, tick_s=0.3)
    try:
        if before_start is not None:
            before_start(c)
        c.start_controller()
        c.start_nodes()
        c.wait_nodes_online(timeout=60)
        yield c
    finally:
        c.stop()
        broker.stop()
        if not keep:
            shutil.rmtree(root, ignore_errors=True)


@contextmanager
def station() -> Iterator[ToneStation]:
    s = ToneStation()
    s.start()
    try:
        yield s
    finally:
        s.stop()


def icecast_for(ice: Icecast) -> Callable[[Commune], None]:
    """Start ``ice`` with Loa's mount config (listeners checked by the commune's controller)
    and have the controller publish to it."""

    def start(c: Commune) -> None:
        ice.controller_url = c.url
        ice.start()
        os.environ["LOA_ICECAST_URL"] = ice.source_url

    return start
