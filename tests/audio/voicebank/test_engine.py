"""The giong-xa engine: assembly, level matching, pauses, cache, missing syllables and the
whole-announcement fallback (never two voices in one sentence)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from audio import dsp, engines
from audio.engines import giong_xa
from audio.errors import AudioError
from audio.ffmpeg import SAMPLE_RATE
from audio.render import VoiceSettings, render_text
from audio.voicebank.bank import Bank
from audio.voicebank.syllables import spoken_syllables
from audio.voicebank.takes import cut_take, frame_levels
from tests.audio.helpers import integrated_loudness
from tests.audio.voicebank.announcer import read_sheet

TEXT = (
    "Thông báo: từ 7h30 sáng mai, UBND xã tổ chức tiêm vắc xin cho trẻ em tại trạm y tế. "
    "Đề nghị bà con đưa trẻ đến đúng giờ."
)
SYLLABLES = list(dict.fromkeys(spoken_syllables(TEXT)))
MakeBank = Callable[..., Bank]


def _samples(data: bytes) -> np.ndarray:
    wav = dsp.read_wav(data)
    assert wav is not None and wav[1] == SAMPLE_RATE
    return wav[0]


def test_no_bank_no_engine(banks_dir: Path) -> None:
    assert not giong_xa.available()
    assert "giong-xa" not in engines.auto_order()
    with pytest.raises(AudioError) as info:
        giong_xa.missing_syllables("Họp dân.")
    assert info.value.code == "no_bank"


def test_a_recorded_bank_reads_the_announcement(
    make_bank: MakeBank, media_dir: Path, tmp_path: Path
) -> None:
    make_bank(syllables=SYLLABLES)
    assert engines.auto_order()[0] == "giong-xa"
    row = next(r for r in engines.catalog() if r["engine"] == "giong-xa")
    assert row["available"] and row["voices"] == [{"voice": "hanh", "label": "hanh"}]
    result = render_text(TEXT, media_dir, VoiceSettings(), cache_dir=tmp_path / "cache")
    assert (result.engine, result.voice) == ("giong-xa", "hanh")
    assert abs(integrated_loudness(result.path) - (-16.0)) <= 1.5
    # The units and the pauses, about as long as the announcer's syllables laid end to end.
    assert (
        0.25 * len(spoken_syllables(TEXT)) < result.duration_s < 1.2 * len(spoken_syllables(TEXT))
    )


def test_units_are_brought_to_one_level(make_bank: MakeBank) -> None:
    bank = make_bank(syllables=SYLLABLES[:15])
    for sheet, gain in ((SYLLABLES[15:30], 0.2), (SYLLABLES[30:], 1.0)):
        bank.save_take(cut_take(read_sheet(sheet, gain=gain), sheet))
    levels = []
    for unit in giong_xa.units_for(bank, SYLLABLES):
        frames = frame_levels(unit)
        speech = frames[frames > frames.max() - 30]
        levels.append(10 * np.log10(np.mean(10 ** (speech / 10))))
    assert max(levels) - min(levels) < 3.0
    assert abs(float(np.median(levels)) - giong_xa.UNIT_LEVEL_DBFS) < 1.5
    recorded = [bank.manifest["units"][s]["level_db"] for s in SYLLABLES]
    assert max(recorded) - min(recorded) > 10  # they were not level as recorded


def test_units_are_crossfaded_and_phrases_paused(
    make_bank: MakeBank, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(giong_xa, "FINAL_TEMPO", 1.0)
    bank = make_bank(syllables=["họp", "dân", "thôn"])
    units = giong_xa.units_for(bank, ["họp", "dân", "thôn"])
    joined = giong_xa.join_units(units)
    xf = round(giong_xa.CROSSFADE_S * SAMPLE_RATE)
    assert joined.size == sum(u.size for u in units) - 2 * xf
    plain = _samples(giong_xa.synthesize("họp dân thôn", "hanh", 150))
    comma = _samples(giong_xa.synthesize("họp, dân thôn", "hanh", 150))
    inside, end = giong_xa.units_for(bank, ["họp", "họp"], phrase=True)
    lengthened = end.size - inside.size  # "họp" ends a phrase before the comma
    pause = round(giong_xa.PAUSES_S["clause"] * SAMPLE_RATE)
    assert comma.size - plain.size == xf + pause + lengthened
    slower = _samples(giong_xa.synthesize("họp, dân thôn", "hanh", 75))
    assert slower.size - comma.size == pause  # rate scales the pauses only


def test_missing_syllables_are_listed_in_order(make_bank: MakeBank) -> None:
    make_bank(syllables=SYLLABLES)
    text = TEXT + " Trân trọng cảm ơn bà con, cảm ơn."
    missing = giong_xa.missing_syllables(text, "hanh")
    assert missing == ["trân", "trọng", "cảm", "ơn"]
    assert giong_xa.missing_message(missing) == "cần ghi thêm 4 tiếng: trân, trọng, cảm, ơn"
    assert giong_xa.missing_syllables(TEXT, "hanh") == []


def test_the_engine_refuses_a_text_it_cannot_read_whole(
    make_bank: MakeBank, media_dir: Path
) -> None:
    make_bank(syllables=SYLLABLES)
    with pytest.raises(AudioError) as info:
        render_text(TEXT + " Trân trọng cảm ơn.", media_dir, VoiceSettings(engine="giong-xa"))
    assert info.value.code == "missing_syllables"
    assert "cần ghi thêm 4 tiếng: trân, trọng, cảm, ơn" in info.value.message
    assert not media_dir.exists() or list(media_dir.glob("*.mp3")) == []


def test_auto_gives_the_whole_announcement_to_the_next_engine(
    make_bank: MakeBank, media_dir: Path, tmp_path: Path
) -> None:
    make_bank(syllables=SYLLABLES)
    # The first sentence is all recorded; only the last lacks syllables.
    text = TEXT + " Trân trọng cảm ơn."
    result = render_text(text, media_dir, VoiceSettings(), cache_dir=tmp_path / "cache")
    assert result.engine == "espeak-ng"
    whole = render_text(text, tmp_path / "m2", VoiceSettings(engine="espeak-ng"))
    assert result.sha256 == whole.sha256  # not one sentence of it in giọng xã


def test_a_re_recorded_syllable_is_heard_at_the_next_rendering(
    make_bank: MakeBank, media_dir: Path, tmp_path: Path
) -> None:
    bank = make_bank(syllables=SYLLABLES)
    cache = tmp_path / "cache"
    settings = VoiceSettings(engine="giong-xa")
    first = render_text(TEXT, media_dir, settings, cache_dir=cache)
    assert render_text(TEXT, media_dir, settings, cache_dir=cache).sha256 == first.sha256
    before = giong_xa.fingerprint("hanh")
    bank.save_take(cut_take(read_sheet(["xã"], voice="vi-vn-x-south"), ["xã"]))
    assert giong_xa.fingerprint("hanh") != before
    assert render_text(TEXT, media_dir, settings, cache_dir=cache).sha256 != first.sha256


def test_the_output_names_its_bank(make_bank: MakeBank) -> None:
    bank = make_bank(syllables=["họp", "dân"])
    data = giong_xa.synthesize("họp dân", "hanh", 150)
    assert giong_xa.bank_id_of(data) == bank.id
    assert giong_xa.bank_id_of(data[:12] + data[12 + 8 + 32 :]) is None


def test_an_unknown_bank_is_an_unknown_voice(make_bank: MakeBank) -> None:
    make_bank(syllables=["họp"])
    with pytest.raises(AudioError) as info:
        giong_xa.synthesize("họp", "lan", 150)
    assert info.value.code == "unknown_voice"


def test_units_are_shortened_with_their_pitch_kept() -> None:
    t = np.arange(round(0.5 * SAMPLE_RATE)) / SAMPLE_RATE
    tone = (0.5 * np.sin(2 * np.pi * 220 * t)).astype(np.float32)
    short = giong_xa.time_scale(tone, 0.75)
    assert abs(short.size - 0.75 * tone.size) <= 1
    middle = short[short.size // 4 : 3 * short.size // 4]
    spectrum = np.abs(np.fft.rfft(middle * np.hanning(middle.size)))
    peak_hz = np.argmax(spectrum) * SAMPLE_RATE / middle.size
    assert abs(peak_hz - 220) < 8
    rms = float(np.sqrt(np.mean(middle**2)))
    assert abs(rms - 0.5 / np.sqrt(2)) < 0.05  # no dips where frames overlap
    assert giong_xa.time_scale(tone, 1.0) is tone


def test_phrase_ends_have_their_own_tempo(
    make_bank: MakeBank, monkeypatch: pytest.MonkeyPatch
) -> None:
    bank = make_bank(syllables=["họp", "dân"])
    monkeypatch.setattr(giong_xa, "FINAL_TEMPO", 1.0)
    inside, end = giong_xa.units_for(bank, ["dân", "dân"], phrase=True)
    recorded = bank.load_unit("dân").size
    assert abs(inside.size - giong_xa.TEMPO * recorded) <= 1
    assert end.size == recorded  # the phrase end as the announcer said it
