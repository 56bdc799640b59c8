"""The public page of a commune, no sign-in: the commune's name, what will play in a zone in the
coming days, and what played there in the last days with its text and audio. The rules of what
is public are :mod:`controller.domain.public`'s; only what already played there is listened to."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, Response

from controller.core.messages import error_message
from controller.domain import authz, public, reports, zones
from controller.domain.identity import Identity
from controller.web.common import not_found, render, rt, signed_in, tz
from loa.protocol import to_wire_time, utcnow

router = APIRouter(include_in_schema=False)


PUBLIC_DAYS = 30


def _public_broadcasts(request: Request, zone_id: int) -> list[dict[str, Any]]:
    """Broadcasts that played in this zone (or beneath it) in the last days, newest first."""
    db = rt(request).store.db
    sub = authz.area(db, Identity("public", "", "viewer", zone_id=zone_id)) or {zone_id}
    ids = sorted(sub)
    since = to_wire_time(utcnow() - timedelta(days=PUBLIC_DAYS))
    return reports.played_in_zones(db, ids, since)


@router.get("/public")
def public_index(request: Request) -> Response:
    db = rt(request).store.db
    areas = [z for z in zones.zone_tree(db) if z["depth"] <= 1]
    return render(
        request,
        "public_index.html",
        signed_in(request),
        areas=areas,
        commune=public.commune_name(db),
    )


@router.get("/public/{zone_id:int}")
def public_page(zone_id: int, request: Request) -> Response:
    db = rt(request).store.db
    zone = next((z for z in zones.zone_tree(db) if z["id"] == zone_id), None)
    if zone is None:
        return not_found(
            request, signed_in(request), error_message("zone_not_found", zone_ids=zone_id)
        )
    rows = _public_broadcasts(request, zone_id)
    zone_tz = tz(request)
    upcoming = [
        o | {"local": o["at"].astimezone(zone_tz)} for o in public.upcoming(db, zone_id, utcnow())
    ]
    return render(
        request,
        "public.html",
        signed_in(request),
        zone=zone,
        rows=rows,
        upcoming=upcoming,
        commune=public.commune_name(db),
        days=public.UPCOMING_DAYS,
    )


@router.get("/public/{zone_id}/audio/{broadcast_id}.mp3")
def public_audio(zone_id: int, broadcast_id: int, request: Request) -> Response:
    """Only what already played in that zone is public."""
    row = next((r for r in _public_broadcasts(request, zone_id) if r["id"] == broadcast_id), None)
    path = rt(request).settings.media_dir / f"{row['media_sha256']}.mp3" if row else None
    if path is None or not path.is_file():
        return Response(status_code=404)
    return FileResponse(
        path, media_type="audio/mpeg", headers={"Cache-Control": "public, max-age=3600"}
    )
