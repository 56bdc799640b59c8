"""The machine listening check: the word comparison always; the recognizer itself when viet-asr
is installed (the ``bench`` extra)."""

from __future__ import annotations

from pathlib import Path

import pytest

from audio import listening
from audio.errors import AudioError
from audio.render import VoiceSettings, render_text

from .helpers import make_audio


def test_compare_marks_each_expected_word_heard_or_misheard():
    marks, share, wer = listening.compare(
        "Kính thưa bà con, ủy ban xã thông báo.", "kính thưa bà còn ủy ban thông báo nhé"
    )
    assert [(w.word, w.heard, w.as_heard) for w in marks] == [
        ("kính", True, "kính"),
        ("thưa", True, "thưa"),
        ("bà", True, "bà"),
        ("con", False, "còn"),  # substituted
        ("ủy", True, "ủy"),
        ("ban", True, "ban"),
        ("xã", False, None),  # not heard at all
        ("thông", True, "thông"),
        ("báo", True, "báo"),
    ]
    assert share == pytest.approx(7 / 9)
    assert wer == pytest.approx(3 / 9)  # one substitution, one deletion, one insertion ("nhé")


def test_compare_edge_cases():
    assert listening.compare("", "gì đó") == ((), 0.0, 0.0)
    marks, share, wer = listening.compare("xin chào", "")
    assert [w.heard for w in marks] == [False, False] and (share, wer) == (0.0, 1.0)
    assert listening.compare("Xin chào!", "xin chào")[1:] == (1.0, 0.0)


def test_without_the_recognizer_the_check_says_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(listening, "RECOGNIZER", "no_such_recognizer_module")
    assert not listening.available()
    with pytest.raises(AudioError) as err:
        listening.listen(make_audio(tmp_path / "a.wav", 1.0), "xin chào")
    assert err.value.code == "listening_unavailable"
    assert "viet-asr" in err.value.message


@pytest.fixture
def recognizer() -> None:
    pytest.importorskip("vietasr", reason="viet-asr is the bench extra")


@pytest.mark.usefixtures("recognizer")
def test_listening_to_spoken_text_hears_some_of_it_and_counts_its_cpu(tmp_path: Path):
    text = "Kính thưa bà con, xã thông báo lịch tiêm phòng cho trẻ em."
    spoken = render_text(text, tmp_path, VoiceSettings(engine="espeak-ng", chime=False))
    result = listening.listen(spoken.path, spoken.normalized_text)
    assert len(result.words) == len(listening.words(spoken.normalized_text))
    assert 0.0 < result.heard_share <= 1.0
    assert result.heard_text
    assert result.speech_s == pytest.approx(spoken.duration_s, abs=0.1)
    assert result.cpu_s > 0
    assert result.recognizer.startswith("viet-asr ")


@pytest.mark.usefixtures("recognizer")
def test_listening_to_a_tone_hears_none_of_the_text(tmp_path: Path):
    tone = make_audio(tmp_path / "tone.mp3", 3.0, "-c:a", "libmp3lame")
    result = listening.listen(tone, "kính thưa bà con")
    assert result.heard_share == 0.0
    assert len(result.misheard) == 4


@pytest.mark.usefixtures("recognizer")
def test_a_file_that_is_not_audio_is_a_clear_failure(tmp_path: Path):
    junk = tmp_path / "junk.mp3"
    junk.write_text("not audio", encoding="utf-8")
    with pytest.raises(AudioError) as err:
        listening.listen(junk, "xin chào")
    assert err.value.code == "listening_failed"


def test_segments_cut_at_pauses_and_keep_pieces_short():
    import numpy as np

    rate = listening.SAMPLE_RATE

    def tone(seconds: float) -> np.ndarray:
        t = np.arange(int(seconds * rate)) / rate
        return (8000 * np.sin(2 * np.pi * 300 * t)).astype(np.int16)

    def hush(seconds: float) -> np.ndarray:
        return np.zeros(int(seconds * rate), dtype=np.int16)

    audio = np.concatenate([tone(1), hush(0.5), tone(1), hush(0.1), tone(1), hush(0.02)])
    pieces = listening.segments(audio)
    # cut 0.15 s into the 0.5 s pause; the 0.1 s gap is no pause
    assert [p.size / rate for p in pieces] == pytest.approx([1.15, 2.47], abs=0.011)
    assert sum(p.size for p in pieces) == audio.size
    long = np.concatenate([tone(60)])
    assert max(p.size for p in listening.segments(long)) <= listening.MAX_SEGMENT_S * rate
    assert listening.segments(hush(0.005)) == []


def test_listen_command_without_the_recognizer_is_one_clear_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
):
    from loa.cli import main

    monkeypatch.setattr(listening, "RECOGNIZER", "no_such_recognizer_module")
    tone = make_audio(tmp_path / "a.wav", 1.0)
    assert main(["tts", "listen", str(tone), "Xin chào bà con"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "[listening_unavailable]" in err


@pytest.mark.usefixtures("recognizer")
def test_listen_command_marks_the_misheard_words(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    from loa.cli import main

    tone = make_audio(tmp_path / "tone.mp3", 2.0, "-c:a", "libmp3lame")
    assert main(["tts", "listen", str(tone), "UBND xã"]) == 0
    out = capsys.readouterr().out
    assert "máy nghe đúng 0% số từ" in out
    assert "[ủy] [ban] [nhân] [dân] [xã]" in out  # the text as spoken, every word misheard
