"""gTTS: Google Translate's voice (online). Best Vietnamese quality, needs the Internet.

gTTS builds the requests (text split at Google's 100-character limit, the RPC envelope); Loa
sends them itself with httpx for timeouts, retries and a clear error when offline. The endpoint
is ``$LOA_GTTS_URL`` when set (tests point it at a local fake), else Google's.
"""

from __future__ import annotations

import base64
import os
import re
import time
from importlib import metadata

from audio.errors import AudioError
from audio.messages import message_for

NAME = "gtts"
ONLINE = True
DEFAULT_URL = "https://translate.google.com/_/TranslateWebserverUi/data/batchexecute"
#: Below this words-per-minute figure gTTS's "slow" voice is used.
SLOW_BELOW_RATE = 130
DEFAULT_RATE = 150
CONNECT_TIMEOUT_S = 3.0
READ_TIMEOUT_S = 15.0
ATTEMPTS = 3
BACKOFF_S = 0.5

_AUDIO = re.compile(r'jQ1olc","\[\\"(.*?)\\"]')


def url() -> str:
    return os.environ.get("LOA_GTTS_URL", DEFAULT_URL)


def available() -> bool:
    try:
        metadata.version("gTTS")
        metadata.version("httpx")
    except metadata.PackageNotFoundError:
        return False
    return True


def voices() -> list[str]:
    return ["vi"]


def default_voice() -> str:
    return "vi"


def default_rate() -> int:
    return DEFAULT_RATE


def fingerprint(voice: str) -> str:
    return f"gTTS {metadata.version('gTTS')}"


def request_bodies(text: str, voice: str, rate: int) -> list[str]:
    from gtts import gTTS

    tts = gTTS(text, lang=voice, slow=rate < SLOW_BELOW_RATE, lang_check=False)
    return [str(body) for body in tts.get_bodies()]


def _post(client: object, body: str) -> bytes:
    import httpx

    assert isinstance(client, httpx.Client)
    last: Exception | None = None
    for attempt in range(ATTEMPTS):
        if attempt:
            time.sleep(BACKOFF_S * attempt)
        try:
            response = client.post(url(), content=body.encode("utf-8"))
        except httpx.TransportError as exc:
            last = exc
            continue
        if response.status_code >= 500 or response.status_code == 429:
            last = RuntimeError(f"HTTP {response.status_code}")
            continue
        if response.status_code != 200:
            raise AudioError("engine_failed", message_for("engine_failed", engine=NAME))
        found = _AUDIO.findall(response.text)
        if not found:
            raise AudioError("engine_failed", message_for("engine_failed", engine=NAME))
        return b"".join(base64.b64decode(part) for part in found)
    if isinstance(last, RuntimeError):
        raise AudioError("engine_failed", message_for("engine_failed", engine=NAME)) from last
    raise AudioError("offline", message_for("offline")) from last


def synthesize(text: str, voice: str, rate: int) -> bytes:
    import httpx

    if voice not in voices():
        raise AudioError("unknown_voice", message_for("unknown_voice", voice=voice, engine=NAME))
    headers = {
        "Referer": "http://translate.google.com/",
        "User-Agent": "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36",
        "Content-Type": "application/x-www-form-urlencoded;charset=utf-8",
    }
    timeout = httpx.Timeout(READ_TIMEOUT_S, connect=CONNECT_TIMEOUT_S)
    with httpx.Client(timeout=timeout, headers=headers, trust_env=True) as client:
        parts = [_post(client, body) for body in request_bodies(text, voice, rate)]
    data = b"".join(parts)
    if not data:
        raise AudioError("engine_failed", message_for("engine_failed", engine=NAME))
    return data
