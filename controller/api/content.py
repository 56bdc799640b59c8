"""REST API under /api/v1 (OpenAPI at /api/v1/openapi.json), and media for nodes at /media.

Every route names the permission it needs (controller/domain/authz.py) and keeps to the official's
area.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Sequence
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import FileResponse, JSONResponse, Response

import schedules
from controller.api.deps import require_media_reader, require_official, runtime_of
from controller.api.models import (
    AnnouncementIn,
    BroadcastIn,
    EmergencyIn,
    ReviewIn,
    TokenIn,
    UserChange,
    UserIn,
)
from controller.core.errors import ApiError
from controller.domain import (
    admin_area,
    announcements,
    audit,
    authz,
    broadcasts,
    fleet,
    officials,
    reports,
    users,
    zones,
)
from controller.domain.identity import Identity
from loa.protocol import utcnow

router = APIRouter(prefix="/api/v1")
media_router = APIRouter()

Official = Annotated[Identity, Depends(require_official)]


runtime = runtime_of


def _ip(request: Request) -> str | None:
    return request.client.host if request.client else None


# --- announcements --------------------------------------------------------------------------


@router.post("/announcements", status_code=201, tags=["announcements"])
def create_announcement(body: AnnouncementIn, request: Request, who: Official) -> dict[str, Any]:
    """Submitted at once (``submit``): spoken first, so the approver hears what will play."""
    authz.require(who, "announcement.write")
    rt = runtime(request)
    speech = announcements.Speech(body.speech_engine, body.speech_voice, body.speech_rate)
    rendered = None
    if body.submit:
        _, text = announcements.clean_title_and_text(
            body.title, body.text, rt.settings.max_text_chars
        )
        rendered = announcements.render_speech(
            rt.store, rt.settings, text, speech.checked().voice_settings()
        )
    with rt.store.transaction() as db:
        announcement_id = announcements.create_announcement(
            db,
            who,
            body.title,
            body.text,
            max_text_chars=rt.settings.max_text_chars,
            category=body.category,
            priority=body.priority,
            status="pending" if body.submit else "draft",
            speech=speech,
        )
        if rendered is not None:
            announcements.attach_spoken_audio(db, announcement_id, rendered)
    return announcements.get_announcement(rt.store.db, announcement_id) or {}


def _spoken_then_submitted(rt: Any, who: Identity, announcement_id: int) -> dict[str, Any]:
    """Speak the text (if not yet), then submit: the approver approves audio, not words."""
    row = announcements.get_announcement(rt.store.db, announcement_id)
    if row is None:
        raise ApiError(404, "announcement_not_found")
    if row["status"] in announcements.EDITABLE:
        announcements.ensure_rendered(rt.store, rt.settings, row)
    return announcements.submit(rt.store.db, who, announcement_id)


@router.get("/announcements", tags=["announcements"])
def list_announcements(
    request: Request,
    who: Official,
    status: Literal["draft", "pending", "approved", "rejected", "archived"] | None = None,
    category: str | None = None,
    since: Annotated[str | None, Query(description="UTC ISO time")] = None,
    until: str | None = None,
) -> list[dict[str, Any]]:
    return announcements.list_announcements(
        runtime(request).store.db, status=status, category=category, since=since, until=until
    )


@router.get("/announcements/{announcement_id}", tags=["announcements"])
def get_announcement(announcement_id: int, request: Request, who: Official) -> dict[str, Any]:
    row = announcements.get_announcement(runtime(request).store.db, announcement_id)
    if row is None:
        raise ApiError(404, "announcement_not_found")
    return row


@router.put("/announcements/{announcement_id}", tags=["announcements"])
def edit_announcement(
    announcement_id: int, body: AnnouncementIn, request: Request, who: Official
) -> dict[str, Any]:
    authz.require(who, "announcement.write")
    rt = runtime(request)
    row = announcements.edit(
        rt.store.db,
        who,
        announcement_id,
        title=body.title,
        text=body.text,
        max_text_chars=rt.settings.max_text_chars,
        # left out: kept as they are (the defaults are for a new announcement)
        category=body.category if "category" in body.model_fields_set else None,
        priority=body.priority if "priority" in body.model_fields_set else None,
        speech=body.speech_changes() or None,
    )
    return _spoken_then_submitted(rt, who, announcement_id) if body.submit else row


@router.post("/announcements/{announcement_id}/submit", tags=["announcements"])
def submit_announcement(announcement_id: int, request: Request, who: Official) -> dict[str, Any]:
    authz.require(who, "announcement.write")
    return _spoken_then_submitted(runtime(request), who, announcement_id)


@router.post("/announcements/{announcement_id}/approve", tags=["announcements"])
def approve_announcement(announcement_id: int, request: Request, who: Official) -> dict[str, Any]:
    authz.require(who, "announcement.review")
    rt = runtime(request)
    pending = announcements.get_announcement(rt.store.db, announcement_id)
    if pending is not None and pending["status"] == "pending" and not pending["media_sha256"]:
        announcements.ensure_rendered(rt.store, rt.settings, pending)  # submitted before v6
    row = announcements.approve(rt.store.db, who, announcement_id)
    rt.kick()  # broadcasts already scheduled for it can go out now
    return row


@router.post("/announcements/{announcement_id}/reject", tags=["announcements"])
def reject_announcement(
    announcement_id: int, body: ReviewIn, request: Request, who: Official
) -> dict[str, Any]:
    authz.require(who, "announcement.review")
    return announcements.reject(runtime(request).store.db, who, announcement_id, body.comment)


@router.post("/announcements/{announcement_id}/archive", tags=["announcements"])
def archive_announcement(announcement_id: int, request: Request, who: Official) -> dict[str, Any]:
    authz.require(who, "announcement.archive")
    return announcements.archive(runtime(request).store.db, who, announcement_id)


@router.get(
    "/announcements/{announcement_id}/audio.mp3",
    tags=["announcements"],
    response_class=FileResponse,
)
def announcement_audio(announcement_id: int, request: Request, who: Official) -> FileResponse:
    """Listen before it goes out: renders the speech on first request (cached)."""
    rt = runtime(request)
    row = announcements.get_announcement(rt.store.db, announcement_id)
    if row is None:
        raise ApiError(404, "announcement_not_found")
    sha = announcements.ensure_rendered(rt.store, rt.settings, row)
    return FileResponse(rt.settings.media_dir / f"{sha}.mp3", media_type="audio/mpeg")


# --- broadcasts -----------------------------------------------------------------------------


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


@router.get("/broadcasts/{broadcast_id}", tags=["broadcasts"])
def get_broadcast(broadcast_id: int, request: Request, who: Official) -> dict[str, Any]:
    detail = broadcasts.broadcast_detail(runtime(request).store.db, broadcast_id, who)
    if detail is None:
        raise ApiError(404, "broadcast_not_found")
    return detail


@router.post("/broadcasts/{broadcast_id}/cancel", tags=["broadcasts"])
def cancel_broadcast(broadcast_id: int, request: Request, who: Official) -> dict[str, Any]:
    rt = runtime(request)
    rt.cancel_broadcast(who, broadcast_id)
    return broadcasts.broadcast_detail(rt.store.db, broadcast_id, who) or {}


@router.post("/emergency", status_code=201, tags=["broadcasts"])
def emergency(body: EmergencyIn, request: Request, who: Official) -> dict[str, Any]:
    """Khẩn cấp: write, approve and play now on every node of the zones, in one step (audited)."""
    return runtime(request).emergency(who, body.title, body.text, body.zone_ids, body.repeats)


# --- areas and fleet ------------------------------------------------------------------------


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


# --- reports --------------------------------------------------------------------------------


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


# --- users and tokens -----------------------------------------------------------------------


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
    authz.require(who, "user.manage")
    db = runtime(request).store.db
    if body.role not in users.ROLES:
        raise ApiError(422, "bad_role", field="role")
    if body.user_id is None:  # an integration's token has no area: everywhere
        admin_area.require_zone(db, who, None, field="user_id")
    else:
        owner = users.get_user(db, body.user_id)
        if owner is None or not admin_area.user_visible(db, who, owner):
            raise ApiError(404, "user_not_found", field="user_id")
    with db.conn:
        token = users.create_token(db, body.name, role=body.role, user_id=body.user_id)
        token_id = db.execute("SELECT max(id) FROM api_tokens").fetchone()[0]
        audit.record(
            db, who, "token.create", "api_token", token_id, after=body.model_dump(), ip=_ip(request)
        )
    return {"id": token_id, "name": body.name, "token": token}


@router.delete("/tokens/{token_id}", status_code=204, tags=["admin"])
def revoke_token(token_id: int, request: Request, who: Official) -> Response:
    authz.require(who, "user.manage")
    db = runtime(request).store.db
    with db.conn:
        found = list(db.query("SELECT user_id FROM api_tokens WHERE id = ?", [token_id]))
        if not found or not admin_area.token_visible(db, who, found[0]):
            raise ApiError(404, "token_not_found")
        if not users.revoke_token(db, token_id):
            raise ApiError(404, "token_not_found")
        audit.record(db, who, "token.revoke", "api_token", token_id, ip=_ip(request))
    return Response(status_code=204)


# --- media ----------------------------------------------------------------------------------

_SHA = re.compile(r"^[0-9a-f]{64}$")


@media_router.get("/media/{sha256}.mp3", response_class=FileResponse, tags=["media"])
def get_media(
    sha256: str, request: Request, who: Annotated[Identity, Depends(require_media_reader)]
) -> FileResponse:
    path = runtime(request).settings.media_dir / f"{sha256}.mp3"
    if not _SHA.match(sha256) or not path.is_file():
        raise ApiError(404, "media_not_found")
    return FileResponse(path, media_type="audio/mpeg", headers={"Cache-Control": "private"})


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
