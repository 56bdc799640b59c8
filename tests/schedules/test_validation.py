from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import pytest

from schedules import (
    LOCAL_TZ,
    MIN_SPACING,
    RuleSpec,
    Schedule,
    ScheduleError,
    check_schedule,
    one_off,
    recurring,
)

NOW = datetime(2026, 11, 27, 6, 0, tzinfo=UTC)  # 13:00 local


def code_of(call: object, *args: object, **kwargs: object) -> str:
    with pytest.raises(ScheduleError) as err:
        call(*args, **kwargs)  # type: ignore[operator]
    assert err.value.message_vi
    return err.value.code


def test_one_off_entered_in_local_time_is_stored_in_utc() -> None:
    s = one_off(datetime(2026, 12, 15, 7, 30), now=NOW)
    assert s.at == datetime(2026, 12, 15, 0, 30, tzinfo=UTC)
    assert s.kind == "once" and s.valid_from == s.valid_until == date(2026, 12, 15)


def test_one_off_accepts_an_aware_time_in_any_zone() -> None:
    at = datetime(2026, 12, 15, 7, 30, tzinfo=LOCAL_TZ)
    assert one_off(at, now=NOW).at == one_off(at.astimezone(UTC), now=NOW).at


def test_one_off_in_the_past_is_refused() -> None:
    assert code_of(one_off, datetime(2026, 11, 27, 12, 59), now=NOW) == "in_past"
    one_off(datetime(2026, 11, 27, 13, 0), now=NOW)  # exactly now is fine


def test_one_off_is_rounded_up_to_a_whole_second() -> None:
    s = Schedule(at=NOW + timedelta(microseconds=1))
    assert s.at == NOW + timedelta(seconds=1)


def test_recurring_from_the_builder_stores_rrule_text() -> None:
    spec = RuleSpec("daily", (time(6), time(17)), date(2026, 12, 1), date(2026, 12, 31))
    s = recurring(spec, now=NOW, repeats=2, repeat_gap_s=5)
    assert s.kind == "recurring" and s.rrule and s.rrule.startswith("DTSTART;TZID=")
    assert s.spec == spec
    assert (s.valid_from, s.valid_until) == (date(2026, 12, 1), date(2026, 12, 31))
    assert s.occupied(60) == timedelta(seconds=125)


def test_a_rule_already_running_may_be_saved_again() -> None:
    recurring(RuleSpec("daily", (time(6),), date(2026, 1, 1)), now=NOW)


def test_a_window_that_ended_is_in_the_past() -> None:
    spec = RuleSpec("daily", (time(6),), date(2026, 11, 1), date(2026, 11, 26))
    assert code_of(recurring, spec, now=NOW) == "in_past"


def test_a_rule_whose_last_occurrence_passed_today_has_no_occurrence() -> None:
    spec = RuleSpec("daily", (time(6),), date(2026, 11, 1), date(2026, 11, 27))
    assert code_of(recurring, spec, now=NOW) == "no_occurrence"


def test_weekly_on_a_day_outside_the_window_has_no_occurrence() -> None:
    spec = RuleSpec("weekly", (time(6),), date(2026, 12, 1), date(2026, 12, 5), weekdays=(6,))
    assert code_of(recurring, spec, now=NOW) == "no_occurrence"


def test_monthly_on_the_31st_in_a_short_window_has_no_occurrence() -> None:
    spec = RuleSpec("monthly", (time(6),), date(2027, 2, 1), date(2027, 2, 28), month_days=(31,))
    assert code_of(recurring, spec, now=NOW) == "no_occurrence"


def test_empty_window_is_refused() -> None:
    spec = RuleSpec("daily", (time(6),), date(2026, 12, 2), date(2026, 12, 1))
    assert code_of(recurring, spec, now=NOW) == "window_empty"


def test_times_closer_than_the_minimum_spacing_are_too_frequent() -> None:
    spec = RuleSpec("daily", (time(6), time(6, 10)), date(2026, 12, 1))
    assert code_of(recurring, spec, now=NOW) == "too_frequent"
    ok = RuleSpec("daily", (time(6), time(6, 15)), date(2026, 12, 1))
    recurring(ok, now=NOW)
    assert timedelta(minutes=15) == MIN_SPACING


def test_times_close_across_midnight_are_too_frequent() -> None:
    spec = RuleSpec("daily", (time(23, 55), time(0, 5)), date(2026, 12, 1))
    assert code_of(recurring, spec, now=NOW) == "too_frequent"
    weekly = RuleSpec("weekly", (time(23, 55), time(0, 5)), date(2026, 12, 1), weekdays=(0,))
    recurring(weekly, now=NOW)  # Monday 00:05 and Monday 23:55 are far apart


def test_occurrences_that_would_overlap_themselves_are_too_frequent() -> None:
    spec = RuleSpec("daily", (time(6), time(6, 30)), date(2026, 12, 1))
    recurring(spec, now=NOW, duration_s=600, repeats=3, repeat_gap_s=0)  # 30 min: fits
    assert code_of(recurring, spec, now=NOW, duration_s=600, repeats=3, repeat_gap_s=1) == (
        "too_frequent"
    )


@pytest.mark.parametrize(
    ("kwargs", "code"),
    [
        ({"repeats": 0}, "bad_repeats"),
        ({"repeats": 11}, "bad_repeats"),
        ({"repeats": True}, "bad_repeats"),
        ({"repeat_gap_s": -1}, "bad_repeat_gap"),
        ({"repeat_gap_s": 601}, "bad_repeat_gap"),
    ],
)
def test_repeats_are_bounded(kwargs: dict[str, object], code: str) -> None:
    assert code_of(one_off, datetime(2026, 12, 15, 7, 30), now=NOW, **kwargs) == code


@pytest.mark.parametrize("duration", [0, -1, float("nan"), float("inf")])
def test_duration_must_be_positive(duration: float) -> None:
    s = one_off(datetime(2026, 12, 15, 7, 30), now=NOW)
    assert code_of(s.occupied, duration) == "bad_duration"
    assert code_of(check_schedule, s, now=NOW, duration_s=duration) == "bad_duration"


def test_a_schedule_has_exactly_one_of_at_and_rrule() -> None:
    with pytest.raises(ValueError):
        Schedule()
    with pytest.raises(ValueError):
        Schedule(at=NOW, rrule="x")


def test_naive_now_is_a_programming_error() -> None:
    with pytest.raises(ValueError):
        one_off(datetime(2026, 12, 15, 7, 30), now=datetime(2026, 11, 27))


def test_a_stored_schedule_loads_even_when_it_is_past() -> None:
    past = Schedule(at=NOW - timedelta(days=30))
    assert past.at == NOW - timedelta(days=30)
    text = recurring(RuleSpec("daily", (time(6),), date(2026, 12, 1)), now=NOW).rrule
    assert text is not None and Schedule(rrule=text).rrule == text


def test_error_carries_code_and_vietnamese_message() -> None:
    err = ScheduleError("in_past", "Thời điểm phát đã qua.")
    assert (err.code, err.message_vi) == ("in_past", "Thời điểm phát đã qua.")
    assert isinstance(err, ValueError) and "in_past" in str(err)


def test_every_fifteen_minutes_all_day_is_the_densest_rule_allowed() -> None:
    times = tuple(time(h, m) for h in range(24) for m in (0, 15, 30, 45))
    recurring(RuleSpec("daily", times, date(2026, 12, 1)), now=NOW)
    denser = (*times, time(0, 5))
    assert code_of(recurring, RuleSpec("daily", denser, date(2026, 12, 1)), now=NOW) == (
        "too_frequent"
    )
