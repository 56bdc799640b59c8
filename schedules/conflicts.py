"""Per-node conflict detection before a broadcast is saved.

Two broadcasts conflict when they have the same priority, target a common node, and an occurrence
of one is on air ``[at, at + occupied)`` while an occurrence of the other is. Different priorities
never conflict: the priority rules (``schedules.priority``) decide who plays first. Back-to-back
occurrences (one ends exactly when the other starts) do not conflict.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from loa.protocol import Priority
from schedules.expansion import occurrences, occurrences_overlapping
from schedules.model import Schedule
from schedules.priority import PRIORITY_LABELS_VI, check_priority
from schedules.times import LOCAL_TZ, require_aware


@dataclass(frozen=True)
class BroadcastPlan:
    """A broadcast as conflict detection sees it.

    ``id`` is None for one not saved yet; ``duration_s`` the length of its audio played once (for
    a relay, its window), the schedule's repeats are added; ``nodes`` the ids of every node it
    reaches (the controller resolves zones to nodes).
    """

    id: int | None
    title: str
    schedule: Schedule
    duration_s: float
    nodes: frozenset[str]
    priority: Priority

    def __post_init__(self) -> None:
        check_priority(self.priority)
        self.schedule.occupied(self.duration_s)  # checks the duration
        object.__setattr__(self, "nodes", frozenset(self.nodes))


@dataclass(frozen=True)
class Conflict:
    """One occurrence of the planned broadcast overlapping one of ``other_id`` on ``nodes``.

    ``occurrence``/``start`` are the planned occurrence's key and UTC start, ``other_occurrence``/
    ``other_start`` the clashing one's; ``overlap_start``/``overlap_end`` when both are on air.
    """

    other_id: int | None
    other_title: str
    priority: Priority
    nodes: tuple[str, ...]
    occurrence: str
    start: datetime
    other_occurrence: str
    other_start: datetime
    overlap_start: datetime
    overlap_end: datetime


def find_conflicts(
    plan: BroadcastPlan,
    existing: Iterable[BroadcastPlan],
    *,
    start: datetime,
    end: datetime,
    limit: int | None = None,
) -> list[Conflict]:
    """Every equal-priority overlap between ``plan``'s occurrences starting in ``[start, end)``
    and ``existing`` broadcasts, on the nodes they share.

    An existing broadcast with the same (non-None) id as ``plan`` is skipped, so the broadcast
    being edited does not clash with its stored self. Sorted by time, then other id, then nodes;
    at most ``limit`` results when given.
    """
    start = require_aware(start, "start").astimezone(UTC)
    end = require_aware(end, "end").astimezone(UTC)
    on_air = plan.schedule.occupied(plan.duration_s)
    mine = occurrences(plan.schedule, start, end)
    found: list[Conflict] = []
    if not mine:
        return found
    for other in existing:
        if plan.id is not None and other.id == plan.id:
            continue
        if other.priority != plan.priority:
            continue
        shared = tuple(sorted(plan.nodes & other.nodes))
        if not shared:
            continue
        other_on_air = other.schedule.occupied(other.duration_s)
        theirs = occurrences_overlapping(other.schedule, start, end + on_air, other_on_air)
        starts = [o.at for o in theirs]
        for occ in mine:
            # theirs overlaps occ iff occ.at - other_on_air < b < occ.at + on_air
            lo = bisect_right(starts, occ.at - other_on_air)
            hi = bisect_left(starts, occ.at + on_air)
            for o in theirs[lo:hi]:
                found.append(
                    Conflict(
                        other_id=other.id,
                        other_title=other.title,
                        priority=plan.priority,
                        nodes=shared,
                        occurrence=occ.key,
                        start=occ.at,
                        other_occurrence=o.key,
                        other_start=o.at,
                        overlap_start=max(occ.at, o.at),
                        overlap_end=min(occ.at + on_air, o.at + other_on_air),
                    )
                )
    found.sort(key=lambda c: (c.overlap_start, c.start, c.other_id or 0, c.nodes))
    return found if limit is None else found[:limit]


def describe_conflict(conflict: Conflict, node_names: Mapping[str, str] | None = None) -> str:
    """A Vietnamese sentence for the official, e.g. "Trùng giờ với lượt phát «Lịch tiêm phòng»
    (#12, cùng mức thông thường) trên cụm loa Thôn 1 lúc 06:00 ngày 01/12/2026."

    ``node_names`` maps node ids to display names; ids without a name are shown as they are.
    """
    names = [(node_names or {}).get(n, n) for n in conflict.nodes]
    if len(names) <= 3:
        where = "cụm loa " + ", ".join(names)
    else:
        where = f"{len(names)} cụm loa ({', '.join(names[:3])}, …)"
    who = f"«{conflict.other_title}»"
    level = PRIORITY_LABELS_VI[conflict.priority]
    who += f" (#{conflict.other_id}, " if conflict.other_id is not None else " ("
    who += f"cùng mức {level})"
    at = conflict.overlap_start.astimezone(LOCAL_TZ)
    return f"Trùng giờ với lượt phát {who} trên {where} lúc {at:%H:%M} ngày {at:%d/%m/%Y}."
