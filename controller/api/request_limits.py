"""Request bodies are limited before anything parses them (issue 12, finding 8).

Every request may carry at most ``Settings.max_body_bytes`` (forms, JSON: 1 MiB by default).
Only the routes that take an audio upload allow more, and only to a signed-in official: the
upload limit plus room for the form around it. The limit is checked twice: a ``Content-Length``
above it is answered at once, without reading the body; a body sent without one (chunked) is
counted as it streams, and the request ends with 413 as soon as the count passes the limit, so an
anonymous client cannot make the server spool a large body to disk or memory.

The answer is the API's error model: ``413 {"error": {"code": "body_too_large", ...}}``.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable
from typing import Any

from starlette.requests import HTTPConnection
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from controller.core.errors import error_body
from controller.core.messages import error_message

#: Routes whose form carries an audio file (controller/web/announcements.py) or a giọng xã
#: take or bank file (controller/web/voicebank.py).
UPLOAD_ROUTES = re.compile(r"^/(announcements/(new|\d+)|voicebank/(import|[a-z0-9-]+/take))$")
#: Room for the rest of an upload's form (title, text, multipart boundaries).
FORM_ROOM = 256 * 1024


class _BodyTooLarge(Exception):
    pass


class BodyLimit:
    """ASGI middleware: see the module's docstring. ``signed_in(scope)`` says whether the
    request comes from an official (it runs inside the session middleware)."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        max_body_bytes: int,
        max_upload_bytes: int,
        signed_in: Callable[[HTTPConnection], bool],
    ) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.max_upload_bytes = max_upload_bytes
        self.signed_in = signed_in

    def limit_for(self, scope: Scope) -> int:
        upload = scope["method"] == "POST" and UPLOAD_ROUTES.match(scope["path"])
        if upload and self.signed_in(HTTPConnection(scope)):
            return self.max_upload_bytes + FORM_ROOM
        return self.max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(scope)
        declared = _content_length(scope)
        if declared is not None and declared > limit:
            await _too_large(limit)(scope, receive, send)
            return
        received = 0
        over = False
        started = False

        async def counted_receive() -> Message:
            nonlocal received, over
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    over = True
                    raise _BodyTooLarge
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if over:  # whatever the app answers to a cut-off body, the answer is 413
                return
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        with contextlib.suppress(_BodyTooLarge):  # the answer is 413, below
            await self.app(scope, counted_receive, guarded_send)
        if over and not started:
            await _too_large(limit)(scope, receive, send)


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


def _too_large(limit: int) -> Any:
    mb = f"{limit / 1024 / 1024:.3g}"
    body = error_body("body_too_large", error_message("body_too_large", limit=mb))
    return JSONResponse(body, status_code=413, headers={"Connection": "close"})
