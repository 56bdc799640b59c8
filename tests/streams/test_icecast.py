"""For a province the controller publishes relays to Icecast, and nodes listen there: a real
icecast2 on loopback with Loa's generated mount config (URL authentication against the
controller), three node-agent processes."""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from typing import Any

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
from tests.support.system import APPROVER_TOKEN, Commune

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("icecast2") is None, reason="needs icecast2 (apt)"),
]


@pytest.fixture
def icecast(commune: Commune) -> Iterator[Icecast]:
    server = Icecast(controller_url=commune.url)
    server.start()
    yield server
    server.stop()


def _mount(icecast: Icecast, name: str) -> dict[str, Any]:
    stats = httpx.get(f"{icecast.url}/status-json.xsl").json()["icestats"]
    mounts = stats.get("source") or []
    mounts = mounts if isinstance(mounts, list) else [mounts]
    return next(m for m in mounts if m["listenurl"].endswith(f"/{name}"))


def _listen(url: str, headers: dict[str, str]) -> tuple[int, str, int]:
    """Status, content type and the bytes a listener gets in its first half second."""
    got = 0
    with httpx.stream("GET", url, headers=headers, timeout=5) as r:
        if r.status_code == 200:
            deadline = time.monotonic() + 0.5
            for chunk in r.iter_bytes():
                got += len(chunk)
                if time.monotonic() > deadline:
                    break
        return r.status_code, r.headers.get("content-type", ""), got


def test_relay_through_icecast_plays_for_node_tokens_only(
    commune: Commune, station: ToneStation, icecast: Icecast, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv("LOA_ICECAST_URL", icecast.source_url)
    good, spare, wrong = commune.seeded.nodes
    # one node's config carries a token that is not its own (stale, copied from elsewhere)
    config = commune.node_dir(wrong.node_id) / "node.toml"
    config.write_text(
        config.read_text().replace(f'token = "{wrong.secret}"', 'token = "not-the-node-token"')
    )
    commune.start_nodes()
    commune.start_controller()
    commune.wait_nodes_online()
    source = add_source(commune, station.url)
    window = 6.0
    relay = schedule_relay(
        commune,
        source["id"],
        seconds_ahead=4,
        window_s=window,
        zone_ids=[good.zone_id, wrong.zone_id],
    )
    start = ts(relay["starts_at"])
    mount_url = f"{icecast.url}/relay-{source['id']}.mp3"
    time.sleep(max(0.0, start + 1.5 - time.time()))

    # mid-window only the node with its own token listens on the relay's mount
    assert _mount(icecast, f"relay-{source['id']}.mp3")["listeners"] == 1
    # Icecast asks the controller about every listener
    assert _listen(mount_url, {})[0] == 401
    assert _listen(mount_url, {"Authorization": "Bearer nope"})[0] == 401
    status, ctype, got = _listen(mount_url, {"Authorization": f"Bearer {APPROVER_TOKEN}"})
    assert (status, ctype) == (200, "audio/mpeg") and got > 0
    # a node's token lets it in until the node is revoked
    node_auth = {"Authorization": f"Bearer {spare.secret}"}
    assert _listen(mount_url, node_auth)[0] == 200
    with commune.api() as api:
        assert api.post(f"/api/v1/nodes/{spare.node_id}/revoke").status_code == 200
    assert _listen(mount_url, node_auth)[0] == 401
    # players that only speak Basic authentication send the token as the password
    basic = httpx.BasicAuth("node", good.secret)
    with httpx.stream("GET", mount_url, auth=basic, timeout=5) as r:
        assert r.status_code == 200

    final = wait_final(commune, relay["id"], timeout=window + 15)
    by_node = {d["node_id"]: d for d in final["dispatches"]}
    assert set(by_node) == {good.node_id, wrong.node_id}
    assert by_node[good.node_id]["state"] == "played", (final, icecast.log()[-2000:])
    assert by_node[wrong.node_id]["state"] == "failed", by_node[wrong.node_id]
    assert "HTTP 401" in by_node[wrong.node_id]["error"]

    play = sink_play(commune, good.node_id, relay["id"])
    assert abs(ts(play["started_at"]) - start) < 0.5
    assert abs(ts(play["finished_at"]) - (start + window)) < 0.5
    audio, _ = stream_files(commune, good.node_id, play)
    samples = decode(str(audio))
    assert len(samples) / 16000 > window - 2
    assert abs(dominant_frequency(samples) - 440) < 10
    refused = sink_play(commune, wrong.node_id, relay["id"])
    assert refused["result"] == "failed" and refused["stream"]["bytes"] == 0
    # refused when it pre-opened the stream and once more at the window's start: no retrying
    node_refusals = [
        line
        for line in icecast.access_log().splitlines()
        if '" 401 ' in line and "Python-urllib" in line
    ]
    assert 1 <= len(node_refusals) <= 2, node_refusals
