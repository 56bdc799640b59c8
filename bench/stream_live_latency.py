"""Live latency: microphone → audio written by each node's player (file sink), p50 / max.

A real headless Chromium speaks (a fake microphone playing beeps) on the live page to a real
controller and three node-agent processes. The page notes when each beep reaches the
microphone; each node's sink notes when the bytes holding it arrived. Goal: < 3 s.

    .venv/bin/python bench/stream_live_latency.py --seconds 20 --rounds 2
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from node_common import percentile
from stream_common import commune

from tests.streams.browser import (
    beeps_wav,
    chromium,
    latencies,
    mic_onsets,
    node_onsets,
    open_live_page,
    start_speaking,
)
from tests.streams.helpers import sink_play, stream_files, wait_final
from tests.support.system import APPROVER_TOKEN


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--seconds", type=float, default=20.0, help="how long each session speaks")
    ap.add_argument("--rounds", type=int, default=2)
    args = ap.parse_args()
    found: list[float] = []
    first_audio: list[float] = []
    wav = beeps_wav(Path(tempfile.mkdtemp()) / "mic.wav", seconds=args.seconds + 10)
    with commune() as c, chromium(wav) as browser:
        for _ in range(args.rounds):
            page = open_live_page(browser, c.url, APPROVER_TOKEN, c.seeded.commune_id)
            live = start_speaking(page)
            time.sleep(args.seconds)
            page.click("#stop")
            page.wait_for_function("window.loaLive.state === 'ended'", timeout=15000)
            mic = mic_onsets(page)
            page.context.close()
            wait_final(c, live["id"], timeout=30)
            for node in c.seeded.nodes:
                play = sink_play(c, node.node_id, live["id"])
                audio, times = stream_files(c, node.node_id, play)
                found.extend(latencies(mic, node_onsets(audio, times)))
                first_audio.append(float(times.read_text().split()[0]) - live["at"] / 1000)
    ms = [x * 1000 for x in found]
    print(f"live latency mic → node sink, {len(ms)} beeps on 3 nodes × {args.rounds} sessions")
    print(
        f"  p50 {percentile(ms, 50):.0f} ms   p90 {percentile(ms, 90):.0f} ms   "
        f"max {max(ms):.0f} ms   (goal < 3000 ms)"
    )
    fa = [x * 1000 for x in first_audio]
    print(
        f"  'Bắt đầu phát' → first audio at the node: p50 {percentile(fa, 50):.0f} ms, "
        f"max {max(fa):.0f} ms"
    )


if __name__ == "__main__":
    main()
