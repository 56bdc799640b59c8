"""Relays and their sources together: which active relays still need a stream source, and
removing a source (refused while one does). It sits above ``broadcasts`` and ``sources`` so
that neither imports the other back (``delete_source`` reached into broadcasts from a function
body)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import sqlite_utils

import schedules
from controller.core.db import Store, table
from controller.core.errors import ApiError
from controller.domain import audit
from controller.domain.broadcasts import schedule_of
from controller.domain.identity import Identity
from controller.domain.sources import get_source
from loa.protocol import to_wire_time, utcnow


def relays_ahead(db: sqlite_utils.Database, source_id: int, now: datetime) -> list[dict[str, Any]]:
    """Active relays of this stream source whose window is open now or still to come."""
    out = []
    for row in db.query(
        "SELECT * FROM broadcasts WHERE kind = 'relay' AND status = 'active' "
        "AND stream_source_id = ? ORDER BY id",
        [source_id],
    ):
        window = timedelta(seconds=row["duration_s"] or 0)
        if schedules.next_occurrence(schedule_of(row), now - window) is not None:
            out.append(row)
    return out


def delete_source(store: Store, who: Identity | None, source_id: int) -> None:
    """Remove a source from the list (kept in the database for the play log); refused with
    ``stream_source_in_use`` (naming them) while an active relay's window is still to come."""
    now = utcnow()
    with store.transaction() as db:
        before = get_source(db, source_id)
        if before is None:
            raise ApiError(404, "stream_source_not_found")
        ahead = relays_ahead(db, source_id, now)
        if ahead:
            raise ApiError(
                409,
                "stream_source_in_use",
                relays=", ".join(f"«{r['title']}» (#{r['id']})" for r in ahead),
                details=[{"broadcast_id": r["id"], "title": r["title"]} for r in ahead],
            )
        table(db, "stream_sources").update(source_id, {"deleted_at": to_wire_time(now)})
        audit.record(db, who, "stream_source.delete", "stream_source", source_id, before)
