"""Stream hubs: the ffmpeg processes that serve relays and live speech to nodes.

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
import http.client
import logging
import os
import queue
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from controller.core.db import Store, table
from controller.core.errors import ApiError
from controller.core.settings import Settings
from controller.domain.sources import is_hls, live_mount, relay_mount, stream_config
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
        config = stream_config()
        if self.icecast_mount and config.icecast_url:
            self._icecast = _IcecastPublisher(config.icecast_url, self.icecast_mount)
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
