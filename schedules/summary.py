"""A Vietnamese sentence for a schedule, as the web UI shows it.

Examples: "Hằng ngày lúc 06:00 và 17:00, từ 01/12 đến 31/12"; "Các ngày trong tuần (thứ Hai
đến thứ Sáu) lúc 06:30"; "Thứ Hai, thứ Tư hằng tuần lúc 18:00"; "Ngày 1 hằng tháng lúc 07:00";
"Một lần lúc 07:30 ngày 15/12/2026".
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, time

from schedules.model import Schedule
from schedules.rules import LAST_DAY, WORKING_DAYS, RuleSpec, normalize_spec
from schedules.times import LOCAL_TZ

WEEKDAY_NAMES_VI = ("thứ Hai", "thứ Ba", "thứ Tư", "thứ Năm", "thứ Sáu", "thứ Bảy", "Chủ nhật")


def summarize(schedule: Schedule, *, today: date | None = None) -> str:
    """The Vietnamese summary of ``schedule``, with its repeats when more than one.

    Dates in the validity window omit the year when ``today`` is given and they all fall in
    ``today``'s year; otherwise they show it.
    """
    if schedule.at is not None:
        local = schedule.at.astimezone(LOCAL_TZ)
        text = f"Một lần lúc {_time(local.time())} ngày {local:%d/%m/%Y}"
    else:
        assert schedule.rule is not None
        text = summarize_rule(schedule.rule.spec, today=today)
    if schedule.repeats > 1:
        text += f"; mỗi lần phát lặp lại {schedule.repeats} lần"
        if schedule.repeat_gap_s:
            text += f", cách nhau {_number(schedule.repeat_gap_s)} giây"
    return text


def summarize_rule(spec: RuleSpec, *, today: date | None = None) -> str:
    """The Vietnamese summary of the builder's choices (see :func:`summarize` for ``today``)."""
    spec = normalize_spec(spec)
    times = " lúc " + _join([_time(t) for t in spec.times])
    weekdays = spec.weekdays
    if spec.frequency == "daily" or (spec.frequency == "weekly" and weekdays == tuple(range(7))):
        text = "Hằng ngày" + times
    elif spec.frequency == "weekdays" or weekdays == WORKING_DAYS:
        text = "Các ngày trong tuần (thứ Hai đến thứ Sáu)" + times
    elif spec.frequency == "weekly":
        days = ", ".join(WEEKDAY_NAMES_VI[d] for d in weekdays)
        text = days[0].upper() + days[1:] + " hằng tuần" + times
    else:
        numbers = [str(d) for d in spec.month_days if d != LAST_DAY]
        if LAST_DAY in spec.month_days:
            days = _join([*numbers, "ngày cuối"]) if numbers else "cuối cùng"
        else:
            days = _join(numbers)
        text = f"Ngày {days} hằng tháng" + times
        short = [d for d in spec.month_days if d >= 29]
        if short:
            text += f" (tháng không có ngày {_join([str(d) for d in short])} thì bỏ qua)"
    return text + _window(spec.valid_from, spec.valid_until, today)


def _window(valid_from: date, valid_until: date | None, today: date | None) -> str:
    dates = [valid_from] if valid_until is None else [valid_from, valid_until]
    fmt = "%d/%m" if today is not None and all(d.year == today.year for d in dates) else "%d/%m/%Y"
    text = f", từ {valid_from:{fmt}}"
    if valid_until is not None:
        text += f" đến {valid_until:{fmt}}"
    return text


def _time(t: time) -> str:
    return f"{t:%H:%M}" if not t.second else f"{t:%H:%M:%S}"


def _join(parts: Sequence[str]) -> str:
    if len(parts) <= 1:
        return "".join(parts)
    return ", ".join(parts[:-1]) + " và " + parts[-1]


def _number(x: float) -> str:
    return f"{x:g}".replace(".", ",")
