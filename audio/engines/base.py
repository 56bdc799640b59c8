"""What every speech engine provides. Engines are modules with these functions."""

from __future__ import annotations

from typing import Protocol


class Engine(Protocol):
    #: The name used in settings and recorded on announcements.
    NAME: str
    #: Whether it needs the Internet (``auto``'s breaker skips a failed online engine a while).
    ONLINE: bool

    def available(self) -> bool:
        """Cheap check that the engine can be tried at all (binary, voice files, library)."""
        ...

    def voices(self) -> list[str]: ...

    def default_voice(self) -> str: ...

    def default_rate(self) -> int: ...

    def fingerprint(self, voice: str) -> str:
        """What, besides text, voice and rate, changes this engine's output (its version, the
        voice file's hash): part of the cache key."""
        ...

    def synthesize(self, text: str, voice: str, rate: int) -> bytes:
        """One chunk of normalized text → a complete audio file (WAV or MP3 bytes).

        Raises :class:`audio.errors.AudioError` on failure.
        """
        ...
