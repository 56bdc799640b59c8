"""For a province the controller publishes relays to Icecast, and nodes listen there: a real
icecast2 on loopback with its own config, three node-agent processes."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.streams.helpers import (
    add_source,
    schedule_relay,
    sink_play,
    stream_files,
    ts,
    wait_final,
)
from tests.streams.icecast import Icecast
from tests.streams.tone import ToneStation, decode, dominant_frequency
from tests.support.system import Commune

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("icecast2") is None, reason="needs icecast2 (apt)"),
]


@pytest.fixture
def icecast(tmp_path: Path) -> Iterator[Icecast]:
    server = Icecast(tmp_path / "icecast")
    server.start()
    yield server
    server.stop()


def test_relay_through_icecast_reaches_three_nodes(
    commune: Commune, station: ToneStation, icecast: Icecast, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv("LOA_ICECAST_URL", icecast.source_url)
    commune.start_controller()
    commune.start_nodes()
    commune.wait_nodes_online()
    source = add_source(commune, station.url)
    window = 8.0
    relay = schedule_relay(commune, source["id"], seconds_ahead=4, window_s=window)
    start = ts(relay["starts_at"])
    final = wait_final(commune, relay["id"], timeout=window + 20)
    assert {d["state"] for d in final["dispatches"]} == {"played"}, final
    for node in commune.seeded.nodes:
        play = sink_play(commune, node.node_id, relay["id"])
        assert abs(ts(play["started_at"]) - start) < 0.5
        assert abs(ts(play["finished_at"]) - (start + window)) < 0.5
        audio, _ = stream_files(commune, node.node_id, play)
        samples = decode(str(audio))
        assert len(samples) / 16000 > window - 2
        assert abs(dominant_frequency(samples) - 440) < 10
    # the nodes were Icecast's listeners: its status counts the mount's listener peak
    stats = httpx.get(f"{icecast.url}/status-json.xsl").json()["icestats"]
    mounts = stats["source"] if isinstance(stats["source"], list) else [stats["source"]]
    mount = next(m for m in mounts if m["listenurl"].endswith(f"/relay-{source['id']}.mp3"))
    assert mount["listener_peak"] >= 3
