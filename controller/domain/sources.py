"""Stream sources: the saved stations a relay plays, their health (an HTTP/Icecast or HLS
check with ffprobe), Icecast's configuration and its listener check, and the URLs nodes are
sent for a relay or a live session.

For a province, set ``LOA_ICECAST_URL`` (``http://source:PASSWORD@host:port``): every hub
(controller/services/hubs.py) is also published to that Icecast as ``/relay-{id}.mp3`` or
``/live-{id}.mp3``, and nodes are sent the Icecast URL (``LOA_ICECAST_PUBLIC_URL`` if nodes
reach it by another address) so Icecast does the fan-out. The environment is read when the
configuration is needed (``stream_config``), never at import.
"""

from __future__ import annotations

import base64
import contextlib
import hmac
import ipaddress
import json
import logging
import os
import re
import socket
import subprocess
import time
import xml.sax.saxutils
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import unquote, urlsplit

import httpx
import sqlite_utils

from controller.core.db import Store, insert, table
from controller.core.errors import ApiError
from controller.core.settings import Settings
from controller.domain import audit, fleet
from controller.domain.announcements import clean_words
from controller.domain.identity import Identity, token_official
from loa.protocol import to_wire_time, utcnow

log = logging.getLogger("controller.streams")  # its flat name

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


#: The Icecast configuration when set (tests set one); None: read from the environment.
CONFIG: StreamConfig | None = None


def stream_config() -> StreamConfig:
    """The Icecast configuration: ``CONFIG`` when set, else ``LOA_ICECAST_URL`` and
    ``LOA_ICECAST_PUBLIC_URL`` as they are now."""
    return CONFIG if CONFIG is not None else StreamConfig.from_env()


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
    return unquote(urlsplit((config or stream_config()).icecast_url).password or "")


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
    config = stream_config()
    if config.icecast_url:
        return f"{config.icecast_listen_base}/{relay_mount(source_id)}"
    return f"{settings.base_url}/streams/relay/{source_id}.mp3"


def live_url(settings: Settings, broadcast_id: int) -> str:
    config = stream_config()
    if config.icecast_url:
        return f"{config.icecast_listen_base}/{live_mount(broadcast_id)}"
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
    try:  # a host no HTTP client can ask for ("http://º": not IDNA) is a bad URL, not a 500
        httpx.URL(url)
        # nor one no resolver takes (a label over 63 characters, an empty one: "a..b")
        parts.hostname.encode("idna")
    except (httpx.InvalidURL, UnicodeError):
        raise ApiError(422, "stream_bad_url", field="url") from None


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
