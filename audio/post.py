"""Speech samples → the delivered file: loudness, chime, repeats, MP3, content address."""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

from audio import dsp
from audio.chime import chime
from audio.ffmpeg import SAMPLE_RATE, Samples, encode_mp3
from audio.loudness import normalize_loudness
from audio.settings import RenderedAudio, VoiceSettings

#: Silence between a chime and the speech, and at the very start and end of the file.
CHIME_GAP_S = 0.5
EDGE_S = 0.2


def assemble(speech: Samples, settings: VoiceSettings, *, owned: bool = False) -> Samples:
    """Loudness-normalized speech, said ``repeats`` times with gaps, between chimes.

    ``owned``: the caller hands ``speech`` over, so it is normalized in place (a long upload is
    not copied once more)."""
    speech = normalize_loudness(speech, in_place=owned)
    parts: list[Samples] = [dsp.silence(EDGE_S)]
    if settings.chime:
        parts += [chime(rising=True), dsp.silence(CHIME_GAP_S)]
    for i in range(settings.repeats):
        if i:
            parts.append(dsp.silence(settings.repeat_gap_s))
        parts.append(speech)
    if settings.chime:
        parts += [dsp.silence(CHIME_GAP_S), chime(rising=False)]
    parts.append(dsp.silence(EDGE_S))
    return dsp.join(parts)


def store(samples: Samples, media_dir: Path) -> tuple[str, Path, int]:
    """Encode into ``media_dir/{sha256}.mp3`` (temp file + os.replace); return sha, path, size."""
    media_dir.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=media_dir, prefix=".render-", suffix=".mp3")
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        encode_mp3(samples, tmp)
        digest = hashlib.sha256(tmp.read_bytes()).hexdigest()
        size = tmp.stat().st_size
        final = media_dir / f"{digest}.mp3"
        os.replace(tmp, final)
    finally:
        tmp.unlink(missing_ok=True)
    return digest, final, size


def deliver(
    speech: Samples,
    media_dir: Path,
    settings: VoiceSettings,
    *,
    engine: str,
    voice: str,
    normalized_text: str,
    owned: bool = False,
) -> RenderedAudio:
    samples = assemble(speech, settings, owned=owned)
    digest, path, size = store(samples, media_dir)
    return RenderedAudio(
        sha256=digest,
        path=path,
        bytes=size,
        duration_s=round(samples.size / SAMPLE_RATE, 3),
        engine=engine,
        voice=voice,
        normalized_text=normalized_text,
    )
