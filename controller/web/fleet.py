"""Pages for operators: the speaker clusters (status, last seen, link, volume, temperature,
version — flagged when older than the controller's —, clock), one cluster in detail (history,
recent plays, remote actions), the map, and for administrators *Thêm cụm loa* (a join code and
the one line to type on the Pi, and each code's status: waiting → joined → online)."""

from __future__ import annotations

import math
import os
import re
from datetime import timedelta
from typing import Any, NamedTuple

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from audio.settings import VoiceSettings
from controller.core.errors import ApiError
from controller.core.messages import error_message
from controller.domain import admin_area, announcements, audit, authz, fleet, join, reports, zones
from controller.domain.identity import Identity
from controller.domain.provisioning import ProvisioningConfig, ProvisioningError
from controller.web.common import (
    MODEM_STATES,
    N_,
    csrf_ok,
    not_found,
    page_user,
    render,
    rt,
    translator,
)
from loa.protocol import (
    FileContent,
    NodeConfig,
    PlayNow,
    PlayStop,
    ScheduleItem,
    utcnow,
)

router = APIRouter(include_in_schema=False)

#: Test tones travel as ``play.now`` of this reserved broadcast number; no dispatch row has it,
#: so their reports change nothing in the play log.
TEST_TONE_BROADCAST = 2**31 - 1
#: What a test tone says: spoken by the Vietnamese voice whatever the page's language.
TEST_TONE_TEXT = "Phát thử. Một, hai, ba."
#: Map tiles; an operator without internet points this at a local tile server.
DEFAULT_TILE_URL = "https://tile.openstreetmap.org/{z}/{x}/{y}.png"


#: Below these a link is flagged weak ("yếu"): ModemManager's signal quality, an LTE RSRP,
#: a Wi-Fi signal level.
WEAK_QUALITY_PCT = 20
WEAK_RSRP_DBM = -110.0
WEAK_WIFI_DBM = -80.0

#: ModemManager's access technologies as an operator names them, best generation first.
_TECH_GENERATIONS: list[tuple[str, frozenset[str]]] = [
    ("5G", frozenset({"5gnr"})),
    ("4G LTE", frozenset({"lte"})),
    ("LTE-M", frozenset({"lte-cat-m"})),
    ("NB-IoT", frozenset({"lte-nb-iot"})),
    ("3G", frozenset({"umts", "hsdpa", "hsupa", "hspa", "hspa-plus"})),
    ("3G CDMA", frozenset({"1xrtt", "evdo0", "evdoa", "evdob"})),
    ("2G", frozenset({"gsm", "gsm-compact", "gprs", "edge"})),
]


class LinkText(NamedTuple):
    """A node's link as the pages show it."""

    #: "4G LTE · 75 % · Viettel", "Wi-Fi −56 dBm", or "—" when the node reports neither.
    text: str
    #: "yếu" (translated) when the signal is weak, else "".
    weak: str


def _figure(value: float, unit: str) -> str:
    """-95.4 → "−95 dBm" (a real minus sign)."""
    return f"{round(value):d} {unit}".replace("-", "\u2212")


def _access_tech(value: str) -> str:
    """``lte`` → 4G LTE, ``umts``/``hsdpa``… → 3G, ``gsm``/``edge``… → 2G; of several (``gsm,umts``)
    the best; a value this list does not know is shown as given."""
    techs = {t.strip().lower() for t in value.split(",")}
    for label, members in _TECH_GENERATIONS:
        if techs & members:
            return label
    return value


def link_text(_: Any, telemetry: dict[str, Any] | None, detail: bool = False) -> LinkText:
    """A node's link from its last telemetry: the 3G/4G modem when it has one (technology,
    signal quality, operator, the modem's state unless connected; with ``detail`` also RSRP —
    else RSSI — and SNR, and the Wi-Fi level if there is one too), else Wi-Fi, else "—"."""
    t = telemetry or {}
    cell = t.get("cellular") or {}
    wifi = t.get("signal_dbm")
    if any(v is not None for v in cell.values()):
        tech = cell.get("access_tech")
        parts = [_access_tech(tech) if tech else _("Di động")]
        quality = cell.get("quality_pct")
        if quality is not None:
            parts.append(f"{quality} %")
        if cell.get("operator"):
            parts.append(str(cell["operator"]))
        state = cell.get("state")
        if state and state != "connected":
            parts.append(_(MODEM_STATES[state]) if state in MODEM_STATES else str(state))
        rsrp = cell.get("rsrp_dbm")
        if detail:
            if rsrp is not None:
                parts.append("RSRP " + _figure(rsrp, "dBm"))
            elif cell.get("rssi_dbm") is not None:
                parts.append("RSSI " + _figure(cell["rssi_dbm"], "dBm"))
            if cell.get("snr_db") is not None:
                parts.append("SNR " + _figure(cell["snr_db"], "dB"))
            if wifi is not None:
                parts.append("Wi-Fi " + _figure(wifi, "dBm"))
        weak = (quality is not None and quality < WEAK_QUALITY_PCT) or (
            rsrp is not None and rsrp < WEAK_RSRP_DBM
        )
        return LinkText(" · ".join(parts), _("yếu") if weak else "")
    if wifi is not None:
        return LinkText("Wi-Fi " + _figure(wifi, "dBm"), _("yếu") if wifi < WEAK_WIFI_DBM else "")
    return LinkText("—", "")


def _visible_nodes(request: Request, who: Identity) -> list[dict[str, Any]]:
    runtime = rt(request)
    db = runtime.store.db
    allowed = authz.area(db, who)
    return [
        n
        for n in fleet.list_nodes(db, utcnow(), runtime.settings.missed_heartbeats)
        if allowed is None or n["zone_id"] in allowed
    ]


@router.get("/nodes")
def nodes_page(request: Request) -> Response:
    who = page_user(request)
    db = rt(request).store.db
    has_map = fleet.any_node_located(db)
    nodes = _visible_nodes(request, who)
    return render(
        request, "nodes.html", who, nodes=nodes, links=_links(request, nodes), has_map=has_map
    )


@router.get("/nodes/live")
def nodes_live(request: Request) -> Response:
    who = page_user(request)
    nodes = _visible_nodes(request, who)
    return render(request, "_nodes_rows.html", who, nodes=nodes, links=_links(request, nodes))


def _links(request: Request, nodes: list[dict[str, Any]]) -> dict[str, LinkText]:
    _ = translator(request)
    return {n["id"]: link_text(_, n["telemetry"]) for n in nodes}


def _tile_url(request: Request) -> str:
    return str(
        rt(request).settings.extra.get("tile_url")
        or os.environ.get("LOA_TILE_URL", DEFAULT_TILE_URL)
    )


def _map_page(
    request: Request,
    who: Identity,
    status: int = 200,
    error: str | None = None,
    form: dict[str, str] | None = None,
    saved: bool = False,
) -> Response:
    """The map and, always, the offline view beneath it: every zone of the official's area as
    a tree, each cluster under its village with its state and last seen, and "chưa có vị trí"
    (with a link to set it) for a cluster without coordinates. The list needs neither
    JavaScript nor the Internet; loa.js shows the map only once a tile has loaded."""
    db = rt(request).store.db
    coords = fleet.node_positions(db)
    nodes = _visible_nodes(request, who)
    points = [
        {"id": n["id"], "name": n["name"], "online": n["online"], "lat": lat, "lon": lon}
        for n in nodes
        if n["id"] in coords
        for lat, lon in [coords[n["id"]]]
    ]
    allowed = authz.area(db, who)
    tree = [z for z in zones.zone_tree(db) if allowed is None or z["id"] in allowed]
    by_zone: dict[int, list[dict[str, Any]]] = {}
    for n in nodes:
        by_zone.setdefault(n["zone_id"], []).append(n)
    shown = {z["id"] for z in tree}
    children: dict[int | None, list[dict[str, Any]]] = {}
    for z in tree:  # depth-first already: each zone's children stay in order
        children.setdefault(z["parent_id"] if z["parent_id"] in shown else None, []).append(z)
    return render(
        request,
        "nodes_map.html",
        who,
        status,
        points=points,
        tile_url=_tile_url(request),
        children=children,
        by_zone=by_zone,
        coords=coords,
        nodes=nodes,
        error=error,
        form=form or {},
        saved=saved,
    )


@router.get("/nodes/map")
def nodes_map(request: Request) -> Response:
    who = page_user(request)
    return _map_page(request, who, saved=request.query_params.get("saved") == "position")


_PAIR_SEPARATOR = re.compile(r"\s*;\s*|,\s+|\s+")


def _number(text: str) -> float | None:
    """ "21.0285" or, with a decimal comma, "21,0285"; None when it is not a finite number."""
    text = text.strip().replace("\u2212", "-")
    if "." not in text:
        text = text.replace(",", ".")
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def parse_position(_: Any, lat_text: str, lon_text: str) -> tuple[float, float]:
    """A position typed in two fields, or pasted into the first as "21.0285, 105.8542" (a map's
    copy: comma and space, a semicolon, or spaces between; "21.0285,105.8542" too). Latitude
    −90…90, longitude −180…180; anything else raises ApiError 422 with the Vietnamese reason
    and the field at fault."""
    lat_text, lon_text = lat_text.strip(), lon_text.strip()
    if lat_text and not lon_text:
        parts = [p for p in _PAIR_SEPARATOR.split(lat_text) if p]
        if len(parts) == 1 and lat_text.count(",") == 1 and "." in lat_text:
            parts = lat_text.split(",")
        if len(parts) == 2:
            lat_text, lon_text = parts
    if not lat_text or not lon_text:
        raise ApiError(
            422,
            "bad_coordinates",
            "lat" if not lat_text else "lon",
            message=_("Hãy nhập cả vĩ độ và kinh độ, ví dụ 21.0285, 105.8542."),
        )
    lat, lon = _number(lat_text), _number(lon_text)
    if lat is None or not -90 <= lat <= 90:
        raise ApiError(
            422, "bad_coordinates", "lat", message=_("Vĩ độ phải là một số từ −90 đến 90.")
        )
    if lon is None or not -180 <= lon <= 180:
        raise ApiError(
            422, "bad_coordinates", "lon", message=_("Kinh độ phải là một số từ −180 đến 180.")
        )
    return lat, lon


@router.post("/nodes/position")
async def node_position(request: Request) -> Response:
    """Set a cluster's position (``node.manage``, in the official's area; audited
    ``node.position``), typed on its page or filled by a click on the map. A bad value
    answers 422 with the page it came from, what was typed kept, and nothing saved."""
    who = page_user(request)
    runtime = rt(request)
    db = runtime.store.db
    form = await request.form()
    fields = {k: str(form.get(k, "")) for k in ("node", "lat", "lon", "back")}
    node_id = fields["node"]
    node = fleet.node_zone(db, node_id)
    if node is None or not authz.node_visible(db, who, node["zone_id"]):
        return not_found(request, who, error_message("node_not_found"))
    try:
        if not csrf_ok(request, form):
            raise ApiError(403, "csrf")
        authz.require(who, "node.manage")
        lat, lon = parse_position(translator(request), fields["lat"], fields["lon"])
        fleet.set_position(db, who, node_id, lat, lon)
    except ApiError as exc:
        message = error_message("csrf") if exc.code == "csrf" else exc.message
        status = exc.status if exc.status in (403, 404) else 422
        if fields["back"] == "map":
            return _map_page(request, who, status, error=message, form=fields)
        context = _node_context(request, who, node_id) or {}
        return render(
            request,
            "node.html",
            who,
            status,
            done="",
            error=None,
            position_error=message,
            position_form=fields,
            **context,
        )
    if fields["back"] == "map":
        return RedirectResponse("/nodes/map?saved=position", status_code=303)
    return RedirectResponse(f"/nodes/{node_id}?saved=position#vi-tri", status_code=303)


# --- adding a cluster: join codes (controller/domain/join.py) -------------------------------------

#: A join code's status as the page names it.
JOIN_STATUS = {
    "waiting": N_("Đang chờ"),
    "joined": N_("Đã tham gia"),
    "online": N_("Trực tuyến"),
    "expired": N_("Hết hạn"),
    "revoked": N_("Đã thu hồi"),
}


def _join_page(
    request: Request,
    who: Identity,
    status: int = 200,
    made: dict[str, Any] | None = None,
    error: str | None = None,
    form: dict[str, str] | None = None,
) -> Response:
    db = rt(request).store.db
    zone_rows = [z for z in zones.zone_tree(db) if admin_area.zone_allowed(db, who, z["id"])]
    return render(
        request,
        "node_join.html",
        who,
        status,
        zones=zone_rows,
        codes=join.list_codes(db, area=authz.area(db, who)),
        statuses=JOIN_STATUS,
        made=made,
        error=error,
        form=form or {},
    )


def _admin_page(request: Request) -> Identity | None:
    who = page_user(request)
    return who if who.role == "admin" else None


@router.get("/nodes/join")
def join_page(request: Request) -> Response:
    """Thêm cụm loa: administrators make a join code and read the line to type on the Pi."""
    who = _admin_page(request)
    if who is None:
        return not_found(request, page_user(request), error_message("forbidden"))
    return _join_page(request, who)


@router.get("/nodes/join/live")
def join_live(request: Request) -> Response:
    who = _admin_page(request)
    if who is None:
        return Response(status_code=404)
    db = rt(request).store.db
    codes = join.list_codes(db, area=authz.area(db, who))
    return render(request, "_join_rows.html", who, codes=codes, statuses=JOIN_STATUS)


@router.post("/nodes/join")
async def join_create(request: Request) -> Response:
    who = _admin_page(request)
    if who is None:
        return not_found(request, page_user(request), error_message("forbidden"))
    form = await request.form()
    fields = {k: str(form.get(k, "")).strip() for k in ("name", "zone_id", "id")}
    runtime = rt(request)
    try:
        if not csrf_ok(request, form):
            raise ApiError(403, "csrf")
        if str(form.get("action", "")) == "revoke":
            raw = str(form.get("code_id", ""))
            join.revoke_code(
                runtime.store,
                int(raw) if raw.isdigit() else 0,
                who.name,
                who.user_id,
                area=authz.area(runtime.store.db, who),
            )
            return RedirectResponse("/nodes/join", status_code=303)
        zone_id = int(fields["zone_id"]) if fields["zone_id"].isdigit() else 0
        admin_area.require_zone(runtime.store.db, who, zone_id)
        made = join.create_code(
            runtime.store,
            ProvisioningConfig.from_settings(runtime.settings),
            fields["name"],
            zone_id,
            node_id=fields["id"] or None,
            actor=who.name,
            actor_id=who.user_id,
        )
    except ApiError as exc:
        message = error_message("csrf") if exc.code == "csrf" else exc.message
        return _join_page(request, who, 422, error=message, form=fields)
    except ProvisioningError as exc:
        message = error_message(exc.code, **exc.params)
        return _join_page(request, who, 422, error=message, form=fields)
    # The code is shown this once: in this answer (not cached: render says no-store), not
    # behind a redirect.
    return _join_page(request, who, 201, made=made)


def _node_context(request: Request, who: Identity, node_id: str) -> dict[str, Any] | None:
    runtime = rt(request)
    db = runtime.store.db
    detail = fleet.node_detail(db, node_id, utcnow(), runtime.settings.missed_heartbeats, 30)
    if detail is None or not authz.node_visible(db, who, detail["zone_id"]):
        return None
    plays = reports.play_log(db, who, node_id=node_id, limit=20)
    link = link_text(translator(request), detail["telemetry"], detail=True)
    return {"n": detail, "plays": plays, "link": link}


@router.get("/nodes/{node_id}")
def node_page(node_id: str, request: Request) -> Response:
    who = page_user(request)
    context = _node_context(request, who, node_id)
    if context is None:
        return not_found(request, who, error_message("node_not_found"))
    done = request.query_params.get("done", "")
    saved = request.query_params.get("saved") == "position"
    return render(request, "node.html", who, done=done, error=None, position_saved=saved, **context)


@router.get("/nodes/{node_id}/live")
def node_live(node_id: str, request: Request) -> Response:
    who = page_user(request)
    context = _node_context(request, who, node_id)
    if context is None:
        return Response(status_code=404)
    return render(request, "_node_live.html", who, **context)


def _test_tone(request: Request, node: dict[str, Any]) -> PlayNow:
    """A short spoken test, rendered once (cached), played at once."""
    # lazy: audio.render loads numpy and the speech engines (0.5 s)
    from audio.render import render_text

    _ = translator(request)
    settings = rt(request).settings
    rendered = render_text(
        TEST_TONE_TEXT,
        settings.media_dir,
        VoiceSettings(chime=False),
        cache_dir=settings.tts_cache_dir,
    )
    announcements.store_media(rt(request).store.db, rendered)
    now = utcnow()
    return PlayNow(
        item=ScheduleItem(
            broadcast=TEST_TONE_BROADCAST,
            occurrence="phat-thu-" + now.strftime("%Y%m%dT%H%M%S"),
            play_at=now,
            content=FileContent(
                url=f"{settings.base_url}/media/{rendered.sha256}.mp3",
                sha256=rendered.sha256,
                bytes=rendered.bytes,
                duration_s=rendered.duration_s,
            ),
            priority="urgent",
            max_late_s=60,
            title=_("Phát thử"),
        )
    )


@router.post("/nodes/{node_id}/action")
async def node_action(node_id: str, request: Request) -> Response:
    """Remote actions: test tone, volume, stop — one signed command each, audited."""
    who = page_user(request)
    _ = translator(request)
    runtime = rt(request)
    context = _node_context(request, who, node_id)
    if context is None:
        return not_found(request, who, error_message("node_not_found"))
    form = await request.form()
    action = str(form.get("action", ""))
    error = None
    try:
        if not csrf_ok(request, form):
            raise ApiError(403, "csrf")
        authz.require(who, "node.control")
        if action == "tone":
            ok = runtime.dispatcher.command(
                node_id, "play.now", _test_tone(request, context["n"]), ttl=timedelta(minutes=1)
            )
            details: dict[str, Any] = {}
        elif action == "volume":
            raw = str(form.get("volume", ""))
            if not raw.isdigit() or not 0 <= int(raw) <= 100:
                raise ApiError(
                    422, "invalid_request", field="volume", message=_("Âm lượng từ 0 đến 100.")
                )
            details = {"volume": int(raw)}
            ok = runtime.dispatcher.command(node_id, "node.config", NodeConfig(volume=int(raw)))
        elif action == "stop":
            details = {}
            ok = runtime.dispatcher.command(node_id, "play.stop", PlayStop())
        else:
            raise ApiError(422, "invalid_request", field="action")
        if not ok:
            raise ApiError(
                503,
                "invalid_request",
                message=_("Chưa gửi được lệnh: mất kết nối tới máy chủ MQTT."),
            )
        # one entry, written on its own (the change itself is the command sent to the node)
        audit.record(
            runtime.store.db, who, f"node.{action}", "node", node_id, after=details or None
        )
    except ApiError as exc:
        error = error_message("csrf") if exc.code == "csrf" else exc.message
    except Exception as exc:  # e.g. the speech engine failed for the test tone
        error = str(exc)
    if error:
        return render(request, "node.html", who, 422, done="", error=error, **context)
    return RedirectResponse(f"/nodes/{node_id}?done={action}", status_code=303)
