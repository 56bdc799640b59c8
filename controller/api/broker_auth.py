"""``/broker/…``: what an MQTT cluster asks the controller when a client connects, publishes or
subscribes (docs/operations.md, "A province on an EMQX cluster"; docs/api.md).

Two brokers' documented HTTP contracts, over one check (``controller/domain/broker_access.py``)
and one rule table (``controller/core/broker_rules.py``, which Mosquitto's ACL file is rendered
from too):

- **EMQX 5** (HTTP authenticator and HTTP authorizer): ``POST /broker/emqx/authn`` and
  ``POST /broker/emqx/authz``, a JSON (or form) body the operator configures with EMQX's
  placeholders (``${username}``, ``${password}``, ``${clientid}``, ``${peerhost}``,
  ``${topic}``, ``${action}``); the answer is 200 with ``{"result": "allow"|"deny",
  "is_superuser": false}`` (authentication) or ``{"result": "allow"|"deny"}`` (authorization).
- **mosquitto-go-auth** (HTTP backend): ``POST /broker/mosquitto/user``, ``…/superuser``,
  ``…/acl`` with JSON (``http_params_mode json``, the default) or a form (``form``):
  ``username``, ``password``, ``clientid``, ``topic``, ``acc`` (1 read, 2 write, 3 read and
  write, 4 subscribe). Allowed: 200 ``{"ok": true, "error": ""}``; refused: 403
  ``{"ok": false, "error": "…"}`` — right for its ``status`` and ``json`` response modes
  (``text`` is not supported).

Every request must carry the shared secret (``Settings.broker_auth_secret``) as
``Authorization: Bearer <secret>`` or HTTP Basic with user ``loa-broker``; without one set,
the endpoints refuse everyone (401, which EMQX reads as "ignore" and mosquitto-go-auth as
"refused"). Not in the public REST API's OpenAPI document (``include_in_schema=False``): they
are a broker's callbacks with its own contracts, not an API for officials or integrations.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import logging
import threading
import time
from typing import Any
from urllib.parse import parse_qsl

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from controller.api.deps import runtime_of
from controller.core import broker_files
from controller.core.broker_rules import Action
from controller.core.errors import ApiError
from controller.core.settings import Settings
from controller.domain import broker_access
from controller.domain.broker_access import BrokerAuth, Controller, Verdict

log = logging.getLogger("controller.broker_access")

#: The user name of HTTP Basic (mosquitto-go-auth: ``http_host loa-broker:<secret>@…``).
BASIC_USER = "loa-broker"
#: mosquitto-go-auth's ``acc`` (Mosquitto's ``MOSQ_ACL_*``): what each asks for.
GO_AUTH_ACC: dict[int, tuple[Action, ...]] = {
    1: (Action.READ,),
    2: (Action.PUBLISH,),
    3: (Action.READ, Action.PUBLISH),
    4: (Action.SUBSCRIBE,),
}
#: EMQX's ``${action}``; ``all`` (its rules' word for both) must be allowed both ways.
EMQX_ACTION: dict[str, tuple[Action, ...]] = {
    "publish": (Action.PUBLISH,),
    "subscribe": (Action.SUBSCRIBE,),
    "all": (Action.PUBLISH, Action.SUBSCRIBE),
}

router = APIRouter(prefix="/broker", include_in_schema=False)

_state_lock = threading.Lock()
_refused_logged = [0.0]


def _checker(request: Request, settings: Settings) -> BrokerAuth:
    with _state_lock:
        found = getattr(request.app.state, "broker_auth", None)
        if found is None:
            found = BrokerAuth(settings.broker_auth_cache_s, settings.broker_auth_max_failures)
            request.app.state.broker_auth = found
        return found


def _controller(settings: Settings) -> Controller:
    password = settings.mqtt_password or broker_files.stored_controller_password(settings.data_dir)
    return Controller(settings.mqtt_username, password)


def _secret_given(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer":
        return value.strip()
    if scheme.lower() == "basic":
        try:
            decoded = base64.b64decode(value.strip(), validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            return None
        user, sep, password = decoded.partition(":")
        return password if sep and user == BASIC_USER else None
    return None


def _require_broker(request: Request, settings: Settings) -> None:
    expected = settings.broker_auth_secret
    given = _secret_given(request)
    if expected and given is not None and hmac.compare_digest(expected.encode(), given.encode()):
        return
    now = time.monotonic()
    if now - _refused_logged[0] > 60:  # once a minute: a misconfigured broker asks a lot
        _refused_logged[0] = now
        why = "no broker_auth_secret is set" if not expected else "wrong or missing secret"
        client = request.client.host if request.client else "?"
        log.warning("broker auth: refused a request from %s (%s)", client, why)
    raise ApiError(401, "unauthorized")


async def _fields(request: Request) -> dict[str, Any]:
    """The request's fields: a JSON object, or a form (either broker may send either)."""
    body = await request.body()
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind == "application/x-www-form-urlencoded":
        return dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
    try:
        found = json.loads(body or b"{}")
    except (ValueError, UnicodeDecodeError):
        raise ApiError(400, "malformed_json") from None
    if not isinstance(found, dict):
        raise ApiError(422, "invalid_request")
    return found


def _text(fields: dict[str, Any], name: str) -> str:
    value = fields.get(name)
    if value is None:
        return ""
    return value if isinstance(value, str) else str(value)


def _check_password(request: Request, fields: dict[str, Any]) -> Verdict:
    runtime = runtime_of(request)
    settings = runtime.settings
    return _checker(request, settings).check_password(
        runtime.store.db,
        _text(fields, "username"),
        _text(fields, "password"),
        _controller(settings),
        address=_text(fields, "peerhost"),
        client_id=_text(fields, "clientid") if "clientid" in fields else None,
    )


def _may(request: Request, username: str, actions: tuple[Action, ...], topic: str) -> bool:
    runtime = runtime_of(request)
    controller = Controller(runtime.settings.mqtt_username, None)  # its name is enough here
    db = runtime.store.db
    return bool(actions) and all(
        broker_access.authorize(db, username, action, topic, controller) for action in actions
    )


async def _checked_fields(request: Request) -> dict[str, Any]:
    _require_broker(request, runtime_of(request).settings)
    return await _fields(request)


# --- EMQX ---------------------------------------------------------------------------------------


@router.post("/emqx/authn")
async def emqx_authn(request: Request) -> JSONResponse:
    fields = await _checked_fields(request)
    verdict = await run_in_threadpool(_check_password, request, fields)
    result = "allow" if verdict is Verdict.ALLOW else "deny"
    return JSONResponse({"result": result, "is_superuser": False})


@router.post("/emqx/authz")
async def emqx_authz(request: Request) -> JSONResponse:
    fields = await _checked_fields(request)
    actions = EMQX_ACTION.get(_text(fields, "action").lower(), ())
    ok = await run_in_threadpool(
        _may, request, _text(fields, "username"), actions, _text(fields, "topic")
    )
    return JSONResponse({"result": "allow" if ok else "deny"})


# --- mosquitto-go-auth --------------------------------------------------------------------------


def _go_auth(ok: bool, error: str = "") -> JSONResponse:
    """200 ``{"ok": true}`` or 403 ``{"ok": false, "error": …}``: read alike by its ``status``
    mode (the status alone) and its ``json`` mode (status, then ``ok``)."""
    return JSONResponse({"ok": ok, "error": "" if ok else error}, status_code=200 if ok else 403)


@router.post("/mosquitto/user")
async def mosquitto_user(request: Request) -> JSONResponse:
    fields = await _checked_fields(request)
    verdict = await run_in_threadpool(_check_password, request, fields)
    if verdict is Verdict.LIMITED:
        return _go_auth(False, "too many failed passwords: wait a minute")
    return _go_auth(verdict is Verdict.ALLOW, "wrong user name or password")


@router.post("/mosquitto/superuser")
async def mosquitto_superuser(request: Request) -> JSONResponse:
    await _checked_fields(request)
    return _go_auth(False, "nobody is a superuser")


@router.post("/mosquitto/acl")
async def mosquitto_acl(request: Request) -> JSONResponse:
    fields = await _checked_fields(request)
    try:
        acc = int(fields.get("acc", 0))
    except (TypeError, ValueError):
        acc = 0
    actions = GO_AUTH_ACC.get(acc, ())
    ok = await run_in_threadpool(
        _may, request, _text(fields, "username"), actions, _text(fields, "topic")
    )
    return _go_auth(ok, "not allowed on this topic")
