"""Announcements (bản tin): what is said. Validation, storage, and rendering to speech."""

from __future__ import annotations

from typing import Any

import sqlite_utils

from controller.db import Store, insert, table
from controller.errors import ApiError
from controller.settings import Settings
from loa.protocol import to_wire_time, utcnow

MAX_TITLE_CHARS = 200
CATEGORIES = ("thong_bao", "tin_tuc", "phap_luat", "thien_tai", "y_te", "khac")


def clean_title_and_text(title: str, text: str, max_text_chars: int) -> tuple[str, str]:
    """Strip and check; raise ApiError with the field that is wrong."""
    title, text = title.strip(), text.strip()
    if not title:
        raise ApiError(422, "empty_title", field="title")
    if len(title) > MAX_TITLE_CHARS:
        raise ApiError(422, "title_too_long", field="title", limit=MAX_TITLE_CHARS)
    if not text:
        raise ApiError(422, "empty_text", field="text")
    if len(text) > max_text_chars:
        raise ApiError(422, "text_too_long", field="text", limit=max_text_chars)
    return title, text


def create_announcement(
    db: sqlite_utils.Database,
    title: str,
    text: str,
    *,
    max_text_chars: int,
    created_by: int | None = None,
    category: str = "thong_bao",
    priority: str = "normal",
) -> int:
    title, text = clean_title_and_text(title, text, max_text_chars)
    now = to_wire_time(utcnow())
    return insert(
        db,
        "announcements",
        {
            "title": title,
            "text": text,
            "category": category,
            "priority": priority,
            # The approval workflow (draft → pending → approved) comes with roles; until then
            # an announcement made by an authenticated official is approved as written.
            "status": "approved",
            "created_by": created_by,
            "created_at": now,
            "updated_at": now,
        },
    )


def get_announcement(db: sqlite_utils.Database, announcement_id: int) -> dict[str, Any] | None:
    rows = list(db.query("SELECT * FROM announcements WHERE id = ?", [announcement_id]))
    return rows[0] if rows else None


def ensure_rendered(store: Store, settings: Settings, announcement: dict[str, Any]) -> str:
    """Render the announcement's text to delivery audio if it has none yet; return its sha256.

    Rendering happens outside any transaction (it takes a while); the media row and the link
    from the announcement are written together afterwards.
    """
    if announcement.get("media_sha256"):
        return str(announcement["media_sha256"])
    from audio.errors import AudioError
    from audio.render import render_text
    from controller.metrics import RENDER_SECONDS

    try:
        with RENDER_SECONDS.time():
            rendered = render_text(announcement["text"], settings.media_dir)
    except AudioError as exc:
        raise ApiError(422, "render_failed", field="text", detail=exc.message) from exc
    with store.transaction() as db:
        table(db, "media").insert(
            {
                "sha256": rendered.sha256,
                "bytes": rendered.bytes,
                "duration_s": rendered.duration_s,
                "mime": "audio/mpeg",
                "created_at": to_wire_time(utcnow()),
            },
            ignore=True,
        )
        table(db, "announcements").update(
            announcement["id"],
            {
                "media_sha256": rendered.sha256,
                "engine": rendered.engine,
                "voice": rendered.voice,
                "normalized_text": rendered.normalized_text,
                "updated_at": to_wire_time(utcnow()),
            },
        )
    return rendered.sha256
