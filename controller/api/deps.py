"""What the API and the pages take from a request: who is asking (an API bearer token, a
signed-in official's session, or a node's media token) and the runtime serving it. It holds
no route, so the web pages may import it too."""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, Request, WebSocket
from starlette.requests import HTTPConnection

from controller.core.errors import ApiError
from controller.domain import fleet, users
from controller.domain.identity import Identity, token_official
from controller.services.runtime import Runtime


def bearer(request: HTTPConnection) -> str | None:
    """The bearer token of the Authorization header; for a WebSocket also ``?access_token=``
    (a browser cannot set headers on one)."""
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    if isinstance(request, WebSocket):
        return request.query_params.get("access_token") or None
    return None


def official(request: HTTPConnection) -> Identity | None:
    """The official behind a request or WebSocket: a bearer token, or the signed-in session."""
    runtime = request.app.state.runtime
    db = runtime.store.db
    token = bearer(request)
    if token:
        return token_official(db, token)
    user_id = request.session.get("user_id") if "session" in request.scope else None
    if user_id:
        user = users.get_user(db, int(user_id))
        # A session ends on the server at sign-out and password change (users.end_sessions).
        if user and users.session_valid(user, request.session.get("sv")):
            # A browser's WebSocket carries the cookie cross-site too: only our own pages count.
            if isinstance(request, WebSocket) and not same_origin(request):
                return None
            return Identity("user", user["display_name"], user["role"], user["id"], user["zone_id"])
    return None


#: Methods that change nothing: no same-origin proof is asked for them.
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def same_origin(request: HTTPConnection) -> bool:
    """Does the request's ``Origin`` header name this controller (the address it was reached
    at, or its configured public URL)?"""
    origin = request.headers.get("origin", "").rstrip("/")
    if not origin:
        return False
    scheme = "https" if request.url.scheme in ("https", "wss") else "http"
    own = {f"{scheme}://{request.headers.get('host', '')}"}
    public_url = request.app.state.runtime.settings.public_url.rstrip("/")
    if public_url:
        own.add("/".join(public_url.split("/")[:3]))
    return origin in own


def session_write_allowed(request: HTTPConnection) -> bool:
    """A state-changing API request authenticated by the session cookie must prove it comes
    from our own pages: the session's CSRF token in ``X-CSRF-Token``, or a same-origin
    ``Origin`` header. Bearer-token requests need neither (a browser never adds the token)."""
    expected = request.session.get("csrf")
    given = request.headers.get("x-csrf-token", "")
    if expected and given and hmac.compare_digest(given, str(expected)):
        return True
    return same_origin(request)


# The two dependencies below are coroutines on purpose: who is asking is two indexed lookups,
# quicker than FastAPI's hop to a worker thread and back for a plain function, and every API
# request asks. Under 50 concurrent clients those hops queued behind each other for the GIL.


async def require_official(request: Request) -> Identity:
    identity = official(request)
    if identity is None:
        raise ApiError(401, "unauthorized")
    if (
        identity.kind == "user"
        and request.method not in SAFE_METHODS
        and not session_write_allowed(request)
    ):
        raise ApiError(403, "csrf")
    return identity


#: A route's parameter for the official (or API token) asking: 401 without one, 403 ``csrf``
#: for a session's write from another origin.
Official = Annotated[Identity, Depends(require_official)]


async def require_media_reader(request: Request) -> Identity:
    """Nodes fetch media with their own token; officials may listen too."""
    token = bearer(request)
    if token:
        node = fleet.node_for_token(request.app.state.runtime.store.db, token)
        if node:
            return Identity("node", node["id"], "node")
    return await require_official(request)


def runtime_of(connection: HTTPConnection) -> Runtime:
    """The Runtime serving this request or WebSocket (set by ``controller.app.create_app``)."""
    runtime: Runtime = connection.app.state.runtime
    return runtime
