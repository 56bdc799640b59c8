"""CAP 1.2 alerts in under /api/v1 (docs/alerts.md, "Sources and policy"): the push endpoint,
the sources (feeds and push) with their trust settings, the received alerts and the policy
table. Loa's own outgoing feed (``/cap/feed.atom``) is controller/api/cap_feed.py's."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from controller.api.deps import Official, bearer
from controller.api.deps import runtime_of as runtime
from controller.api.models import Bool, Int, documented
from controller.core.errors import ApiError
from controller.domain import authz, cap, cap_sources
from controller.services import cap_feeds

router = APIRouter(prefix="/api/v1")

#: Content types a pushed CAP document may have.
CAP_TYPES = ("application/cap+xml", "application/xml", "text/xml")
#: The push's body as the OpenAPI document says it: one CAP 1.2 XML document, as text, in any
#: of CAP_TYPES (anything else is 415 ``cap_content_type``). Its limit is in bytes, which JSON
#: Schema cannot say of a text: over cap.MAX_BYTES it is 413 ``cap_too_large``; a document that
#: is not CAP 1.2 is 422 with its own code (errors.DATA_REFUSALS).
_CAP_BODY = {
    "required": True,
    "content": {kind: {"schema": {"type": "string"}} for kind in CAP_TYPES},
}


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _values(values: tuple[str, ...]) -> Any:
    """A list of CAP values: said in the document, refused by the rule with its own code
    (``cap_policy_bad_value``)."""
    return Field(
        default=[],
        max_length=100,
        json_schema_extra=documented(items={"type": "string", "enum": list(values)}),
    )


class CapSourceChange(_Request):
    """A source's settings (PUT: its kind stays what it was made, so whether ``url`` must be a
    feed's is the stored source's to say: ``cap_source_bad_url`` is a data refusal there)."""

    name: str = Field(
        max_length=10_000,
        json_schema_extra=documented(
            pattern=cap_sources.NAME_PATTERN, maxLength=cap_sources.MAX_NAME_CHARS
        ),
    )
    #: feed: polled at ``url``; push: alerts come to POST /api/v1/cap with the token made for it
    kind: Literal["feed", "push"] = "feed"
    #: A feed's index (Atom or RSS) or one CAP document, http(s); ignored for push.
    url: str = Field(default="", max_length=2000)
    interval_s: Int = Field(
        default=60,
        json_schema_extra=documented(
            minimum=cap_sources.MIN_INTERVAL_S, maximum=cap_sources.MAX_INTERVAL_S
        ),
    )
    #: Refuse alerts without a valid signature by ``cert_pem``.
    signed_only: Bool = False
    #: The source's certificate (PEM). On PUT, null keeps the stored one; "" removes it.
    cert_pem: str | None = None
    #: The official the source acts as (an approver or admin); null: the source itself.
    user_id: Int | None = None
    enabled: Bool = True


class CapSourceIn(CapSourceChange):
    """A new source: a feed (``kind`` feed or left out) has an http(s) ``url``
    (``cap_source_bad_url``); one that takes signed alerts only has a certificate
    (``cap_source_cert_required``)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "allOf": [
                {
                    "anyOf": [
                        {"required": ["kind"], "properties": {"kind": {"const": "push"}}},
                        {
                            "required": ["url"],
                            "properties": {
                                "url": {"type": "string", "pattern": cap_sources.URL_PATTERN}
                            },
                        },
                    ]
                },
                {
                    "anyOf": [
                        {"properties": {"signed_only": {"const": False}}},
                        {
                            "required": ["cert_pem"],
                            "properties": {"cert_pem": {"type": "string", "pattern": r"\S"}},
                        },
                    ]
                },
            ]
        },
    )


class PolicyRuleIn(_Request):
    #: CAP values, any of them matches; empty: any.
    severity: list[str] = _values(cap_sources.SEVERITIES)
    urgency: list[str] = _values(cap_sources.URGENCIES)
    certainty: list[str] = _values(cap_sources.CERTAINTIES)
    #: The info's event (case-insensitive); empty: any.
    event: str = Field(
        default="",
        max_length=10_000,
        json_schema_extra=documented(
            pattern=cap_sources.EVENT_PATTERN, maxLength=cap_sources.MAX_EVENT_CHARS
        ),
    )
    action: Literal["emergency", "announcement", "log"]
    #: emergency: sound it again every so many minutes until the alert expires (0: once).
    repeat_min: Int = Field(
        default=0, json_schema_extra=documented(minimum=0, maximum=cap_sources.MAX_REPEAT_MIN)
    )


class PolicyIn(_Request):
    #: In order: the first rule that matches an alert decides it.
    rules: list[PolicyRuleIn] = Field(json_schema_extra=documented(minItems=1))


def _public(source: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in source.items() if k not in ("cert_pem", "token_id")}


def _rule_out(rule: dict[str, Any]) -> dict[str, Any]:
    return {
        **rule,
        **{k: [v for v in (rule.get(k) or "").split(",") if v] for k in _LISTS},
    }


_LISTS = ("severity", "urgency", "certainty")


@router.post("/cap", tags=["cap"], openapi_extra={"requestBody": _CAP_BODY})
async def push_cap(request: Request, who: Official, source_id: int | None = None) -> JSONResponse:
    """Push one CAP 1.2 document (body ``application/cap+xml`` or ``application/xml``) with a
    push source's integration token (an admin may name ``source_id``). 200 with what it made
    (``outcome``: emergency, announcement, logged, test, expired, outside_area, cancelled,
    repeat …); a refused document is 422 (413 when too large) with its ``cap_*`` code and
    reason, kept on the source's page."""
    authz.require(who, "cap.push")
    rt = runtime(request)
    db = rt.store.db
    token = bearer(request)
    source = cap_sources.source_for_token(db, token) if token else None
    if source is None:
        if source_id is None or not authz.can(who, "cap.manage"):
            raise ApiError(404, "cap_source_not_found", field="source_id")
        source = cap_sources.must_get_source(db, source_id)
    if not source["enabled"]:
        raise ApiError(409, "cap_source_disabled")
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind not in CAP_TYPES:
        raise ApiError(415, "cap_content_type", field="content-type")
    data = await request.body()
    if len(data) > cap.MAX_BYTES:
        refused = cap.CapRefused(
            "cap_too_large", f"Bản tin CAP quá lớn (tối đa {cap.MAX_BYTES // 1024} KB)."
        )
        await run_in_threadpool(cap_feeds.refuse, rt, source, refused, size=len(data))
        raise ApiError(413, refused.code, message=refused.reason)
    applied = await run_in_threadpool(cap_feeds.apply_alert, rt, source, data)
    if applied.outcome == "refused":
        status = 413 if applied.code == "cap_too_large" else 422
        raise ApiError(status, applied.code or "cap_malformed", message=applied.detail)
    return JSONResponse(applied.as_dict())


@router.get("/cap/sources", tags=["cap"])
def cap_sources_list(request: Request, who: Official) -> list[dict[str, Any]]:
    authz.require(who, "cap.manage")
    return [_public(s) for s in cap_sources.list_sources(runtime(request).store.db)]


#: The new source's id is what its other operations take (OpenAPI links: an integrator's
#: client, and schemathesis's stateful phase, follow them).
_SOURCE_LINKS = {
    name: {"operationId": operation, "parameters": {"source_id": "$response.body#/id"}}
    for name, operation in (
        ("push", "push_cap_api_v1_cap_post"),
        ("get", "cap_source_get_api_v1_cap_sources__source_id__get"),
        ("update", "cap_source_update_api_v1_cap_sources__source_id__put"),
        ("delete", "cap_source_delete_api_v1_cap_sources__source_id__delete"),
    )
}


@router.post(
    "/cap/sources",
    status_code=201,
    tags=["cap"],
    responses={201: {"description": "the source made", "links": _SOURCE_LINKS}},
)
def cap_source_create(body: CapSourceIn, request: Request, who: Official) -> dict[str, Any]:
    """A new source; a push source's integration token is in ``token``, shown only now."""
    db = runtime(request).store.db
    source_id, token = cap_sources.create_source(db, who, body.model_dump())
    made = _public(cap_sources.must_get_source(db, source_id))
    return made | ({"token": token} if token else {})


@router.get("/cap/sources/{source_id}", tags=["cap"])
def cap_source_get(source_id: int, request: Request, who: Official) -> dict[str, Any]:
    """A source, its state and its latest refusals."""
    authz.require(who, "cap.manage")
    db = runtime(request).store.db
    source = cap_sources.must_get_source(db, source_id)
    return _public(source) | {"refusals": cap_sources.refusals(db, source_id)}


@router.put("/cap/sources/{source_id}", tags=["cap"])
def cap_source_update(
    source_id: int, body: CapSourceChange, request: Request, who: Official
) -> dict[str, Any]:
    db = runtime(request).store.db
    return _public(cap_sources.update_source(db, who, source_id, body.model_dump()))


@router.delete("/cap/sources/{source_id}", status_code=204, tags=["cap"])
def cap_source_delete(source_id: int, request: Request, who: Official) -> Response:
    cap_sources.delete_source(runtime(request).store.db, who, source_id)
    return Response(status_code=204)


@router.get("/cap/alerts", tags=["cap"])
def cap_alerts_list(
    request: Request, who: Official, limit: Annotated[int, Query(ge=1, le=1000)] = 100
) -> list[dict[str, Any]]:
    """Received alerts, newest first: their source, what each made, who approved it."""
    authz.require(who, "read")
    return cap_sources.list_alerts(runtime(request).store.db, limit)


@router.get("/cap/policy", tags=["cap"])
def cap_policy_get(request: Request, who: Official) -> list[dict[str, Any]]:
    authz.require(who, "read")
    return [_rule_out(r) for r in cap_sources.list_policy(runtime(request).store.db)]


@router.put("/cap/policy", tags=["cap"])
def cap_policy_put(body: PolicyIn, request: Request, who: Official) -> list[dict[str, Any]]:
    """Replace the policy table (in order; the first matching rule wins)."""
    db = runtime(request).store.db
    saved = cap_sources.save_policy(db, who, [r.model_dump() for r in body.rules])
    return [_rule_out(r) for r in saved]


class AdminCodeIn(_Request):
    #: The zone's mã đơn vị hành chính, matched against CAP geocodes; "" clears it.
    admin_code: str = Field(
        default="",
        max_length=10_000,
        json_schema_extra=documented(
            pattern=cap_sources.ADMIN_CODE_PATTERN, maxLength=cap_sources.MAX_ADMIN_CODE_CHARS
        ),
    )


@router.put("/cap/zones/{zone_id}", tags=["cap"])
def cap_zone_code(
    zone_id: int, body: AdminCodeIn, request: Request, who: Official
) -> dict[str, Any]:
    """Set a zone's administrative code (an alert's geocode reaches the zone and below)."""
    return cap_sources.set_admin_code(runtime(request).store.db, who, zone_id, body.admin_code)
