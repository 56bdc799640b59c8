"""Loudness per ITU-R BS.1770 / EBU R128, measured in numpy, and normalization to Loa's target.

Why not ffmpeg's loudnorm analysis pass: it upsamples to 192 kHz for true peak and alone takes
longer than the whole 1.5 s budget for a minute of speech on a small CPU. The measurement here is
the same standard (K-weighting, 400 ms blocks with 75 % overlap, absolute gate -70 LUFS,
relative gate -10 LU); tests check it against ffmpeg's ``ebur128`` filter. The gain is linear, as
in loudnorm's linear mode, and the limiter in :func:`audio.ffmpeg.encode_mp3` catches peaks.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np

from audio.ffmpeg import SAMPLE_RATE, TARGET_I, Samples

_BLOCK_S = 0.4
_STEP_S = 0.1  # blocks overlap by 75 %
_ABSOLUTE_GATE = -70.0
_RELATIVE_GATE = -10.0
#: 100 ms steps measured at once: 2048 is 3.4 minutes, ~15 MB of float64 at 22.05 kHz.
_STEPS_AT_ONCE = 2048


def _k_weighting_gain(freqs: np.ndarray, rate: int) -> np.ndarray:
    """|H(f)| of BS.1770's two K-weighting stages (high shelf + high pass) at ``rate``."""
    z = np.exp(-1j * 2 * np.pi * freqs / rate)

    def biquad(b: tuple[float, float, float], a: tuple[float, float, float]) -> np.ndarray:
        return np.abs((b[0] + b[1] * z + b[2] * z**2) / (a[0] + a[1] * z + a[2] * z**2))

    # libebur128's design: the BS.1770 analog prototypes, bilinear with pre-warping at ``rate``
    fc, gain_db, q = 1681.974450955533, 3.999843853973347, 0.7071752369554196
    k = math.tan(math.pi * fc / rate)
    vh = 10 ** (gain_db / 20)
    vb = vh**0.4996667741545416
    a0 = 1 + k / q + k * k
    shelf = biquad(
        ((vh + vb * k / q + k * k) / a0, 2 * (k * k - vh) / a0, (vh - vb * k / q + k * k) / a0),
        (1.0, 2 * (k * k - 1) / a0, (1 - k / q + k * k) / a0),
    )
    fc, q = 38.13547087602444, 0.5003270373238773
    k = math.tan(math.pi * fc / rate)
    a0 = 1 + k / q + k * k
    high_pass = biquad((1.0, -2.0, 1.0), (1.0, 2 * (k * k - 1) / a0, (1 - k / q + k * k) / a0))
    result: np.ndarray = shelf * high_pass
    return result


@lru_cache(maxsize=4)
def _weights(rate: int, frame: int) -> np.ndarray:
    """Per-bin factors turning a frame's rfft into its K-weighted energy (Parseval)."""
    power = _k_weighting_gain(np.fft.rfftfreq(frame, 1 / rate), rate) ** 2
    power[1 : (frame + 1) // 2] *= 2  # the bins that stand for two (positive and negative)
    result: np.ndarray = power / frame
    return result


def integrated_loudness(samples: Samples, rate: int = SAMPLE_RATE) -> float | None:
    """Integrated loudness in LUFS of mono ``samples``; None when all is below the gate.

    The K-weighted energy of each 100 ms step comes from its spectrum (Parseval), so a minute
    of audio takes a few tens of milliseconds; 400 ms blocks are four consecutive steps.
    """
    step = round(_STEP_S * rate)
    per_block = round(_BLOCK_S / _STEP_S)
    count = max(1, -(-samples.size // step))
    if samples.size == 0:
        return None
    # Step by step is the same sum as all at once; a few thousand steps at a time keep the
    # float64 and complex copies small (a 30-minute upload would need ~1 GB at once).
    energy = np.empty(count, dtype=np.float64)
    for first in range(0, count, _STEPS_AT_ONCE):
        last = min(count, first + _STEPS_AT_ONCE)
        part = samples[first * step : last * step]
        padded = np.zeros((last - first) * step, dtype=np.float64)
        padded[: part.size] = part
        spectra = np.fft.rfft(padded.reshape(last - first, step), axis=1)
        energy[first:last] = (np.abs(spectra) ** 2) @ _weights(rate, step)
    if count <= per_block:
        means = np.array([energy.sum() / samples.size])
    else:
        sums = np.convolve(energy, np.ones(per_block), mode="valid")
        means = sums / (per_block * step)
    with np.errstate(divide="ignore"):
        levels = -0.691 + 10 * np.log10(means)
    gated = means[levels > _ABSOLUTE_GATE]
    if gated.size == 0:
        return None
    relative = -0.691 + 10 * math.log10(float(gated.mean())) + _RELATIVE_GATE
    kept = means[(levels > _ABSOLUTE_GATE) & (levels > relative)]
    return -0.691 + 10 * math.log10(float(kept.mean()))


def normalize_loudness(
    samples: Samples, target: float = TARGET_I, *, in_place: bool = False
) -> Samples:
    """``samples`` with one gain that brings them to ``target`` LUFS; silence unchanged.
    ``in_place``: multiply ``samples`` themselves instead of a copy."""
    measured = integrated_loudness(samples)
    if measured is None:
        return samples
    gain = np.float32(10 ** ((target - measured) / 20))
    if in_place:
        return np.multiply(samples, gain, out=samples)
    return np.multiply(samples, gain, dtype=np.float32)
