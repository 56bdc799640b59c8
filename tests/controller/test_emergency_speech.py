"""An emergency's speech (issue 15): the audio already made for its text, or the fastest engine
that answers within its budget — a slow online voice never holds an emergency.

A real controller app on a real SQLite file and real espeak-ng; FPT.AI is the local fake of its
documented wire format (tests/audio/fakes.py), slowed past the budget: nothing here calls out."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from audio.engines import online
from controller.core.settings import Settings
from tests.audio.fakes import FakeVendors, fake_vendors
from tests.audio.helpers import make_audio
from tests.controller.conftest import TOKEN, People, SeededCommune
from tests.controller.test_web import _signed_in

BUDGET_S = 1.5
#: espeak-ng speaking one short sentence, delivering it, and the request around it
MARGIN_S = 2.5
TEXT = "Lũ quét sắp về, bà con di chuyển lên vùng cao ngay."


@pytest.fixture
def settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.delenv("LOA_TTS_ORDER", raising=False)
    monkeypatch.setenv("LOA_VOICES_DIR", str(tmp_path / "voices"))  # no Piper voice here
    return Settings(
        data_dir=tmp_path / "controller",
        api_token=TOKEN,
        max_text_chars=500,
        emergency_speech_budget_s=BUDGET_S,
    )


@pytest.fixture(scope="module")
def mp3_reply(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    path = tmp_path_factory.mktemp("cloud") / "reply.mp3"
    make_audio(path, 1.5, "-ar", "22050", "-ac", "1", "-c:a", "libmp3lame", "-b:a", "64k")
    return path.read_bytes()


@pytest.fixture
def slow_fpt(mp3_reply: bytes) -> Iterator[FakeVendors]:
    """FPT.AI with an account, answering only after 8 s (far past the budget)."""
    with fake_vendors(mp3_reply, delay_s=8.0) as fake:
        yield fake
    online.configure(None)  # the engines are process-wide: leave no account to other tests


def _with_fpt(fake: FakeVendors) -> None:
    online.configure(online.from_mapping({"fpt_api_key": fake.fpt_key, "fpt_url": fake.fpt_url}))


def _emergency(client: TestClient, people: People, commune: SeededCommune) -> tuple[dict, float]:  # type: ignore[type-arg]
    started = time.monotonic()
    sent = client.post(
        "/api/v1/emergency",
        json={"title": "Lũ quét", "text": TEXT, "zone_ids": [commune.commune_id]},
        headers=people.headers("approver"),
    )
    took = time.monotonic() - started
    assert sent.status_code == 201, sent.text
    return sent.json(), took


def test_a_slow_online_voice_past_the_budget_gives_way_to_espeak_ng(
    client: TestClient, people: People, commune: SeededCommune, slow_fpt: FakeVendors
):
    _with_fpt(slow_fpt)
    body, took = _emergency(client, people, commune)
    assert slow_fpt.requests("POST", "/hmi/tts/v5"), "the online voice was asked first"
    assert body["speech"]["engine"] == "espeak-ng"
    assert body["speech"]["cached"] is False
    assert took < BUDGET_S + MARGIN_S, f"the emergency waited {took:.1f} s on the Internet"
    # the emergency page says which engine spoke
    browser, _ = _signed_in(client, "approver")
    page = browser.get(f"/emergency/{body['id']}").text
    assert 'id="emergency-speech" data-engine="espeak-ng"' in page


def test_an_emergency_whose_text_was_spoken_before_calls_no_engine(
    client: TestClient, people: People, commune: SeededCommune, slow_fpt: FakeVendors
):
    first, _ = _emergency(client, people, commune)  # no account yet: espeak-ng speaks it
    assert first["speech"]["engine"] == "espeak-ng" and first["speech"]["cached"] is False
    _with_fpt(slow_fpt)  # now FPT.AI comes first in auto's order, and it is slow
    again, took = _emergency(client, people, commune)
    assert not slow_fpt.seen, "no engine is called for audio already made"
    assert again["speech"] == {**again["speech"], "engine": "espeak-ng", "cached": True}
    assert took < BUDGET_S, f"{took:.1f} s for audio already made"
