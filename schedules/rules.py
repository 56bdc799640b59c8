"""Recurrence rules: RFC 5545 text, and the simple choices of the web UI's rule builder.

The stored form of a recurring schedule is RFC 5545 text with a local ``DTSTART`` and one or more
``RRULE`` lines, for example::

    DTSTART;TZID=Asia/Ho_Chi_Minh:20261201T000000
    RRULE:FREQ=DAILY;UNTIL=20261231T165959Z;BYHOUR=6,17;BYMINUTE=0;BYSECOND=0

``DTSTART`` is local midnight of the first day of the validity window and ``UNTIL`` the last second
of its last day, in UTC as RFC 5545 requires. ``BYHOUR``/``BYMINUTE`` are local wall times.

One RRULE expands to the cross product of its ``BYHOUR`` and ``BYMINUTE`` values, so times of day
with different minutes (06:30 and 17:00) need one RRULE line per minute value. RFC 5545 says a
component SHOULD NOT carry more than one RRULE; RFC 2445 and python-dateutil allow it, and the
builder only emits several when the times require it.

Only what the builder can express is accepted: daily, weekdays, weekly on chosen days, monthly on
chosen days of the month, at whole-minute times, DTSTART at local midnight, UNTIL at the last second
of a local day. Anything else valid in RFC 5545 (COUNT, INTERVAL, BYSETPOS, yearly, hourly, …) is
refused with ``unsupported_rrule``. Besides keeping the summary and the builder exact, this makes
expansion safe: python-dateutil checks UNTIL only when a candidate date comes up, so a rule that can
never match (``FREQ=DAILY;BYMONTH=2;BYMONTHDAY=30``) would make it scan to the year 9999, while
every rule of this subset has a candidate at least every two months.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from typing import Final, Literal, get_args

from dateutil.rrule import rrule, rrulestr

from schedules.errors import ScheduleError
from schedules.times import LOCAL_TZ, LOCAL_TZ_NAME

Frequency = Literal["daily", "weekdays", "weekly", "monthly"]
FREQUENCIES: Final[tuple[str, ...]] = get_args(Frequency)

#: RFC 5545 weekday codes, index 0 = Monday as in ``date.weekday()``.
WEEKDAY_CODES: Final = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")
WORKING_DAYS: Final = (0, 1, 2, 3, 4)
#: In ``RuleSpec.month_days``: the last day of the month (RFC 5545 ``BYMONTHDAY=-1``).
LAST_DAY: Final = -1

MAX_TEXT_CHARS: Final = 2000
MAX_RRULE_LINES: Final = 24

_DTSTART_RE = re.compile(r"^DTSTART;TZID=([^:;]+):(\d{8}T\d{6})$")
_KNOWN_PARAMS = frozenset(
    {
        "FREQ",
        "UNTIL",
        "COUNT",
        "INTERVAL",
        "BYSECOND",
        "BYMINUTE",
        "BYHOUR",
        "BYDAY",
        "BYMONTHDAY",
        "BYYEARDAY",
        "BYWEEKNO",
        "BYMONTH",
        "BYSETPOS",
        "WKST",
    }
)
_SUBSET_PARAMS = frozenset(
    {"FREQ", "UNTIL", "BYDAY", "BYMONTHDAY", "BYHOUR", "BYMINUTE", "BYSECOND"}
)


def _bad(detail: str) -> ScheduleError:
    return ScheduleError("bad_rrule", "Quy tắc lặp lại không hợp lệ.", detail)


# --- the builder's choices ----------------------------------------------------------------------


@dataclass(frozen=True)
class RuleSpec:
    """What the web UI's rule builder offers; :func:`build_rrule` turns it into RFC 5545 text.

    - ``frequency``: ``daily`` (every day), ``weekdays`` (Monday to Friday), ``weekly`` (on
      ``weekdays``), ``monthly`` (on ``month_days``).
    - ``times``: local wall times of day, whole minutes, e.g. ``(time(6), time(17))``.
    - ``valid_from`` / ``valid_until``: the validity window in local dates, both inclusive;
      ``valid_until`` None means no end.
    - ``weekdays``: for ``weekly`` only, 0 = Monday … 6 = Sunday.
    - ``month_days``: for ``monthly`` only, 1..31 or ``LAST_DAY`` (-1). A month without the chosen
      day (31 in April) is skipped, as RFC 5545 says.
    """

    frequency: Frequency
    times: tuple[time, ...]
    valid_from: date
    valid_until: date | None = None
    weekdays: tuple[int, ...] = ()
    month_days: tuple[int, ...] = ()


def normalize_spec(spec: RuleSpec) -> RuleSpec:
    """``spec`` checked, with times, weekdays and month days sorted and de-duplicated.

    Raises ScheduleError: ``bad_frequency``, ``no_times``, ``bad_time``, ``bad_weekdays``,
    ``bad_month_days``, ``window_empty``.
    """
    if spec.frequency not in FREQUENCIES:
        raise ScheduleError("bad_frequency", "Tần suất phát không hợp lệ.", repr(spec.frequency))
    if not spec.times:
        raise ScheduleError("no_times", "Chưa chọn giờ phát.")
    for t in spec.times:
        if not isinstance(t, time) or t.tzinfo is not None or t.second or t.microsecond:
            raise ScheduleError(
                "bad_time", "Giờ phát không hợp lệ (chỉ chọn giờ và phút).", repr(t)
            )
    weekdays = tuple(sorted(set(spec.weekdays)))
    month_days = tuple(sorted(set(spec.month_days), key=lambda d: (d < 0, d)))
    if spec.frequency == "weekly":
        if not weekdays or any(not 0 <= d <= 6 for d in weekdays):
            raise ScheduleError("bad_weekdays", "Hãy chọn ít nhất một ngày trong tuần.")
    elif weekdays:
        raise ScheduleError(
            "bad_weekdays", "Chỉ chọn ngày trong tuần khi phát hằng tuần.", repr(weekdays)
        )
    if spec.frequency == "monthly":
        if not month_days or any(not (1 <= d <= 31 or d == LAST_DAY) for d in month_days):
            raise ScheduleError(
                "bad_month_days",
                "Ngày trong tháng phải từ 1 đến 31, hoặc ngày cuối tháng.",
                repr(spec.month_days),
            )
    elif month_days:
        raise ScheduleError(
            "bad_month_days", "Chỉ chọn ngày trong tháng khi phát hằng tháng.", repr(month_days)
        )
    if spec.valid_until is not None and spec.valid_until < spec.valid_from:
        raise ScheduleError(
            "window_empty", "Ngày kết thúc phải trùng hoặc sau ngày bắt đầu.", repr(spec)
        )
    return RuleSpec(
        frequency=spec.frequency,
        times=tuple(sorted(set(spec.times))),
        valid_from=spec.valid_from,
        valid_until=spec.valid_until,
        weekdays=weekdays,
        month_days=month_days,
    )


def window_start(valid_from: date) -> datetime:
    """Local midnight starting ``valid_from`` (aware, Asia/Ho_Chi_Minh)."""
    return datetime.combine(valid_from, time(0), tzinfo=LOCAL_TZ)


def window_end(valid_until: date) -> datetime:
    """The last second of local day ``valid_until``, in UTC (the RFC 5545 ``UNTIL``)."""
    last = datetime.combine(valid_until + timedelta(days=1), time(0), tzinfo=LOCAL_TZ)
    return (last - timedelta(seconds=1)).astimezone(UTC)


def build_rrule(spec: RuleSpec) -> str:
    """RFC 5545 text (``DTSTART`` + ``RRULE`` lines) for the builder's choices. See module doc."""
    spec = normalize_spec(spec)
    head = f"FREQ={'WEEKLY' if spec.frequency == 'weekly' else spec.frequency.upper()}"
    if spec.frequency == "weekdays":
        head = "FREQ=DAILY"
    if spec.valid_until is not None:
        head += f";UNTIL={window_end(spec.valid_until):%Y%m%dT%H%M%SZ}"
    if spec.frequency == "weekdays":
        head += ";BYDAY=" + ",".join(WEEKDAY_CODES[d] for d in WORKING_DAYS)
    elif spec.frequency == "weekly":
        head += ";BYDAY=" + ",".join(WEEKDAY_CODES[d] for d in spec.weekdays)
    elif spec.frequency == "monthly":
        head += ";BYMONTHDAY=" + ",".join(str(d) for d in spec.month_days)
    hours_by_minute: dict[int, list[int]] = {}
    for t in spec.times:
        hours_by_minute.setdefault(t.minute, []).append(t.hour)
    lines = [f"DTSTART;TZID={LOCAL_TZ_NAME}:{spec.valid_from:%Y%m%d}T000000"]
    for minute, hours in sorted(hours_by_minute.items(), key=lambda kv: (kv[1][0], kv[0])):
        by_hour = ",".join(str(h) for h in hours)
        lines.append(f"RRULE:{head};BYHOUR={by_hour};BYMINUTE={minute};BYSECOND=0")
    return "\n".join(lines)


def parse_rrule(text: str) -> RuleSpec:
    """The builder's choices back from RFC 5545 text (the inverse of :func:`build_rrule`).

    Raises ScheduleError ``bad_rrule`` (not RFC 5545 as described in the module doc),
    ``unsupported_rrule`` (valid, but outside what the builder expresses), ``too_frequent``
    (SECONDLY/MINUTELY) or ``window_empty``.
    """
    return parse_rule_text(text).spec


@dataclass(frozen=True)
class ParsedRule:
    """Checked RFC 5545 text in canonical form, with the builder's choices it expresses."""

    text: str
    spec: RuleSpec
    #: Local midnight starting the validity window.
    dtstart: datetime
    #: The end of the validity window in UTC (the RRULE's UNTIL), None when open-ended.
    until: datetime | None

    def rrules(self, *, not_before: datetime | None, not_after: datetime) -> list[rrule]:
        """One python-dateutil rule per RRULE line, ended at ``not_after`` at the latest.

        With ``not_before``, iteration starts the local day before it instead of at DTSTART,
        which may be years ago. That changes nothing at or after ``not_before``: the rules of
        the supported subset have no INTERVAL, no BYSETPOS and explicit days and times, so their
        occurrences do not depend on where iteration starts.
        """
        start = self.dtstart
        if not_before is not None:
            day = not_before.astimezone(LOCAL_TZ).date() - timedelta(days=1)
            start = max(start, window_start(day))
        out = []
        for line in self.text.splitlines()[1:]:
            rule = rrulestr(line, dtstart=start)
            assert isinstance(rule, rrule)
            until = _until(rule)
            out.append(rule.replace(until=not_after if until is None else min(until, not_after)))
        return out


def _until(rule: rrule) -> datetime | None:
    """A dateutil rule's UNTIL (dateutil keeps it in a private attribute only)."""
    until = vars(rule).get("_until")
    assert until is None or isinstance(until, datetime)
    return until


@lru_cache(maxsize=4096)
def parse_rule_text(text: str) -> ParsedRule:
    """Check RFC 5545 text as stored for a recurring schedule; see :func:`parse_rrule`."""
    if not isinstance(text, str) or len(text) > MAX_TEXT_CHARS:
        raise _bad(f"not a string of at most {MAX_TEXT_CHARS} characters")
    lines = [line.strip().upper() for line in text.strip().splitlines() if line.strip()]
    dtstarts = [line for line in lines if line.startswith("DTSTART")]
    rrule_lines = [line[len("RRULE:") :] for line in lines if line.startswith("RRULE:")]
    if len(dtstarts) != 1:
        raise _bad("exactly one DTSTART line is required")
    if not rrule_lines or len(rrule_lines) > MAX_RRULE_LINES:
        raise _bad(f"1 to {MAX_RRULE_LINES} RRULE lines are required")
    if len(dtstarts) + len(rrule_lines) != len(lines):
        raise _bad("only DTSTART and RRULE lines are accepted")
    m = _DTSTART_RE.match(dtstarts[0])
    if not m or m.group(1) != LOCAL_TZ_NAME.upper():
        raise _bad(f"DTSTART must be local time: DTSTART;TZID={LOCAL_TZ_NAME}:YYYYMMDDTHHMMSS")
    try:
        dtstart = datetime.strptime(m.group(2), "%Y%m%dT%H%M%S").replace(tzinfo=LOCAL_TZ)
    except ValueError as exc:
        raise _bad(str(exc)) from exc
    unsupported = ScheduleError(
        "unsupported_rrule",
        "Quy tắc lặp này chưa được hỗ trợ: chỉ phát hằng ngày, các ngày trong tuần, "
        "hằng tuần theo ngày chọn hoặc hằng tháng theo ngày chọn.",
        text,
    )
    heads: set[tuple[tuple[str, str], ...]] = set()
    times: list[time] = []
    untils: set[datetime | None] = set()
    for line in rrule_lines:
        pairs = [part.partition("=") for part in line.split(";")]
        if any(not sep or not value or key not in _KNOWN_PARAMS for key, sep, value in pairs):
            raise _bad(f"unknown or malformed part in RRULE {line!r}")
        params = {key: value for key, _, value in pairs}
        if len(params) != len(pairs) or "FREQ" not in params:
            raise _bad("each RRULE needs FREQ, and no part twice")
        if params["FREQ"] in ("SECONDLY", "MINUTELY"):
            raise ScheduleError(
                "too_frequent",
                "Lịch phát lặp lại quá dày: không lặp theo giây hay theo phút.",
                params["FREQ"],
            )
        try:
            rule = rrulestr(line, dtstart=dtstart)
        except (ValueError, TypeError, KeyError, IndexError, OverflowError) as exc:
            raise _bad(str(exc)) from exc
        assert isinstance(rule, rrule)
        until = _until(rule)
        if until is not None and until < dtstart:
            raise ScheduleError(
                "window_empty", "Ngày kết thúc phải trùng hoặc sau ngày bắt đầu.", line
            )
        untils.add(until)
        if set(params) - _SUBSET_PARAMS or params.get("BYSECOND", "0") != "0":
            raise unsupported
        if "BYHOUR" not in params or "BYMINUTE" not in params:
            raise unsupported
        try:
            hours = [int(h) for h in params["BYHOUR"].split(",")]
            minutes = [int(m) for m in params["BYMINUTE"].split(",")]
        except ValueError as exc:
            raise unsupported from exc
        times += [time(h, m) for h in hours for m in minutes]
        heads.add(tuple((k, params[k]) for k in ("FREQ", "BYDAY", "BYMONTHDAY") if k in params))
    if len(heads) != 1 or len(untils) != 1 or dtstart.time() != time(0):
        raise unsupported
    head = dict(heads.pop())
    until = untils.pop()
    freq, byday, bymonthday = head["FREQ"], head.get("BYDAY"), head.get("BYMONTHDAY")
    weekdays: tuple[int, ...] = ()
    month_days: tuple[int, ...] = ()
    if byday is not None:
        if any(c not in WEEKDAY_CODES for c in byday.split(",")):
            raise unsupported  # e.g. 1MO
        weekdays = tuple(sorted({WEEKDAY_CODES.index(c) for c in byday.split(",")}))
    frequency: Frequency
    if freq == "DAILY" and bymonthday is None and byday is None:
        frequency = "daily"
    elif freq == "DAILY" and bymonthday is None and weekdays == WORKING_DAYS:
        frequency, weekdays = "weekdays", ()
    elif freq == "WEEKLY" and bymonthday is None and weekdays:
        frequency = "weekly"
    elif freq == "MONTHLY" and bymonthday is not None and byday is None:
        frequency = "monthly"
        month_days = tuple(int(d) for d in bymonthday.split(","))
        if any(not (1 <= d <= 31 or d == LAST_DAY) for d in month_days):
            raise unsupported
    else:
        raise unsupported
    valid_until = None
    if until is not None:
        local_until = until.astimezone(LOCAL_TZ)
        if local_until.time() != time(23, 59, 59):
            raise unsupported
        valid_until = local_until.date()
    spec = RuleSpec(
        frequency=frequency,
        times=tuple(times),
        valid_from=dtstart.date(),
        valid_until=valid_until,
        weekdays=weekdays,
        month_days=month_days,
    )
    return ParsedRule(
        text=build_rrule(spec),
        spec=normalize_spec(spec),
        dtstart=dtstart,
        until=None if until is None else until.astimezone(UTC),
    )
