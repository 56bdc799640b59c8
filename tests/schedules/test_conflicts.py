from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from schedules import (
    PRIORITIES,
    BroadcastPlan,
    Conflict,
    Frequency,
    RuleSpec,
    Schedule,
    ScheduleError,
    build_rrule,
    describe_conflict,
    find_conflicts,
    occurrences,
)

DEC_1 = date(2026, 12, 1)
START = datetime(2026, 11, 1, tzinfo=UTC)
END = datetime(2027, 1, 1, tzinfo=UTC)


def daily(*times: time, until: date = date(2026, 12, 3), repeats: int = 1) -> Schedule:
    return Schedule(rrule=build_rrule(RuleSpec("daily", times, DEC_1, until)), repeats=repeats)


def plan(
    id_: int | None,
    schedule: Schedule,
    duration_s: float = 600,
    nodes: tuple[str, ...] = ("thon-1",),
    priority: str = "normal",
    title: str = "",
) -> BroadcastPlan:
    return BroadcastPlan(
        id_,
        title or f"Bản tin {id_}",
        schedule,
        duration_s,
        frozenset(nodes),
        priority,  # type: ignore[arg-type]
    )


def test_equal_priority_overlap_on_a_shared_node_names_the_other_broadcast() -> None:
    mine = plan(None, daily(time(6)), nodes=("thon-1", "thon-2"))
    other = plan(12, daily(time(6, 5), until=DEC_1), nodes=("thon-2", "thon-3"), title="Tiêm phòng")
    (c,) = find_conflicts(mine, [other], start=START, end=END)
    assert (c.other_id, c.other_title, c.nodes, c.priority) == (
        12,
        "Tiêm phòng",
        ("thon-2",),
        "normal",
    )
    assert (c.occurrence, c.other_occurrence) == ("2026-11-30T23:00:00Z", "2026-11-30T23:05:00Z")
    assert (c.overlap_start, c.overlap_end) == (
        datetime(2026, 11, 30, 23, 5, tzinfo=UTC),
        datetime(2026, 11, 30, 23, 10, tzinfo=UTC),
    )
    assert describe_conflict(c, {"thon-2": "Thôn 2"}) == (
        "Trùng giờ với lượt phát «Tiêm phòng» (#12, cùng mức thông thường) "
        "trên cụm loa Thôn 2 lúc 06:05 ngày 01/12/2026."
    )


def test_every_overlapping_occurrence_is_reported_in_time_order() -> None:
    mine = plan(None, daily(time(6)))
    other = plan(3, daily(time(6, 5)))
    found = find_conflicts(mine, [other], start=START, end=END)
    assert [c.occurrence for c in found] == [
        "2026-11-30T23:00:00Z",
        "2026-12-01T23:00:00Z",
        "2026-12-02T23:00:00Z",
    ]
    assert len(find_conflicts(mine, [other], start=START, end=END, limit=2)) == 2


def test_different_priorities_never_conflict() -> None:
    mine = plan(None, daily(time(6)), priority="urgent")
    others = [plan(2, daily(time(6))), plan(3, daily(time(6)), priority="emergency")]
    assert find_conflicts(mine, others, start=START, end=END) == []


def test_no_conflict_without_a_shared_node() -> None:
    mine = plan(None, daily(time(6)), nodes=("thon-1",))
    assert (
        find_conflicts(mine, [plan(2, daily(time(6)), nodes=("thon-2",))], start=START, end=END)
        == []
    )


def test_back_to_back_is_not_a_conflict() -> None:
    mine = plan(None, daily(time(6)), duration_s=600)
    assert find_conflicts(mine, [plan(2, daily(time(6, 10)))], start=START, end=END) == []
    one_second_early = Schedule(at=datetime(2026, 11, 30, 23, 9, 59, tzinfo=UTC))
    (c,) = find_conflicts(mine, [plan(2, one_second_early)], start=START, end=END)
    assert c.overlap_end - c.overlap_start == timedelta(seconds=1)


def test_repeats_lengthen_the_time_on_air() -> None:
    mine = plan(None, daily(time(6), repeats=2), duration_s=300)  # 5 + 3 s + 5 min
    found = find_conflicts(mine, [plan(2, daily(time(6, 10)))], start=START, end=END)
    assert len(found) == 3 and found[0].overlap_end - found[0].overlap_start == timedelta(seconds=3)


def test_an_existing_occurrence_that_started_before_the_horizon_is_found() -> None:
    mine = plan(None, Schedule(at=datetime(2026, 12, 1, 0, 5, tzinfo=UTC)))
    other = plan(2, Schedule(at=datetime(2026, 12, 1, 0, 0, tzinfo=UTC)))
    start = datetime(2026, 12, 1, 0, 1, tzinfo=UTC)
    (c,) = find_conflicts(mine, [other], start=start, end=start + timedelta(hours=1))
    assert c.other_occurrence == "2026-12-01T00:00:00Z"


def test_the_broadcast_being_edited_does_not_clash_with_itself() -> None:
    mine = plan(7, daily(time(6)))
    assert find_conflicts(mine, [plan(7, daily(time(6)))], start=START, end=END) == []


def test_many_nodes_are_summarised_in_the_message() -> None:
    nodes = tuple(f"n{i}" for i in range(5))
    mine = plan(None, daily(time(6), until=DEC_1), nodes=nodes)
    (c,) = find_conflicts(
        mine,
        [plan(None, daily(time(6), until=DEC_1), nodes=nodes, title="X")],
        start=START,
        end=END,
    )
    assert describe_conflict(c) == (
        "Trùng giờ với lượt phát «X» (cùng mức thông thường) trên 5 cụm loa (n0, n1, n2, …) "
        "lúc 06:00 ngày 01/12/2026."
    )


def test_plan_checks_priority_and_duration() -> None:
    with pytest.raises(ScheduleError) as err:
        plan(None, daily(time(6)), priority="high")
    assert err.value.code == "bad_priority"
    with pytest.raises(ScheduleError) as err:
        plan(None, daily(time(6)), duration_s=0)
    assert err.value.code == "bad_duration"


# --- properties ------------------------------------------------------------------------------

NODES = ("a", "b", "c")
minute_of_morning = st.integers(5 * 12, 8 * 12).map(lambda i: time(i // 12, i % 12 * 5))


@st.composite
def schedules(draw: st.DrawFn) -> Schedule:
    repeats = draw(st.integers(1, 3))
    gap = draw(st.sampled_from([0, 3, 30]))
    if draw(st.booleans()):
        day = DEC_1 + timedelta(days=draw(st.integers(0, 3)))
        local = datetime.combine(day, draw(minute_of_morning))
        return Schedule(
            at=local.replace(tzinfo=UTC) - timedelta(hours=7), repeats=repeats, repeat_gap_s=gap
        )
    frequency: Frequency = draw(st.sampled_from(["daily", "weekly"]))
    spec = RuleSpec(
        frequency,
        tuple(draw(st.lists(minute_of_morning, min_size=1, max_size=2, unique=True))),
        DEC_1 + timedelta(days=draw(st.integers(0, 2))),
        DEC_1 + timedelta(days=draw(st.integers(3, 6))),
        weekdays=tuple(draw(st.lists(st.integers(0, 6), min_size=1, unique=True)))
        if frequency == "weekly"
        else (),
    )
    return Schedule(rrule=build_rrule(spec), repeats=repeats, repeat_gap_s=gap)


@st.composite
def plans(draw: st.DrawFn, id_: int) -> BroadcastPlan:
    return BroadcastPlan(
        id_,
        f"Bản tin {id_}",
        draw(schedules()),
        draw(st.integers(30, 3600)),
        frozenset(draw(st.lists(st.sampled_from(NODES), min_size=1, unique=True))),
        draw(st.sampled_from(PRIORITIES)),
    )


def flat(found: list[Conflict]) -> set[tuple[str, int | None, str, str]]:
    return {(n, c.other_id, c.occurrence, c.other_occurrence) for c in found for n in c.nodes}


def brute_force(
    mine: BroadcastPlan, others: list[BroadcastPlan], start: datetime, end: datetime
) -> set[tuple[str, int | None, str, str]]:
    out = set()
    d_mine = mine.schedule.occupied(mine.duration_s)
    for other in others:
        if other.priority != mine.priority or other.id == mine.id:
            continue
        d_other = other.schedule.occupied(other.duration_s)
        for node in mine.nodes & other.nodes:
            for p in occurrences(mine.schedule, start, end):
                for o in occurrences(other.schedule, START, END):
                    if p.at < o.at + d_other and o.at < p.at + d_mine:
                        out.add((node, other.id, p.key, o.key))
    return out


horizon_st = st.tuples(st.integers(0, 7 * 24), st.integers(0, 7 * 24)).map(
    lambda hh: (
        datetime(2026, 11, 30, tzinfo=UTC) + timedelta(hours=min(hh)),
        datetime(2026, 11, 30, tzinfo=UTC) + timedelta(hours=max(hh)),
    )
)


@given(
    plans(1),
    st.lists(plans(2), max_size=3).map(
        lambda ps: [
            BroadcastPlan(10 + i, p.title, p.schedule, p.duration_s, p.nodes, p.priority)
            for i, p in enumerate(ps)
        ]
    ),
    horizon_st,
)
@settings(max_examples=100, deadline=None)
def test_detection_matches_a_brute_force_check(
    mine: BroadcastPlan, others: list[BroadcastPlan], horizon: tuple[datetime, datetime]
) -> None:
    start, end = horizon
    found = find_conflicts(mine, others, start=start, end=end)
    assert flat(found) == brute_force(mine, others, start, end)
    assert len(flat(found)) == sum(len(c.nodes) for c in found)  # no duplicates
    for c in found:
        assert c.priority == mine.priority and c.overlap_start < c.overlap_end
        assert start <= c.start < end
        assert set(c.nodes) <= mine.nodes and list(c.nodes) == sorted(c.nodes)


@given(plans(1), plans(2))
@settings(max_examples=100, deadline=None)
def test_conflicts_are_symmetric(a: BroadcastPlan, b: BroadcastPlan) -> None:
    ab = find_conflicts(a, [b], start=START, end=END)
    ba = find_conflicts(b, [a], start=START, end=END)
    assert {
        (c.nodes, c.occurrence, c.other_occurrence, c.overlap_start, c.overlap_end) for c in ab
    } == {(c.nodes, c.other_occurrence, c.occurrence, c.overlap_start, c.overlap_end) for c in ba}


@given(plans(1), plans(2))
@settings(max_examples=100, deadline=None)
def test_different_priorities_or_nodes_never_conflict(a: BroadcastPlan, b: BroadcastPlan) -> None:
    if a.priority != b.priority or not a.nodes & b.nodes:
        assert find_conflicts(a, [b], start=START, end=END) == []


@given(plans(1), plans(2), st.integers(1, 10))
@settings(max_examples=100, deadline=None)
def test_no_conflicts_for_disjoint_times(a: BroadcastPlan, b: BroadcastPlan, weeks: int) -> None:
    # b moved weeks later, past all of a's occurrences: same pattern, disjoint times
    shifted = (
        Schedule(at=b.schedule.at + timedelta(weeks=weeks + 1), repeats=b.schedule.repeats)
        if b.schedule.at is not None
        else None
    )
    if shifted is None:
        assert b.schedule.spec is not None
        spec = b.schedule.spec
        assert spec.valid_until is not None
        moved = RuleSpec(
            spec.frequency,
            spec.times,
            spec.valid_from + timedelta(weeks=weeks + 1),
            spec.valid_until + timedelta(weeks=weeks + 1),
            weekdays=spec.weekdays,
        )
        shifted = Schedule(rrule=build_rrule(moved), repeats=b.schedule.repeats)
    later = BroadcastPlan(b.id, b.title, shifted, b.duration_s, a.nodes, a.priority)
    assert find_conflicts(a, [later], start=START, end=END) == []
