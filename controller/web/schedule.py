"""Pages for when it is said: the schedule (a week's agenda, recent broadcasts) with its rule
builder and check, and one broadcast with its play log (live), where it can be cancelled. Domain
work goes through the same functions as the API."""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from starlette.datastructures import FormData

import schedules
from controller.core.errors import ApiError
from controller.core.messages import error_message
from controller.domain import announcements, authz, broadcasts, listening, zones
from controller.domain.identity import Identity
from controller.web import cancel
from controller.web.common import (
    RULE_FIELDS,
    broadcast_context,
    clock_list,
    csrf_ok,
    forbidden,
    form_errors,
    form_invalid,
    not_found,
    page_user,
    recurrence_rule,
    recurrence_values,
    render,
    rt,
    translator,
    tz,
    zone_choices,
    zones_text,
)
from loa.protocol import utcnow

router = APIRouter(include_in_schema=False)


#: How far ahead the schedule's agenda looks.
AGENDA_DAYS = 7


def _agenda(request: Request, who: Identity) -> list[tuple[date, list[dict[str, Any]]]]:
    """Upcoming occurrences of active broadcasts in the official's area, by local day."""
    db = rt(request).store.db
    now = utcnow()
    zone = tz(request)
    allowed = authz.area(db, who)
    days: dict[date, list[dict[str, Any]]] = {}
    rows = broadcasts.active_with_titles(db)
    tree = zones.zone_tree(db)
    _ = translator(request)
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
                    "zones": zones_text(_, tree, zone_ids),
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
        rows=broadcasts.recent_with_states(db, who),
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
    shared = recurrence_values(form, now_local.date())
    if form is None:
        return shared | {
            "announcement_id": request.query_params.get("announcement_id", ""),
            "play_at": (now_local + timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M"),
            "times": "06:00, 17:00",
            "repeats": "1",
            "priority": "",
        }
    return shared | {
        "announcement_id": str(form.get("announcement_id", "")),
        "play_at": str(form.get("play_at", "")),
        "times": str(form.get("times", "")),
        "repeats": str(form.get("repeats", "1")),
        "priority": str(form.get("priority", "")),
    }


def _broadcast_request(request: Request, v: dict[str, Any]) -> broadcasts.BroadcastRequest:
    """The form's values as the API's request. Every field at fault is named at once
    (``form_invalid``), not the first only; times may be written "6h, 17h30"."""
    _ = translator(request)
    errors: dict[str, str] = {}
    if not v["announcement_id"].isdigit():
        errors["announcement_id"] = str(_("Hãy chọn bản tin."))
    if not v["zone_ids"]:
        errors["zone_ids"] = error_message("no_zones")
    if not v["repeats"].isdigit() or not 1 <= int(v["repeats"]) <= 10:
        errors["repeats"] = str(_("Số lần phát lại từ 1 đến 10."))
    zone = tz(request)
    starts_at = None
    rule = None
    if v["kind"] == "once":
        try:
            starts_at = datetime.fromisoformat(v["play_at"]).replace(tzinfo=zone)
        except ValueError:
            errors["play_at"] = str(_("Hãy chọn ngày giờ phát."))
    else:
        times = clock_list(_, v["times"], "times", errors)
        rule = recurrence_rule(_, v, times, errors)
    if errors:
        raise form_invalid(errors)
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
    free_starts: list[datetime] | None = None,
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
        free_starts=free_starts or [],
        zones=zone_choices(request, who),
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
    """What the form would save, shown live: the summary, where (*Toàn xã* for the whole
    commune), the nodes, the next occurrences and any clash with the nearest free times —
    before anything is saved. Errors (all of them) are shown only once the official has touched
    the form (``touched=1``, set by loa.js), never on the untouched form."""
    who = page_user(request)
    runtime = rt(request)
    form = await request.form()
    v = _schedule_values(form, request)
    context: dict[str, Any] = {"errors": [], "plan": None, "upcoming": []}
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
        if form.get("touched") == "1":
            context["errors"] = list(form_errors(exc, "form").values())
    else:
        context["plan"] = plan
        context["where"] = zones_text(
            translator(request), zones.zone_tree(runtime.store.db), req.zone_ids
        )
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
    """Saves a checked broadcast. Bad input: every field's error next to it (422), the form as
    typed, nothing saved. A clash (409): the clashes said once, in the check panel, each with
    its broadcast, villages, local time in words, and the nearest free start times."""
    who = page_user(request)
    runtime = rt(request)
    form = await request.form()
    v = _schedule_values(form, request)
    try:
        if not csrf_ok(request, form):
            raise ApiError(403, "csrf")
        req = _broadcast_request(request, v)
        broadcast_id = broadcasts.create_broadcast(runtime.store, runtime.settings, who, req)
    except ApiError as exc:
        if exc.code == "csrf":
            return _schedule_form(request, who, v, {"form": error_message("csrf")}, status=403)
        if exc.code == "schedule_conflict":
            plan = broadcasts.plan_broadcast(
                runtime.store, runtime.settings, who, req, utcnow(), render=False
            )
            return _schedule_form(
                request, who, v, {}, plan.conflicts, plan.free_starts, status=exc.status
            )
        return _schedule_form(
            request, who, v, form_errors(exc, _field_of(exc, v)), status=exc.status
        )
    runtime.kick()
    return RedirectResponse(f"/broadcasts/{broadcast_id}?created=1", status_code=303)


# --- one broadcast, its play log --------------------------------------------------------------


@router.get("/broadcasts/{broadcast_id:int}")
def broadcast_page(broadcast_id: int, request: Request) -> Response:
    who = page_user(request)
    context = broadcast_context(request, who, broadcast_id)
    if context is None:
        return not_found(request, who, error_message("broadcast_not_found"))
    created = request.query_params.get("created") == "1"
    notice = cancel.take_notice(request, broadcast_id)
    # what a machine heard in uploaded, recorded or live audio (None for spoken text)
    transcript = listening.transcript_of(rt(request).store.db, context["b"]["media_sha256"])
    return render(
        request,
        "broadcast.html",
        who,
        created=created,
        notice=notice,
        transcript=transcript,
        **context,
    )


@router.get("/broadcasts/{broadcast_id}/live")
def broadcast_live(broadcast_id: int, request: Request) -> Response:
    who = page_user(request)
    context = broadcast_context(request, who, broadcast_id)
    if context is None:
        return Response(status_code=404)
    return render(request, "_dispatches.html", who, **context)


@router.get("/broadcasts/{broadcast_id:int}/cancel")
def broadcast_cancel_confirm(broadcast_id: int, request: Request) -> Response:
    """*Hủy lượt phát*: what will stop, before anything is cancelled (``web.cancel``)."""
    return cancel.confirm_page(request, page_user(request), broadcast_id)


@router.post("/broadcasts/{broadcast_id}/cancel")
async def broadcast_cancel(broadcast_id: int, request: Request) -> Response:
    """Cancels only the confirmed form (``confirm=1``); otherwise shows the confirmation."""
    return await cancel.cancel(request, page_user(request), broadcast_id)
