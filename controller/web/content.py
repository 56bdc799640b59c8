"""Pages for what is said and when: announcements (write, listen, upload, record), the approval
queue, the schedule with its rule builder, broadcasts and their play log, the emergency page,
and the public page of a commune. Domain work goes through the same functions as the API."""

from __future__ import annotations

import json
import os
import tempfile
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData, UploadFile

import schedules
from audio.errors import AudioError
from audio.messages import ENGINE_LABELS, VOICE_LABELS, message_for
from audio.normalize import normalize
from controller.api.models import EmergencyIn
from controller.core.errors import ApiError
from controller.core.messages import error_message
from controller.domain import announcements, authz, broadcasts, zones
from controller.domain.identity import Identity
from controller.web.common import (
    CATEGORIES,
    csrf_ok,
    duration_text,
    forbidden,
    local_day_bounds,
    not_found,
    page_user,
    recurrence_rule,
    render,
    rt,
    signed_in,
    translator,
    tz,
)
from loa.protocol import to_wire_time, utcnow

router = APIRouter(include_in_schema=False)

#: How far ahead the schedule's agenda looks.
AGENDA_DAYS = 7
#: The announcement form's fields that show their own error (anything else: above the form).
ANNOUNCEMENT_FIELDS = ("title", "text", "category", "priority", "audio", "voice", "rate")
#: The stored voice choice's fields (announcements.Speech) as the form's fields.
SPEECH_FIELDS = {"speech_engine": "voice", "speech_voice": "voice", "speech_rate": "rate"}
#: Where a form error about a schedule rule is shown, by the schedules package's error code.
RULE_FIELDS = {
    "no_times": "times",
    "bad_time": "times",
    "bad_weekdays": "weekdays",
    "bad_month_days": "month_days",
    "window_empty": "valid_until",
    "bad_frequency": "frequency",
}


def _lexicon(request: Request) -> dict[str, str]:
    return announcements.lexicon(rt(request).store.db)


def _zone_choices(request: Request, who: Identity) -> list[dict[str, Any]]:
    """The zone tree inside the official's area, each with how many nodes it reaches."""
    db = rt(request).store.db
    allowed = authz.area(db, who)
    return [
        {**z, "nodes": len(zones.nodes_under(db, [z["id"]]))}
        for z in zones.zone_tree(db)
        if allowed is None or z["id"] in allowed
    ]


def _zone_ids(form: FormData) -> list[int]:
    return [int(str(z)) for z in form.getlist("zone_ids") if str(z).isdigit()]


# --- announcements ----------------------------------------------------------------------------


@router.get("/new")
def old_new(request: Request) -> Response:
    return RedirectResponse("/announcements/new", status_code=303)


@router.get("/announcements")
def announcement_list(request: Request) -> Response:
    who = page_user(request)
    q = request.query_params
    filters = {
        "status": q.get("status") if q.get("status") in announcements.STATUSES else "",
        "category": q.get("category") if q.get("category") in CATEGORIES else "",
        "day": q.get("day", ""),
    }
    since = until = None
    if filters["day"]:
        bounds = local_day_bounds(filters["day"], tz(request))
        if bounds:
            since, until = bounds
    rows = announcements.list_announcements(
        rt(request).store.db,
        status=filters["status"] or None,
        category=filters["category"] or None,
        since=since,
        until=until,
    )
    return render(request, "announcements.html", who, rows=rows, filters=filters)


def _announcement_form(
    request: Request,
    who: Identity,
    *,
    form: dict[str, Any],
    errors: dict[str, str],
    announcement: dict[str, Any] | None = None,
    status: int = 200,
) -> Response:
    return render(
        request,
        "announcement_form.html",
        who,
        status,
        form=form,
        errors=errors,
        a=announcement,
        max_chars=rt(request).settings.max_text_chars,
        reading=announcements_reading(request, form.get("text", "")),
        voices=voice_choices(request),
    )


def announcements_reading(request: Request, text: str) -> str:
    if not text.strip():
        return ""

    try:
        return normalize(text[:20_000], _lexicon(request))
    except Exception:  # a reading is a help, never a reason to fail the page
        return ""


@router.get("/announcements/new")
def announcement_new(request: Request) -> Response:
    who = page_user(request)
    if not authz.can(who, "announcement.write"):
        return forbidden(request, who)
    form = {
        "title": "",
        "text": "",
        "category": "thong_bao",
        "priority": "normal",
        "voice": "auto|",
        "rate": "",
    }
    return _announcement_form(request, who, form=form, errors={})


@router.get("/announcements/{announcement_id:int}")
def announcement_page(announcement_id: int, request: Request) -> Response:
    who = page_user(request)
    _ = translator(request)
    a = announcements.get_announcement(rt(request).store.db, announcement_id)
    if a is None:
        return not_found(request, who, error_message("announcement_not_found"))
    editable = a["status"] in announcements.EDITABLE and authz.can(who, "announcement.write")
    if editable and request.query_params.get("view") != "1":
        form = {k: a[k] for k in ("title", "text", "category", "priority")}
        if a["speech_engine"]:  # the stored choice
            speech = announcements.Speech.of(a)
            form |= {
                "voice": f"{speech.engine}|{speech.voice or ''}",
                "rate": str(speech.rate or ""),
            }
        else:  # written before the choice was stored: the voice that spoke, if any
            spoken = a["engine"] and a["engine"] != "upload"
            form |= {"voice": f"{a['engine']}|{a['voice'] or ''}" if spoken else "auto|"}
            form["rate"] = ""
        return _announcement_form(request, who, form=form, errors={}, announcement=a)
    return render(
        request, "announcement.html", who, a=a, heading=_("Bản tin"), speech=_speech_facts(_, a)
    )


def _speech_facts(_: Any, a: dict[str, Any]) -> dict[str, str] | None:
    """The announcement page's words for its voice: the choice (engine, voice, rate) and the
    voice that spoke its current audio. None for an uploaded or recorded announcement."""

    if a["source"] in announcements.RECORDED:
        return None
    speech = announcements.Speech.of(a)
    spoken = ""
    if a["media_sha256"] and a["engine"]:
        spoken = f"{ENGINE_LABELS.get(a['engine'], a['engine'])} — "
        spoken += VOICE_LABELS.get(a["voice"] or "", a["voice"] or "")
    return {
        "engine": ENGINE_LABELS.get(speech.engine, speech.engine),
        "voice": VOICE_LABELS.get(speech.voice, speech.voice) if speech.voice else "",
        "rate": _("%(n)s từ/phút", n=speech.rate) if speech.rate else _("mặc định"),
        "spoken": spoken,
    }


async def _save_upload(upload: UploadFile, limit: int) -> Path | None:
    """The uploaded file in a temporary file; None when it is larger than ``limit``."""
    fd, name = tempfile.mkstemp(prefix="loa-upload-")
    size = 0
    with os.fdopen(fd, "wb") as out:
        while chunk := await upload.read(1 << 20):
            size += len(chunk)
            if size > limit:
                break
            out.write(chunk)
    if size > limit:
        os.unlink(name)
        return None
    return Path(name)


async def _render_upload(request: Request, upload: UploadFile) -> Any:
    """Check and deliver an uploaded or recorded file; raise ApiError(field="audio")."""
    # lazy: audio.upload loads numpy and the decoders (0.1 s)
    from audio.upload import MAX_UPLOAD_BYTES, render_upload

    path = await _save_upload(upload, MAX_UPLOAD_BYTES)
    if path is None:
        limit = f"{MAX_UPLOAD_BYTES / 1024 / 1024:g}"
        raise ApiError(
            422, "too_large", field="audio", message=message_for("too_large", limit=limit)
        )
    try:
        # Seconds for a long recording: off the event loop, so other requests are answered.
        return await run_in_threadpool(render_upload, path, rt(request).settings.media_dir)
    except AudioError as exc:
        raise ApiError(422, exc.code, field="audio", message=exc.message) from None
    finally:
        path.unlink(missing_ok=True)


def voice_choices(request: Request) -> list[dict[str, str]]:
    """The voice picker: automatic, then every engine usable here with its default voice and
    each of its voices (``audio.engines.catalog``, with the audio package's own labels)."""
    # lazy: audio.engines loads the engines' libraries (0.1 s)
    from audio.engines import catalog

    _ = translator(request)
    default_voice = _("Giọng mặc định")
    choices = [{"value": "auto|", "label": ""}]
    for engine in catalog():
        if engine["available"]:
            choices.append(
                {
                    "value": f"{engine['engine']}|",
                    "label": f"{engine['label']} — {default_voice}",
                }
            )
            for voice in engine["voices"]:  # type: ignore[attr-defined]
                choices.append(
                    {
                        "value": f"{engine['engine']}|{voice['voice']}",
                        "label": f"{engine['label']} — {voice['label']}",
                    }
                )
    return choices


def _speech_choice(request: Request, choice: str, rate: str) -> announcements.Speech:
    """The form's voice choice (``engine|voice`` and the rate); ApiError names the field."""
    _ = translator(request)
    if choice not in {c["value"] for c in voice_choices(request)}:
        raise ApiError(422, "invalid_request", field="voice", message=_("Hãy chọn giọng đọc."))
    engine, _sep, voice = choice.partition("|")
    if rate and (not rate.isdigit() or not 60 <= int(rate) <= 400):
        raise ApiError(
            422, "invalid_request", field="rate", message=_("Tốc độ đọc từ 60 đến 400 từ/phút.")
        )
    return announcements.Speech(engine, voice or None, int(rate) if rate else None)


def _render_speech(request: Request, text: str, speech: announcements.Speech) -> Any:
    """Speak the text with the chosen voice (cached by content); ApiError names the field."""
    runtime = rt(request)
    return announcements.render_speech(
        runtime.store, runtime.settings, text, speech.voice_settings()
    )


@router.post("/announcements/new")
async def announcement_create(request: Request) -> Response:
    return await _announcement_save(request, None)


@router.post("/announcements/{announcement_id:int}")
async def announcement_update(announcement_id: int, request: Request) -> Response:
    return await _announcement_save(request, announcement_id)


async def _announcement_save(request: Request, announcement_id: int | None) -> Response:
    who = page_user(request)
    runtime = rt(request)
    db = runtime.store.db
    form = await request.form()
    values = {
        "title": str(form.get("title", "")),
        "text": str(form.get("text", "")),
        "category": str(form.get("category", "thong_bao")),
        "priority": str(form.get("priority", "normal")),
        "voice": str(form.get("voice", "auto|")),
        "rate": str(form.get("rate", "")).strip(),
    }
    submit = form.get("action") == "submit"
    existing = announcements.get_announcement(db, announcement_id) if announcement_id else None
    if announcement_id and existing is None:
        return not_found(request, who, error_message("announcement_not_found"))
    errors: dict[str, str] = {}
    upload = form.get("audio")
    rendered = None
    try:
        if not csrf_ok(request, form):
            raise ApiError(403, "csrf")
        authz.require(who, "announcement.write")
        announcements.clean_title_and_text(
            values["title"], values["text"], runtime.settings.max_text_chars
        )
        if values["category"] not in CATEGORIES:
            raise ApiError(422, "invalid_request", field="category")
        if values["priority"] not in ("normal", "urgent"):
            raise ApiError(422, "invalid_request", field="priority")
        speech = _speech_choice(request, values["voice"], values["rate"])
        uploaded = False
        if isinstance(upload, UploadFile) and upload.filename:
            rendered = await _render_upload(request, upload)
            uploaded = True
        elif existing is None or existing["source"] not in announcements.RECORDED:
            # Spoken now, with the chosen voice: what the approver hears is what will play.
            rendered = _render_speech(request, values["text"].strip(), speech)
        source = "text"
        if uploaded:
            source = "recording" if form.get("recorded") == "1" else "upload"
        announcement_id = announcements.save_with_audio(
            runtime.store,
            runtime.settings,
            who,
            announcement_id if existing is not None else None,
            title=values["title"],
            text=values["text"],
            category=values["category"],
            priority=values["priority"],
            speech=speech,
            for_review=submit,
            rendered=rendered,
            source=source,
        )
    except ApiError as exc:
        field = SPEECH_FIELDS.get(exc.field or "", exc.field)
        errors[field if field in ANNOUNCEMENT_FIELDS else "form"] = exc.message
        if exc.code == "csrf":
            errors = {"form": error_message("csrf")}
        return _announcement_form(
            request, who, form=values, errors=errors, announcement=existing, status=422
        )
    return RedirectResponse(f"/announcements/{announcement_id}?view=1&saved=1", status_code=303)


@router.post("/announcements/preview.mp3")
async def announcement_preview(request: Request) -> Response:
    """Listen before saving: the text as the nodes would hear it (cached by content)."""
    page_user(request)
    form = await request.form()
    if not csrf_ok(request, form):
        return Response(error_message("csrf"), status_code=403, media_type="text/plain")
    text = str(form.get("text", ""))
    try:
        announcements.clean_title_and_text("-", text, rt(request).settings.max_text_chars)
    except ApiError as exc:
        return Response(exc.message, status_code=422, media_type="text/plain")
    try:
        speech = _speech_choice(
            request, str(form.get("voice", "auto|")), str(form.get("rate", "")).strip()
        )
        rendered = _render_speech(request, text.strip(), speech)
    except ApiError as exc:
        return Response(exc.message, status_code=422, media_type="text/plain")
    return FileResponse(
        rendered.path, media_type="audio/mpeg", headers={"Cache-Control": "no-store"}
    )


@router.post("/announcements/reading")
async def announcement_reading(request: Request) -> Response:
    """The normalized reading shown beside the text (htmx, as the official types)."""
    who = page_user(request)
    form = await request.form()
    reading = announcements_reading(request, str(form.get("text", "")))
    return render(request, "_reading.html", who, reading=reading)


@router.post("/announcements/{announcement_id:int}/archive")
async def announcement_archive(announcement_id: int, request: Request) -> Response:
    """Lưu trữ: the announcement leaves the lists of work; its broadcasts and play log stay."""
    who = page_user(request)
    _ = translator(request)
    form = await request.form()
    db = rt(request).store.db
    try:
        if not csrf_ok(request, form):
            raise ApiError(403, "csrf")
        authz.require(who, "announcement.archive")
        announcements.archive(db, who, announcement_id)
    except ApiError as exc:
        a = announcements.get_announcement(db, announcement_id)
        if a is None:
            return not_found(request, who, error_message("announcement_not_found"))
        message = error_message("csrf") if exc.code == "csrf" else exc.message
        return render(
            request, "announcement.html", who, 422, a=a, heading=_("Bản tin"), error=message
        )
    return RedirectResponse(f"/announcements/{announcement_id}?view=1", status_code=303)


# --- approvals --------------------------------------------------------------------------------


def _approvals(
    request: Request, who: Identity, errors: dict[int, dict[str, str]], status: int = 200
):
    rows = announcements.list_announcements(rt(request).store.db, status="pending")
    return render(
        request,
        "approvals.html",
        who,
        status,
        rows=rows,
        errors=errors,
        can_review=authz.can(who, "announcement.review"),
    )


@router.get("/approvals")
def approvals_page(request: Request) -> Response:
    who = page_user(request)
    return _approvals(request, who, {})


@router.post("/approvals/{announcement_id}")
async def approvals_submit(announcement_id: int, request: Request) -> Response:
    who = page_user(request)
    runtime = rt(request)
    form = await request.form()
    try:
        if not csrf_ok(request, form):
            raise ApiError(403, "csrf")
        authz.require(who, "announcement.review")
        if form.get("action") == "approve":
            pending = announcements.get_announcement(runtime.store.db, announcement_id)
            if pending and pending["status"] == "pending" and not pending["media_sha256"]:
                # submitted before audio was pinned: spoken now, and that is what is approved
                announcements.ensure_rendered(runtime.store, runtime.settings, pending)
            announcements.approve(runtime.store.db, who, announcement_id)
            runtime.kick()
        else:
            announcements.reject(
                runtime.store.db, who, announcement_id, str(form.get("comment", ""))
            )
    except ApiError as exc:
        field = "comment" if exc.field == "comment" else "form"
        message = error_message("csrf") if exc.code == "csrf" else exc.message
        return _approvals(request, who, {announcement_id: {field: message}}, 422)
    return RedirectResponse("/approvals?done=1", status_code=303)


# --- schedule ---------------------------------------------------------------------------------


def _agenda(request: Request, who: Identity) -> list[tuple[date, list[dict[str, Any]]]]:
    """Upcoming occurrences of active broadcasts in the official's area, by local day."""
    db = rt(request).store.db
    now = utcnow()
    zone = tz(request)
    allowed = authz.area(db, who)
    days: dict[date, list[dict[str, Any]]] = {}
    rows = db.query(
        "SELECT b.*, COALESCE(a.title, b.title) AS shown_title, COALESCE(b.kind, 'file') AS "
        "shown_kind, a.status AS announcement_status FROM broadcasts b "
        "LEFT JOIN announcements a ON a.id = b.announcement_id WHERE b.status = 'active'"
    )
    names = {z["id"]: z["name"] for z in zones.zone_tree(db)}
    for row in rows:
        zone_ids = json.loads(row["zone_ids"])
        if allowed is not None and not set(zone_ids) & allowed:
            continue
        for occ in schedules.occurrences(
            broadcasts.schedule_of(row), now, now + timedelta(days=AGENDA_DAYS)
        )[:50]:
            local = occ.at.astimezone(zone)
            days.setdefault(local.date(), []).append(
                {
                    "at": local,
                    "broadcast_id": row["id"],
                    "title": row["shown_title"],
                    "kind": row["shown_kind"],
                    "priority": row["priority"],
                    # relays and live broadcasts have no announcement to approve
                    "approved": row["shown_kind"] != "file"
                    or row["announcement_status"] == "approved",
                    "zones": ", ".join(names.get(z, str(z)) for z in zone_ids),
                }
            )
    return [(d, sorted(items, key=lambda i: i["at"])) for d, items in sorted(days.items())]


@router.get("/schedule")
def schedule_page(request: Request) -> Response:
    who = page_user(request)
    db = rt(request).store.db
    return render(
        request,
        "schedule.html",
        who,
        agenda=_agenda(request, who),
        rows=broadcasts.recent_broadcasts(db, who),
    )


@router.get("/broadcasts")
def broadcasts_redirect() -> Response:
    return RedirectResponse("/schedule", status_code=303)


def _schedulable(request: Request) -> list[dict[str, Any]]:
    db = rt(request).store.db
    return [
        a
        for status in broadcasts.SCHEDULABLE
        for a in announcements.list_announcements(db, status=status)
    ]


def _schedule_values(form: FormData | None, request: Request) -> dict[str, Any]:
    now_local = utcnow().astimezone(tz(request))
    if form is None:
        return {
            "announcement_id": request.query_params.get("announcement_id", ""),
            "zone_ids": [],
            "kind": "once",
            "play_at": (now_local + timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M"),
            "frequency": "daily",
            "times": "06:00, 17:00",
            "weekdays": [],
            "month_days": "1",
            "valid_from": now_local.date().isoformat(),
            "valid_until": "",
            "repeats": "1",
            "priority": "",
            "accept_conflicts": False,
        }
    return {
        "announcement_id": str(form.get("announcement_id", "")),
        "zone_ids": _zone_ids(form),
        "kind": "recurring" if form.get("kind") == "recurring" else "once",
        "play_at": str(form.get("play_at", "")),
        "frequency": str(form.get("frequency", "daily")),
        "times": str(form.get("times", "")),
        "weekdays": [int(str(d)) for d in form.getlist("weekdays") if str(d).isdigit()],
        "month_days": str(form.get("month_days", "")),
        "valid_from": str(form.get("valid_from", "")),
        "valid_until": str(form.get("valid_until", "")),
        "repeats": str(form.get("repeats", "1")),
        "priority": str(form.get("priority", "")),
        "accept_conflicts": form.get("accept_conflicts") == "1",
    }


def _broadcast_request(request: Request, v: dict[str, Any]) -> broadcasts.BroadcastRequest:
    """The form's values as the API's request; ApiError names the field at fault."""
    _ = translator(request)
    if not v["announcement_id"].isdigit():
        raise ApiError(
            422, "invalid_request", field="announcement_id", message=_("Hãy chọn bản tin.")
        )
    if not v["zone_ids"]:
        raise ApiError(422, "no_zones", field="zone_ids")
    if not v["repeats"].isdigit() or not 1 <= int(v["repeats"]) <= 10:
        raise ApiError(
            422, "invalid_request", field="repeats", message=_("Số lần phát lại từ 1 đến 10.")
        )
    zone = tz(request)
    starts_at = None
    rule = None
    if v["kind"] == "once":
        try:
            starts_at = datetime.fromisoformat(v["play_at"]).replace(tzinfo=zone)
        except ValueError:
            raise ApiError(
                422, "invalid_request", field="play_at", message=_("Hãy chọn ngày giờ phát.")
            ) from None
    else:
        try:
            times = tuple(
                time.fromisoformat(t.strip())
                for t in v["times"].replace(";", ",").split(",")
                if t.strip()
            )
        except ValueError:
            raise ApiError(
                422, "invalid_request", field="times", message=_("Giờ phát viết dạng 06:00, 17:30.")
            ) from None
        rule = recurrence_rule(_, v, times)
    return broadcasts.BroadcastRequest(
        announcement_id=int(v["announcement_id"]),
        zone_ids=v["zone_ids"],
        starts_at=starts_at,
        rule=rule,
        priority=v["priority"] or None,
        repeats=int(v["repeats"]),
        accept_conflicts=v["accept_conflicts"],
    )


def _field_of(exc: ApiError, v: dict[str, Any]) -> str:
    if exc.field in ("starts_at", "rrule"):
        if v["kind"] == "once":
            return "play_at"
        return RULE_FIELDS.get(exc.code, "times")
    return exc.field or "form"


def _schedule_form(
    request: Request,
    who: Identity,
    v: dict[str, Any],
    errors: dict[str, str],
    conflicts: list[dict[str, Any]] | None = None,
    status: int = 200,
) -> Response:
    return render(
        request,
        "schedule_form.html",
        who,
        status,
        form=v,
        errors=errors,
        conflicts=conflicts or [],
        zones=_zone_choices(request, who),
        choices=_schedulable(request),
    )


@router.get("/schedule/new")
def schedule_new(request: Request) -> Response:
    who = page_user(request)
    if not authz.can(who, "broadcast.schedule"):
        return forbidden(request, who)
    return _schedule_form(request, who, _schedule_values(None, request), {})


@router.post("/schedule/check")
async def schedule_check(request: Request) -> Response:
    """What the form would save, shown live: the summary, the nodes, the next occurrences and
    any clash — before anything is saved."""
    who = page_user(request)
    runtime = rt(request)
    v = _schedule_values(await request.form(), request)
    context: dict[str, Any] = {"error": None, "plan": None, "upcoming": []}
    try:
        req = _broadcast_request(request, v)
        a = announcements.get_announcement(runtime.store.db, req.announcement_id)
        plan = broadcasts.plan_broadcast(
            runtime.store,
            runtime.settings,
            who,
            req,
            utcnow(),
            render=bool(a and a.get("media_sha256")),
        )
    except ApiError as exc:
        context["error"] = exc.message
    else:
        context["plan"] = plan
        zone = tz(request)
        context["upcoming"] = [
            o.at.astimezone(zone)
            for o in schedules.occurrences(
                plan.schedule, utcnow(), utcnow() + broadcasts.CONFLICT_WINDOW
            )[:8]
        ]
    return render(request, "_check.html", who, **context)


@router.post("/schedule/new")
async def schedule_save(request: Request) -> Response:
    who = page_user(request)
    runtime = rt(request)
    form = await request.form()
    v = _schedule_values(form, request)
    try:
        if not csrf_ok(request, form):
            raise ApiError(403, "csrf")
        broadcast_id = broadcasts.create_broadcast(
            runtime.store, runtime.settings, who, _broadcast_request(request, v)
        )
    except ApiError as exc:
        if exc.code == "csrf":
            return _schedule_form(request, who, v, {"form": error_message("csrf")}, status=403)
        conflicts = exc.details if exc.code == "schedule_conflict" else None
        return _schedule_form(
            request, who, v, {_field_of(exc, v): exc.message}, conflicts, status=exc.status
        )
    runtime.kick()
    return RedirectResponse(f"/broadcasts/{broadcast_id}?created=1", status_code=303)


# --- one broadcast, its play log --------------------------------------------------------------


def _broadcast_context(request: Request, who: Identity, broadcast_id: int) -> dict | None:
    db = rt(request).store.db
    detail = broadcasts.broadcast_detail(db, broadcast_id, who)
    if detail is None:
        return None
    names = {r["id"]: r["name"] for r in db.query("SELECT id, name FROM nodes")}
    zone_names = {z["id"]: z["name"] for z in zones.zone_tree(db)}
    return {
        "b": detail,
        "node_names": names,
        "zone_names": [zone_names.get(z, str(z)) for z in detail["zone_ids"]],
        "total": len(detail["dispatches"]),
        "relay": _relay_facts(request, detail),
        # acting on it (cancel) needs every target zone inside the area
        "whole_area": _whole_area(db, who, detail["zone_ids"]),
    }


def _whole_area(db: Any, who: Identity, zone_ids: list[int]) -> bool:
    allowed = authz.area(db, who)
    return allowed is None or set(zone_ids) <= allowed


def _relay_facts(request: Request, b: dict[str, Any]) -> dict[str, Any] | None:
    """A relay's source and window for its page: a one-off relay's window, or a recurring
    relay's next one (the one open now counts); None for other kinds."""
    if b["kind"] != "relay":
        return None
    zone = tz(request)
    window = timedelta(seconds=b["window_s"] or 0)
    start: datetime | None = None
    if not b["rrule"]:
        start = datetime.fromisoformat(b["starts_at"])
    elif b["status"] == "active":
        upcoming = schedules.next_occurrence(
            schedules.Schedule(rrule=b["rrule"]), utcnow() - window
        )
        start = upcoming.at if upcoming else None
    end = start + window if start else None
    # seconds only when they count (a window entered to the second)
    precise = any(t is not None and t.second for t in (start, end))
    return {
        "source": b["stream_source_name"] or "",
        "recurring": bool(b["rrule"]),
        "start": start.astimezone(zone) if start else None,
        "end": end.astimezone(zone) if end else None,
        "format": "%H:%M:%S %d/%m/%Y" if precise else "%H:%M %d/%m/%Y",
        "length": duration_text(translator(request), window.total_seconds()),
    }


@router.get("/broadcasts/{broadcast_id:int}")
def broadcast_page(broadcast_id: int, request: Request) -> Response:
    who = page_user(request)
    context = _broadcast_context(request, who, broadcast_id)
    if context is None:
        return not_found(request, who, error_message("broadcast_not_found"))
    created = request.query_params.get("created") == "1"
    return render(request, "broadcast.html", who, created=created, **context)


@router.get("/broadcasts/{broadcast_id}/live")
def broadcast_live(broadcast_id: int, request: Request) -> Response:
    who = page_user(request)
    context = _broadcast_context(request, who, broadcast_id)
    if context is None:
        return Response(status_code=404)
    return render(request, "_dispatches.html", who, **context)


@router.post("/broadcasts/{broadcast_id}/cancel")
async def broadcast_cancel(broadcast_id: int, request: Request) -> Response:
    who = page_user(request)
    runtime = rt(request)
    form = await request.form()
    if csrf_ok(request, form):
        try:
            runtime.cancel_broadcast(who, broadcast_id)
        except ApiError as exc:
            context = _broadcast_context(request, who, broadcast_id)
            if context is None:
                return not_found(request, who, exc.message)
            return render(request, "broadcast.html", who, 422, error=exc.message, **context)
    return RedirectResponse(f"/broadcasts/{broadcast_id}", status_code=303)


# --- emergency --------------------------------------------------------------------------------


def _emergency_form(
    request: Request, who: Identity, v: dict[str, Any], errors: dict[str, str], status: int = 200
) -> Response:
    return render(
        request,
        "emergency.html",
        who,
        status,
        form=v,
        errors=errors,
        zones=_zone_choices(request, who),
    )


@router.get("/emergency")
def emergency_page(request: Request) -> Response:
    who = page_user(request)
    if not authz.can(who, "broadcast.emergency"):
        return forbidden(request, who)
    _ = translator(request)
    v = {"title": _("Thông báo khẩn cấp"), "text": "", "zone_ids": [], "repeats": "2"}
    return _emergency_form(request, who, v, {})


@router.post("/emergency")
async def emergency_send(request: Request) -> Response:
    who = page_user(request)
    _ = translator(request)
    form = await request.form()
    v: dict[str, Any] = {
        "title": str(form.get("title", "")),
        "text": str(form.get("text", "")),
        "zone_ids": _zone_ids(form),
        "repeats": str(form.get("repeats", "2")),
    }
    errors: dict[str, str] = {}
    if not csrf_ok(request, form):
        return _emergency_form(request, who, v, {"form": error_message("csrf")}, 403)
    if form.get("confirm") != "1":
        errors["confirm"] = _("Hãy đánh dấu xác nhận trước khi phát khẩn cấp.")
    if not v["repeats"].isdigit() or not 1 <= int(v["repeats"]) <= 10:
        errors["repeats"] = _("Số lần phát lại từ 1 đến 10.")
    if not v["zone_ids"]:
        errors["zone_ids"] = error_message("no_zones")
    if errors:
        return _emergency_form(request, who, v, errors, 422)
    try:
        body = EmergencyIn(
            title=v["title"], text=v["text"], zone_ids=v["zone_ids"], repeats=int(v["repeats"])
        )
        sent = rt(request).emergency(who, body.title, body.text, body.zone_ids, body.repeats)
    except ApiError as exc:
        return _emergency_form(request, who, v, {exc.field or "form": exc.message}, exc.status)
    return RedirectResponse(f"/emergency/{sent['id']}", status_code=303)


@router.get("/emergency/{broadcast_id:int}")
def emergency_progress(broadcast_id: int, request: Request) -> Response:
    who = page_user(request)
    context = _broadcast_context(request, who, broadcast_id)
    if context is None:
        return not_found(request, who, error_message("broadcast_not_found"))
    return render(request, "emergency_progress.html", who, **context)


@router.get("/emergency/{broadcast_id}/live")
def emergency_live(broadcast_id: int, request: Request) -> Response:
    who = page_user(request)
    context = _broadcast_context(request, who, broadcast_id)
    if context is None:
        return Response(status_code=404)
    return render(request, "_emergency_live.html", who, **context)


# --- the public page: no sign-in ---------------------------------------------------------------

PUBLIC_DAYS = 30


def _public_broadcasts(request: Request, zone_id: int) -> list[dict[str, Any]]:
    """Broadcasts that played in this zone (or beneath it) in the last days, newest first."""
    db = rt(request).store.db
    sub = authz.area(db, Identity("public", "", "viewer", zone_id=zone_id)) or {zone_id}
    ids = sorted(sub)
    since = to_wire_time(utcnow() - timedelta(days=PUBLIC_DAYS))
    marks = ",".join("?" * len(ids))
    return list(
        db.query(
            "SELECT b.id, a.title, a.text, a.media_sha256, MAX(d.started_at) AS played_at "
            "FROM dispatches d JOIN broadcasts b ON b.id = d.broadcast_id "
            "JOIN announcements a ON a.id = b.announcement_id JOIN nodes n ON n.id = d.node_id "
            f"WHERE d.state = 'played' AND d.play_at >= ? AND n.zone_id IN ({marks}) "
            "GROUP BY b.id ORDER BY played_at DESC LIMIT 30",
            [since, *ids],
        )
    )


@router.get("/public")
def public_index(request: Request) -> Response:
    db = rt(request).store.db
    areas = [z for z in zones.zone_tree(db) if z["depth"] <= 1]
    return render(request, "public_index.html", signed_in(request), areas=areas)


@router.get("/public/{zone_id:int}")
def public_page(zone_id: int, request: Request) -> Response:
    db = rt(request).store.db
    zone = next((z for z in zones.zone_tree(db) if z["id"] == zone_id), None)
    if zone is None:
        return not_found(
            request, signed_in(request), error_message("zone_not_found", zone_ids=zone_id)
        )
    rows = _public_broadcasts(request, zone_id)
    return render(request, "public.html", signed_in(request), zone=zone, rows=rows)


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
