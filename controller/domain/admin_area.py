"""An administrator's area: what an admin limited to a zone may manage.

Rules (issue 12, finding 5):

- An admin limited to a zone manages only accounts whose zone lies in their area, tokens of those
  accounts, nodes in their area, and the audit entries written by officials of their area.
- An account or token with no zone (or an integration token, which has no owner and so no area)
  reaches everywhere: only an unlimited admin may make one, see one or change one.
- Nobody widens their own area: a new or changed zone must lie inside the caller's area, which
  for a limited admin rules out "no zone".

Outside the area, an existing account, token or node is reported as not found (404), like every
other resource; a target zone outside it is refused with ``outside_area`` (403).
"""

from __future__ import annotations

from typing import Any

import sqlite_utils

from controller.core.errors import ApiError
from controller.domain import authz
from controller.domain.identity import Identity


def zone_allowed(db: sqlite_utils.Database, who: Identity, zone_id: int | None) -> bool:
    """May ``who`` give an account (or put a node in) ``zone_id``? None means everywhere."""
    allowed = authz.area(db, who)
    if allowed is None:
        return True
    return zone_id is not None and zone_id in allowed


def require_zone(
    db: sqlite_utils.Database, who: Identity, zone_id: int | None, field: str = "zone_id"
) -> None:
    if not zone_allowed(db, who, zone_id):
        raise ApiError(403, "outside_area", field=field)


def user_visible(db: sqlite_utils.Database, who: Identity, user: dict[str, Any]) -> bool:
    """An account is the admin's to see and manage when its zone lies in their area."""
    return zone_allowed(db, who, user.get("zone_id"))


def token_visible(db: sqlite_utils.Database, who: Identity, token: dict[str, Any]) -> bool:
    """A personal token follows its owner; an integration token (no owner) reaches everywhere."""
    if authz.area(db, who) is None:
        return True
    if token.get("user_id") is None:
        return False
    rows = list(db.query("SELECT zone_id FROM users WHERE id = ?", [token["user_id"]]))
    return bool(rows) and zone_allowed(db, who, rows[0]["zone_id"])


def audit_actor_ids(db: sqlite_utils.Database, who: Identity) -> list[int] | None:
    """Whose audit entries the admin may read: the officials of their area (None: everyone)."""
    allowed = authz.area(db, who)
    if allowed is None:
        return None
    if not allowed:
        return []
    marks = ",".join("?" * len(allowed))
    rows = db.query(f"SELECT id FROM users WHERE zone_id IN ({marks})", sorted(allowed))
    return [r["id"] for r in rows]
