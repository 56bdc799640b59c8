"""The emergency page: write, confirm and play now on every node of the chosen zones (the
runtime's emergency use case, as ``POST /api/v1/emergency``), then follow its progress live."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from controller.api.models import EmergencyIn
from controller.core.errors import ApiError
from controller.core.messages import error_message
from controller.domain import authz
from controller.domain.identity import Identity
from controller.services import emergency_speech
from controller.web import cancel
from controller.web.common import (
    broadcast_context,
    csrf_ok,
    forbidden,
    not_found,
    page_user,
    render,
    rt,
    translator,
    zone_choices,
    zone_ids,
)

router = APIRouter(include_in_schema=False)


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
        zones=zone_choices(request, who),
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
        "zone_ids": zone_ids(form),
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
    context = broadcast_context(request, who, broadcast_id)
    if context is None:
        return not_found(request, who, error_message("broadcast_not_found"))
    notice = cancel.take_notice(request, broadcast_id)
    spoken = emergency_speech.spoken_by(rt(request).store.db, broadcast_id)
    return render(request, "emergency_progress.html", who, notice=notice, spoken=spoken, **context)


@router.get("/emergency/{broadcast_id:int}/stop")
def emergency_stop_confirm(broadcast_id: int, request: Request) -> Response:
    """*Dừng phát khẩn cấp*: what will stop, and a required reason (``web.cancel``)."""
    return cancel.confirm_page(request, page_user(request), broadcast_id, emergency_page=True)


@router.post("/emergency/{broadcast_id:int}/stop")
async def emergency_stop(broadcast_id: int, request: Request) -> Response:
    """Stops it only when confirmed with a reason (audited); otherwise the confirmation."""
    return await cancel.cancel(request, page_user(request), broadcast_id, emergency_page=True)


@router.get("/emergency/{broadcast_id}/live")
def emergency_live(broadcast_id: int, request: Request) -> Response:
    who = page_user(request)
    context = broadcast_context(request, who, broadcast_id)
    if context is None:
        return Response(status_code=404)
    return render(request, "_emergency_live.html", who, **context)
