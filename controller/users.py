"""People who use the controller, and the API tokens integrations use."""

from __future__ import annotations

from typing import Any

import sqlite_utils

from controller.db import insert, table
from controller.security import hash_password, new_secret, password_ok, token_hash
from loa.protocol import to_wire_time, utcnow

ROLES = ("admin", "editor", "approver", "operator", "viewer")


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


def authenticate(db: sqlite_utils.Database, username: str, password: str) -> dict | None:
    rows = list(db.query("SELECT * FROM users WHERE username = ? AND disabled = 0", [username]))
    if not rows or not password_ok(rows[0]["password_hash"], password):
        return None
    return rows[0]


def get_user(db: sqlite_utils.Database, user_id: int) -> dict[str, Any] | None:
    rows = list(db.query("SELECT * FROM users WHERE id = ? AND disabled = 0", [user_id]))
    return rows[0] if rows else None


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
