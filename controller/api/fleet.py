"""Fleet routes under /api/v1: one node in detail (state, telemetry, status history, uptime),
uptime over a chosen period, and the operators' alert list.

``GET /api/v1/nodes`` itself lives in controller/api/zones.py; its rows come from
``fleet.list_nodes``, which adds ``status``, ``status_since``, ``uptime_pct`` and
``open_alerts``. Everything here keeps to the official's area, like the rest of the API.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request

from controller.api.deps import Official, runtime_of
from controller.core.errors import ApiError
from controller.domain import authz, fleet
from controller.domain.identity import Identity
from controller.services import alerts
from loa.protocol import to_wire_time, utcnow

router = APIRouter(prefix="/api/v1", tags=["fleet"])

#: Longest period an uptime may be asked for.
MAX_UPTIME_PERIOD = timedelta(days=366)


_runtime = runtime_of


def _visible_node(request: Request, who: Identity, node_id: str) -> dict[str, Any]:
    db = _runtime(request).store.db
    node = fleet.node_zone(db, node_id)
    if node is None or not authz.node_visible(db, who, node["zone_id"]):
        raise ApiError(404, "node_not_found")
    return node


@router.get("/nodes/{node_id}")
def get_node(
    node_id: str,
    request: Request,
    who: Official,
    history: Annotated[int, Query(ge=1, le=1000, description="status changes to return")] = 50,
) -> dict[str, Any]:
    """A node now: state, last telemetry, uptime (24 h, 7 days), status history, open alerts."""
    _visible_node(request, who, node_id)
    rt = _runtime(request)
    detail = fleet.node_detail(
        rt.store.db, node_id, utcnow(), rt.settings.missed_heartbeats, history_limit=history
    )
    if detail is None:
        raise ApiError(404, "node_not_found")
    return detail


def _aware(value: datetime | None, field: str) -> datetime | None:
    if value is not None and value.tzinfo is None:
        raise ApiError(422, "time_without_offset", field=field)
    return value


@router.get("/nodes/{node_id}/uptime")
def get_node_uptime(
    node_id: str,
    request: Request,
    who: Official,
    since: Annotated[datetime | None, Query(description="ISO 8601 with offset")] = None,
    until: Annotated[
        datetime | None, Query(description="ISO 8601 with offset; default now")
    ] = None,
) -> dict[str, Any]:
    """Percent of the period the node was online (default: the last 24 hours)."""
    _visible_node(request, who, node_id)
    end = _aware(until, "until") or utcnow()
    start = _aware(since, "since") or end - timedelta(hours=24)
    if start >= end or end - start > MAX_UPTIME_PERIOD:
        raise ApiError(422, "invalid_request", field="since")
    pct = fleet.uptime(_runtime(request).store.db, start, end, [node_id])[node_id]
    return {
        "node_id": node_id,
        "since": to_wire_time(start),
        "until": to_wire_time(end),
        "uptime_pct": pct,
    }


@router.get("/alerts")
def list_alerts(
    request: Request,
    who: Official,
    all: Annotated[bool, Query(description="closed alerts too (newest first)")] = False,
) -> list[dict[str, Any]]:
    """Alerts for operators: open ones (oldest first), or with ``?all=1`` the latest 500."""
    db = _runtime(request).store.db
    allowed = authz.area(db, who)
    rows = alerts.list_alerts(db, include_closed=all)
    if allowed is None:
        return rows
    zone_of = fleet.zones_of_nodes(db)
    return [r for r in rows if r["node_id"] is None or zone_of.get(r["node_id"]) in allowed]
