"""The stand-in announcer: espeak-ng says each syllable alone, as a person reads a sheet.

A take is those syllables joined with pauses into one file, peaks at -6 dBFS over a quiet room's
noise floor (white noise at -70 dBFS, seeded), as a microphone would record it.
"""

from __future__ import annotations

import subprocess
from collections.abc import Sequence
from functools import lru_cache

import numpy as np

from audio import dsp
from audio.ffmpeg import SAMPLE_RATE, Samples
from audio.voicebank.takes import wav_bytes

PEAK = 0.5  # -6 dBFS
ROOM_NOISE_DBFS = -70.0
PAUSE_S = 0.45


@lru_cache(maxsize=4096)
def _said(syllable: str, voice: str) -> bytes:
    proc = subprocess.run(
        ["espeak-ng", "-v", voice, "-s", "145", "-b", "1", "--stdout"],
        input=syllable.encode("utf-8"),
        capture_output=True,
        check=True,
    )
    return proc.stdout


def say(syllable: str, voice: str = "vi+f2") -> Samples:
    """One syllable, trimmed, peak at :data:`PEAK`."""
    wav = dsp.read_wav(_said(syllable, voice))
    assert wav is not None and wav[1] == SAMPLE_RATE
    samples = dsp.trim(wav[0], margin_s=0.0)
    return (samples * (PEAK / float(np.max(np.abs(samples))))).astype(np.float32)


def noise(seconds: float, dbfs: float = ROOM_NOISE_DBFS, seed: int = 7) -> Samples:
    rng = np.random.default_rng(seed)
    n = round(seconds * SAMPLE_RATE)
    return (rng.standard_normal(n) * 10 ** (dbfs / 20)).astype(np.float32)


def read_sheet(
    syllables: Sequence[str],
    pause_s: float = PAUSE_S,
    gain: float = 1.0,
    noise_dbfs: float = ROOM_NOISE_DBFS,
    voice: str = "vi+f2",
) -> Samples:
    """The whole sheet read as one recording: a pause, then each syllable and a pause."""
    parts: list[Samples] = [np.zeros(round(0.6 * SAMPLE_RATE), dtype=np.float32)]
    for s in syllables:
        parts += [say(s, voice) * gain, np.zeros(round(pause_s * SAMPLE_RATE), dtype=np.float32)]
    speech = np.concatenate(parts).astype(np.float32)
    return (speech + noise(speech.size / SAMPLE_RATE, noise_dbfs)).astype(np.float32)


def sheet_wav(syllables: Sequence[str], **options: float) -> bytes:
    return wav_bytes(read_sheet(syllables, **options))  # type: ignore[arg-type]
