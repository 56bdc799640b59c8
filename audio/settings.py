"""The two value types the controller sees: what to render, and what was rendered."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from audio.errors import AudioError
from audio.messages import message_for

ENGINE_NAMES = ("auto", "espeak-ng", "piper", "gtts", "fpt", "vbee", "viettel", "giong-xa")
MAX_REPEATS = 5
MAX_REPEAT_GAP_S = 30.0


@dataclass(frozen=True)
class VoiceSettings:
    engine: str = "auto"  # "auto" | "espeak-ng" | "piper" | "gtts" | "fpt" | "vbee"
    voice: str | None = None  # engine-specific; None = the engine's default
    rate: int | None = None  # words per minute; None = the engine's measured default
    chime: bool = True  # chime before and after
    repeats: int = 1  # times the speech is said in the file
    repeat_gap_s: float = 2.0

    def check(self) -> None:
        """Raise AudioError("bad_settings") for values out of range."""
        problems = []
        if self.engine not in ENGINE_NAMES:
            raise AudioError("unknown_engine", message_for("unknown_engine", engine=self.engine))
        if self.rate is not None and not 60 <= self.rate <= 400:
            problems.append("tốc độ đọc phải từ 60 đến 400 từ/phút")
        if not 1 <= self.repeats <= MAX_REPEATS:
            problems.append(f"số lần đọc phải từ 1 đến {MAX_REPEATS}")
        if not 0 <= self.repeat_gap_s <= MAX_REPEAT_GAP_S:
            problems.append(f"khoảng nghỉ giữa các lần đọc phải từ 0 đến {MAX_REPEAT_GAP_S:g} giây")
        if problems:
            detail = "; ".join(problems)
            raise AudioError("bad_settings", message_for("bad_settings", detail=detail))


@dataclass(frozen=True)
class RenderedAudio:
    sha256: str  # of the delivered file's bytes
    path: Path  # media_dir / f"{sha256}.mp3"
    bytes: int
    duration_s: float
    engine: str  # which engine actually spoke ("upload" for uploaded files)
    voice: str
    normalized_text: str
