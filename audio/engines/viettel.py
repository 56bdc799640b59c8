"""Viettel AI TTS (online, neural voices of the three regions).

The documented API (viettelgroup.ai/document/tts, "API TTS - Text To Speech"): ``POST
https://viettelgroup.ai/voice/api/tts/v1/rest/syn`` with headers ``Content-Type:
application/json`` and ``token: <token>``, JSON body ``text``, ``voice``, ``id`` (the caller's
request id), ``without_filter`` (false = the slower, better filter), ``speed`` (0.7 … 1.3) and
``tts_return_option`` (1 streaming, 2 wav, 3 mp3). A success is HTTP 200 whose body is the audio
itself: no link to poll, so the whole call fits in the deadline of :mod:`audio.engines.online`.

Rules: ``rate`` maps to ``speed`` = rate / :data:`DEFAULT_RATE`, two decimals, 0.7 … 1.3. HTTP
401/403 is a wrong token, 402/429 no quota left, 5xx the service down (retried with back-off
inside the deadline); a 200 whose body is not audio is read as a refusal (quota words, else key
words, else failed). The docs give no error format, so that reading is Loa's inference.
"""

from __future__ import annotations

import uuid

from audio.engines import online
from audio.errors import AudioError
from audio.messages import message_for

NAME = "viettel"
ONLINE = True
#: Voice codes as Viettel AI documents them (region, gender: audio.voices.CLOUD_VOICES).
VOICES = (
    "hn-quynhanh",
    "doanngocle",
    "trinhthiviettrinh",
    "phamtienquan",
    "hue-maingoc",
    "hue-baoquoc",
    "lethiyen",
    "nguyenthithuyduyen",
    "hcm-minhquan",
)
DEFAULT_VOICE = "hn-quynhanh"
DEFAULT_RATE = 150
MP3 = 3
CHECK_TEXT = "Xin chào."


def account() -> online.ViettelAccount | None:
    return online.current().viettel


def available() -> bool:
    return online.installed() and account() is not None


def voices() -> list[str]:
    return list(VOICES)


def default_voice() -> str:
    return DEFAULT_VOICE


def default_rate() -> int:
    return DEFAULT_RATE


def fingerprint(voice: str) -> str:
    return "viettel ai tts v1 mp3 filtered"


def speed_for(rate: int) -> float:
    """Words per minute → Viettel AI's ``speed`` (0.7 … 1.3)."""
    return max(0.7, min(1.3, round(rate / DEFAULT_RATE, 2)))


def _speak(client: object, deadline: online.Deadline, text: str, voice: str, rate: int) -> bytes:
    acct = account()
    if acct is None:
        raise online.OnlineFailure(NAME, "not_configured")
    body = {
        "text": text,
        "voice": voice,
        "id": uuid.uuid4().hex,
        "without_filter": False,
        "speed": speed_for(rate),
        "tts_return_option": MP3,
    }
    headers = {"token": acct.token.reveal()}
    response = online.answered(client, deadline, "POST", acct.url, json=body, headers=headers)
    data = bytes(response.content)
    if not online.looks_like_audio(data):
        refusal = data[:500].decode("utf-8", "replace")
        raise online.OnlineFailure(NAME, online.state_of_message(refusal))
    return data


def synthesize(text: str, voice: str, rate: int) -> bytes:
    if voice not in VOICES:
        raise AudioError("unknown_voice", message_for("unknown_voice", voice=voice, engine=NAME))
    deadline = online.Deadline(NAME, online.deadline_s())
    with online.client() as client:
        return _speak(client, deadline, text, voice, rate)


def check() -> online.EngineCheck:
    """A real synthesis of a few characters: ready, not configured, wrong key, out of quota or
    unreachable (Viettel AI answers with the audio itself)."""

    def call() -> None:
        deadline = online.Deadline(NAME, online.deadline_s())
        with online.client() as client:
            _speak(client, deadline, CHECK_TEXT, DEFAULT_VOICE, DEFAULT_RATE)

    return online.checked(NAME, call)
