from __future__ import annotations

import calendar
from datetime import UTC, date, datetime, time, timedelta
from itertools import pairwise

import pytest
from dateutil.rrule import rruleset
from hypothesis import given, settings
from hypothesis import strategies as st

from schedules import (
    LAST_DAY,
    LOCAL_TZ,
    RuleSpec,
    Schedule,
    build_rrule,
    next_occurrence,
    occurrence_key,
    occurrences,
    occurrences_overlapping,
    parse_occurrence_key,
)
from schedules.rules import WORKING_DAYS, normalize_spec, parse_rule_text
from tests.schedules.strategies import horizons, rule_specs


def utc(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0
) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


def keys(schedule: Schedule, start: datetime, end: datetime) -> list[str]:
    return [o.key for o in occurrences(schedule, start, end)]


def test_local_six_oclock_is_23_utc_the_day_before() -> None:
    s = Schedule(rrule=build_rrule(RuleSpec("daily", (time(6), time(17)), date(2026, 12, 1))))
    assert keys(s, utc(2026, 11, 30), utc(2026, 12, 2)) == [
        "2026-11-30T23:00:00Z",
        "2026-12-01T10:00:00Z",
        "2026-12-01T23:00:00Z",
    ]


def test_occurrences_are_aware_utc_and_local_for_display() -> None:
    s = Schedule(rrule=build_rrule(RuleSpec("daily", (time(6),), date(2026, 12, 1))))
    (occ,) = occurrences(s, utc(2026, 11, 30, 12), utc(2026, 12, 1, 12))
    assert occ.at == utc(2026, 11, 30, 23) and occ.at.tzinfo is UTC
    assert occ.local == datetime(2026, 12, 1, 6, tzinfo=LOCAL_TZ)


def test_horizon_is_half_open() -> None:
    s = Schedule(rrule=build_rrule(RuleSpec("daily", (time(7),), date(2026, 12, 1))))
    assert keys(s, utc(2026, 12, 1, 0), utc(2026, 12, 2, 0)) == ["2026-12-01T00:00:00Z"]
    assert keys(s, utc(2026, 11, 30, 0), utc(2026, 12, 1, 0)) == []


def test_validity_window_includes_its_first_and_last_day() -> None:
    spec = RuleSpec("daily", (time(0), time(23, 59)), date(2026, 12, 1), date(2026, 12, 3))
    s = Schedule(rrule=build_rrule(spec))
    got = [o.local for o in occurrences(s, utc(2026, 1, 1), utc(2027, 1, 1))]
    assert got[0] == datetime(2026, 12, 1, 0, 0, tzinfo=LOCAL_TZ)
    assert got[-1] == datetime(2026, 12, 3, 23, 59, tzinfo=LOCAL_TZ)
    assert len(got) == 6


def test_weekdays_skip_saturday_and_sunday() -> None:
    s = Schedule(rrule=build_rrule(RuleSpec("weekdays", (time(6, 30),), date(2026, 11, 30))))
    days = [o.local.strftime("%a %d") for o in occurrences(s, utc(2026, 11, 29), utc(2026, 12, 6))]
    assert days == ["Mon 30", "Tue 01", "Wed 02", "Thu 03", "Fri 04"]


def test_monthly_on_the_31st_skips_shorter_months() -> None:
    spec = RuleSpec("monthly", (time(7),), date(2027, 1, 1), month_days=(31,))
    got = [
        o.local.date()
        for o in occurrences(Schedule(rrule=build_rrule(spec)), utc(2027, 1, 1), utc(2027, 6, 1))
    ]
    assert got == [date(2027, 1, 31), date(2027, 3, 31), date(2027, 5, 31)]


def test_monthly_on_the_last_day_follows_month_length_and_leap_years() -> None:
    spec = RuleSpec("monthly", (time(7),), date(2027, 12, 1), month_days=(LAST_DAY,))
    got = [
        o.local.date()
        for o in occurrences(Schedule(rrule=build_rrule(spec)), utc(2027, 12, 1), utc(2028, 4, 1))
    ]
    assert got == [date(2027, 12, 31), date(2028, 1, 31), date(2028, 2, 29), date(2028, 3, 31)]


def test_one_off_occurs_once_inside_the_horizon_only() -> None:
    s = Schedule(at=datetime(2026, 12, 15, 7, 30, tzinfo=LOCAL_TZ))
    assert keys(s, utc(2026, 12, 1), utc(2027, 1, 1)) == ["2026-12-15T00:30:00Z"]
    assert keys(s, utc(2026, 12, 15, 0, 30, 1), utc(2027, 1, 1)) == []


def test_occurrence_key_is_the_utc_instant_to_the_second() -> None:
    at = datetime(2026, 11, 27, 13, 0, tzinfo=LOCAL_TZ)
    assert occurrence_key(at) == "2026-11-27T06:00:00Z"
    assert parse_occurrence_key("2026-11-27T06:00:00Z") == utc(2026, 11, 27, 6)
    with pytest.raises(ValueError):
        occurrence_key(datetime(2026, 11, 27, 6))  # naive


def test_naive_horizon_is_a_programming_error() -> None:
    s = Schedule(at=utc(2026, 12, 1))
    with pytest.raises(ValueError):
        occurrences(s, datetime(2026, 12, 1), utc(2026, 12, 2))


def test_overlapping_includes_an_occurrence_still_on_air() -> None:
    s = Schedule(rrule=build_rrule(RuleSpec("daily", (time(6),), date(2026, 12, 1))))
    start = utc(2026, 11, 30, 23, 5)  # 06:05 local
    assert occurrences(s, start, start + timedelta(hours=1)) == []
    (occ,) = occurrences_overlapping(s, start, start + timedelta(hours=1), timedelta(minutes=10))
    assert occ.key == "2026-11-30T23:00:00Z"
    assert occurrences_overlapping(s, start, start + timedelta(hours=1), timedelta(minutes=5)) == []


def test_next_occurrence_looks_far_enough_and_stops() -> None:
    spec = RuleSpec("monthly", (time(7),), date(2027, 1, 1), month_days=(LAST_DAY,))
    s = Schedule(rrule=build_rrule(spec))
    nxt = next_occurrence(s, utc(2026, 11, 27))
    assert nxt is not None and nxt.local == datetime(2027, 1, 31, 7, tzinfo=LOCAL_TZ)
    ended = Schedule(
        rrule=build_rrule(RuleSpec("daily", (time(6),), date(2026, 1, 1), date(2026, 1, 2)))
    )
    assert next_occurrence(ended, utc(2026, 11, 27)) is None


def test_a_rule_started_long_ago_expands_a_day_quickly() -> None:
    spec = RuleSpec("daily", (time(6), time(17)), date(2000, 1, 1))
    s = Schedule(rrule=build_rrule(spec))
    assert len(keys(s, utc(2026, 12, 1), utc(2026, 12, 2))) == 2


# --- properties ------------------------------------------------------------------------------


def expected_local(spec: RuleSpec, start: datetime, end: datetime) -> list[datetime]:
    """Brute force: walk every local day and test it against the choices."""
    spec = normalize_spec(spec)
    out = []
    day = start.astimezone(LOCAL_TZ).date() - timedelta(days=1)
    last = end.astimezone(LOCAL_TZ).date() + timedelta(days=1)
    while day <= last:
        in_window = spec.valid_from <= day and (spec.valid_until is None or day <= spec.valid_until)
        month_len = calendar.monthrange(day.year, day.month)[1]
        matches = {
            "daily": True,
            "weekdays": day.weekday() in WORKING_DAYS,
            "weekly": day.weekday() in spec.weekdays,
            "monthly": day.day in spec.month_days
            or (LAST_DAY in spec.month_days and day.day == month_len),
        }[spec.frequency]
        if in_window and matches:
            for t in spec.times:
                at = datetime.combine(day, t, tzinfo=LOCAL_TZ)
                if start <= at < end:
                    out.append(at)
        day += timedelta(days=1)
    return sorted(out)


@given(rule_specs(), horizons())
@settings(max_examples=150, deadline=None)
def test_expansion_matches_a_day_by_day_brute_force(
    spec: RuleSpec, horizon: tuple[datetime, datetime]
) -> None:
    start, end = horizon
    got = occurrences(Schedule(rrule=build_rrule(spec)), start, end)
    want = expected_local(spec, start, end)
    assert [o.local for o in got] == want
    # sorted, unique, inside horizon and window, UTC, with keys naming the instant
    assert all(a.at < b.at for a, b in pairwise(got))
    for o in got:
        assert start <= o.at < end and o.at.tzinfo is UTC
        assert spec.valid_from <= o.local.date()
        assert spec.valid_until is None or o.local.date() <= spec.valid_until
        assert o.local.time() in spec.times
        assert parse_occurrence_key(o.key) == o.at == parse_occurrence_key(occurrence_key(o.at))


@given(rule_specs(), horizons(), st.floats(0, 1))
@settings(max_examples=150, deadline=None)
def test_keys_do_not_depend_on_how_the_horizon_is_cut(
    spec: RuleSpec, horizon: tuple[datetime, datetime], cut: float
) -> None:
    start, end = horizon
    middle = start + (end - start) * cut
    s = Schedule(rrule=build_rrule(spec))
    assert keys(s, start, middle) + keys(s, middle, end) == keys(s, start, end)
    # the same text parsed again (e.g. after a restart) gives the same keys
    assert keys(Schedule(rrule=build_rrule(spec)), start, end) == keys(s, start, end)


@given(rule_specs(), horizons(max_days=40))
@settings(max_examples=100, deadline=None)
def test_skipping_ahead_gives_what_iterating_from_dtstart_gives(
    spec: RuleSpec, horizon: tuple[datetime, datetime]
) -> None:
    start, end = horizon
    rule = parse_rule_text(build_rrule(spec))
    plain = rruleset()
    for r in rule.rrules(not_before=None, not_after=end):  # from DTSTART, no skipping
        plain.rrule(r)
    want = [d.astimezone(UTC) for d in plain if start <= d < end]
    assert [o.at for o in occurrences(Schedule(rrule=rule.text), start, end)] == want
