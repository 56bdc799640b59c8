"""What every web page shares: templates, the catalog's ``_``, sign-in and CSRF checks, local
times, and the labels officials read for codes (roles, states, categories); and what several
page areas share: the zones an official may choose, and one broadcast's page (its play log,
shown by the schedule and the emergency pages)."""

from __future__ import annotations

import secrets
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from starlette.datastructures import FormData

import loa
import schedules
from controller.api.deps import official, runtime_of
from controller.core.errors import ApiError
from controller.domain import authz, broadcasts, fleet, zones
from controller.domain.identity import Identity
from controller.i18n import LOCALE_NAMES, LOCALES, gettext_for, pick_locale
from loa.protocol import to_wire_time, utcnow

templates = Jinja2Templates(directory=str(Path(__file__).parent.parent / "templates"))
templates.env.globals["loa_version"] = loa.__version__  # the footer
templates.env.globals["older_than_controller"] = loa.older_than  # the node list
LOCALE_COOKIE = "loa_lang"


def N_(message: str) -> str:
    """Mark a string for the catalog; it is translated where it is shown."""
    return message


DISPATCH_STATES: dict[str, str] = {
    "queued": N_("Chờ gửi"),
    "sent": N_("Đã gửi"),
    "acked": N_("Cụm loa đã nhận"),
    "playing": N_("Đang phát"),
    "played": N_("Đã phát"),
    "interrupted": N_("Bị ngắt"),
    "failed": N_("Lỗi"),
    "missed": N_("Lỡ giờ phát"),
    "cancelled": N_("Đã hủy"),
}
ANNOUNCEMENT_STATUSES: dict[str, str] = {
    "draft": N_("Bản nháp"),
    "pending": N_("Chờ duyệt"),
    "approved": N_("Đã duyệt"),
    "rejected": N_("Bị từ chối"),
    "archived": N_("Đã lưu trữ"),
}
CATEGORIES: dict[str, str] = {
    "thong_bao": N_("Thông báo"),
    "tin_tuc": N_("Tin tức"),
    "phap_luat": N_("Pháp luật"),
    "thien_tai": N_("Phòng chống thiên tai"),
    "y_te": N_("Y tế"),
    "khac": N_("Khác"),
}
PRIORITIES: dict[str, str] = {
    "normal": N_("Thông thường"),
    "urgent": N_("Ưu tiên"),
    "emergency": N_("Khẩn cấp"),
}
ROLES: dict[str, str] = {
    "admin": N_("Quản trị viên"),
    "editor": N_("Biên tập viên"),
    "approver": N_("Người duyệt"),
    "operator": N_("Kỹ thuật viên"),
    "viewer": N_("Người xem"),
    "announcer": N_("Phát thanh viên"),
}
BROADCAST_STATUSES: dict[str, str] = {"active": N_("Đang hiệu lực"), "cancelled": N_("Đã hủy")}
#: What a broadcast carries, for the ones that are not an announcement's audio (``file``).
BROADCAST_KINDS: dict[str, str] = {"relay": N_("Tiếp sóng"), "live": N_("Trực tiếp")}
NODE_REASONS: dict[str, str] = {
    "connected": N_("Đã kết nối"),
    "will": N_("Mất kết nối đột ngột"),
    "shutdown": N_("Tắt có chủ động"),
    "heartbeat": N_("Theo tín hiệu định kỳ"),
    "offline": N_("Báo mất kết nối"),
}
#: ModemManager's modem states, said when the modem is not ``connected`` (others as given).
MODEM_STATES: dict[str, str] = {
    "failed": N_("modem lỗi"),
    "unknown": N_("modem không rõ trạng thái"),
    "initializing": N_("modem đang khởi động"),
    "locked": N_("SIM bị khóa"),
    "disabled": N_("modem đang tắt"),
    "disabling": N_("modem đang tắt"),
    "enabling": N_("modem đang bật"),
    "enabled": N_("chưa vào mạng"),
    "searching": N_("đang tìm mạng"),
    "registered": N_("chưa kết nối dữ liệu"),
    "disconnecting": N_("đang ngắt kết nối"),
    "connecting": N_("đang kết nối"),
}
WEEKDAYS: list[str] = [
    N_("Thứ Hai"),
    N_("Thứ Ba"),
    N_("Thứ Tư"),
    N_("Thứ Năm"),
    N_("Thứ Sáu"),
    N_("Thứ Bảy"),
    N_("Chủ Nhật"),
]
#: Weekdays inside a sentence ("06:00 thứ Hai 07/12").
WEEKDAYS_IN_TEXT: list[str] = [
    N_("thứ Hai"),
    N_("thứ Ba"),
    N_("thứ Tư"),
    N_("thứ Năm"),
    N_("thứ Sáu"),
    N_("thứ Bảy"),
    N_("Chủ nhật"),
]

#: The main menu: (path, label, permission needed or None).
NAV: list[tuple[str, str, str | None]] = [
    ("/", N_("Tổng quan"), None),
    ("/announcements", N_("Bản tin"), None),
    ("/approvals", N_("Duyệt bản tin"), None),
    ("/schedule", N_("Lịch phát"), None),
    ("/relays", N_("Tiếp sóng"), None),
    ("/stream-sources", N_("Nguồn tiếp sóng"), None),
    ("/emergency", N_("Phát khẩn cấp"), "broadcast.emergency"),
    ("/live", N_("Phát trực tiếp"), "broadcast.live"),
    ("/nodes", N_("Cụm loa"), None),
    ("/reports", N_("Báo cáo"), None),
    ("/lexicon", N_("Từ điển phát âm"), None),
    ("/voices", N_("Giọng đọc"), "voices.manage"),
    ("/voicebank", N_("Giọng xã"), "voicebank.record"),
    ("/users", N_("Người dùng"), "user.manage"),
    ("/audit", N_("Nhật ký hệ thống"), "audit.read"),
]


rt = runtime_of


def tz(request: Request) -> ZoneInfo:
    return ZoneInfo(rt(request).settings.timezone)


def locale_of(request: Request) -> str:
    return pick_locale(request.cookies.get(LOCALE_COOKIE))


def translator(request: Request) -> Any:
    return gettext_for(locale_of(request))


def csrf_token(request: Request) -> str:
    token = request.session.get("csrf")
    if not token:
        token = secrets.token_urlsafe(24)
        request.session["csrf"] = token
    return str(token)


def csrf_ok(request: Request, form: Any) -> bool:
    expected = request.session.get("csrf")
    given = str(form.get("csrf", "")) or request.headers.get("x-csrf-token", "")
    return bool(expected) and secrets.compare_digest(given, str(expected))


def signed_in(request: Request) -> Identity | None:
    """Only a browser session counts for pages (bearer tokens are for the API)."""
    if not request.session.get("user_id"):
        return None
    return official(request)


class SignInRequired(Exception):
    """Raised by ``page_user``; the app answers it with ``login_redirect`` (see ``install``)."""


def page_user(request: Request) -> Identity:
    """The signed-in official, or SignInRequired: one line at the top of every private page."""
    who = signed_in(request)
    if who is None:
        raise SignInRequired
    return who


def install(app: Any) -> None:
    """Send a browser that is not signed in to the sign-in page (htmx: by HX-Redirect)."""

    async def _sign_in(request: Request, exc: Exception) -> Response:
        return login_redirect(request)

    app.add_exception_handler(SignInRequired, _sign_in)


def login_redirect(request: Request | None = None) -> Response:
    if request is not None and request.headers.get("hx-request"):
        return Response(status_code=204, headers={"HX-Redirect": "/login"})
    return RedirectResponse("/login", status_code=303)


def local_time(wire: str | None, zone: ZoneInfo, fmt: str = "%H:%M:%S %d/%m/%Y") -> str:
    if not wire:
        return ""
    return datetime.fromisoformat(wire).astimezone(zone).strftime(fmt)


def when_text(_: Any, at: datetime, zone: ZoneInfo, *, seconds: bool = True) -> str:
    """A time in local words: "06:00 thứ Hai 07/12" (seconds when it has them and ``seconds``,
    the year when it is not this year's)."""
    local = at.astimezone(zone)
    if not seconds:
        local = local.replace(second=0, microsecond=0)
    day = (
        local.strftime("%d/%m")
        if local.year == utcnow().astimezone(zone).year
        else (local.strftime("%d/%m/%Y"))
    )
    return str(
        _(
            "%(time)s %(weekday)s %(date)s",
            time=local.strftime("%H:%M:%S" if local.second else "%H:%M"),
            weekday=_(WEEKDAYS_IN_TEXT[local.weekday()]),
            date=day,
        )
    )


def state_text(_: Any, state: broadcasts.BroadcastState, zone: ZoneInfo) -> str:
    """A broadcast's state as an official reads it (``broadcasts.BroadcastState``): "Chưa đến
    giờ phát — lần đầu 06:00 thứ Hai 07/12", "Đang phát", "Đang hiệu lực — lần tới …", "Đã phát
    xong", "Đã hủy lúc … (who)"; an emergency: "Đang phát khẩn cấp", "Đã phát xong", "Đã
    dừng"."""
    code = state.code
    if code == "cancelled":
        word = _("Đã dừng") if state.emergency else _("Đã hủy")
        if state.cancelled_at is None:
            return str(word)
        when = when_text(_, state.cancelled_at, zone, seconds=False)
        if state.cancelled_by:
            return str(
                _(
                    "%(state)s lúc %(when)s, bởi %(who)s",
                    state=word,
                    when=when,
                    who=state.cancelled_by,
                )
            )
        return str(_("%(state)s lúc %(when)s", state=word, when=when))
    if code == "finished":
        return str(
            _("Đã phát xong") if state.played_any else _("Đã qua giờ phát — không cụm loa nào phát")
        )
    if state.emergency:
        return str(_("Đang phát khẩn cấp"))
    if code == "playing":
        return str(_("Đang phát"))
    if code == "due":
        return str(_("Đến giờ phát — đang chờ gửi tới cụm loa"))
    assert state.next_at is not None
    when = when_text(_, state.next_at, zone)
    if code == "active":
        return str(_("Đang hiệu lực — lần tới %(when)s", when=when))
    if state.recurring:
        return str(_("Chưa đến giờ phát — lần đầu %(when)s", when=when))
    return str(_("Chưa đến giờ phát — phát lúc %(when)s", when=when))


def duration_text(_: Any, seconds: float) -> str:
    """A relay window's length in words: "30 phút", "1 giờ 30 phút", "45 giây"."""
    total = round(seconds)
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    parts = []
    if hours:
        parts.append(_("%(n)s giờ", n=hours))
    if minutes:
        parts.append(_("%(n)s phút", n=minutes))
    if secs or not parts:
        parts.append(_("%(n)s giây", n=secs))
    return " ".join(str(p) for p in parts)


def local_day_bounds(day: str, zone: ZoneInfo) -> tuple[str, str] | None:
    """A local date (YYYY-MM-DD) → its UTC [start, end) as wire times; None when malformed."""

    try:
        d = date.fromisoformat(day)
    except ValueError:
        return None
    start = datetime.combine(d, time(0), zone)
    return to_wire_time(start), to_wire_time(start + timedelta(days=1))


def invalid(field: str, message: str) -> ApiError:
    """A form value the page itself refuses, shown next to ``field``."""
    return ApiError(422, "invalid_request", field=field, message=message)


def recurrence_rule(_: Any, v: dict[str, Any], times: tuple[time, ...]) -> schedules.RuleSpec:
    """A schedule form's recurrence (frequency, weekdays, days of the month, validity) as the
    API's rule; ApiError names the field at fault."""
    try:
        valid_from = date.fromisoformat(v["valid_from"])
    except ValueError:
        raise invalid("valid_from", _("Hãy chọn ngày bắt đầu.")) from None
    try:
        valid_until = date.fromisoformat(v["valid_until"]) if v["valid_until"] else None
    except ValueError:
        raise invalid("valid_until", _("Ngày kết thúc không hợp lệ.")) from None
    try:
        month_days = (
            tuple(int(d.strip()) for d in v["month_days"].split(",") if d.strip())
            if v["frequency"] == "monthly"
            else ()
        )
    except ValueError:
        raise invalid(
            "month_days", _("Ngày trong tháng là số từ 1 đến 31, hoặc -1 cho ngày cuối tháng.")
        ) from None
    return schedules.RuleSpec(
        frequency=v["frequency"],
        times=times,
        valid_from=valid_from,
        valid_until=valid_until,
        weekdays=tuple(v["weekdays"]) if v["frequency"] == "weekly" else (),
        month_days=month_days,
    )


def render(
    request: Request,
    name: str,
    who: Identity | None,
    status: int = 200,
    **context: Any,
) -> HTMLResponse:
    zone = tz(request)
    _ = translator(request)
    response = templates.TemplateResponse(
        request,
        name,
        {
            "_": _,
            "who": who,
            "locale": locale_of(request),
            "locales": [(code, LOCALE_NAMES[code]) for code in LOCALES],
            "csrf": csrf_token(request),
            "local": lambda s, fmt="%H:%M:%S %d/%m/%Y": local_time(s, zone, fmt),
            "can": (lambda action: authz.can(who, action)) if who else (lambda action: False),
            "nav": [
                (path, label)
                for path, label, perm in NAV
                if who is not None
                and (perm is None or (perm in authz.PERMISSIONS and authz.can(who, perm)))
            ],
            "path": request.url.path,
            "dispatch_states": DISPATCH_STATES,
            "announcement_statuses": ANNOUNCEMENT_STATUSES,
            "categories": CATEGORIES,
            "priorities": PRIORITIES,
            "roles": ROLES,
            "broadcast_statuses": BROADCAST_STATUSES,
            "broadcast_kinds": BROADCAST_KINDS,
            "node_reasons": NODE_REASONS,
            "weekdays": WEEKDAYS,
            "now_local": utcnow().astimezone(zone),
            "state_text": lambda state: state_text(_, state, zone),
            "when_text": lambda at: when_text(_, at, zone),
            **context,
        },
        status_code=status,
    )
    response.headers.setdefault("Cache-Control", "no-store")
    return response


def forbidden(request: Request, who: Identity) -> HTMLResponse:
    _ = translator(request)
    return render(
        request,
        "message.html",
        who,
        403,
        heading=_("Không có quyền"),
        message=_("Bạn không có quyền thực hiện thao tác này."),
    )


def not_found(request: Request, who: Identity | None, message: str) -> HTMLResponse:
    _ = translator(request)
    return render(request, "message.html", who, 404, heading=_("Không tìm thấy"), message=message)


#: Where a form error about a schedule rule is shown, by the schedules package's error code.
RULE_FIELDS = {
    "no_times": "times",
    "bad_time": "times",
    "bad_weekdays": "weekdays",
    "bad_month_days": "month_days",
    "window_empty": "valid_until",
    "bad_frequency": "frequency",
}


def zone_choices(request: Request, who: Identity) -> list[dict[str, Any]]:
    """The zone tree inside the official's area, each with how many nodes it reaches."""
    db = rt(request).store.db
    allowed = authz.area(db, who)
    return [
        {**z, "nodes": len(zones.nodes_under(db, [z["id"]]))}
        for z in zones.zone_tree(db)
        if allowed is None or z["id"] in allowed
    ]


def zone_ids(form: FormData) -> list[int]:
    return [int(str(z)) for z in form.getlist("zone_ids") if str(z).isdigit()]


def broadcast_context(request: Request, who: Identity, broadcast_id: int) -> dict | None:
    """One broadcast's page (its play log, its relay window, whether it can be acted on), or
    None when it is not found or outside the official's area."""
    db = rt(request).store.db
    detail = broadcasts.broadcast_detail(db, broadcast_id, who)
    if detail is None:
        return None
    names = fleet.node_names(db)
    zone_names = {z["id"]: z["name"] for z in zones.zone_tree(db)}
    return {
        "b": detail,
        "node_names": names,
        "zone_names": [zone_names.get(z, str(z)) for z in detail["zone_ids"]],
        "total": len(detail["dispatches"]),
        "relay": _relay_facts(request, detail),
        # acting on it (cancel) needs every target zone inside the area
        "whole_area": _whole_area(db, who, detail["zone_ids"]),
        "state": broadcasts.broadcast_state(db, broadcast_id),
        # per occurrence, for a recurring broadcast's play log (played / total clusters)
        "progress": broadcasts.occurrence_progress(detail["dispatches"]),
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
