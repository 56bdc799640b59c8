"""The one exception the audio package raises to its callers."""

from __future__ import annotations


class AudioError(Exception):
    """A failure the controller can show to an official.

    ``code`` is a stable English identifier (for the API and for tests); ``message`` is the
    Vietnamese sentence shown in the UI (see :mod:`audio.messages`).
    """

    def __init__(self, code: str, message: str | None = None) -> None:
        if message is None:
            from audio.messages import message_for

            message = message_for(code)
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
