"""Who may do what, and where: roles and their zone subtree.

Every official has one role and, optionally, a zone: they act only on that zone and the zones
beneath it (no zone: the whole system). Resources outside a user's area are reported as not found
(404), so their existence is not revealed; acting on a target outside it is forbidden (403).

One rule for broadcasts that target several zones (files, relays, live speech alike):

- **read**: a broadcast is visible when at least one of its zones lies in the area; its dispatches
  (the play log) are shown only for nodes inside the area.
- **act** (cancel, stop, speak into it, approve a relay): only when *every* target zone lies in the
  area; a broadcast partly outside is ``outside_area`` (403), one wholly outside is not found.

The lexicon changes how every later text is spoken, so only an admin writes it (audited); audio
already approved is never spoken again, so an entry never changes an approved announcement.
Stream sources (what a relay plays) are added and changed by admins and approvers only; a relay
an editor schedules waits for an approver, like an announcement.
"""

from __future__ import annotations

from collections.abc import Iterable

import sqlite_utils

from controller.core.errors import ApiError
from controller.domain.identity import Identity
from controller.domain.users import ROLES

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
    "lexicon.write": frozenset({"admin"}),
    "voices.manage": frozenset({"admin"}),
    #: Giọng xã: the announcer (phát thanh viên) gives consent and records their own voice;
    #: an admin may too. Exporting, importing and deleting a bank are the admin's.
    "voicebank.record": frozenset({"admin", "announcer"}),
    "voicebank.manage": frozenset({"admin"}),
    "stream.source.write": frozenset({"admin", "approver"}),
    "relay.review": frozenset({"admin", "approver"}),
    "audit.read": frozenset({"admin"}),
    #: CAP alerts in (controller/domain/cap_sources.py): sources, their trust, the policy and
    #: the zones' administrative codes are the admin's; a push source's own integration token
    #: (role ``cap``) may push alerts and nothing else.
    "cap.manage": frozenset({"admin"}),
    "cap.push": frozenset({"admin", "cap"}),
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


def require_whole_broadcast(
    db: sqlite_utils.Database, who: Identity, zone_ids: Iterable[int]
) -> None:
    """Acting on a broadcast: every one of its target zones must lie in the area
    (``outside_area`` otherwise). Callers first check it is visible at all (404)."""
    require_zones(db, who, zone_ids)


def nodes_in_area(db: sqlite_utils.Database, who: Identity) -> set[str] | None:
    """Ids of the nodes (revoked ones included) in the official's area; None means every node.
    Dispatches of a broadcast are shown only for these."""
    allowed = area(db, who)
    if allowed is None:
        return None
    return {r["id"] for r in db.query("SELECT id, zone_id FROM nodes") if r["zone_id"] in allowed}


def node_visible(db: sqlite_utils.Database, who: Identity, node_zone_id: int) -> bool:
    allowed = area(db, who)
    return allowed is None or node_zone_id in allowed
