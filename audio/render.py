"""Text or an uploaded file → a delivery-ready MP3 in the media directory.

This is the interface the controller uses: :func:`render_text`, :func:`render_upload`,
:func:`normalize`, :class:`VoiceSettings`, :class:`RenderedAudio`, :class:`AudioError`.
"""

from __future__ import annotations

import contextvars
import logging
import threading
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from audio import cache, chunks, dsp, engines
from audio.engines import online
from audio.engines.base import Engine
from audio.errors import AudioError
from audio.ffmpeg import SAMPLE_RATE, Samples, decode
from audio.messages import message_for
from audio.normalize import normalize
from audio.post import deliver
from audio.settings import RenderedAudio, VoiceSettings
from audio.upload import render_upload

__all__ = [
    "AudioError",
    "RenderedAudio",
    "VoiceSettings",
    "normalize",
    "render_text",
    "render_upload",
]

log = logging.getLogger(__name__)

#: Longest announcement text accepted (characters of input), about 20 minutes of speech.
MAX_TEXT_CHARS = 20_000


def _to_samples(data: bytes) -> Samples:
    wav = dsp.read_wav(data)
    if wav is not None and wav[1] == SAMPLE_RATE:
        return wav[0]
    return decode(data)


def _synthesize_chunk(
    engine: Engine, text: str, voice: str, rate: int, fingerprint: str, cache_dir: Path | None
) -> Samples:
    key = cache.make_key("chunk", engine.NAME, fingerprint, voice, rate, text)
    data = cache.get_chunk(cache_dir, key)
    if data is None:
        data = engine.synthesize(text, voice, rate)
        cache.put_chunk(cache_dir, key, data)
    return dsp.fade(dsp.trim(_to_samples(data)))


def synthesize_speech(
    engine: Engine, normalized: str, voice: str, rate: int, cache_dir: Path | None = None
) -> Samples:
    """The whole text spoken by one engine: chunks trimmed and joined with natural pauses."""
    parts = chunks.split(normalized)
    if not parts:
        raise AudioError("empty_text", message_for("empty_text"))
    fingerprint = engine.fingerprint(voice)
    # espeak-ng runs as a process and gTTS waits on the network: two at a time. Piper shares
    # one ONNX session and phonemizer, so it runs one chunk at a time.
    workers = 1 if engine.NAME == "piper" else 2
    # each chunk runs in the caller's context (an emergency's online budget goes with it);
    # once one chunk failed no other is started: the whole text goes to the next engine, and
    # an online engine would spend a deadline and quota on every chunk still queued
    failed = threading.Event()

    def speak(text: str, context: contextvars.Context) -> Samples:
        if failed.is_set():
            raise AudioError("engine_failed", message_for("engine_failed", engine=engine.NAME))
        try:
            return context.run(_synthesize_chunk, engine, text, voice, rate, fingerprint, cache_dir)
        except BaseException:
            failed.set()
            raise

    contexts = [contextvars.copy_context() for _ in parts]
    with ThreadPoolExecutor(max_workers=workers) as pool:
        spoken = list(pool.map(speak, [text for text, _ in parts], contexts))
    joined: list[Samples] = []
    for samples, (_, pause) in zip(spoken, parts, strict=True):
        joined += [samples, dsp.silence(pause)]
    speech = dsp.join(joined)
    if speech.size == 0 or float(abs(speech).max()) < 1e-4:
        raise AudioError("engine_failed", message_for("engine_failed", engine=engine.NAME))
    return speech


def _voice_for(engine: Engine, settings: VoiceSettings) -> str:
    if settings.voice is None:
        return engine.default_voice()
    if settings.engine == "auto" and settings.voice.partition("+")[0] not in engine.voices():
        return engine.default_voice()  # the voice named another engine's voice
    return settings.voice


def render_text(
    text: str,
    media_dir: Path,
    settings: VoiceSettings = VoiceSettings(),  # noqa: B008 - frozen, so a safe default
    *,
    lexicon: Mapping[str, str] | None = None,
    cache_dir: Path | None = None,
    order: Sequence[str] | None = None,
    online_deadline_s: float | None = None,
) -> RenderedAudio:
    """Speak ``text`` into ``media_dir/{sha256}.mp3``.

    ``settings.engine == "auto"`` tries ``order`` (default :func:`audio.engines.auto_order`)
    and falls back to the next engine when one fails; the result names the engine that spoke.
    An online engine that failed (network, deadline, key, quota, bad reply) trips its breaker
    (:data:`audio.engines.online.breaker`): ``auto`` skips it, unless the render is cached,
    until ``breaker_s`` has passed or it succeeds when named explicitly.
    With ``cache_dir`` a request already rendered (same engine, voice, rate, normalized text and
    post-processing) is returned without synthesizing again.
    ``online_deadline_s`` caps each chunk's deadline for online engines in this call (an
    emergency that must not wait on the Internet longer than its budget).
    """
    with online.budget(online_deadline_s):
        return _render_text(text, media_dir, settings, lexicon, cache_dir, order)


def _render_text(
    text: str,
    media_dir: Path,
    settings: VoiceSettings,
    lexicon: Mapping[str, str] | None,
    cache_dir: Path | None,
    order: Sequence[str] | None,
) -> RenderedAudio:
    settings.check()
    if not text.strip():
        raise AudioError("empty_text", message_for("empty_text"))
    if len(text) > MAX_TEXT_CHARS:
        raise AudioError("text_too_long", message_for("text_too_long", limit=MAX_TEXT_CHARS))
    normalized = normalize(text, lexicon)
    if not chunks.split(normalized):
        raise AudioError("empty_text", message_for("empty_text"))

    auto = settings.engine == "auto"
    names = list(order or engines.auto_order()) if auto else [settings.engine]
    failures: list[AudioError] = []
    for name in names:
        engine = engines.get(name)
        if not engine.available():
            failures.append(AudioError("engine_unavailable", message_for("engine_unavailable")))
            continue
        try:
            voice = _voice_for(engine, settings)
            rate = settings.rate or engine.default_rate()
            key = _render_key(name, engine, voice, rate, normalized, settings)
            hit = cache.get_render(cache_dir, key, media_dir)
            if hit is not None:
                return hit
            if auto and engine.ONLINE and not online.breaker.allows(name):
                log.info(
                    "engine %s skipped for %.0f s after a failure",
                    name,
                    online.breaker.open_for(name),
                )
                failures.append(AudioError("engine_unavailable", message_for("engine_unavailable")))
                continue
            speech = synthesize_speech(engine, normalized, voice, rate, cache_dir)
        except AudioError as exc:
            log.warning("engine %s failed: %s", name, exc)
            if engine.ONLINE and exc.code in ("offline", "engine_failed"):
                online.breaker.trip(name)
            failures.append(exc)
            continue
        if engine.ONLINE:
            online.breaker.close(name)
        result = deliver(
            speech, media_dir, settings, engine=name, voice=voice, normalized_text=normalized
        )
        cache.put_render(cache_dir, key, result)
        return result
    if len(names) == 1 and failures:
        raise failures[0]
    raise AudioError("engine_unavailable", message_for("engine_unavailable"))


def _render_key(
    name: str, engine: Engine, voice: str, rate: float, normalized: str, settings: VoiceSettings
) -> str:
    """The render cache's key: everything that changes the file (engine and its model, voice,
    rate, the normalized text, chime, repeats, post-processing)."""
    return cache.make_key(
        "render",
        name,
        engine.fingerprint(voice),
        voice,
        rate,
        normalized,
        settings.chime,
        settings.repeats,
        settings.repeat_gap_s,
        _post_processing_id(),
    )


def cached_render(
    text: str,
    media_dir: Path,
    settings: VoiceSettings = VoiceSettings(),  # noqa: B008 - frozen, so a safe default
    *,
    lexicon: Mapping[str, str] | None = None,
    cache_dir: Path | None = None,
    order: Sequence[str] | None = None,
) -> RenderedAudio | None:
    """The audio already made for this text and voice, without calling any engine; else None.

    Looks up the render cache for each engine :func:`render_text` would try (``order`` for
    ``auto``), in that order, exactly as it keys its renders: the same text, lexicon, voice,
    rate and post-processing give the same file. An emergency uses it before it spends its
    budget on an engine. Bad settings or empty text are None (``render_text`` says why).
    """
    if cache_dir is None or not text.strip():
        return None
    try:
        settings.check()
        normalized = normalize(text, lexicon)
        names = (
            list(order or engines.auto_order()) if settings.engine == "auto" else [settings.engine]
        )
        for name in names:
            engine = engines.get(name)
            if not engine.available():
                continue
            voice = _voice_for(engine, settings)
            rate = settings.rate or engine.default_rate()
            key = _render_key(name, engine, voice, rate, normalized, settings)
            hit = cache.get_render(cache_dir, key, media_dir)
            if hit is not None:
                return hit
    except AudioError:
        return None
    return None


def _post_processing_id() -> str:
    from audio import chime, chunks, ffmpeg, post

    return (
        f"I={ffmpeg.TARGET_I} TP={ffmpeg.TARGET_TP} "
        f"sr={ffmpeg.SAMPLE_RATE} br={ffmpeg.BITRATE} chime={chime.NOTES} "
        f"pauses={chunks.SENTENCE_PAUSE_S},{chunks.PARAGRAPH_PAUSE_S},{chunks.CLAUSE_PAUSE_S} "
        f"gap={post.CHIME_GAP_S} edge={post.EDGE_S}"
    )
