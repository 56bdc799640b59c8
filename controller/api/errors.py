"""The API's error responses: every ``ApiError`` (controller/core/errors.py), request
validation error and HTTP error becomes ``{"error": {"code", "message", "field"}}``."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from controller.core.errors import ApiError, error_body
from controller.core.messages import error_message


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
        return JSONResponse(
            error_body(code, error_message(code)),
            status_code=exc.status_code,
            headers=getattr(exc, "headers", None),
        )
