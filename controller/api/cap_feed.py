"""Loa's own warnings as CAP 1.2, public (no sign-in: warnings are for everyone, and a
commune's or province's Loa subscribes to them): ``GET /cap/feed.atom`` (the newest 50
documents) and ``GET /cap/alerts/{identifier}.xml`` (one document). See docs/alerts.md."""

from __future__ import annotations

import hashlib
import logging

from fastapi import APIRouter, Request, Response

from controller.api.deps import runtime_of as runtime
from controller.core.errors import ApiError
from controller.domain import cap, cap_out

log = logging.getLogger("controller.cap")

router = APIRouter()

ATOM_TYPE = "application/atom+xml"


def _answer(request: Request, body: bytes, media_type: str, etag: str) -> Response:
    """The body, or 304 when the caller already has it (``If-None-Match``): a subscribing
    Loa polls every minute or so."""
    headers = {"ETag": etag, "Cache-Control": "no-cache"}
    asked = request.headers.get("if-none-match", "")
    if etag in {tag.strip().removeprefix("W/") for tag in asked.split(",")}:
        return Response(status_code=304, headers=headers)
    return Response(body, media_type=media_type, headers=headers)


def _base_url(request: Request) -> str:
    return runtime(request).settings.public_url.rstrip("/") or str(request.base_url).rstrip("/")


@router.get(
    "/cap/feed.atom",
    tags=["cap"],
    response_class=Response,
    responses={
        200: {"content": {ATOM_TYPE: {"schema": {"type": "string"}}}},
        304: {"description": "not modified: the If-None-Match ETag is the current one"},
    },
)
def cap_feed(request: Request) -> Response:
    """The Atom 1.0 index of Loa's newest CAP documents (emergencies, their cancels, and the
    bulletins of the categories the deployment publishes); each entry links its document."""
    rt = runtime(request)
    body = cap_out.feed(rt.store.db, rt.settings, _base_url(request))
    return _answer(request, body, ATOM_TYPE, '"' + hashlib.sha256(body).hexdigest()[:32] + '"')


@router.get(
    "/cap/alerts/{identifier}.xml",
    tags=["cap"],
    response_class=Response,
    responses={
        200: {"content": {cap.CAP_MIME: {"schema": {"type": "string"}}}},
        304: {"description": "not modified: the If-None-Match ETag is the current one"},
    },
)
def get_cap_alert(identifier: str, request: Request) -> Response:
    """One CAP 1.2 document by its identifier (``cap_alert_not_found`` otherwise), signed with
    the deployment's key when one is configured (``cap_signing_unavailable`` if it cannot be
    read)."""
    rt = runtime(request)
    try:
        body = cap_out.document(rt.store.db, rt.settings, identifier)
    except cap_out.SigningUnavailable as exc:
        log.error("CAP signing key or certificate unusable, not serving %s: %s", identifier, exc)
        raise ApiError(503, "cap_signing_unavailable") from None
    if body is None:
        raise ApiError(404, "cap_alert_not_found")
    return _answer(request, body, cap.CAP_MIME, cap_out.etag(identifier, rt.settings))
