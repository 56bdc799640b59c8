"""The speech engines, by name, and the order ``auto`` tries them in."""

from __future__ import annotations

import os
from typing import cast

from audio.engines import espeak, fpt, giong_xa, gtts, online, piper, vbee, viettel
from audio.engines.base import Engine
from audio.errors import AudioError
from audio.messages import message_for

ENGINES: dict[str, Engine] = {
    m.NAME: cast(Engine, m) for m in (giong_xa, fpt, vbee, viettel, gtts, piper, espeak)
}

#: The online engines with an account (:mod:`audio.engines.online`), best first: ``auto`` tries
#: those that are configured before the offline ones.
CLOUD_ORDER = ("fpt", "vbee", "viettel")

#: The commune's own voice (a recorded bank) comes first: it refuses a text it lacks a syllable
#: for, and the next engine then reads the whole announcement.
OWN_VOICE = ("giong-xa",)

#: ``auto``'s offline order: best first; espeak-ng is always there.
DEFAULT_ORDER = ("piper", "espeak-ng")


def get(name: str) -> Engine:
    try:
        return ENGINES[name]
    except KeyError:
        raise AudioError("unknown_engine", message_for("unknown_engine", engine=name)) from None


def auto_order() -> tuple[str, ...]:
    """``$LOA_TTS_ORDER`` (comma-separated) when set; else giọng xã when a bank is recorded,
    the online engines that have an account (FPT.AI, then Vbee), then Piper, then espeak-ng.
    Without accounts this is offline only, so a commune without Internet never waits on a
    network timeout."""
    raw = os.environ.get("LOA_TTS_ORDER", "")
    names = tuple(n.strip() for n in raw.split(",") if n.strip())
    for name in names:
        get(name)
    if names:
        return names
    own = tuple(n for n in OWN_VOICE if ENGINES[n].available())
    return own + tuple(n for n in CLOUD_ORDER if ENGINES[n].available()) + DEFAULT_ORDER


def is_online(name: str) -> bool:
    return get(name).ONLINE


def check(name: str) -> online.EngineCheck:
    """A real call to an online engine: its state for the voices page (ready, not configured,
    wrong key, out of quota, unreachable, failed). Raises ``unknown_engine`` for others."""
    engine = get(name)
    checker = getattr(engine, "check", None)
    if checker is None:
        raise AudioError("unknown_engine", message_for("unknown_engine", engine=name))
    result = checker()
    assert isinstance(result, online.EngineCheck)
    return result


def catalog() -> list[dict[str, object]]:
    """What the controller's voice picker shows: every engine, whether it can be used here
    (an online engine: whether it has an account), whether it is online, its voices and
    defaults, with Vietnamese labels (``audio.voices.voice_label``)."""
    from audio.messages import ENGINE_LABELS
    from audio.voices import voice_label

    rows: list[dict[str, object]] = []
    for name, engine in ENGINES.items():
        usable = engine.available()
        voices = engine.voices() if usable else []
        rows.append(
            {
                "engine": name,
                "label": ENGINE_LABELS.get(name, name),
                "available": usable,
                "online": is_online(name),
                "voices": [{"voice": v, "label": voice_label(name, v)} for v in voices],
                "default_voice": engine.default_voice() if usable else None,
                "default_rate": engine.default_rate(),
            }
        )
    return rows
