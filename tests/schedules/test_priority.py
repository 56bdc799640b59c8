from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import pairwise

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from loa.protocol import PRIORITY_RANK
from schedules import PRIORITIES, DueItem, Slot, play_order, preempts, rank, winner
from schedules.priority import PRIORITY_LABELS_VI

T0 = datetime(2026, 12, 1, 23, 0, tzinfo=UTC)  # 06:00 local
MIN = timedelta(minutes=1)


def item(
    key: str, at_min: float, dur_min: float, priority: str = "normal", **kw: object
) -> DueItem:
    return DueItem(key, T0 + at_min * MIN, dur_min * MIN, priority, **kw)  # type: ignore[arg-type]


def summary(slots: list[Slot]) -> list[tuple[str, str, float | None, float | None]]:
    def minutes(t: datetime | None) -> float | None:
        return None if t is None else (t - T0) / MIN

    return [(s.item.key, s.outcome, minutes(s.start), minutes(s.end)) for s in slots]


def test_the_three_levels_follow_the_protocol_ranks() -> None:
    assert PRIORITIES == ("normal", "urgent", "emergency")
    assert [rank(p) for p in PRIORITIES] == [PRIORITY_RANK[p] for p in PRIORITIES] == [0, 1, 2]
    assert PRIORITY_LABELS_VI == {
        "normal": "thông thường",
        "urgent": "ưu tiên",
        "emergency": "khẩn cấp",
    }


@pytest.mark.parametrize(
    ("incoming", "playing", "expected"),
    [
        ("emergency", "normal", True),
        ("emergency", "urgent", True),
        ("emergency", "emergency", False),
        ("urgent", "normal", False),
        ("normal", "normal", False),
        ("normal", "emergency", False),
    ],
)
def test_only_emergency_preempts_and_only_lower(
    incoming: str, playing: str, expected: bool
) -> None:
    assert preempts(incoming, playing) is expected  # type: ignore[arg-type]


def test_urgent_wins_over_normal_when_both_are_due() -> None:
    n, u = item("n", 0, 5), item("u", 1, 5, "urgent")
    assert winner(n, u) is u and winner(u, n) is u


def test_equal_priority_goes_by_due_time_then_key() -> None:
    a, b, c = item("a", 1, 5), item("b", 0, 5), item("c", 0, 5)
    assert winner(a, b) is b
    assert winner(b, c) is b and winner(c, b) is b


def test_equal_priority_queues_instead_of_overlapping() -> None:
    slots = play_order([item("a", 0, 10), item("b", 5, 10)])
    assert summary(slots) == [("a", "played", 0, 10), ("b", "played", 10, 20)]
    assert slots[1].delay == 5 * MIN


def test_urgent_does_not_interrupt_but_goes_before_waiting_normals() -> None:
    slots = play_order([item("n1", 0, 10), item("n2", 1, 5), item("u", 2, 5, "urgent")])
    assert summary(slots) == [
        ("n1", "played", 0, 10),
        ("u", "played", 10, 15),
        ("n2", "played", 15, 20),
    ]


def test_emergency_interrupts_what_plays_and_the_queue_resumes_after() -> None:
    slots = play_order([item("n", 0, 10), item("e", 4, 3, "emergency"), item("n2", 5, 2)])
    assert summary(slots) == [
        ("n", "interrupted", 0, 4),
        ("e", "played", 4, 7),
        ("n2", "played", 7, 9),
    ]


def test_emergency_waits_for_another_emergency() -> None:
    slots = play_order([item("e1", 0, 5, "emergency"), item("e2", 1, 5, "emergency")])
    assert summary(slots) == [("e1", "played", 0, 5), ("e2", "played", 5, 10)]


def test_simultaneous_items_play_by_priority() -> None:
    slots = play_order([item("n", 0, 1), item("e", 0, 1, "emergency"), item("u", 0, 1, "urgent")])
    assert [s.item.key for s in slots] == ["e", "u", "n"]
    assert all(s.outcome == "played" for s in slots)


def test_an_item_kept_waiting_past_its_max_lateness_is_missed() -> None:
    slots = play_order([item("a", 0, 10), item("b", 1, 1, max_late=timedelta(seconds=30))])
    assert summary(slots) == [("a", "played", 0, 10), ("b", "missed", None, None)]


def test_back_to_back_items_do_not_wait() -> None:
    slots = play_order([item("a", 0, 10), item("b", 10, 10)])
    assert [s.delay for s in slots] == [timedelta(0), timedelta(0)]


def test_keys_must_be_distinct_and_durations_positive() -> None:
    with pytest.raises(ValueError):
        play_order([item("a", 0, 1), item("a", 5, 1)])
    with pytest.raises(ValueError):
        item("a", 0, 0)


# --- properties ------------------------------------------------------------------------------

items_st = st.lists(
    st.builds(
        lambda at, dur, p, late: (at, dur, p, late),
        st.integers(0, 120),
        st.integers(1, 30),
        st.sampled_from(PRIORITIES),
        st.none() | st.integers(0, 20),
    ),
    max_size=12,
).map(
    lambda rows: [
        item(f"k{i}", at, dur, p, max_late=None if late is None else late * MIN)
        for i, (at, dur, p, late) in enumerate(rows)
    ]
)


@given(items_st)
@settings(max_examples=150, deadline=None)
def test_play_order_obeys_the_priority_rules(items: list[DueItem]) -> None:
    slots = play_order(items)
    assert sorted(s.item.key for s in slots) == sorted(i.key for i in items)
    on_air = [s for s in slots if s.start is not None]
    for s in on_air:
        assert s.start is not None and s.end is not None
        assert s.start >= s.item.due and s.end > s.start
        if s.outcome == "played":
            assert s.end - s.start == s.item.duration
        if s.item.max_late is not None:
            assert s.start - s.item.due <= s.item.max_late
    # one thing at a time
    for a, b in pairwise(on_air):
        assert a.end is not None and b.start is not None and a.end <= b.start
    # only an emergency interrupts, only something lower, at the moment it falls due
    for s in on_air:
        if s.outcome == "interrupted":
            assert s.item.priority != "emergency"
            nxt = on_air[on_air.index(s) + 1]
            assert nxt.item.priority == "emergency" and nxt.start == s.end == nxt.item.due
    # an emergency starts at once unless another emergency is on air
    for s in on_air:
        if s.item.priority == "emergency" and s.start != s.item.due:
            assert s.start is not None
            busy = [o for o in on_air if o.start and o.end and o.start <= s.item.due < o.end]
            assert busy and all(o.item.priority == "emergency" for o in busy)


@given(items_st.map(lambda its: [DueItem(i.key, i.due, i.duration, i.priority) for i in its]))
@settings(max_examples=150, deadline=None)
def test_the_node_never_idles_and_always_takes_the_best_waiting_item(
    items: list[DueItem],
) -> None:
    slots = play_order(items)
    assert all(s.outcome != "missed" for s in slots)
    ends = {s.end for s in slots}
    for s in slots:
        assert s.start is not None
        # started as soon as due, or when the node became free
        assert s.start == s.item.due or s.start in ends
        for other in slots:
            assert other.start is not None
            waiting = other.item.due <= s.start < other.start
            if waiting:
                assert winner(s.item, other.item) is s.item
