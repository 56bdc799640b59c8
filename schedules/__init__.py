"""Pure scheduling logic for Loa: no database, no MQTT, no clock (``now`` is always an argument).

- ``rules``: the web UI's rule builder ⇄ RFC 5545 RRULE text (local DTSTART, UTC UNTIL).
- ``model``: :class:`Schedule`, when one broadcast plays (one-off or recurring, repeats).
- ``validation``: :func:`one_off` / :func:`recurring` for new input, with ``ScheduleError`` codes.
- ``expansion``: occurrences over a UTC horizon, with stable keys (``2026-11-27T06:00:00Z``).
- ``priority``: normal / urgent / emergency and the order items play on one node.
- ``conflicts``: equal-priority overlaps per node, reported before saving.
- ``summary``: a Vietnamese sentence for a schedule.

See docs/scheduling.md.
"""

from schedules.conflicts import BroadcastPlan, Conflict, describe_conflict, find_conflicts
from schedules.errors import ScheduleError
from schedules.expansion import Occurrence, next_occurrence, occurrences, occurrences_overlapping
from schedules.model import Schedule, occupied
from schedules.priority import (
    PRIORITIES,
    PRIORITY_LABELS_VI,
    DueItem,
    Slot,
    check_priority,
    play_order,
    preempts,
    rank,
    winner,
)
from schedules.rules import LAST_DAY, Frequency, RuleSpec, build_rrule, parse_rrule
from schedules.summary import summarize, summarize_rule
from schedules.times import (
    LOCAL_TZ,
    ClockOutOfRange,
    occurrence_key,
    parse_clock,
    parse_occurrence_key,
    to_local,
    to_utc,
)
from schedules.validation import MIN_SPACING, check_schedule, one_off, recurring

__all__ = [
    "LAST_DAY",
    "LOCAL_TZ",
    "MIN_SPACING",
    "PRIORITIES",
    "PRIORITY_LABELS_VI",
    "BroadcastPlan",
    "ClockOutOfRange",
    "Conflict",
    "DueItem",
    "Frequency",
    "Occurrence",
    "RuleSpec",
    "Schedule",
    "ScheduleError",
    "Slot",
    "build_rrule",
    "check_priority",
    "check_schedule",
    "describe_conflict",
    "find_conflicts",
    "next_occurrence",
    "occupied",
    "occurrence_key",
    "occurrences",
    "occurrences_overlapping",
    "one_off",
    "parse_clock",
    "parse_occurrence_key",
    "parse_rrule",
    "play_order",
    "preempts",
    "rank",
    "recurring",
    "summarize",
    "summarize_rule",
    "to_local",
    "to_utc",
    "winner",
]
