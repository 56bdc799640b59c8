"""Pages for looking back and for running the system: reports (play log, delivery rates, CSV),
users and roles, the audit log, and the lexicon the speech engine reads with."""

from __future__ import annotations

import sqlite3
from datetime import date, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError

from controller.api.models import UserChange, UserIn
from controller.core.errors import ApiError
from controller.core.messages import error_message
from controller.domain import (
    admin_area,
    audit,
    authz,
    fleet,
    lexicon,
    officials,
    public,
    report_files,
    reports,
    sign_in,
    users,
    zones,
)
from controller.web import audit_words
from controller.web.common import (
    csrf_ok,
    forbidden,
    local_day_bounds,
    page_user,
    render,
    rt,
    signed_in,
    translator,
    tz,
)
from loa.protocol import utcnow

router = APIRouter(include_in_schema=False)

MAX_TERM = lexicon.MAX_TERM
MAX_READING = lexicon.MAX_READING


# --- reports ----------------------------------------------------------------------------------


#: Rows of the play log on the page, newest first; the CSV link has them all.
SHOWN_ROWS = 100
#: Days the page covers when first opened.
DEFAULT_DAYS = 7


@router.get("/reports")
def reports_page(request: Request) -> Response:
    who = page_user(request)
    db = rt(request).store.db
    q = request.query_params
    zone = tz(request)
    filters = {
        "zone_id": q.get("zone_id", ""),
        "node_id": q.get("node_id", ""),
        "since": q.get("since", ""),
        "until": q.get("until", ""),
        # words in the title, the text or the machine transcript of the audio
        "q": q.get("q", "").strip(),
    }
    if not q:
        # First opened: the last week, shown in the form (a year of play log counted on every
        # visit would make the page slower each day); the official may widen it.
        week_ago = datetime.now(zone).date() - timedelta(days=DEFAULT_DAYS - 1)
        filters["since"] = week_ago.isoformat()
    since = until = None
    if filters["since"]:
        bounds = local_day_bounds(filters["since"], zone)
        since = bounds[0] if bounds else None
    if filters["until"]:
        bounds = local_day_bounds(filters["until"], zone)
        until = bounds[1] if bounds else None
    query = {
        "zone_id": int(filters["zone_id"]) if filters["zone_id"].isdigit() else None,
        "node_id": filters["node_id"] or None,
        "since": since,
        "until": until,
    }
    rows = reports.play_log(
        db,
        who,
        **query,  # type: ignore[arg-type]
        text=filters["q"] or None,
        limit=SHOWN_ROWS,
    )
    summary = reports.delivery_summary(
        db,
        who,
        zone_id=int(filters["zone_id"]) if filters["zone_id"].isdigit() else None,
        node_id=filters["node_id"] or None,
        since=since,
        until=until,
        text=filters["q"] or None,
        zone=tz(request),
    )
    chosen = {k: v for k, v in query.items() if v is not None}
    # the files for people: Vietnamese words, local times, every row the filters select
    whole = {"limit": 100_000, "labels": "vi"}
    csv_query = urlencode(chosen | whole | {"format": "csv"})
    xlsx_query = urlencode(chosen | whole | {"format": "xlsx"})
    allowed = authz.area(db, who)
    return render(
        request,
        "reports.html",
        who,
        rows=rows,
        shown=len(rows),
        # every dispatch the filters select, counted by the summary's days
        count=sum(day["total"] for day in summary["days"]),
        per_broadcast=summary["broadcasts"][:50],
        per_day=summary["days"][-31:],
        filters=filters,
        csv_url="/api/v1/reports/plays?" + csv_query,
        xlsx_url="/api/v1/reports/plays?" + xlsx_query,
        month=f"{datetime.now(zone):%Y-%m}",
        zones=[z for z in zones.zone_tree(db) if allowed is None or z["id"] in allowed],
        nodes=fleet.nodes_in_service(db),
    )


@router.get("/reports/monthly")
def monthly_report_page(request: Request) -> Response:
    """The monthly summary as the page a commune prints and sends up (national motto, title,
    period, the tables per village and per category, place and date, signature block). The
    month (``month=2026-11``) defaults to this local month; a bad one is said on the page (422)."""
    who = page_user(request)
    db = rt(request).store.db
    zone = tz(request)
    today = datetime.now(zone).date()
    month = request.query_params.get("month") or f"{today:%Y-%m}"
    zone_id = request.query_params.get("zone_id", "")
    chosen = int(zone_id) if zone_id.isdigit() else None
    allowed = authz.area(db, who)
    context: dict[str, Any] = {
        "month": month,
        "zone_id": zone_id,
        "today": today,
        "commune": public.commune_name(db),
        "zones": [z for z in zones.zone_tree(db) if allowed is None or z["id"] in allowed],
        "categories_words": report_files.CATEGORIES,
    }
    try:
        summary = reports.monthly_summary(db, who, month, zone, zone_id=chosen)
    except ApiError as e:
        return render(
            request,
            "reports_monthly.html",
            who,
            status=e.status,
            error=e.message,
            summary=None,
            **context,
        )
    query = {"month": month, "format": "xlsx"} | ({"zone_id": chosen} if chosen else {})
    return render(
        request,
        "reports_monthly.html",
        who,
        summary=summary,
        first_day=date.fromisoformat(summary["first_day"]),
        last_day=date.fromisoformat(summary["last_day"]),
        xlsx_url="/api/v1/reports/monthly?" + urlencode(query),
        **context,
    )


# --- users and roles --------------------------------------------------------------------------


def _users_page(
    request: Request, form: dict[str, Any], errors: dict[str, str], status: int = 200
) -> Response:
    who = signed_in(request)
    db = rt(request).store.db
    return render(
        request,
        "users.html",
        who,
        status,
        rows=[u for u in users.list_users(db) if who and admin_area.user_visible(db, who, u)],
        delayed=sign_in.throttled_usernames(db, utcnow()),
        zones=[z for z in zones.zone_tree(db) if who and admin_area.zone_allowed(db, who, z["id"])],
        zone_names={z["id"]: z["path"] for z in zones.zone_tree(db)},
        form=form,
        errors=errors,
    )


@router.get("/users")
def users_page(request: Request) -> Response:
    who = page_user(request)
    if not authz.can(who, "user.manage"):
        return forbidden(request, who)
    form = {"username": "", "display_name": "", "role": "viewer", "zone_id": ""}
    return _users_page(request, form, {})


@router.post("/users")
async def users_create(request: Request) -> Response:
    """A new official, through the same checks as ``POST /api/v1/users``."""
    who = page_user(request)
    if not authz.can(who, "user.manage"):
        return forbidden(request, who)
    _ = translator(request)
    form = await request.form()
    values = {
        "username": str(form.get("username", "")).strip(),
        "display_name": str(form.get("display_name", "")).strip(),
        "role": str(form.get("role", "")),
        "zone_id": str(form.get("zone_id", "")),
    }
    if not csrf_ok(request, form):
        return _users_page(request, values, {"form": error_message("csrf")}, 403)
    try:
        body = UserIn(
            username=values["username"],
            password=str(form.get("password", "")),
            role=values["role"],
            display_name=values["display_name"],
            zone_id=int(values["zone_id"]) if values["zone_id"].isdigit() else None,
        )
    except ValidationError:
        message = _("Tên đăng nhập từ 2 đến 64 ký tự: chữ không dấu, số, dấu chấm, gạch ngang.")
        return _users_page(request, values, {"username": message}, 422)
    try:
        officials.create_official(rt(request).store.db, who, body, _ip(request))
    except ApiError as exc:
        return _users_page(request, values, {exc.field or "form": exc.message}, exc.status)
    return RedirectResponse("/users?created=1", status_code=303)


@router.post("/users/{user_id:int}")
async def users_change(user_id: int, request: Request) -> Response:
    """Change a role or disable an account (through the API's function, audited)."""
    who = page_user(request)
    if not authz.can(who, "user.manage"):
        return forbidden(request, who)
    form = await request.form()
    if not csrf_ok(request, form):
        return _users_page(request, {}, {"form": error_message("csrf")}, 403)
    change: dict[str, Any] = {}
    if form.get("role"):
        change["role"] = str(form.get("role"))
    if form.get("disabled") in ("0", "1"):
        change["disabled"] = form.get("disabled") == "1"
    try:
        officials.change_official(
            rt(request).store.db, who, user_id, UserChange(**change), _ip(request)
        )
    except ApiError as exc:
        return _users_page(request, {}, {"form": exc.message}, exc.status)
    return RedirectResponse("/users", status_code=303)


@router.post("/users/{user_id:int}/sign-in-delay")
async def users_clear_sign_in_delay(user_id: int, request: Request) -> Response:
    """Forget an account's failed sign-ins, so its delays end (inside the admin's area,
    audited)."""
    who = page_user(request)
    if not authz.can(who, "user.manage"):
        return forbidden(request, who)
    form = await request.form()
    if not csrf_ok(request, form):
        return _users_page(request, {}, {"form": error_message("csrf")}, 403)
    try:
        sign_in.clear_throttle(rt(request).store.db, who, user_id, _ip(request))
    except ApiError as exc:
        return _users_page(request, {}, {"form": exc.message}, exc.status)
    return RedirectResponse("/users", status_code=303)


# --- audit log --------------------------------------------------------------------------------


@router.get("/audit")
def audit_page(request: Request) -> Response:
    who = page_user(request)
    if not authz.can(who, "audit.read"):
        return forbidden(request, who)
    entity = request.query_params.get("entity", "")
    db = rt(request).store.db
    _ = translator(request)
    rows = audit.entries(
        db, entity=entity or None, limit=200, actor_ids=admin_area.audit_actor_ids(db, who)
    )
    rows = [r | {"words": audit_words.sentence(_, r)} for r in audit.with_actors(db, rows)]
    entities = [
        (e, _(audit_words.ENTITIES[e]) if e in audit_words.ENTITIES else e)
        for e in audit.entities(db)
    ]
    csv_url = "/api/v1/audit?" + urlencode(
        {"format": "csv", **({"entity": entity} if entity else {})}
    )
    return render(
        request, "audit.html", who, rows=rows, entity=entity, entities=entities, csv_url=csv_url
    )


# --- lexicon ----------------------------------------------------------------------------------


def _lexicon_page(
    request: Request, form: dict[str, str], errors: dict[str, str], status: int = 200
) -> Response:
    who = signed_in(request)
    rows = lexicon.entries(rt(request).store.db)
    return render(request, "lexicon.html", who, status, rows=rows, form=form, errors=errors)


@router.get("/lexicon")
def lexicon_page(request: Request) -> Response:
    page_user(request)
    return _lexicon_page(request, {"term": "", "reading": ""}, {})


@router.post("/lexicon")
async def lexicon_save(request: Request) -> Response:
    """Add a term, or change its reading (the same term, any case, is one entry)."""
    who = page_user(request)
    _ = translator(request)
    form = await request.form()
    values = {
        "term": " ".join(str(form.get("term", "")).split()),
        "reading": " ".join(str(form.get("reading", "")).split()),
    }
    errors: dict[str, str] = {}
    if not csrf_ok(request, form):
        errors["form"] = error_message("csrf")
    elif not authz.can(who, "lexicon.write"):
        errors["form"] = error_message("forbidden")
    if not values["term"] or len(values["term"]) > MAX_TERM:
        errors["term"] = _("Hãy nhập từ hoặc chữ viết tắt (tối đa %(n)s ký tự).", n=MAX_TERM)
    if not values["reading"] or len(values["reading"]) > MAX_READING:
        errors["reading"] = _("Hãy nhập cách đọc (tối đa %(n)s ký tự).", n=MAX_READING)
    if errors:
        forbidden = errors.get("form") == error_message("forbidden")
        return _lexicon_page(request, values, errors, 403 if forbidden else 422)
    try:
        lexicon.save_entry(rt(request).store, who, values["term"], values["reading"])
    except sqlite3.IntegrityError:
        return _lexicon_page(request, values, {"term": _("Từ này đã có.")}, 409)
    return RedirectResponse("/lexicon?saved=1", status_code=303)


@router.post("/lexicon/{entry_id:int}/delete")
async def lexicon_delete(entry_id: int, request: Request) -> Response:
    who = page_user(request)
    form = await request.form()
    if not csrf_ok(request, form) or not authz.can(who, "lexicon.write"):
        return forbidden(request, who)
    lexicon.delete_entry(rt(request).store, who, entry_id)
    return RedirectResponse("/lexicon", status_code=303)


def _ip(request: Request) -> str | None:
    return request.client.host if request.client else None
