"""Giọng xã: the commune announcer's own voice (issue 18). The rules are
``controller/domain/voicebank.py``'s.

- ``/voicebank`` (``voicebank.record``: admin, announcer): each bank — whose voice, their
  consent (name, date, the words they agreed to), syllables recorded, and the coverage meter
  over the commune's announcements of the last 3 months; the consent form that makes a bank;
  for admins (``voicebank.manage``) export, import and delete.
- ``/voicebank/{name}/studio``: the next sheet in large type (or ``?syllables=a,b`` — one
  syllable to re-record it alone), recorded in the browser (``static/studio.js``: MediaRecorder,
  the file goes into the form's file input and the form is sent) or chosen as a file. The take
  is cut and checked on the server; a bad take is answered 422 with its reason and nothing is
  stored. Each recorded syllable can be replayed (``/voicebank/{name}/units/{syllable}.wav``).
- ``/voicebank/{name}/delete``: says how many announcements used the voice and asks for a
  confirmation; deleting withdraws the voice with everything made from it
  (``services.voicebank.delete_bank``).

Uploads (takes, bank files) pass the upload size limit (``api/request_limits.UPLOAD_ROUTES``).
"""

from __future__ import annotations

import tempfile
import urllib.parse
from datetime import datetime
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse, RedirectResponse, Response
from starlette.background import BackgroundTask
from starlette.datastructures import UploadFile

from audio.errors import AudioError
from audio.upload import MAX_UPLOAD_BYTES
from audio.voicebank import bank as banks
from audio.voicebank.messages import VoicebankError, message_for
from audio.voicebank.sheets import check_sheet
from audio.voicebank.syllables import canonical
from controller.domain import authz, voicebank
from controller.domain.identity import Identity
from controller.services import voicebank as withdrawal
from controller.web.common import (
    csrf_ok,
    forbidden,
    locale_of,
    not_found,
    page_user,
    render,
    rt,
    save_upload,
    translator,
    tz,
)

router = APIRouter(include_in_schema=False)


def _ip(request: Request) -> str | None:
    return request.client.host if request.client else None


def _reason(request: Request, exc: AudioError) -> str:
    """A refusal in the page's language (the voice bank's own catalog, by code)."""
    if locale_of(request) == "en" and isinstance(exc, VoicebankError):
        return message_for(exc.code, "en", **exc.params)
    return exc.message


def _bank(name: str) -> banks.Bank | None:
    try:
        return banks.open_bank(name)
    except AudioError:
        return None


def _too_large(request: Request) -> str:
    _ = translator(request)
    return str(_("Tệp quá lớn (tối đa %(n)s MB).", n=f"{MAX_UPLOAD_BYTES / 1024 / 1024:g}"))


# -- the page -----------------------------------------------------------------------------------


def _cards(request: Request) -> list[dict[str, Any]]:
    db = rt(request).store.db
    out = []
    for b in banks.list_banks():
        m = voicebank.meter(db, b)
        out.append(
            {
                "bank": b,
                "count": len(b.syllables()),
                "meter": m,
                "missing": [s for s, _n in m.coverage.missing[:20]],
                "uses": len(voicebank.uses(db, b.name)),
            }
        )
    return out


async def _page(
    request: Request,
    who: Identity,
    status: int = 200,
    errors: dict[str, str] | None = None,
    form: dict[str, str] | None = None,
) -> Response:
    cards = await run_in_threadpool(_cards, request)
    return render(
        request,
        "voicebank.html",
        who,
        status,
        cards=cards,
        consent_words=voicebank.CONSENT_WORDS,
        days=voicebank.COVERAGE_DAYS,
        errors=errors or {},
        form=form or {"speaker": ""},
        notice=request.query_params.get("notice", ""),
    )


@router.get("/voicebank")
async def voicebank_page(request: Request) -> Response:
    who = page_user(request)
    if not authz.can(who, "voicebank.record"):
        return forbidden(request, who)
    return await _page(request, who)


@router.post("/voicebank")
async def voicebank_create(request: Request) -> Response:
    """The consent form: the announcer's name and the ticked agreement make an empty bank."""
    who = page_user(request)
    _ = translator(request)
    form = await request.form()
    if not csrf_ok(request, form) or not authz.can(who, "voicebank.record"):
        return forbidden(request, who)
    speaker = str(form.get("speaker", ""))
    agreed = form.get("agree") == "1"
    errors: dict[str, str] = {}
    if not speaker.strip():
        errors["speaker"] = _("Hãy ghi họ tên người đọc (giọng của ai).")
    if not agreed:
        errors["agree"] = _("Người đọc cần đánh dấu đồng ý trước khi ghi giọng.")
    if not errors:
        try:
            made = await run_in_threadpool(
                voicebank.create,
                rt(request).store,
                who,
                speaker,
                agreed,
                _ip(request),
                datetime.now(tz(request)).date().isoformat(),  # the commune's date
            )
        except AudioError as exc:
            errors["speaker"] = _reason(request, exc)
        else:
            return RedirectResponse(f"/voicebank/{made.name}/studio", status_code=303)
    return await _page(request, who, 422, errors, {"speaker": speaker})


# -- the studio ---------------------------------------------------------------------------------


def _requested(raw: str) -> list[str]:
    return [canonical(s) for s in raw.replace(",", " ").split() if s.strip()]


async def _studio(
    request: Request,
    who: Identity,
    b: banks.Bank,
    syllables: list[str] | None = None,
    status: int = 200,
    error: str = "",
) -> Response:
    db = rt(request).store.db
    _ = translator(request)
    sheet_error = ""
    number = 0
    gain_after = None
    if syllables is None:
        raw = request.query_params.get("syllables", "")
        syllables = _requested(raw) if raw.strip() else None
    if syllables:
        try:
            syllables = list(check_sheet(syllables))
        except AudioError as exc:
            sheet_error, syllables = _reason(request, exc), []
    else:
        upcoming = await run_in_threadpool(voicebank.next_sheets, db, b, 1)
        if upcoming:
            syllables = list(upcoming[0].syllables)
            number = len(b.syllables()) // 15 + 1
            gain_after = round(upcoming[0].coverage_after * 100)
        else:
            syllables = []
    m = await run_in_threadpool(voicebank.meter, db, b)
    saved = [s for s in request.query_params.get("saved", "").split(",") if s]
    have = b.syllables()
    return render(
        request,
        "studio.html",
        who,
        status,
        bank=b,
        count=len(have),
        have=sorted(have),
        meter=m,
        days=voicebank.COVERAGE_DAYS,
        sheet=syllables,
        recorded=[s for s in syllables if s in have],
        number=number,
        gain_after=gain_after,
        sheet_error=sheet_error,
        error=error,
        saved=[s for s in saved if s in have],
        # about 0.5 s per syllable and 0.5 s of pause, plus a start: what the page suggests
        sheet_seconds=round(2 + len(syllables) * 1.0),
        quote=urllib.parse.quote,
    )


@router.get("/voicebank/{name}/studio")
async def studio_page(name: str, request: Request) -> Response:
    who = page_user(request)
    _ = translator(request)
    if not authz.can(who, "voicebank.record"):
        return forbidden(request, who)
    b = _bank(name)
    if b is None:
        return not_found(request, who, _("Không có giọng xã này."))
    return await _studio(request, who, b)


@router.post("/voicebank/{name}/take")
async def studio_take(name: str, request: Request) -> Response:
    """One take of a sheet: stored syllable by syllable, or refused (422) with its reason."""
    who = page_user(request)
    _ = translator(request)
    form = await request.form()
    if not csrf_ok(request, form) or not authz.can(who, "voicebank.record"):
        return forbidden(request, who)
    b = _bank(name)
    if b is None:
        return not_found(request, who, _("Không có giọng xã này."))
    syllables = _requested(str(form.get("syllables", "")))
    upload = form.get("audio")
    if not isinstance(upload, UploadFile) or not upload.filename:
        return await _studio(request, who, b, syllables, 422, _("Hãy ghi âm hoặc chọn tệp."))
    path = await save_upload(upload, MAX_UPLOAD_BYTES)
    if path is None:
        return await _studio(request, who, b, syllables, 422, _too_large(request))
    try:
        stored = await run_in_threadpool(
            voicebank.record_take, rt(request).store, who, b.name, syllables, path, _ip(request)
        )
    except AudioError as exc:
        return await _studio(request, who, b, syllables, 422, _reason(request, exc))
    finally:
        path.unlink(missing_ok=True)
    saved = urllib.parse.quote(",".join(stored))
    return RedirectResponse(f"/voicebank/{b.name}/studio?saved={saved}", status_code=303)


@router.get("/voicebank/{name}/units/{syllable}.wav")
async def studio_unit(name: str, syllable: str, request: Request) -> Response:
    """A recorded syllable, to replay it."""
    who = page_user(request)
    _ = translator(request)
    if not authz.can(who, "voicebank.record"):
        return forbidden(request, who)
    b = _bank(name)
    try:
        if b is None:
            raise AudioError("bank_not_found", "")
        path = b.unit_path(syllable)
    except AudioError:
        return not_found(request, who, _("Giọng xã chưa có tiếng này."))
    return FileResponse(path, media_type="audio/wav", headers={"Cache-Control": "no-store"})


# -- admin: delete, export, import --------------------------------------------------------------


@router.get("/voicebank/{name}/delete")
async def delete_page(name: str, request: Request) -> Response:
    who = page_user(request)
    _ = translator(request)
    if not authz.can(who, "voicebank.manage"):
        return forbidden(request, who)
    b = _bank(name)
    if b is None:
        return not_found(request, who, _("Không có giọng xã này."))
    used = voicebank.uses(rt(request).store.db, b.name)
    return render(
        request,
        "voicebank_delete.html",
        who,
        bank=b,
        count=len(b.syllables()),
        used=used,
        approved=sum(1 for r in used if r["status"] == "approved"),
        error="",
    )


@router.post("/voicebank/{name}/delete")
async def delete_bank(name: str, request: Request) -> Response:
    who = page_user(request)
    _ = translator(request)
    form = await request.form()
    if not csrf_ok(request, form) or not authz.can(who, "voicebank.manage"):
        return forbidden(request, who)
    b = _bank(name)
    if b is None:
        return not_found(request, who, _("Không có giọng xã này."))
    if form.get("confirm") != "1":
        used = voicebank.uses(rt(request).store.db, b.name)
        return render(
            request,
            "voicebank_delete.html",
            who,
            422,
            bank=b,
            count=len(b.syllables()),
            used=used,
            approved=sum(1 for r in used if r["status"] == "approved"),
            error=_("Hãy đánh dấu xác nhận trước khi xóa."),
        )
    await run_in_threadpool(withdrawal.delete_bank, rt(request), who, b.name, _ip(request))
    return RedirectResponse("/voicebank?notice=deleted", status_code=303)


@router.post("/voicebank/{name}/export")
async def export_bank(name: str, request: Request) -> Response:
    """The bank as one ``.loavoice`` file, downloaded (the temporary copy is removed after)."""
    who = page_user(request)
    _ = translator(request)
    form = await request.form()
    if not csrf_ok(request, form) or not authz.can(who, "voicebank.manage"):
        return forbidden(request, who)
    if _bank(name) is None:
        return not_found(request, who, _("Không có giọng xã này."))
    folder = Path(tempfile.mkdtemp(prefix="loa-voicebank-export-"))
    path = await run_in_threadpool(
        voicebank.export, rt(request).store, who, name, folder, _ip(request)
    )

    def cleanup() -> None:
        path.unlink(missing_ok=True)
        folder.rmdir()

    return FileResponse(
        path,
        media_type="application/zip",
        filename=path.name,
        background=BackgroundTask(cleanup),
    )


@router.post("/voicebank/import")
async def import_bank(request: Request) -> Response:
    who = page_user(request)
    _ = translator(request)
    form = await request.form()
    if not csrf_ok(request, form) or not authz.can(who, "voicebank.manage"):
        return forbidden(request, who)
    upload = form.get("file")
    if not isinstance(upload, UploadFile) or not upload.filename:
        return await _page(request, who, 422, {"file": _("Hãy chọn tệp giọng xã (.loavoice).")})
    path = await save_upload(upload, MAX_UPLOAD_BYTES)
    if path is None:
        return await _page(request, who, 422, {"file": _too_large(request)})
    try:
        data = path.read_bytes()
        made = await run_in_threadpool(
            voicebank.import_file,
            rt(request).store,
            who,
            data,
            form.get("replace") == "1",
            _ip(request),
        )
    except AudioError as exc:
        return await _page(request, who, 422, {"file": _reason(request, exc)})
    finally:
        path.unlink(missing_ok=True)
    return RedirectResponse(f"/voicebank?notice=imported#bank-{made.name}", status_code=303)
