"""The CAP alerts pages (Cảnh báo CAP, issue 16): ``/cap`` shows the alerts received, what each
made and who approved it; an admin also sees and edits the sources (their state and latest
refusals) and the zones' administrative codes. ``/cap/policy`` shows the policy table (the
defaults until an admin changes them), editable by an admin. The rules are
``controller/domain/cap_sources.py``'s, shared with ``/api/v1/cap/…``."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import RedirectResponse, Response

from controller.core.errors import ApiError
from controller.domain import authz, cap_sources, users, zones
from controller.domain.identity import Identity
from controller.web.common import N_, csrf_ok, forbidden, page_user, render, rt

router = APIRouter(include_in_schema=False)

#: What an alert made, as the pages name it (``cap_sources.OUTCOMES``).
OUTCOME_LABELS = {
    "received": N_("Đang xử lý"),
    "emergency": N_("Phát khẩn cấp"),
    "announcement": N_("Bản tin chờ duyệt"),
    "logged": N_("Chỉ ghi nhận"),
    "test": N_("Bản tin thử, không phát"),
    "expired": N_("Đã hết hiệu lực, không phát"),
    "outside_area": N_("Ngoài địa bàn"),
    "no_info": N_("Không có nội dung"),
    "cancelled": N_("Hủy cảnh báo trước"),
    "failed": N_("Không thực hiện được"),
}
#: The policy's actions as the pages name them.
ACTION_LABELS = {
    "emergency": N_("Phát khẩn cấp ngay"),
    "announcement": N_("Soạn bản tin chờ duyệt"),
    "log": N_("Chỉ ghi nhận"),
}
KIND_LABELS = {
    "feed": N_("Nguồn tin (Atom/RSS hoặc một địa chỉ CAP)"),
    "push": N_("Gửi đến (push)"),
}


def _page(
    request: Request,
    who: Identity,
    *,
    errors: dict[str, str] | None = None,
    form: dict[str, Any] | None = None,
    token: str | None = None,
    status: int = 200,
) -> Response:
    db = rt(request).store.db
    manage = authz.can(who, "cap.manage")
    sources = cap_sources.list_sources(db) if manage else []
    for source in sources:
        source["refusals"] = cap_sources.refusals(db, source["id"], limit=5)
    codes = cap_sources.zone_codes(db)
    return render(
        request,
        "cap.html",
        who,
        status,
        alerts=cap_sources.list_alerts(db, 100),
        sources=sources,
        manage=manage,
        zones=[z | {"admin_code": codes.get(z["id"])} for z in zones.zone_tree(db)],
        approvers=[
            u
            for u in users.list_users(db)
            if u["role"] in authz.PERMISSIONS["broadcast.emergency"] and not u["disabled"]
        ],
        outcome_labels=OUTCOME_LABELS,
        kind_labels=KIND_LABELS,
        errors=errors or {},
        form=form or {"kind": "feed", "interval_s": 60},
        token=token,
        saved=request.query_params.get("saved", ""),
    )


@router.get("/cap")
def cap_page(request: Request) -> Response:
    return _page(request, page_user(request))


def _source_fields(form: Any) -> dict[str, Any]:
    user = str(form.get("user_id", "")).strip()
    interval = str(form.get("interval_s", "60")).strip()
    return {
        "name": str(form.get("name", "")),
        "kind": str(form.get("kind", "feed")),
        "url": str(form.get("url", "")),
        "interval_s": int(interval) if interval.isdigit() else -1,
        "signed_only": form.get("signed_only") == "1",
        "cert_pem": str(form.get("cert_pem", "")).strip() or None,
        "user_id": int(user) if user.isdigit() else None,
        "enabled": form.get("enabled", "1") == "1",
    }


@router.post("/cap/sources")
async def cap_source_new(request: Request) -> Response:
    who = page_user(request)
    form = await request.form()
    if not csrf_ok(request, form) or not authz.can(who, "cap.manage"):
        return forbidden(request, who)
    fields = _source_fields(form)
    try:
        _id, token = await run_in_threadpool(
            cap_sources.create_source, rt(request).store.db, who, fields
        )
    except ApiError as exc:
        return _page(
            request, who, errors={exc.field or "form": exc.message}, form=fields, status=422
        )
    if token:  # shown once: the page itself, not a redirect
        return _page(request, who, token=token)
    return RedirectResponse("/cap?saved=1#sources", status_code=303)


@router.post("/cap/sources/{source_id}")
async def cap_source_save(source_id: int, request: Request) -> Response:
    who = page_user(request)
    form = await request.form()
    if not csrf_ok(request, form) or not authz.can(who, "cap.manage"):
        return forbidden(request, who)
    db = rt(request).store.db
    try:
        if form.get("delete") == "1":
            await run_in_threadpool(cap_sources.delete_source, db, who, source_id)
        else:
            await run_in_threadpool(
                cap_sources.update_source, db, who, source_id, _source_fields(form)
            )
    except ApiError as exc:
        return _page(request, who, errors={f"source-{source_id}": exc.message}, status=exc.status)
    return RedirectResponse(f"/cap?saved=1#source-{source_id}", status_code=303)


@router.post("/cap/zones")
async def cap_zone_codes(request: Request) -> Response:
    """Save the zones' administrative codes (one field per zone; only changed ones are saved)."""
    who = page_user(request)
    form = await request.form()
    if not csrf_ok(request, form) or not authz.can(who, "cap.manage"):
        return forbidden(request, who)
    db = rt(request).store.db
    codes = cap_sources.zone_codes(db)
    for zone_id, current in codes.items():
        given = str(form.get(f"code-{zone_id}", current or "")).strip()
        if given != (current or ""):
            try:
                await run_in_threadpool(cap_sources.set_admin_code, db, who, zone_id, given)
            except ApiError as exc:
                return _page(request, who, errors={f"code-{zone_id}": exc.message}, status=422)
    return RedirectResponse("/cap?saved=1#zones", status_code=303)


def _policy_page(
    request: Request,
    who: Identity,
    *,
    rules: list[dict[str, Any]] | None = None,
    error: str = "",
    status: int = 200,
) -> Response:
    db = rt(request).store.db
    rows = rules if rules is not None else cap_sources.list_policy(db)
    for row in rows:
        for key in ("severity", "urgency", "certainty"):
            if isinstance(row.get(key), str):
                row[key] = [v for v in row[key].split(",") if v]
    return render(
        request,
        "cap_policy.html",
        who,
        status,
        rules=rows,
        manage=authz.can(who, "cap.manage"),
        severities=cap_sources.SEVERITIES,
        urgencies=cap_sources.URGENCIES,
        certainties=cap_sources.CERTAINTIES,
        action_labels=ACTION_LABELS,
        error=error,
        saved=request.query_params.get("saved", ""),
    )


@router.get("/cap/policy")
def cap_policy_page(request: Request) -> Response:
    return _policy_page(request, page_user(request))


@router.post("/cap/policy")
async def cap_policy_save(request: Request) -> Response:
    """Save the table as shown: rows in the order of their ``position`` fields, a row whose
    "xóa" box is ticked left out, the blank row added when it names an action."""
    who = page_user(request)
    form = await request.form()
    if not csrf_ok(request, form) or not authz.can(who, "cap.manage"):
        return forbidden(request, who)
    ordered: list[tuple[int, dict[str, Any]]] = []
    for index in sorted({int(k.split("-")[1]) for k in form if k.startswith("action-")}):
        if form.get(f"delete-{index}") == "1" or not form.get(f"action-{index}"):
            continue
        position = str(form.get(f"position-{index}", index)).strip()
        repeat = str(form.get(f"repeat-{index}", "0")).strip()
        ordered.append(
            (
                int(position) if position.lstrip("-").isdigit() else index,
                {
                    "severity": form.getlist(f"severity-{index}"),
                    "urgency": form.getlist(f"urgency-{index}"),
                    "certainty": form.getlist(f"certainty-{index}"),
                    "event": str(form.get(f"event-{index}", "")),
                    "action": str(form.get(f"action-{index}")),
                    "repeat_min": int(repeat) if repeat.isdigit() else -1,
                },
            )
        )
    rules = [rule for _position, rule in sorted(ordered, key=lambda pair: pair[0])]
    try:
        await run_in_threadpool(cap_sources.save_policy, rt(request).store.db, who, rules)
    except ApiError as exc:
        return _policy_page(request, who, rules=rules, error=exc.message, status=422)
    return RedirectResponse("/cap/policy?saved=1", status_code=303)
