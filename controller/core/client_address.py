"""The address of the client whose request is being handled, for the audit log.

A small ASGI middleware (:class:`ClientAddress`) puts the connection's address in a context
variable for the length of each HTTP request; :func:`current` reads it anywhere below (the audit
log fills its address column from it, so no handler has to pass it). Behind a trusted proxy the
address is the one the proxy middleware put in the scope (it wraps this one: see app.py). Work
outside a request (the scheduler, the MQTT link, the command line) has no address: None.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from contextvars import ContextVar
from typing import Any

# ASGI's own shapes, written out: core depends on no web framework (tests/test_layers.py).
Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

_ADDRESS: ContextVar[str | None] = ContextVar("client_address", default=None)


def current() -> str | None:
    """The address of the client of the request being handled; None outside a request."""
    return _ADDRESS.get()


class ClientAddress:
    """ASGI middleware: see the module's docstring."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket") or not scope.get("client"):
            await self.app(scope, receive, send)
            return
        token = _ADDRESS.set(scope["client"][0])
        try:
            await self.app(scope, receive, send)
        finally:
            _ADDRESS.reset(token)
