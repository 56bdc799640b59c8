"""The web UI for officials and operators: server-rendered Vietnamese pages (Jinja2 + htmx).

This module signs people in and out, switches the language, and shows the dashboard; the other
pages live in ``content`` (announcements, approvals, schedule, emergency, public page),
``fleet`` (nodes, map, remote actions), ``admin`` (reports, users, audit log, lexicon),
``streams`` and ``live``; controller/app.py includes them all. Every word comes from the
gettext catalog (controller/i18n); every domain action goes through the same functions as
the REST API.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from controller.core.messages import error_message
from controller.domain import authz, cap_sources, fleet, reports, sign_in, users
from controller.domain.identity import Identity
from controller.i18n import LOCALES
from controller.services import alerts
from controller.web.cap import OUTCOME_LABELS
from controller.web.common import (
    LOCALE_COOKIE,
    csrf_ok,
    page_user,
    render,
    rt,
    translator,
    tz,
)
from loa.protocol import to_wire_time, utcnow

router = APIRouter(include_in_schema=False)


@router.get("/login")
def login_form(request: Request) -> Response:
    no_admin = not users.any_admin(rt(request).store.db)
    return render(
        request, "login.html", None, no_admin=no_admin, error=None, username="", throttle=None
    )


def _device_secret(request: Request) -> str:
    """The device cookie is signed with the session secret (created at start-up)."""
    return rt(request).settings.secret_path.read_text().strip()


@router.post("/login")
async def login(request: Request) -> Response:
    """Sign in, throttled by ``controller.domain.sign_in`` (growing delays per user name and
    address, a browser that signed in before keeps its own allowance)."""
    form = await request.form()
    username = str(form.get("username", ""))
    secret = _device_secret(request)

    def again(error: str, status: int, throttle: dict[str, int] | None = None) -> Response:
        return render(
            request,
            "login.html",
            None,
            status,
            no_admin=False,
            error=error,
            username=username,
            throttle=throttle,
        )

    if not csrf_ok(request, form):
        return again(error_message("csrf"), 403)
    db = rt(request).store.db
    ip = request.client.host if request.client else ""
    device = sign_in.is_owners_browser(
        sign_in.device_user(secret, request.cookies.get(sign_in.DEVICE_COOKIE)), username
    )
    wait = sign_in.login_wait_s(db, username, ip, utcnow(), device=device)
    if wait:
        _ = translator(request)
        return again(_("Đăng nhập sai quá nhiều lần."), 429, {"wait_s": wait})
    user = users.authenticate(db, username, str(form.get("password", "")))
    sign_in.record_login(db, username, ip, utcnow(), ok=user is not None, device=device)
    if user is None:
        sign_in.record_failed_login(db, username, ip)
        wait = sign_in.login_wait_s(db, username, ip, utcnow(), device=device)
        left = sign_in.tries_left(db, username, ip, utcnow(), device=device)
        throttle = {"wait_s": wait} if wait else {"tries_left": left}
        return again(error_message("login_failed"), 401, throttle)
    request.session.clear()
    request.session["user_id"] = user["id"]
    request.session["sv"] = user["session_version"]
    response = RedirectResponse("/", status_code=303)
    response.set_cookie(
        sign_in.DEVICE_COOKIE,
        sign_in.device_cookie(secret, user["username"]),
        max_age=sign_in.DEVICE_COOKIE_MAX_AGE_S,
        httponly=True,
        samesite="strict",
        secure=rt(request).settings.base_url.startswith("https://"),
    )
    return response


@router.post("/logout")
async def logout(request: Request) -> Response:
    """Sign out: the session ends on the server too (every session of that official), so a
    copy of the cookie stops working."""
    form = await request.form()
    if csrf_ok(request, form):
        user_id = request.session.get("user_id")
        if user_id:
            users.end_sessions(rt(request).store.db, int(user_id))
        request.session.clear()
    return RedirectResponse("/login", status_code=303)


@router.get("/lang/{code}")
def switch_language(code: str, request: Request, next: str = "/") -> Response:
    target = next if next.startswith("/") and not next.startswith("//") else "/"
    response = RedirectResponse(target, status_code=303)
    if code in LOCALES:
        response.set_cookie(
            LOCALE_COOKIE, code, max_age=365 * 86400, samesite="strict", httponly=True
        )
    return response


def _today(request: Request, who: Identity) -> dict[str, Any]:
    """What the dashboard shows: fleet counts, what plays now, today's schedule, alerts."""
    runtime = rt(request)
    db = runtime.store.db
    now = utcnow()
    allowed = authz.area(db, who)
    nodes = [
        n
        for n in fleet.fleet_now(db, now, runtime.settings.missed_heartbeats)
        if allowed is None or n["zone_id"] in allowed
    ]
    zone = tz(request)
    start = datetime.combine(now.astimezone(zone).date(), time(0), zone)
    # Only the official's clusters count: a village official sees their village's broadcasts,
    # played/total on their own clusters, as the tiles above count only their nodes.
    rows = reports.occurrences_between(
        db, to_wire_time(start), to_wire_time(start + timedelta(days=1)), allowed
    )
    visible = alerts.list_alerts(db)
    if allowed is not None:
        zone_of = {n["id"]: n["zone_id"] for n in nodes}
        visible = [a for a in visible if a["node_id"] is None or a["node_id"] in zone_of]
    return {
        "online": sum(n["online"] for n in nodes),
        "offline": sum(not n["online"] for n in nodes),
        "playing": [n for n in nodes if n["online"] and n["playing"]],
        "today": rows,
        "alerts": visible,
        # CAP alerts received (issue 16): which, from where, what each made, who approved
        "cap_alerts": cap_sources.list_alerts(db, 5),
        "cap_outcomes": OUTCOME_LABELS,
    }


@router.get("/")
def dashboard(request: Request) -> Response:
    who = page_user(request)
    return render(request, "dashboard.html", who, **_today(request, who))


@router.get("/partials/dashboard")
def dashboard_live(request: Request) -> Response:
    who = page_user(request)
    return render(request, "_dashboard_live.html", who, **_today(request, who))
