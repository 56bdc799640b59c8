"""Provisioning API: add a node (its bundle is in the answer, shown once), revoke a node, re-issue
a node's secret (a new bundle; the old one stops working); join codes (make, list, revoke) and
their redemption by a Pi's install script, with the files it downloads (``/node/…``).

Administrators only, except the redemption and ``/node/…`` (the join code is the credential).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, JSONResponse, PlainTextResponse

from controller.api.deps import Official
from controller.api.models import JoinCodeIn, NodeIn, RedeemIn
from controller.core.errors import ApiError
from controller.domain import admin_area, authz, join, provisioning
from controller.domain.identity import Identity
from controller.domain.provisioning import ProvisioningConfig, ProvisioningError
from controller.services import node_dist
from controller.services.runtime import Runtime

router = APIRouter(prefix="/api/v1", tags=["provisioning"])


def _admin(who: Identity) -> None:
    if who.role != "admin":
        raise ApiError(403, "forbidden")


def _node_in_area(rt: Runtime, who: Identity, node_id: str) -> None:
    """An admin limited to a zone manages only the nodes of their area; others are not found."""
    row = provisioning.get_node(rt.store.db, node_id)
    if row is not None and not admin_area.zone_allowed(rt.store.db, who, row["zone_id"]):
        raise ApiError(404, "node_not_found")


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
    admin_area.require_zone(rt.store.db, who, body.zone_id)
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
    _node_in_area(rt, who, node_id)
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
    _node_in_area(rt, who, node_id)
    try:
        bundle = provisioning.reissue_node(
            rt.store, _config(rt), rt.key, node_id, actor=who.name, actor_id=who.user_id
        )
    except ProvisioningError as exc:
        raise _api_error(exc) from None
    return JSONResponse(bundle, headers={"Cache-Control": "no-store"})


# --- join codes (controller/domain/join.py): one command on the Pi --------------------------------


@router.post(
    "/join-codes",
    status_code=201,
    responses={201: {"description": "the code (shown once) and the line to type on the Pi"}},
)
def create_join_code(body: JoinCodeIn, request: Request, who: Official) -> JSONResponse:
    _admin(who)
    rt: Runtime = request.app.state.runtime
    admin_area.require_zone(rt.store.db, who, body.zone_id)
    try:
        made = join.create_code(
            rt.store,
            _config(rt),
            body.name,
            body.zone_id,
            node_id=body.id,
            actor=who.name,
            actor_id=who.user_id,
        )
    except ProvisioningError as exc:
        raise _api_error(exc) from None
    return JSONResponse(made, status_code=201, headers={"Cache-Control": "no-store"})


@router.get("/join-codes")
def list_join_codes(request: Request, who: Official) -> list[dict[str, Any]]:
    _admin(who)
    rt: Runtime = request.app.state.runtime
    return join.list_codes(rt.store.db, area=authz.area(rt.store.db, who))


@router.post("/join-codes/{code_id}/revoke")
def revoke_join_code(code_id: int, request: Request, who: Official) -> dict[str, Any]:
    _admin(who)
    rt: Runtime = request.app.state.runtime
    try:
        return join.revoke_code(
            rt.store,
            code_id,
            actor=who.name,
            actor_id=who.user_id,
            area=authz.area(rt.store.db, who),
        )
    except ProvisioningError as exc:
        raise _api_error(exc) from None


@router.post(
    "/join",
    responses={200: {"description": "the node's bundle, given once: the code is now used"}},
)
def redeem_join_code(body: RedeemIn, request: Request) -> JSONResponse:
    """Public: the join code is the credential. Called by the install script on the Pi."""
    rt: Runtime = request.app.state.runtime
    try:
        bundle = join.redeem(
            rt.store,
            _config(rt),
            rt.key,
            body.code,
            ip=request.client.host if request.client else None,
        )
    except ProvisioningError as exc:
        raise _api_error(exc) from None
    return JSONResponse(bundle, headers={"Cache-Control": "no-store"})


#: Public files a Pi downloads to join (controller/services/node_dist.py).
node_files_router = APIRouter(prefix="/node", tags=["provisioning"])


@node_files_router.get(
    "/install.sh",
    response_class=PlainTextResponse,
    responses={200: {"content": {"text/x-shellscript": {"schema": {"type": "string"}}}}},
)
def install_script(request: Request) -> PlainTextResponse:
    rt: Runtime = request.app.state.runtime
    return PlainTextResponse(
        node_dist.install_script(rt.settings.base_url), media_type="text/x-shellscript"
    )


@node_files_router.get("/{wheel}", response_class=FileResponse)
def node_wheel(wheel: str, request: Request) -> FileResponse:
    rt: Runtime = request.app.state.runtime
    if wheel != node_dist.wheel_name():
        raise ApiError(404, "not_found")
    try:
        path = node_dist.node_wheel(rt.settings.data_dir)
    except ProvisioningError as exc:
        raise _api_error(exc) from None
    return FileResponse(path, media_type="application/octet-stream", filename=wheel)
