"""REST API under /api/v1 (OpenAPI at /api/v1/openapi.json), and media for nodes at /media."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import FileResponse
from pydantic import BaseModel, ConfigDict, Field

from controller import announcements, broadcasts, fleet, zones
from controller.auth import Identity, require_media_reader, require_official
from controller.errors import ApiError
from controller.runtime import Runtime
from loa.protocol import Priority, utcnow

router = APIRouter(prefix="/api/v1")
media_router = APIRouter()

Official = Annotated[Identity, Depends(require_official)]


def runtime(request: Request) -> Runtime:
    return request.app.state.runtime


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid")


class AnnouncementIn(_Request):
    title: str = Field(max_length=10_000)
    text: str = Field(max_length=1_000_000)
    category: str = "thong_bao"
    priority: Priority = "normal"


class BroadcastIn(_Request):
    announcement_id: int
    zone_ids: list[int] = Field(max_length=1000)
    starts_at: datetime = Field(description="ISO 8601 with a UTC offset")
    priority: Priority | None = None


@router.post("/announcements", status_code=201)
def create_announcement(body: AnnouncementIn, request: Request, who: Official) -> dict[str, Any]:
    rt = runtime(request)
    announcement_id = announcements.create_announcement(
        rt.store.db,
        body.title,
        body.text,
        max_text_chars=rt.settings.max_text_chars,
        created_by=who.user_id,
        category=body.category,
        priority=body.priority,
    )
    return announcements.get_announcement(rt.store.db, announcement_id) or {}


@router.get("/announcements/{announcement_id}")
def get_announcement(announcement_id: int, request: Request, who: Official) -> dict[str, Any]:
    row = announcements.get_announcement(runtime(request).store.db, announcement_id)
    if row is None:
        raise ApiError(404, "announcement_not_found")
    return row


@router.post("/broadcasts", status_code=201)
def create_broadcast(body: BroadcastIn, request: Request, who: Official) -> dict[str, Any]:
    rt = runtime(request)
    broadcast_id = broadcasts.create_broadcast(
        rt.store,
        rt.settings,
        announcement_id=body.announcement_id,
        zone_ids=body.zone_ids,
        starts_at=body.starts_at,
        priority=body.priority,
        created_by=who.user_id,
    )
    rt.kick()
    return broadcasts.broadcast_detail(rt.store.db, broadcast_id) or {}


@router.get("/broadcasts")
def list_broadcasts(request: Request, who: Official) -> list[dict[str, Any]]:
    return broadcasts.recent_broadcasts(runtime(request).store.db)


@router.get("/broadcasts/{broadcast_id}")
def get_broadcast(broadcast_id: int, request: Request, who: Official) -> dict[str, Any]:
    detail = broadcasts.broadcast_detail(runtime(request).store.db, broadcast_id)
    if detail is None:
        raise ApiError(404, "broadcast_not_found")
    return detail


@router.get("/zones")
def list_zones(request: Request, who: Official) -> list[dict[str, Any]]:
    return zones.zone_tree(runtime(request).store.db)


@router.get("/nodes")
def list_nodes(request: Request, who: Official) -> list[dict[str, Any]]:
    rt = runtime(request)
    return fleet.list_nodes(rt.store.db, utcnow(), rt.settings.missed_heartbeats)


_SHA = re.compile(r"^[0-9a-f]{64}$")


@media_router.get("/media/{sha256}.mp3", response_class=FileResponse)
def get_media(
    sha256: str, request: Request, who: Annotated[Identity, Depends(require_media_reader)]
) -> FileResponse:
    path = runtime(request).settings.media_dir / f"{sha256}.mp3"
    if not _SHA.match(sha256) or not path.is_file():
        raise ApiError(404, "media_not_found")
    return FileResponse(path, media_type="audio/mpeg", headers={"Cache-Control": "private"})
