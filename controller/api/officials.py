"""Officials' accounts and API tokens under /api/v1: list, create and change users; list, create
(shown once) and revoke tokens. Each change is audited with the asker's address.

Every route names the permission it needs (controller/domain/authz.py) and keeps to the
administrator's area.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from controller.api.deps import Official
from controller.api.deps import runtime_of as runtime
from controller.api.models import TokenIn, UserChange, UserIn
from controller.core.errors import ApiError
from controller.domain import admin_area, audit, authz, officials, users

router = APIRouter(prefix="/api/v1")


def _ip(request: Request) -> str | None:
    return request.client.host if request.client else None


@router.get("/users", tags=["admin"])
def list_users(request: Request, who: Official) -> list[dict[str, Any]]:
    authz.require(who, "user.manage")
    db = runtime(request).store.db
    return [u for u in users.list_users(db) if admin_area.user_visible(db, who, u)]


@router.post("/users", status_code=201, tags=["admin"])
def create_user(body: UserIn, request: Request, who: Official) -> dict[str, Any]:
    return officials.create_official(runtime(request).store.db, who, body, _ip(request))


@router.patch("/users/{user_id}", tags=["admin"])
def change_user(user_id: int, body: UserChange, request: Request, who: Official) -> dict:
    return officials.change_official(runtime(request).store.db, who, user_id, body, _ip(request))


@router.get("/tokens", tags=["admin"])
def list_tokens(request: Request, who: Official) -> list[dict[str, Any]]:
    authz.require(who, "user.manage")
    db = runtime(request).store.db
    return [t for t in users.list_tokens(db) if admin_area.token_visible(db, who, t)]


@router.post("/tokens", status_code=201, tags=["admin"])
def create_token(body: TokenIn, request: Request, who: Official) -> dict[str, Any]:
    """A new API token, shown once; only its hash is kept."""
    authz.require(who, "user.manage")
    db = runtime(request).store.db
    if body.role not in users.ROLES:
        raise ApiError(422, "bad_role", field="role")
    if body.user_id is None:  # an integration's token has no area: everywhere
        admin_area.require_zone(db, who, None, field="user_id")
    else:
        owner = users.get_user(db, body.user_id)
        if owner is None or not admin_area.user_visible(db, who, owner):
            raise ApiError(404, "user_not_found", field="user_id")
    with db.conn:
        token = users.create_token(db, body.name, role=body.role, user_id=body.user_id)
        token_id = users.newest_token_id(db)
        audit.record(
            db, who, "token.create", "api_token", token_id, after=body.model_dump(), ip=_ip(request)
        )
    return {"id": token_id, "name": body.name, "token": token}


@router.delete("/tokens/{token_id}", status_code=204, tags=["admin"])
def revoke_token(token_id: int, request: Request, who: Official) -> Response:
    authz.require(who, "user.manage")
    db = runtime(request).store.db
    with db.conn:
        found = users.token_owner(db, token_id)
        if found is None or not admin_area.token_visible(db, who, found):
            raise ApiError(404, "token_not_found")
        if not users.revoke_token(db, token_id):
            raise ApiError(404, "token_not_found")
        audit.record(db, who, "token.revoke", "api_token", token_id, ip=_ip(request))
    return Response(status_code=204)
