"""The play log and delivery rates on a real SQLite file: filters, the official's area, local
days (Asia/Ho_Chi_Minh, UTC+7) and paging."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from controller.core.db import Store, insert
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
