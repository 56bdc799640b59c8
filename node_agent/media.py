"""Media: resumable, verified downloads into a cache bounded by size.

A file is fetched with ``Authorization: Bearer <token>`` into ``<sha256>.part`` (resumed with an
HTTP Range request after a dropped connection), its sha256 checked, then renamed atomically to
``<sha256>``. Only a file whose name is its verified hash is ever handed to the player. The cache
evicts least-recently-used files past its size limit, never one that is still scheduled; when the
disk is full it evicts every file no schedule needs (``evict_unneeded``).
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import logging
import os
import random
import sqlite3
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urljoin

from node_agent.store import Store

log = logging.getLogger(__name__)
CHUNK = 64 * 1024


class MediaError(Exception):
    pass


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(CHUNK):
            h.update(chunk)
    return h.hexdigest()


def download(
    url: str, sha256: str, size: int, part: Path, token: str, timeout: float, fsync: bool = True
) -> Path:
    """Fetch ``url`` into ``part`` (resuming what is there); verify; return ``part``.

    Raises MediaError on any failure; a partial file that may still be good is kept for resume,
    a file with the wrong hash is deleted.
    """
    have = part.stat().st_size if part.exists() else 0
    if have > size:
        part.unlink()
        have = 0
    if have < size:
        req = urllib.request.Request(url)
        if token:
            req.add_header("Authorization", f"Bearer {token}")
        if have:
            req.add_header("Range", f"bytes={have}-")
        try:
            with urllib.request.urlopen(req, timeout=timeout) as resp:
                if have and resp.status != 206:
                    have = 0  # server ignored the range: start again
                mode = "ab" if have else "wb"
                with part.open(mode) as f:
                    got = have
                    while chunk := resp.read(CHUNK):
                        got += len(chunk)
                        if got > size:
                            raise MediaError(f"server sent more than the {size} bytes announced")
                        f.write(chunk)
                    f.flush()
                    if fsync:
                        os.fsync(f.fileno())
        except urllib.error.HTTPError as exc:
            if exc.code != 416:
                raise MediaError(f"HTTP {exc.code} from {url}") from exc
        except MediaError:
            part.unlink(missing_ok=True)
            raise
        except (OSError, ValueError) as exc:  # URLError, timeouts, resets, IncompleteRead
            raise MediaError(f"download interrupted: {exc}") from exc
    got = part.stat().st_size if part.exists() else 0
    if got < size:
        raise MediaError(f"short download: {got} of {size} bytes")
    digest = sha256_file(part)
    if digest != sha256:
        part.unlink(missing_ok=True)
        raise MediaError(f"sha256 mismatch: got {digest}")
    return part


class MediaCache:
    """``durable=False`` (a simulation, whose stores skip fsync too) writes files without
    fsync: they need not survive a power cut."""

    def __init__(self, directory: Path, store: Store, max_bytes: int, durable: bool = True):
        self.dir = directory
        self.dir.mkdir(parents=True, exist_ok=True)
        self.store = store
        self.max_bytes = max_bytes
        self.durable = durable

    def path(self, sha256: str) -> Path:
        return self.dir / sha256

    def has(self, sha256: str) -> bool:
        return self.path(sha256).is_file()

    def touch(self, sha256: str) -> None:
        p = self.path(sha256)
        if p.is_file():
            self.store.media_touch(sha256, p.stat().st_size, time.time())

    def admit(self, sha256: str, part: Path) -> Path:
        final = self.path(sha256)
        os.replace(part, final)
        if self.durable:
            _fsync_dir(self.dir)
        self.store.media_touch(sha256, final.stat().st_size, time.time())
        self.evict(self.store.scheduled_media())
        return final

    def used_bytes(self) -> int:
        return sum(size for _, size, _ in self.store.media_entries())

    def evict(self, keep: set[str]) -> list[str]:
        """Remove least-recently-used files until under the limit, sparing ``keep``."""
        entries = self.store.media_entries()
        total = sum(size for _, size, _ in entries)
        evicted = []
        for sha, size, _ in entries:
            if total <= self.max_bytes:
                break
            if sha in keep:
                continue
            for p in self.dir.glob(f"{sha}*"):
                p.unlink(missing_ok=True)
            self.store.media_forget(sha)
            total -= size
            evicted.append(sha)
        return evicted

    def evict_unneeded(self, keep: set[str]) -> int:
        """Remove every cached file not in ``keep`` (the disk is full, whatever the cache's
        limit), and stray partial downloads of them; return the bytes freed."""
        freed = 0
        wanted = set(keep)
        for p in list(self.dir.iterdir()):
            sha = p.name.split(".", 1)[0]
            if sha in wanted or not p.is_file():
                continue
            with contextlib.suppress(OSError):
                size = p.stat().st_size
                p.unlink()
                freed += size
        for sha, _size, _ in self.store.media_entries():
            if sha not in wanted:
                with contextlib.suppress(sqlite3.Error):
                    self.store.media_forget(sha)
        if freed:
            log.warning("disk full: evicted %d bytes of cached media no schedule needs", freed)
        return freed


def _disk_full(exc: BaseException) -> bool:
    """Whether a failed download or cache write ran out of disk space."""
    while exc is not None:
        if isinstance(exc, OSError) and exc.errno == errno.ENOSPC:
            return True
        if isinstance(exc, sqlite3.OperationalError) and "full" in str(exc).lower():
            return True
        exc = exc.__cause__  # type: ignore[assignment]
    return False


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@dataclass
class _Want:
    url: str
    size: int
    attempts: int = 0
    next_try: float = 0.0
    last_error: str = ""


class Fetcher:
    """Downloads wanted media in a background thread, retrying with backoff and jitter.

    ``slots``, when given, is shared by many fetchers (a simulation's thousand nodes): a
    download and its admission into the cache wait for a slot, so only that many run at once
    and the rest wait without competing for the interpreter.
    """

    def __init__(
        self,
        cache: MediaCache,
        token: str,
        base_url: str = "",
        timeout: float = 20.0,
        retry_min_s: float = 1.0,
        retry_max_s: float = 60.0,
        on_ready: Callable[[str], None] | None = None,
        slots: threading.Semaphore | None = None,
    ):
        self.cache = cache
        self.slots = slots
        self.token = token
        self.base_url = base_url
        self.timeout = timeout
        self.retry_min_s = retry_min_s
        self.retry_max_s = retry_max_s
        self.on_ready = on_ready
        self._wants: dict[str, _Want] = {}
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None
        self._stopped = False

    def want(self, sha256: str, url: str, size: int) -> None:
        if self.cache.has(sha256):
            return
        with self._cond:
            if sha256 not in self._wants:
                full = urljoin(self.base_url, url) if self.base_url else url
                self._wants[sha256] = _Want(full, size)
            self._cond.notify_all()
            if not self._stopped and (self._thread is None or not self._thread.is_alive()):
                self._thread = threading.Thread(target=self._run, name="media-fetch", daemon=True)
                self._thread.start()

    def drop_except(self, needed: set[str]) -> None:
        with self._cond:
            for sha in list(self._wants):
                if sha not in needed:
                    del self._wants[sha]

    def last_error(self, sha256: str) -> str:
        with self._cond:
            w = self._wants.get(sha256)
            return w.last_error if w else ""

    def stop(self) -> None:
        with self._cond:
            self._stopped = True
            self._cond.notify_all()

    def _run(self) -> None:
        while True:
            with self._cond:
                while True:
                    if self._stopped or not self._wants:
                        self._thread = None
                        self.cache.store.release()
                        return
                    now = time.monotonic()
                    sha, want = min(self._wants.items(), key=lambda kv: kv[1].next_try)
                    if want.next_try <= now:
                        break
                    self._cond.wait(want.next_try - now)
            self._fetch_one(sha, want)

    def _fetch_one(self, sha: str, want: _Want) -> None:
        part = self.cache.dir / f"{sha}.part"
        try:
            with self.slots or contextlib.nullcontext():
                download(
                    want.url, sha, want.size, part, self.token, self.timeout, self.cache.durable
                )
                self.cache.admit(sha, part)
        except (MediaError, OSError, sqlite3.OperationalError) as exc:
            if _disk_full(exc):
                # make room for the next try: files no schedule needs go first
                with contextlib.suppress(OSError, sqlite3.Error):
                    self.cache.evict_unneeded(self.cache.store.scheduled_media())
            want.attempts += 1
            want.last_error = str(exc)
            delay = min(self.retry_max_s, self.retry_min_s * 2 ** (want.attempts - 1))
            delay *= 1 + random.random() * 0.5
            want.next_try = time.monotonic() + delay
            log.warning(
                "media %s: %s (attempt %d, retry in %.1fs)", sha[:12], exc, want.attempts, delay
            )
            return
        log.info("media %s cached", sha[:12])
        with self._cond:
            self._wants.pop(sha, None)
        if self.on_ready:
            self.on_ready(sha)
