"""Syllable frequencies and coverage: how many syllables a bank needs, and how much it reads.

*Coverage* is over running text: the share of all syllables said (tokens, not distinct
syllables) that a set of recorded syllables can say. Recording the most frequent syllables first
gains the most coverage per syllable recorded, so the sheets follow frequency order.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from audio.voicebank.syllables import spoken_syllables_many, tone

#: The coverage levels ``loa voicebank coverage`` reports.
LEVELS = (0.90, 0.95, 0.99)
#: Recording time per syllable, stated (not measured on a person): about 0.5 s to say a syllable
#: in isolation, 0.5 s of pause after it, and 50 % more for re-takes, turning sheets and
#: listening back. The command takes ``--seconds-per-syllable`` to use a commune's own figure.
SECONDS_PER_SYLLABLE = 1.5


def count_syllables(texts: Iterable[str], lexicon: Mapping[str, str] | None = None) -> Counter[str]:
    """How often each syllable is said in ``texts`` (normalized first: numbers are words)."""
    counts: Counter[str] = Counter()
    for said in spoken_syllables_many(texts, lexicon):
        counts.update(said)
    return counts


def ranked(counts: Mapping[str, int]) -> list[tuple[str, int]]:
    """Most frequent first; ties by the syllable itself, so the order is stable."""
    return sorted(counts.items(), key=lambda item: (-item[1], item[0]))


@dataclass(frozen=True)
class CoverageLevel:
    level: float  # 0.90
    syllables: int  # distinct syllables needed to reach it
    recording_s: float  # at the stated seconds per syllable


@dataclass(frozen=True)
class CoverageTable:
    texts: int
    tokens: int  # syllables said in all texts
    distinct: int  # distinct syllables
    levels: tuple[CoverageLevel, ...]
    seconds_per_syllable: float

    @property
    def full_recording_s(self) -> float:
        return self.distinct * self.seconds_per_syllable


def syllables_for(counts: Mapping[str, int], level: float) -> int:
    """The fewest syllables (most frequent first) that cover ``level`` of running text."""
    total = sum(counts.values())
    if total == 0:
        return 0
    covered = 0
    for i, (_, n) in enumerate(ranked(counts), start=1):
        covered += n
        if covered >= level * total - 1e-9:
            return i
    return len(counts)


def coverage_table(
    counts: Mapping[str, int],
    texts: int,
    seconds_per_syllable: float = SECONDS_PER_SYLLABLE,
    levels: Sequence[float] = LEVELS,
) -> CoverageTable:
    rows = []
    for level in levels:
        n = syllables_for(counts, level)
        rows.append(CoverageLevel(level, n, n * seconds_per_syllable))
    return CoverageTable(
        texts=texts,
        tokens=sum(counts.values()),
        distinct=len(counts),
        levels=tuple(rows),
        seconds_per_syllable=seconds_per_syllable,
    )


def frequency_rows(counts: Mapping[str, int]) -> list[tuple[str, int, float, float, str]]:
    """``(syllable, count, share, cumulative share, tone)``, most frequent first."""
    total = sum(counts.values()) or 1
    out = []
    cumulative = 0
    for syllable, n in ranked(counts):
        cumulative += n
        out.append((syllable, n, n / total, cumulative / total, tone(syllable)))
    return out


@dataclass(frozen=True)
class BankCoverage:
    """How much of some texts a bank can read: the meter on the recording page."""

    tokens: int
    covered_tokens: int
    texts: int
    readable_texts: int  # texts with every syllable recorded (read whole by giọng xã)
    missing: tuple[tuple[str, int], ...]  # missing syllables, most frequent first

    @property
    def share(self) -> float:
        return self.covered_tokens / self.tokens if self.tokens else 1.0

    def meter(self, period: str = "trong các bản tin 3 tháng qua") -> str:
        """``giọng xã đọc được 96% số tiếng trong các bản tin 3 tháng qua``."""
        return f"giọng xã đọc được {self.share * 100:.0f}% số tiếng {period}".strip()


def bank_coverage(
    recorded: Iterable[str], texts: Sequence[str], lexicon: Mapping[str, str] | None = None
) -> BankCoverage:
    return coverage_of_said(recorded, spoken_syllables_many(texts, lexicon))


def coverage_of_said(recorded: Iterable[str], said_all: Sequence[Sequence[str]]) -> BankCoverage:
    """:func:`bank_coverage` of texts already split into their spoken syllables (one list per
    text), so a caller can keep the split (normalizing is the slow part) across banks."""
    have = set(recorded)
    tokens = covered = readable = 0
    missing: Counter[str] = Counter()
    for said in said_all:
        gaps = [s for s in said if s not in have]
        tokens += len(said)
        covered += len(said) - len(gaps)
        readable += 0 if gaps else 1
        missing.update(gaps)
    return BankCoverage(
        tokens=tokens,
        covered_tokens=covered,
        texts=len(said_all),
        readable_texts=readable,
        missing=tuple(ranked(missing)),
    )


def format_duration(seconds: float) -> str:
    """``1 giờ 05 phút``, ``12 phút``: recording times as an announcer reads them."""
    minutes = round(seconds / 60)
    if minutes < 60:
        return f"{minutes} phút"
    return f"{minutes // 60} giờ {minutes % 60:02d} phút"
