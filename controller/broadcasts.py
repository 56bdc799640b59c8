"""Broadcasts (lượt phát): an announcement, target zones and a time; and their dispatch rows."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlite_utils

from controller import announcements, zones
from controller.db import Store, insert, table
from controller.errors import ApiError
from controller.settings import Settings
from loa.protocol import PRIORITY_RANK, to_wire_time, utcnow

#: How far ahead a one-off broadcast may be scheduled.
MAX_AHEAD = timedelta(days=366)


def occurrence_key(at: datetime) -> str:
    """The stable key of an occurrence: its UTC instant to the second, ``2026-11-27T06:00:00Z``."""
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def check_when(starts_at: datetime, now: datetime) -> None:
    if starts_at.tzinfo is None or starts_at.utcoffset() is None:
        raise ApiError(422, "time_without_offset", field="starts_at")
    if starts_at <= now:
        raise ApiError(422, "in_past", field="starts_at")
    if starts_at - now > MAX_AHEAD:
        raise ApiError(422, "too_far_ahead", field="starts_at", days=MAX_AHEAD.days)


def create_broadcast(
    store: Store,
    settings: Settings,
    *,
    announcement_id: int,
    zone_ids: list[int],
    starts_at: datetime,
    priority: str | None = None,
    created_by: int | None = None,
    now: datetime | None = None,
) -> int:
    """Validate, render the audio if needed, then write the broadcast and its dispatches at once.

    Nothing is written unless every check passes.
    """
    now = now or utcnow()
    db = store.db
    if not zone_ids:
        raise ApiError(422, "no_zones", field="zone_ids")
    missing = zones.missing_zones(db, zone_ids)
    if missing:
        raise ApiError(
            404, "zone_not_found", field="zone_ids", zone_ids=", ".join(map(str, missing))
        )
    announcement = announcements.get_announcement(db, announcement_id)
    if announcement is None:
        raise ApiError(404, "announcement_not_found", field="announcement_id")
    if announcement["status"] != "approved":
        raise ApiError(409, "announcement_not_approved", field="announcement_id")
    check_when(starts_at, now)
    node_ids = zones.nodes_under(db, zone_ids)
    if not node_ids:
        raise ApiError(422, "no_nodes", field="zone_ids")
    if priority is not None and priority not in PRIORITY_RANK:
        raise ApiError(422, "invalid_request", field="priority")
    sha = announcements.ensure_rendered(store, settings, announcement)

    play_at = to_wire_time(starts_at)
    key = occurrence_key(starts_at)
    stamp = to_wire_time(now)
    with store.transaction() as tx:
        broadcast_id = insert(
            tx,
            "broadcasts",
            {
                "announcement_id": announcement_id,
                "media_sha256": sha,
                "zone_ids": json.dumps(sorted(set(zone_ids))),
                "starts_at": play_at,
                "rrule": None,
                "priority": priority or announcement["priority"] or "normal",
                "max_late_s": settings.max_late_s,
                "repeats": 1,
                "status": "active",
                "created_by": created_by,
                "created_at": stamp,
            },
        )
        table(tx, "dispatches").insert_all(
            {
                "broadcast_id": broadcast_id,
                "occurrence": key,
                "node_id": node_id,
                "play_at": play_at,
                "state": "queued",
                "updated_at": stamp,
            }
            for node_id in node_ids
        )
    return broadcast_id


def broadcast_detail(db: sqlite_utils.Database, broadcast_id: int) -> dict[str, Any] | None:
    rows = list(
        db.query(
            "SELECT b.*, a.title, a.text FROM broadcasts b "
            "JOIN announcements a ON a.id = b.announcement_id WHERE b.id = ?",
            [broadcast_id],
        )
    )
    if not rows:
        return None
    b = rows[0]
    dispatches = list(
        db.query(
            "SELECT node_id, occurrence, state, play_at, sent_at, acked_at, started_at, "
            "finished_at, error FROM dispatches WHERE broadcast_id = ? ORDER BY node_id, play_at",
            [broadcast_id],
        )
    )
    return {
        "id": b["id"],
        "announcement_id": b["announcement_id"],
        "title": b["title"],
        "zone_ids": json.loads(b["zone_ids"]),
        "starts_at": b["starts_at"],
        "priority": b["priority"],
        "status": b["status"],
        "media_sha256": b["media_sha256"],
        "created_at": b["created_at"],
        "played": sum(d["state"] == "played" for d in dispatches),
        "dispatches": dispatches,
    }


def recent_broadcasts(db: sqlite_utils.Database, limit: int = 50) -> list[dict[str, Any]]:
    return list(
        db.query(
            "SELECT b.id, b.starts_at, b.priority, b.status, a.title, "
            "COUNT(d.id) AS total, SUM(d.state = 'played') AS played "
            "FROM broadcasts b JOIN announcements a ON a.id = b.announcement_id "
            "LEFT JOIN dispatches d ON d.broadcast_id = b.id "
            "GROUP BY b.id ORDER BY b.starts_at DESC LIMIT ?",
            [limit],
        )
    )
