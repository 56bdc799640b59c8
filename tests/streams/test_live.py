"""Live speech from a real headless Chromium with a fake microphone to three node-agent
processes: the nodes hold the audio, the latency is measured, the recording is kept; a browser
that goes away or a controller that dies leaves no speaker open."""

from __future__ import annotations

import statistics
import time
from pathlib import Path

import httpx
import pytest

from tests.streams.browser import (
    beeps_wav,
    chromium,
    latencies,
    mic_onsets,
    node_onsets,
    open_live_page,
    start_speaking,
)
from tests.streams.helpers import broadcast, sink_play, stream_files, ts, wait_final
from tests.streams.tone import decode
from tests.support.net import wait_until
from tests.support.system import APPROVER_TOKEN, TOKEN, Commune

pytestmark = pytest.mark.slow


def _live_status(commune: Commune, broadcast_id: int) -> dict:
    with commune.api() as api:
        return api.get(f"/api/v1/live/{broadcast_id}").json()


def test_live_speech_from_the_browser_reaches_three_nodes_within_seconds(
    commune: Commune, tmp_path: Path
):
    commune.start_controller()
    commune.start_nodes()
    commune.wait_nodes_online()
    wav = beeps_wav(tmp_path / "mic.wav")
    with chromium(wav) as browser:
        page = open_live_page(browser, commune.url, APPROVER_TOKEN, commune.seeded.commune_id)
        live = start_speaking(page)
        time.sleep(7)
        page.click("#stop")
        page.wait_for_function("window.loaLive.state === 'ended'", timeout=15000)
        mic = mic_onsets(page)
        stopped = time.time()
    assert len(mic) >= 2, mic

    final = wait_final(commune, live["id"], timeout=20)
    assert {d["state"] for d in final["dispatches"]} == {"played"}, final
    assert final["kind"] == "live"
    found: list[float] = []
    for node in commune.seeded.nodes:
        play = sink_play(commune, node.node_id, live["id"])
        assert play["stream"]["live"] is True
        assert ts(play["finished_at"]) < stopped + 3, "the node stopped with the official"
        audio, times = stream_files(commune, node.node_id, play)
        assert len(decode(str(audio))) / 16000 > 5, "the node's sink holds the speech"
        lat = latencies(mic, node_onsets(audio, times))
        assert len(lat) >= 2, (node.node_id, mic, lat)
        found.extend(lat)
    p50, worst = statistics.median(found), max(found)
    print(f"live latency mic → node: p50 {p50 * 1000:.0f} ms, max {worst * 1000:.0f} ms")
    assert worst < 3.0

    status = _live_status(commune, live["id"])
    assert status["end_reason"] == "stopped by the official"
    sha = status["recording_sha256"]
    assert sha and status["recording_url"] == f"/media/{sha}.mp3"
    recording = httpx.get(
        f"{commune.url}/media/{sha}.mp3", headers={"Authorization": f"Bearer {TOKEN}"}
    )
    assert recording.status_code == 200
    path = tmp_path / "recording.mp3"
    path.write_bytes(recording.content)
    assert len(decode(str(path))) / 16000 > 6.5, "the whole broadcast was recorded"
    assert broadcast(commune, live["id"])["media_sha256"] == sha


def test_browser_closing_mid_sentence_ends_the_broadcast_on_every_node(
    commune: Commune, tmp_path: Path
):
    commune.start_controller()
    commune.start_nodes()
    commune.wait_nodes_online()
    with chromium(beeps_wav(tmp_path / "mic.wav")) as browser:
        page = open_live_page(browser, commune.url, APPROVER_TOKEN, commune.seeded.commune_id)
        live = start_speaking(page)
        wait_until(
            lambda: (
                all(commune.plays(n.node_id) == [] for n in commune.seeded.nodes)
                and {d["state"] for d in broadcast(commune, live["id"])["dispatches"]}
                == {"playing"}
            ),
            timeout=10,
            what="every node playing the live broadcast",
        )
        time.sleep(1.5)
        page.context.close()  # the official's browser goes away, mid-sentence
        closed = time.time()
    final = wait_final(commune, live["id"], timeout=15)
    for node in commune.seeded.nodes:
        play = sink_play(commune, node.node_id, live["id"])
        assert ts(play["finished_at"]) - closed < 3, "no speaker left open"
        assert play["stream"]["bytes"] > 0
    assert all(d["state"] in ("played", "interrupted") for d in final["dispatches"])
    status = _live_status(commune, live["id"])
    assert status["end_reason"] == "the browser disconnected"
    assert status["recording_sha256"]


def test_controller_dying_during_live_leaves_no_speaker_open(commune: Commune, tmp_path: Path):
    commune.start_controller()
    commune.start_nodes()
    commune.wait_nodes_online()
    with chromium(beeps_wav(tmp_path / "mic.wav")) as browser:
        page = open_live_page(browser, commune.url, APPROVER_TOKEN, commune.seeded.commune_id)
        live = start_speaking(page)
        wait_until(
            lambda: (
                {d["state"] for d in broadcast(commune, live["id"])["dispatches"]} == {"playing"}
            ),
            timeout=10,
            what="every node playing the live broadcast",
        )
        assert commune.controller is not None
        commune.controller.kill()  # SIGKILL mid-broadcast
        killed = time.time()
        page.wait_for_function("window.loaLive.state === 'ended'", timeout=10000)
    wait_until(
        lambda: all(
            [p for p in commune.plays(n.node_id) if p["broadcast"] == live["id"]]
            for n in commune.seeded.nodes
        ),
        timeout=15,
        what="every node closing the live broadcast",
    )
    for node in commune.seeded.nodes:
        play = sink_play(commune, node.node_id, live["id"])
        assert play["result"] == "interrupted", play
        assert ts(play["finished_at"]) - killed < 9, "closed after the silence timeout"
    commune.start_controller()
    final = wait_final(commune, live["id"], timeout=20)
    assert {d["state"] for d in final["dispatches"]} == {"interrupted"}
    status = _live_status(commune, live["id"])
    assert status["end_reason"] == "controller restarted during the live broadcast"
