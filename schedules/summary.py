"""A Vietnamese sentence for a schedule, as the web UI shows it.

Examples: "Hằng ngày lúc 06:00 và 17:00, từ 01/12 đến 31/12"; "Các ngày trong tuần (thứ Hai
đến thứ Sáu) lúc 06:30"; "Thứ Hai, thứ Tư hằng tuần lúc 18:00"; "Ngày 1 hằng tháng lúc 07:00";
"Một lần lúc 07:30 ngày 15/12/2026".

``locale="en"`` gives the same sentence in English ("Every day at 06:00 and 17:00, from 01/12
to 31/12"), from the wording table ``WORDS`` (this package stays free of the web's catalog).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, time

from schedules.model import Schedule
from schedules.rules import LAST_DAY, WORKING_DAYS, RuleSpec, normalize_spec
from schedules.times import LOCAL_TZ

WEEKDAY_NAMES_VI = ("thứ Hai", "thứ Ba", "thứ Tư", "thứ Năm", "thứ Sáu", "thứ Bảy", "Chủ nhật")
WEEKDAY_NAMES_EN = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")

#: The summary's words by locale (Vietnamese first; an unknown locale reads Vietnamese).
WORDS: dict[str, dict[str, str]] = {
    "vi": {
        "once": "Một lần lúc {time} ngày {date}",
        "repeats": "; mỗi lần phát lặp lại {n} lần",
        "gap": ", cách nhau {seconds} giây",
        "at": " lúc ",
        "and": " và ",
        "daily": "Hằng ngày",
        "weekdays": "Các ngày trong tuần (thứ Hai đến thứ Sáu)",
        "weekly": "{days} hằng tuần",
        "monthly": "Ngày {days} hằng tháng",
        "last_day": "ngày cuối",
        "only_last_day": "cuối cùng",
        "short_months": " (tháng không có ngày {days} thì bỏ qua)",
        "from": ", từ {date}",
        "until": " đến {date}",
    },
    "en": {
        "once": "Once at {time} on {date}",
        "repeats": "; each time played {n} times",
        "gap": ", {seconds} seconds apart",
        "at": " at ",
        "and": " and ",
        "daily": "Every day",
        "weekdays": "Working days (Monday to Friday)",
        "weekly": "Every {days}",
        "monthly": "On day {days} of every month",
        "last_day": "the last day",
        "only_last_day": "the last day",
        "short_months": " (skipped in months without day {days})",
        "from": ", from {date}",
        "until": " to {date}",
    },
}


def _words(locale: str) -> dict[str, str]:
    return WORDS.get(locale, WORDS["vi"])


def summarize(schedule: Schedule, *, today: date | None = None, locale: str = "vi") -> str:
    """The Vietnamese (or ``locale``'s) summary of ``schedule``, with its repeats when more
    than one.

    Dates in the validity window omit the year when ``today`` is given and they all fall in
    ``today``'s year; otherwise they show it.
    """
    w = _words(locale)
    if schedule.at is not None:
        local = schedule.at.astimezone(LOCAL_TZ)
        text = w["once"].format(time=_time(local.time()), date=f"{local:%d/%m/%Y}")
    else:
        assert schedule.rule is not None
        text = summarize_rule(schedule.rule.spec, today=today, locale=locale)
    if schedule.repeats > 1:
        text += w["repeats"].format(n=schedule.repeats)
        if schedule.repeat_gap_s:
            text += w["gap"].format(seconds=_number(schedule.repeat_gap_s, locale))
    return text


def summarize_rule(spec: RuleSpec, *, today: date | None = None, locale: str = "vi") -> str:
    """The Vietnamese (or ``locale``'s) summary of the builder's choices (see :func:`summarize`
    for ``today``)."""
    spec = normalize_spec(spec)
    w = _words(locale)
    times = w["at"] + _join([_time(t) for t in spec.times], w)
    weekdays = spec.weekdays
    if spec.frequency == "daily" or (spec.frequency == "weekly" and weekdays == tuple(range(7))):
        text = w["daily"] + times
    elif spec.frequency == "weekdays" or weekdays == WORKING_DAYS:
        text = w["weekdays"] + times
    elif spec.frequency == "weekly":
        names = WEEKDAY_NAMES_EN if locale == "en" else WEEKDAY_NAMES_VI
        days = ", ".join(names[d] for d in weekdays)
        text = w["weekly"].format(days=days)
        text = text[0].upper() + text[1:] + times
    else:
        numbers = [str(d) for d in spec.month_days if d != LAST_DAY]
        if LAST_DAY in spec.month_days:
            days = _join([*numbers, w["last_day"]], w) if numbers else w["only_last_day"]
        else:
            days = _join(numbers, w)
        text = w["monthly"].format(days=days) + times
        short = [d for d in spec.month_days if d >= 29]
        if short:
            text += w["short_months"].format(days=_join([str(d) for d in short], w))
    return text + _window(spec.valid_from, spec.valid_until, today, w)


def _window(
    valid_from: date, valid_until: date | None, today: date | None, w: dict[str, str]
) -> str:
    dates = [valid_from] if valid_until is None else [valid_from, valid_until]
    fmt = "%d/%m" if today is not None and all(d.year == today.year for d in dates) else "%d/%m/%Y"
    text = w["from"].format(date=f"{valid_from:{fmt}}")
    if valid_until is not None:
        text += w["until"].format(date=f"{valid_until:{fmt}}")
    return text


def _time(t: time) -> str:
    return f"{t:%H:%M}" if not t.second else f"{t:%H:%M:%S}"


def _join(parts: Sequence[str], w: dict[str, str] = WORDS["vi"]) -> str:
    if len(parts) <= 1:
        return "".join(parts)
    return ", ".join(parts[:-1]) + w["and"] + parts[-1]


def _number(x: float, locale: str = "vi") -> str:
    return f"{x:g}" if locale == "en" else f"{x:g}".replace(".", ",")
