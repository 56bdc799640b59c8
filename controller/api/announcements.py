"""Announcements under /api/v1: write, edit, submit (spoken first), approve, reject, archive,
and listen before it goes out.

Every route names the permission it needs (controller/domain/authz.py) and keeps to the official's
area.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import FileResponse

from controller.api.deps import Official
from controller.api.deps import runtime_of as runtime
from controller.api.models import AnnouncementIn, RejectIn
from controller.core.errors import ApiError
from controller.domain import announcements, authz
from controller.domain.identity import Identity

router = APIRouter(prefix="/api/v1")


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
    announcement_id = announcements.save_with_audio(
        rt.store,
        rt.settings,
        who,
        None,
        title=body.title,
        text=body.text,
        category=body.category,
        priority=body.priority,
        speech=speech,
        for_review=body.submit,
        rendered=rendered,
    )
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
    announcement_id: int, body: RejectIn, request: Request, who: Official
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
