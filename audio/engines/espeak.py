"""espeak-ng: the offline voice that is always there (Debian package ``espeak-ng``)."""

from __future__ import annotations

import shutil
import subprocess
from functools import lru_cache

from audio.errors import AudioError
from audio.messages import message_for

NAME = "espeak-ng"
ONLINE = False
VOICES = ("vi", "vi-vn-x-south", "vi-vn-x-central")
FEMALE_VARIANT = "f2"
#: Chosen by bench/audio_intelligibility.py (lowest word error rate with viet-asr).
DEFAULT_VOICE = "vi+f2"
DEFAULT_RATE = 145
#: espeak-ng's pitch (0-99); 50 is its own default.
PITCH = 50


def _exe() -> str | None:
    return shutil.which("espeak-ng")


def available() -> bool:
    return _exe() is not None


def voices() -> list[str]:
    """The three regional voices, each in espeak-ng's male default and its ``+f2`` female
    variant (the variant the intelligibility bench scored best)."""
    return [v for base in VOICES for v in (base, f"{base}+{FEMALE_VARIANT}")]


@lru_cache(maxsize=1)
def variants() -> frozenset[str]:
    """espeak-ng's voice variants (``vi+f3``, ``vi+klatt`` …: other timbres on one language)."""
    exe = _exe()
    if exe is None:
        return frozenset()
    out = subprocess.run([exe, "--voices=variant"], capture_output=True, text=True, check=False)
    found = set()
    for line in out.stdout.splitlines()[1:]:
        fields = line.split()
        if len(fields) >= 5 and fields[4].startswith("!v/"):
            found.add(fields[4][3:])
    return frozenset(found)


def is_voice(voice: str) -> bool:
    """A Vietnamese voice, optionally with a variant: ``vi``, ``vi-vn-x-south+f3``."""
    base, _, variant = voice.partition("+")
    return base in VOICES and (not variant or variant in variants())


def default_voice() -> str:
    return DEFAULT_VOICE


def default_rate() -> int:
    return DEFAULT_RATE


@lru_cache(maxsize=1)
def _version() -> str:
    exe = _exe()
    if exe is None:
        return "missing"
    out = subprocess.run([exe, "--version"], capture_output=True, text=True, check=False)
    return out.stdout.strip()


def fingerprint(voice: str) -> str:
    return f"{_version()} pitch={PITCH}"


def synthesize(text: str, voice: str, rate: int) -> bytes:
    exe = _exe()
    if exe is None:
        raise AudioError("engine_unavailable", message_for("engine_unavailable"))
    if not is_voice(voice):
        raise AudioError("unknown_voice", message_for("unknown_voice", voice=voice, engine=NAME))
    rate = max(80, min(450, int(rate)))
    proc = subprocess.run(
        [exe, "-v", voice, "-s", str(rate), "-p", str(PITCH), "-b", "1", "--stdout"],
        input=text.encode("utf-8"),
        capture_output=True,
        timeout=120,
        check=False,
    )
    if proc.returncode != 0 or len(proc.stdout) <= 44:
        raise AudioError("engine_failed", message_for("engine_failed", engine=NAME))
    return proc.stdout
