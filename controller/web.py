"""The web UI for officials: sign in, write an announcement and schedule it, watch it play,
see which speaker clusters are alive. Server-rendered; every word comes from messages.py."""

from __future__ import annotations

import secrets
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from controller import announcements, authz, broadcasts, fleet, users, zones
from controller.auth import Identity, official
from controller.errors import ApiError
from controller.messages import DISPATCH_STATES, UI, error_message
from loa.protocol import utcnow

templates = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))
templates.env.globals.update(ui=UI, dispatch_states=DISPATCH_STATES)

router = APIRouter(include_in_schema=False)


def _csrf(request: Request) -> str:
    token = request.session.get("csrf")
    if not token:
        token = secrets.token_urlsafe(24)
        request.session["csrf"] = token
    return str(token)


def _csrf_ok(request: Request, form: Any) -> bool:
    expected = request.session.get("csrf")
    return bool(expected) and secrets.compare_digest(str(form.get("csrf", "")), str(expected))


def _page(request: Request, name: str, who: Identity | None, **context: Any) -> HTMLResponse:
    tz = ZoneInfo(request.app.state.runtime.settings.timezone)
    return templates.TemplateResponse(
        request,
        name,
        {"who": who, "csrf": _csrf(request), "local": lambda s: _local(s, tz), **context},
    )


def _local(wire: str | None, tz: ZoneInfo) -> str:
    if not wire:
        return ""
    return datetime.fromisoformat(wire).astimezone(tz).strftime("%H:%M:%S %d/%m/%Y")


def _login_redirect() -> RedirectResponse:
    return RedirectResponse("/login", status_code=303)


@router.get("/")
def home(request: Request) -> Response:
    return RedirectResponse("/new" if official(request) else "/login", status_code=303)


@router.get("/login")
def login_form(request: Request) -> HTMLResponse:
    no_admin = not users.any_admin(request.app.state.runtime.store.db)
    return _page(request, "login.html", None, no_admin=no_admin, error=None, username="")


@router.post("/login")
async def login(request: Request) -> Response:
    form = await request.form()
    username = str(form.get("username", ""))
    if not _csrf_ok(request, form):
        return _page(
            request,
            "login.html",
            None,
            no_admin=False,
            error=error_message("csrf"),
            username=username,
        )
    db = request.app.state.runtime.store.db
    ip = request.client.host if request.client else ""
    if users.login_blocked(db, username, ip, utcnow()):
        response = _page(
            request,
            "login.html",
            None,
            no_admin=False,
            username=username,
            error=error_message("too_many_attempts", minutes=users.LOGIN_WINDOW_MIN),
        )
        response.status_code = 429
        return response
    user = users.authenticate(db, username, str(form.get("password", "")))
    users.record_login(db, username, ip, utcnow(), ok=user is not None)
    if user is None:
        response = _page(
            request,
            "login.html",
            None,
            no_admin=False,
            error=error_message("login_failed"),
            username=username,
        )
        response.status_code = 401
        return response
    request.session.clear()
    request.session["user_id"] = user["id"]
    return RedirectResponse("/new", status_code=303)


@router.post("/logout")
async def logout(request: Request) -> Response:
    form = await request.form()
    if _csrf_ok(request, form):
        request.session.clear()
    return _login_redirect()


def _local_now(request: Request) -> str:
    tz = ZoneInfo(request.app.state.runtime.settings.timezone)
    return utcnow().astimezone(tz).strftime("%Y-%m-%dT%H:%M")


@router.get("/new")
def new_form(request: Request) -> Response:
    who = official(request)
    if who is None:
        return _login_redirect()
    db = request.app.state.runtime.store.db
    return _page(
        request,
        "new.html",
        who,
        zones=zones.zone_tree(db),
        form={},
        errors={},
        min_time=_local_now(request),
    )


@router.post("/new")
async def new_submit(request: Request) -> Response:
    who = official(request)
    if who is None:
        return _login_redirect()
    rt = request.app.state.runtime
    form = await request.form()
    values = {
        "title": str(form.get("title", "")),
        "text": str(form.get("text", "")),
        "play_at": str(form.get("play_at", "")),
        "zone_ids": [int(str(z)) for z in form.getlist("zone_ids") if str(z).isdigit()],
    }
    errors: dict[str, str] = {}
    if not _csrf_ok(request, form):
        errors["form"] = error_message("csrf")
    else:
        try:
            broadcast_id = _schedule(rt, who, values)
        except ApiError as exc:
            errors[exc.field or "form"] = exc.message
        else:
            rt.kick()
            return RedirectResponse(f"/broadcasts/{broadcast_id}?created=1", status_code=303)
    response = _page(
        request,
        "new.html",
        who,
        zones=zones.zone_tree(rt.store.db),
        form=values,
        errors=errors,
        min_time=_local_now(request),
    )
    response.status_code = 422
    return response


def _schedule(rt: Any, who: Identity, values: dict[str, Any]) -> int:
    """Check every field before anything is written; then the announcement (submitted for
    approval) and its broadcast, together or not at all. It goes out once approved."""
    db = rt.store.db
    authz.require(who, "announcement.write")
    announcements.clean_title_and_text(values["title"], values["text"], rt.settings.max_text_chars)
    try:
        starts_at = datetime.fromisoformat(values["play_at"]).replace(
            tzinfo=ZoneInfo(rt.settings.timezone)
        )
    except ValueError:
        raise ApiError(422, "in_past", field="play_at") from None
    try:
        broadcasts.check_when(starts_at, utcnow())
    except ApiError as exc:
        raise ApiError(exc.status, exc.code, field="play_at") from None
    if not values["zone_ids"]:
        raise ApiError(422, "no_zones", field="zone_ids")
    authz.require_zones(db, who, values["zone_ids"])
    if not zones.nodes_under(db, values["zone_ids"]):
        raise ApiError(422, "no_nodes", field="zone_ids")
    with rt.store.transaction():
        announcement_id = announcements.create_announcement(
            db,
            who,
            values["title"],
            values["text"],
            max_text_chars=rt.settings.max_text_chars,
            status="pending",
        )
        try:
            return broadcasts.create_broadcast(
                rt.store,
                rt.settings,
                who,
                broadcasts.BroadcastRequest(
                    announcement_id=announcement_id,
                    zone_ids=values["zone_ids"],
                    starts_at=starts_at,
                ),
            )
        except ApiError as exc:
            field = "play_at" if exc.field == "starts_at" else exc.field
            raise ApiError(exc.status, exc.code, field=field, message=exc.message) from None


@router.get("/approvals")
def approvals_page(request: Request) -> Response:
    who = official(request)
    if who is None:
        return _login_redirect()
    db = request.app.state.runtime.store.db
    pending = announcements.list_announcements(db, status="pending")
    return _page(
        request,
        "approvals.html",
        who,
        rows=pending,
        error=None,
        can_review=authz.can(who, "announcement.review"),
    )


@router.post("/approvals/{announcement_id}")
async def approvals_submit(announcement_id: int, request: Request) -> Response:
    who = official(request)
    if who is None:
        return _login_redirect()
    rt = request.app.state.runtime
    form = await request.form()
    error = None
    if not _csrf_ok(request, form):
        error = error_message("csrf")
    else:
        try:
            authz.require(who, "announcement.review")
            if form.get("action") == "approve":
                announcements.approve(rt.store.db, who, announcement_id)
                rt.kick()
            else:
                announcements.reject(
                    rt.store.db, who, announcement_id, str(form.get("comment", ""))
                )
        except ApiError as exc:
            error = exc.message
    if error is None:
        return RedirectResponse("/approvals", status_code=303)
    pending = announcements.list_announcements(rt.store.db, status="pending")
    response = _page(
        request,
        "approvals.html",
        who,
        rows=pending,
        error=error,
        can_review=authz.can(who, "announcement.review"),
    )
    response.status_code = 422
    return response


@router.get("/broadcasts")
def broadcast_list(request: Request) -> Response:
    who = official(request)
    if who is None:
        return _login_redirect()
    db = request.app.state.runtime.store.db
    return _page(request, "broadcasts.html", who, rows=broadcasts.recent_broadcasts(db))


@router.get("/broadcasts/{broadcast_id}")
def broadcast_page(broadcast_id: int, request: Request) -> Response:
    who = official(request)
    if who is None:
        return _login_redirect()
    detail = broadcasts.broadcast_detail(request.app.state.runtime.store.db, broadcast_id)
    if detail is None:
        return HTMLResponse(error_message("broadcast_not_found"), status_code=404)
    return _page(
        request, "broadcast.html", who, b=detail, created=request.query_params.get("created") == "1"
    )


@router.get("/nodes")
def nodes_page(request: Request) -> Response:
    who = official(request)
    if who is None:
        return _login_redirect()
    rt = request.app.state.runtime
    rows = fleet.list_nodes(rt.store.db, utcnow(), rt.settings.missed_heartbeats)
    return _page(request, "nodes.html", who, nodes=rows)
