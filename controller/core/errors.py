"""API errors: a stable code, an HTTP status, and the Vietnamese message for that code.

Every error response has the shape ``{"error": {"code": "...", "message": "...", "field": ...}}``.
"""

from __future__ import annotations

from typing import Any

from controller.core.messages import ERRORS_EN, error_message, message_locale


class ApiError(Exception):
    def __init__(
        self,
        status: int,
        code: str,
        field: str | None = None,
        *,
        message: str | None = None,
        details: Any = None,
        **params: Any,
    ):
        super().__init__(code)
        self.status = status
        self.code = code
        self.field = field
        # a sentence made for the case is Vietnamese: on an English page the code's own words
        if message and message_locale() == "en" and code in ERRORS_EN:
            message = None
        self.message = message or error_message(code, **params)
        self.details = details


def error_body(code: str, message: str, field: str | None = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "field": field}}
