"""What anyone may see without signing in: the commune's name, what is going to play in a zone
and what already played there.

The rules:

- A zone's page covers the zone, the zones beneath it, and the zones above it: a broadcast to
  the whole commune plays in every village, so it is on every village's page.
- Only what the speakers will say is announced ahead: a bulletin's broadcast once its
  announcement is approved, a relay once approved. Nothing waiting for approval, no live
  broadcast (nothing is known of it before it starts), no cancelled broadcast.
- What played is what the play log says played on a cluster of the zone (or beneath it);
  broadcasts to zones above it played there too, through those clusters. A live broadcast
  that played is listed once it has its recording, and uploaded, recorded or live audio comes
  with its machine transcript (``reports.played_in_zones``) for those who cannot hear it.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

import sqlite_utils

import schedules
from controller.domain import broadcasts, zones

#: How far ahead a zone's public page announces broadcasts.
UPCOMING_DAYS = 7
#: At most this many upcoming occurrences are listed.
UPCOMING_LIMIT = 20


def commune_name(db: sqlite_utils.Database) -> str:
    """The top zone's name ("Xã …"); with several top zones, their names joined."""
    return ", ".join(z["name"] for z in zones.zone_tree(db) if z["depth"] == 0)


def zones_seen_from(db: sqlite_utils.Database, zone_id: int) -> set[int]:
    """The zone, the zones beneath it and the zones above it: broadcasts to any of them play
    on the zone's clusters."""
    tree = zones.zone_tree(db)
    parent = {z["id"]: z["parent_id"] for z in tree}
    seen = {zone_id}
    for z in tree:  # depth-first: a zone's children follow it
        if z["parent_id"] in seen:
            seen.add(z["id"])
    above = parent.get(zone_id)
    while above is not None:
        seen.add(above)
        above = parent.get(above)
    return seen


def upcoming(
    db: sqlite_utils.Database, zone_id: int, now: datetime, days: int = UPCOMING_DAYS
) -> list[dict[str, Any]]:
    """The next occurrences (UTC ``at``, ``title``, ``kind``, ``priority``) of approved
    broadcasts that will play in the zone within ``days``, soonest first."""
    seen = zones_seen_from(db, zone_id)
    found: list[dict[str, Any]] = []
    for row in broadcasts.active_with_titles(db):
        kind = row["shown_kind"]
        if kind == "live":
            continue
        if kind == "file" and row["announcement_status"] != "approved":
            continue
        if kind == "relay" and not row["approved_at"]:
            continue
        if not set(json.loads(row["zone_ids"])) & seen:
            continue
        schedule = broadcasts.schedule_of(row)
        for occ in schedules.occurrences(schedule, now, now + timedelta(days=days))[
            :UPCOMING_LIMIT
        ]:
            found.append(
                {
                    "at": occ.at,
                    "title": row["shown_title"],
                    "kind": kind,
                    "priority": row["priority"],
                }
            )
    found.sort(key=lambda o: o["at"])
    return found[:UPCOMING_LIMIT]
