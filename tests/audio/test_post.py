from __future__ import annotations

import numpy as np
import pytest

from audio import dsp
from audio.chime import CHIME_BELOW_SPEECH_LU, RAW_CHIME_LUFS, _raw_chime, chime
from audio.ffmpeg import SAMPLE_RATE, TARGET_I, measure


def tone(seconds: float, amplitude: float = 0.5) -> np.ndarray:
    t = np.arange(round(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    return (amplitude * np.sin(2 * np.pi * 300 * t)).astype(np.float32)


@pytest.mark.parametrize("rising", [True, False])
def test_chime_loudness_constant_matches_a_measurement(rising: bool):
    measured = measure(_raw_chime(rising))
    assert measured is not None
    assert measured.input_i == pytest.approx(RAW_CHIME_LUFS, abs=0.3)


def test_chime_sits_just_under_the_speech_target():
    measured = measure(chime(rising=True))
    assert measured is not None
    assert measured.input_i == pytest.approx(TARGET_I - CHIME_BELOW_SPEECH_LU, abs=0.5)


def test_chime_rises_before_and_falls_after():
    def first_note_pitch(samples: np.ndarray) -> float:
        window = samples[: round(0.3 * SAMPLE_RATE)]
        spectrum = np.abs(np.fft.rfft(window))
        return float(np.fft.rfftfreq(window.size, 1 / SAMPLE_RATE)[np.argmax(spectrum)])

    assert first_note_pitch(chime(rising=True)) < first_note_pitch(chime(rising=False))


def test_trim_cuts_leading_and_trailing_silence_but_keeps_a_margin():
    samples = dsp.join([dsp.silence(1.0), tone(0.5), dsp.silence(2.0)])
    trimmed = dsp.trim(samples)
    assert trimmed.size / SAMPLE_RATE == pytest.approx(0.5 + 2 * 0.03, abs=0.02)


def test_trim_of_silence_is_empty():
    assert dsp.trim(dsp.silence(1.0)).size == 0
    assert dsp.trim(np.full(SAMPLE_RATE, 1e-5, dtype=np.float32)).size == 0


def test_read_wav_accepts_streamed_wavs_with_bogus_sizes():
    pcm = (tone(0.1) * 32767).astype("<i2").tobytes()
    header = (
        b"RIFF\xff\xff\xff\xffWAVEfmt "
        + (16).to_bytes(4, "little")
        + (1).to_bytes(2, "little")
        + (1).to_bytes(2, "little")
        + SAMPLE_RATE.to_bytes(4, "little")
        + (SAMPLE_RATE * 2).to_bytes(4, "little")
        + (2).to_bytes(2, "little")
        + (16).to_bytes(2, "little")
        + b"data\xff\xff\xff\xff"
    )
    read = dsp.read_wav(header + pcm)
    assert read is not None
    samples, rate = read
    assert rate == SAMPLE_RATE
    assert samples.size == round(0.1 * SAMPLE_RATE)


def test_read_wav_rejects_other_bytes():
    assert dsp.read_wav(b"ID3" + bytes(100)) is None
