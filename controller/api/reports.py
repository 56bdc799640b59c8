"""Reports under /api/v1: the play log, the delivery summary, the monthly summary and the audit
log, as JSON, CSV (``format=csv``) or .xlsx (``format=xlsx``).

Integrations keep the stable form by default: JSON and CSV with the stored codes and UTC times.
The files for people (``labels=vi`` for CSV; .xlsx always) have Vietnamese headers and words and
local times (controller/domain/report_files.py); the /reports page links to those.

Every route names the permission it needs (controller/domain/authz.py) and keeps to the official's
area.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, Response

from controller.api.deps import Official
from controller.api.deps import runtime_of as runtime
from controller.domain import admin_area, audit, authz, public, report_files, reports

router = APIRouter(prefix="/api/v1")

_CSV = "text/csv"
_XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
#: A report month as ``reports.month_bounds`` takes it: YYYY-MM, years 2000 to 9998 (or empty).
MONTH_PATTERN = (
    r"^((2[0-9]{3}|[3-8][0-9]{3}|9[0-8][0-9]{2}|99[0-8][0-9]|999[0-8])-(0[1-9]|1[0-2]))?$"
)


def _files(*media_types: str) -> dict[int | str, dict[str, Any]]:
    """The 200 answer's content types besides JSON: the downloads ``format=`` asks for."""
    content: dict[str, Any] = {"application/json": {}}
    content.update({t: {"schema": {"type": "string", "format": "binary"}} for t in media_types})
    return {200: {"description": "JSON, or the file asked for", "content": content}}


@router.get("/reports/plays", tags=["reports"], response_model=None, responses=_files(_CSV, _XLSX))
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
    format: Literal["json", "csv", "xlsx"] = "json",
    labels: Literal["codes", "vi"] = "codes",
) -> Response:
    """The play log, newest first, a page at a time (``limit``, ``offset``). JSON and CSV keep
    the stored codes and UTC times; ``labels=vi`` (CSV) and ``format=xlsx`` give the file for
    people: Vietnamese headers and words, local times."""
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
    if format == "xlsx" or (format == "csv" and labels == "vi"):
        header, body = report_files.play_log_table(rows, _zone(request))
        if format == "csv":
            return file_response(report_files.csv_bytes(header, body), "nhat-ky-phat.csv")
        data = report_files.xlsx_bytes([("Nhật ký phát", [], header, body)])
        return file_response(data, "nhat-ky-phat.xlsx")
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
        runtime(request).store.db,
        who,
        zone_id=zone_id,
        since=since,
        until=until,
        zone=_zone(request),
    )


@router.get("/reports/monthly", tags=["reports"], response_model=None, responses=_files(_XLSX))
def monthly(
    request: Request,
    who: Official,
    month: Annotated[str | None, Query(json_schema_extra={"pattern": MONTH_PATTERN})] = None,
    zone_id: int | None = None,
    format: Literal["json", "xlsx"] = "json",
) -> Response:
    """The monthly summary (``month=2026-11``, local time; this month when not given) per
    village and per category: hours on air, bulletins, relays, live broadcasts, emergencies,
    delivery rate. A month that is not ``YYYY-MM`` (``2026-13``, ``abc``): 422 ``bad_month``."""
    db = runtime(request).store.db
    zone = _zone(request)
    month = month or f"{datetime.now(zone):%Y-%m}"
    summary = reports.monthly_summary(db, who, month, zone, zone_id=zone_id)
    if format == "xlsx":
        commune = summary["commune"] or public.commune_name(db)
        heading = report_files.summary_heading(summary, commune)
        sheets = [
            (title, [*heading, title], header, rows)
            for title, header, rows in report_files.summary_tables(summary)
        ]
        return file_response(report_files.xlsx_bytes(sheets), f"bao-cao-thang-{month}.xlsx")
    return JSONResponse(summary)


@router.get("/audit", tags=["admin"], response_model=None, responses=_files(_CSV))
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
    """The rows as stored (codes, UTC), as CSV with a UTF-8 BOM so spreadsheet programs read
    Vietnamese correctly; no cell becomes a formula (``report_files.neutral``)."""
    header = list(rows[0]) if rows else []
    body = ([r[k] for k in header] for r in rows)
    data = report_files.csv_bytes(header, body) if rows else "\ufeff".encode()
    return file_response(data, filename)


#: What each downloadable file is.
MEDIA_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


def file_response(data: bytes, filename: str) -> Response:
    """A file to download, its type from its name."""
    return Response(
        data,
        media_type=MEDIA_TYPES[filename.rsplit(".", 1)[1]],
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


def _zone(request: Request) -> ZoneInfo:
    """The deployment's time zone (``Settings.timezone``)."""
    return ZoneInfo(runtime(request).settings.timezone)
