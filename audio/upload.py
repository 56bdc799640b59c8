"""Uploaded or recorded audio → checked with ffprobe → the same delivery format and loudness."""

from __future__ import annotations

import threading
from pathlib import Path

from audio import dsp
from audio.errors import AudioError
from audio.ffmpeg import SAMPLE_RATE, decode, probe
from audio.messages import message_for
from audio.post import deliver
from audio.settings import RenderedAudio, VoiceSettings

#: Largest upload accepted, and longest duration.
MAX_UPLOAD_BYTES = 50 * 1024 * 1024
MAX_UPLOAD_SECONDS = 30 * 60.0

#: ffprobe format names accepted: WAV, MP3, M4A/AAC, OGG (Vorbis/Opus), WebM (MediaRecorder),
#: FLAC.
ACCEPTED_FORMATS = frozenset(
    {"wav", "mp3", "mov", "mp4", "m4a", "ogg", "matroska", "webm", "flac", "aac"}
)


def _too_long() -> AudioError:
    return AudioError("too_long", message_for("too_long", limit=f"{MAX_UPLOAD_SECONDS / 60:g}"))


def check_upload(source: Path) -> float | None:
    """Raise AudioError unless ``source`` is an audio file within limits; return its duration
    when the container states one (a browser's WebM recording often does not)."""
    try:
        size = source.stat().st_size
    except OSError as exc:
        raise AudioError("not_audio", message_for("not_audio")) from exc
    if size > MAX_UPLOAD_BYTES:
        mb = f"{MAX_UPLOAD_BYTES / 1024 / 1024:g}"
        raise AudioError("too_large", message_for("too_large", limit=mb))
    info = probe(source) if size else None
    if not info:
        raise AudioError("not_audio", message_for("not_audio"))
    fmt = info.get("format")
    streams = info.get("streams")
    if not isinstance(fmt, dict) or not isinstance(streams, list):
        raise AudioError("not_audio", message_for("not_audio"))
    names = set(str(fmt.get("format_name", "")).split(","))
    has_audio = any(isinstance(s, dict) and s.get("codec_type") == "audio" for s in streams)
    if not has_audio or not names & ACCEPTED_FORMATS:
        raise AudioError("not_audio", message_for("not_audio"))
    try:
        duration = float(fmt.get("duration", "nan"))
    except (TypeError, ValueError):
        duration = float("nan")
    if duration == duration:  # not NaN
        if duration > MAX_UPLOAD_SECONDS:
            raise _too_long()
        return duration
    return None


def render_upload(
    source: Path,
    media_dir: Path,
    settings: VoiceSettings = VoiceSettings(),  # noqa: B008 - frozen, so a safe default
) -> RenderedAudio:
    """Validate an uploaded file and deliver it like synthesized speech (trimmed, loudness
    normalized, chime and repeats as ``settings`` say, mono MP3).

    One upload is delivered at a time per process: each may take a few hundred MB at its peak
    (bench/upload_memory.py), and a small controller must survive several officials uploading
    at once; the others wait their turn."""
    settings.check()
    check_upload(source)
    with _one_at_a_time:
        return _deliver_upload(source, media_dir, settings)


#: Uploads are delivered one at a time (see :func:`render_upload`).
_one_at_a_time = threading.Lock()


def _deliver_upload(source: Path, media_dir: Path, settings: VoiceSettings) -> RenderedAudio:
    try:
        samples = decode(source, max_seconds=MAX_UPLOAD_SECONDS + 1)
    except AudioError as exc:
        raise AudioError("not_audio", message_for("not_audio")) from exc
    if samples.size > MAX_UPLOAD_SECONDS * SAMPLE_RATE:
        raise _too_long()
    # Memory (issue 12, finding 9): the decoded samples are dropped as soon as the faded copy
    # exists, and every step below works a chunk at a time or in one new array; the longest
    # allowed upload peaks near 0.35 GB instead of 1.2 GB (bench/upload_memory.py).
    speech = dsp.trim(samples)
    del samples
    if speech.size == 0:
        raise AudioError("empty_audio", message_for("empty_audio"))
    speech = dsp.fade(speech)  # a copy, so the decoded buffer goes
    return deliver(
        speech, media_dir, settings, engine="upload", voice="", normalized_text="", owned=True
    )
