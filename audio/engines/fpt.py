"""FPT.AI Text to Speech v5 (online, neural voices of the three regions).

The documented API (docs.fpt.ai, "FPT.AI Speech - Text to Speech"): ``POST`` the text as the raw
body (3 to 5,000 characters) to ``https://api.fpt.ai/hmi/tts/v5`` with headers ``api_key``,
``voice``, ``speed`` (-3 … +3) and ``format`` (mp3 | wav). The JSON answer has ``error``
(0 = accepted), ``async`` (the audio file's URL), ``request_id`` and ``message``; the file behind
``async`` appears after 5 s to 2 min, so Loa polls it (with back-off, within the deadline of
:mod:`audio.engines.online`) rather than take the callback. The poll sends no key.

Rules: ``rate`` (words per minute) maps to ``speed`` in steps of :data:`RATE_STEP` around
:data:`DEFAULT_RATE` (speed 0), clamped to -3 … +3. A chunk shorter than 3 characters is padded
with full stops. HTTP 401/403 is a wrong key, 402/429 no quota left, 5xx the service down; an
``error`` other than 0 is read from its message (quota words, else key words, else failed).
"""

from __future__ import annotations

from audio.engines import online
from audio.errors import AudioError
from audio.messages import message_for

NAME = "fpt"
ONLINE = True
#: Voice names as FPT.AI documents them (region and gender: audio.voices.CLOUD_VOICES).
VOICES = ("banmai", "lannhi", "leminh", "myan", "thuminh", "giahuy", "linhsan")
DEFAULT_VOICE = "banmai"
#: The words per minute of FPT.AI's speed 0, and how many more a speed step adds.
DEFAULT_RATE = 150
RATE_STEP = 20
MIN_CHARS = 3
MAX_CHARS = 5000
#: What :func:`check` asks FPT.AI to say (a few characters of quota).
CHECK_TEXT = "Xin chào."


def account() -> online.FptAccount | None:
    return online.current().fpt


def available() -> bool:
    return online.installed() and account() is not None


def voices() -> list[str]:
    return list(VOICES)


def default_voice() -> str:
    return DEFAULT_VOICE


def default_rate() -> int:
    return DEFAULT_RATE


def fingerprint(voice: str) -> str:
    return "fpt.ai tts v5 mp3"


def speed_for(rate: int) -> int:
    """Words per minute → FPT.AI's ``speed`` header (-3 … +3)."""
    return max(-3, min(3, round((rate - DEFAULT_RATE) / RATE_STEP)))


def _post(client: object, deadline: online.Deadline, text: str, voice: str, rate: int) -> str:
    """Ask for the speech; return the ``async`` URL of the file to come."""
    acct = account()
    if acct is None:
        raise online.OnlineFailure(NAME, "not_configured")
    body = text if len(text) >= MIN_CHARS else text.ljust(MIN_CHARS, ".")
    headers = {
        "api_key": acct.api_key.reveal(),
        "voice": voice,
        "speed": str(speed_for(rate)),
        "format": "mp3",
        "Cache-Control": "no-cache",
        "Content-Type": "text/plain; charset=utf-8",
    }
    response = online.answered(
        client, deadline, "POST", acct.url, content=body.encode("utf-8"), headers=headers
    )
    reply = online.json_object(response, NAME)
    if reply.get("error") != 0:
        raise online.OnlineFailure(NAME, online.state_of_message(str(reply.get("message"))))
    link = reply.get("async")
    if not isinstance(link, str) or not link.startswith(("http://", "https://")):
        raise online.OnlineFailure(NAME, "failed")
    return link


def synthesize(text: str, voice: str, rate: int) -> bytes:
    if voice not in VOICES:
        raise AudioError("unknown_voice", message_for("unknown_voice", voice=voice, engine=NAME))
    if len(text) > MAX_CHARS:
        raise online.OnlineFailure(NAME, "failed")
    settings = online.current()
    deadline = online.Deadline(NAME, online.deadline_s())
    with online.client() as client:
        link = _post(client, deadline, text, voice, rate)
        return online.download_audio(client, deadline, link, settings)


def check() -> online.EngineCheck:
    """A real request (a few characters): ready, not configured, wrong key, out of quota or
    unreachable. Accepted is ready; the audio file is not waited for."""

    def call() -> None:
        deadline = online.Deadline(NAME, online.deadline_s())
        with online.client() as client:
            _post(client, deadline, CHECK_TEXT, DEFAULT_VOICE, DEFAULT_RATE)

    return online.checked(NAME, call)
