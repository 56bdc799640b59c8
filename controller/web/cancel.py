"""Cancelling a broadcast from its pages, in two steps (issue 14): *Hủy lượt phát* (or, on the
emergency progress page, *Dừng phát khẩn cấp*) first shows what will stop — the clusters and
villages, the clusters playing it now, the next times that will not play — with a reason field,
and only the confirmed form cancels (``Runtime.cancel_broadcast``, the API's use case). Then the
page says what happened: how many clusters were sent the stop, how many the broker could not
reach. The rules are the domain's (``broadcasts.cancel_preview``: the permission, the area,
something left to stop); one page rule is added: stopping an emergency needs a reason, which
the audit entry keeps. Works without JavaScript. No routes here: ``web.schedule`` and
``web.emergency`` route to it."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.responses import RedirectResponse, Response

from controller.core.errors import ApiError
from controller.core.messages import error_message
from controller.domain import broadcasts
from controller.domain.identity import Identity
from controller.web.common import broadcast_context, csrf_ok, not_found, render, rt

#: The session key of the notice shown once after a cancel.
NOTICE = "cancelled_notice"


def _urls(broadcast_id: int, emergency_page: bool) -> tuple[str, str]:
    """(the page it came from, the confirmation form's action)."""
    if emergency_page:
        return f"/emergency/{broadcast_id}", f"/emergency/{broadcast_id}/stop"
    return f"/broadcasts/{broadcast_id}", f"/broadcasts/{broadcast_id}/cancel"


def confirm_page(
    request: Request,
    who: Identity,
    broadcast_id: int,
    *,
    emergency_page: bool = False,
    reason: str = "",
    errors: dict[str, str] | None = None,
    status: int = 200,
) -> Response:
    """The confirmation step; refused (not allowed, outside the area, nothing left to stop):
    the broadcast's own page with the reason, 422."""
    context = broadcast_context(request, who, broadcast_id)
    if context is None:
        return not_found(request, who, error_message("broadcast_not_found"))
    try:
        preview = broadcasts.cancel_preview(rt(request).store.db, who, broadcast_id)
    except ApiError as exc:
        return refused(request, who, context, exc.message, emergency_page)
    back, action = _urls(broadcast_id, emergency_page)
    return render(
        request,
        "broadcast_cancel.html",
        who,
        status,
        preview=preview,
        on_air_names=[context["node_names"].get(n, n) for n in preview.on_air],
        back=back,
        action=action,
        reason=reason,
        errors=errors or {},
        **context,
    )


def refused(
    request: Request, who: Identity, context: dict[str, Any], message: str, emergency_page: bool
) -> Response:
    page = "emergency_progress.html" if emergency_page else "broadcast.html"
    return render(request, page, who, 422, error=message, **context)


async def cancel(
    request: Request, who: Identity, broadcast_id: int, *, emergency_page: bool = False
) -> Response:
    """The confirmation form's answer: without ``confirm=1`` it shows the confirmation (nothing
    is cancelled); confirmed, it cancels and goes back to the page with the notice."""
    form = await request.form()
    reason = str(form.get("reason", ""))
    if not csrf_ok(request, form):
        return confirm_page(
            request,
            who,
            broadcast_id,
            emergency_page=emergency_page,
            reason=reason,
            errors={"form": error_message("csrf")},
            status=403,
        )
    if form.get("confirm") != "1":
        return confirm_page(
            request, who, broadcast_id, emergency_page=emergency_page, reason=reason
        )
    context = broadcast_context(request, who, broadcast_id)
    if context is None:
        return not_found(request, who, error_message("broadcast_not_found"))
    if context["b"]["emergency"] and not reason.strip():
        return confirm_page(
            request,
            who,
            broadcast_id,
            emergency_page=emergency_page,
            errors={"reason": error_message("reason_required")},
            status=422,
        )
    try:
        done = rt(request).cancel_broadcast(who, broadcast_id, reason)
    except ApiError as exc:
        if exc.field == "reason":
            return confirm_page(
                request,
                who,
                broadcast_id,
                emergency_page=emergency_page,
                reason=reason,
                errors={"reason": exc.message},
                status=exc.status,
            )
        return refused(request, who, context, exc.message, emergency_page)
    request.session[NOTICE] = {"id": broadcast_id, "held": done.held, "told": done.told}
    back, _ = _urls(broadcast_id, emergency_page)
    return RedirectResponse(back, status_code=303)


def take_notice(request: Request, broadcast_id: int) -> dict[str, int] | None:
    """The notice of a cancel just made on this broadcast, once (then it is gone)."""
    notice = request.session.get(NOTICE)
    if not isinstance(notice, dict) or notice.get("id") != broadcast_id:
        return None
    del request.session[NOTICE]
    return notice
