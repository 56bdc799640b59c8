"""Stream API: stream sources and their health, relay broadcasts, live speech, and the streams
nodes fetch (``/streams/…``, node token as for media). See docs/streams.md."""

from __future__ import annotations

import asyncio
import json
import logging
import urllib.parse
from collections.abc import AsyncIterator
from datetime import date, datetime, time
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Request, WebSocket, WebSocketDisconnect
from fastapi.responses import Response, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool
from starlette.requests import HTTPConnection

import schedules
from controller.api.deps import (
    Official,
    official,
    require_media_reader,
    runtime_of,
)
from controller.api.models import WORDS, Bool, Int, Number, documented
from controller.core.errors import ApiError
from controller.domain import authz, broadcasts, relays
from controller.domain import sources as streams
from controller.domain.identity import Identity
from controller.services.hubs import Hub, StreamService
from controller.services.live import IDLE_S, LiveManager
from loa.protocol import Priority

log = logging.getLogger("controller.api_streams")  # its flat name

router = APIRouter(prefix="/api/v1")
stream_router = APIRouter()


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid")


_runtime = runtime_of


def _service(request: Request | WebSocket) -> StreamService:
    return request.app.state.streams


def _live(request: Request | WebSocket) -> LiveManager:
    return request.app.state.live


# --- stream sources -------------------------------------------------------------------------


class SourceIn(_Request):
    name: str = Field(max_length=200, json_schema_extra=documented(pattern=WORDS))
    url: str = Field(
        max_length=2000, json_schema_extra=documented(pattern=r"^\s*https?://[^/?#\s]+")
    )
    #: Save even when the health check fails (the station may be off the air right now).
    accept_unhealthy: Bool = False


@router.get("/stream-sources", tags=["streams"])
def list_sources(request: Request, who: Official) -> list[dict[str, Any]]:
    return streams.list_sources(_runtime(request).store.db)


@router.post("/stream-sources", status_code=201, tags=["streams"])
def create_source(body: SourceIn, request: Request, who: Official) -> dict[str, Any]:
    """Save a stream source (nguồn tiếp sóng) after checking it: reachable, audio, codec."""
    authz.require(who, "stream.source.write")
    rt = _runtime(request)
    source_id, _ = streams.save_source(
        rt.store,
        who,
        body.name,
        body.url,
        accept_unhealthy=body.accept_unhealthy,
        allowed_hosts=rt.settings.stream_allowed_hosts,
    )
    return streams.get_source(rt.store.db, source_id) or {}


@router.get("/stream-sources/{source_id}", tags=["streams"])
def get_source(source_id: int, request: Request, who: Official) -> dict[str, Any]:
    source = streams.get_source(_runtime(request).store.db, source_id)
    if source is None:
        raise ApiError(404, "stream_source_not_found")
    return source


@router.put("/stream-sources/{source_id}", tags=["streams"])
def update_source(
    source_id: int, body: SourceIn, request: Request, who: Official
) -> dict[str, Any]:
    authz.require(who, "stream.source.write")
    rt = _runtime(request)
    streams.save_source(
        rt.store,
        who,
        body.name,
        body.url,
        source_id=source_id,
        accept_unhealthy=body.accept_unhealthy,
        allowed_hosts=rt.settings.stream_allowed_hosts,
    )
    return streams.get_source(rt.store.db, source_id) or {}


@router.delete("/stream-sources/{source_id}", status_code=204, tags=["streams"])
def delete_source(source_id: int, request: Request, who: Official) -> None:
    """Refused (409 ``stream_source_in_use``, the relays named) while a relay still needs it."""
    authz.require(who, "stream.source.write")
    relays.delete_source(_runtime(request).store, who, source_id)


@router.post("/stream-sources/{source_id}/check", tags=["streams"])
def check_source(source_id: int, request: Request, who: Official) -> dict[str, Any]:
    """Run the health check now: reachable? content type? codec? bitrate?"""
    rt = _runtime(request)
    return streams.recheck_source(rt.store, source_id, rt.settings.stream_allowed_hosts)


# --- relays ---------------------------------------------------------------------------------


class RelayRuleIn(_Request):
    frequency: Literal["daily", "weekdays", "weekly", "monthly"]
    times: list[time] = Field(min_length=1, max_length=24)
    valid_from: date
    valid_until: date | None = None
    weekdays: list[Int] = Field(default_factory=list)
    month_days: list[Int] = Field(default_factory=list)


class RelayIn(_Request):
    stream_source_id: Int
    zone_ids: list[Int] = Field(max_length=1000, json_schema_extra=documented(minItems=1))
    window_s: Number = Field(
        description="how long the relay plays, seconds",
        json_schema_extra=documented(
            minimum=broadcasts.MIN_WINDOW_S, maximum=broadcasts.MAX_WINDOW_S
        ),
    )
    starts_at: datetime | None = Field(default=None, description="one-off, with a UTC offset")
    rrule: str | None = Field(default=None, max_length=2000)
    rule: RelayRuleIn | None = None
    priority: Priority = "normal"
    title: str = Field(default="", max_length=200)
    accept_conflicts: Bool = False
    #: Schedule it even when the source fails its health check (checked again now).
    accept_unhealthy: Bool = False


@router.post("/relays", status_code=201, tags=["streams"])
def create_relay(body: RelayIn, request: Request, who: Official) -> dict[str, Any]:
    """Tiếp sóng: relay a saved stream source to zones for a window, once or recurring.
    An editor's relay is ``approval: pending`` until an approver approves it."""
    rt = _runtime(request)
    rule = None
    if body.rule is not None:
        rule = schedules.RuleSpec(
            frequency=body.rule.frequency,
            times=tuple(body.rule.times),
            valid_from=body.rule.valid_from,
            valid_until=body.rule.valid_until,
            weekdays=tuple(body.rule.weekdays),
            month_days=tuple(body.rule.month_days),
        )
    broadcast_id = broadcasts.create_relay(
        rt.store,
        rt.settings,
        who,
        broadcasts.RelayRequest(
            stream_source_id=body.stream_source_id,
            zone_ids=body.zone_ids,
            window_s=body.window_s,
            starts_at=body.starts_at,
            rrule=body.rrule,
            rule=rule,
            priority=body.priority,
            title=body.title,
            accept_conflicts=body.accept_conflicts,
            accept_unhealthy=body.accept_unhealthy,
        ),
    )
    rt.kick()
    return broadcasts.broadcast_detail(rt.store.db, broadcast_id, who) or {}


@router.post("/relays/{broadcast_id}/approve", tags=["streams"])
def approve_relay(broadcast_id: int, request: Request, who: Official) -> dict[str, Any]:
    """Duyệt tiếp sóng: an approver (or admin) approves an editor's relay; nodes get it then."""
    rt = _runtime(request)
    broadcasts.approve_relay(rt.store, who, broadcast_id)
    rt.kick()
    return broadcasts.broadcast_detail(rt.store.db, broadcast_id, who) or {}


# --- live -----------------------------------------------------------------------------------


class LiveIn(_Request):
    zone_ids: list[Int] = Field(max_length=1000, json_schema_extra=documented(minItems=1))
    title: str = Field(default="", max_length=200)
    priority: Priority = "urgent"


@router.post("/live", status_code=201, tags=["streams"])
def start_live(body: LiveIn, request: Request, who: Official) -> dict[str, Any]:
    """Open a live broadcast; then send the microphone's WebM/Opus to ``ws_path``."""
    return _live(request).create(who, body.zone_ids, body.title, body.priority)


def _own_live(connection: HTTPConnection, who: Identity, broadcast_id: int) -> None:
    """Only an official whose area holds every zone of a live broadcast may speak into it or
    stop it; outside the area it does not exist (404), partly outside is ``outside_area``."""
    db = _runtime(connection).store.db
    row = broadcasts.visible_broadcast(db, who, broadcast_id)
    authz.require_whole_broadcast(db, who, json.loads(row["zone_ids"]))


@router.get("/live/{broadcast_id}", tags=["streams"])
def live_status(broadcast_id: int, request: Request, who: Official) -> dict[str, Any]:
    broadcasts.visible_broadcast(_runtime(request).store.db, who, broadcast_id)
    return _live(request).status(broadcast_id)


@router.post("/live/{broadcast_id}/stop", tags=["streams"])
def stop_live(broadcast_id: int, request: Request, who: Official) -> dict[str, Any]:
    authz.require(who, "broadcast.live")
    _own_live(request, who, broadcast_id)
    manager = _live(request)
    session = manager.session(broadcast_id)
    session.stop_requested.set()
    manager.end(session, "stopped by the official")
    return manager.status(broadcast_id)


@router.websocket("/live/{broadcast_id}/ws")
async def live_socket(ws: WebSocket, broadcast_id: int) -> None:
    """Binary messages: WebM/Opus chunks from MediaRecorder. Text ``stop``: end the broadcast."""
    who = official(ws)
    if who is None or not authz.can(who, "broadcast.live"):
        await ws.close(code=4403, reason="forbidden")
        return
    manager = _live(ws)
    try:
        await run_in_threadpool(_own_live, ws, who, broadcast_id)
        session = await run_in_threadpool(manager.connect, broadcast_id)
    except ApiError as exc:
        await ws.close(code={403: 4403, 404: 4404}.get(exc.status, 4409), reason=exc.code)
        return
    await ws.accept()
    reason = "stopped by the official"
    try:
        while not session.stop_requested.is_set():
            try:
                msg = await asyncio.wait_for(ws.receive(), timeout=IDLE_S)
            except TimeoutError:
                reason = f"no audio from the browser for {IDLE_S:.0f}s"
                break
            if msg["type"] == "websocket.disconnect":
                reason = "the browser disconnected"
                break
            data = msg.get("bytes")
            if data:
                manager.audio(session, data)
            elif msg.get("text") == "stop":
                break
    except WebSocketDisconnect:
        reason = "the browser disconnected"
    finally:
        manager.end(session, reason)
    try:
        await ws.send_json({"ended": True, "reason": reason})
        await ws.close()
    except (RuntimeError, WebSocketDisconnect, OSError):
        pass


# --- streams for nodes ----------------------------------------------------------------------


async def _serve(hub: Hub) -> StreamingResponse:
    listener = hub.subscribe(asyncio.get_running_loop())

    async def body() -> AsyncIterator[bytes]:
        try:
            while True:
                chunk = await listener.queue.get()
                if chunk is None:
                    return
                yield chunk
        finally:
            hub.unsubscribe(listener)

    return StreamingResponse(
        body(),
        media_type="audio/mpeg",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


@stream_router.get("/streams/relay/{source_id}.mp3", tags=["media"], response_model=None)
async def relay_stream(
    source_id: int, request: Request, who: Annotated[Identity, Depends(require_media_reader)]
) -> StreamingResponse:
    hub = await run_in_threadpool(_service(request).relay_hub, source_id)
    if hub is None:
        raise ApiError(404, "stream_source_not_found")
    return await _serve(hub)


@stream_router.get("/streams/live/{broadcast_id}.mp3", tags=["media"], response_model=None)
async def live_stream(
    broadcast_id: int, request: Request, who: Annotated[Identity, Depends(require_media_reader)]
) -> StreamingResponse:
    hub = _service(request).live_hub(broadcast_id)
    if hub is None or hub.ended.is_set():
        raise ApiError(404, "live_not_found")
    return await _serve(hub)


@stream_router.post(streams.ICECAST_AUTH_PATH, tags=["media"], include_in_schema=False)
async def icecast_auth(request: Request) -> Response:
    """Icecast's URL authentication (``listener_add``): a listener of a relay or live mount is
    let in for a token the controller's own stream routes accept (a node's, or an official's
    API token). Icecast must authenticate as ``icecast`` with its source password; the generated
    mount config (``loa controller icecast-mount``) does that."""
    body = (await request.body()).decode("utf-8", "replace")
    form = dict(urllib.parse.parse_qsl(body, keep_blank_values=True))
    db = _runtime(request).store.db
    verdict = await run_in_threadpool(
        streams.icecast_listener, db, form, request.headers.get("authorization", "")
    )
    if verdict.allowed:
        return Response(status_code=200, headers={"icecast-auth-user": "1"})
    log.warning(
        "icecast refused a listener of %s from %s: %s",
        form.get("mount", "?"),
        form.get("ip", "?"),
        verdict.message,
    )
    return Response(status_code=200, headers={"icecast-auth-message": verdict.message})
