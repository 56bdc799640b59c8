from __future__ import annotations

import numpy as np
import pytest

from audio import dsp
from audio.chime import CHIME_BELOW_SPEECH_LU, RAW_CHIME_LUFS, _raw_chime, chime
from audio.engines import espeak
from audio.ffmpeg import SAMPLE_RATE, TARGET_I
from audio.loudness import integrated_loudness, normalize_loudness

from .helpers import integrated_loudness as ffmpeg_loudness


def tone(seconds: float, amplitude: float = 0.5) -> np.ndarray:
    t = np.arange(round(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    return (amplitude * np.sin(2 * np.pi * 300 * t)).astype(np.float32)


@pytest.mark.parametrize("rising", [True, False])
def test_chime_loudness_constant_matches_a_measurement(rising: bool):
    assert integrated_loudness(_raw_chime(rising)) == pytest.approx(RAW_CHIME_LUFS, abs=0.3)


def test_chime_sits_just_under_the_speech_target():
    measured = integrated_loudness(chime(rising=True))
    assert measured == pytest.approx(TARGET_I - CHIME_BELOW_SPEECH_LU, abs=0.5)


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


def test_loudness_of_a_997_hz_sine_is_its_rms_level():
    # BS.1770: a full-scale 997 Hz sine reads -3.01 LUFS; at amplitude 0.1, -23.01
    t = np.arange(5 * SAMPLE_RATE) / SAMPLE_RATE
    sine = (0.1 * np.sin(2 * np.pi * 997 * t)).astype(np.float32)
    assert integrated_loudness(sine) == pytest.approx(-23.01, abs=0.1)


def test_loudness_agrees_with_ffmpeg_ebur128_on_real_speech(tmp_path):
    wav = tmp_path / "speech.wav"
    wav.write_bytes(espeak.synthesize("kính thưa bà con, ủy ban nhân dân xã thông báo.", "vi", 150))
    read = dsp.read_wav(wav.read_bytes())
    assert read is not None
    assert integrated_loudness(read[0], read[1]) == pytest.approx(ffmpeg_loudness(wav), abs=0.3)


def test_silence_has_no_loudness_and_is_left_alone():
    quiet = dsp.silence(2.0)
    assert integrated_loudness(quiet) is None
    assert normalize_loudness(quiet) is quiet


def test_normalize_loudness_reaches_the_target():
    quiet = (tone(3.0, amplitude=0.01) * 1).astype(np.float32)
    assert integrated_loudness(normalize_loudness(quiet)) == pytest.approx(TARGET_I, abs=0.05)
