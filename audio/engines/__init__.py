"""The speech engines, by name, and the order ``auto`` tries them in."""

from __future__ import annotations

import os
from typing import cast

from audio.engines import espeak, gtts, piper
from audio.engines.base import Engine
from audio.errors import AudioError
from audio.messages import message_for

ENGINES: dict[str, Engine] = {m.NAME: cast(Engine, m) for m in (piper, gtts, espeak)}

#: ``auto``'s order when ``$LOA_TTS_ORDER`` is not set: offline engines only, best first, so a
#: commune without Internet never waits on a network timeout. Deployments online can set
#: ``LOA_TTS_ORDER=gtts,piper,espeak-ng``.
DEFAULT_ORDER = ("piper", "espeak-ng")


def get(name: str) -> Engine:
    try:
        return ENGINES[name]
    except KeyError:
        raise AudioError("unknown_engine", message_for("unknown_engine", engine=name)) from None


def auto_order() -> tuple[str, ...]:
    raw = os.environ.get("LOA_TTS_ORDER", "")
    names = tuple(n.strip() for n in raw.split(",") if n.strip())
    for name in names:
        get(name)
    return names or DEFAULT_ORDER


def catalog() -> list[dict[str, object]]:
    """What the controller's voice picker shows: every engine, whether it can be used here,
    its voices and defaults, with Vietnamese labels."""
    from audio.messages import ENGINE_LABELS, VOICE_LABELS

    rows: list[dict[str, object]] = []
    for name, engine in ENGINES.items():
        usable = engine.available()
        voices = engine.voices() if usable else []
        rows.append(
            {
                "engine": name,
                "label": ENGINE_LABELS.get(name, name),
                "available": usable,
                "voices": [{"voice": v, "label": VOICE_LABELS.get(v, v)} for v in voices],
                "default_voice": engine.default_voice() if usable else None,
                "default_rate": engine.default_rate(),
            }
        )
    return rows
