"""The play log and delivery rates on a real SQLite file: filters, the official's area, local
days (Asia/Ho_Chi_Minh, UTC+7) and paging."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from controller.core.db import Store, insert
from controller.core.errors import ApiError
from controller.domain import reports
from controller.domain.identity import Identity
from controller.domain.seed import SeededCommune, seed_commune
from loa.protocol import to_wire_time

# 16:30 UTC is 23:30 in Vietnam; 17:30 UTC is already the next local day.
EVENING = datetime(2026, 11, 27, 16, 30, tzinfo=UTC)
AFTER_MIDNIGHT = EVENING + timedelta(hours=1)
EVERYONE = Identity("token", "xem", "viewer")


@pytest.fixture
def commune(tmp_path: Path) -> tuple[Store, SeededCommune, dict[str, int]]:
    """Two announcements' broadcasts: one at 23:30 local to every node (the first node missed
    it), one at 00:30 local the next day to the first two nodes (both played)."""
    store = Store(tmp_path / "loa.db")
    seeded = seed_commune(store)
    ids: dict[str, int] = {}
    nodes = [n.node_id for n in seeded.nodes]
    with store.transaction() as db:
        for name, at, targets in (
            ("evening", EVENING, nodes),
            ("night", AFTER_MIDNIGHT, nodes[:2]),
        ):
            ids[f"{name}_announcement"] = insert(
                db, "announcements", {"title": f"Bản tin {name}", "status": "approved"}
            )
            ids[name] = insert(
                db,
                "broadcasts",
                {
                    "announcement_id": ids[f"{name}_announcement"],
                    "zone_ids": "[]",
                    "starts_at": to_wire_time(at),
                    "priority": "normal",
                    "status": "active",
                },
            )
            for node in targets:
                missed = name == "evening" and node == nodes[0]
                insert(
                    db,
                    "dispatches",
                    {
                        "broadcast_id": ids[name],
                        "occurrence": to_wire_time(at),
                        "node_id": node,
                        "play_at": to_wire_time(at),
                        "state": "missed" if missed else "played",
                    },
                )
    return store, seeded, ids


def test_delivery_counts_each_occurrence_and_each_local_day(commune) -> None:
    store, seeded, ids = commune
    summary = reports.delivery_summary(store.db, EVERYONE)
    n = len(seeded.nodes)
    assert [(b["broadcast_id"], b["played"], b["total"]) for b in summary["broadcasts"]] == [
        (ids["night"], 2, 2),
        (ids["evening"], n - 1, n),
    ]
    assert summary["broadcasts"][1]["title"] == "Bản tin evening"
    assert summary["broadcasts"][1]["rate"] == round((n - 1) / n, 4)
    assert [(d["day"], d["played"], d["total"]) for d in summary["days"]] == [
        ("2026-11-27", n - 1, n),
        ("2026-11-28", 2, 2),
    ]


def test_delivery_days_follow_the_deployments_time_zone(commune) -> None:
    """A deployment set to another zone counts its own days (the offset was fixed at +7)."""
    store, seeded, _ids = commune
    n = len(seeded.nodes)
    summary = reports.delivery_summary(store.db, EVERYONE, zone=ZoneInfo("UTC"))
    assert [(d["day"], d["played"], d["total"]) for d in summary["days"]] == [
        ("2026-11-27", n - 1 + 2, n + 2)
    ]


def test_delivery_and_play_log_stay_inside_the_officials_area(commune) -> None:
    store, seeded, ids = commune
    village = seeded.nodes[0].zone_id
    villager = Identity("token", "thôn", "viewer", zone_id=village)
    summary = reports.delivery_summary(store.db, villager)
    assert [(b["broadcast_id"], b["played"], b["total"]) for b in summary["broadcasts"]] == [
        (ids["night"], 1, 1),
        (ids["evening"], 0, 1),
    ]
    rows = reports.play_log(store.db, villager)
    assert {r["node_id"] for r in rows} == {seeded.nodes[0].node_id}
    # a zone filter outside the area gives nothing, not the other village
    other = seeded.nodes[1].zone_id
    assert reports.play_log(store.db, villager, zone_id=other) == []


def test_filters_by_time_range_announcement_and_node(commune) -> None:
    store, seeded, ids = commune
    since = to_wire_time(EVENING + timedelta(minutes=1))
    assert {r["broadcast_id"] for r in reports.play_log(store.db, EVERYONE, since=since)} == {
        ids["night"]
    }
    summary = reports.delivery_summary(store.db, EVERYONE, until=since)
    assert [b["broadcast_id"] for b in summary["broadcasts"]] == [ids["evening"]]
    assert [d["day"] for d in summary["days"]] == ["2026-11-27"]
    by_announcement = reports.play_log(
        store.db, EVERYONE, announcement_id=ids["night_announcement"]
    )
    assert {r["broadcast_id"] for r in by_announcement} == {ids["night"]}
    node = seeded.nodes[2].node_id
    assert [
        (r["node_id"], r["state"]) for r in reports.play_log(store.db, EVERYONE, node_id=node)
    ] == [(node, "played")]


def test_play_log_is_newest_first_and_pages_without_gaps(commune) -> None:
    store, seeded, _ = commune
    everything = reports.play_log(store.db, EVERYONE)
    assert len(everything) == len(seeded.nodes) + 2
    assert [r["play_at"] for r in everything] == sorted(
        (r["play_at"] for r in everything), reverse=True
    )
    pages = [reports.play_log(store.db, EVERYONE, limit=2, offset=o) for o in range(0, 10, 2)]
    assert [r for page in pages for r in page] == everything
    first = everything[0]
    assert first["zone_name"] and first["node_name"] and first["title"] == "Bản tin night"


# --- the monthly summary (báo cáo tổng hợp tháng) ------------------------------------------------

ZONE = ZoneInfo("Asia/Ho_Chi_Minh")
#: 17:30 UTC on 30 November is 00:30 on 1 December in Vietnam; 16:30 UTC is still 30 November.
FIRST_OF_DECEMBER = datetime(2026, 11, 30, 17, 30, tzinfo=UTC)
LAST_OF_NOVEMBER = datetime(2026, 11, 30, 16, 30, tzinfo=UTC)
AFTER_THE_MONTH = datetime(2026, 12, 15, tzinfo=UTC)


def _broadcast(db, at: datetime, plays: list[tuple[str, str, dict]], **row) -> int:  # type: ignore[no-untyped-def]
    """One broadcast occurrence at ``at`` and its dispatches (node, state, extra columns)."""
    category = row.pop("category", None)
    if category is not None:
        row["announcement_id"] = insert(
            db, "announcements", {"title": category, "status": "approved", "category": category}
        )
    broadcast_id = insert(
        db,
        "broadcasts",
        {"zone_ids": "[]", "starts_at": to_wire_time(at), "status": "active"}
        | {"priority": "normal"}
        | row,
    )
    for node, state, extra in plays:
        insert(
            db,
            "dispatches",
            {
                "broadcast_id": broadcast_id,
                "occurrence": to_wire_time(at),
                "node_id": node,
                "play_at": to_wire_time(at),
                "state": state,
            }
            | extra,
        )
    return broadcast_id


@pytest.fixture
def month_of_plays(tmp_path: Path) -> tuple[Store, SeededCommune]:
    """November and December 2026 in Vietnam, the boundary between them at 17:00 UTC.

    November: an emergency disaster bulletin at 23:30 local on the 30th (first cluster played
    it for 300 s, the second was cut after 120 s, the third missed it); a 30-minute relay on the
    first cluster; a 15-minute live broadcast on the second; a cancelled dispatch.
    December: a health bulletin at 00:30 local on the 1st, played 600 s on every cluster."""
    store = Store(tmp_path / "loa.db")
    seeded = seed_commune(store)
    a, b, c = (n.node_id for n in seeded.nodes)
    span = {"started_at": "2026-11-30T16:30:00Z", "finished_at": "2026-11-30T16:32:00Z"}
    with store.transaction() as db:
        _broadcast(
            db,
            LAST_OF_NOVEMBER,
            [(a, "played", {"played_s": 300.0}), (b, "interrupted", span), (c, "missed", {})],
            category="thien_tai",
            priority="emergency",
        )
        relay_at = datetime(2026, 11, 10, 1, tzinfo=UTC)
        _broadcast(db, relay_at, [(a, "played", {"played_s": 1800.0})], kind="relay")
        _broadcast(
            db,
            datetime(2026, 11, 11, 2, tzinfo=UTC),
            [(b, "played", {"played_s": 900.0})],
            kind="live",
        )
        _broadcast(db, relay_at, [(c, "cancelled", {})], category="thong_bao")
        december = {"started_at": "2026-11-30T17:30:00Z", "finished_at": "2026-11-30T17:40:00Z"}
        _broadcast(
            db,
            FIRST_OF_DECEMBER,
            [(n, "played", december) for n in (a, b, c)],
            category="y_te",
        )
    return store, seeded


def _numbers(row: dict) -> tuple:  # type: ignore[type-arg]
    keys = ("seconds", "bulletins", "relays", "live", "emergencies", "played", "dispatched")
    return (*(row[k] for k in keys), row["rate"])


def test_monthly_summary_counts_per_village_and_category_in_local_months(month_of_plays) -> None:
    store, seeded = month_of_plays
    november = reports.monthly_summary(store.db, EVERYONE, "2026-11", ZONE, now=AFTER_THE_MONTH)
    assert november["since"] == "2026-10-31T17:00:00.000Z"
    assert november["until"] == "2026-11-30T17:00:00.000Z"
    assert (november["first_day"], november["last_day"]) == ("2026-11-01", "2026-11-30")
    assert november["commune"] == "Xã Lạc Lâm"
    by_zone = {z["zone_id"]: _numbers(z) for z in november["zones"]}
    a, b, c = (n.zone_id for n in seeded.nodes)
    # seconds, bulletins, relays, live, emergencies, played, dispatched, rate
    assert by_zone == {
        a: (2100.0, 1, 1, 0, 1, 2, 2, 1.0),
        b: (1020.0, 1, 0, 1, 1, 1, 2, 0.5),
        c: (0.0, 0, 0, 0, 0, 0, 1, 0.0),  # missed; the cancelled dispatch is not counted
    }
    assert {c["category"]: _numbers(c) for c in november["categories"]} == {
        "thien_tai": (300.0, 1, 0, 0, 1, 1, 3, round(1 / 3, 4)),
        "relay": (1800.0, 0, 1, 0, 0, 1, 1, 1.0),
        "live": (900.0, 0, 0, 1, 0, 1, 1, 1.0),
    }
    # the three clusters played one bulletin at the same time: on air once, not three times
    assert _numbers(november["total"]) == (3000.0, 1, 1, 1, 1, 3, 5, 0.6)
    assert november["total"]["hours"] == 0.83

    december = reports.monthly_summary(store.db, EVERYONE, "2026-12", ZONE, now=AFTER_THE_MONTH)
    assert _numbers(december["total"]) == (600.0, 1, 0, 0, 0, 3, 3, 1.0)
    assert [c["category"] for c in december["categories"]] == ["y_te"]


def test_monthly_summary_keeps_to_the_officials_area_and_counts_only_what_is_due(
    month_of_plays,
) -> None:
    store, seeded = month_of_plays
    village = seeded.nodes[1].zone_id
    villager = Identity("token", "thôn", "viewer", zone_id=village)
    november = reports.monthly_summary(store.db, villager, "2026-11", ZONE, now=AFTER_THE_MONTH)
    assert [z["zone_id"] for z in november["zones"]] == [village]
    assert _numbers(november["total"]) == (1020.0, 1, 0, 1, 1, 1, 2, 0.5)
    # before the bulletin on the 30th was due, only the live broadcast was dispatched
    early = reports.monthly_summary(
        store.db, villager, "2026-11", ZONE, now=datetime(2026, 11, 20, tzinfo=UTC)
    )
    assert (early["total"]["played"], early["total"]["dispatched"]) == (1, 1)


@pytest.mark.parametrize("month", ["2026-13", "abc", "2026-1", "2026-00", "", "2026-11-01"])
def test_a_bad_report_month_is_refused_with_a_stable_code(month_of_plays, month: str) -> None:
    store, _ = month_of_plays
    with pytest.raises(ApiError) as refused:
        reports.monthly_summary(store.db, EVERYONE, month, ZONE)
    assert (refused.value.status, refused.value.code) == (422, "bad_month")
    assert "YYYY-MM" in refused.value.message
