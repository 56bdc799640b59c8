"""Vbee AIVoice (online, neural voices of the North, the South and Huế).

Loa speaks Vbee's older documented API (api-docs.vbee.vn, "text-to-speech-lagacy"), the one with
the per-request voice, format, bitrate and speed:

- ``POST {url}/api/v1/tts`` with ``Authorization: Bearer <app token>`` and the JSON body
  ``app_id``, ``callback_url``, ``input_text``, ``voice_code``, ``audio_type`` (mp3),
  ``bitrate``, ``speed_rate`` (0.1 … 1.9). The answer: ``status`` (1 = accepted),
  ``error_code``, ``error_message``, ``result.request_id``, ``result.status`` (IN_PROGRESS).
- ``GET {url}/api/v1/tts/{request_id}`` (same bearer) answers ``result.status`` (IN_PROGRESS,
  SUCCESS, FAILURE), ``progress``, ``audio_link``, ``audio_expired``. Loa polls it with back-off
  within the deadline instead of taking the callback (a controller behind a commune's NAT
  cannot receive one), then downloads ``audio_link`` without credentials.

The newer API (``https://api.vbee.vn/v1/tts``, an ``App-Id`` header,
``GET /v1/tts/requests/{requestId}`` → ``status`` COMPLETED, ``audioLink``) differs only in
these two calls (:func:`_post`, :func:`_poll`).

Rules: ``rate`` maps to ``speed_rate`` = rate / :data:`DEFAULT_RATE`, one decimal, 0.1 … 1.9.
HTTP 401/403 is a wrong token, 402/429 no quota left, 5xx the service down; ``status`` 0 is read
from its error message (quota words, else key words, else failed).
"""

from __future__ import annotations

from typing import Any

from audio.engines import online
from audio.errors import AudioError
from audio.messages import message_for

NAME = "vbee"
ONLINE = True
#: Voice codes as Vbee documents them (region, gender, name: audio.voices.CLOUD_VOICES).
VOICES = (
    "hn_female_ngochuyen_full_48k-fhg",
    "hn_female_maiphuong_vdts_48k-fhg",
    "hn_male_manhdung_news_48k-fhg",
    "hn_male_thanhlong_talk_48k-fhg",
    "sg_female_thaotrinh_full_48k-fhg",
    "sg_female_lantrinh_vdts_48k-fhg",
    "sg_male_minhhoang_full_48k-fhg",
    "sg_male_trungkien_vdts_48k-fhg",
    "hue_female_huonggiang_full_48k-fhg",
    "hue_male_duyphuong_full_48k-fhg",
)
DEFAULT_VOICE = "hn_female_ngochuyen_full_48k-fhg"
DEFAULT_RATE = 150
#: Vbee's mp3 bitrate (kbps): Loa re-encodes to 48 kbps, so more is wasted download.
BITRATE = 64
CHECK_TEXT = "Xin chào."


def account() -> online.VbeeAccount | None:
    return online.current().vbee


def available() -> bool:
    return online.installed() and account() is not None


def voices() -> list[str]:
    return list(VOICES)


def default_voice() -> str:
    return DEFAULT_VOICE


def default_rate() -> int:
    return DEFAULT_RATE


def fingerprint(voice: str) -> str:
    return f"vbee api v1 mp3 {BITRATE}k"


def speed_rate_for(rate: int) -> float:
    """Words per minute → Vbee's ``speed_rate`` (0.1 … 1.9, one decimal)."""
    return max(0.1, min(1.9, round(rate / DEFAULT_RATE, 1)))


def _acct() -> online.VbeeAccount:
    acct = account()
    if acct is None:
        raise online.OnlineFailure(NAME, "not_configured")
    return acct


def _result(response: Any) -> dict[str, Any]:
    """The ``result`` of a Vbee answer (``status`` 1); its refusals raised as states."""
    reply = online.json_object(response, NAME)
    if reply.get("status") != 1:
        words = f"{reply.get('error_code')} {reply.get('error_message')}"
        raise online.OnlineFailure(NAME, online.state_of_message(words))
    result = reply.get("result")
    if not isinstance(result, dict):
        raise online.OnlineFailure(NAME, "failed")
    return result


def _post(client: object, deadline: online.Deadline, text: str, voice: str, rate: int) -> str:
    """Ask for the speech; return the request id to poll."""
    acct = _acct()
    body = {
        "app_id": acct.app_id,
        "callback_url": acct.callback_url,
        "input_text": text,
        "voice_code": voice,
        "audio_type": "mp3",
        "bitrate": BITRATE,
        "speed_rate": speed_rate_for(rate),
    }
    headers = {"Authorization": f"Bearer {acct.token.reveal()}"}
    url = acct.url.rstrip("/") + "/api/v1/tts"
    result = _result(online.answered(client, deadline, "POST", url, json=body, headers=headers))
    request_id = result.get("request_id")
    if not isinstance(request_id, str) or not request_id or "/" in request_id:
        raise online.OnlineFailure(NAME, "failed")
    return request_id


def _poll(client: object, deadline: online.Deadline, request_id: str) -> str:
    """Poll the request until it succeeds; return its ``audio_link``."""
    acct = _acct()
    headers = {"Authorization": f"Bearer {acct.token.reveal()}"}
    url = acct.url.rstrip("/") + f"/api/v1/tts/{request_id}"
    wait = online.backoff(online.current())
    while True:
        result = _result(online.answered(client, deadline, "GET", url, headers=headers))
        status = result.get("status")
        if status == "SUCCESS":
            link = result.get("audio_link")
            if result.get("audio_expired") or not isinstance(link, str):
                raise online.OnlineFailure(NAME, "failed")
            if not link.startswith(("http://", "https://")):
                raise online.OnlineFailure(NAME, "failed")
            return link
        if status == "FAILURE":
            raise online.OnlineFailure(NAME, "failed")
        deadline.sleep(wait())


def synthesize(text: str, voice: str, rate: int) -> bytes:
    if voice not in VOICES:
        raise AudioError("unknown_voice", message_for("unknown_voice", voice=voice, engine=NAME))
    settings = online.current()
    deadline = online.Deadline(NAME, online.deadline_s())
    with online.client() as client:
        request_id = _post(client, deadline, text, voice, rate)
        link = _poll(client, deadline, request_id)
        return online.download_audio(client, deadline, link, settings)


def check() -> online.EngineCheck:
    """A real request (a few characters): ready, not configured, wrong key, out of quota or
    unreachable. Accepted is ready; the audio is not waited for."""

    def call() -> None:
        deadline = online.Deadline(NAME, online.deadline_s())
        with online.client() as client:
            _post(client, deadline, CHECK_TEXT, DEFAULT_VOICE, DEFAULT_RATE)

    return online.checked(NAME, call)
