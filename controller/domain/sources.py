"""Streams: saved stream sources and their health, and the hubs that serve relays and live
speech to nodes.

A **hub** is one ffmpeg process whose output (MP3, CBR) fans out to every listener: for a relay
it reads the source URL (HTTP/Icecast MP3 or AAC, or HLS) and re-encodes it once, so nodes get
one format whatever the station sends; for live speech it reads the browser's WebM/Opus chunks
on stdin and encodes them at a speech bitrate, and writes the recording too. The controller
serves hubs itself at ``/streams/relay/{source_id}.mp3`` and ``/streams/live/{broadcast_id}.mp3``
(nodes authenticate with their token, as for media). For a province, set ``LOA_ICECAST_URL``
(``http://source:PASSWORD@host:port``): every hub is also published to that Icecast as
``/relay-{id}.mp3`` or ``/live-{id}.mp3``, and nodes are sent the Icecast URL
(``LOA_ICECAST_PUBLIC_URL`` if nodes reach it by another address) so Icecast does the fan-out.

Relay hubs start ``HUB_LEAD_S`` before a window opens and stop when no window is open and no
one listens, so a node that connects at the window's start gets audio at once.
"""

from __future__ import annotations

import asyncio
import base64
import collections
import contextlib
import ctypes
import hashlib
import hmac
import http.client
import ipaddress
import json
import logging
import os
import queue
import re
import signal
import socket
import subprocess
import threading
import time
import xml.sax.saxutils
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import httpx
import sqlite_utils

from controller.core.db import Store, insert, table
from controller.core.errors import ApiError
from controller.core.settings import Settings
from controller.domain import audit, fleet
from controller.domain.identity import Identity, token_official
from loa.protocol import to_wire_time, utcnow

log = logging.getLogger("controller.streams")  # its flat name

#: Relay hubs start this long before a window opens.
HUB_LEAD_S = 10.0
#: A hub nobody listens to and no window needs is stopped after this long.
HUB_IDLE_S = 5.0
#: How much recent audio a new listener gets at once (so playback starts without waiting).
BACKLOG_S = 0.5
LISTENER_QUEUE = 256
#: A relay source silent this long has its encoder restarted; so has one that ended.
SOURCE_STALL_S = 3.0
RESTART_DELAY_S = 0.3
RELAY_BITRATE = 64_000
LIVE_BITRATE = 32_000
#: Content types a stream source may answer with.
STREAM_TYPES = (
    "audio/",
    "application/ogg",
    "application/vnd.apple.mpegurl",
    "application/x-mpegurl",
    "video/mp2t",
    "application/octet-stream",
)
#: Content types (and URL endings) of HLS playlists: read in real time by the hub (see relay_argv).
HLS_TYPES = (
    "application/vnd.apple.mpegurl",
    "application/x-mpegurl",
    "audio/mpegurl",
    "audio/x-mpegurl",
)
HLS_SUFFIXES = (".m3u8", ".m3u")
#: Packets ffprobe reads to measure a bitrate the stream does not declare (HLS: ≈1.5 s of AAC).
BITRATE_PACKETS = 64
CHECK_TIMEOUT_S = 5.0
#: A source that sends headers but no audio for this long is reported stalled.
STALL_CHECK_S = 3.0


# --- configuration ----------------------------------------------------------------------------


@dataclass(frozen=True)
class StreamConfig:
    #: ``http://source:PASSWORD@host:port`` of an Icecast to publish hubs to ("" = serve only).
    icecast_url: str = ""
    #: How nodes reach that Icecast ("" = the same address without the credentials).
    icecast_public_url: str = ""

    @classmethod
    def from_env(cls) -> StreamConfig:
        return cls(
            icecast_url=os.environ.get("LOA_ICECAST_URL", ""),
            icecast_public_url=os.environ.get("LOA_ICECAST_PUBLIC_URL", ""),
        )

    @property
    def icecast_listen_base(self) -> str:
        if self.icecast_public_url:
            return self.icecast_public_url.rstrip("/")
        parts = urlsplit(self.icecast_url)
        return f"{parts.scheme}://{parts.hostname}:{parts.port or 8000}"


CONFIG = StreamConfig.from_env()


#: Where Icecast asks the controller whether a listener may have a mount (URL authentication).
ICECAST_AUTH_PATH = "/streams/icecast/auth"
#: The user Icecast authenticates as to that path; its password is Icecast's source password.
ICECAST_AUTH_USER = "icecast"
#: Icecast's own web pages (status, styles): open to all. Every other path (a mount) needs a
#: token.
ICECAST_PAGE = re.compile(r"/(?:[\w-]+/)*(?:[\w-]+\.(?:xsl|css|png|jpg|gif|ico|svg|js|html))?")


def icecast_mount_config(controller_url: str, password: str) -> str:
    """The ``<mount>`` block for icecast.xml that makes Icecast check every listener with the
    controller: a default mount (every mount: ``relay-{id}.mp3``, ``live-{id}.mp3``) with URL
    authentication. Icecast posts each new listener to ``ICECAST_AUTH_PATH`` (as
    ``ICECAST_AUTH_USER`` with ``password``, Icecast's source password), passing on the
    listener's ``Authorization`` header; the controller answers ``icecast-auth-user: 1`` for a
    node token (or an official's API token) that it accepts for its own streams."""

    def attr(value: str) -> str:
        return xml.sax.saxutils.quoteattr(value)

    auth_url = controller_url.rstrip("/") + ICECAST_AUTH_PATH
    return (
        '<mount type="default">\n'
        '  <authentication type="url">\n'
        f'    <option name="listener_add" value={attr(auth_url)}/>\n'
        f'    <option name="username" value={attr(ICECAST_AUTH_USER)}/>\n'
        f'    <option name="password" value={attr(password)}/>\n'
        '    <option name="auth_header" value="icecast-auth-user: 1"/>\n'
        '    <option name="headers" value="authorization"/>\n'
        '    <option name="header_prefix" value="ClientHeader."/>\n'
        "  </authentication>\n"
        "</mount>\n"
    )


def icecast_source_password(config: StreamConfig | None = None) -> str:
    return unquote(urlsplit((config or CONFIG).icecast_url).password or "")


@dataclass(frozen=True)
class IcecastVerdict:
    allowed: bool
    #: Who listens (a node id, an official's name) or why not.
    message: str


def icecast_listener(
    db: sqlite_utils.Database, form: dict[str, str], icecast_auth: str
) -> IcecastVerdict:
    """Icecast's ``listener_add``: may this listener have this mount? ``icecast_auth`` is the
    Authorization header of Icecast's own request (it must carry the source password);
    ``form`` is what Icecast posted: ``mount``, ``user``/``pass`` (the listener's Basic
    credentials) and ``ClientHeader.authorization`` (the listener's Authorization header)."""
    password = icecast_source_password()
    scheme, _, value = icecast_auth.partition(" ")
    try:
        user, _, given = base64.b64decode(value.strip()).decode().partition(":")
    except (ValueError, UnicodeDecodeError):
        user, given = "", ""
    if not (
        password
        and scheme.lower() == "basic"
        and hmac.compare_digest(user.encode(), ICECAST_AUTH_USER.encode())
        and hmac.compare_digest(given.encode(), password.encode())
    ):
        raise ApiError(401, "unauthorized")
    if form.get("action", "listener_add") != "listener_add":
        return IcecastVerdict(True, "not a listener")
    path = urlsplit(form.get("mount", "")).path
    if ICECAST_PAGE.fullmatch(path):
        # the default mount covers every path, Icecast's own web pages too (status-json.xsl)
        return IcecastVerdict(True, f"{path} is a web page")
    header = form.get("ClientHeader.authorization", "")
    h_scheme, _, h_value = header.partition(" ")
    token = h_value.strip() if h_scheme.lower() == "bearer" else ""
    token = token or form.get("pass", "")
    if not token:
        return IcecastVerdict(False, "no token")
    node = fleet.node_for_token(db, token)
    if node is not None:
        return IcecastVerdict(True, f"node {node['id']}")
    who = token_official(db, token)
    if who is not None:
        return IcecastVerdict(True, who.key)
    return IcecastVerdict(False, "unknown or revoked token")


def relay_mount(source_id: int) -> str:
    return f"relay-{source_id}.mp3"


def live_mount(broadcast_id: int) -> str:
    return f"live-{broadcast_id}.mp3"


def relay_url(settings: Settings, source_id: int) -> str:
    """Where nodes fetch a relay of this source."""
    if CONFIG.icecast_url:
        return f"{CONFIG.icecast_listen_base}/{relay_mount(source_id)}"
    return f"{settings.base_url}/streams/relay/{source_id}.mp3"


def live_url(settings: Settings, broadcast_id: int) -> str:
    if CONFIG.icecast_url:
        return f"{CONFIG.icecast_listen_base}/{live_mount(broadcast_id)}"
    return f"{settings.base_url}/streams/live/{broadcast_id}.mp3"


# --- stream sources ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Health:
    reachable: bool
    content_type: str | None = None
    codec: str | None = None
    bitrate: int | None = None
    error: str | None = None
    code: str | None = None  # the API error code when not healthy


def require_public_target(url: str, allowed_hosts: Sequence[str]) -> None:
    """A stream source must not point into the controller's own network: every address its
    host resolves to must be public (not loopback, link-local, private, shared, reserved or
    multicast) unless the host, or a network holding the address, is in ``allowed_hosts``
    (setting ``stream_allowed_hosts``). Else ApiError ``stream_target_forbidden`` (422). A
    host that does not resolve is left to the health check (unreachable)."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    if not host or host in {h.lower() for h in allowed_hosts}:
        return
    networks = []
    for entry in allowed_hosts:
        with contextlib.suppress(ValueError):
            networks.append(ipaddress.ip_network(entry, strict=False))
    try:
        infos = socket.getaddrinfo(host, parts.port or 80, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        return
    for info in infos:
        address = ipaddress.ip_address(str(info[4][0]).split("%")[0])
        if address.is_global and not address.is_multicast:
            continue
        if any(address in network for network in networks):
            continue
        raise ApiError(422, "stream_target_forbidden", field="url")


def _plain_error(exc: httpx.HTTPError) -> str:
    """What a failed connection tells an official: its kind, not the library's raw text (which
    could describe services inside the controller's network)."""
    text = str(exc).lower()
    if isinstance(exc, httpx.TimeoutException):
        return "Timeout: timed out"
    if "refused" in text:
        return "ConnectError: Connection refused"
    if "name or service not known" in text or "name resolution" in text or "nodename" in text:
        return "ConnectError: Name or service not known"
    return f"{type(exc).__name__}: connection failed"


def check_url(
    url: str, timeout: float = CHECK_TIMEOUT_S, *, allowed_hosts: Sequence[str] | None = None
) -> Health:
    """Is the stream there, is it audio, and what is it (ffprobe: codec, bitrate)?

    With ``allowed_hosts`` (the API and web pages always pass the setting), the URL and every
    redirect it leads to must pass :func:`require_public_target` (ApiError otherwise).
    """

    def guard(request: httpx.Request) -> None:
        if allowed_hosts is not None:
            require_public_target(str(request.url), allowed_hosts)

    guard(httpx.Request("GET", url))
    try:
        with (
            httpx.Client(
                timeout=httpx.Timeout(timeout, read=STALL_CHECK_S),
                follow_redirects=True,
                event_hooks={"request": [guard]},
            ) as client,
            client.stream("GET", url, headers={"Icy-MetaData": "0"}) as resp,
        ):
            if resp.status_code >= 400:
                return Health(False, error=f"HTTP {resp.status_code}", code="stream_unreachable")
            ctype = resp.headers.get("content-type", "").split(";")[0].strip().lower()
            if ctype and not ctype.startswith(STREAM_TYPES):
                return Health(
                    False,
                    content_type=ctype,
                    error=f"content type {ctype} is not an audio stream",
                    code="stream_wrong_type",
                )
            got = 0
            deadline = time.monotonic() + STALL_CHECK_S
            for chunk in resp.iter_bytes():
                got += len(chunk)
                if got >= 4096 or time.monotonic() > deadline:
                    break
            if got == 0:
                return Health(False, ctype, error="no audio data", code="stream_stalled")
    except httpx.ReadTimeout:
        return Health(False, error="no data within the timeout", code="stream_stalled")
    except httpx.HTTPError as exc:
        return Health(False, error=_plain_error(exc), code="stream_unreachable")
    probe = _ffprobe(url, timeout * 2)
    if probe is None:
        return Health(False, ctype, error="ffprobe found no audio", code="stream_wrong_type")
    codec, bitrate = probe
    return Health(True, ctype, codec, bitrate)


def _ffprobe(url: str, timeout: float) -> tuple[str, int | None] | None:
    """The first audio stream's codec and bitrate. A stream that does not declare its bitrate
    (HLS: AAC in MPEG-TS segments) is measured over its first ``BITRATE_PACKETS`` packets."""
    data = _ffprobe_json(
        url, timeout, ["-show_entries", "stream=codec_name,bit_rate:format=bit_rate"]
    )
    streams = (data or {}).get("streams") or []
    if not streams:
        return None
    assert data is not None
    rate = streams[0].get("bit_rate") or (data.get("format") or {}).get("bit_rate")
    codec = str(streams[0].get("codec_name"))
    if rate:
        return codec, int(rate)
    return codec, _measured_bitrate(url, timeout)


def _measured_bitrate(url: str, timeout: float) -> int | None:
    """Bits per second of audio in the stream's first packets (container overhead excluded)."""
    data = _ffprobe_json(
        url,
        timeout,
        [
            "-read_intervals",
            f"%+#{BITRATE_PACKETS}",
            "-show_entries",
            "packet=size,duration_time",
        ],
    )
    packets = (data or {}).get("packets") or []
    size = sum(int(p.get("size") or 0) for p in packets)
    seconds = sum(float(p.get("duration_time") or 0) for p in packets)
    if len(packets) < 8 or seconds <= 0:
        return None
    return round(size * 8 / seconds)


def _ffprobe_json(url: str, timeout: float, entries: list[str]) -> dict[str, Any] | None:
    cmd = [
        "ffprobe",
        "-v",
        "error",
        "-rw_timeout",
        str(int(timeout * 1e6)),
        "-select_streams",
        "a:0",
        *entries,
        "-of",
        "json",
        url,
    ]
    try:
        out = subprocess.run(
            cmd, capture_output=True, timeout=timeout, check=False, stdin=subprocess.DEVNULL
        )
    except subprocess.TimeoutExpired:
        return None
    try:
        data = json.loads(out.stdout or b"{}")
    except json.JSONDecodeError:
        return None
    return data if isinstance(data, dict) else None


def is_hls(url: str, content_type: str | None = None) -> bool:
    """An HLS playlist (by its content type, or its URL's ending when the type is unknown)."""
    if content_type:
        ctype = content_type.split(";")[0].strip().lower()
        if ctype in HLS_TYPES:
            return True
    return urlsplit(url).path.lower().endswith(HLS_SUFFIXES)


def _check_url_shape(url: str) -> None:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ApiError(422, "stream_bad_url", field="url")


def get_source(db: sqlite_utils.Database, source_id: int) -> dict[str, Any] | None:
    rows = list(
        db.query("SELECT * FROM stream_sources WHERE id = ? AND deleted_at IS NULL", [source_id])
    )
    return _source_out(rows[0]) if rows else None


def _source_out(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": row["id"],
        "name": row["name"],
        "url": row["url"],
        "created_at": row["created_at"],
        "health": {
            "reachable": None if row["reachable"] is None else bool(row["reachable"]),
            "content_type": row["content_type"],
            "codec": row["codec"],
            "bitrate": row["bitrate"],
            "error": row["error"],
            "checked_at": row["checked_at"],
        },
    }


def list_sources(db: sqlite_utils.Database) -> list[dict[str, Any]]:
    return [
        _source_out(r)
        for r in db.query("SELECT * FROM stream_sources WHERE deleted_at IS NULL ORDER BY name")
    ]


def _health_row(h: Health, now: datetime) -> dict[str, Any]:
    return {
        "reachable": int(h.reachable),
        "content_type": h.content_type,
        "codec": h.codec,
        "bitrate": h.bitrate,
        "error": h.error,
        "checked_at": to_wire_time(now),
    }


def save_source(
    store: Store,
    who: Identity | None,
    name: str,
    url: str,
    *,
    source_id: int | None = None,
    accept_unhealthy: bool = False,
    allowed_hosts: Sequence[str] | None = None,
) -> tuple[int, Health]:
    """Check the URL, then create or update the source. An unreachable or non-audio URL is
    refused (422 with what was found) unless ``accept_unhealthy``; one pointing into the
    controller's network is refused always (``stream_target_forbidden``, see
    :func:`require_public_target`; ``allowed_hosts`` None: not checked, for trusted callers)."""
    from controller.domain.announcements import clean_words

    name = clean_words(name, "name")
    if not name:
        raise ApiError(422, "stream_name_required", field="name")
    url = url.strip()
    _check_url_shape(url)
    health = check_url(url, allowed_hosts=allowed_hosts)
    if not health.reachable and not accept_unhealthy:
        raise ApiError(
            422,
            health.code or "stream_unreachable",
            field="url",
            detail=health.error or "",
            details={"content_type": health.content_type, "error": health.error},
        )
    now = utcnow()
    with store.transaction() as db:
        row = {
            "name": name,
            "url": url,
            "updated_at": to_wire_time(now),
            **_health_row(health, now),
        }
        if source_id is None:
            source_id = insert(
                db,
                "stream_sources",
                {
                    **row,
                    "created_by": who.user_id if who else None,
                    "created_at": row["updated_at"],
                },
            )
            audit.record(db, who, "stream_source.create", "stream_source", source_id, after=row)
        else:
            before = get_source(db, source_id)
            if before is None:
                raise ApiError(404, "stream_source_not_found")
            table(db, "stream_sources").update(source_id, row)
            audit.record(
                db, who, "stream_source.update", "stream_source", source_id, before, after=row
            )
    return source_id, health


def recheck_source(
    store: Store, source_id: int, allowed_hosts: Sequence[str] | None = None
) -> dict[str, Any]:
    """Check a saved source again (any role may); its URL is held to the same target rule as
    when it was saved."""
    source = get_source(store.db, source_id)
    if source is None:
        raise ApiError(404, "stream_source_not_found")
    health = check_url(source["url"], allowed_hosts=allowed_hosts)
    with store.transaction() as db:
        table(db, "stream_sources").update(source_id, _health_row(health, utcnow()))
    return get_source(store.db, source_id) or {}


def require_healthy(
    store: Store, source: dict[str, Any], allowed_hosts: Sequence[str] | None = None
) -> None:
    """A source whose last health check failed is checked again (it may be back on the air);
    still failing: ApiError ``stream_source_unhealthy`` with what the check found."""
    if source["health"]["reachable"]:
        return
    health = recheck_source(store, source["id"], allowed_hosts)["health"]
    if not health["reachable"]:
        raise ApiError(
            422,
            "stream_source_unhealthy",
            field="stream_source_id",
            name=source["name"],
            detail=health["error"] or "",
            details={"content_type": health["content_type"], "error": health["error"]},
        )


def delete_source(store: Store, who: Identity | None, source_id: int) -> None:
    """Remove a source from the list (kept in the database for the play log); refused with
    ``stream_source_in_use`` (naming them) while an active relay's window is still to come."""
    from controller.domain.broadcasts import relays_ahead

    now = utcnow()
    with store.transaction() as db:
        before = get_source(db, source_id)
        if before is None:
            raise ApiError(404, "stream_source_not_found")
        ahead = relays_ahead(db, source_id, now)
        if ahead:
            raise ApiError(
                409,
                "stream_source_in_use",
                relays=", ".join(f"«{r['title']}» (#{r['id']})" for r in ahead),
                details=[{"broadcast_id": r["id"], "title": r["title"]} for r in ahead],
            )
        table(db, "stream_sources").update(source_id, {"deleted_at": to_wire_time(now)})
        audit.record(db, who, "stream_source.delete", "stream_source", source_id, before)


# --- hubs -------------------------------------------------------------------------------------


def _die_with_parent() -> None:  # pragma: no cover - runs in the child
    """The encoder goes when the controller goes (Linux: PR_SET_PDEATHSIG)."""
    with contextlib.suppress(Exception):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)


class _Listener:
    def __init__(self, loop: asyncio.AbstractEventLoop):
        self.loop = loop
        self.queue: asyncio.Queue[bytes | None] = asyncio.Queue(maxsize=LISTENER_QUEUE)
        self.dropped = False

    def offer(self, chunk: bytes | None) -> None:
        """In the loop's thread."""
        if self.dropped:
            return
        try:
            self.queue.put_nowait(chunk)
        except asyncio.QueueFull:  # too slow to keep up: cut it off, it will reconnect
            self.dropped = True
            with contextlib.suppress(asyncio.QueueFull):
                self.queue.get_nowait()
                self.queue.put_nowait(None)


class Hub:
    """One ffmpeg process; its output goes to every listener, an optional recording file and an
    optional Icecast mount."""

    def __init__(
        self,
        key: str,
        argv: list[str],
        *,
        bitrate: int,
        feed: bool = False,
        record_path: Path | None = None,
        icecast_mount: str | None = None,
        restart: bool = False,
    ):
        self.key = key
        self.argv = argv
        self.bitrate = bitrate
        self.feed_input = feed
        self.record_path = record_path
        self.icecast_mount = icecast_mount
        self.restart = restart
        self.proc: subprocess.Popen[bytes] | None = None
        self._lock = threading.Lock()
        self._listeners: dict[asyncio.AbstractEventLoop, set[_Listener]] = {}
        self._backlog: collections.deque[tuple[float, bytes]] = collections.deque()
        self._backlog_bytes = 0
        self._inbox: queue.Queue[bytes | None] = queue.Queue()
        self.bytes_out = 0
        self.bytes_in = 0
        self.started_at = time.time()
        self.first_output_at: float | None = None
        self.last_output = time.monotonic()
        self.last_listener_at = time.time()
        self.ended = threading.Event()
        self.stopping = False
        self.restarts = 0
        self._record: Any = None
        self._icecast: _IcecastPublisher | None = None

    # lifecycle

    def start(self) -> None:
        if self.record_path is not None:
            self.record_path.parent.mkdir(parents=True, exist_ok=True)
            self._record = self.record_path.open("wb")
        if self.icecast_mount and CONFIG.icecast_url:
            self._icecast = _IcecastPublisher(CONFIG.icecast_url, self.icecast_mount)
        self._spawn()
        threading.Thread(target=self._pump, name=f"hub-{self.key}", daemon=True).start()
        if self.restart:
            threading.Thread(target=self._watchdog, name=f"hub-wd-{self.key}", daemon=True).start()
        if self.feed_input:
            threading.Thread(target=self._writer, name=f"hub-in-{self.key}", daemon=True).start()

    def _spawn(self) -> None:
        self.last_output = time.monotonic()
        self.proc = subprocess.Popen(
            self.argv,
            stdin=subprocess.PIPE if self.feed_input else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            preexec_fn=_die_with_parent,
        )

    def feed(self, data: bytes) -> None:
        """Live: a chunk from the browser (WebM/Opus)."""
        self.bytes_in += len(data)
        self._inbox.put(data)

    def end_input(self) -> None:
        """Live: the official stopped; ffmpeg drains and the stream ends cleanly."""
        self._inbox.put(None)

    def stop(self) -> None:
        self.stopping = True
        proc = self.proc
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=3)
            except subprocess.TimeoutExpired:
                proc.kill()

    def _watchdog(self) -> None:
        """A relay source that stops sending without closing: restart the encoder."""
        while not self.ended.wait(0.5):
            proc = self.proc
            if (
                proc is not None
                and proc.poll() is None
                and time.monotonic() - self.last_output > SOURCE_STALL_S
            ):
                log.warning("hub %s: no audio from the source for %.0fs", self.key, SOURCE_STALL_S)
                proc.kill()

    def _writer(self) -> None:
        while True:
            data = self._inbox.get()
            proc = self.proc
            if proc is None or proc.stdin is None:
                return
            try:
                if data is None:
                    proc.stdin.close()
                    return
                proc.stdin.write(data)
                proc.stdin.flush()
            except (BrokenPipeError, ValueError, OSError):
                return

    def _pump(self) -> None:
        backlog_limit = max(1, int(self.bitrate / 8 * BACKLOG_S))
        while True:
            proc = self.proc
            assert proc is not None and proc.stdout is not None
            out = proc.stdout
            while True:
                chunk = out.read1(4096) if hasattr(out, "read1") else out.read(4096)
                if not chunk:
                    break
                self.last_output = time.monotonic()
                if self.first_output_at is None:
                    self.first_output_at = time.time()
                self.bytes_out += len(chunk)
                if self._record is not None:
                    self._record.write(chunk)
                if self._icecast is not None:
                    self._icecast.send(chunk)
                with self._lock:
                    self._backlog.append((time.monotonic(), chunk))
                    self._backlog_bytes += len(chunk)
                    while self._backlog_bytes > backlog_limit and len(self._backlog) > 1:
                        self._backlog_bytes -= len(self._backlog.popleft()[1])
                    loops = list(self._listeners.items())
                for loop, listeners in loops:
                    with contextlib.suppress(RuntimeError):
                        loop.call_soon_threadsafe(_offer_all, list(listeners), chunk)
            proc.wait()
            if self.restart and not self.stopping:
                # the source dropped: try again, nodes see a gap and reconnect if they must
                self.restarts += 1
                log.warning("hub %s: encoder exited %s; restarting", self.key, proc.returncode)
                time.sleep(RESTART_DELAY_S)
                if self.stopping:
                    break
                self._spawn()
                continue
            break
        if self._record is not None:
            self._record.close()
        if self._icecast is not None:
            self._icecast.close()
        with self._lock:
            loops = list(self._listeners.items())
        for loop, listeners in loops:
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(_offer_all, list(listeners), None)
        self.ended.set()

    # listeners

    def subscribe(self, loop: asyncio.AbstractEventLoop) -> _Listener:
        listener = _Listener(loop)
        fresh = time.monotonic() - BACKLOG_S
        with self._lock:
            for at, chunk in self._backlog:  # recent audio only: never replay stale audio
                if at >= fresh:
                    listener.queue.put_nowait(chunk)
            if self.ended.is_set():
                listener.queue.put_nowait(None)
            self._listeners.setdefault(loop, set()).add(listener)
            self.last_listener_at = time.time()
        return listener

    def unsubscribe(self, listener: _Listener) -> None:
        with self._lock:
            self._listeners.get(listener.loop, set()).discard(listener)
            self.last_listener_at = time.time()

    @property
    def listeners(self) -> int:
        with self._lock:
            return sum(len(s) for s in self._listeners.values())


def _offer_all(listeners: list[_Listener], chunk: bytes | None) -> None:
    for listener in listeners:
        listener.offer(chunk)


class _IcecastPublisher:
    """A source client: HTTP PUT to the Icecast mount, the hub's output as the body."""

    def __init__(self, base: str, mount: str):
        self.parts = urlsplit(base)
        self.mount = mount
        self.q: queue.Queue[bytes | None] = queue.Queue(maxsize=1024)
        threading.Thread(target=self._run, name=f"icecast-{mount}", daemon=True).start()

    def send(self, chunk: bytes) -> None:
        with contextlib.suppress(queue.Full):
            self.q.put_nowait(chunk)

    def close(self) -> None:
        with contextlib.suppress(queue.Full):
            self.q.put_nowait(None)

    def _run(self) -> None:
        p = self.parts
        user, password = unquote(p.username or "source"), unquote(p.password or "")
        auth = base64.b64encode(f"{user}:{password}".encode()).decode()
        while True:
            conn = http.client.HTTPConnection(p.hostname or "127.0.0.1", p.port or 8000, timeout=10)
            try:
                conn.putrequest("PUT", f"/{self.mount}", skip_accept_encoding=True)
                conn.putheader("Authorization", f"Basic {auth}")
                conn.putheader("Content-Type", "audio/mpeg")
                conn.putheader("Ice-Public", "0")
                conn.putheader("Ice-Name", self.mount)
                conn.putheader("Expect", "100-continue")
                conn.endheaders()
                while True:
                    chunk = self.q.get()
                    if chunk is None:
                        return
                    conn.send(chunk)
            except OSError as exc:
                log.warning("icecast %s: %s; reconnecting", self.mount, exc)
                time.sleep(0.5)
            finally:
                conn.close()


def relay_argv(url: str, hls: bool = False) -> list[str]:
    """ffmpeg re-encoding a station to the relay format. An HLS playlist is read in real time
    (``-re``): its segments arrive whole, one every few seconds, and ffmpeg would otherwise pass
    each on in one burst and then nothing until the next — silence the hub's watchdog and the
    nodes take for a stalled station. Read in real time, the three segments HLS starts behind
    the live edge become a steady buffer (the relay runs that far behind the station)."""
    return [
        "ffmpeg",
        "-hide_banner",
        "-nostdin",
        "-loglevel",
        "error",
        *(["-re"] if hls else []),
        "-rw_timeout",
        "3000000",
        "-fflags",
        "nobuffer",
        "-probesize",
        "4096",
        "-analyzeduration",
        "0",
        "-i",
        url,
        *_mp3_out(44100, RELAY_BITRATE),
    ]


def live_argv() -> list[str]:
    return [
        "ffmpeg",
        "-hide_banner",
        "-loglevel",
        "error",
        "-fflags",
        "nobuffer",
        "-probesize",
        "1024",
        "-analyzeduration",
        "0",
        "-f",
        "webm",
        "-i",
        "pipe:0",
        *_mp3_out(22050, LIVE_BITRATE),
    ]


def _mp3_out(sample_rate: int, bitrate: int) -> list[str]:
    """What every hub sends nodes: mono MP3 on stdout, each packet flushed at once, no headers
    (a listener may join at any frame)."""
    return [
        "-vn",
        "-ac",
        "1",
        "-ar",
        str(sample_rate),
        "-c:a",
        "libmp3lame",
        "-b:a",
        str(bitrate),
        "-write_xing",
        "0",
        "-id3v2_version",
        "0",
        "-flush_packets",
        "1",
        "-f",
        "mp3",
        "pipe:1",
    ]


@dataclass
class StreamService:
    """The hubs of one controller: relay hubs kept up for open windows, live hubs per session."""

    store: Store
    settings: Settings
    relays: dict[int, Hub] = field(default_factory=dict)
    lives: dict[int, Hub] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _thread: threading.Thread | None = None
    _stop: threading.Event = field(default_factory=threading.Event)
    on_live_ended: Callable[[int], None] | None = None

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="streams", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        with self._lock:
            hubs = [*self.relays.values(), *self.lives.values()]
        for hub in hubs:
            hub.stop()

    def _run(self) -> None:
        while not self._stop.wait(0.5):
            try:
                self.keep_relays()
            except Exception:
                log.exception("relay hubs")

    def open_windows(self, now: datetime) -> dict[int, tuple[str, str | None]]:
        """Sources whose approved relay windows are open (or open within ``HUB_LEAD_S``):
        id → (url, content type found by the last health check). A relay waiting for
        approval opens no connection to its source."""
        db = self.store.db
        rows = db.query(
            "SELECT DISTINCT d.play_at, b.duration_s, s.id, s.url, s.content_type "
            "FROM dispatches d "
            "JOIN broadcasts b ON b.id = d.broadcast_id "
            "JOIN stream_sources s ON s.id = b.stream_source_id "
            "WHERE b.kind = 'relay' AND b.status = 'active' AND b.approved_at IS NOT NULL "
            "AND d.play_at <= ? AND d.play_at >= ?"
            " AND d.state NOT IN ('cancelled')",
            [
                to_wire_time(now + timedelta(seconds=HUB_LEAD_S)),
                to_wire_time(now - timedelta(hours=13)),
            ],
        )
        out: dict[int, tuple[str, str | None]] = {}
        for r in rows:
            end = datetime.fromisoformat(r["play_at"]) + timedelta(seconds=r["duration_s"] or 0)
            if end > now:
                out[r["id"]] = (r["url"], r["content_type"])
        return out

    def keep_relays(self) -> None:
        wanted = self.open_windows(utcnow())
        for source_id, (url, content_type) in wanted.items():
            self.relay_hub(source_id, url, content_type)
        with self._lock:
            idle = [
                (sid, hub)
                for sid, hub in self.relays.items()
                if sid not in wanted
                and hub.listeners == 0
                and time.time() - hub.last_listener_at > HUB_IDLE_S
            ]
            for sid, _ in idle:
                del self.relays[sid]
        for sid, hub in idle:
            log.info("relay hub %s stopped (no window, no listener)", sid)
            hub.stop()

    def relay_hub(
        self, source_id: int, url: str | None = None, content_type: str | None = None
    ) -> Hub | None:
        with self._lock:
            hub = self.relays.get(source_id)
            if hub is not None and not hub.ended.is_set():
                return hub
            if url is None:
                row = list(
                    self.store.db.query(
                        "SELECT url, content_type FROM stream_sources "
                        "WHERE id = ? AND deleted_at IS NULL",
                        [source_id],
                    )
                )
                if not row:
                    return None
                url, content_type = str(row[0]["url"]), row[0]["content_type"]
            hub = Hub(
                f"relay-{source_id}",
                relay_argv(url, hls=is_hls(url, content_type)),
                bitrate=RELAY_BITRATE,
                icecast_mount=relay_mount(source_id),
                restart=True,
            )
            hub.start()
            self.relays[source_id] = hub
            log.info("relay hub %s started for %s", source_id, url)
            return hub

    def live_hub(self, broadcast_id: int) -> Hub | None:
        with self._lock:
            return self.lives.get(broadcast_id)

    def start_live(self, broadcast_id: int) -> Hub:
        with self._lock:
            old = self.lives.get(broadcast_id)
            if old is not None and not old.ended.is_set():
                raise ApiError(409, "live_already_connected")
            hub = Hub(
                f"live-{broadcast_id}",
                live_argv(),
                bitrate=LIVE_BITRATE,
                feed=True,
                record_path=self.settings.data_dir / "live" / f"{broadcast_id}.mp3.part",
                icecast_mount=live_mount(broadcast_id),
            )
            hub.start()
            self.lives[broadcast_id] = hub
            return hub

    def forget_live(self, broadcast_id: int) -> None:
        with self._lock:
            self.lives.pop(broadcast_id, None)


def store_recording(store: Store, settings: Settings, part: Path) -> str | None:
    """Move a live recording into the media store under its sha256; return the hash."""
    if not part.exists() or part.stat().st_size == 0:
        part.unlink(missing_ok=True)
        return None
    h = hashlib.sha256()
    with part.open("rb") as f:
        while chunk := f.read(1 << 16):
            h.update(chunk)
    sha = h.hexdigest()
    size = part.stat().st_size
    target = settings.media_dir / f"{sha}.mp3"
    os.replace(part, target)
    duration = size * 8 / LIVE_BITRATE
    with store.transaction() as db:
        table(db, "media").insert(
            {
                "sha256": sha,
                "bytes": size,
                "duration_s": round(duration, 3),
                "mime": "audio/mpeg",
                "created_at": to_wire_time(utcnow()),
            },
            ignore=True,
        )
    return sha


def main(argv: list[str] | None = None) -> int:
    """``python -m controller.domain.sources icecast-mount [--controller-url URL]``: print the
    ``<mount>`` block to add to icecast.xml (the password is LOA_ICECAST_URL's)."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m controller.domain.sources")
    sub = parser.add_subparsers(dest="command", required=True)
    mount = sub.add_parser("icecast-mount", help="icecast.xml: check listeners with Loa")
    mount.add_argument(
        "--controller-url",
        default="",
        help="how Icecast reaches the controller (default: LOA_PUBLIC_URL or host:port)",
    )
    args = parser.parse_args(argv)
    password = icecast_source_password()
    if not password:
        parser.error("set LOA_ICECAST_URL=http://source:PASSWORD@host:port first")
    url = args.controller_url or Settings.from_env().base_url
    print(icecast_mount_config(url, password), end="")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
