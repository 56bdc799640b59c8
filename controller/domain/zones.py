"""Zones: a tree of areas of any depth (tỉnh → xã → thôn, or custom groups).

Targeting a zone targets every node beneath it. No level is hard-coded: since 2025 many
provinces have no district level.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import sqlite_utils

from controller.core.db import insert
from controller.core.errors import ApiError
from controller.domain import authz
from controller.domain.identity import Identity
from loa.protocol import to_wire_time, utcnow


def add_zone(
    db: sqlite_utils.Database, name: str, kind: str = "", parent_id: int | None = None
) -> int:
    return insert(
        db,
        "zones",
        {"name": name, "kind": kind, "parent_id": parent_id, "created_at": to_wire_time(utcnow())},
    )


def zone_tree(db: sqlite_utils.Database) -> list[dict[str, Any]]:
    """Every zone, depth-first, with its depth and its path of names from the root."""
    rows = db.query(
        """
        WITH RECURSIVE tree(id, parent_id, name, kind, depth, path, sort) AS (
          SELECT id, parent_id, name, kind, 0, name, printf('%08d', id)
            FROM zones WHERE parent_id IS NULL
          UNION ALL
          SELECT z.id, z.parent_id, z.name, z.kind, t.depth + 1, t.path || ' › ' || z.name,
                 t.sort || '/' || printf('%08d', z.id)
            FROM zones z JOIN tree t ON z.parent_id = t.id
        )
        SELECT id, parent_id, name, kind, depth, path FROM tree ORDER BY sort
        """
    )
    return list(rows)


def missing_zones(db: sqlite_utils.Database, zone_ids: Iterable[int]) -> list[int]:
    ids = sorted(set(zone_ids))
    if not ids:
        return []
    found = {
        r["id"]
        for r in db.query(f"SELECT id FROM zones WHERE id IN ({','.join('?' * len(ids))})", ids)
    }
    return [i for i in ids if i not in found]


def nodes_under(db: sqlite_utils.Database, zone_ids: Iterable[int]) -> list[str]:
    """Ids of the (not revoked) nodes in these zones and every zone beneath them."""
    ids = sorted(set(zone_ids))
    if not ids:
        return []
    rows = db.query(
        f"""
        WITH RECURSIVE sub(id) AS (
          SELECT id FROM zones WHERE id IN ({",".join("?" * len(ids))})
          UNION SELECT z.id FROM zones z JOIN sub ON z.parent_id = sub.id
        )
        SELECT n.id FROM nodes n WHERE n.zone_id IN (SELECT id FROM sub) AND n.revoked = 0
        ORDER BY n.id
        """,
        ids,
    )
    return [r["id"] for r in rows]


def check_targets(db: sqlite_utils.Database, who: Identity, zone_ids: Iterable[int]) -> list[str]:
    """The checks every targeting passes, in order; returns the ids of the nodes reached.

    ApiError: ``no_zones`` (422), ``zone_not_found`` (404, listing them), ``outside_area`` (403),
    ``no_nodes`` (422).
    """
    ids = list(zone_ids)
    if not ids:
        raise ApiError(422, "no_zones", field="zone_ids")
    missing = missing_zones(db, ids)
    if missing:
        raise ApiError(
            404, "zone_not_found", field="zone_ids", zone_ids=", ".join(map(str, missing))
        )
    authz.require_zones(db, who, ids)
    node_ids = nodes_under(db, ids)
    if not node_ids:
        raise ApiError(422, "no_nodes", field="zone_ids")
    return node_ids
