"""The audit log (nhật ký hệ thống): append-only, who did what, when, before and after."""

from __future__ import annotations

import json
from typing import Any

import sqlite_utils

from controller.core import client_address
from controller.core.db import insert
from controller.domain import users
from controller.domain.identity import Identity
from loa.protocol import to_wire_time, utcnow


def record(
    db: sqlite_utils.Database,
    who: Identity | None,
    action: str,
    entity: str,
    entity_id: object,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    ip: str | None = None,
) -> None:
    """Append one entry for an official (None: the system); call it inside the transaction
    that makes the change."""
    append(
        db,
        who.key if who else "system",
        who.user_id if who else None,
        action,
        entity,
        entity_id,
        before,
        after,
        ip,
    )


def append(
    db: sqlite_utils.Database,
    actor: str,
    actor_id: int | None,
    action: str,
    entity: str,
    entity_id: object,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    ip: str | None = None,
) -> None:
    """Append one entry by an actor named as the command line and the API name them. The
    address is the request's client's unless given (None outside a request)."""
    insert(
        db,
        "audit_log",
        {
            "at": to_wire_time(utcnow()),
            "actor": actor,
            "actor_id": actor_id,
            "action": action,
            "entity": entity,
            "entity_id": str(entity_id),
            "before": json.dumps(before, ensure_ascii=False, default=str) if before else None,
            "after": json.dumps(after, ensure_ascii=False, default=str) if after else None,
            "ip": ip if ip is not None else client_address.current(),
        },
    )


def entries(
    db: sqlite_utils.Database,
    *,
    entity: str | None = None,
    entity_id: str | None = None,
    limit: int = 500,
    actor_ids: list[int] | None = None,
) -> list[dict[str, Any]]:
    """The newest entries first; ``actor_ids`` (when not None) keeps only entries written by
    those officials (an admin limited to a zone reads their area's entries only)."""
    where: list[str] = []
    params: list[Any] = []
    if actor_ids is not None:
        where.append(f"actor_id IN ({','.join('?' * len(actor_ids))})" if actor_ids else "0")
        params.extend(actor_ids)
    if entity:
        where.append("entity = ?")
        params.append(entity)
    if entity_id:
        where.append("entity_id = ?")
        params.append(entity_id)
    sql = "SELECT * FROM audit_log"
    if where:
        sql += " WHERE " + " AND ".join(where)
    sql += " ORDER BY id DESC LIMIT ?"
    return list(db.query(sql, [*params, limit]))


def entities(db: sqlite_utils.Database) -> list[str]:
    """The kinds of entity the log has entries about (each once)."""
    return [r["entity"] for r in db.query("SELECT DISTINCT entity FROM audit_log")]


def with_actors(db: sqlite_utils.Database, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The entries with their actor's display name (``actor_name``) and role (``actor_role``)
    when the actor is an official (``actor_id``); otherwise both None (the system, a node, a
    shared token: ``actor`` names them)."""
    people = users.people_by_id(db, (r["actor_id"] for r in rows if r["actor_id"] is not None))
    return [
        r
        | {
            "actor_name": people.get(r["actor_id"], {}).get("name"),
            "actor_role": people.get(r["actor_id"], {}).get("role"),
        }
        for r in rows
    ]
