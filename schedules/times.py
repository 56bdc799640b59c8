"""Local time (Asia/Ho_Chi_Minh) ↔ UTC, and the occurrence key format.

Officials enter and read times in Vietnam's local time; everything stored, compared or sent is an
aware UTC ``datetime``. Vietnam has kept UTC+7 without daylight saving since 1975, but the code goes
through ``zoneinfo`` anyway so that nothing assumes it.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, time
from zoneinfo import ZoneInfo

LOCAL_TZ_NAME = "Asia/Ho_Chi_Minh"
LOCAL_TZ = ZoneInfo(LOCAL_TZ_NAME)

#: ``strftime`` pattern of an occurrence key: the occurrence's UTC instant to the second.
OCCURRENCE_KEY_FORMAT = "%Y-%m-%dT%H:%M:%SZ"


def to_utc(value: datetime) -> datetime:
    """An aware UTC datetime; a naive ``value`` is read as local (Asia/Ho_Chi_Minh) wall time."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=LOCAL_TZ)
    return value.astimezone(UTC)


def to_local(value: datetime) -> datetime:
    """The same instant as an aware datetime in Asia/Ho_Chi_Minh. ``value`` must be aware."""
    return require_aware(value, "value").astimezone(LOCAL_TZ)


def require_aware(value: datetime, name: str) -> datetime:
    """``value`` unchanged; ``ValueError`` if it is naive (a programming error, not user input)."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be a timezone-aware datetime, got naive {value!r}")
    return value


def occurrence_key(at: datetime) -> str:
    """The stable key of the occurrence at ``at``: its UTC instant, e.g. ``2026-11-27T06:00:00Z``.

    Occurrences fall on whole seconds, so the key identifies the instant exactly; the controller
    uses it as the dispatch key and the node reports it back (``ScheduleItem.occurrence``).
    """
    at = require_aware(at, "at").astimezone(UTC)
    if at.microsecond:
        raise ValueError(f"occurrences fall on whole seconds, got {at!r}")
    return at.strftime(OCCURRENCE_KEY_FORMAT)


def parse_occurrence_key(key: str) -> datetime:
    """The aware UTC instant an occurrence key names (inverse of :func:`occurrence_key`)."""
    return datetime.strptime(key, OCCURRENCE_KEY_FORMAT).replace(tzinfo=UTC)


#: A time of day as officials type it: "06:00", "6:30", "06.30", "6h", "6h30", "17g", "06:00:00".
_CLOCK = re.compile(r"(\d{1,2})(?:[:.](\d{2})(?::(\d{2}))?|[hg](\d{2})?)")


class ClockOutOfRange(ValueError):
    """A time written correctly that no clock shows, e.g. "25:00" or "6h75"."""


def parse_clock(text: str) -> time:
    """A local time of day from how a commune official writes it: "06:00", "6:30", "06.30",
    "6h", "6h30", "17g", "17 giờ", "06:00:00" (spaces and case do not matter).

    ``ClockOutOfRange`` for a well-written impossible time (hour over 23, minute or second over
    59); ``ValueError`` for anything else.
    """
    compact = re.sub(r"\s+", "", text.lower()).replace("giờ", "h")
    match = _CLOCK.fullmatch(compact)
    if match is None:
        raise ValueError(f"not a time of day: {text!r}")
    hour, minute, second, after_h = match.groups()
    h, m, s = int(hour), int(minute or after_h or 0), int(second or 0)
    if h > 23 or m > 59 or s > 59:
        raise ClockOutOfRange(f"no such time of day: {text!r}")
    return time(h, m, s)
