"""Loa's own chime: three soft bell tones, rising before an announcement, falling after.

Made here from sine partials with an exponential decay, so the project owns the sound.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from audio.ffmpeg import SAMPLE_RATE, TARGET_I, Samples

#: Note frequencies (Hz): G5, E5, C5 read upwards before, downwards after (a classic PA chime).
NOTES = (523.25, 659.25, 783.99)
NOTE_SPACING_S = 0.38
NOTE_DECAY_S = 1.1
#: How much quieter than speech the chime sits (LU).
CHIME_BELOW_SPEECH_LU = 3.0
#: Integrated loudness of the raw chime (peak 1.0), measured once; a test checks it still holds.
RAW_CHIME_LUFS = -11.6


def _bell(freq: float, seconds: float) -> Samples:
    t = np.arange(round(seconds * SAMPLE_RATE), dtype=np.float64) / SAMPLE_RATE
    envelope = np.exp(-t / (NOTE_DECAY_S / 4)) * np.minimum(1.0, t / 0.006)
    tone = (
        np.sin(2 * np.pi * freq * t)
        + 0.35 * np.sin(2 * np.pi * 2 * freq * t) * np.exp(-t / 0.15)
        + 0.12 * np.sin(2 * np.pi * 3 * freq * t) * np.exp(-t / 0.08)
    )
    return (tone * envelope).astype(np.float32)


def _raw_chime(rising: bool) -> Samples:
    notes = NOTES if rising else tuple(reversed(NOTES))
    length = NOTE_SPACING_S * (len(notes) - 1) + NOTE_DECAY_S
    out = np.zeros(round(length * SAMPLE_RATE), dtype=np.float64)
    for i, freq in enumerate(notes):
        start = round(i * NOTE_SPACING_S * SAMPLE_RATE)
        bell = _bell(freq, NOTE_DECAY_S)
        out[start : start + bell.size] += bell
    out /= np.max(np.abs(out))
    return out.astype(np.float32)


@lru_cache(maxsize=2)
def chime(rising: bool = True) -> Samples:
    """The chime at the loudness it is delivered at (a little under the speech target)."""
    raw = _raw_chime(rising)
    gain_db = (TARGET_I - CHIME_BELOW_SPEECH_LU) - RAW_CHIME_LUFS
    out = (raw * np.float32(10 ** (gain_db / 20))).astype(np.float32)
    out.setflags(write=False)
    return out
