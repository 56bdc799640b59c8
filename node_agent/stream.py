"""Streams on the node: a relay (tiếp sóng) or live speech read over HTTP with the node's token.

``pump`` reads the stream and hands each chunk to a sink (a player's stdin, or the file sink).
Within a relay's window it reconnects when the stream drops or stalls (no bytes for
``STALL_S``), and stops exactly at the window's end. A live stream ends when the controller
ends it (a clean end of the HTTP body), when the session is gone (404), or when no audio has
arrived for ``LIVE_SILENCE_S``: no speaker is left open on silence. A relay that brings no audio
for ``RELAY_GIVE_UP_S`` is given up too.

What was received is counted in ``StreamStats`` (bytes, seconds with audio flowing,
interruptions), which the engine reports in ``play.finished``.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field

log = logging.getLogger(__name__)

CHUNK = 4096
#: No bytes for this long while connected: the stream stalled; reconnect.
STALL_S = 2.0
#: Live: no audio for this long (connected or not) ends the play.
LIVE_SILENCE_S = 6.0
#: Relay: no audio for this long ends the play before the window does.
RELAY_GIVE_UP_S = 30.0
RECONNECT_MIN_S = 0.2
RECONNECT_MAX_S = 2.0
CONNECT_TIMEOUT_S = 3.0
#: A relay's stream is opened this long before its window, so it sounds at the window's start.
PREOPEN_S = 3.0  # plus 0-2 s spread by node id (engine)
#: A pre-opened stream that no play takes within this long is closed.
PREOPEN_KEEP_S = 15.0
PREOPEN_RETRY_S = 0.3
#: Of what a pre-opened stream brought in, only this much recent audio is played.
PREOPEN_FRESH_S = 0.25
#: Content types a node plays; anything else (an HTML error page, say) is refused.
AUDIO_TYPES = ("audio/", "application/ogg", "application/octet-stream")


#: The stream refused the node's token: retrying will not help.
REFUSED = (401,)
#: The stream is not there (a live session that ended).
GONE = (404, 410)


def _said(exc: urllib.error.HTTPError) -> str:
    """The start of an HTTP error's text body, for the reason reported."""
    try:
        text = exc.read(200).decode("utf-8", "replace").strip()
    except Exception:
        return ""
    return f" ({text[:80]})" if text and "<" not in text else ""


class StreamRefused(Exception):
    """The stream cannot play and retrying will not help (wrong type, forbidden, gone)."""


@dataclass
class StreamStats:
    bytes: int = 0
    #: Seconds from the first audio to the end, minus the time spent with no audio.
    played_s: float = 0.0
    #: Drops and stalls after audio had started, each followed by a reconnect attempt.
    interruptions: int = 0
    first_audio_at: float | None = None
    last_error: str | None = None
    notes: list[str] = field(default_factory=list)

    def summary(self) -> str:
        return (
            f"{self.played_s:.1f}s played, {self.bytes} bytes, {self.interruptions} interruptions"
            + (f"; last error: {self.last_error}" if self.last_error else "")
        )


class _Reader:
    """One HTTP connection read in a thread into a queue: chunks, then None (clean end) or an
    exception. Abandoned readers exit at their next socket timeout."""

    def __init__(self, url: str, token: str, keep_s: float | None = None):
        self.url = url
        self.token = token
        self.q: queue.Queue[tuple[float, bytes] | BaseException | None] = queue.Queue(maxsize=1024)
        self.abandoned = False
        #: Pre-opened: closed unless a play takes it by then.
        self.adopt_by = time.monotonic() + keep_s if keep_s is not None else None
        self.content_type = ""
        self.ready = threading.Event()
        self.open_error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, name="stream-reader", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        req = urllib.request.Request(self.url, headers={"Icy-MetaData": "0"})
        if self.token:
            req.add_header("Authorization", f"Bearer {self.token}")
        while True:
            try:
                resp = urllib.request.urlopen(req, timeout=CONNECT_TIMEOUT_S)
                break
            except BaseException as exc:
                # pre-opened and not yet taken: the stream may not be up yet; try again (but a
                # refused token stays refused)
                if (
                    self.adopt_by is not None
                    and not self.abandoned
                    and time.monotonic() < self.adopt_by
                    and not (isinstance(exc, urllib.error.HTTPError) and exc.code in REFUSED)
                ):
                    time.sleep(PREOPEN_RETRY_S)
                    continue
                self.open_error = exc
                self.ready.set()
                return
        self.content_type = resp.headers.get("Content-Type", "") or ""
        self.ready.set()
        try:
            with resp:
                while not self.abandoned:
                    if self.adopt_by is not None and time.monotonic() > self.adopt_by:
                        return
                    chunk = resp.read1(CHUNK)  # a timeout ends this reader: the play reconnects
                    if not chunk:
                        self.q.put(None)
                        return
                    self.q.put((time.monotonic(), chunk))
        except BaseException as exc:
            self.q.put(exc)

    def close(self) -> None:
        self.abandoned = True


_preopened: dict[str, _Reader] = {}
_preopened_lock = threading.Lock()


def preopen(url: str, token: str) -> None:
    """Open a relay's stream ahead of its window (the engine calls this ``PREOPEN_S`` before)."""
    with _preopened_lock:
        for key, old in list(_preopened.items()):
            if old.abandoned or (old.adopt_by or 0) < time.monotonic():
                old.close()
                del _preopened[key]
        if url not in _preopened:
            _preopened[url] = _Reader(url, token, keep_s=PREOPEN_KEEP_S)


def _take_preopened(url: str) -> _Reader | None:
    """A pre-opened reader for ``url``, with what it buffered cut to the freshest audio."""
    with _preopened_lock:
        reader = _preopened.pop(url, None)
    if reader is None or reader.abandoned or reader.open_error is not None:
        return None
    reader.adopt_by = None
    fresh = time.monotonic() - PREOPEN_FRESH_S
    kept: list[tuple[float, bytes] | BaseException | None] = []
    while True:
        try:
            item = reader.q.get_nowait()
        except queue.Empty:
            break
        if not isinstance(item, tuple):  # it already ended or failed: open afresh
            reader.close()
            return None
        if item[0] >= fresh:
            kept.append(item)
    for item in kept:
        reader.q.put(item)
    return reader


def _open(url: str, token: str, stop: threading.Event) -> _Reader:
    reader = _take_preopened(url) or _Reader(url, token)
    while not reader.ready.wait(0.05):
        if stop.is_set():
            reader.close()
            raise InterruptedError
    if reader.open_error is not None:
        exc = reader.open_error
        if isinstance(exc, urllib.error.HTTPError):
            if exc.code in (*REFUSED, *GONE):
                raise StreamRefused(f"HTTP {exc.code} from the stream")
            # 403 from Icecast: "busy, please try again later" (too many listeners awaiting
            # authentication at once) or the mount is full; 5xx: try again
            raise OSError(f"HTTP {exc.code} from the stream{_said(exc)}")
        if isinstance(exc, OSError):
            raise exc
        raise OSError(str(exc))
    ctype = reader.content_type.split(";")[0].strip().lower()
    if ctype and not ctype.startswith(AUDIO_TYPES):
        reader.close()
        raise StreamRefused(f"wrong content type {ctype!r}: not an audio stream")
    return reader


def pump(
    url: str,
    token: str,
    until: float | None,
    live: bool,
    stop: threading.Event,
    write: Callable[[bytes], None],
    on_started: Callable[[float], None],
    stats: StreamStats,
    clock: Callable[[], float] = time.time,
) -> bool:
    """Read the stream into ``write`` until ``until`` (relay) or its end (live).

    True when it ran to its end, False when ``stop`` was set. Raises StreamRefused when it
    cannot play at all, or TimeoutError when no audio came for too long.
    """
    silence_limit = LIVE_SILENCE_S if live else RELAY_GIVE_UP_S
    last_audio = clock()
    backoff = RECONNECT_MIN_S
    flowing_since: float | None = None

    last_chunk = clock()

    def account(now: float) -> None:
        nonlocal flowing_since
        if flowing_since is not None:
            stats.played_s += max(0.0, now - flowing_since)
            flowing_since = None

    try:
        while True:
            now = clock()
            if stop.is_set():
                return False
            if until is not None and now >= until:
                return True
            if now - last_audio > silence_limit:
                raise TimeoutError(f"no audio for {silence_limit:.0f}s")
            try:
                reader = _open(url, token, stop)
            except InterruptedError:
                return False
            except StreamRefused as exc:
                stats.last_error = str(exc)
                if live and stats.first_audio_at is not None:
                    return True  # the live session ended while we were reconnecting
                raise
            except OSError as exc:
                stats.last_error = f"connect: {exc}"
                wait = min(backoff, max(0.0, (until - now) if until else backoff))
                backoff = min(backoff * 2, RECONNECT_MAX_S)
                if stop.wait(wait):
                    return False
                continue
            try:
                last_chunk = clock()
                while True:
                    now = clock()
                    if stop.is_set():
                        return False
                    if until is not None and now >= until:
                        return True
                    wait = 0.05 if until is None else max(0.0, min(0.05, until - now))
                    try:
                        item = reader.q.get(timeout=wait)
                    except queue.Empty:
                        if clock() - last_chunk > STALL_S:
                            stats.last_error = f"stalled: no data for {STALL_S:.0f}s"
                            break
                        continue
                    if item is None:  # the server ended the body cleanly
                        if live:
                            return True
                        stats.last_error = "the stream ended within the window"
                        break
                    if isinstance(item, BaseException):
                        stats.last_error = f"read: {item}"
                        break
                    chunk = item[1]
                    now = clock()
                    write(chunk)
                    stats.bytes += len(chunk)
                    last_chunk = last_audio = now
                    backoff = RECONNECT_MIN_S
                    if stats.first_audio_at is None:
                        stats.first_audio_at = now
                        on_started(now)
                    if flowing_since is None:
                        flowing_since = now
            finally:
                reader.close()
            # dropped or stalled: audio lasted until its last chunk; count it, and reconnect
            account(min(clock(), last_chunk + 0.1))
            if stats.first_audio_at is not None:
                stats.interruptions += 1
                stats.notes.append(f"{time.strftime('%H:%M:%S')} {stats.last_error}")
            log.warning("stream %s interrupted (%s); reconnecting", url, stats.last_error)
            if stop.wait(min(backoff, RECONNECT_MAX_S)):
                return False
    finally:
        account(clock())
