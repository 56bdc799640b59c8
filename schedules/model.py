"""The model of when one broadcast plays: :class:`Schedule`."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Final, Literal

from schedules.errors import ScheduleError
from schedules.rules import ParsedRule, RuleSpec, parse_rule_text
from schedules.times import LOCAL_TZ, require_aware

MAX_REPEATS: Final = 10  # as ScheduleItem.repeats in loa.protocol
MAX_REPEAT_GAP_S: Final = 600.0
DEFAULT_REPEAT_GAP_S: Final = 3.0

ScheduleKind = Literal["once", "recurring"]


@dataclass(frozen=True)
class Schedule:
    """When a broadcast plays: once at ``at``, or on the recurrence ``rrule``.

    - ``at``: the one-off instant, aware; stored as UTC, rounded up to a whole second.
    - ``rrule``: RFC 5545 text with a local DTSTART and the validity window (see
      ``schedules.rules``); stored in canonical form.
    - ``repeats``: how many times the audio plays at each occurrence (1..10), ``repeat_gap_s``
      seconds apart (0..600). Together with the audio's duration they give the time the node is
      occupied: :meth:`occupied`.

    Exactly one of ``at`` and ``rrule`` is set. Construction checks the form only (``bad_rrule``,
    ``bad_repeats``, …), so a stored schedule always loads; use ``schedules.one_off`` /
    ``schedules.recurring`` for new input, which also refuse times in the past, empty rules and
    rules that repeat too often.
    """

    at: datetime | None = None
    rrule: str | None = None
    repeats: int = 1
    repeat_gap_s: float = DEFAULT_REPEAT_GAP_S

    def __post_init__(self) -> None:
        if (self.at is None) == (self.rrule is None):
            raise ValueError("a Schedule has exactly one of `at` and `rrule`")
        if self.at is not None:
            at = require_aware(self.at, "at").astimezone(UTC)
            if at.microsecond:
                at = at.replace(microsecond=0) + timedelta(seconds=1)
            object.__setattr__(self, "at", at)
        if self.rrule is not None:
            object.__setattr__(self, "rrule", parse_rule_text(self.rrule).text)
        if (
            isinstance(self.repeats, bool)
            or not isinstance(self.repeats, int)
            or not 1 <= self.repeats <= MAX_REPEATS
        ):
            raise ScheduleError(
                "bad_repeats",
                f"Số lần lặp mỗi lượt phát phải từ 1 đến {MAX_REPEATS}.",
                repr(self.repeats),
            )
        gap = self.repeat_gap_s
        if not isinstance(gap, int | float) or not 0 <= gap <= MAX_REPEAT_GAP_S:
            raise ScheduleError(
                "bad_repeat_gap",
                f"Khoảng nghỉ giữa các lần lặp phải từ 0 đến {MAX_REPEAT_GAP_S:.0f} giây.",
                repr(gap),
            )

    @property
    def kind(self) -> ScheduleKind:
        return "once" if self.at is not None else "recurring"

    @property
    def rule(self) -> ParsedRule | None:
        """The parsed recurrence (cached by text), None for a one-off."""
        return None if self.rrule is None else parse_rule_text(self.rrule)

    @property
    def spec(self) -> RuleSpec | None:
        """The rule builder's choices for a recurrence (to edit it), None for a one-off."""
        return None if self.rrule is None else parse_rule_text(self.rrule).spec

    @property
    def valid_from(self) -> date:
        """First local date of the validity window (for a one-off: its local date)."""
        if self.at is not None:
            return self.at.astimezone(LOCAL_TZ).date()
        assert self.rule is not None
        return self.rule.spec.valid_from

    @property
    def valid_until(self) -> date | None:
        """Last local date of the validity window; None when a recurrence has no end."""
        if self.at is not None:
            return self.at.astimezone(LOCAL_TZ).date()
        assert self.rule is not None
        return self.rule.spec.valid_until

    def occupied(self, duration_s: float) -> timedelta:
        """How long one occurrence keeps a node busy: the audio ``repeats`` times, with gaps."""
        return occupied(duration_s, self.repeats, self.repeat_gap_s)


def occupied(duration_s: float, repeats: int = 1, repeat_gap_s: float = 0.0) -> timedelta:
    """``repeats × duration_s + (repeats − 1) × repeat_gap_s`` as a timedelta.

    ``duration_s`` is the audio's length (for a relay, its window); it must be positive.
    """
    if not isinstance(duration_s, int | float) or not math.isfinite(duration_s) or duration_s <= 0:
        raise ScheduleError(
            "bad_duration", "Thời lượng bản tin phải lớn hơn 0 giây.", repr(duration_s)
        )
    return timedelta(seconds=repeats * duration_s + (repeats - 1) * repeat_gap_s)
