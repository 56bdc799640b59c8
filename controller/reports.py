"""Reports (báo cáo): the play log with filters, delivery rates, and CSV export."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

import sqlite_utils
from fastapi.responses import Response

from controller import authz
from controller.auth import Identity
from schedules import to_local


def play_log(
    db: sqlite_utils.Database,
    who: Identity,
    *,
    zone_id: int | None = None,
    node_id: str | None = None,
    announcement_id: int | None = None,
    broadcast_id: int | None = None,
    since: str | None = None,
    until: str | None = None,
    limit: int = 5000,
) -> list[dict[str, Any]]:
    """Dispatches with real start and end times, newest first, inside the official's area."""
    where = ["1 = 1"]
    params: list[Any] = []
    allowed = authz.area(db, who)
    zones_filter: set[int] | None = allowed
    if zone_id is not None:
        sub = authz.area(db, Identity("filter", "", "viewer", zone_id=zone_id)) or set()
        zones_filter = sub if allowed is None else sub & allowed
    if zones_filter is not None:
        ids = sorted(zones_filter) or [-1]
        where.append(f"n.zone_id IN ({','.join('?' * len(ids))})")
        params.extend(ids)
    for clause, value in (
        ("d.node_id = ?", node_id),
        ("b.announcement_id = ?", announcement_id),
        ("d.broadcast_id = ?", broadcast_id),
        ("d.play_at >= ?", since),
        ("d.play_at < ?", until),
    ):
        if value is not None:
            where.append(clause)
            params.append(value)
    return list(
        db.query(
            "SELECT d.broadcast_id, d.occurrence, b.announcement_id, a.title, d.node_id, "
            "n.name AS node_name, z.name AS zone_name, b.priority, d.play_at, d.state, "
            "d.started_at, d.finished_at, d.error "
            "FROM dispatches d JOIN broadcasts b ON b.id = d.broadcast_id "
            "JOIN announcements a ON a.id = b.announcement_id "
            "JOIN nodes n ON n.id = d.node_id JOIN zones z ON z.id = n.zone_id "
            f"WHERE {' AND '.join(where)} ORDER BY d.play_at DESC, d.node_id LIMIT ?",
            [*params, limit],
        )
    )


def delivery(rows: Iterable[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """Delivery rate per broadcast occurrence ("đã phát 47/50 cụm loa") and per local day."""
    per_occurrence: dict[tuple[int, str], dict[str, Any]] = {}
    per_day: dict[str, dict[str, Any]] = {}
    for r in rows:
        occ = per_occurrence.setdefault(
            (r["broadcast_id"], r["occurrence"]),
            {
                "broadcast_id": r["broadcast_id"],
                "occurrence": r["occurrence"],
                "title": r["title"],
                "play_at": r["play_at"],
                "played": 0,
                "total": 0,
            },
        )
        local_day = to_local(datetime.fromisoformat(r["play_at"])).date().isoformat()
        day = per_day.setdefault(local_day, {"day": local_day, "played": 0, "total": 0})
        for bucket in (occ, day):
            bucket["total"] += 1
            bucket["played"] += r["state"] == "played"
    for bucket in (*per_occurrence.values(), *per_day.values()):
        bucket["rate"] = round(bucket["played"] / bucket["total"], 4) if bucket["total"] else None
    return {
        "broadcasts": sorted(per_occurrence.values(), key=lambda b: b["play_at"], reverse=True),
        "days": sorted(per_day.values(), key=lambda d: d["day"]),
    }


def csv_response(rows: Sequence[dict[str, Any]], filename: str) -> Response:
    """CSV with a UTF-8 BOM so spreadsheet programs read Vietnamese correctly."""
    out = io.StringIO()
    if rows:
        writer = csv.DictWriter(out, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return Response(
        "\ufeff" + out.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )
