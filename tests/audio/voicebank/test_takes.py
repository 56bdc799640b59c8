"""Cutting a take by silence, counting, trimming, and refusing bad takes with their reason."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest

from audio.errors import AudioError
from audio.ffmpeg import SAMPLE_RATE
from audio.voicebank.messages import message_for
from audio.voicebank.takes import CutUnit, cut_take, wav_bytes
from tests.audio.voicebank.announcer import noise, read_sheet, say

SHEET = ("báo", "xã", "thông", "con", "bà", "và", "các", "ngày", "có", "về", "đến", "hai",
         "mươi", "không", "thôn")  # fmt: skip


def _code(exc: pytest.ExceptionInfo[AudioError]) -> str:
    return exc.value.code


def test_a_sheet_is_cut_into_its_syllables_in_order() -> None:
    take = cut_take(read_sheet(SHEET), SHEET)
    assert [u.syllable for u in take.units] == list(SHEET)
    for unit in take.units:
        spoken = say(unit.syllable).size / SAMPLE_RATE
        # The piece is the syllable and at most 30 ms of pause on each side.
        assert spoken - 0.03 <= unit.duration_s <= spoken + 0.07, unit.syllable
        assert abs(unit.samples[0]) < 0.01 and abs(unit.samples[-1]) < 0.01  # faded edges
    assert take.level_db > -25 and take.noise_db < -65 and take.clipped_runs == 0


def test_short_pauses_are_enough() -> None:
    take = cut_take(read_sheet(SHEET, pause_s=0.25), SHEET)
    assert len(take.units) == len(SHEET)


def test_any_audio_format_is_decoded(tmp_path: Path) -> None:
    wav = tmp_path / "take.wav"
    wav.write_bytes(wav_bytes(read_sheet(SHEET[:10])))
    webm = tmp_path / "take.webm"  # what a browser's MediaRecorder sends
    subprocess.run(
        ["ffmpeg", "-loglevel", "error", "-i", str(wav), "-c:a", "libopus", "-b:a", "48k",
         "-ar", "48000", str(webm)],
        check=True,
    )  # fmt: skip
    take = cut_take(webm, SHEET[:10])
    assert [u.syllable for u in take.units] == list(SHEET[:10])
    mp4 = tmp_path / "take.m4a"  # Safari's MediaRecorder: AAC in MP4
    subprocess.run(
        ["ffmpeg", "-loglevel", "error", "-i", str(wav), "-c:a", "aac", str(mp4)], check=True
    )
    take = cut_take(mp4, SHEET[:10])
    assert [u.syllable for u in take.units] == list(SHEET[:10])


def test_one_syllable_is_re_recorded_alone() -> None:
    take = cut_take(read_sheet(["xã"]), ["xã"])
    assert [u.syllable for u in take.units] == ["xã"]


def test_a_missed_syllable_is_a_wrong_count() -> None:
    read = [s for s in SHEET if s != "các"]
    with pytest.raises(AudioError) as info:
        cut_take(read_sheet(read), SHEET)
    assert _code(info) == "take_wrong_count"
    assert info.value.message == message_for("take_wrong_count", found=14, expected=15)
    assert "Đếm được 14 tiếng nhưng tờ có 15 tiếng" in info.value.message


def test_an_extra_syllable_is_a_wrong_count() -> None:
    with pytest.raises(AudioError) as info:
        cut_take(read_sheet([*SHEET[:10], "nhà"]), SHEET[:10])
    assert _code(info) == "take_wrong_count"


def test_syllables_read_without_pauses_are_refused() -> None:
    with pytest.raises(AudioError) as info:
        cut_take(read_sheet(SHEET[:10], pause_s=0.02), SHEET[:10])
    assert _code(info) in {"take_wrong_count", "take_syllable_too_long"}


def test_clipping_is_refused() -> None:
    loud = np.clip(read_sheet(SHEET[:10], gain=3.0), -1.0, 1.0)
    with pytest.raises(AudioError) as info:
        cut_take(loud, SHEET[:10])
    assert _code(info) == "take_clipping"
    assert "vỡ" in info.value.message


def test_too_quiet_is_refused() -> None:
    with pytest.raises(AudioError) as info:
        cut_take(read_sheet(SHEET[:10], gain=0.01, noise_dbfs=-100), SHEET[:10])
    assert _code(info) == "take_too_quiet"
    assert "quá nhỏ" in info.value.message


def test_noise_is_refused() -> None:
    with pytest.raises(AudioError) as info:
        cut_take(read_sheet(SHEET[:10], noise_dbfs=-28), SHEET[:10])
    assert _code(info) == "take_noisy"
    assert "ồn" in info.value.message


def test_silence_is_refused() -> None:
    with pytest.raises(AudioError) as info:
        cut_take(noise(5.0, -80), SHEET[:10])
    assert _code(info) == "take_silent"


def test_an_uneven_syllable_is_refused() -> None:
    parts = [read_sheet(SHEET[:5]), read_sheet(SHEET[5:6], gain=0.05), read_sheet(SHEET[6:10])]
    with pytest.raises(AudioError) as info:
        cut_take(np.concatenate(parts), SHEET[:10])
    assert _code(info) == "take_uneven"
    assert info.value.params["syllable"] == SHEET[5]  # type: ignore[attr-defined]


def test_not_audio_is_refused() -> None:
    with pytest.raises(AudioError) as info:
        cut_take(b"this is not audio at all" * 10, SHEET[:10])
    assert _code(info) == "take_unreadable"


def test_units_round_trip_as_wav() -> None:
    unit = cut_take(read_sheet(["thôn"]), ["thôn"]).units[0]
    assert isinstance(unit, CutUnit)
    data = unit.wav_bytes()
    assert data[:4] == b"RIFF" and len(data) == 44 + 2 * unit.samples.size
