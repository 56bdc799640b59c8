"""Build the FastAPI application around a Runtime: the one place that includes every router
(API, pages, streams, /metrics) and wires the services (stream hubs, live sessions) to it."""

from __future__ import annotations

import logging
import os
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from starlette.middleware.sessions import SessionMiddleware
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from audio.upload import MAX_UPLOAD_BYTES
from controller.api import announcements as api_announcements
from controller.api import broadcasts as api_broadcasts
from controller.api import broker_auth as api_broker_auth
from controller.api import cap as api_cap
from controller.api import cap_feed as api_cap_feed
from controller.api import deps, errors, metrics
from controller.api import fleet as api_fleet
from controller.api import media as api_media
from controller.api import officials as api_officials
from controller.api import reports as api_reports
from controller.api import streams as api_streams
from controller.api import voices as api_voices
from controller.api import zones as api_zones
from controller.api.nodes import node_files_router
from controller.api.nodes import router as nodes_router
from controller.api.request_limits import BodyLimit
from controller.core.client_address import ClientAddress
from controller.core.settings import Settings
from controller.domain import voices
from controller.services.cap_feeds import CapFeeds
from controller.services.hubs import StreamService
from controller.services.listening import ListeningQueue
from controller.services.live import LiveManager
from controller.services.runtime import Runtime
from controller.web import admin as web_admin
from controller.web import announcements as web_announcements
from controller.web import cap as web_cap
from controller.web import common as web_common
from controller.web import emergency as web_emergency
from controller.web import fleet as web_fleet
from controller.web import live as web_live
from controller.web import public as web_public
from controller.web import schedule as web_schedule
from controller.web import session as web
from controller.web import streams as web_streams
from controller.web import voicebank as web_voicebank
from controller.web import voices as web_voices

log = logging.getLogger("controller.api_streams")  # where the live recovery logged


def session_secret(path: Path) -> str:
    if path.exists():
        return path.read_text().strip()
    secret = secrets.token_urlsafe(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(secret)
    return secret


def create_app(settings: Settings, *, start_services: bool = True) -> FastAPI:
    runtime = Runtime(settings)
    voices.apply(runtime.store.db)  # the cloud voices' accounts an admin stored

    streams = StreamService(runtime.store, runtime.settings)
    live = LiveManager(runtime, streams)
    runtime.on_cancelled.append(live.cancelled)  # a cancelled live broadcast ends its session
    listening_queue = ListeningQueue(runtime.store, settings.media_dir)
    cap_feeds = CapFeeds(runtime)  # CAP feeds polled, CAP emergencies repeated (issue 16)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if start_services:
            runtime.start()
            cap_feeds.start()
            if settings.listening_check and not listening_queue.start():
                log.info("machine listening check not installed (viet-asr): not checking speech")
        try:
            if runtime.scheduler.running:  # services started (not the unit tests' bare app)
                ended = live.recover()
                if ended:
                    log.warning("%d live sessions ended by the restart", ended)
                streams.start()
            try:
                yield
            finally:
                streams.stop()
        finally:
            listening_queue.stop()
            if start_services:
                cap_feeds.stop()
                runtime.stop()

    app = FastAPI(
        title="Loa controller",
        version="1",
        openapi_url="/api/v1/openapi.json",
        docs_url="/api/v1/docs",
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.runtime = runtime
    app.state.streams = streams
    app.state.live = live
    app.state.listening = listening_queue
    app.state.cap_feeds = cap_feeds
    # Inside the session middleware, so it knows who is signed in (uploads: the larger limit).
    app.add_middleware(
        BodyLimit,
        max_body_bytes=settings.max_body_bytes,
        max_upload_bytes=MAX_UPLOAD_BYTES,
        signed_in=lambda connection: deps.official(connection) is not None,
    )
    app.add_middleware(
        SessionMiddleware,
        secret_key=session_secret(settings.secret_path),
        session_cookie="loa_session",
        same_site="strict",
        https_only=settings.base_url.startswith("https://"),
        max_age=12 * 3600,
    )
    # The client's address for the audit log (inside the proxy middleware, which sets it).
    app.add_middleware(ClientAddress)
    if settings.trusted_proxies:
        # The client's address (sign-in limits, audit) from X-Forwarded-For, but only when the
        # connection comes from one of these proxies; otherwise the connection's own address.
        app.add_middleware(ProxyHeadersMiddleware, trusted_hosts=list(settings.trusted_proxies))
    errors.install(app)
    web_common.install(app)
    # The order is the order routes match in (tests/controller/test_api_surface.py keeps it).
    app.include_router(api_announcements.router)
    app.include_router(api_broadcasts.router)  # and /emergency
    app.include_router(api_zones.router)  # zones and the node list
    app.include_router(api_reports.router)  # and /audit
    app.include_router(api_officials.router)  # users and tokens
    app.include_router(api_media.router)
    app.include_router(web.router)  # sign-in, language, dashboard
    app.include_router(web_announcements.router)  # and the approval queue
    app.include_router(web_schedule.router)  # and one broadcast's page
    app.include_router(web_emergency.router)
    app.include_router(web_public.router)
    app.include_router(web_fleet.router)
    app.include_router(web_admin.router)
    app.include_router(web_streams.router)
    app.include_router(nodes_router)
    app.include_router(node_files_router)  # /node/install.sh and the loa wheel
    app.include_router(api_fleet.router)
    app.include_router(metrics.router)
    app.include_router(api_broker_auth.router)  # /broker/… for an MQTT cluster
    app.include_router(api_streams.router)  # relays, live speech (docs/streams.md)
    app.include_router(api_streams.stream_router)  # /streams/… for nodes and Icecast
    app.include_router(web_live.router)
    app.include_router(api_voices.router)  # the cloud voices' accounts
    app.include_router(web_voices.router)  # Giọng đọc
    app.include_router(web_voicebank.router)  # Giọng xã
    app.include_router(api_cap.router)  # CAP alerts in: push, sources, policy (issue 16)
    app.include_router(web_cap.router)  # Cảnh báo CAP: /cap, /cap/policy
    app.include_router(api_cap_feed.router)  # Loa's own CAP feed, public (issue 16)
    errors.document(app)  # every API route's error answers, the bearer scheme (issue 19)
    app.mount("/static", StaticFiles(directory=Path(__file__).parent / "static"), name="static")
    return app
