"""Pages for relaying radio (tiếp sóng): the saved stream sources with their health, and the
form that schedules a relay of one to chosen zones, once or on a recurrence.

Every action goes through the same functions as the stream API (``controller.domain.sources`` for
sources, ``controller.domain.broadcasts.create_relay`` for relays), so the checks are the API's.
Health checks reach out to the station (up to several seconds), so they run in the thread pool.
"""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData

import schedules
from controller.core.errors import ApiError
from controller.core.messages import error_message
from controller.domain import authz, broadcasts, relays, zones
from controller.domain import sources as streams
from controller.domain.identity import Identity
from controller.web.common import (
    PRIORITIES,
    RULE_FIELDS,
    clock_error,
    csrf_ok,
    duration_text,
    forbidden,
    form_errors,
    form_invalid,
    locale_of,
    not_found,
    page_user,
    recurrence_rule,
    recurrence_values,
    render,
    rt,
    translator,
    tz,
    zone_choices,
)
from loa.protocol import utcnow

router = APIRouter(include_in_schema=False)

#: Form fields that show their own error on the stream source form.
SOURCE_FIELDS = ("name", "url")
#: Relay form fields that show their own error (anything else: above the form).
RELAY_FIELDS = (
    "stream_source_id",
    "zone_ids",
    "starts_at",
    "ends_at",
    "frequency",
    "time_from",
    "time_until",
    "weekdays",
    "month_days",
    "valid_from",
    "valid_until",
    "priority",
    "title",
)
#: Health-check codes of ``controller.domain.sources`` (a failing check when saving a source).
HEALTH_CODES = ("stream_unreachable", "stream_wrong_type", "stream_stalled")


# --- health, in words ---------------------------------------------------------------------------


def health_reason(_: Any, error: str | None, content_type: str | None = None) -> str:
    """Why a health check failed, in the official's words. ``controller.domain.sources.check_url``
    reports technical English (``HTTP 404``, ``ConnectError: …``); each kind it can report
    has a sentence here, and anything unforeseen is shown after a general one."""
    error = (error or "").strip()
    if error.startswith("HTTP "):
        return str(_("Máy chủ trả lời lỗi %(status)s.", status=error))
    if error.startswith("content type "):
        kind = content_type or error.removeprefix("content type ").split(" ")[0]
        return str(_("Địa chỉ này trả về %(type)s, không phải luồng âm thanh.", type=kind))
    if error == "no audio data":
        return str(_("Kết nối được nhưng luồng không gửi dữ liệu âm thanh."))
    if error == "no data within the timeout":
        return str(_("Luồng không gửi dữ liệu trong thời gian chờ."))
    if error == "ffprobe found no audio":
        return str(_("Không tìm thấy âm thanh trong dữ liệu của luồng."))
    kind, _sep, detail = error.partition(": ")
    lowered = error.lower()
    if "Timeout" in kind:
        return str(_("Hết thời gian chờ kết nối tới máy chủ phát."))
    if "refused" in lowered:
        return str(_("Máy chủ phát từ chối kết nối (không có dịch vụ ở địa chỉ này)."))
    if "name or service not known" in lowered or "name resolution" in lowered:
        return str(_("Không tìm thấy tên máy chủ phát."))
    if kind.endswith("Error"):
        return str(_("Không kết nối được tới máy chủ phát (%(detail)s).", detail=detail or kind))
    return str(_("Kiểm tra không đạt (%(detail)s).", detail=error or "?"))


def _health_view(_: Any, health: dict[str, Any]) -> dict[str, Any]:
    """A source's last check for the page: ok (True/False/None), reason, codec and bitrate."""
    ok = health.get("reachable")
    bitrate = health.get("bitrate")
    return {
        "ok": ok,
        "reason": (
            health_reason(_, health.get("error"), health.get("content_type")) if ok is False else ""
        ),
        "codec": (health.get("codec") or "").upper(),
        "bitrate": f"{round(bitrate / 1000)} kb/s" if bitrate else "",
        "checked_at": health.get("checked_at"),
    }


# --- stream sources ---------------------------------------------------------------------------


def _sources(request: Request) -> list[dict[str, Any]]:
    _ = translator(request)
    return [
        {**s, "check": _health_view(_, s["health"])}
        for s in streams.list_sources(rt(request).store.db)
    ]


def _sources_page(
    request: Request,
    who: Identity,
    *,
    form: dict[str, Any] | None = None,
    errors: dict[str, str] | None = None,
    row_errors: dict[int, str] | None = None,
    status: int = 200,
    unhealthy: bool = False,
) -> Response:
    q = request.query_params
    return render(
        request,
        "stream_sources.html",
        who,
        status,
        rows=_sources(request),
        form=form or {"name": "", "url": "", "accept_unhealthy": False},
        errors=errors or {},
        row_errors=row_errors or {},
        unhealthy=unhealthy,
        saved=int(q["saved"]) if q.get("saved", "").isdigit() else None,
        checked=int(q["checked"]) if q.get("checked", "").isdigit() else None,
        deleted=q.get("deleted") == "1",
    )


@router.get("/stream-sources")
def sources_page(request: Request) -> Response:
    who = page_user(request)
    return _sources_page(request, who)


@router.post("/stream-sources")
async def source_create(request: Request) -> Response:
    """Save a source after checking its URL; a failing check is refused unless the official
    ticks "save anyway" (the station may be off the air right now)."""
    who = page_user(request)
    _ = translator(request)
    runtime = rt(request)
    form = await request.form()
    name, url = str(form.get("name", "")), str(form.get("url", ""))
    accept_unhealthy = form.get("accept_unhealthy") == "1"
    values = {"name": name, "url": url, "accept_unhealthy": accept_unhealthy}
    if not csrf_ok(request, form):
        return _sources_page(
            request, who, form=values, errors={"form": error_message("csrf")}, status=403
        )
    if not authz.can(who, "stream.source.write"):
        return forbidden(request, who)
    try:
        source_id, _health = await run_in_threadpool(
            streams.save_source,
            runtime.store,
            who,
            name,
            url,
            accept_unhealthy=accept_unhealthy,
            allowed_hosts=runtime.settings.stream_allowed_hosts,
        )
    except ApiError as exc:
        unhealthy = exc.code in HEALTH_CODES
        if unhealthy:
            details = exc.details or {}
            reason = health_reason(_, details.get("error"), details.get("content_type"))
            message = str(_("Kiểm tra luồng không đạt: %(reason)s", reason=reason))
        else:
            message = exc.message
        field = exc.field if exc.field in SOURCE_FIELDS else "form"
        return _sources_page(
            request, who, form=values, errors={field: message}, status=422, unhealthy=unhealthy
        )
    return RedirectResponse(f"/stream-sources?saved={source_id}", status_code=303)


@router.post("/stream-sources/{source_id:int}/check")
async def source_check(source_id: int, request: Request) -> Response:
    """Run the health check again now (every role may, as through the API)."""
    who = page_user(request)
    form = await request.form()
    if not csrf_ok(request, form):
        return _sources_page(request, who, errors={"form": error_message("csrf")}, status=403)
    try:
        runtime = rt(request)
        await run_in_threadpool(
            streams.recheck_source, runtime.store, source_id, runtime.settings.stream_allowed_hosts
        )
    except ApiError as exc:
        return _sources_page(request, who, errors={"form": exc.message}, status=exc.status)
    return RedirectResponse(f"/stream-sources?checked={source_id}#source-{source_id}", 303)


@router.post("/stream-sources/{source_id:int}/delete")
async def source_delete(source_id: int, request: Request) -> Response:
    """Remove a source from the list (kept in the database for the play log). Refused while an
    active relay still needs it: cancel those first."""
    who = page_user(request)
    _ = translator(request)
    runtime = rt(request)
    form = await request.form()
    if not csrf_ok(request, form):
        return _sources_page(request, who, errors={"form": error_message("csrf")}, status=403)
    if not authz.can(who, "stream.source.write"):
        return forbidden(request, who)
    try:
        relays.delete_source(runtime.store, who, source_id)
    except ApiError as exc:
        if exc.code == "stream_source_in_use":
            ahead = ", ".join(f"«{r['title']}» (#{r['broadcast_id']})" for r in exc.details)
            message = _(
                "Chưa xóa được: nguồn này còn được dùng cho các lượt tiếp sóng sắp tới "
                "%(relays)s. Hãy hủy các lượt đó trước.",
                relays=ahead,
            )
            return _sources_page(request, who, row_errors={source_id: str(message)}, status=409)
        return _sources_page(request, who, errors={"form": exc.message}, status=exc.status)
    return RedirectResponse("/stream-sources?deleted=1", status_code=303)


# --- relays -----------------------------------------------------------------------------------


@router.post("/relays/{broadcast_id:int}/approve")
async def relay_approve(broadcast_id: int, request: Request) -> Response:
    """Duyệt tiếp sóng: an approver approves an editor's relay (see broadcasts.approve_relay)."""
    who = page_user(request)
    runtime = rt(request)
    form = await request.form()
    if not csrf_ok(request, form):
        return forbidden(request, who)
    try:
        broadcasts.approve_relay(runtime.store, who, broadcast_id)
    except ApiError as exc:
        if exc.status == 404:
            return not_found(request, who, exc.message)
        if exc.status == 403:
            return forbidden(request, who)
        return RedirectResponse(f"/broadcasts/{broadcast_id}", status_code=303)
    runtime.kick()
    return RedirectResponse(f"/broadcasts/{broadcast_id}", status_code=303)


def relay_rows(request: Request, who: Identity) -> list[dict[str, Any]]:
    """Relay broadcasts in the official's area, newest first, with their next window."""
    _ = translator(request)
    db = rt(request).store.db
    zone = tz(request)
    now = utcnow()
    allowed = authz.area(db, who)
    inside = authz.nodes_in_area(db, who)  # counts over the area's own dispatches only
    names = {z["id"]: z["name"] for z in zones.zone_tree(db)}
    rows = broadcasts.recent_relays(db)
    out = []
    for r in rows:
        zone_ids = json.loads(r["zone_ids"])
        if allowed is not None and not set(zone_ids) & allowed:
            continue
        if inside is not None:
            states = [
                d["state"]
                for d in broadcasts.dispatch_states(db, r["id"])
                if d["node_id"] in inside
            ]
            r["total"], r["played"] = len(states), states.count("played")
        schedule = broadcasts.schedule_of(r)
        window = timedelta(seconds=r["duration_s"] or 0)
        upcoming = (
            schedules.next_occurrence(schedule, now - window) if r["status"] == "active" else None
        )
        out.append(
            {
                "id": r["id"],
                "title": r["title"],
                "source_name": r["source_name"] or "",
                "summary": schedules.summarize(schedule, locale=locale_of(request)),
                "length": duration_text(_, window.total_seconds()),
                "next_from": upcoming.at.astimezone(zone) if upcoming else None,
                "next_until": (upcoming.at + window).astimezone(zone) if upcoming else None,
                "zones": ", ".join(names.get(z, str(z)) for z in zone_ids),
                "priority": r["priority"],
                "status": r["status"],
                "state": r["state"],
                "recurring": bool(r["rrule"]),
                "times_played": r["times_played"],
                "pending": r["status"] == "active" and not r["approved_at"],
                "played": r["played"],
                "total": r["total"],
            }
        )
    return out


@router.get("/relays")
def relays_page(request: Request) -> Response:
    who = page_user(request)
    q = request.query_params
    created = int(q["created"]) if q.get("created", "").isdigit() else None
    return render(request, "relays.html", who, rows=relay_rows(request, who), created=created)


def _relay_values(form: FormData | None, request: Request) -> dict[str, Any]:
    now_local = utcnow().astimezone(tz(request))
    shared = recurrence_values(form, now_local.date())
    if form is None:
        start = (now_local + timedelta(minutes=10)).replace(second=0, microsecond=0)
        source = request.query_params.get("source", "")
        return shared | {
            "stream_source_id": source if source.isdigit() else "",
            "starts_at": start.strftime("%Y-%m-%dT%H:%M"),
            "ends_at": (start + timedelta(minutes=30)).strftime("%Y-%m-%dT%H:%M"),
            "time_from": "06:00",
            "time_until": "06:30",
            "priority": "normal",
            "title": "",
            "accept_unhealthy": False,
        }
    return shared | {
        "stream_source_id": str(form.get("stream_source_id", "")),
        "starts_at": str(form.get("starts_at", "")),
        "ends_at": str(form.get("ends_at", "")),
        "time_from": str(form.get("time_from", "")),
        "time_until": str(form.get("time_until", "")),
        "priority": str(form.get("priority", "normal")),
        "title": str(form.get("title", "")),
        "accept_unhealthy": form.get("accept_unhealthy") == "1",
    }


def _relay_request(request: Request, v: dict[str, Any]) -> broadcasts.RelayRequest:
    """The form's values as the API's request; every field at fault is named at once
    (``form_invalid``). The window is entered as a start and an end in Vietnam's time; a
    one-off's end must be after its start, while an end at or before the start of a daily
    window means the next morning (a relay across midnight). Times may be written "6h30"."""
    _ = translator(request)
    errors: dict[str, str] = {}
    if not v["stream_source_id"].isdigit():
        errors["stream_source_id"] = str(_("Hãy chọn nguồn tiếp sóng."))
    if not v["zone_ids"]:
        errors["zone_ids"] = error_message("no_zones")
    zone = tz(request)
    starts_at = ends_at = None
    rule = None
    window_s = 0.0
    if v["kind"] == "once":
        try:
            starts_at = datetime.fromisoformat(v["starts_at"]).replace(tzinfo=zone)
        except ValueError:
            errors["starts_at"] = str(_("Hãy chọn ngày giờ bắt đầu tiếp sóng."))
        try:
            ends_at = datetime.fromisoformat(v["ends_at"]).replace(tzinfo=zone)
        except ValueError:
            errors["ends_at"] = str(_("Hãy chọn ngày giờ kết thúc tiếp sóng."))
        if starts_at and ends_at:
            if ends_at <= starts_at:
                errors["ends_at"] = str(_("Giờ kết thúc phải sau giờ bắt đầu."))
            window_s = (ends_at - starts_at).total_seconds()
    else:
        start = end = None
        try:
            start = schedules.parse_clock(v["time_from"])
        except ValueError as exc:
            errors["time_from"] = clock_error(_, exc, "06:00")
        try:
            end = schedules.parse_clock(v["time_until"])
        except ValueError as exc:
            errors["time_until"] = clock_error(_, exc, "06:30")
        if start is not None and end is not None:
            day = date(2000, 1, 1)
            window = datetime.combine(day, end) - datetime.combine(day, start)
            if window <= timedelta(0):
                window += timedelta(days=1)
            window_s = window.total_seconds()
        rule = recurrence_rule(_, v, (start,) if start else (), errors)
    if v["priority"] not in PRIORITIES:
        errors["priority"] = str(_("Hãy chọn mức ưu tiên."))
    if errors:
        raise form_invalid(errors)
    return broadcasts.RelayRequest(
        stream_source_id=int(v["stream_source_id"]),
        zone_ids=v["zone_ids"],
        window_s=window_s,
        starts_at=starts_at,
        rule=rule,
        priority=v["priority"],
        title=v["title"],
        accept_conflicts=v["accept_conflicts"],
        accept_unhealthy=v["accept_unhealthy"],
    )


def _relay_field(exc: ApiError, v: dict[str, Any]) -> str:
    """Where the relay form shows an error from the API's checks."""
    once = v["kind"] == "once"
    if exc.code == "schedule_conflict":
        return "form"
    if exc.field == "window_s":
        return "ends_at" if once else "time_until"
    if exc.field in ("starts_at", "rrule"):
        if once:
            return "starts_at"
        field = RULE_FIELDS.get(exc.code, "time_from")
        return "time_from" if field == "times" else field
    return exc.field if exc.field in RELAY_FIELDS else "form"


def _relay_form(
    request: Request,
    who: Identity,
    v: dict[str, Any],
    errors: dict[str, str],
    *,
    conflicts: list[dict[str, Any]] | None = None,
    unhealthy: bool = False,
    status: int = 200,
) -> Response:
    return render(
        request,
        "relay_form.html",
        who,
        status,
        form=v,
        errors=errors,
        conflicts=conflicts or [],
        unhealthy=unhealthy,
        sources=_sources(request),
        zones=zone_choices(request, who),
        levels=[p for p in PRIORITIES if p != "emergency" or authz.can(who, "broadcast.emergency")],
    )


@router.get("/relays/new")
def relay_new(request: Request) -> Response:
    who = page_user(request)
    if not authz.can(who, "broadcast.schedule"):
        return forbidden(request, who)
    return _relay_form(request, who, _relay_values(None, request), {})


@router.post("/relays/new")
async def relay_save(request: Request) -> Response:
    who = page_user(request)
    runtime = rt(request)
    form = await request.form()
    v = _relay_values(form, request)
    if not csrf_ok(request, form):
        return _relay_form(request, who, v, {"form": error_message("csrf")}, status=403)
    if not authz.can(who, "broadcast.schedule"):
        return forbidden(request, who)
    try:
        req = _relay_request(request, v)
        # off the event loop: a failing source is checked again over the network
        broadcast_id = await run_in_threadpool(
            broadcasts.create_relay, runtime.store, runtime.settings, who, req
        )
    except ApiError as exc:
        if exc.code == "stream_source_unhealthy":
            _ = translator(request)
            details = exc.details or {}
            source = streams.get_source(runtime.store.db, req.stream_source_id) or {}
            sick = _(
                "Nguồn «%(name)s» đang lỗi: %(reason)s Hãy kiểm tra lại nguồn, hoặc đánh dấu "
                "«Vẫn lên lịch khi nguồn đang lỗi».",
                name=source.get("name", ""),
                reason=health_reason(_, details.get("error"), details.get("content_type")),
            )
            return _relay_form(
                request, who, v, {"stream_source_id": str(sick)}, unhealthy=True, status=422
            )
        conflicts = exc.details if exc.code == "schedule_conflict" else None
        # a clash: the general sentence above the form, each clash (named) in the list below it
        message = error_message(exc.code) if conflicts else exc.message
        field = _relay_field(exc, v)
        return _relay_form(
            request,
            who,
            v,
            {field: message} if conflicts else form_errors(exc, field),
            conflicts=conflicts,
            status=exc.status,
        )
    runtime.kick()
    return RedirectResponse(f"/relays?created={broadcast_id}", status_code=303)
