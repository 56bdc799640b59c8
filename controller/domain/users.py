"""People who use the controller, and the API tokens integrations use."""

from __future__ import annotations

import functools
from collections.abc import Iterable
from typing import Any

import sqlite_utils

from controller.core.db import insert, table, transaction
from controller.core.security import hash_password, new_secret, password_ok, token_hash
from loa.protocol import to_wire_time, utcnow

ROLES = ("admin", "editor", "approver", "operator", "viewer", "announcer")


def create_user(
    db: sqlite_utils.Database,
    username: str,
    password: str,
    role: str = "admin",
    display_name: str = "",
    zone_id: int | None = None,
) -> int:
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}; one of {', '.join(ROLES)}")
    if len(password) < 10:
        raise ValueError("password must have at least 10 characters")
    return insert(
        db,
        "users",
        {
            "username": username,
            "display_name": display_name or username,
            "password_hash": hash_password(password),
            "role": role,
            "zone_id": zone_id,
            "created_at": to_wire_time(utcnow()),
            "disabled": 0,
        },
    )


@functools.cache
def _nobody_hash() -> str:
    """Hashed once, on the first unknown user name, and checked against then: a sign-in costs one
    password hash either way, so its timing does not tell which user names exist. (Not at import:
    a hash costs a quarter of a second, on every start of every process that imports this.)"""
    return hash_password(new_secret(16))


def authenticate(db: sqlite_utils.Database, username: str, password: str) -> dict | None:
    rows = list(db.query("SELECT * FROM users WHERE username = ? AND disabled = 0", [username]))
    if not rows:
        password_ok(_nobody_hash(), password)
        return None
    if not password_ok(rows[0]["password_hash"], password):
        return None
    return rows[0]


def end_sessions(db: sqlite_utils.Database, user_id: int) -> None:
    """End every web session of this official (sign-out, password change): a session is valid
    only while it carries the user's current ``session_version``."""
    with transaction(db):
        db.execute("UPDATE users SET session_version = session_version + 1 WHERE id = ?", [user_id])


def session_valid(user: dict[str, Any], session_version: object) -> bool:
    return isinstance(session_version, int) and session_version == user["session_version"]


def get_user(db: sqlite_utils.Database, user_id: int) -> dict[str, Any] | None:
    rows = list(db.query("SELECT * FROM users WHERE id = ? AND disabled = 0", [user_id]))
    return rows[0] if rows else None


def people_by_id(db: sqlite_utils.Database, user_ids: Iterable[int]) -> dict[int, dict[str, Any]]:
    """Each of these users' ``name`` (display name, else user name) and ``role``, by id."""
    ids = sorted(set(user_ids))
    if not ids:
        return {}
    marks = ",".join("?" * len(ids))
    rows = db.query(
        f"SELECT id, username, display_name, role FROM users WHERE id IN ({marks})", ids
    )
    return {r["id"]: {"name": r["display_name"] or r["username"], "role": r["role"]} for r in rows}


def any_admin(db: sqlite_utils.Database) -> bool:
    return bool(list(db.query("SELECT 1 FROM users WHERE role = 'admin' LIMIT 1")))


def create_token(
    db: sqlite_utils.Database,
    name: str,
    role: str = "admin",
    user_id: int | None = None,
    token: str | None = None,
) -> str:
    """Store an API token (hashed) and return it; an existing identical token is kept."""
    token = token or new_secret(32)
    table(db, "api_tokens").insert(
        {
            "name": name,
            "token_hash": token_hash(token),
            "role": role,
            "user_id": user_id,
            "created_at": to_wire_time(utcnow()),
        },
        ignore=True,
    )
    return token


def token_identity(db: sqlite_utils.Database, token: str) -> dict[str, Any] | None:
    rows = list(
        db.query(
            "SELECT * FROM api_tokens WHERE token_hash = ? AND revoked_at IS NULL",
            [token_hash(token)],
        )
    )
    return rows[0] if rows else None


PUBLIC_USER_FIELDS = ("id", "username", "display_name", "role", "zone_id", "disabled", "created_at")


def public(user: dict[str, Any]) -> dict[str, Any]:
    return {k: user[k] for k in PUBLIC_USER_FIELDS}


def list_users(db: sqlite_utils.Database) -> list[dict[str, Any]]:
    return [public(u) for u in db.query("SELECT * FROM users ORDER BY username")]


def update_user(db: sqlite_utils.Database, user_id: int, changes: dict[str, Any]) -> None:
    if "role" in changes and changes["role"] not in ROLES:
        raise ValueError(f"unknown role {changes['role']!r}")
    if "password" in changes:
        password = changes.pop("password")
        if len(password) < 10:
            raise ValueError("password must have at least 10 characters")
        changes["password_hash"] = hash_password(password)
    table(db, "users").update(user_id, changes)
    if "password_hash" in changes:  # a new password ends the sessions the old one opened
        end_sessions(db, user_id)


def list_tokens(db: sqlite_utils.Database) -> list[dict[str, Any]]:
    return list(
        db.query(
            "SELECT id, name, role, user_id, created_at, revoked_at FROM api_tokens ORDER BY id"
        )
    )


def newest_token_id(db: sqlite_utils.Database) -> int:
    """The id of the token created last: read inside the transaction that created it."""
    token_id: int = db.execute("SELECT max(id) FROM api_tokens").fetchone()[0]
    return token_id


def token_owner(db: sqlite_utils.Database, token_id: int) -> dict[str, Any] | None:
    """A token's ``user_id`` (None for an integration's token, which no official owns), or
    None when there is no such token."""
    found = list(db.query("SELECT user_id FROM api_tokens WHERE id = ?", [token_id]))
    return found[0] if found else None


def revoke_token(db: sqlite_utils.Database, token_id: int) -> bool:
    cursor = db.execute(
        "UPDATE api_tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL",
        [to_wire_time(utcnow()), token_id],
    )
    return cursor.rowcount == 1
