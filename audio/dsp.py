"""Sample-level work in numpy: read WAV bytes, trim silence, pauses, joining."""

from __future__ import annotations

import struct

import numpy as np

from audio import ffmpeg
from audio.ffmpeg import SAMPLE_RATE, Samples


def silence(seconds: float) -> Samples:
    return np.zeros(max(0, round(seconds * SAMPLE_RATE)), dtype=np.float32)


def read_wav(data: bytes) -> tuple[Samples, int] | None:
    """Mono float32 samples and the rate of a PCM WAV, or None when it is not one we read.

    Tolerates streamed WAVs (espeak-ng --stdout) whose size fields are wrong.
    """
    if len(data) < 44 or data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        return None
    pos, fmt = 12, None
    while pos + 8 <= len(data):
        chunk, size = data[pos : pos + 4], struct.unpack("<I", data[pos + 4 : pos + 8])[0]
        body = pos + 8
        if chunk == b"fmt ":
            fmt = struct.unpack("<HHIIHH", data[body : body + 16])
        elif chunk == b"data" and fmt is not None:
            audio_format, channels, rate, _, _, bits = fmt
            payload = data[body : body + size] if size < 0xFFFFFFF0 else data[body:]
            if audio_format == 1 and bits == 16:
                usable = len(payload) - len(payload) % (2 * channels)
                ints = np.frombuffer(payload[:usable], dtype="<i2")
                samples = ints.astype(np.float32) / 32768.0
            elif audio_format == 3 and bits == 32:
                usable = len(payload) - len(payload) % (4 * channels)
                samples = np.frombuffer(payload[:usable], dtype="<f4").astype(np.float32)
            else:
                return None
            if channels > 1:
                samples = samples.reshape(-1, channels).mean(axis=1).astype(np.float32)
            return samples, int(rate)
        pos = body + size + (size & 1)
    return None


def trim(samples: Samples, threshold_db: float = -45.0, margin_s: float = 0.03) -> Samples:
    """Cut leading and trailing silence: 10 ms frames quieter than ``threshold_db`` below
    the peak (and below -60 dBFS absolute noise floor) are silence."""
    if samples.size == 0:
        return samples
    peak = ffmpeg.peak(samples)
    if peak <= 1e-4:
        return samples[:0]
    frame = SAMPLE_RATE // 100
    count = samples.size // frame
    if count == 0:
        return samples
    frames = samples[: count * frame].reshape(count, frame)
    rms = np.empty(count, dtype=np.float64)
    rows = ffmpeg.CHUNK // frame  # a chunk of frames at a time: no full float64 copy
    for first in range(0, count, rows):
        block = frames[first : first + rows].astype(np.float64)
        rms[first : first + rows] = np.sqrt(np.mean(block**2, axis=1))
    floor = max(peak * 10 ** (threshold_db / 20), 1e-3)
    loud = np.flatnonzero(rms > floor)
    if loud.size == 0:
        return samples[:0]
    margin = round(margin_s * SAMPLE_RATE)
    start = max(0, int(loud[0]) * frame - margin)
    end = min(samples.size, (int(loud[-1]) + 1) * frame + margin)
    return samples[start:end]


def join(parts: list[Samples]) -> Samples:
    if not parts:
        return np.zeros(0, dtype=np.float32)
    return np.concatenate(parts, dtype=np.float32)


def fade(samples: Samples, seconds: float = 0.005) -> Samples:
    """Short fade in and out, so cut edges do not click."""
    n = min(samples.size // 2, round(seconds * SAMPLE_RATE))
    if n == 0:
        return samples
    out = samples.copy()
    ramp = np.linspace(0.0, 1.0, n, dtype=np.float32)
    out[:n] *= ramp
    out[-n:] *= ramp[::-1]
    return out
