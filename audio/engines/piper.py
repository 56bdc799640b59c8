"""Piper: offline neural voices the operator installs (``loa tts install-voice``).

``rate`` is words per minute like the other engines: :data:`DEFAULT_RATE` is the voice's own
speed, a higher rate shortens phonemes (Piper's ``length_scale`` = voice scale × default/rate).
Piper's VITS sampler adds random noise, so two syntheses of one text differ slightly; the
content-addressed cache is what makes a repeated request return the same file.
"""

from __future__ import annotations

import hashlib
import io
import os
import wave
from functools import lru_cache
from importlib import metadata
from pathlib import Path
from typing import Any

from audio.errors import AudioError
from audio.messages import message_for
from audio.voices import installed_voices, voice_files

NAME = "piper"
ONLINE = False
DEFAULT_RATE = 150


def _piper_version() -> str:
    try:
        return metadata.version("piper-tts")
    except metadata.PackageNotFoundError:
        return ""


def available() -> bool:
    return bool(_piper_version()) and bool(installed_voices())


def voices() -> list[str]:
    return installed_voices()


def default_voice() -> str:
    wanted = os.environ.get("LOA_PIPER_VOICE")
    names = installed_voices()
    if wanted and wanted in names:
        return wanted
    vietnamese = [n for n in names if n.startswith("vi")]
    if vietnamese:
        return vietnamese[0]
    if names:
        return names[0]
    raise AudioError("engine_unavailable", message_for("engine_unavailable"))


def default_rate() -> int:
    return DEFAULT_RATE


def _stamp(path: Path) -> tuple[str, int, int]:
    st = path.stat()
    return str(path), st.st_mtime_ns, st.st_size


@lru_cache(maxsize=8)
def _file_hash(stamp: tuple[str, int, int]) -> str:
    digest = hashlib.sha256()
    with open(stamp[0], "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _files(voice: str) -> tuple[Path, Path]:
    model, config = voice_files(voice)
    if not (model.is_file() and config.is_file()):
        raise AudioError("unknown_voice", message_for("unknown_voice", voice=voice, engine=NAME))
    return model, config


def fingerprint(voice: str) -> str:
    model, config = _files(voice)
    return f"piper-tts {_piper_version()} {_file_hash(_stamp(model))} {_file_hash(_stamp(config))}"


@lru_cache(maxsize=2)
def _load(model: tuple[str, int, int], config: tuple[str, int, int]) -> Any:
    from piper import PiperVoice

    return PiperVoice.load(model[0], config_path=config[0])


def synthesize(text: str, voice: str, rate: int) -> bytes:
    model, config = _files(voice)
    try:
        from piper import SynthesisConfig

        loaded = _load(_stamp(model), _stamp(config))
        scale = float(loaded.config.length_scale) * DEFAULT_RATE / max(50, int(rate))
        syn = SynthesisConfig(length_scale=scale)
        buffer = io.BytesIO()
        with wave.open(buffer, "wb") as wav:
            wav.setnchannels(1)
            wav.setsampwidth(2)
            wav.setframerate(int(loaded.config.sample_rate))
            for chunk in loaded.synthesize(text, syn_config=syn):
                wav.writeframes(chunk.audio_int16_bytes)
    except AudioError:
        raise
    except Exception as exc:  # onnxruntime and piper raise many kinds
        raise AudioError("engine_failed", message_for("engine_failed", engine=NAME)) from exc
    data = buffer.getvalue()
    if len(data) <= 44:
        raise AudioError("engine_failed", message_for("engine_failed", engine=NAME))
    return data
