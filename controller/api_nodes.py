"""Provisioning API: add a node (its bundle is in the answer, shown once), revoke a node, re-issue
a node's secret (a new bundle; the old one stops working).

Administrators only for now.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from controller import provisioning
from controller.auth import Identity, require_official
from controller.errors import ApiError
from controller.provisioning import ProvisioningConfig, ProvisioningError
from controller.runtime import Runtime

router = APIRouter(prefix="/api/v1", tags=["provisioning"])

Official = Annotated[Identity, Depends(require_official)]


class NodeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str = Field(max_length=200, description="lower-case letters, digits, hyphens: lac-xuan-1")
    zone_id: int
    name: str = Field(default="", max_length=provisioning.MAX_NAME)
    lat: float | None = None
    lon: float | None = None


def _admin(who: Identity) -> None:
    if who.role != "admin":
        raise ApiError(403, "forbidden")


def _config(rt: Runtime) -> ProvisioningConfig:
    return ProvisioningConfig.from_settings(rt.settings)


def _api_error(exc: ProvisioningError) -> ApiError:
    return ApiError(exc.status, exc.code, exc.field, **exc.params)


@router.post(
    "/nodes",
    status_code=201,
    responses={201: {"description": "the node's provisioning bundle: save it, it is shown once"}},
)
def add_node(body: NodeIn, request: Request, who: Official) -> JSONResponse:
    _admin(who)
    rt: Runtime = request.app.state.runtime
    try:
        bundle = provisioning.create_node(
            rt.store,
            _config(rt),
            rt.key,
            body.id,
            body.zone_id,
            name=body.name,
            lat=body.lat,
            lon=body.lon,
            actor=who.name,
            actor_id=who.user_id,
        )
    except ProvisioningError as exc:
        raise _api_error(exc) from None
    return JSONResponse(bundle, status_code=201, headers={"Cache-Control": "no-store"})


@router.post("/nodes/{node_id}/revoke")
def revoke_node(node_id: str, request: Request, who: Official) -> dict[str, Any]:
    _admin(who)
    rt: Runtime = request.app.state.runtime
    try:
        return provisioning.revoke_node(
            rt.store,
            _config(rt),
            node_id,
            actor=who.name,
            actor_id=who.user_id,
            before_broker=rt.dispatcher.sync_node,  # an empty schedule: it drops what it holds
        )
    except ProvisioningError as exc:
        raise _api_error(exc) from None


@router.post(
    "/nodes/{node_id}/reissue",
    responses={200: {"description": "the node's new bundle: its old secret stops working"}},
)
def reissue_node(node_id: str, request: Request, who: Official) -> JSONResponse:
    _admin(who)
    rt: Runtime = request.app.state.runtime
    try:
        bundle = provisioning.reissue_node(
            rt.store, _config(rt), rt.key, node_id, actor=who.name, actor_id=who.user_id
        )
    except ProvisioningError as exc:
        raise _api_error(exc) from None
    return JSONResponse(bundle, headers={"Cache-Control": "no-store"})
