"""Officials' accounts: creating one and changing one (role, area, name, password, disabled),
and API tokens (made, shown once, revoked), checked and audited in one transaction, for the API
and the users page alike. ``body`` is the
request's model (controller/api/models.py: ``UserIn``, ``UserChange``), whatever the form."""

from __future__ import annotations

import sqlite3
from typing import Any

import sqlite_utils

from controller.core.db import transaction
from controller.core.errors import ApiError
from controller.domain import (
    admin_area,
    audit,
    authz,
    users,
    zones,
)
from controller.domain.identity import Identity


def create_official(
    db: sqlite_utils.Database, who: Identity, body: Any, ip: str | None = None
) -> dict[str, Any]:
    """A new official (``user.manage``, inside the admin's area): 404 ``zone_not_found``,
    409 ``user_exists``, 422 ``bad_role`` or ``weak_password``; audited without the password."""
    authz.require(who, "user.manage")
    if body.zone_id is not None and zones.missing_zones(db, [body.zone_id]):
        raise ApiError(404, "zone_not_found", field="zone_id", zone_ids=str(body.zone_id))
    admin_area.require_zone(db, who, body.zone_id)
    try:
        with transaction(db):
            user_id = users.create_user(
                db, body.username, body.password, body.role, body.display_name, body.zone_id
            )
            audit.record(
                db,
                who,
                "user.create",
                "user",
                user_id,
                after=body.model_dump(exclude={"password"}),
                ip=ip,
            )
    except sqlite3.IntegrityError:
        raise ApiError(409, "user_exists", field="username") from None
    except ValueError as exc:
        raise _user_error(exc) from None
    return users.public(users.get_user(db, user_id) or {})


def change_official(
    db: sqlite_utils.Database, who: Identity, user_id: int, body: Any, ip: str | None = None
) -> dict[str, Any]:
    """Change the fields set in ``body`` (``user.manage``, inside the admin's area): 404
    ``user_not_found``, 422 ``bad_role`` or ``weak_password``; audited without the password."""
    authz.require(who, "user.manage")
    rows = list(db.query("SELECT * FROM users WHERE id = ?", [user_id]))
    if not rows or not admin_area.user_visible(db, who, rows[0]):
        raise ApiError(404, "user_not_found")
    # null keeps a field (only zone_id may be null: the whole commune); a null password or
    # "disabled" was a 500 (found by schemathesis, issue 19)
    changes = {
        k: v
        for k, v in body.model_dump(exclude_unset=True).items()
        if v is not None or k == "zone_id"
    }
    if "zone_id" in changes:
        admin_area.require_zone(db, who, changes["zone_id"])
    if "disabled" in changes:
        changes["disabled"] = int(changes["disabled"])
    try:
        with transaction(db):
            users.update_user(db, user_id, dict(changes))
            audit.record(
                db,
                who,
                "user.change",
                "user",
                user_id,
                users.public(rows[0]),
                {k: v for k, v in changes.items() if k != "password"},
                ip,
            )
    except ValueError as exc:
        raise _user_error(exc) from None
    return users.public(next(iter(db.query("SELECT * FROM users WHERE id = ?", [user_id]))))


def create_api_token(
    db: sqlite_utils.Database, who: Identity, body: Any, ip: str | None = None
) -> dict[str, Any]:
    """A new API token (``user.manage``), returned once (only its hash is kept): an official's
    own token acts as them, inside the admin's area (404 ``user_not_found`` outside it); an
    integration's token (no ``user_id``) has no area, so only an unlimited admin makes one.
    422 ``bad_role``; audited."""
    authz.require(who, "user.manage")
    if body.role not in users.ROLES:
        raise ApiError(422, "bad_role", field="role")
    if body.user_id is None:
        admin_area.require_zone(db, who, None, field="user_id")
    else:
        owner = users.get_user(db, body.user_id)
        if owner is None or not admin_area.user_visible(db, who, owner):
            raise ApiError(404, "user_not_found", field="user_id")
    with transaction(db):
        token = users.create_token(db, body.name, role=body.role, user_id=body.user_id)
        token_id = users.newest_token_id(db)
        audit.record(db, who, "token.create", "api_token", token_id, after=body.model_dump(), ip=ip)
    return {"id": token_id, "name": body.name, "token": token}


def revoke_api_token(
    db: sqlite_utils.Database, who: Identity, token_id: int, ip: str | None = None
) -> None:
    """Revoke a token (``user.manage``, inside the admin's area); 404 ``token_not_found`` for
    an unknown, already revoked or out-of-area token; audited."""
    authz.require(who, "user.manage")
    with transaction(db):
        found = users.token_owner(db, token_id)
        if found is None or not admin_area.token_visible(db, who, found):
            raise ApiError(404, "token_not_found")
        if not users.revoke_token(db, token_id):
            raise ApiError(404, "token_not_found")
        audit.record(db, who, "token.revoke", "api_token", token_id, ip=ip)


def _user_error(exc: ValueError) -> ApiError:
    if "role" in str(exc):
        return ApiError(422, "bad_role", field="role")
    return ApiError(422, "weak_password", field="password")
