"""The cloud voices (FPT.AI, Vbee) against local fakes of their documented APIs; auto's order
and breaker; keys never shown. Nothing here calls out: see fakes.py."""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

import pytest

from audio import engines
from audio.engines import fpt, online, vbee, viettel
from audio.errors import AudioError
from audio.messages import VOICE_LABELS
from audio.render import VoiceSettings, render_text
from loa.cli import main

from .fakes import FakeVendors, fake_vendors
from .helpers import make_audio

TEXT = "Kính thưa bà con, UBND xã thông báo."
SPOKEN = "kính thưa bà con, ủy ban nhân dân xã thông báo."
FAST = {"poll_first_s": 0.02, "poll_max_s": 0.1}


@pytest.fixture(scope="module")
def mp3_reply(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """What the vendors' links serve: a real MP3 (22.05 kHz mono, like FPT.AI's files)."""
    path = tmp_path_factory.mktemp("cloud") / "reply.mp3"
    make_audio(path, 1.5, "-ar", "22050", "-ac", "1", "-c:a", "libmp3lame", "-b:a", "64k")
    return path.read_bytes()


def use(
    fake: FakeVendors,
    *,
    fpt_key: str | None = None,
    vbee_token: str | None = None,
    viettel_token: str | None = None,
    deadline_s: float = 5.0,
    breaker_s: float = 300.0,
    which: str = "all",
) -> None:
    """Point the engines at the fake, with the fake's keys unless others are given."""
    fpt_account = online.FptAccount(online.Secret(fpt_key or fake.fpt_key), fake.fpt_url)
    vbee_account = online.VbeeAccount(
        online.Secret(vbee_token or fake.vbee_token), fake.vbee_app_id, fake.url
    )
    viettel_account = online.ViettelAccount(
        online.Secret(viettel_token or fake.viettel_token), fake.viettel_url
    )
    online.configure(
        online.OnlineSettings(
            fpt=fpt_account if which in ("all", "fpt") else None,
            vbee=vbee_account if which in ("all", "vbee") else None,
            viettel=viettel_account if which in ("all", "viettel") else None,
            deadline_s=deadline_s,
            breaker_s=breaker_s,
            **FAST,
        )
    )


# -- FPT.AI ------------------------------------------------------------------------------------


def test_fpt_posts_the_text_with_key_voice_and_speed_and_polls_the_link_until_ready(
    tmp_path: Path, mp3_reply: bytes
):
    with fake_vendors(mp3_reply, pending_polls=3) as fake:
        use(fake)
        result = render_text(
            TEXT, tmp_path, VoiceSettings(engine="fpt", voice="leminh", rate=170, chime=False)
        )
    assert (result.engine, result.voice) == ("fpt", "leminh")
    assert result.duration_s == pytest.approx(1.5 + 0.4, abs=0.15)
    [post] = fake.requests("POST", "/hmi/tts/v5")
    assert post.body.decode("utf-8") == SPOKEN
    assert post.headers["api_key"] == fake.fpt_key
    assert (post.headers["voice"], post.headers["speed"], post.headers["format"]) == (
        "leminh",
        "1",
        "mp3",
    )
    polls = fake.requests("GET", "/files/")
    assert len(polls) == 4  # three "not ready yet", then the file
    assert all("api_key" not in p.headers for p in polls)  # the key goes to FPT.AI only


def test_fpt_speed_follows_the_rate_within_its_range():
    assert [fpt.speed_for(r) for r in (60, 110, 150, 170, 210, 400)] == [-3, -2, 0, 1, 3, 3]


def test_fpt_pads_a_text_shorter_than_its_minimum(tmp_path: Path, mp3_reply: bytes):
    with fake_vendors(mp3_reply) as fake:
        use(fake)
        assert fpt.synthesize("ừ", "banmai", 150) == mp3_reply
    assert fake.requests("POST", "/hmi/tts/v5")[0].body.decode("utf-8") == "ừ.."


@pytest.mark.parametrize(
    ("setup", "code", "state", "words"),
    [
        ({"fpt_key": "wrong-key"}, "engine_failed", "wrong_key", "khóa API"),
        ({"quota_chars": 5}, "engine_failed", "out_of_quota", "hạn mức"),
        ({"link_serves": "html"}, "engine_failed", "failed", "không dùng được"),
        ({"server_errors": 1000}, "offline", "unreachable", "không trả lời"),
        ({"pending_polls": 1000}, "offline", "unreachable", "không trả lời"),
        ({"delay_s": 5.0}, "offline", "unreachable", "không trả lời"),
    ],
    ids=["bad-key", "quota", "not-audio", "5xx", "never-ready", "slow"],
)
def test_fpt_failures_are_audio_errors_with_their_cause_and_keep_the_deadline(
    tmp_path: Path, mp3_reply: bytes, setup: dict, code: str, state: str, words: str
):
    key = setup.pop("fpt_key", None)
    with fake_vendors(mp3_reply, **setup) as fake:
        use(fake, fpt_key=key, deadline_s=1.0)
        started = time.monotonic()
        with pytest.raises(online.OnlineFailure) as err:
            render_text(TEXT, tmp_path, VoiceSettings(engine="fpt"))
        took = time.monotonic() - started
    assert isinstance(err.value, AudioError)
    assert (err.value.code, err.value.state) == (code, state)
    assert words in err.value.message
    assert "FPT.AI" in err.value.message
    assert took < 3.0  # a 1 s deadline, whatever the vendor does (5 s, forever)
    assert not list(tmp_path.glob("*.mp3"))


def test_fpt_unreachable_is_offline(tmp_path: Path):
    online.configure(online.OnlineSettings(fpt=online.FptAccount("k", "http://127.0.0.1:9/x")))
    with pytest.raises(AudioError) as err:
        render_text(TEXT, tmp_path, VoiceSettings(engine="fpt"))
    assert err.value.code == "offline"
    assert "Internet" in err.value.message


def test_fpt_recovers_from_a_passing_server_error(tmp_path: Path, mp3_reply: bytes):
    with fake_vendors(mp3_reply, server_errors=2) as fake:
        use(fake)
        result = render_text(TEXT, tmp_path, VoiceSettings(engine="fpt", chime=False))
    assert result.engine == "fpt"
    assert len(fake.requests("POST", "/hmi/tts/v5")) == 3


# -- Vbee --------------------------------------------------------------------------------------


def test_vbee_posts_the_documented_body_and_polls_the_request_until_success(
    tmp_path: Path, mp3_reply: bytes
):
    with fake_vendors(mp3_reply, pending_polls=2) as fake:
        use(fake)
        voice = "sg_female_thaotrinh_full_48k-fhg"
        result = render_text(
            TEXT, tmp_path, VoiceSettings(engine="vbee", voice=voice, rate=120, chime=False)
        )
    assert (result.engine, result.voice) == ("vbee", voice)
    [post] = fake.requests("POST", "/api/v1/tts")
    assert post.headers["authorization"] == f"Bearer {fake.vbee_token}"
    body = json.loads(post.body)
    assert body == {
        "app_id": fake.vbee_app_id,
        "callback_url": online.VBEE_NO_CALLBACK,
        "input_text": SPOKEN,
        "voice_code": voice,
        "audio_type": "mp3",
        "bitrate": vbee.BITRATE,
        "speed_rate": 0.8,
    }
    polls = fake.requests("GET", "/api/v1/tts/")
    assert len(polls) == 3  # IN_PROGRESS twice, then SUCCESS
    assert all(p.headers["authorization"] == f"Bearer {fake.vbee_token}" for p in polls)
    [download] = fake.requests("GET", "/files/")
    assert "authorization" not in download.headers


@pytest.mark.parametrize(
    ("setup", "code", "state"),
    [
        ({"vbee_token": "expired.jwt"}, "engine_failed", "wrong_key"),
        ({"quota_chars": 5}, "engine_failed", "out_of_quota"),
        ({"vbee_failure": True}, "engine_failed", "failed"),
        ({"link_serves": "html"}, "engine_failed", "failed"),
        ({"server_errors": 1000}, "offline", "unreachable"),
        ({"pending_polls": 1000}, "offline", "unreachable"),
        ({"delay_s": 5.0}, "offline", "unreachable"),
    ],
    ids=["bad-token", "quota", "failure", "not-audio", "5xx", "never-ready", "slow"],
)
def test_vbee_failures_are_audio_errors_with_their_cause_and_keep_the_deadline(
    tmp_path: Path, mp3_reply: bytes, setup: dict, code: str, state: str
):
    token = setup.pop("vbee_token", None)
    with fake_vendors(mp3_reply, **setup) as fake:
        use(fake, vbee_token=token, deadline_s=1.0)
        started = time.monotonic()
        with pytest.raises(online.OnlineFailure) as err:
            render_text(TEXT, tmp_path, VoiceSettings(engine="vbee"))
        took = time.monotonic() - started
    assert (err.value.code, err.value.state) == (code, state)
    assert "Vbee" in err.value.message
    assert took < 3.0


def test_vbee_speed_rate_follows_the_rate_within_its_range():
    assert [vbee.speed_rate_for(r) for r in (10, 150, 200, 400)] == [0.1, 1.0, 1.3, 1.9]


# -- Viettel AI -------------------------------------------------------------------------------


def test_viettel_posts_the_documented_body_and_gets_the_audio_back(
    tmp_path: Path, mp3_reply: bytes
):
    with fake_vendors(mp3_reply) as fake:
        use(fake)
        result = render_text(
            TEXT,
            tmp_path,
            VoiceSettings(engine="viettel", voice="hue-maingoc", rate=180, chime=False),
        )
    assert (result.engine, result.voice) == ("viettel", "hue-maingoc")
    assert result.duration_s == pytest.approx(1.5 + 0.4, abs=0.15)
    [post] = fake.requests("POST", "/voice/api/tts/v1/rest/syn")
    assert post.headers["token"] == fake.viettel_token
    body = json.loads(post.body)
    assert len(body.pop("id")) == 32
    assert body == {
        "text": SPOKEN,
        "voice": "hue-maingoc",
        "without_filter": False,
        "speed": 1.2,
        "tts_return_option": 3,
    }


def test_viettel_speed_follows_the_rate_within_its_range():
    assert [viettel.speed_for(r) for r in (60, 150, 165, 400)] == [0.7, 1.0, 1.1, 1.3]


@pytest.mark.parametrize(
    ("setup", "code", "state"),
    [
        ({"viettel_token": "nope"}, "engine_failed", "wrong_key"),
        ({"quota_chars": 5}, "engine_failed", "out_of_quota"),
        ({"link_serves": "html"}, "engine_failed", "failed"),
        ({"server_errors": 1000}, "offline", "unreachable"),
        ({"delay_s": 5.0}, "offline", "unreachable"),
    ],
    ids=["bad-token", "quota", "not-audio", "5xx", "slow"],
)
def test_viettel_failures_are_audio_errors_with_their_cause_and_keep_the_deadline(
    tmp_path: Path, mp3_reply: bytes, setup: dict, code: str, state: str
):
    token = setup.pop("viettel_token", None)
    with fake_vendors(mp3_reply, **setup) as fake:
        use(fake, viettel_token=token, deadline_s=1.0)
        started = time.monotonic()
        with pytest.raises(online.OnlineFailure) as err:
            render_text(TEXT, tmp_path, VoiceSettings(engine="viettel"))
        took = time.monotonic() - started
    assert (err.value.code, err.value.state) == (code, state)
    assert "Viettel AI" in err.value.message
    assert took < 3.0


# -- check: the state the voices page shows, from a real call ---------------------------------


def test_check_reports_each_state_from_a_real_call(mp3_reply: bytes):
    cloud = ("fpt", "vbee", "viettel")
    assert [engines.check(n).state for n in cloud] == ["not_configured"] * 3
    with fake_vendors(mp3_reply) as fake:
        use(fake)
        assert [engines.check(n).state for n in cloud] == ["ready"] * 3
        assert "sẵn sàng" in engines.check("fpt").message
        use(fake, fpt_key="nope", vbee_token="nope", viettel_token="nope")
        assert [engines.check(n).state for n in cloud] == ["wrong_key"] * 3
        use(fake)
        fake.quota_chars = 0
        assert [engines.check(n).state for n in cloud] == ["out_of_quota"] * 3
    use(fake)  # the fake is gone: nothing listens on its port
    assert [engines.check(n).state for n in cloud] == ["unreachable"] * 3
    with pytest.raises(AudioError) as err:
        engines.check("espeak-ng")
    assert err.value.code == "unknown_engine"


# -- keys are never shown back, logged or put in errors ---------------------------------------


def test_keys_are_never_in_errors_logs_reprs_or_checks(
    tmp_path: Path, mp3_reply: bytes, caplog: pytest.LogCaptureFixture
):
    caplog.set_level(logging.DEBUG)  # httpx, httpcore and Loa's own loggers, everything
    texts: list[str] = []
    with fake_vendors(mp3_reply, server_errors=1) as fake:
        use(fake, deadline_s=1.0)
        texts += [repr(online.current()), str(online.current())]
        render_text(TEXT, tmp_path, VoiceSettings(chime=False), order=["fpt"])
        render_text(TEXT, tmp_path, VoiceSettings(chime=False), order=["vbee"])
        render_text(TEXT, tmp_path, VoiceSettings(chime=False), order=["viettel"])
        fake.quota_chars = 0
        for name in ("fpt", "vbee", "viettel"):
            with pytest.raises(AudioError) as err:
                render_text("Một câu khác.", tmp_path, VoiceSettings(engine=name))
            texts += [str(err.value), err.value.message, repr(err.value)]
            checked = engines.check(name)
            texts += [checked.message, repr(checked)]
    for text in [*texts, caplog.text]:
        assert fake.fpt_key not in text
        assert fake.vbee_token not in text
        assert fake.viettel_token not in text
    assert any("FPT.AI" in t for t in texts)  # the errors do name the engine
    assert any("Vbee" in t for t in texts)


def test_environment_keys_make_the_engines_available(
    monkeypatch: pytest.MonkeyPatch, mp3_reply: bytes
):
    assert not fpt.available() and not vbee.available()
    monkeypatch.setenv("LOA_FPT_API_KEY", "from-env")
    monkeypatch.setenv("LOA_VBEE_TOKEN", "jwt")
    monkeypatch.setenv("LOA_VBEE_APP_ID", "app")
    assert fpt.available() and vbee.available()
    assert "from-env" not in repr(online.current())
    online.configure(online.OnlineSettings())  # the controller's settings win over the env
    assert not fpt.available()


# -- auto: online engines first, a short deadline, a breaker, then offline ---------------------


def test_auto_tries_the_configured_online_engines_first():
    assert engines.auto_order() == ("piper", "espeak-ng")
    online.configure(online.OnlineSettings(vbee=online.VbeeAccount("t", "a")))
    assert engines.auto_order() == ("vbee", "piper", "espeak-ng")
    online.configure(
        online.OnlineSettings(fpt=online.FptAccount("k"), vbee=online.VbeeAccount("t", "a"))
    )
    assert engines.auto_order() == ("fpt", "vbee", "piper", "espeak-ng")
    online.configure(online.OnlineSettings(viettel=online.ViettelAccount("t")))
    assert engines.auto_order() == ("viettel", "piper", "espeak-ng")


def test_auto_speaks_with_fpt_when_it_answers(tmp_path: Path, mp3_reply: bytes):
    with fake_vendors(mp3_reply, pending_polls=1) as fake:
        use(fake)
        result = render_text(TEXT, tmp_path, VoiceSettings(voice="vi-vn-x-south", chime=False))
    assert result.engine == "fpt"
    assert result.voice == fpt.DEFAULT_VOICE  # espeak-ng's voice does not apply to FPT.AI


def test_auto_falls_back_and_the_breaker_skips_a_failed_engine_for_a_while(
    tmp_path: Path, mp3_reply: bytes, monkeypatch: pytest.MonkeyPatch
):
    now = [1000.0]  # the breaker's clock, moved by hand
    monkeypatch.setattr(online.breaker, "clock", lambda: now[0])
    with fake_vendors(mp3_reply, delay_s=6.0) as fake:
        use(fake, which="fpt", deadline_s=0.5, breaker_s=60.0)
        started = time.monotonic()
        first = render_text(TEXT, tmp_path, VoiceSettings(chime=False))
        assert time.monotonic() - started < 4.0  # the deadline, not the vendor's 6 s
        assert first.engine == "espeak-ng"
        assert len(fake.requests("POST", "/hmi/tts/v5")) == 1
        assert online.breaker.open_for("fpt") == 60.0

        second = render_text("Bà con chú ý.", tmp_path, VoiceSettings(chime=False))
        assert second.engine == "espeak-ng"
        assert len(fake.requests("POST", "/hmi/tts/v5")) == 1  # skipped: no request at all

        fake.delay_s = 0.0
        now[0] += 59.0
        assert online.breaker.open_for("fpt") == 1.0
        assert render_text("Khác.", tmp_path, VoiceSettings(chime=False)).engine == "espeak-ng"
        now[0] += 1.0  # the breaker's time is up
        third = render_text("Bà con chú ý.", tmp_path, VoiceSettings(chime=False))
    assert third.engine == "fpt"
    assert len(fake.requests("POST", "/hmi/tts/v5")) == 2
    assert online.breaker.allows("fpt")


def test_auto_goes_on_to_vbee_when_fpt_refuses_the_key(tmp_path: Path, mp3_reply: bytes):
    with fake_vendors(mp3_reply) as fake:
        use(fake, fpt_key="revoked")
        result = render_text(TEXT, tmp_path, VoiceSettings(chime=False))
    assert result.engine == "vbee"
    assert not online.breaker.allows("fpt")
    assert online.breaker.allows("vbee")


def test_a_cached_render_is_returned_even_while_the_breaker_is_open(
    tmp_path: Path, mp3_reply: bytes
):
    cache_dir = tmp_path / "cache"
    with fake_vendors(mp3_reply) as fake:
        use(fake, which="fpt")
        first = render_text(TEXT, tmp_path, VoiceSettings(chime=False), cache_dir=cache_dir)
        online.breaker.trip("fpt")
        again = render_text(TEXT, tmp_path, VoiceSettings(chime=False), cache_dir=cache_dir)
    assert (first.engine, again.sha256) == ("fpt", first.sha256)
    assert len(fake.requests("POST", "/hmi/tts/v5")) == 1


def test_an_explicit_choice_is_tried_even_while_the_breaker_is_open(
    tmp_path: Path, mp3_reply: bytes
):
    with fake_vendors(mp3_reply) as fake:
        use(fake)
        online.breaker.trip("vbee")
        result = render_text(TEXT, tmp_path, VoiceSettings(engine="vbee", chime=False))
    assert result.engine == "vbee"
    assert online.breaker.allows("vbee")  # its success closed the breaker


def test_configuring_new_keys_closes_the_breakers():
    online.breaker.trip("fpt")
    online.configure(online.OnlineSettings(fpt=online.FptAccount("new")))
    assert online.breaker.allows("fpt")


# -- the voice picker and the command line -----------------------------------------------------


def test_cloud_voices_are_named_as_officials_know_them():
    assert VOICE_LABELS["banmai"] == "Ban Mai — nữ miền Bắc (FPT.AI)"
    assert VOICE_LABELS["giahuy"] == "Gia Huy — nam miền Trung (FPT.AI)"
    assert VOICE_LABELS["lannhi"] == "Lan Nhi — nữ miền Nam (FPT.AI)"
    assert VOICE_LABELS["hue_female_huonggiang_full_48k-fhg"] == (
        "Hương Giang — nữ miền Trung, Huế (Vbee)"
    )
    online.configure(online.OnlineSettings(fpt=online.FptAccount("k")))
    rows = {row["engine"]: row for row in engines.catalog()}
    assert rows["fpt"]["available"] is True
    labels = {v["voice"]: v["label"] for v in rows["fpt"]["voices"]}
    assert set(labels) == set(fpt.VOICES)
    assert labels["myan"] == "Mỹ An — nữ miền Trung (FPT.AI)"
    assert rows["vbee"]["available"] is False
    # gTTS's voice "vi" is Google's, not espeak-ng's male northern "vi"
    assert rows["gtts"]["voices"] == [{"voice": "vi", "label": "Giọng Google"}]
    assert VOICE_LABELS["hcm-minhquan"] == "Minh Quân — nam miền Nam (Viettel AI)"


def test_cli_synth_and_check_with_the_cloud_voices(
    tmp_path: Path,
    mp3_reply: bytes,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
):
    with fake_vendors(mp3_reply) as fake:
        monkeypatch.setenv("LOA_FPT_API_KEY", fake.fpt_key)
        monkeypatch.setenv("LOA_FPT_URL", fake.fpt_url)
        out = tmp_path / "x.mp3"
        assert main(["tts", "synth", TEXT, "-o", str(out), "--engine", "fpt"]) == 0
        assert "engine=fpt voice=banmai" in capsys.readouterr().out
        assert main(["tts", "check"]) == 0
        printed = capsys.readouterr().out
    assert "fpt\tready\tFPT.AI: sẵn sàng." in printed
    assert "vbee\tnot_configured" in printed
    assert fake.fpt_key not in printed


def test_a_long_text_falls_back_after_one_deadline_not_one_per_chunk(
    tmp_path: Path, mp3_reply: bytes
):
    text = " ".join(f"Câu thông báo số {n} gửi bà con." for n in range(1, 9))  # 8 chunks
    with fake_vendors(mp3_reply, delay_s=5.0) as fake:
        use(fake, which="fpt", deadline_s=1.0)
        started = time.monotonic()
        result = render_text(text, tmp_path, VoiceSettings(chime=False))
        took = time.monotonic() - started
    assert result.engine == "espeak-ng"
    # two chunks at a time; no chunk starts after one failed (all 8 waiting out their deadline
    # would hold the announcement 4 s before espeak-ng even began)
    assert len(fake.requests("POST", "/hmi/tts/v5")) == 2
    assert took < 8.0


def test_no_chunk_is_sent_after_one_failed(tmp_path: Path, mp3_reply: bytes):
    # one of the first two chunks is refused at once, the other waits out its deadline:
    # chunks 3-8 must not be sent (each would wait its own deadline and spend quota)
    text = " ".join(f"Câu thông báo số {n} gửi bà con." for n in range(1, 9))
    with fake_vendors(mp3_reply, refuse_first=1, delay_s=5.0) as fake:
        use(fake, which="fpt", deadline_s=1.0)
        started = time.monotonic()
        with pytest.raises(AudioError) as err:
            render_text(text, tmp_path, VoiceSettings(engine="fpt"))
        took = time.monotonic() - started
    assert err.value.code in ("engine_failed", "offline")  # whichever chunk came first
    assert len(fake.requests("POST", "/hmi/tts/v5")) == 2
    assert took < 1.9  # one deadline, not two


def test_an_emergency_budget_caps_the_online_deadline_for_its_own_call(
    tmp_path: Path, mp3_reply: bytes
):
    with fake_vendors(mp3_reply, delay_s=5.0) as fake:
        use(fake, which="fpt", deadline_s=30.0)
        started = time.monotonic()
        with pytest.raises(AudioError) as err:
            render_text(TEXT, tmp_path, VoiceSettings(engine="fpt"), online_deadline_s=0.5)
        assert time.monotonic() - started < 2.0  # not the configured 30 s
        assert "0.5 giây" in err.value.message
        online.breaker.reset()
        result = render_text(TEXT, tmp_path, VoiceSettings(chime=False), online_deadline_s=0.5)
    assert result.engine == "espeak-ng"
    assert online.deadline_s() == 30.0  # the budget was for those calls only


def test_settings_from_the_controllers_stored_values():
    settings = online.from_mapping(
        {
            "fpt_api_key": " k1 ",
            "vbee_token": "t2",
            "vbee_app_id": "",  # a token without its app id is no account
            "viettel_token": "t3",
            "viettel_url": "https://mirror.example/syn",
            "deadline_s": "12",
        }
    )
    assert settings.fpt == online.FptAccount("k1", online.FPT_URL)
    assert settings.vbee is None
    assert settings.viettel == online.ViettelAccount("t3", "https://mirror.example/syn")
    assert (settings.deadline_s, settings.breaker_s) == (12.0, 300.0)
    assert online.from_mapping({}) == online.OnlineSettings()
    with pytest.raises(ValueError):
        online.from_mapping({"breaker_s": "0"})
    assert "k1" not in repr(settings) and "t3" not in repr(settings)
