"""AAC and HLS stations relayed to node agents, and a node that plays through a real player:
mpg123 (ALSA's null device: this machine has no sound card) and ffplay (SDL's dummy audio) fed
on stdin by the node, watched through /proc."""

from __future__ import annotations

import contextlib
import itertools
import os
import re
import shutil
import signal
import statistics
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from node_agent import player as player_module
from node_agent.player import PlayerError, ProcessPlayer, Source
from node_agent.stream import StreamStats
from tests.streams.helpers import (
    add_source,
    schedule_relay,
    sink_play,
    stream_files,
    timeline,
    ts,
    wait_final,
)
from tests.streams.tone import HlsStation, ToneStation, decode, dominant_frequency
from tests.support.net import wait_until
from tests.support.system import Commune

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        shutil.which("mpg123") is None or shutil.which("ffplay") is None,
        reason="needs mpg123 and ffplay (apt: mpg123, ffmpeg)",
    ),
]

BYTES_PER_S = 64_000 / 8  # what the relay hub sends


@dataclass
class Child:
    pid: int
    argv: list[str]

    def bytes_read(self) -> int | None:
        """What the process has read so far (its stdin: the stream the node fed it)."""
        try:
            io = Path(f"/proc/{self.pid}/io").read_text()
        except OSError:
            return None
        return int(next(line.split()[1] for line in io.splitlines() if line.startswith("rchar")))


def players(node_pid: int, name: str) -> list[Child]:
    """The node's child processes called ``name``."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
            argv = Path(f"/proc/{entry}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        if ppid == node_pid and stat.split("(", 1)[1].startswith(name + ")"):
            found.append(Child(int(entry), [a.decode() for a in argv if a]))
    return found


def use_player(commune: Commune, node_id: str, backend: str, device: str = "") -> None:
    config = commune.node_dir(node_id) / "node.toml"
    text = config.read_text().replace('backend = "file"', f'backend = "{backend}"')
    config.write_text(text + (f'device = "{device}"\n' if device else ""))


def watch_player(
    parent: int, name: str, start: float, end: float
) -> tuple[Child, list[tuple[float, int]]]:
    """The player ``parent`` runs for the window, and (time, bytes it read) through it."""
    time.sleep(max(0.0, start + 0.5 - time.time()))
    found = wait_until(lambda: players(parent, name), timeout=3, what=f"{name} running")
    assert len(found) == 1, found
    child, samples = found[0], []
    while time.time() < end - 0.4:
        read = child.bytes_read()
        assert read is not None, f"{name} exited within the window"
        samples.append((time.time(), read))
        time.sleep(0.5)
    return child, samples


def node_pid(commune: Commune, node_id: str) -> int:
    popen = commune.nodes[node_id].popen
    assert popen is not None
    return popen.pid


def assert_consumed_in_real_time(samples: list[tuple[float, int]]) -> None:
    """The player read at the stream's rate: the median of the half-second rates, so that one
    burst (a player catching up its buffer after a stall on a loaded machine) does not decide;
    a player reading as fast as it can is fast in every interval."""
    rates = [(r1 - r0) / (t1 - t0) for (t0, r0), (t1, r1) in itertools.pairwise(samples)]
    rate = statistics.median(rates)
    assert 0.6 * BYTES_PER_S < rate < 1.5 * BYTES_PER_S, (rate, samples)
    assert all(b >= a for (_, a), (_, b) in itertools.pairwise(samples))


def test_aac_and_hls_relays_play_on_nodes_one_through_mpg123(
    commune: Commune, station: ToneStation, hls: HlsStation
):
    aac_node, hls_node, player_node = commune.seeded.nodes
    use_player(commune, player_node.node_id, "mpg123", device="null")
    commune.start_nodes()
    commune.start_controller()
    commune.wait_nodes_online()
    aac = add_source(commune, station.path_url("/tone.aac"), name="VOV1 AAC")
    playlist = add_source(commune, hls.url, name="Đài tỉnh HLS")
    assert (aac["health"]["codec"], playlist["health"]["codec"]) == ("aac", "aac")
    window = 5.0
    zones = [aac_node.zone_id, player_node.zone_id]
    aac_relay = schedule_relay(commune, aac["id"], 3, window, zone_ids=zones)
    start = ts(aac_relay["starts_at"])
    hls_relay = schedule_relay(
        commune,
        playlist["id"],
        0,
        window,
        zone_ids=[hls_node.zone_id],
        starts_at=aac_relay["starts_at"],
    )
    end = start + window

    mpg123, samples = watch_player(node_pid(commune, player_node.node_id), "mpg123", start, end)
    assert mpg123.argv == ["mpg123", "-q", "-o", "alsa", "-a", "null", "-"]
    assert_consumed_in_real_time(samples)

    for relay in (aac_relay, hls_relay):
        final = wait_final(commune, relay["id"], timeout=window + 15)
        assert {d["state"] for d in final["dispatches"]} == {"played"}, final
        for d in final["dispatches"]:
            assert abs(ts(d["finished_at"]) - end) < 0.5, d
            assert d["played_s"] > window - 1.0, d
    # the speaker closed with the window: the player is gone
    assert players(node_pid(commune, player_node.node_id), "mpg123") == []
    assert samples[-1][1] > (window - 2) * BYTES_PER_S

    for node_id, relay in ((aac_node.node_id, aac_relay), (hls_node.node_id, hls_relay)):
        play = sink_play(commune, node_id, relay["id"])
        assert abs(ts(play["started_at"]) - start) < 0.5, play
        audio, times = stream_files(commune, node_id, play)
        samples_ = decode(str(audio))
        assert len(samples_) / 16000 > window - 1.5, node_id
        assert abs(dominant_frequency(samples_) - 440) < 10, node_id
        arrivals = [t for t, _ in timeline(times)]
        gaps = [b - a for a, b in itertools.pairwise(arrivals)]
        # steady: an HLS station's segments are read in real time, not passed on in bursts
        assert max(gaps) < 0.6, (node_id, max(gaps))


@pytest.fixture
def burst_station(tmp_path: Path) -> Iterator[str]:
    """An MP3 stream sent as fast as the reader takes it (a minute of tone, then the end)."""
    mp3 = tmp_path / "minute.mp3"
    tone = ["-f", "lavfi", "-i", "sine=duration=60", "-ac", "1", "-b:a", "64k"]
    subprocess.run(["ffmpeg", "-v", "error", *tone, str(mp3)], check=True)
    body = mp3.read_bytes()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "audio/mpeg")
            self.end_headers()
            with contextlib.suppress(OSError):
                self.wfile.write(body)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    ).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/burst.mp3"
    server.shutdown()
    server.server_close()


def _play_in_thread(player: ProcessPlayer, source: Source) -> tuple[threading.Thread, dict]:
    outcome: dict = {}

    def run() -> None:
        try:
            outcome["result"] = player.play(source, threading.Event(), lambda t: None)
        except PlayerError as exc:
            outcome["error"] = str(exc)
        outcome["returned_at"] = time.time()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, outcome


def test_a_player_that_stops_reading_cannot_hold_the_speaker_open(
    burst_station: str, monkeypatch: pytest.MonkeyPatch
):
    """mpg123 frozen (SIGSTOP, as a hung sound card would leave it) with its pipe full: the node
    still ends the play at the window's end, or fails it once the player has taken nothing for
    PLAYER_STALL_S; the player process is gone either way."""
    monkeypatch.setattr(player_module, "PLAYER_STALL_S", 1.5)
    player = ProcessPlayer("mpg123", device="null")
    for window, expected in ((1.0, "result"), (6.0, "error")):
        until = time.time() + window
        source = Source(url=burst_station, until=until, label="frozen", stats=StreamStats())
        thread, outcome = _play_in_thread(player, source)
        frozen = wait_until(lambda: players(os.getpid(), "mpg123"), timeout=3, what="mpg123")
        os.kill(frozen[0].pid, signal.SIGSTOP)
        thread.join(timeout=window + 3)
        assert not thread.is_alive(), "the play never returned: the speaker stayed open"
        assert expected in outcome, outcome
        if expected == "result":
            assert outcome["result"] is True
            assert outcome["returned_at"] - until < 0.8
        else:
            assert "stopped reading" in outcome["error"]
            assert outcome["returned_at"] < until - 3
        assert players(os.getpid(), "mpg123") == []


def test_ffplay_takes_a_stream_on_its_stdin_in_real_time_until_the_window_ends(
    station: ToneStation, monkeypatch: pytest.MonkeyPatch
):
    """ProcessPlayer as the node runs it (the engine around it is the mpg123 test's)."""
    monkeypatch.setenv("SDL_AUDIODRIVER", "dummy")  # SDL's silent audio device, in real time
    player = ProcessPlayer("ffplay")
    start = time.time()
    until = start + 3.5
    stats = StreamStats()
    source = Source(url=station.url, until=until, label="ffplay", stats=stats)
    thread, outcome = _play_in_thread(player, source)
    ffplay, samples = watch_player(os.getpid(), "ffplay", start, until)
    assert ffplay.argv == ["ffplay", "-nodisp", "-autoexit", "-loglevel", "error", "pipe:0"]
    assert_consumed_in_real_time(samples)
    thread.join(timeout=3)
    assert outcome.get("result") is True, outcome
    assert abs(outcome["returned_at"] - until) < 0.5, "stopped at the window's end"
    assert players(os.getpid(), "ffplay") == [], "and the player is gone"
    assert stats.played_s > 2.5 and stats.bytes > 2.5 * BYTES_PER_S


def test_a_player_that_cannot_open_its_device_fails_with_its_own_words(station: ToneStation):
    player = ProcessPlayer("mpg123", device="no-such-device")
    started = time.time()
    source = Source(url=station.url, until=started + 5, label="x", stats=StreamStats())
    thread, outcome = _play_in_thread(player, source)
    thread.join(timeout=7)
    error = outcome.get("error", "")
    assert re.fullmatch(r"mpg123 exited \d+ during the stream: .*\S.*", error), outcome
    assert outcome["returned_at"] - started < 2.5  # at once, not at the window's end
    assert players(os.getpid(), "mpg123") == []
