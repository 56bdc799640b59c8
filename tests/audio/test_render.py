from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from audio import chunks
from audio.engines import espeak
from audio.errors import AudioError
from audio.render import MAX_TEXT_CHARS, RenderedAudio, VoiceSettings, render_text

from .helpers import ffprobe, integrated_loudness

TEXT = "UBND xã thông báo: lúc 7h30 sáng mai họp dân tại nhà văn hóa thôn 3."
PLAIN = VoiceSettings(engine="espeak-ng", chime=False)


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> RenderedAudio:
    """TEXT with the default post-processing (chimes)."""
    media = tmp_path_factory.mktemp("media")
    return render_text(TEXT, media, VoiceSettings(engine="espeak-ng"))


@pytest.fixture(scope="module")
def plain(tmp_path_factory: pytest.TempPathFactory) -> RenderedAudio:
    """TEXT without chimes, rendered once for the tests that compare against it."""
    return render_text(TEXT, tmp_path_factory.mktemp("plain"), PLAIN)


def test_delivers_mono_mp3_at_48_kbps_named_by_its_sha256(rendered: RenderedAudio):
    info = ffprobe(rendered.path)
    stream = info["streams"][0]
    assert stream["codec_name"] == "mp3"
    assert stream["channels"] == 1
    assert int(stream["bit_rate"]) == 48000
    data = rendered.path.read_bytes()
    assert rendered.path.name == f"{rendered.sha256}.mp3"
    assert hashlib.sha256(data).hexdigest() == rendered.sha256
    assert rendered.bytes == len(data)


def test_records_engine_voice_duration_and_normalized_text(rendered: RenderedAudio):
    assert rendered.engine == "espeak-ng"
    assert rendered.voice == espeak.DEFAULT_VOICE
    assert rendered.normalized_text.startswith("ủy ban nhân dân xã thông báo")
    probed = float(ffprobe(rendered.path)["format"]["duration"])
    assert rendered.duration_s == pytest.approx(probed, abs=0.15)


def test_stays_under_400_kb_per_minute(rendered: RenderedAudio):
    assert rendered.bytes / (rendered.duration_s / 60) <= 400 * 1024


def test_is_loudness_normalized_to_the_documented_target(plain: RenderedAudio):
    assert integrated_loudness(plain.path) == pytest.approx(-16.0, abs=1.5)


def test_same_input_renders_byte_identical_files(tmp_path: Path, plain: RenderedAudio):
    again = render_text(TEXT, tmp_path, PLAIN)
    assert again.sha256 == plain.sha256
    assert again.path.read_bytes() == plain.path.read_bytes()


def test_leaves_no_temporary_files_in_the_media_dir(plain: RenderedAudio):
    assert [p.name for p in plain.path.parent.iterdir()] == [plain.path.name]


def test_chime_adds_sound_before_and_after(plain: RenderedAudio, rendered: RenderedAudio):
    assert rendered.sha256 != plain.sha256
    # two chimes of ~1.86 s, each with a 0.5 s gap
    assert rendered.duration_s - plain.duration_s == pytest.approx(4.72, abs=0.1)


def test_repeats_say_the_speech_again_after_the_gap(tmp_path: Path, plain: RenderedAudio):
    once = plain
    twice = render_text(
        TEXT,
        tmp_path,
        VoiceSettings(engine="espeak-ng", chime=False, repeats=2, repeat_gap_s=3.0),
    )
    speech = once.duration_s - 0.4  # without the 0.2 s edges
    assert twice.duration_s == pytest.approx(once.duration_s + speech + 3.0, abs=0.05)


@pytest.mark.parametrize("voice", espeak.VOICES)
def test_each_espeak_ng_variant_speaks(tmp_path: Path, voice: str):
    result = render_text("Kính thưa bà con.", tmp_path, VoiceSettings("espeak-ng", voice=voice))
    assert result.voice == voice
    assert result.duration_s > 5.5  # two chimes and gaps are 4.7 s, then speech


def test_faster_rate_gives_shorter_speech(tmp_path: Path, plain: RenderedAudio):
    fast = render_text(TEXT, tmp_path, VoiceSettings("espeak-ng", rate=250, chime=False))
    assert fast.duration_s < plain.duration_s * 0.75


def test_paragraph_breaks_make_longer_pauses_than_sentences(tmp_path: Path):
    sentences = render_text("Một câu. Hai câu.", tmp_path, PLAIN)
    paragraphs = render_text("Một câu.\n\nHai câu.", tmp_path, PLAIN)
    gap = chunks.PARAGRAPH_PAUSE_S - chunks.SENTENCE_PAUSE_S
    assert paragraphs.duration_s - sentences.duration_s == pytest.approx(gap, abs=0.03)


@pytest.mark.parametrize("text", ["", "   \n  ", "...", "!!! ???"])
def test_text_with_nothing_to_say_is_refused(tmp_path: Path, text: str):
    with pytest.raises(AudioError) as err:
        render_text(text, tmp_path, PLAIN)
    assert err.value.code == "empty_text"
    assert "trống" in err.value.message


def test_over_long_text_is_refused_before_synthesis(tmp_path: Path):
    with pytest.raises(AudioError) as err:
        render_text("a" * (MAX_TEXT_CHARS + 1), tmp_path, PLAIN)
    assert err.value.code == "text_too_long"
    assert str(MAX_TEXT_CHARS) in err.value.message


def test_unknown_engine_and_voice_and_bad_settings_are_refused(tmp_path: Path):
    cases = [
        (VoiceSettings(engine="festival"), "unknown_engine"),
        (VoiceSettings(engine="espeak-ng", voice="en-us"), "unknown_voice"),
        (VoiceSettings(engine="espeak-ng", repeats=0), "bad_settings"),
        (VoiceSettings(engine="espeak-ng", rate=5), "bad_settings"),
    ]
    for settings, code in cases:
        with pytest.raises(AudioError) as err:
            render_text(TEXT, tmp_path, settings)
        assert err.value.code == code


def test_lexicon_changes_what_is_said(tmp_path: Path):
    result = render_text("Thôn Krông Búk", tmp_path, PLAIN, lexicon={"Krông Búk": "Crông Búc"})
    assert result.normalized_text == "thôn crông búc"


def test_cache_returns_the_same_file_without_synthesizing_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    cache = tmp_path / "cache"
    first = render_text(TEXT, tmp_path / "media", PLAIN, cache_dir=cache)

    def no_synthesis(*args: object) -> bytes:
        raise AssertionError("synthesized twice")

    monkeypatch.setattr(espeak, "synthesize", no_synthesis)
    again = render_text(TEXT, tmp_path / "media", PLAIN, cache_dir=cache)
    assert again == first
    # other post-processing, same speech: re-delivered from the cached chunks
    chimed = render_text(
        TEXT, tmp_path / "media", VoiceSettings(engine="espeak-ng"), cache_dir=cache
    )
    assert chimed.sha256 != first.sha256


def test_cache_key_changes_with_voice_and_rate(tmp_path: Path):
    cache = tmp_path / "cache"
    a = render_text(TEXT, tmp_path, PLAIN, cache_dir=cache)
    b = render_text(
        TEXT,
        tmp_path,
        VoiceSettings("espeak-ng", voice="vi-vn-x-south", chime=False),
        cache_dir=cache,
    )
    c = render_text(
        TEXT, tmp_path, VoiceSettings("espeak-ng", rate=200, chime=False), cache_dir=cache
    )
    assert len({a.sha256, b.sha256, c.sha256}) == 3
    assert len(list((cache / "renders").iterdir())) == 3


def test_cache_rerenders_when_the_media_file_is_gone(tmp_path: Path):
    cache = tmp_path / "cache"
    first = render_text(TEXT, tmp_path / "media", PLAIN, cache_dir=cache)
    first.path.unlink()
    again = render_text(TEXT, tmp_path / "media", PLAIN, cache_dir=cache)
    assert again.sha256 == first.sha256
    assert again.path.exists()


def test_long_text_is_split_at_sentences_and_long_sentences_at_commas():
    sentence = ", ".join(["bà con chú ý lắng nghe thông báo"] * 20) + "."
    parts = chunks.split("Câu một. Câu hai!\n" + sentence)
    assert parts[0] == ("Câu một.", chunks.SENTENCE_PAUSE_S)
    assert parts[1] == ("Câu hai!", chunks.PARAGRAPH_PAUSE_S)
    assert all(len(text) <= chunks.MAX_CHUNK_CHARS for text, _ in parts)
    assert parts[-1][1] == 0.0
    assert " ".join(text for text, _ in parts[2:]) == sentence


def test_espeak_ng_variants_are_voices_too(tmp_path: Path):
    result = render_text("Kính thưa bà con.", tmp_path, VoiceSettings("espeak-ng", voice="vi+f3"))
    assert result.voice == "vi+f3"
    with pytest.raises(AudioError) as err:
        render_text("Kính thưa bà con.", tmp_path, VoiceSettings("espeak-ng", voice="vi+nope"))
    assert err.value.code == "unknown_voice"


def test_a_long_clause_without_commas_is_cut_between_words():
    sentence = " ".join(["thông báo"] * 200)
    parts = chunks.split(sentence)
    assert len(parts) > 1
    assert all(len(text) <= chunks.MAX_CHUNK_CHARS for text, _ in parts)
    assert " ".join(text for text, _ in parts) == sentence
    assert [pause for _, pause in parts] == [chunks.CLAUSE_PAUSE_S] * (len(parts) - 1) + [0.0]
