"""The zones and the nodes in them under /api/v1, as far as the official's area reaches.

One node in detail, its uptime and the alerts are in controller/api/fleet.py.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from controller.api.deps import Official
from controller.api.deps import runtime_of as runtime
from controller.domain import authz, fleet, zones
from loa.protocol import utcnow

router = APIRouter(prefix="/api/v1")


@router.get("/zones", tags=["fleet"])
def list_zones(request: Request, who: Official) -> list[dict[str, Any]]:
    db = runtime(request).store.db
    allowed = authz.area(db, who)
    return [z for z in zones.zone_tree(db) if allowed is None or z["id"] in allowed]


@router.get("/nodes", tags=["fleet"])
def list_nodes(request: Request, who: Official) -> list[dict[str, Any]]:
    rt = runtime(request)
    allowed = authz.area(rt.store.db, who)
    return [
        n
        for n in fleet.list_nodes(rt.store.db, utcnow(), rt.settings.missed_heartbeats)
        if allowed is None or n["zone_id"] in allowed
    ]
