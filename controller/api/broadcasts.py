"""Broadcasts under /api/v1: plan and check one, create, list, read and cancel them, and the
emergency broadcast (write, approve and play now, in one step).

Every route names the permission it needs (controller/domain/authz.py) and keeps to the official's
area.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Request

import schedules
from controller.api.deps import Official
from controller.api.deps import runtime_of as runtime
from controller.api.models import BroadcastIn, CancelIn, EmergencyIn
from controller.core.errors import ApiError
from controller.domain import broadcasts
from loa.protocol import utcnow

router = APIRouter(prefix="/api/v1")


@router.post("/broadcasts", status_code=201, tags=["broadcasts"])
def create_broadcast(body: BroadcastIn, request: Request, who: Official) -> dict[str, Any]:
    rt = runtime(request)
    broadcast_id = broadcasts.create_broadcast(rt.store, rt.settings, who, body.request())
    rt.kick()
    return broadcasts.broadcast_detail(rt.store.db, broadcast_id) or {}


@router.post("/broadcasts/check", tags=["broadcasts"])
def check_broadcast(body: BroadcastIn, request: Request, who: Official) -> dict[str, Any]:
    """Validate a broadcast without saving it: its summary, the nodes it reaches, its clashes."""
    rt = runtime(request)
    plan = broadcasts.plan_broadcast(rt.store, rt.settings, who, body.request(), utcnow())
    upcoming = schedules.occurrences(
        plan.schedule, utcnow(), utcnow() + broadcasts.CONFLICT_WINDOW
    )[:20]
    return {
        "summary": plan.summary,
        "node_ids": plan.node_ids,
        "priority": plan.priority,
        "occurrences": [o.key for o in upcoming],
        "conflicts": plan.conflicts,
    }


@router.get("/broadcasts", tags=["broadcasts"])
def list_broadcasts(request: Request, who: Official) -> list[dict[str, Any]]:
    return broadcasts.recent_broadcasts(runtime(request).store.db, who)


# ``:int``: /broadcasts/check is not a broadcast id (GET on it is a 405, not a 422).
@router.get("/broadcasts/{broadcast_id:int}", tags=["broadcasts"])
def get_broadcast(broadcast_id: int, request: Request, who: Official) -> dict[str, Any]:
    detail = broadcasts.broadcast_detail(runtime(request).store.db, broadcast_id, who)
    if detail is None:
        raise ApiError(404, "broadcast_not_found")
    return detail


@router.post("/broadcasts/{broadcast_id}/cancel", tags=["broadcasts"])
def cancel_broadcast(
    broadcast_id: int,
    request: Request,
    who: Official,
    body: Annotated[CancelIn | None, Body()] = None,
) -> dict[str, Any]:
    """Cancel (an emergency: stop) what is left of it; ``reason`` is optional and audited.
    Nothing left to stop (played, cancelled): ``broadcast_finished`` (409)."""
    rt = runtime(request)
    done = rt.cancel_broadcast(who, broadcast_id, body.reason if body else None)
    detail = broadcasts.broadcast_detail(rt.store.db, broadcast_id, who) or {}
    return {**detail, "nodes_held": done.held, "nodes_told": done.told}


@router.post("/emergency", status_code=201, tags=["broadcasts"])
def emergency(body: EmergencyIn, request: Request, who: Official) -> dict[str, Any]:
    """Khẩn cấp: write, approve and play now on every node of the zones, in one step (audited)."""
    return runtime(request).emergency(who, body.title, body.text, body.zone_ids, body.repeats)
