from __future__ import annotations

from datetime import date, time

import pytest
from hypothesis import given, settings

from schedules import LAST_DAY, RuleSpec, Schedule, ScheduleError, build_rrule, parse_rrule
from schedules.rules import normalize_spec, parse_rule_text
from tests.schedules.strategies import rule_specs

DEC_1 = date(2026, 12, 1)


def test_daily_rule_has_local_dtstart_and_utc_until() -> None:
    text = build_rrule(RuleSpec("daily", (time(17), time(6)), DEC_1, date(2026, 12, 31)))
    assert text == (
        "DTSTART;TZID=Asia/Ho_Chi_Minh:20261201T000000\n"
        "RRULE:FREQ=DAILY;UNTIL=20261231T165959Z;BYHOUR=6,17;BYMINUTE=0;BYSECOND=0"
    )


def test_weekdays_rule_is_daily_on_monday_to_friday() -> None:
    text = build_rrule(RuleSpec("weekdays", (time(6, 30),), DEC_1))
    assert "RRULE:FREQ=DAILY;BYDAY=MO,TU,WE,TH,FR;BYHOUR=6;BYMINUTE=30;BYSECOND=0" in text


def test_weekly_rule_lists_chosen_days_in_order() -> None:
    text = build_rrule(RuleSpec("weekly", (time(18),), DEC_1, weekdays=(2, 0)))
    assert "FREQ=WEEKLY;BYDAY=MO,WE;BYHOUR=18" in text


def test_monthly_rule_accepts_last_day_of_month() -> None:
    text = build_rrule(RuleSpec("monthly", (time(7),), DEC_1, month_days=(LAST_DAY, 1)))
    assert "FREQ=MONTHLY;BYMONTHDAY=1,-1;BYHOUR=7" in text


def test_times_with_different_minutes_need_one_rrule_line_each() -> None:
    text = build_rrule(RuleSpec("daily", (time(6, 30), time(17), time(11)), DEC_1))
    assert text.count("RRULE:") == 2
    assert "BYHOUR=11,17;BYMINUTE=0" in text and "BYHOUR=6;BYMINUTE=30" in text


@given(rule_specs())
@settings(max_examples=100, deadline=None)
def test_parse_rrule_gives_back_the_builders_choices(spec: RuleSpec) -> None:
    assert parse_rrule(build_rrule(spec)) == normalize_spec(spec)


@pytest.mark.parametrize(
    ("spec", "code"),
    [
        (RuleSpec("daily", (), DEC_1), "no_times"),
        (RuleSpec("daily", (time(6, 0, 30),), DEC_1), "bad_time"),
        (RuleSpec("hourly", (time(6),), DEC_1), "bad_frequency"),  # type: ignore[arg-type]
        (RuleSpec("weekly", (time(6),), DEC_1), "bad_weekdays"),
        (RuleSpec("weekly", (time(6),), DEC_1, weekdays=(7,)), "bad_weekdays"),
        (RuleSpec("daily", (time(6),), DEC_1, weekdays=(1,)), "bad_weekdays"),
        (RuleSpec("monthly", (time(6),), DEC_1), "bad_month_days"),
        (RuleSpec("monthly", (time(6),), DEC_1, month_days=(0,)), "bad_month_days"),
        (RuleSpec("monthly", (time(6),), DEC_1, month_days=(32,)), "bad_month_days"),
        (RuleSpec("daily", (time(6),), DEC_1, date(2026, 11, 30)), "window_empty"),
    ],
)
def test_builder_refuses_bad_choices_with_a_stable_code(spec: RuleSpec, code: str) -> None:
    with pytest.raises(ScheduleError) as err:
        build_rrule(spec)
    assert err.value.code == code
    assert err.value.message_vi  # a Vietnamese sentence for the UI


def test_one_day_window_is_not_empty() -> None:
    build_rrule(RuleSpec("daily", (time(6),), DEC_1, DEC_1))


LOCAL = "DTSTART;TZID=Asia/Ho_Chi_Minh:20261201T000000\n"


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("FREQ=DAILY;BYHOUR=6", "bad_rrule"),  # no DTSTART
        ("DTSTART:20261201T000000Z\nRRULE:FREQ=DAILY", "bad_rrule"),  # not local
        ("DTSTART;TZID=Europe/Paris:20261201T000000\nRRULE:FREQ=DAILY", "bad_rrule"),
        (LOCAL + "RRULE:FREQ=DAILY;BYHOUR=6;BYMINUTE=0;FOO=1", "bad_rrule"),
        (LOCAL + "RRULE:FREQ=FORTNIGHTLY", "bad_rrule"),
        (LOCAL + "RRULE:FREQ=DAILY;BYHOUR=25;BYMINUTE=0", "bad_rrule"),
        (LOCAL + "RRULE:FREQ=DAILY;BYHOUR=6;BYHOUR=7;BYMINUTE=0", "bad_rrule"),
        (LOCAL + "RRULE:FREQ=DAILY;UNTIL=20261231T000000", "bad_rrule"),  # UNTIL not UTC
        (LOCAL + "RRULE:BYHOUR=6", "bad_rrule"),
        (LOCAL + "EXDATE:20261202T000000\nRRULE:FREQ=DAILY", "bad_rrule"),
        (LOCAL, "bad_rrule"),
        (LOCAL + "RRULE:FREQ=MINUTELY", "too_frequent"),
        (LOCAL + "RRULE:FREQ=SECONDLY", "too_frequent"),
        (LOCAL + "RRULE:FREQ=DAILY;UNTIL=20261130T000000Z", "window_empty"),
        ("x" * 3000, "bad_rrule"),
    ],
)
def test_bad_rrule_text_is_refused_with_a_stable_code(text: str, code: str) -> None:
    with pytest.raises(ScheduleError) as err:
        Schedule(rrule=text)
    assert err.value.code == code


def test_rule_text_is_stored_in_canonical_form() -> None:
    text = (
        "  dtstart;tzid=asia/ho_chi_minh:20261201T000000\r\n"
        " rrule:byminute=0;byhour=17,6;freq=daily \n"
    )
    assert (
        Schedule(rrule=text).rrule
        == parse_rule_text(text).text
        == (
            "DTSTART;TZID=Asia/Ho_Chi_Minh:20261201T000000\n"
            "RRULE:FREQ=DAILY;BYHOUR=6,17;BYMINUTE=0;BYSECOND=0"
        )
    )


@pytest.mark.parametrize(
    "rrule",
    [
        "FREQ=WEEKLY;INTERVAL=2;BYDAY=MO;BYHOUR=6;BYMINUTE=0",
        "FREQ=MONTHLY;BYDAY=1MO;BYHOUR=6;BYMINUTE=0",
        "FREQ=YEARLY;BYMONTH=9;BYMONTHDAY=2;BYHOUR=6;BYMINUTE=0",
        "FREQ=DAILY;COUNT=3;BYHOUR=6;BYMINUTE=0",
        "FREQ=DAILY;BYMONTH=2;BYMONTHDAY=30;BYHOUR=6;BYMINUTE=0",  # would scan to year 9999
        "FREQ=HOURLY;BYMINUTE=0",
        "FREQ=DAILY",  # time of day taken from DTSTART
        "FREQ=DAILY;BYHOUR=6;BYMINUTE=0;BYSECOND=30",
        "FREQ=DAILY;BYDAY=MO;BYHOUR=6;BYMINUTE=0",  # daily on Mondays: write it weekly
        "FREQ=MONTHLY;BYMONTHDAY=1;BYDAY=MO;BYHOUR=6;BYMINUTE=0",
        "FREQ=DAILY;UNTIL=20261231T000000Z;BYHOUR=6;BYMINUTE=0",  # UNTIL not at end of a day
    ],
)
def test_valid_rules_outside_the_builders_subset_are_unsupported(rrule: str) -> None:
    with pytest.raises(ScheduleError) as err:
        Schedule(rrule=LOCAL + "RRULE:" + rrule)
    assert err.value.code == "unsupported_rrule"


def test_rule_lines_must_agree_on_days_and_window() -> None:
    text = (
        LOCAL
        + "RRULE:FREQ=DAILY;BYHOUR=6;BYMINUTE=0\n"
        + "RRULE:FREQ=WEEKLY;BYDAY=MO;BYHOUR=7;BYMINUTE=30"
    )
    with pytest.raises(ScheduleError) as err:
        parse_rrule(text)
    assert err.value.code == "unsupported_rrule"


def test_dtstart_must_be_local_midnight() -> None:
    text = "DTSTART;TZID=Asia/Ho_Chi_Minh:20261201T060000\nRRULE:FREQ=DAILY;BYHOUR=6;BYMINUTE=0"
    with pytest.raises(ScheduleError) as err:
        parse_rrule(text)
    assert err.value.code == "unsupported_rrule"
