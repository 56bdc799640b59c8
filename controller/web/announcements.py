"""Pages for what is said: announcements (write, listen, upload, record, archive) and the
approval queue, where an approver listens to the audio and approves or rejects it. Domain work
goes through the same functions as the API."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from audio import listening as audio_listening
from audio.errors import AudioError
from audio.messages import ENGINE_LABELS, message_for
from audio.normalize import normalize
from audio.voices import voice_label
from controller.core.errors import ApiError
from controller.core.messages import error_message
from controller.domain import announcements, authz, listening, voicebank
from controller.domain.identity import Identity
from controller.web.common import (
    CATEGORIES,
    csrf_ok,
    forbidden,
    local_day_bounds,
    not_found,
    page_user,
    render,
    rt,
    save_upload,
    translator,
    tz,
)
from controller.web.streams import relay_rows

router = APIRouter(include_in_schema=False)


#: The announcement form's fields that show their own error (anything else: above the form).
ANNOUNCEMENT_FIELDS = ("title", "text", "category", "priority", "audio", "voice", "rate")
#: The stored voice choice's fields (announcements.Speech) as the form's fields.
SPEECH_FIELDS = {"speech_engine": "voice", "speech_voice": "voice", "speech_rate": "rate"}


def _lexicon(request: Request) -> dict[str, str]:
    return announcements.lexicon(rt(request).store.db)


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
    db = rt(request).store.db
    rows = announcements.list_announcements(
        db,
        status=filters["status"] or None,
        category=filters["category"] or None,
        since=since,
        until=until,
    )
    rows = announcements.with_people(db, rows)
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
        a=announcements.with_people(rt(request).store.db, [announcement])[0]
        if announcement
        else None,
        max_chars=rt(request).settings.max_text_chars,
        reading=announcements_reading(request, form.get("text", "")),
        gaps=voicebank_gaps(request, form.get("text", "")),
        voices=voice_choices(request),
    )


def announcements_reading(request: Request, text: str) -> str:
    if not text.strip():
        return ""

    try:
        return normalize(text[:20_000], _lexicon(request))
    except Exception:  # a reading is a help, never a reason to fail the page
        return ""


def voicebank_gaps(request: Request, text: str) -> voicebank.Gaps | None:
    """Giọng xã's missing syllables for the text ("cần ghi thêm 4 tiếng: …"), when a bank is
    recorded here."""
    try:
        return voicebank.gaps(rt(request).store.db, text[:20_000])
    except Exception:  # like the reading: a help, never a reason to fail the page
        return None


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
        request,
        "announcement.html",
        who,
        a=announcements.with_people(rt(request).store.db, [a])[0],
        heading=_("Bản tin"),
        speech=_speech_facts(_, a),
        listening=_listening_facts(request, a),
    )


def _listening_facts(request: Request, a: dict[str, Any]) -> dict[str, Any] | None:
    """What a machine heard of the announcement's audio, for its page and its approvals card
    (``_listening.html``): whether the recognizer is installed and, for spoken text, the
    listening check (``kind`` check: its state, the share heard as a sentence, each word with
    the misheard ones marked); for uploaded or recorded audio, its transcript (``kind``
    transcript). None before there is audio."""
    if not a["media_sha256"]:
        return None
    db = rt(request).store.db
    facts = {"installed": audio_listening.available(), "announcement_id": a["id"], "heard": ""}
    if a["source"] in announcements.RECORDED:
        return facts | {
            "kind": "transcript",
            "check": listening.transcript_of(db, a["media_sha256"]),
        }
    _ = translator(request)
    check = listening.check_of(db, a["media_sha256"])
    if check and check["state"] == "done":
        share = f"{round(100 * check['heard_share'])}%"
        facts["heard"] = _("Máy nghe đúng %(share)s số từ.", share=share)
    return facts | {"kind": "check", "check": check}


def _speech_facts(_: Any, a: dict[str, Any]) -> dict[str, str] | None:
    """The announcement page's words for its voice: the choice (engine, voice, rate) and the
    voice that spoke its current audio. None for an uploaded or recorded announcement."""

    if a["source"] in announcements.RECORDED:
        return None
    speech = announcements.Speech.of(a)
    spoken = ""
    if a["media_sha256"] and a["engine"]:
        spoken = f"{ENGINE_LABELS.get(a['engine'], a['engine'])} — "
        spoken += voice_label(a["engine"], a["voice"] or "")
    return {
        "engine": ENGINE_LABELS.get(speech.engine, speech.engine),
        "voice": voice_label(speech.engine, speech.voice) if speech.voice else "",
        "rate": _("%(n)s từ/phút", n=speech.rate) if speech.rate else _("mặc định"),
        "spoken": spoken,
    }


async def _render_upload(request: Request, upload: UploadFile) -> Any:
    """Check and deliver an uploaded or recorded file; raise ApiError(field="audio")."""
    # lazy: audio.upload loads numpy and the decoders (0.1 s)
    from audio.upload import MAX_UPLOAD_BYTES, render_upload

    path = await save_upload(upload, MAX_UPLOAD_BYTES)
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
    text = str(form.get("text", ""))
    reading = announcements_reading(request, text)
    gaps = await run_in_threadpool(voicebank_gaps, request, text)
    return render(request, "_reading.html", who, reading=reading, gaps=gaps)


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
    db = rt(request).store.db
    rows = announcements.with_people(db, announcements.list_announcements(db, status="pending"))
    for a in rows:  # the listening check (or transcript), as on the announcement's own page
        a["listening"] = _listening_facts(request, a)
    # An editor's relay waits here too (approved on its broadcast page: /relays/{id}/approve).
    relays = [r for r in relay_rows(request, who) if r["pending"]]
    return render(
        request,
        "approvals.html",
        who,
        status,
        rows=rows,
        relays=relays,
        errors=errors,
        can_review=authz.can(who, "announcement.review"),
        can_review_relays=authz.can(who, "relay.review"),
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
