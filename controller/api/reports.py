"""Reports under /api/v1: the play log, the delivery summary and the audit log, as JSON or as
CSV (``format=csv``).

Every route names the permission it needs (controller/domain/authz.py) and keeps to the official's
area.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, Response

from controller.api.deps import Official
from controller.api.deps import runtime_of as runtime
from controller.domain import admin_area, audit, authz, reports

router = APIRouter(prefix="/api/v1")


@router.get("/reports/plays", tags=["reports"], response_model=None)
def play_log(
    request: Request,
    who: Official,
    zone_id: int | None = None,
    node_id: str | None = None,
    announcement_id: int | None = None,
    broadcast_id: int | None = None,
    since: str | None = None,
    until: str | None = None,
    limit: Annotated[int, Query(ge=1, le=100_000)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
    format: Literal["json", "csv"] = "json",
) -> Response:
    """The play log, newest first, a page at a time (``limit``, ``offset``)."""
    rows = reports.play_log(
        runtime(request).store.db,
        who,
        zone_id=zone_id,
        node_id=node_id,
        announcement_id=announcement_id,
        broadcast_id=broadcast_id,
        since=since,
        until=until,
        limit=limit,
        offset=offset,
    )
    return rows_response(rows, format, "nhat-ky-phat.csv")


@router.get("/reports/delivery", tags=["reports"])
def delivery(
    request: Request,
    who: Official,
    zone_id: int | None = None,
    since: str | None = None,
    until: str | None = None,
) -> dict[str, list[dict[str, Any]]]:
    return reports.delivery_summary(
        runtime(request).store.db, who, zone_id=zone_id, since=since, until=until
    )


@router.get("/audit", tags=["admin"], response_model=None)
def audit_log(
    request: Request,
    who: Official,
    entity: str | None = None,
    entity_id: str | None = None,
    format: Literal["json", "csv"] = "json",
) -> Response:
    authz.require(who, "audit.read")
    db = runtime(request).store.db
    rows = audit.entries(
        db, entity=entity, entity_id=entity_id, actor_ids=admin_area.audit_actor_ids(db, who)
    )
    return rows_response(rows, format, "nhat-ky-he-thong.csv")


def rows_response(rows: Sequence[dict[str, Any]], format: str, filename: str) -> Response:
    """Database rows as JSON, or as CSV for ``format=csv``.

    The rows are plain values, so they go straight to ``json.dumps``: FastAPI's generic encoder
    walks every value in Python and cost 4 ms for a 100-row page of the play log.
    """
    if format == "csv":
        return csv_response(rows, filename)
    return JSONResponse(list(rows))


def csv_response(rows: Sequence[dict[str, Any]], filename: str) -> Response:
    """CSV with a UTF-8 BOM so spreadsheet programs read Vietnamese correctly."""
    out = io.StringIO()
    if rows:
        writer = csv.DictWriter(out, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return Response(
        "\ufeff" + out.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )
