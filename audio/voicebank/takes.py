"""A take: the announcer reading one sheet with short pauses → one recording per syllable.

The take (WAV, or anything ffmpeg reads: the browser's WebM/Opus, MP3 …) is decoded to mono
float32 at :data:`audio.ffmpeg.SAMPLE_RATE` and checked, in this order, each failure refusing
the whole take with a stable code and a Vietnamese reason (:mod:`audio.voicebank.messages`):

1. ``take_unreadable``: not audio; ``take_too_long``: over :data:`MAX_TAKE_S`.
2. ``take_silent``: no frame louder than :data:`SILENT_DBFS`.
3. ``take_clipping``: :data:`MAX_CLIPPED_RUNS` or more runs of 3+ samples at full scale.
4. ``take_too_quiet``: the speech level (95th percentile of 10 ms frame levels) under
   :data:`MIN_LEVEL_DBFS`.
5. ``take_noisy``: speech level minus noise floor (10th percentile of frame levels) under
   :data:`MIN_SNR_DB`.
6. Cutting by silence: frames louder than the threshold (8 dB over the noise floor and no more
   than 35 dB under the speech level) are speech; pauses shorter than :data:`MIN_PAUSE_S` are
   inside a syllable; bursts shorter than :data:`MIN_SYLLABLE_S` are clicks.
   ``take_wrong_count``: the number of pieces differs from the sheet's.
7. ``take_syllable_too_long``: a piece over :data:`MAX_SYLLABLE_S` (two syllables run together).
8. ``take_uneven``: a syllable more than :data:`MAX_LEVEL_DROP_DB` under the take's median.

Each piece is kept with :data:`MARGIN_S` of its surrounding pause (never past the middle of the
pause) and 5 ms fades. A take of one syllable re-records that syllable alone.
"""

from __future__ import annotations

import io
import wave
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from audio import dsp
from audio.errors import AudioError
from audio.ffmpeg import SAMPLE_RATE, Samples, decode
from audio.voicebank.messages import error
from audio.voicebank.sheets import check_sheet

MAX_TAKE_S = 120.0
FRAME_S = 0.01
SILENT_DBFS = -60.0
MIN_LEVEL_DBFS = -38.0
MIN_SNR_DB = 20.0
#: Full scale for clipping (a 16-bit sample at 32767 is 0.99997).
CLIP_LEVEL = 0.995
MAX_CLIPPED_RUNS = 3
MIN_PAUSE_S = 0.15
MIN_SYLLABLE_S = 0.06
MAX_SYLLABLE_S = 1.6
MAX_LEVEL_DROP_DB = 18.0
MARGIN_S = 0.03
_FLOOR_DB = -120.0


@dataclass(frozen=True)
class CutUnit:
    """One syllable cut from a take."""

    syllable: str
    samples: Samples
    duration_s: float
    level_db: float  # RMS of its speech frames, dBFS
    peak_db: float

    def wav_bytes(self) -> bytes:
        return wav_bytes(self.samples)


@dataclass(frozen=True)
class Take:
    units: tuple[CutUnit, ...]
    duration_s: float
    level_db: float  # speech level: 95th percentile of 10 ms frame levels, dBFS
    noise_db: float  # noise floor: 10th percentile of frame levels, dBFS
    clipped_runs: int

    @property
    def snr_db(self) -> float:
        return self.level_db - self.noise_db


def wav_bytes(samples: Samples, rate: int = SAMPLE_RATE) -> bytes:
    """16-bit mono PCM WAV."""
    pcm = (np.clip(samples, -1.0, 32767 / 32768) * 32768.0).astype("<i2")
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(pcm.tobytes())
    return buf.getvalue()


def load_audio(source: Path | bytes | Samples) -> Samples:
    """Any take → mono float32 at SAMPLE_RATE (``take_unreadable`` when it is not audio)."""
    if isinstance(source, np.ndarray):
        return source.astype(np.float32, copy=False)
    data = source.read_bytes() if isinstance(source, Path) else source
    wav = dsp.read_wav(data)
    if wav is not None and wav[1] == SAMPLE_RATE:
        return wav[0]
    try:
        # A file is decoded from its path, where ffmpeg can seek (MP4 keeps its index anywhere).
        samples = decode(source if isinstance(source, Path) else data, max_seconds=MAX_TAKE_S + 1)
    except AudioError as exc:
        raise error("take_unreadable") from exc
    if samples.size == 0:
        raise error("take_unreadable")
    return samples


def frame_levels(samples: Samples) -> np.ndarray:
    """dBFS of each 10 ms frame (RMS)."""
    frame = round(FRAME_S * SAMPLE_RATE)
    count = samples.size // frame
    if count == 0:
        return np.zeros(0)
    frames = samples[: count * frame].astype(np.float64).reshape(count, frame)
    rms = np.sqrt(np.mean(frames**2, axis=1))
    return np.asarray(20 * np.log10(np.maximum(rms, 1e-6)), dtype=np.float64)


def clipped_runs(samples: Samples) -> int:
    """Runs of 3 or more consecutive samples at full scale."""
    hot = np.abs(samples) >= CLIP_LEVEL
    if not hot.any():
        return 0
    edges = np.diff(np.concatenate(([0], hot.astype(np.int8), [0])))
    starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    return int(np.count_nonzero(ends - starts >= 3))


def speech_spans(levels: np.ndarray, threshold_db: float) -> list[tuple[int, int]]:
    """Frame spans ``[start, end)`` of speech: louder than the threshold, short pauses
    bridged, clicks dropped."""
    loud = levels > threshold_db
    spans: list[tuple[int, int]] = []
    start = None
    for i, on in enumerate(loud):
        if on and start is None:
            start = i
        elif not on and start is not None:
            spans.append((start, i))
            start = None
    if start is not None:
        spans.append((start, len(loud)))
    min_pause = round(MIN_PAUSE_S / FRAME_S)
    merged: list[tuple[int, int]] = []
    for span in spans:
        if merged and span[0] - merged[-1][1] < min_pause:
            merged[-1] = (merged[-1][0], span[1])
        else:
            merged.append(span)
    min_len = round(MIN_SYLLABLE_S / FRAME_S)
    return [s for s in merged if s[1] - s[0] >= min_len]


def cut_take(source: Path | bytes | Samples, sheet: Sequence[str]) -> Take:
    """Cut a take of ``sheet`` into one :class:`CutUnit` per syllable, or refuse it (see the
    module's rules). Raises :class:`audio.voicebank.messages.VoicebankError`."""
    syllables = check_sheet(sheet)
    samples = load_audio(source)
    duration = samples.size / SAMPLE_RATE
    if duration > MAX_TAKE_S:
        raise error("take_too_long", limit=int(MAX_TAKE_S))
    levels = frame_levels(samples)
    if levels.size == 0 or float(levels.max()) < SILENT_DBFS:
        raise error("take_silent")
    clipped = clipped_runs(samples)
    if clipped >= MAX_CLIPPED_RUNS:
        raise error("take_clipping", count=clipped)
    level_db = float(np.percentile(levels, 95))
    noise_db = max(float(np.percentile(levels, 10)), _FLOOR_DB)
    if level_db < MIN_LEVEL_DBFS:
        raise error("take_too_quiet", level=level_db)
    if level_db - noise_db < MIN_SNR_DB:
        raise error("take_noisy", snr=level_db - noise_db, minimum=MIN_SNR_DB)
    threshold = max(noise_db + 8.0, level_db - 35.0)
    spans = speech_spans(levels, threshold)
    if len(spans) != len(syllables):
        raise error("take_wrong_count", found=len(spans), expected=len(syllables))

    frame = round(FRAME_S * SAMPLE_RATE)
    margin = round(MARGIN_S * SAMPLE_RATE)
    units: list[CutUnit] = []
    for i, ((a, b), syllable) in enumerate(zip(spans, syllables, strict=True)):
        if (b - a) * FRAME_S > MAX_SYLLABLE_S:
            raise error(
                "take_syllable_too_long",
                position=i + 1,
                syllable=syllable,
                duration=(b - a) * FRAME_S,
            )
        before = a * frame - (spans[i - 1][1] * frame if i else 0)
        after = ((spans[i + 1][0] * frame) if i + 1 < len(spans) else samples.size) - b * frame
        start = max(0, a * frame - min(margin, before // 2 if i else margin))
        end = min(
            samples.size, b * frame + min(margin, after // 2 if i + 1 < len(spans) else margin)
        )
        piece = dsp.fade(samples[start:end].copy())
        speech = levels[a:b]
        unit_level = float(10 * np.log10(np.mean(10 ** (speech / 10))))
        peak = float(np.max(np.abs(piece))) if piece.size else 0.0
        units.append(
            CutUnit(
                syllable=syllable,
                samples=piece,
                duration_s=round(piece.size / SAMPLE_RATE, 3),
                level_db=round(unit_level, 2),
                peak_db=round(20 * np.log10(max(peak, 1e-6)), 2),
            )
        )
    median = float(np.median([u.level_db for u in units]))
    for i, unit in enumerate(units):
        if median - unit.level_db > MAX_LEVEL_DROP_DB:
            raise error(
                "take_uneven", position=i + 1, syllable=unit.syllable, drop=median - unit.level_db
            )
    return Take(
        units=tuple(units),
        duration_s=round(duration, 3),
        level_db=round(level_db, 2),
        noise_db=round(noise_db, 2),
        clipped_runs=clipped,
    )
