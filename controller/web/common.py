"""What every web page shares: templates, the catalog's ``_``, sign-in and CSRF checks, local
times, and the labels officials read for codes (roles, states, categories); and what several
page areas share: the zones an official may choose, and one broadcast's page (its play log,
shown by the schedule and the emergency pages)."""

from __future__ import annotations

import os
import secrets
import tempfile
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from starlette.datastructures import FormData, UploadFile

import loa
import schedules
from controller.api.deps import official, runtime_of
from controller.core.errors import ApiError
from controller.core.messages import message_locale, use_locale
from controller.domain import authz, broadcasts, fleet, zones
from controller.domain.identity import Identity
from controller.i18n import LOCALE_NAMES, LOCALES, gettext_for, ngettext_for, pick_locale
from loa.protocol import to_wire_time, utcnow

templates = Jinja2Templates(directory=str(Path(__file__).parent.parent / "templates"))
templates.env.globals["loa_version"] = loa.__version__  # the footer
templates.env.globals["older_than_controller"] = loa.older_than  # the node list


def _ngettext(singular: str, plural: str, n: int, **params: object) -> str:
    """``ngettext`` in every template, macros imported without context too: the locale is the
    one ``render`` (or ``page_user``) set for the request (``messages.use_locale``)."""
    return ngettext_for(message_locale())(singular, plural, n, **params)


templates.env.globals["ngettext"] = _ngettext
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
#: Why a cluster's status changed, in plain words, by the reason stored in ``node_events``
#: (``controller/domain/fleet.py``'s ``REASON_*`` and what node_agent sends; a test reads the code
#: for them, so a new reason cannot be left without words). ``heartbeat`` reads by direction:
#: going offline it is ``NODE_REASONS`` (``%(seconds)s``: heartbeat interval × missed
#: heartbeats), coming back ``NODE_REASONS_BACK``. See :func:`node_reason_text`.
NODE_REASONS: dict[str, str] = {
    "connected": N_("Đã kết nối lại với bộ điều khiển"),
    "will": N_("Mất kết nối đột ngột (mất điện hoặc mất mạng)"),
    "shutdown": N_("Tắt máy hoặc khởi động lại"),
    "heartbeat": N_("Mất kết nối (không nhận được nhịp tim %(seconds)s giây)"),
    "offline": N_("Cụm loa báo ngừng hoạt động"),
    "store_reset": N_("Khởi động lại với dữ liệu lịch mới (dữ liệu cũ bị hỏng)"),
}
NODE_REASONS_BACK: dict[str, str] = {
    "heartbeat": N_("Nhận lại nhịp tim sau khi mất kết nối"),
}


def node_reason_text(_: Any, reason: str | None, online: bool, silence_s: float) -> str:
    """A status change's reason in words; one the code does not know reads as "unknown", never
    as its raw code."""
    words = (NODE_REASONS_BACK.get(reason or "") if online else None) or NODE_REASONS.get(
        reason or ""
    )
    if words is None:
        return str(_("Không rõ lý do"))
    return str(_(words, seconds=f"{silence_s:g}"))


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
    ("/cap", N_("Cảnh báo CAP"), None),
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
    use_locale(locale_of(request))  # the API's error messages on this page, in its language
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


def form_invalid(errors: dict[str, str]) -> ApiError:
    """Every field a form got wrong, at once: a 422 whose ``details["fields"]`` maps each field
    to its message (``form_errors`` reads it back)."""
    field, message = next(iter(errors.items()))
    return ApiError(
        422, "invalid_request", field=field, message=message, details={"fields": dict(errors)}
    )


def form_errors(exc: ApiError, field: str) -> dict[str, str]:
    """The errors to show next to the fields: every one ``form_invalid`` gathered, or
    ``exc``'s message next to ``field``."""
    if isinstance(exc.details, dict) and isinstance(exc.details.get("fields"), dict):
        return dict(exc.details["fields"])
    return {field: exc.message}


def clock_error(_: Any, exc: ValueError, example: str) -> str:
    """Why a typed time was refused: an impossible one said as such, else how to write it."""
    if isinstance(exc, schedules.ClockOutOfRange):
        return str(_("Giờ không hợp lệ (00:00–23:59)."))
    return str(_("Giờ viết dạng %(example)s (hoặc 6h, 6h30).", example=example))


def clock_list(_: Any, text: str, field: str, errors: dict[str, str]) -> tuple[time, ...]:
    """Times of day typed as a list ("6h, 17h30"); a bad one adds its error to ``errors``."""
    found = []
    for part in text.replace(";", ",").split(","):
        if not part.strip():
            continue
        try:
            found.append(schedules.parse_clock(part))
        except ValueError as exc:
            errors.setdefault(field, clock_error(_, exc, "06:00, 17:30"))
    return tuple(found)


def recurrence_rule(
    _: Any, v: dict[str, Any], times: tuple[time, ...], errors: dict[str, str]
) -> schedules.RuleSpec | None:
    """A schedule form's recurrence (frequency, weekdays, days of the month, validity) as the
    API's rule. Each field's error is added to ``errors`` (all of them, not the first): a
    malformed date, a day of the month outside 1–31, an end of the validity window before its
    start. None when any field (here or already in ``errors``) is wrong. The days of the month
    are the typed numbers plus the last day when "Ngày cuối tháng" is ticked (a typed -1 still
    means the last day, as in the API)."""
    valid_from = valid_until = None
    try:
        valid_from = date.fromisoformat(v["valid_from"])
    except ValueError:
        errors["valid_from"] = str(_("Hãy chọn ngày bắt đầu."))
    try:
        valid_until = date.fromisoformat(v["valid_until"]) if v["valid_until"] else None
    except ValueError:
        errors["valid_until"] = str(_("Ngày kết thúc không hợp lệ."))
    if valid_from and valid_until and valid_until < valid_from:
        errors["valid_until"] = str(_("Ngày kết thúc phải từ ngày bắt đầu trở đi."))
    month_days: tuple[int, ...] = ()
    if v["frequency"] == "monthly":
        typed = [d.strip() for d in v["month_days"].split(",") if d.strip()]
        if not all(d.lstrip("-").isdigit() for d in typed):
            errors["month_days"] = str(_("Ngày trong tháng là số từ 1 đến 31."))
        elif any(not (1 <= int(d) <= 31 or int(d) == schedules.LAST_DAY) for d in typed):
            errors["month_days"] = str(_("Ngày trong tháng không hợp lệ: chỉ có ngày 1 đến 31."))
        else:
            month_days = tuple(int(d) for d in typed)
            if v.get("month_last_day") and schedules.LAST_DAY not in month_days:
                month_days += (schedules.LAST_DAY,)
            if not month_days:
                errors["month_days"] = str(_("Hãy chọn ít nhất một ngày trong tháng."))
    if errors or valid_from is None:
        return None
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
    use_locale(locale_of(request))  # ngettext (a global) and any error made while rendering
    response = templates.TemplateResponse(
        request,
        name,
        {
            "_": _,
            "schedule_summary": lambda schedule: schedules.summarize(
                schedule, today=utcnow().astimezone(zone).date(), locale=locale_of(request)
            ),
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
            "node_reason": lambda reason, online, heartbeat_s=None: node_reason_text(
                _, reason, online, (heartbeat_s or 30) * rt(request).settings.missed_heartbeats
            ),
            "weekdays": WEEKDAYS,
            "now_local": utcnow().astimezone(zone),
            "state_text": lambda state: state_text(_, state, zone),
            "when_text": lambda at: when_text(_, at, zone),
            "clash_rows": lambda conflicts: clash_rows(_, zone, conflicts),
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


def clash_rows(_: Any, zone: ZoneInfo, conflicts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each clash once (by broadcast, villages and time), for the forms: the other broadcast
    (linked), its villages ("Toàn xã" not needed: the clusters shared) and when, in local words
    (:func:`when_text`, "06:00 thứ Hai 07/12")."""
    rows: list[dict[str, Any]] = []
    seen = set()
    for c in conflicts:
        at = datetime.fromisoformat(c.get("overlap_start") or c["start"])
        key = (c["broadcast_id"], at)
        if key in seen:
            continue
        seen.add(key)
        rows.append(
            {
                "broadcast_id": c["broadcast_id"],
                "title": c["title"],
                "zones": ", ".join(c.get("zones") or []),
                "when": when_text(_, at, zone, seconds=False),
            }
        )
    return rows


def zones_text(_: Any, tree: list[dict[str, Any]], ids: list[int]) -> str:
    """Where a broadcast plays, in words: "Toàn xã" when the chosen zones (with the zones
    beneath them) cover the whole commune — its root chosen, or every zone under it — else the
    names of the chosen zones that are not beneath another chosen one."""
    chosen = set(ids)
    children: dict[int | None, list[int]] = {}
    for z in tree:
        children.setdefault(z["parent_id"], []).append(z["id"])
    reached = set()
    stack = list(chosen)
    while stack:
        zone_id = stack.pop()
        if zone_id not in reached:
            reached.add(zone_id)
            stack.extend(children.get(zone_id, []))
    below_root = {z["id"] for z in tree if z["parent_id"] is not None}
    roots = set(children.get(None, []))
    if (chosen & roots and len(roots) == 1) or (below_root and below_root <= reached):
        return str(_("Toàn xã"))
    parent = {z["id"]: z["parent_id"] for z in tree}

    def under_chosen(zone_id: int) -> bool:
        up = parent.get(zone_id)
        while up is not None:
            if up in chosen:
                return True
            up = parent.get(up)
        return False

    return ", ".join(z["name"] for z in tree if z["id"] in chosen and not under_chosen(z["id"]))


def zone_ids(form: FormData) -> list[int]:
    return [int(str(z)) for z in form.getlist("zone_ids") if str(z).isdigit()]


def recurrence_values(form: FormData | None, today: date) -> dict[str, Any]:
    """The fields the schedule and relay forms share (villages, once or recurring, the
    recurrence, its validity, accepting a clash): blank for a new form (valid from ``today``),
    else as typed. Each form adds its own fields."""
    if form is None:
        return {
            "zone_ids": [],
            "kind": "once",
            "frequency": "daily",
            "weekdays": [],
            "month_days": "1",
            "month_last_day": False,
            "valid_from": today.isoformat(),
            "valid_until": "",
            "accept_conflicts": False,
        }
    return {
        "zone_ids": zone_ids(form),
        "kind": "recurring" if form.get("kind") == "recurring" else "once",
        "frequency": str(form.get("frequency", "daily")),
        "weekdays": [int(str(d)) for d in form.getlist("weekdays") if str(d).isdigit()],
        "month_days": str(form.get("month_days", "")),
        "month_last_day": form.get("month_last_day") == "1",
        "valid_from": str(form.get("valid_from", "")),
        "valid_until": str(form.get("valid_until", "")),
        "accept_conflicts": form.get("accept_conflicts") == "1",
    }


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
        # the schedule in the page's language (the detail's own summary is Vietnamese)
        "summary": broadcasts.schedule_summary(db, broadcast_id, locale_of(request)),
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


async def save_upload(upload: UploadFile, limit: int) -> Path | None:
    """The uploaded file in a temporary file, read a megabyte at a time; None (and nothing
    left behind) when it is larger than ``limit``. The caller removes the file."""
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
