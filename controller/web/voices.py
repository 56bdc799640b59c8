"""The voices page (Giọng đọc), administrators only: each cloud engine's account — a key is
shown only as set ("đã đặt"), never its value — and its state from a real check; the offline
Piper voices installed, and the catalogue's Vietnamese voices to install in the background
(``controller/services/piper_install.py``). The accounts' rules are
``controller/domain/voices.py``'s, shared with ``/api/v1/voices``."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import RedirectResponse, Response

from controller.core.errors import ApiError
from controller.domain import authz, voices
from controller.domain.identity import Identity
from controller.services import piper_install
from controller.web.common import (
    N_,
    csrf_ok,
    forbidden,
    not_found,
    page_user,
    render,
    rt,
    translator,
)

router = APIRouter(include_in_schema=False)

#: An engine's state as the page names it (``audio.engines.online.STATES``).
STATE_LABELS = {
    "ready": N_("Sẵn sàng"),
    "not_configured": N_("Chưa đặt khóa"),
    "wrong_key": N_("Khóa không đúng"),
    "out_of_quota": N_("Hết hạn mức"),
    "unreachable": N_("Không kết nối được"),
    "failed": N_("Lỗi dịch vụ"),
}
#: The fields' names on the page.
FIELD_LABELS = {
    "fpt_api_key": N_("Khóa API (api_key)"),
    "fpt_url": N_("Địa chỉ dịch vụ (để trống: của FPT.AI)"),
    "vbee_token": N_("Mã truy cập (token)"),
    "vbee_app_id": N_("Mã ứng dụng (app_id)"),
    "vbee_url": N_("Địa chỉ dịch vụ (để trống: của Vbee)"),
    "viettel_token": N_("Mã truy cập (token)"),
    "viettel_url": N_("Địa chỉ dịch vụ (để trống: của Viettel AI)"),
}

#: A Piper voice's installation as the page names it (``piper_install.STATES``).
INSTALL_LABELS = {
    "downloading": N_("Đang tải"),
    "installed": N_("Đã cài"),
    "failed": N_("Lỗi"),
}


async def _page(
    request: Request,
    who: Identity,
    errors: dict[str, str] | None = None,
    failed_engine: str = "",
    status: int = 200,
) -> Response:
    # the checks wait on the vendors: in a worker thread, off the event loop
    rows = await run_in_threadpool(voices.engines, rt(request).store.db)
    return render(
        request,
        "voices.html",
        who,
        status,
        engines=rows,
        secret_keys=voices.SECRET_KEYS,
        state_labels=STATE_LABELS,
        field_labels=FIELD_LABELS,
        errors=errors or {},
        failed_engine=failed_engine,
        saved=request.query_params.get("saved", ""),
        offline=piper_install.offline_voices(),
        install_labels=INSTALL_LABELS,
    )


@router.get("/voices")
async def voices_page(request: Request) -> Response:
    who = page_user(request)
    if not authz.can(who, "voices.manage"):
        return forbidden(request, who)
    return await _page(request, who)


@router.post("/voices/piper/install")
async def piper_install_start(request: Request) -> Response:
    """*Cài đặt* a Piper voice of the catalogue: audited, installed in the background (the page
    shows đang tải / đã cài / lỗi on reload, ``services.piper_install``)."""
    who = page_user(request)
    form = await request.form()
    if not csrf_ok(request, form) or not authz.can(who, "voices.manage"):
        return forbidden(request, who)
    voice = str(form.get("voice", "")).strip()
    if voice:
        await run_in_threadpool(
            piper_install.request_install, rt(request).store, who, voice, _ip(request)
        )
    return RedirectResponse("/voices#piper", status_code=303)


@router.post("/voices/{engine}")
async def voices_save(engine: str, request: Request) -> Response:
    """Save an engine's fields. A key left blank keeps the stored one (it is never shown, so the
    field is always empty); "Xóa" clears the engine's key. Other fields are replaced as given."""
    who = page_user(request)
    _ = translator(request)
    form = await request.form()
    if not csrf_ok(request, form) or not authz.can(who, "voices.manage"):
        return forbidden(request, who)
    fields = voices.ENGINE_FIELDS.get(engine)
    if fields is None:
        return not_found(request, who, _("Không có bộ đọc trực tuyến này."))
    clear = form.get("clear") == "1"
    changes: dict[str, str | None] = {}
    for key in fields:
        value = str(form.get(key, ""))
        if key in voices.SECRET_KEYS:
            changes[key] = "" if clear else (value or None)
        else:
            changes[key] = value
    try:
        await run_in_threadpool(voices.save, rt(request).store, who, engine, changes, _ip(request))
    except ApiError as exc:
        errors = {
            exc.field or "form": _(
                "Giá trị không hợp lệ: khóa không được có dấu cách, "
                "địa chỉ phải bắt đầu bằng http:// hoặc https://."
            )
        }
        return await _page(request, who, errors, engine, 422)
    return RedirectResponse(f"/voices?saved={engine}", status_code=303)


def _ip(request: Request) -> str | None:
    return request.client.host if request.client else None
