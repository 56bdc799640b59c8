"""Reports (báo cáo): the play log with filters, delivery rates, and CSV export."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from typing import Any

import sqlite_utils
from fastapi.responses import Response

from controller import authz
from controller.auth import Identity


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
    limit: int = 500,
    offset: int = 0,
) -> list[dict[str, Any]]:
    """Dispatches with real start and end times, newest first, inside the official's area."""
    where, params = _filters(
        db,
        who,
        zone_id=zone_id,
        node_id=node_id,
        announcement_id=announcement_id,
        broadcast_id=broadcast_id,
        since=since,
        until=until,
    )
    return list(
        db.query(
            "SELECT d.broadcast_id, d.occurrence, b.announcement_id, "
            "COALESCE(a.title, b.title) AS title, d.node_id, "
            "n.name AS node_name, z.name AS zone_name, b.priority, d.play_at, d.state, "
            "d.started_at, d.finished_at, d.error, COALESCE(b.kind, 'file') AS kind, "
            "d.played_s, d.interruptions, b.recording_sha256 "
            "FROM dispatches d JOIN broadcasts b ON b.id = d.broadcast_id "
            "LEFT JOIN announcements a ON a.id = b.announcement_id "
            "JOIN nodes n ON n.id = d.node_id JOIN zones z ON z.id = n.zone_id "
            f"WHERE {where} ORDER BY d.play_at DESC, d.node_id LIMIT ? OFFSET ?",
            [*params, limit, offset],
        )
    )


def _filters(
    db: sqlite_utils.Database,
    who: Identity,
    *,
    zone_id: int | None = None,
    node_id: str | None = None,
    announcement_id: int | None = None,
    broadcast_id: int | None = None,
    since: str | None = None,
    until: str | None = None,
) -> tuple[str, list[Any]]:
    """The WHERE clause (over d = dispatches, b = broadcasts, n = nodes) and its parameters."""
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
    return " AND ".join(where), params


#: Asia/Ho_Chi_Minh has no daylight saving: local days are UTC days shifted by a fixed offset.
LOCAL_UTC_OFFSET = "+7 hours"


def delivery_summary(
    db: sqlite_utils.Database,
    who: Identity,
    *,
    zone_id: int | None = None,
    node_id: str | None = None,
    since: str | None = None,
    until: str | None = None,
    limit: int = 500,
) -> dict[str, list[dict[str, Any]]]:
    """Delivery rate per broadcast occurrence ("đã phát 47/50 cụm loa") and per local day,
    counted by the database."""
    where, params = _filters(db, who, zone_id=zone_id, node_id=node_id, since=since, until=until)
    base = (
        "FROM dispatches d JOIN broadcasts b ON b.id = d.broadcast_id "
        "LEFT JOIN announcements a ON a.id = b.announcement_id "
        f"JOIN nodes n ON n.id = d.node_id WHERE {where}"
    )
    broadcasts = list(
        db.query(
            "SELECT d.broadcast_id, d.occurrence, COALESCE(a.title, b.title) AS title, "
            "MIN(d.play_at) AS play_at, SUM(d.state = 'played') AS played, COUNT(*) AS total "
            f"{base} GROUP BY d.broadcast_id, d.occurrence ORDER BY play_at DESC LIMIT ?",
            [*params, limit],
        )
    )
    days = list(
        db.query(
            f"SELECT date(d.play_at, '{LOCAL_UTC_OFFSET}') AS day, "
            f"SUM(d.state = 'played') AS played, COUNT(*) AS total {base} "
            "GROUP BY day ORDER BY day",
            params,
        )
    )
    for bucket in (*broadcasts, *days):
        bucket["rate"] = round(bucket["played"] / bucket["total"], 4) if bucket["total"] else None
    return {"broadcasts": broadcasts, "days": days}


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
