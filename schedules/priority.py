"""The three priorities of Thông tư 39/2020/TT-BTTTT and what they mean on one node.

- ``normal`` (thông thường): plays by schedule.
- ``urgent`` (ưu tiên): placed first: when several items are waiting, it plays before normal
  ones; it does not interrupt what is already playing.
- ``emergency`` (khẩn cấp): plays immediately, interrupting anything of lower priority.

Equal priorities never overlap on a node: the later one waits until the node is free.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final, Literal

from loa.protocol import PRIORITY_RANK, Priority
from schedules.errors import ScheduleError
from schedules.times import require_aware

PRIORITIES: Final[tuple[Priority, ...]] = ("normal", "urgent", "emergency")
PRIORITY_LABELS_VI: Final[dict[str, str]] = {
    "normal": "thông thường",
    "urgent": "ưu tiên",
    "emergency": "khẩn cấp",
}

Outcome = Literal["played", "interrupted", "missed"]


def rank(priority: Priority) -> int:
    """0 normal, 1 urgent, 2 emergency (``loa.protocol.PRIORITY_RANK``); KeyError otherwise."""
    return PRIORITY_RANK[priority]


def check_priority(value: object) -> Priority:
    """``value`` if it is one of the three priorities; ScheduleError ``bad_priority`` otherwise."""
    if value not in PRIORITY_RANK:
        raise ScheduleError(
            "bad_priority",
            "Mức ưu tiên phải là thông thường, ưu tiên hoặc khẩn cấp.",
            repr(value),
        )
    return value  # type: ignore[return-value]


def preempts(incoming: Priority, playing: Priority) -> bool:
    """Whether ``incoming`` stops what is ``playing``: only emergency, and only over lower."""
    return incoming == "emergency" and rank(playing) < rank(incoming)


@dataclass(frozen=True)
class DueItem:
    """Something due to play on one node.

    ``key`` identifies it (e.g. ``loa.protocol.item_key(broadcast, occurrence)``) and breaks
    ties; ``due`` is when it should start (aware); ``duration`` its time on air
    (``Schedule.occupied``); ``max_late`` how late it may still start (None: any time), past which
    it is missed. For the item already playing, give its actual start as ``due``.
    """

    key: str
    due: datetime
    duration: timedelta
    priority: Priority
    max_late: timedelta | None = None

    def __post_init__(self) -> None:
        require_aware(self.due, "due")
        if self.duration <= timedelta(0):
            raise ValueError(f"{self.key}: duration must be positive")
        check_priority(self.priority)


def _order(item: DueItem) -> tuple[int, datetime, str]:
    return (-rank(item.priority), item.due, item.key)


def winner(a: DueItem, b: DueItem) -> DueItem:
    """Of two items both waiting for the node, the one that plays first: the higher priority,
    then the one due earlier, then the smaller key (so the answer never depends on order)."""
    return min(a, b, key=_order)


@dataclass(frozen=True)
class Slot:
    """What happens to one item: ``played`` from ``start`` to ``end``; ``interrupted`` at ``end``
    by an emergency; or ``missed`` (``start`` and ``end`` None) because the node was busy beyond
    the item's ``max_late``."""

    item: DueItem
    outcome: Outcome
    start: datetime | None
    end: datetime | None

    @property
    def delay(self) -> timedelta | None:
        """How much later than due it started."""
        return None if self.start is None else self.start - self.item.due


def play_order(items: Iterable[DueItem]) -> list[Slot]:
    """The order and times the items actually play on one node, under the priority rules.

    The node plays one item at a time. When it is free it takes, of the items already due, the
    :func:`winner`. An emergency that falls due while a lower priority plays interrupts it (the
    interrupted item is not resumed); anything else waits. Returns one slot per item, in the order
    the node dealt with them.
    """
    arrivals = sorted(items, key=lambda it: (it.due, _order(it)))
    keys = [it.key for it in arrivals]
    if len(set(keys)) != len(keys):
        raise ValueError("play_order needs distinct keys")
    waiting: list[tuple[tuple[int, datetime, str], DueItem]] = []
    slots: list[Slot] = []
    i = 0
    now: datetime | None = None
    playing: tuple[DueItem, datetime] | None = None  # item, start

    def arrive_until(t: datetime) -> None:
        nonlocal i
        while i < len(arrivals) and arrivals[i].due <= t:
            heapq.heappush(waiting, (_order(arrivals[i]), arrivals[i]))
            i += 1

    while True:
        if playing is None:
            if not waiting:
                if i == len(arrivals):
                    return slots
                now = arrivals[i].due if now is None else max(now, arrivals[i].due)
            assert now is not None
            arrive_until(now)
            item = heapq.heappop(waiting)[1]
            if item.max_late is not None and now - item.due > item.max_late:
                slots.append(Slot(item, "missed", None, None))
                continue
            playing = (item, now)
            continue
        item, started = playing
        ends = started + item.duration
        if i < len(arrivals) and arrivals[i].due < ends:
            incoming = arrivals[i]
            arrive_until(incoming.due)
            if preempts(incoming.priority, item.priority):
                slots.append(Slot(item, "interrupted", started, incoming.due))
                playing, now = None, incoming.due
            continue
        slots.append(Slot(item, "played", started, ends))
        playing, now = None, ends
