"""For a province the controller publishes relays to Icecast, and nodes listen there: a real
icecast2 on loopback with its own config, three node-agent processes."""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator

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
def icecast() -> Iterator[Icecast]:
    server = Icecast()
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
    relay = schedule_relay(commune, source["id"], seconds_ahead=6, window_s=window)
    start = ts(relay["starts_at"])
    time.sleep(max(0.0, start + window / 2 - time.time()))
    # mid-window the three nodes are Icecast's listeners on the relay's mount
    stats = httpx.get(f"{icecast.url}/status-json.xsl").json()["icestats"]
    mounts = stats["source"] if isinstance(stats["source"], list) else [stats["source"]]
    mount = next(m for m in mounts if m["listenurl"].endswith(f"/relay-{source['id']}.mp3"))
    assert mount["listeners"] >= 3, mount
    final = wait_final(commune, relay["id"], timeout=window + 20)
    states = {d["state"] for d in final["dispatches"]}
    assert states == {"played"}, (final["dispatches"], icecast.log()[-2000:])
    for node in commune.seeded.nodes:
        play = sink_play(commune, node.node_id, relay["id"])
        assert abs(ts(play["started_at"]) - start) < 0.5
        assert abs(ts(play["finished_at"]) - (start + window)) < 0.5
        audio, _ = stream_files(commune, node.node_id, play)
        samples = decode(str(audio))
        assert len(samples) / 16000 > window - 2
        assert abs(dominant_frequency(samples) - 440) < 10
