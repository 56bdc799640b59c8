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
from controller.domain import admin_area, authz, officials, users

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
    return officials.create_api_token(runtime(request).store.db, who, body, _ip(request))


@router.delete("/tokens/{token_id}", status_code=204, tags=["admin"])
def revoke_token(token_id: int, request: Request, who: Official) -> Response:
    officials.revoke_api_token(runtime(request).store.db, who, token_id, _ip(request))
    return Response(status_code=204)
