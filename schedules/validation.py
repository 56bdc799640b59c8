"""Checking new input: the constructors the controller uses when an official saves a schedule."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import pairwise
from typing import Final

from schedules.errors import ScheduleError
from schedules.expansion import LOOKAHEAD, Occurrence, next_occurrence, occurrences
from schedules.model import DEFAULT_REPEAT_GAP_S, Schedule
from schedules.rules import RuleSpec, build_rrule
from schedules.times import require_aware, to_utc

#: Two occurrences of one broadcast must be at least this far apart.
MIN_SPACING: Final = timedelta(minutes=15)
#: ``min_spacing`` looks at this many occurrences at most …
SPACING_SAMPLE: Final = 1000
#: … within this long.
SPACING_SPAN: Final = timedelta(days=2 * 366)


def one_off(
    at: datetime,
    *,
    now: datetime,
    repeats: int = 1,
    repeat_gap_s: float = DEFAULT_REPEAT_GAP_S,
) -> Schedule:
    """A schedule that plays once at ``at``: naive means local (Asia/Ho_Chi_Minh) wall time.

    Raises ScheduleError ``in_past`` if ``at`` is before ``now`` (aware), and the form errors of
    :class:`Schedule`.
    """
    schedule = Schedule(at=to_utc(at), repeats=repeats, repeat_gap_s=repeat_gap_s)
    check_schedule(schedule, now=now)
    return schedule


def recurring(
    rule: RuleSpec | str,
    *,
    now: datetime,
    repeats: int = 1,
    repeat_gap_s: float = DEFAULT_REPEAT_GAP_S,
    duration_s: float | None = None,
) -> Schedule:
    """A recurring schedule from the builder's choices or from RFC 5545 text.

    Raises ScheduleError: the builder's errors (``no_times``, ``bad_weekdays``, ``window_empty``,
    …), ``bad_rrule``, and those of :func:`check_schedule` (``in_past``, ``no_occurrence``,
    ``too_frequent``). Give ``duration_s`` (the audio's length) to also refuse occurrences that
    would overlap each other.
    """
    text = build_rrule(rule) if isinstance(rule, RuleSpec) else rule
    schedule = Schedule(rrule=text, repeats=repeats, repeat_gap_s=repeat_gap_s)
    check_schedule(schedule, now=now, duration_s=duration_s)
    return schedule


def check_schedule(schedule: Schedule, *, now: datetime, duration_s: float | None = None) -> None:
    """Refuse a schedule that cannot be saved as new input at ``now``.

    - ``in_past``: a one-off before ``now``, or a recurrence whose window ended before ``now``;
    - ``no_occurrence``: a recurrence with no occurrence from ``now`` on (within five years);
    - ``too_frequent``: two occurrences closer than ``MIN_SPACING``, or, with ``duration_s``,
      closer than the time one occurrence is on air.
    """
    now = require_aware(now, "now").astimezone(UTC)
    if schedule.at is not None:
        if schedule.at < now:
            raise ScheduleError("in_past", "Thời điểm phát đã qua.", schedule.at.isoformat())
        if duration_s is not None:
            schedule.occupied(duration_s)  # checks the duration
        return
    rule = schedule.rule
    assert rule is not None
    if rule.until is not None and rule.until < now:
        raise ScheduleError("in_past", "Thời hạn của lịch phát đã kết thúc.", schedule.rrule)
    first = next_occurrence(schedule, now, within=LOOKAHEAD)
    if first is None:
        raise ScheduleError(
            "no_occurrence",
            "Lịch phát không có lần phát nào trong thời hạn đã chọn.",
            schedule.rrule,
        )
    spacing = min_spacing(schedule, first.at)
    if spacing is None:
        return
    if spacing < MIN_SPACING:
        raise ScheduleError(
            "too_frequent",
            f"Hai lần phát cách nhau quá gần ({_minutes(spacing)}); "
            f"tối thiểu {_minutes(MIN_SPACING)}.",
            schedule.rrule,
        )
    if duration_s is not None:
        on_air = schedule.occupied(duration_s)
        if on_air > spacing:
            raise ScheduleError(
                "too_frequent",
                f"Mỗi lần phát kéo dài {_minutes(on_air)} nhưng hai lần phát chỉ cách nhau "
                f"{_minutes(spacing)}.",
                schedule.rrule,
            )


def min_spacing(schedule: Schedule, start: datetime) -> timedelta | None:
    """The shortest gap between consecutive occurrences from ``start`` (a sample: at most
    ``SPACING_SAMPLE`` occurrences within ``SPACING_SPAN``); None if fewer than two."""
    found: list[Occurrence] = []
    lo, stop = start, start + SPACING_SPAN
    while lo < stop and len(found) < SPACING_SAMPLE:  # a month at a time: 96 a day is 70,000
        hi = min(lo + timedelta(days=31), stop)
        found += occurrences(schedule, lo, hi)
        lo = hi
    found = found[:SPACING_SAMPLE]
    gaps = [b.at - a.at for a, b in pairwise(found)]
    return min(gaps, default=None)


def _minutes(delta: timedelta) -> str:
    """``90 giây`` → "1 phút 30 giây"; whole minutes as "15 phút"."""
    seconds = round(delta.total_seconds())
    minutes, rest = divmod(seconds, 60)
    if not minutes:
        return f"{rest} giây"
    return f"{minutes} phút" + (f" {rest} giây" if rest else "")
