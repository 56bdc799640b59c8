"""Expansion of a schedule into occurrences over a horizon ``[start, end)`` in UTC."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Final

from dateutil.rrule import rruleset

from schedules.model import Schedule
from schedules.times import LOCAL_TZ, occurrence_key, require_aware

#: How far :func:`next_occurrence` looks by default.
LOOKAHEAD: Final = timedelta(days=5 * 366)


@dataclass(frozen=True, order=True)
class Occurrence:
    """One time a broadcast plays: ``at`` (aware UTC) and its stable ``key`` (see
    :func:`schedules.times.occurrence_key`: ``2026-11-27T06:00:00Z``)."""

    at: datetime
    key: str

    @property
    def local(self) -> datetime:
        """``at`` in Asia/Ho_Chi_Minh, for display."""
        return self.at.astimezone(LOCAL_TZ)


def occurrences(schedule: Schedule, start: datetime, end: datetime) -> list[Occurrence]:
    """Every occurrence with ``start <= at < end``, sorted, without duplicates.

    ``start`` and ``end`` must be aware (any zone; results are UTC). The same schedule always
    yields the same keys, whatever the horizon: a key depends only on the occurrence's instant.
    """
    start = require_aware(start, "start").astimezone(UTC)
    end = require_aware(end, "end").astimezone(UTC)
    if end <= start:
        return []
    if schedule.at is not None:
        at = schedule.at
        return [Occurrence(at, occurrence_key(at))] if start <= at < end else []
    rule = schedule.rule
    assert rule is not None
    rs = rruleset()
    for r in rule.rrules(not_before=start, not_after=end):
        rs.rrule(r)
    out = []
    for dt in rs.between(start, end, inc=True):
        at = dt.astimezone(UTC)
        if start <= at < end:
            out.append(Occurrence(at, occurrence_key(at)))
    return out


def occurrences_overlapping(
    schedule: Schedule, start: datetime, end: datetime, occupied: timedelta
) -> list[Occurrence]:
    """Occurrences whose time on air ``[at, at + occupied)`` intersects ``[start, end)``.

    Unlike :func:`occurrences` this includes one that began before ``start`` and still plays.
    """
    start = require_aware(start, "start").astimezone(UTC)
    found = occurrences(schedule, start - occupied, end)
    return [o for o in found if o.at + occupied > start]


def next_occurrence(
    schedule: Schedule, after: datetime, *, within: timedelta = LOOKAHEAD
) -> Occurrence | None:
    """The first occurrence at or after ``after``, looking no further than ``within``."""
    after = require_aware(after, "after").astimezone(UTC)
    step = timedelta(days=31)
    lo = after
    while lo < after + within:
        hi = min(lo + step, after + within)
        found = occurrences(schedule, lo, hi)
        if found:
            return found[0]
        lo, step = hi, step * 4
    return None
