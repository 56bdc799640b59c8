"""The API's error responses: every ``ApiError`` (controller/core/errors.py), request
validation error and HTTP error becomes ``{"error": {"code", "message", "field"}}``."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.dependencies.models import Dependant
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.openapi.utils import get_openapi
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.routing import APIRoute, iter_route_contexts
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Route, compile_path

from controller.api import openapi_text
from controller.core.errors import ApiError, error_body
from controller.core.messages import error_message


class ErrorDetail(BaseModel):
    code: str
    message: str
    field: str | None = None
    details: Any = None


class ErrorOut(BaseModel):
    """The one error answer: a stable ``code`` (docs/api.md), a sentence, the field at fault."""

    error: ErrorDetail


#: What each error status means, as the OpenAPI document says it.
ERROR_STATUSES: dict[int, str] = {
    400: "malformed_json: the body is not JSON",
    401: "unauthorized: no valid token or session",
    403: "forbidden / csrf / outside_zone: not allowed to do this",
    404: "not found: an id in the path or body names no row",
    409: "conflict: the state forbids it (already done, clash, taken)",
    413: "body_too_large",
    415: "cap_content_type: a pushed CAP alert's content type is not CAP or XML",
    410: "join_code_used / join_code_expired / join_code_revoked",
    422: "invalid_request (or a rule of the data): the request breaks a rule",
    503: "wheel_unavailable / cap_signing_unavailable: a file the answer needs is missing",
}

#: Statuses a route answers beyond its shape's (route name: statuses).
EXTRA_STATUSES: dict[str, set[int]] = {
    "redeem_join_code": {404, 410},
    "node_wheel": {404, 503},
    "get_media": {404},
    "get_cap_alert": {404, 503},
    "push_cap": {404, 413, 415},
}


#: Refusals that only this controller's data, configuration or clock can decide, or a rule
#: JSON Schema cannot say (a host name IDNA refuses) (issue 19): a request its schema calls
#: valid may still get one of these 422 codes, which the document lists on the operation's
#: 422 answer (``x-data-refusals``). Route name: codes. ``get_node_uptime``: a period longer
#: than 366 days or ending before it starts, ``until`` being now by default.
_SPEECH = ("engine_unavailable", "unknown_voice", "render_failed", "text_too_long")
#: The stream's host and the health check (unless ``accept_unhealthy``).
_STREAM = (
    "stream_target_forbidden",
    "stream_bad_url",
    "stream_unreachable",
    "stream_wrong_type",
    "stream_stalled",
)
#: A CAP source's settings that only the data decide (a PEM, the official it acts as; on PUT a
#: feed's URL and whether a certificate is there, the kind and certificate being the stored
#: source's).
_CAP_SOURCE = ("cap_source_bad_cert", "cap_source_user_role")
DATA_REFUSALS: dict[str, tuple[str, ...]] = {
    "create_announcement": _SPEECH,
    "edit_announcement": _SPEECH,
    "submit_announcement": ("render_failed",),
    "approve_announcement": ("render_failed",),
    "announcement_audio": ("render_failed",),
    "emergency": ("engine_unavailable", "render_failed", "text_too_long", "no_nodes"),
    "create_broadcast": ("no_nodes", "in_past", "too_far_ahead"),
    "check_broadcast": ("no_nodes", "in_past", "too_far_ahead"),
    "create_source": _STREAM,
    "update_source": _STREAM,
    "get_node_uptime": ("invalid_request",),
    "create_relay": ("no_nodes", "in_past", "too_far_ahead", *_STREAM),
    # CAP alerts in (controller/api/cap.py): a document's own faults, a source's settings
    "push_cap": (
        "cap_malformed",
        "cap_entities",
        "cap_schema",
        "cap_signature_missing",
        "cap_signature_invalid",
    ),
    "cap_source_create": _CAP_SOURCE,
    "cap_source_update": ("cap_source_bad_url", "cap_source_cert_required", *_CAP_SOURCE),
}


def _uses(dependant: Dependant, names: set[str]) -> bool:
    return any(
        getattr(d.call, "__name__", "") in names or _uses(d, names) for d in dependant.dependencies
    )


def route_error_statuses(route: APIRoute) -> list[int]:
    """The error statuses a route can answer, from its shape: 401/403 when it asks who is
    asking; 400/413 with a JSON body; 404 with an id in its path or body; 409 when it
    changes something; 422 for any parameter or body (and for rules of the data)."""
    statuses = {422}
    if _uses(route.dependant, {"require_official", "require_media_reader"}):
        statuses |= {401, 403}
    has_body = route.body_field is not None
    if has_body:
        statuses |= {400, 404, 413}
    if route.dependant.path_params:
        statuses.add(404)
    if (route.methods or set()) - {"GET", "HEAD", "OPTIONS"}:
        statuses.add(409)
    statuses |= EXTRA_STATUSES.get(route.name, set())
    return sorted(statuses)


def document(app: FastAPI) -> None:
    """The OpenAPI document declares on every API operation the error statuses it can answer
    (``route_error_statuses``, all with ``ErrorOut``), and the bearer token as its security
    scheme. Call after the routers are included."""

    routes: dict[tuple[str, str], str] = {}  # (path, method) → route name, for openapi_text
    languages: dict[str, dict[str, Any]] = {}

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            doc = get_openapi(title=app.title, version=app.version, routes=app.routes)
            components = doc.setdefault("components", {})
            schemas = components.setdefault("schemas", {})
            model = ErrorOut.model_json_schema(ref_template="#/components/schemas/{model}")
            schemas.update(model.pop("$defs", {}))
            schemas["ErrorOut"] = model
            components["securitySchemes"] = {"bearer": {"type": "http", "scheme": "bearer"}}
            ref = {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorOut"}}}
            for context in iter_route_contexts(app.routes):
                route = context.original_route
                if not isinstance(route, APIRoute) or not route.include_in_schema:
                    continue
                statuses = route_error_statuses(route)
                for method in route.methods or ():
                    routes[(str(context.path_format), method.lower())] = route.name
                    operation = doc["paths"][context.path_format][method.lower()]
                    responses = operation.setdefault("responses", {})
                    for status in statuses:
                        described = {"description": ERROR_STATUSES[status], "content": ref}
                        responses[str(status)] = described
                    refusals = DATA_REFUSALS.get(route.name)
                    if refusals:
                        responses["422"] = {
                            **responses["422"],
                            "description": f"{ERROR_STATUSES[422]}; this controller's data or "
                            f"configuration decides: {', '.join(refusals)}",
                            "x-data-refusals": list(refusals),
                        }
                    if 401 in statuses:
                        operation["security"] = [{"bearer": []}]
            _bound_integers(doc)
            for lang in openapi_text.LANGUAGES:
                languages[lang] = openapi_text.translate(doc, routes, lang, ERROR_STATUSES)
            app.openapi_schema = languages[openapi_text.DEFAULT_LANGUAGE]
        return app.openapi_schema

    def openapi_in(lang: str) -> dict[str, Any]:
        openapi()
        return languages[lang]

    app.openapi = openapi  # type: ignore[method-assign]
    app.state.openapi_in = openapi_in

    async def openapi_document(request: Request) -> JSONResponse:
        """The document in Vietnamese, or in English with ``?lang=en`` or an
        ``Accept-Language`` that prefers English (openapi_text.language)."""
        lang = openapi_text.language(
            request.query_params.get("lang"), request.headers.get("accept-language")
        )
        return JSONResponse(
            openapi_in(lang), headers={"Content-Language": lang, "Vary": "Accept-Language"}
        )

    async def swagger_ui(request: Request) -> HTMLResponse:
        """The interactive docs; ``?lang=en`` asks for the English document."""
        url = str(app.openapi_url)
        lang = request.query_params.get("lang")
        if lang in openapi_text.LANGUAGES:
            url += f"?lang={lang}"
        return get_swagger_ui_html(openapi_url=url, title=f"{app.title} - Swagger UI")

    for index, existing in enumerate(app.router.routes):
        path = getattr(existing, "path", None)
        if path == app.openapi_url:
            app.router.routes[index] = Route(
                str(path), openapi_document, include_in_schema=False, name="openapi"
            )
        elif path == app.docs_url and app.docs_url:
            app.router.routes[index] = Route(
                str(path), swagger_ui, include_in_schema=False, name="swagger_ui_html"
            )


#: SQLite integers are 64-bit: a larger number is answered 422 (``_overflow`` below).
INT64 = (-(2**63), 2**63 - 1)


def _bound_integers(node: Any) -> None:
    """Every integer in the document says the 64-bit range the database can hold."""
    if isinstance(node, dict):
        if node.get("type") == "integer":
            node.setdefault("minimum", INT64[0])
            node.setdefault("maximum", INT64[1])
        for value in node.values():
            _bound_integers(value)
    elif isinstance(node, list):
        for value in node:
            _bound_integers(value)


def allowed_methods(request: Request) -> list[str]:
    """Every method some route of this path answers (a path's methods may be split over
    several routes; Starlette's 405 names only the first one's)."""
    methods: set[str] = set()
    path = request.scope.get("path", "")
    for context in iter_route_contexts(request.app.routes):
        route_methods = getattr(context.original_route, "methods", None)
        if route_methods and context.path and compile_path(context.path)[0].match(path):
            methods |= route_methods
    return sorted(methods)


def install(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError) -> JSONResponse:
        body = error_body(exc.code, exc.message, exc.field)
        if exc.details is not None:
            body["error"]["details"] = exc.details
        return JSONResponse(body, status_code=exc.status)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = exc.errors()
        first = errors[0] if errors else {}
        if first.get("type") == "json_invalid":
            return JSONResponse(
                error_body("malformed_json", error_message("malformed_json")), status_code=400
            )
        loc = [str(p) for p in first.get("loc", ()) if p != "body"]
        field = ".".join(loc) or None
        detail = first.get("msg", "")
        body = error_body("invalid_request", f"{error_message('invalid_request')} {detail}", field)
        body["error"]["details"] = [
            {"field": ".".join(str(p) for p in e.get("loc", ()) if p != "body"), "msg": e["msg"]}
            for e in errors
        ]
        return JSONResponse(body, status_code=422)

    @app.exception_handler(OverflowError)
    async def _overflow(request: Request, exc: OverflowError) -> JSONResponse:
        # A number no database row can have (SQLite integers are 64-bit): nothing matches it.
        return JSONResponse(
            error_body("invalid_request", f"{error_message('invalid_request')} {exc}"),
            status_code=422,
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {401: "unauthorized", 403: "forbidden", 404: "not_found"}.get(
            exc.status_code, "invalid_request"
        )
        headers = dict(getattr(exc, "headers", None) or {})
        if exc.status_code == 405:
            headers["Allow"] = ", ".join(allowed_methods(request))
        return JSONResponse(
            error_body(code, error_message(code)),
            status_code=exc.status_code,
            headers=headers or None,
        )
