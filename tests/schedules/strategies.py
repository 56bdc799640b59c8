"""Hypothesis strategies shared by the scheduling property tests."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

from hypothesis import strategies as st

from schedules import LAST_DAY, Frequency, RuleSpec

FIRST_DAY = date(2026, 1, 1)


@st.composite
def rule_specs(draw: st.DrawFn, max_span_days: int = 400) -> RuleSpec:
    frequency: Frequency = draw(st.sampled_from(["daily", "weekdays", "weekly", "monthly"]))
    times = draw(
        st.lists(
            st.builds(time, st.integers(0, 23), st.integers(0, 59)),
            min_size=1,
            max_size=4,
            unique=True,
        )
    )
    valid_from = FIRST_DAY + timedelta(days=draw(st.integers(0, 3 * 366)))
    span = draw(st.none() | st.integers(0, max_span_days))
    weekdays: list[int] = []
    month_days: list[int] = []
    if frequency == "weekly":
        weekdays = draw(st.lists(st.integers(0, 6), min_size=1, max_size=7, unique=True))
    if frequency == "monthly":
        month_days = draw(
            st.lists(
                st.sampled_from([*range(1, 32), LAST_DAY, 28, 29, 30, 31]),
                min_size=1,
                max_size=4,
                unique=True,
            )
        )
    return RuleSpec(
        frequency=frequency,
        times=tuple(times),
        valid_from=valid_from,
        valid_until=None if span is None else valid_from + timedelta(days=span),
        weekdays=tuple(weekdays),
        month_days=tuple(month_days),
    )


@st.composite
def horizons(draw: st.DrawFn, max_days: int = 90) -> tuple[datetime, datetime]:
    start = datetime(2025, 12, 1, tzinfo=UTC) + timedelta(
        minutes=draw(st.integers(0, 4 * 366 * 24 * 60))
    )
    return start, start + timedelta(minutes=draw(st.integers(0, max_days * 24 * 60)))
