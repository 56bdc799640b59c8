"""Sheets: what the announcer reads in one take, 10–20 syllables, best coverage gain first.

A syllable's coverage gain is how often it is said in the commune's texts, so the sheets take
the syllables not yet recorded in frequency order: the first sheets gain the most. Within a
sheet the order is kept (most frequent first); the announcer reads left to right with a short
pause after each syllable.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from audio.voicebank.coverage import ranked
from audio.voicebank.messages import error
from audio.voicebank.syllables import canonical, is_syllable

MIN_SHEET = 10
MAX_SHEET = 20
DEFAULT_SHEET = 15


@dataclass(frozen=True)
class Sheet:
    number: int  # 1-based, in recording order
    syllables: tuple[str, ...]
    gain: int  # syllables said in the texts that this sheet adds
    coverage_after: float  # share of running text covered once this sheet is recorded

    @property
    def text(self) -> str:
        """What the page shows the announcer: the syllables with clear separators."""
        return "  ·  ".join(self.syllables)


def check_sheet(syllables: Sequence[str]) -> tuple[str, ...]:
    """A sheet given by a caller (a page, a re-recording): canonical, valid, no repeats,
    1 to :data:`MAX_SHEET` syllables (one syllable is a re-recording)."""
    out = tuple(canonical(s) for s in syllables)
    if not out or len(out) > MAX_SHEET:
        raise error("bad_sheet", detail=f"cần từ 1 đến {MAX_SHEET} tiếng, có {len(out)}")
    for s in out:
        if not is_syllable(s):
            raise error("bad_syllable", syllable=s)
    if len(set(out)) != len(out):
        raise error("bad_sheet", detail="một tiếng xuất hiện hai lần")
    return out


def make_sheets(
    counts: Mapping[str, int],
    recorded: Iterable[str] = (),
    size: int = DEFAULT_SHEET,
    limit: int | None = None,
) -> list[Sheet]:
    """The sheets still to record, best first: syllables not in ``recorded``, by frequency,
    ``size`` (10–20) to a sheet; the last sheet may be shorter. ``limit`` keeps the first N."""
    if not MIN_SHEET <= size <= MAX_SHEET:
        raise error("bad_sheet", detail=f"mỗi tờ từ {MIN_SHEET} đến {MAX_SHEET} tiếng")
    have = set(recorded)
    total = sum(counts.values()) or 1
    covered = sum(n for s, n in counts.items() if s in have)
    todo = [(s, n) for s, n in ranked(counts) if s not in have and is_syllable(s)]
    sheets: list[Sheet] = []
    for start in range(0, len(todo), size):
        part = todo[start : start + size]
        gain = sum(n for _, n in part)
        covered += gain
        sheets.append(Sheet(len(sheets) + 1, tuple(s for s, _ in part), gain, covered / total))
        if limit is not None and len(sheets) >= limit:
            break
    return sheets


def sheets_for(syllables: Sequence[str], size: int = DEFAULT_SHEET) -> list[Sheet]:
    """Sheets for a given list (the syllables an announcement lacks), in the given order,
    repeats dropped; gains are not known here (0)."""
    seen: dict[str, None] = {}
    for s in syllables:
        c = canonical(s)
        if is_syllable(c):
            seen.setdefault(c, None)
    todo = list(seen)
    size = max(1, min(MAX_SHEET, size))
    return [
        Sheet(i + 1, tuple(todo[start : start + size]), 0, 0.0)
        for i, start in enumerate(range(0, len(todo), size))
    ]
