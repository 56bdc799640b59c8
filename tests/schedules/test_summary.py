from __future__ import annotations

from datetime import UTC, date, datetime, time

import pytest
from hypothesis import given, settings

from schedules import LAST_DAY, RuleSpec, Schedule, build_rrule, summarize, summarize_rule
from tests.schedules.strategies import rule_specs

TODAY = date(2026, 11, 27)
DEC_1 = date(2026, 12, 1)


@pytest.mark.parametrize(
    ("spec", "text"),
    [
        (
            RuleSpec("daily", (time(17), time(6)), DEC_1, date(2026, 12, 31)),
            "Hằng ngày lúc 06:00 và 17:00, từ 01/12 đến 31/12",
        ),
        (
            RuleSpec("weekdays", (time(6, 30),), DEC_1),
            "Các ngày trong tuần (thứ Hai đến thứ Sáu) lúc 06:30, từ 01/12",
        ),
        (
            RuleSpec("weekly", (time(18),), DEC_1, weekdays=(2, 0)),
            "Thứ Hai, thứ Tư hằng tuần lúc 18:00, từ 01/12",
        ),
        (
            RuleSpec("weekly", (time(8),), DEC_1, weekdays=(6,)),
            "Chủ nhật hằng tuần lúc 08:00, từ 01/12",
        ),
        (
            RuleSpec("weekly", (time(8),), DEC_1, weekdays=(0, 1, 2, 3, 4)),
            "Các ngày trong tuần (thứ Hai đến thứ Sáu) lúc 08:00, từ 01/12",
        ),
        (
            RuleSpec("weekly", (time(8),), DEC_1, weekdays=tuple(range(7))),
            "Hằng ngày lúc 08:00, từ 01/12",
        ),
        (
            RuleSpec("monthly", (time(7),), DEC_1, month_days=(1,)),
            "Ngày 1 hằng tháng lúc 07:00, từ 01/12",
        ),
        (
            RuleSpec("monthly", (time(7),), DEC_1, month_days=(15, 1)),
            "Ngày 1 và 15 hằng tháng lúc 07:00, từ 01/12",
        ),
        (
            RuleSpec("monthly", (time(7),), DEC_1, month_days=(LAST_DAY,)),
            "Ngày cuối cùng hằng tháng lúc 07:00, từ 01/12",
        ),
        (
            RuleSpec("monthly", (time(7),), DEC_1, month_days=(1, LAST_DAY)),
            "Ngày 1 và ngày cuối hằng tháng lúc 07:00, từ 01/12",
        ),
        (
            RuleSpec("monthly", (time(7),), DEC_1, month_days=(31,)),
            "Ngày 31 hằng tháng lúc 07:00 (tháng không có ngày 31 thì bỏ qua), từ 01/12",
        ),
        (
            RuleSpec("daily", (time(6), time(11, 30), time(17)), DEC_1, date(2027, 1, 15)),
            "Hằng ngày lúc 06:00, 11:30 và 17:00, từ 01/12/2026 đến 15/01/2027",
        ),
    ],
)
def test_rule_summary_in_vietnamese(spec: RuleSpec, text: str) -> None:
    assert summarize_rule(spec, today=TODAY) == text
    assert summarize(Schedule(rrule=build_rrule(spec)), today=TODAY) == text


def test_one_off_summary_gives_the_full_local_date() -> None:
    s = Schedule(at=datetime(2026, 12, 15, 0, 30, tzinfo=UTC))
    assert summarize(s) == "Một lần lúc 07:30 ngày 15/12/2026"


def test_the_year_is_shown_unless_today_says_it_is_this_year() -> None:
    spec = RuleSpec("daily", (time(6),), DEC_1, date(2026, 12, 31))
    assert summarize_rule(spec) == "Hằng ngày lúc 06:00, từ 01/12/2026 đến 31/12/2026"
    assert summarize_rule(spec, today=date(2025, 6, 1)).endswith("từ 01/12/2026 đến 31/12/2026")


def test_repeats_are_mentioned() -> None:
    s = Schedule(at=datetime(2026, 12, 15, 0, 30, tzinfo=UTC), repeats=3, repeat_gap_s=2.5)
    assert summarize(s) == (
        "Một lần lúc 07:30 ngày 15/12/2026; mỗi lần phát lặp lại 3 lần, cách nhau 2,5 giây"
    )
    s = Schedule(at=datetime(2026, 12, 15, 0, 30, tzinfo=UTC), repeats=2, repeat_gap_s=0)
    assert summarize(s).endswith("; mỗi lần phát lặp lại 2 lần")


@given(rule_specs())
@settings(max_examples=100, deadline=None)
def test_every_rule_has_a_summary_naming_its_times(spec: RuleSpec) -> None:
    text = summarize(Schedule(rrule=build_rrule(spec)))
    assert text[0].isupper()
    for t in spec.times:
        assert f"{t:%H:%M}" in text
    assert f"từ {spec.valid_from:%d/%m/%Y}" in text
    if spec.valid_until is not None:
        assert f"đến {spec.valid_until:%d/%m/%Y}" in text
