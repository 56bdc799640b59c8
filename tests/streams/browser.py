"""An official speaking live from a real headless Chromium with a fake microphone, and the
measurement of mic → node latency from beeps.

The fake microphone plays a WAV of short 1 kHz beeps every ``BEEP_PERIOD_S`` (Chromium loops
it). The live page notes the wall time each beep reaches the microphone (an AnalyserNode); each
node's file sink keeps what arrived and when, so decoding it finds the same beeps and the wall
time their bytes arrived at the node.
"""

from __future__ import annotations

import wave
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
from playwright.sync_api import Browser, Page, sync_playwright

from tests.streams.helpers import timeline
from tests.streams.tone import decode

CHROMIUM = "/usr/bin/chromium"
BEEP_PERIOD_S = 3.0
BEEP_S = 0.2
RATE = 48000
LIVE_BYTES_PER_S = 32_000 / 8


def beeps_wav(path: Path, seconds: float = 20.0) -> Path:
    n = int(seconds * RATE)
    t = np.arange(n) / RATE
    signal = np.zeros(n, dtype=np.float32)
    period = int(BEEP_PERIOD_S * RATE)
    for start in range(int(0.5 * RATE), n, period):
        end = min(n, start + int(BEEP_S * RATE))
        signal[start:end] = 0.7 * np.sin(2 * np.pi * 1000 * t[start:end])
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(RATE)
        w.writeframes((signal * 32767).astype("<i2").tobytes())
    return path


@contextmanager
def chromium(wav: Path) -> Iterator[Browser]:
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=[
                "--headless",
                "--no-sandbox",
                "--use-fake-ui-for-media-stream",
                "--use-fake-device-for-media-stream",
                f"--use-file-for-fake-audio-capture={wav}",
                "--disable-background-networking",
                "--autoplay-policy=no-user-gesture-required",
            ],
        )
        try:
            yield browser
        finally:
            browser.close()


def open_live_page(browser: Browser, base_url: str, token: str, zone_id: int) -> Page:
    context = browser.new_context(extra_http_headers={"Authorization": f"Bearer {token}"})
    context.add_init_script(
        f"window.LOA_TOKEN = {token!r};"
        "window.LOA_MIC_CONSTRAINTS = {echoCancellation: false, noiseSuppression: false,"
        " autoGainControl: false};"
    )
    page = context.new_page()
    page.goto(f"{base_url}/live")
    page.check(f"input[name=zone][value='{zone_id}']")
    return page


def start_speaking(page: Page) -> dict[str, Any]:
    page.click("#start")
    page.wait_for_function("window.loaLive.state === 'live'", timeout=15000)
    return page.evaluate("({id: window.loaLive.broadcastId, at: window.loaLive.startedAt})")


def mic_onsets(page: Page) -> list[float]:
    return [t / 1000 for t in page.evaluate("window.loaLive.onsets")]


def node_onsets(audio: Path, times: Path) -> list[float]:
    """Wall times at which each beep's bytes reached the node."""
    rate = 16000
    samples = decode(str(audio), rate)
    arrivals = timeline(times)
    if not len(samples) or not arrivals:
        return []
    loud = np.abs(samples) > 0.1
    onsets = []
    quiet = rate  # samples of quiet before a beep counts
    last_loud = -quiet
    for i in np.flatnonzero(loud):
        if i - last_loud >= int(0.3 * rate):
            onsets.append(int(i))
        last_loud = int(i)
    total_bytes = arrivals[-1][1]
    out = []
    for i in onsets:
        byte = i / len(samples) * total_bytes
        out.append(next(t for t, n in arrivals if n >= byte))
    return out


def latencies(mic: list[float], node: list[float]) -> list[float]:
    """For each beep heard at the node, the time since the microphone heard it."""
    out = []
    for t in node:
        before = [m for m in mic if m <= t]
        if before and t - before[-1] < BEEP_PERIOD_S * 1.5:
            out.append(t - before[-1])
    return out
