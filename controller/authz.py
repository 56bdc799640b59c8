"""Who may do what, and where: roles and their zone subtree.

Every official has one role and, optionally, a zone: they act only on that zone and the zones
beneath it (no zone: the whole system). Resources outside a user's area are reported as not found
(404), so their existence is not revealed; acting on a target outside it is forbidden (403).
"""

from __future__ import annotations

from collections.abc import Iterable

import sqlite_utils

from controller.auth import Identity
from controller.errors import ApiError
from controller.users import ROLES

#: action → roles allowed. Reading the schedule, play log and fleet is open to every role.
PERMISSIONS: dict[str, frozenset[str]] = {
    "announcement.write": frozenset({"admin", "editor"}),
    "announcement.review": frozenset({"admin", "approver"}),
    "announcement.archive": frozenset({"admin", "editor", "approver"}),
    "broadcast.schedule": frozenset({"admin", "editor", "approver"}),
    "broadcast.cancel": frozenset({"admin", "editor", "approver"}),
    "broadcast.emergency": frozenset({"admin", "approver"}),
    "broadcast.live": frozenset({"admin", "approver"}),
    "node.manage": frozenset({"admin", "operator"}),
    "node.control": frozenset({"admin", "operator", "approver"}),
    "lexicon.write": frozenset({"admin", "editor"}),
    "audit.read": frozenset({"admin"}),
    "user.manage": frozenset({"admin"}),
    "read": frozenset(ROLES),
}


def can(who: Identity, action: str) -> bool:
    return who.role in PERMISSIONS[action]


def require(who: Identity, action: str) -> None:
    if not can(who, action):
        raise ApiError(403, "forbidden")


def area(db: sqlite_utils.Database, who: Identity) -> set[int] | None:
    """Ids of the zones the official may act on; None means every zone."""
    if who.zone_id is None:
        return None
    rows = db.query(
        """
        WITH RECURSIVE sub(id) AS (
          SELECT id FROM zones WHERE id = ?
          UNION SELECT z.id FROM zones z JOIN sub ON z.parent_id = sub.id
        ) SELECT id FROM sub
        """,
        [who.zone_id],
    )
    return {r["id"] for r in rows}


def require_zones(db: sqlite_utils.Database, who: Identity, zone_ids: Iterable[int]) -> None:
    """Every target zone must lie inside the official's area."""
    allowed = area(db, who)
    if allowed is not None and not set(zone_ids) <= allowed:
        raise ApiError(403, "outside_area", field="zone_ids")


def node_visible(db: sqlite_utils.Database, who: Identity, node_zone_id: int) -> bool:
    allowed = area(db, who)
    return allowed is None or node_zone_id in allowed
