"""Announcements (bản tin): what is said; their approval workflow; rendering to speech.

Workflow: draft → pending (submitted) → approved | rejected (with a comment) → archived.
A rejected announcement can be edited and submitted again. The approver must be a different
person than the author. Every change is written to the audit log in the same transaction.

What is approved is what is heard: text is spoken before it is submitted (or, at the latest,
before it is approved), the approval records that audio (``approved_sha256``), and an approved
announcement is never spoken again (a later lexicon entry or engine change cannot alter it).
Archiving takes an announcement out of the lists of work; it does not change what is scheduled.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping
from dataclasses import asdict, dataclass, replace
from typing import Any

import sqlite_utils

from audio import engines
from audio.errors import AudioError
from audio.messages import message_for
from audio.settings import VoiceSettings
from controller.core.db import Store, insert, table, transaction
from controller.core.errors import ApiError
from controller.core.metrics import RENDER_SECONDS
from controller.core.settings import Settings
from controller.domain import audit, listening, users
from controller.domain.identity import Identity
from loa.protocol import to_wire_time, utcnow

MAX_TITLE_CHARS = 200
CATEGORIES = ("thong_bao", "tin_tuc", "phap_luat", "thien_tai", "y_te", "khac")
STATUSES = ("draft", "pending", "approved", "rejected", "archived")
EDITABLE = ("draft", "rejected")
#: Where an announcement's audio came from when it is not spoken text: the file is the message.
RECORDED = ("upload", "recording")


#: Characters that reorder or hide text (bidirectional embeddings, overrides and isolates): a
#: title could read differently on screen than it is stored and spoken.
BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
#: Line breaks and tabs are allowed in an announcement's text, never in a title.
TEXT_WHITESPACE = frozenset("\n\r\t")


def clean_words(value: str, field: str, *, multiline: bool = False) -> str:
    """People's words as stored: NFC-normalized and stripped. Refused (422, naming ``field``):
    control characters (NUL …; line breaks and tabs only when ``multiline``) and bidirectional
    overrides (``control_characters``), and input of invisible characters only, such as
    zero-width spaces (``invisible_only``). Empty input is left to the caller."""
    value = unicodedata.normalize("NFC", value).strip()
    allowed = TEXT_WHITESPACE if multiline else frozenset()
    for ch in value:
        if ch in BIDI_CONTROLS or (unicodedata.category(ch) == "Cc" and ch not in allowed):
            raise ApiError(422, "control_characters", field=field)
    if value and all(unicodedata.category(ch) in ("Cf", "Zs") or ch.isspace() for ch in value):
        raise ApiError(422, "invisible_only", field=field)
    return value


def clean_title_and_text(title: str, text: str, max_text_chars: int) -> tuple[str, str]:
    """Normalize and check (:func:`clean_words`); raise ApiError with the field that is wrong."""
    title = clean_words(title, "title")
    text = clean_words(text, "text", multiline=True)
    if not title:
        raise ApiError(422, "empty_title", field="title")
    if len(title) > MAX_TITLE_CHARS:
        raise ApiError(422, "title_too_long", field="title", limit=MAX_TITLE_CHARS)
    if not text:
        raise ApiError(422, "empty_text", field="text")
    if len(text) > max_text_chars:
        raise ApiError(422, "text_too_long", field="text", limit=max_text_chars)
    return title, text


@dataclass(frozen=True)
class Speech:
    """The voice an official chose for an announcement's text (columns ``speech_engine``,
    ``speech_voice``, ``speech_rate``): used every time the text is spoken again.

    ``voice`` and ``rate`` None mean the engine's default. The columns ``engine`` and ``voice``
    are something else: what actually spoke the current audio (``auto`` names no engine).
    """

    engine: str = "auto"
    voice: str | None = None
    rate: int | None = None

    @classmethod
    def of(cls, row: Mapping[str, Any]) -> Speech:
        """The stored choice; none stored (rows from before it was kept): the defaults."""
        return cls(
            engine=row.get("speech_engine") or "auto",
            voice=row.get("speech_voice") or None,
            rate=row.get("speech_rate") or None,
        )

    def columns(self) -> dict[str, Any]:
        return {"speech_engine": self.engine, "speech_voice": self.voice, "speech_rate": self.rate}

    def voice_settings(self) -> Any:
        """As the audio package's ``VoiceSettings``."""

        return VoiceSettings(engine=self.engine, voice=self.voice, rate=self.rate)

    def checked(self) -> Speech:
        """Self, when this controller can speak with it; else ApiError naming the field:
        ``unknown_engine``/``bad_settings`` (engine, rate out of range), ``engine_unavailable``
        (a named engine that cannot speak here), ``unknown_voice`` (not one of the voices the
        engine offers here, ``audio.engines.catalog()``; with ``auto``, of the engines it tries).
        """

        try:
            self.voice_settings().check()
            names = engines.auto_order() if self.engine == "auto" else (self.engine,)
            usable = [e for e in map(engines.get, names) if e.available()]
            if self.engine != "auto" and not usable:
                raise AudioError("engine_unavailable", message_for("engine_unavailable"))
            if self.voice is not None and not any(self.voice in e.voices() for e in usable):
                raise AudioError(
                    "unknown_voice",
                    message_for("unknown_voice", voice=self.voice, engine=self.engine),
                )
        except AudioError as exc:
            field = {"bad_settings": "speech_rate", "unknown_voice": "speech_voice"}
            raise ApiError(
                422, exc.code, field=field.get(exc.code, "speech_engine"), message=exc.message
            ) from None
        return self


def get_announcement(db: sqlite_utils.Database, announcement_id: int) -> dict[str, Any] | None:
    rows = list(db.query("SELECT * FROM announcements WHERE id = ?", [announcement_id]))
    return rows[0] if rows else None


def with_people(db: sqlite_utils.Database, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The rows with who wrote each (``author_name``) and who reviewed it (``reviewer_name``),
    by their display names; an announcement written through a shared API token is named by the
    token (``token:…``), as the audit log names it."""
    ids = {r[k] for r in rows for k in ("created_by", "reviewed_by") if r.get(k) is not None}
    people = users.people_by_id(db, ids)

    def name(user_id: int | None, otherwise: str) -> str:
        return people[user_id]["name"] if user_id in people else otherwise

    return [
        r
        | {
            "author_name": name(r.get("created_by"), r.get("author") or ""),
            "reviewer_name": name(r.get("reviewed_by"), ""),
        }
        for r in rows
    ]


def _must_get(db: sqlite_utils.Database, announcement_id: int) -> dict[str, Any]:
    row = get_announcement(db, announcement_id)
    if row is None:
        raise ApiError(404, "announcement_not_found")
    return row


def create_announcement(
    db: sqlite_utils.Database,
    who: Identity,
    title: str,
    text: str,
    *,
    max_text_chars: int,
    category: str = "thong_bao",
    priority: str = "normal",
    status: str = "draft",
    speech: Speech = Speech(),
) -> int:
    title, text = clean_title_and_text(title, text, max_text_chars)
    if category not in CATEGORIES:
        raise ApiError(422, "invalid_request", field="category")
    speech.checked()
    now = to_wire_time(utcnow())
    row = {
        "title": title,
        "text": text,
        "category": category,
        "priority": priority,
        "status": status,
        "source": "text",
        "author": who.key,
        "created_by": who.user_id,
        "created_at": now,
        "updated_at": now,
        "submitted_at": now if status == "pending" else None,
        **speech.columns(),
    }
    with transaction(db):
        announcement_id = insert(db, "announcements", row)
        audit.record(db, who, "announcement.create", "announcement", announcement_id, after=row)
    return announcement_id


def _transition(
    db: sqlite_utils.Database,
    who: Identity,
    announcement_id: int,
    action: str,
    allowed_from: tuple[str, ...],
    changes: dict[str, Any],
) -> dict[str, Any]:
    with transaction(db):
        before = _must_get(db, announcement_id)
        if before["status"] not in allowed_from:
            raise ApiError(409, "bad_status", field="status", state=before["status"])
        changes = {**changes, "updated_at": to_wire_time(utcnow())}
        table(db, "announcements").update(announcement_id, changes)
        after = _must_get(db, announcement_id)
        audit.record(
            db, who, f"announcement.{action}", "announcement", announcement_id, before, after
        )
    return after


def edit(
    db: sqlite_utils.Database,
    who: Identity,
    announcement_id: int,
    *,
    title: str,
    text: str,
    max_text_chars: int,
    category: str | None = None,
    priority: str | None = None,
    speech: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Change a draft or rejected announcement. Spoken audio is cleared (spoken again, with the
    new words or voice, when needed); uploaded or recorded audio is the announcement itself and
    stays.

    ``speech`` changes the stored voice choice: keys ``engine``, ``voice``, ``rate`` (those
    left out keep their stored value). None keeps the choice as it is.
    """
    title, text = clean_title_and_text(title, text, max_text_chars)
    changes: dict[str, Any] = {"title": title, "text": text}
    if category is not None:
        changes["category"] = category
    if priority is not None:
        changes["priority"] = priority
    with transaction(db):
        before = _must_get(db, announcement_id)
        if before["source"] not in RECORDED:
            changes |= {
                "media_sha256": None,
                "normalized_text": None,
                "engine": None,
                "voice": None,
            }
        if speech is not None:
            if before["status"] not in EDITABLE:  # approved is immutable, voice included
                raise ApiError(409, "bad_status", field="status", state=before["status"])
            changes |= replace(Speech.of(before), **speech).checked().columns()
        return _transition(db, who, announcement_id, "edit", EDITABLE, changes)


def submit(db: sqlite_utils.Database, who: Identity, announcement_id: int) -> dict[str, Any]:
    return _transition(
        db,
        who,
        announcement_id,
        "submit",
        EDITABLE,
        {"status": "pending", "submitted_at": to_wire_time(utcnow())},
    )


def _reviewer_is_not_author(db: sqlite_utils.Database, who: Identity, announcement_id: int) -> None:
    if _must_get(db, announcement_id)["author"] == who.key:
        raise ApiError(403, "self_approval")


def approve(db: sqlite_utils.Database, who: Identity, announcement_id: int) -> dict[str, Any]:
    """Approve the pending announcement *and its current audio*: ``approved_sha256`` is what
    nodes will play. No audio yet (spoken text not rendered): ``audio_not_rendered`` (409);
    callers speak it first (``ensure_rendered``) so the approver can listen to it."""
    _reviewer_is_not_author(db, who, announcement_id)
    current = _must_get(db, announcement_id)
    if current["status"] == "pending" and not current["media_sha256"]:
        raise ApiError(409, "audio_not_rendered", field="audio")
    return _transition(
        db,
        who,
        announcement_id,
        "approve",
        ("pending",),
        {
            "approved_sha256": current["media_sha256"],
            "status": "approved",
            "reviewed_by": who.user_id,
            "reviewed_at": to_wire_time(utcnow()),
            "review_comment": None,
        },
    )


def reject(
    db: sqlite_utils.Database, who: Identity, announcement_id: int, comment: str
) -> dict[str, Any]:
    comment = comment.strip()
    if not comment:
        raise ApiError(422, "comment_required", field="comment")
    _reviewer_is_not_author(db, who, announcement_id)
    return _transition(
        db,
        who,
        announcement_id,
        "reject",
        ("pending",),
        {
            "status": "rejected",
            "reviewed_by": who.user_id,
            "reviewed_at": to_wire_time(utcnow()),
            "review_comment": comment[:2000],
        },
    )


def archive(db: sqlite_utils.Database, who: Identity, announcement_id: int) -> dict[str, Any]:
    return _transition(
        db,
        who,
        announcement_id,
        "archive",
        ("draft", "pending", "approved", "rejected"),
        {"status": "archived", "archived_at": to_wire_time(utcnow())},
    )


def list_announcements(
    db: sqlite_utils.Database,
    *,
    status: str | None = None,
    category: str | None = None,
    since: str | None = None,
    until: str | None = None,
    limit: int = 200,
) -> list[dict[str, Any]]:
    where, params = [], []
    for column, value, op in (
        ("status", status, "="),
        ("category", category, "="),
        ("created_at", since, ">="),
        ("created_at", until, "<"),
    ):
        if value:
            where.append(f"{column} {op} ?")
            params.append(value)
    sql = "SELECT * FROM announcements"
    if where:
        sql += " WHERE " + " AND ".join(where)
    return list(db.query(sql + " ORDER BY id DESC LIMIT ?", [*params, limit]))


def lexicon(db: sqlite_utils.Database) -> dict[str, str]:
    """The deployment's pronunciations (từ điển phát âm), applied before speech."""
    return {r["term"]: r["reading"] for r in db.query("SELECT term, reading FROM lexicon")}


def render_speech(store: Store, settings: Settings, text: str, voice: Any = None) -> Any:
    """Speak ``text`` (with the lexicon, through the TTS cache) into the media store.

    ``voice`` is an ``audio.settings.VoiceSettings`` (None: the configured defaults). Returns
    the ``RenderedAudio``; an engine failure is ApiError ``render_failed`` naming the field.
    """
    # lazy: audio.render loads numpy and the speech engines (0.5 s)
    from audio.render import render_text

    try:
        with RENDER_SECONDS.time():
            return render_text(
                text,
                settings.media_dir,
                voice or VoiceSettings(),
                lexicon=lexicon(store.db) or None,
                cache_dir=settings.tts_cache_dir,
            )
    except AudioError as exc:
        field = {
            "bad_settings": "rate",
            "unknown_voice": "voice",
            "unknown_engine": "voice",
            "engine_unavailable": "voice",
        }.get(exc.code, "text")
        raise ApiError(422, "render_failed", field=field, detail=exc.message) from exc


def store_media(db: sqlite_utils.Database, rendered: Any) -> None:
    """Record delivered audio (already written by the audio package) in the media table."""
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


#: Statuses an announcement reaches only through approval (archived may follow either).
APPROVED_ONCE = ("approved",)


def approved_audio(row: Mapping[str, Any]) -> str | None:
    """The sha256 of the audio its approver approved; None while it is not approved.

    Rows approved before approvals were pinned (no ``approved_sha256``) keep the audio they had.
    """
    if row.get("approved_sha256"):
        return str(row["approved_sha256"])
    if row.get("status") in APPROVED_ONCE and row.get("media_sha256"):
        return str(row["media_sha256"])
    return None


def attach_spoken_audio(db: sqlite_utils.Database, announcement_id: int, rendered: Any) -> None:
    """Record rendered speech as the announcement's audio (inside the caller's transaction)."""
    store_media(db, rendered)
    table(db, "announcements").update(
        announcement_id,
        {
            "media_sha256": rendered.sha256,
            "engine": rendered.engine,
            "voice": rendered.voice,
            "normalized_text": rendered.normalized_text,
            "source": "text",
        },
    )


def ensure_rendered(store: Store, settings: Settings, announcement: dict[str, Any]) -> str:
    """Render the announcement's text to delivery audio if it has none yet; return its sha256.

    An approved announcement (or one archived after approval) is never spoken again: its
    approved audio is returned, and if that file is gone it is ``approved_audio_missing`` (409).

    It is spoken with the voice the official chose (:class:`Speech`, stored with it), so a
    rendering after an edit or at scheduling sounds like the one they listened to. Rendering
    happens outside any transaction (it takes a while); the media row and the link from the
    announcement are written together afterwards, and only if the text and voice are still
    those that were spoken: an edit meanwhile is spoken again (``announcement_changed`` if it
    keeps changing), so stale audio never lands on newer words.
    """
    row = announcement
    pinned = approved_audio(row)
    if pinned is not None or row["status"] in APPROVED_ONCE:
        # Approved: the approved audio, never spoken again (the lexicon or voices may have
        # changed since); gone from the media store: refused, an official must look.
        if pinned is None or not (settings.media_dir / f"{pinned}.mp3").is_file():
            raise ApiError(409, "approved_audio_missing", field="announcement_id")
        return pinned
    for _attempt in range(3):
        if row.get("media_sha256"):
            return str(row["media_sha256"])
        rendered = render_speech(store, settings, row["text"], Speech.of(row).voice_settings())
        with store.transaction() as db:
            current = _must_get(db, row["id"])
            if (
                not current["media_sha256"]
                and current["text"] == row["text"]
                and Speech.of(current) == Speech.of(row)
            ):
                store_media(db, rendered)
                table(db, "announcements").update(
                    row["id"],
                    {
                        "media_sha256": rendered.sha256,
                        "engine": rendered.engine,
                        "voice": rendered.voice,
                        "normalized_text": rendered.normalized_text,
                        "updated_at": to_wire_time(utcnow()),
                    },
                )
                attached = True
            else:
                attached = False
        if attached:
            listening.spoken(store, rendered.sha256, rendered.normalized_text)
            return str(rendered.sha256)
        row = current  # edited (or spoken by another request) meanwhile
    raise ApiError(409, "announcement_changed")


def save_with_audio(
    store: Store,
    settings: Settings,
    who: Identity,
    announcement_id: int | None,
    *,
    title: str,
    text: str,
    category: str,
    priority: str,
    speech: Speech,
    for_review: bool,
    rendered: Any | None,
    source: str = "text",
) -> int:
    """Save an announcement with its audio, in one transaction, and return its id: a new one
    (pending when ``for_review``, else a draft) or an edit of ``announcement_id`` (then
    submitted for review if asked). New audio (``rendered``: speech, or an upload or a
    recording when ``source`` says so) goes into the media store and the announcement points
    at it, with the voice that spoke it. Nothing is written if a check fails."""
    db = store.db
    with store.transaction():
        if announcement_id is None:
            announcement_id = create_announcement(
                db,
                who,
                title,
                text,
                max_text_chars=settings.max_text_chars,
                category=category,
                priority=priority,
                status="pending" if for_review else "draft",
                speech=speech,
            )
        else:
            edit(
                db,
                who,
                announcement_id,
                title=title,
                text=text,
                max_text_chars=settings.max_text_chars,
                category=category,
                priority=priority,
                speech=asdict(speech),
            )
            if for_review:
                submit(db, who, announcement_id)
        if rendered is not None and source == "text":
            attach_spoken_audio(db, announcement_id, rendered)
        elif rendered is not None:
            store_media(db, rendered)
            table(db, "announcements").update(
                announcement_id,
                {
                    "media_sha256": rendered.sha256,
                    "engine": "upload",
                    "voice": "",
                    "source": source,
                },
            )
    if rendered is not None and source == "text":
        listening.spoken(store, rendered.sha256, rendered.normalized_text)
    elif rendered is not None:  # uploaded or recorded: no text to compare, transcribed
        listening.transcribe(store, rendered.sha256)
    return announcement_id
