"""An emergency's speech: the audio already made for its text, or the fastest engine that
answers within its budget — an emergency never waits on the Internet.

Rules:

- The audio already made for the exact text and voice (the render cache, kept by content: the
  same text, lexicon, voice, rate and post-processing) is used first, without calling any
  engine (``audio.render.cached_render``).
- Otherwise the engines of ``auto``'s order are tried in turn. The online ones (FPT.AI, Vbee,
  Viettel AI, gTTS) share one budget, ``Settings.emergency_speech_budget_s`` (4 s; env
  ``LOA_EMERGENCY_SPEECH_BUDGET_S``), counted from the start: each gets at most what is left
  of it, as its per-chunk deadline and as a wall-clock limit on waiting for it (an attempt past
  it is abandoned: it ends on its own deadline in the background and its audio, if any, goes to
  the cache). An online engine whose breaker is open is skipped, as ``auto`` does.
- The offline engines (Piper, then espeak-ng) are the guaranteed fallback and are not timed.
- The result names the engine that spoke, whether the audio was already made, and how long
  the speech took (:class:`EmergencySpeech`). No engine could speak: ApiError
  ``render_failed``, as for any announcement.
"""

from __future__ import annotations

import contextvars
import functools
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from typing import Any

from audio import engines
from audio.errors import AudioError
from audio.messages import ENGINE_LABELS, message_for
from audio.settings import VoiceSettings
from audio.voices import voice_label
from controller.core.db import Store
from controller.core.errors import ApiError
from controller.core.settings import Settings
from controller.domain.announcements import lexicon

log = logging.getLogger(__name__)

#: An online engine is not started with less than this left of the budget.
MIN_ATTEMPT_S = 0.3
#: Online attempts run here so that waiting on one can stop at the budget.
_ATTEMPTS = ThreadPoolExecutor(max_workers=4, thread_name_prefix="emergency-speech")


@dataclass(frozen=True)
class EmergencySpeech:
    rendered: Any  # audio.settings.RenderedAudio
    cached: bool
    seconds: float

    def facts(self) -> dict[str, Any]:
        """What the emergency page and API say about it."""
        return {
            "engine": self.rendered.engine,
            "voice": self.rendered.voice,
            "cached": self.cached,
            "seconds": round(self.seconds, 2),
        }


def speak(store: Store, settings: Settings, text: str) -> EmergencySpeech:
    """Speech for an emergency's ``text`` with the default voice (see the module's rules)."""
    from audio.render import cached_render, render_text  # lazy: numpy and the engines

    started = time.monotonic()
    voice = VoiceSettings()
    words = lexicon(store.db) or None
    order = list(engines.auto_order())
    common: dict[str, Any] = {"lexicon": words, "cache_dir": settings.tts_cache_dir}
    hit = cached_render(text, settings.media_dir, voice, order=order, **common)
    if hit is not None:
        return EmergencySpeech(hit, True, time.monotonic() - started)
    budget = settings.emergency_speech_budget_s
    offline: list[str] = []
    failure: AudioError | None = None
    for name in order:
        if not engines.is_online(name):
            offline.append(name)
            continue
        left = budget - (time.monotonic() - started)
        if left < MIN_ATTEMPT_S:
            log.warning("emergency speech: budget spent, %s not tried", name)
            continue
        context = contextvars.copy_context()
        attempt = _ATTEMPTS.submit(
            context.run,
            functools.partial(
                render_text,
                text,
                settings.media_dir,
                voice,
                order=[name],  # auto with one engine: its breaker is respected
                online_deadline_s=left,
                **common,
            ),
        )
        try:
            rendered = attempt.result(timeout=left)
        except FutureTimeout:
            log.warning("emergency speech: %s did not answer within %.1f s", name, left)
            continue
        except AudioError as exc:
            log.warning("emergency speech: %s failed: %s", name, exc.code)
            failure = exc
            continue
        return EmergencySpeech(rendered, False, time.monotonic() - started)
    try:
        if not offline:
            raise failure or AudioError("engine_unavailable", message_for("engine_unavailable"))
        rendered = render_text(text, settings.media_dir, voice, order=offline, **common)
    except AudioError as exc:
        raise ApiError(422, "render_failed", field="text", detail=exc.message) from exc
    return EmergencySpeech(rendered, False, time.monotonic() - started)


def spoken_by(db: Any, broadcast_id: int) -> dict[str, str] | None:
    """The engine and voice that spoke a broadcast's announcement (with their names as
    officials know them), or None when it has no spoken text (an upload, a relay, live)."""
    row = db.execute(
        "SELECT a.engine, a.voice FROM broadcasts b JOIN announcements a "
        "ON a.id = b.announcement_id WHERE b.id = ?",
        [broadcast_id],
    ).fetchone()
    if row is None or not row[0]:
        return None
    engine, voice = str(row[0]), str(row[1] or "")
    return {
        "engine": engine,
        "voice": voice,
        "engine_label": ENGINE_LABELS.get(engine, engine),
        "voice_label": voice_label(engine, voice) if voice else "",
    }
