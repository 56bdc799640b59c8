from __future__ import annotations

import json
import time
import urllib.parse
from pathlib import Path

import pytest

from audio import engines
from audio.engines import espeak, gtts, piper
from audio.errors import AudioError
from audio.render import VoiceSettings, render_text
from audio.voices import install_voice, installed_voices
from loa.cli import main

from .helpers import build_tiny_piper_voice, fake_gtts_server, make_audio

TEXT = "Kính thưa bà con, UBND xã thông báo."


@pytest.fixture(scope="module")
def mp3_reply(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """What the fake Google returns: a real MP3 (24 kHz mono, like gTTS's)."""
    path = tmp_path_factory.mktemp("gtts") / "reply.mp3"
    make_audio(path, 1.5, "-ar", "24000", "-ac", "1", "-c:a", "libmp3lame", "-b:a", "32k")
    return path.read_bytes()


@pytest.fixture(autouse=True)
def _quick_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(gtts, "BACKOFF_S", 0.01)


# -- gTTS, by contract against a local fake of its endpoint -----------------------------------


def test_gtts_sends_the_normalized_text_in_vietnamese_and_delivers_the_reply(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mp3_reply: bytes
):
    with fake_gtts_server(mp3_reply) as fake:
        monkeypatch.setenv("LOA_GTTS_URL", fake.url)
        result = render_text(TEXT, tmp_path, VoiceSettings(engine="gtts", chime=False))
    assert result.engine == "gtts"
    assert result.voice == "vi"
    assert result.duration_s == pytest.approx(1.5 + 0.4, abs=0.15)
    [[[rpc_id, params, _, kind]]] = fake.requests[0]
    assert (rpc_id, kind) == ("jQ1olc", "generic")
    text, lang, slow, _ = json.loads(params)
    assert lang == "vi"
    assert slow is None  # gTTS sends null for normal speed
    assert text == "kính thưa bà con, ủy ban nhân dân xã thông báo."


def test_gtts_splits_long_text_into_several_requests(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mp3_reply: bytes
):
    sentence = ", ".join(["bà con chú ý lắng nghe thông báo của ủy ban"] * 5)
    with fake_gtts_server(mp3_reply) as fake:
        monkeypatch.setenv("LOA_GTTS_URL", fake.url)
        render_text(sentence, tmp_path, VoiceSettings(engine="gtts", chime=False))
    assert len(fake.requests) >= 3
    sent = [json.loads(r[0][0][1])[0] for r in fake.requests]
    assert all(len(s) <= 100 for s in sent)


def test_gtts_slow_rate_asks_for_the_slow_voice(monkeypatch: pytest.MonkeyPatch):
    [body] = gtts.request_bodies("xin chào", "vi", gtts.SLOW_BELOW_RATE - 1)
    rpc = json.loads(urllib.parse.parse_qs(body)["f.req"][0])
    assert json.loads(rpc[0][0][1])[2] is True


def test_gtts_retries_a_server_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mp3_reply: bytes
):
    with fake_gtts_server(mp3_reply, mode="flaky") as fake:
        monkeypatch.setenv("LOA_GTTS_URL", fake.url)
        result = render_text(TEXT, tmp_path, VoiceSettings(engine="gtts", chime=False))
    assert result.engine == "gtts"
    assert len(fake.requests) == 2


@pytest.mark.parametrize(("mode", "requests"), [("error500", gtts.ATTEMPTS), ("no_audio", 1)])
def test_gtts_bad_replies_are_an_engine_failure(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mp3_reply: bytes, mode: str, requests: int
):
    with fake_gtts_server(mp3_reply, mode=mode) as fake:
        monkeypatch.setenv("LOA_GTTS_URL", fake.url)
        with pytest.raises(AudioError) as err:
            render_text(TEXT, tmp_path, VoiceSettings(engine="gtts"))
    assert err.value.code == "engine_failed"
    assert len(fake.requests) == requests


def test_gtts_offline_is_a_clear_error_and_fails_fast(tmp_path: Path):
    # the autouse fixture points gTTS at a closed local port
    started = time.monotonic()
    with pytest.raises(AudioError) as err:
        render_text(TEXT, tmp_path, VoiceSettings(engine="gtts"))
    assert err.value.code == "offline"
    assert "Internet" in err.value.message
    assert time.monotonic() - started < 5


# -- auto: the configured order, with fallback ------------------------------------------------


def test_auto_falls_back_to_the_next_engine_when_gtts_fails_and_records_it(tmp_path: Path):
    result = render_text(
        TEXT, tmp_path, VoiceSettings(chime=False), order=["gtts", "piper", "espeak-ng"]
    )
    assert result.engine == "espeak-ng"
    assert result.voice == espeak.DEFAULT_VOICE


def test_auto_uses_the_first_engine_that_works(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mp3_reply: bytes
):
    with fake_gtts_server(mp3_reply) as fake:
        monkeypatch.setenv("LOA_GTTS_URL", fake.url)
        monkeypatch.setenv("LOA_TTS_ORDER", "gtts,espeak-ng")
        result = render_text(TEXT, tmp_path, VoiceSettings(voice="vi-vn-x-south"))
    assert result.engine == "gtts"
    assert result.voice == "vi"  # the espeak-ng voice does not apply to gTTS


def test_auto_default_order_is_offline_only():
    assert engines.auto_order() == ("piper", "espeak-ng")


def test_auto_order_from_the_environment_must_name_real_engines(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("LOA_TTS_ORDER", "gtts, nope")
    with pytest.raises(AudioError) as err:
        engines.auto_order()
    assert err.value.code == "unknown_engine"


def test_when_every_engine_fails_the_error_says_so(tmp_path: Path):
    with pytest.raises(AudioError) as err:
        render_text(TEXT, tmp_path, VoiceSettings(), order=["gtts", "piper"])
    assert err.value.code == "engine_unavailable"


# -- Piper, with a tiny ONNX voice built here -------------------------------------------------


@pytest.fixture
def tiny_voice(tmp_path: Path) -> tuple[Path, Path]:
    return build_tiny_piper_voice(tmp_path / "downloads")


def test_piper_is_unavailable_until_a_voice_is_installed(tiny_voice: tuple[Path, Path]):
    assert not piper.available()
    name = install_voice(*tiny_voice)
    assert name == "vi_VN-tiny-test"
    assert installed_voices() == [name]
    assert piper.available()
    assert piper.default_voice() == name


def test_piper_speaks_through_the_real_loading_code(tmp_path: Path, tiny_voice: tuple[Path, Path]):
    install_voice(*tiny_voice)
    result = render_text(TEXT, tmp_path / "media", VoiceSettings(chime=False))
    assert result.engine == "piper"  # first in auto's default order
    assert result.voice == "vi_VN-tiny-test"
    assert result.duration_s > 1.0


def test_piper_rate_shortens_phonemes(tmp_path: Path, tiny_voice: tuple[Path, Path]):
    install_voice(*tiny_voice)
    slow = piper.synthesize("xin chào bà con", "vi_VN-tiny-test", 100)
    fast = piper.synthesize("xin chào bà con", "vi_VN-tiny-test", 200)
    assert len(fast) < 0.6 * len(slow)


def test_piper_fingerprint_changes_when_the_voice_file_changes(tiny_voice: tuple[Path, Path]):
    install_voice(*tiny_voice)
    before = piper.fingerprint("vi_VN-tiny-test")
    model, config = tiny_voice
    settings = json.loads(config.read_text(encoding="utf-8"))
    settings["inference"]["length_scale"] = 1.2
    config.write_text(json.dumps(settings), encoding="utf-8")
    install_voice(model, config)
    assert piper.fingerprint("vi_VN-tiny-test") != before


def test_installing_a_broken_voice_is_refused(tmp_path: Path, tiny_voice: tuple[Path, Path]):
    model, config = tiny_voice
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"not a model")
    with pytest.raises(AudioError) as err:
        install_voice(junk, config)
    assert err.value.code == "bad_voice_file"
    config.write_text("{}", encoding="utf-8")
    with pytest.raises(AudioError) as err:
        install_voice(model, config)
    assert err.value.code == "bad_voice_file"
    assert installed_voices() == []


def test_install_voice_command_installs_into_loa_voices_dir(
    tmp_path: Path, tiny_voice: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
):
    assert main(["tts", "install-voice", *map(str, tiny_voice)]) == 0
    assert "vi_VN-tiny-test" in capsys.readouterr().out
    assert (tmp_path / "voices" / "vi_VN-tiny-test.onnx").is_file()
    assert (tmp_path / "voices" / "vi_VN-tiny-test.onnx.json").is_file()


def test_catalog_lists_every_engine_with_labels_for_the_ui(tiny_voice: tuple[Path, Path]):
    install_voice(*tiny_voice)
    rows = {row["engine"]: row for row in engines.catalog()}
    assert set(rows) == {"espeak-ng", "piper", "gtts", "fpt", "vbee", "viettel", "giong-xa"}
    assert rows["fpt"]["available"] is False  # no account configured
    assert rows["giong-xa"]["available"] is False  # no commune voice recorded
    assert rows["fpt"]["online"] is True and rows["piper"]["online"] is False
    espeak_row = rows["espeak-ng"]
    assert espeak_row["available"] is True
    assert {"voice": "vi-vn-x-south+f2", "label": "Giọng miền Nam (nữ)"} in espeak_row["voices"]
    assert rows["piper"]["default_voice"] == "vi_VN-tiny-test"
    assert "trực tuyến" in str(rows["gtts"]["label"])


def test_auto_falls_back_when_the_installed_piper_voice_fails(
    tmp_path: Path, tiny_voice: tuple[Path, Path]
):
    model, config = tiny_voice
    settings = json.loads(config.read_text(encoding="utf-8"))
    settings["espeak"]["voice"] = "no-such-language"  # phonemizing fails at synthesis
    config.write_text(json.dumps(settings), encoding="utf-8")
    install_voice(model, config)
    result = render_text(TEXT, tmp_path / "media", VoiceSettings(chime=False))
    assert result.engine == "espeak-ng"
    with pytest.raises(AudioError) as err:
        render_text(TEXT, tmp_path / "media", VoiceSettings(engine="piper"))
    assert err.value.code == "engine_failed"
