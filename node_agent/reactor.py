"""One network thread that drives any number of MQTT clients with epoll.

paho's own ``loop()`` uses select(), which fails past file descriptor 1024: fine for one agent,
fatal for ``loa node simulate --count 1000``. The reactor uses ``selectors`` (epoll on Linux)
through paho's external-loop API, and owns connecting, keepalive, reconnect timing and the
per-connection tick. A single agent gets a reactor of its own; a simulation shares one.
"""

from __future__ import annotations

import contextlib
import logging
import selectors
import socket
import threading
import time
from typing import Any, Protocol

import paho.mqtt.client as mqtt

log = logging.getLogger(__name__)

TICK_S = 0.25


class Driven(Protocol):
    """What the reactor needs from a connection."""

    client: mqtt.Client
    next_connect: float  # monotonic time of the next connect attempt; inf while connected
    next_tick: float

    def try_connect(self) -> None: ...

    def lost(self, rc: Any) -> None: ...

    def tick(self) -> None: ...


class Reactor:
    def __init__(self, name: str = "mqtt"):
        self.name = name
        self._sel = selectors.DefaultSelector()
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        self._sel.register(self._wake_r, selectors.EVENT_READ, None)
        self._conns: list[Driven] = []
        self._dirty: set[int] = set()
        self._lock = threading.RLock()
        self._stopped = threading.Event()
        self._thread: threading.Thread | None = None
        self._socks: dict[int, tuple[socket.socket, Driven, int]] = {}

    # --- called from any thread ------------------------------------------------------------

    def add(self, conn: Driven) -> None:
        c = conn.client
        c.on_socket_open = lambda _c, _u, sock: self._opened(conn, sock)
        c.on_socket_close = lambda _c, _u, sock: self._closed(sock)
        c.on_socket_register_write = lambda _c, _u, sock: self._want(sock)
        c.on_socket_unregister_write = lambda _c, _u, sock: self._want(sock)
        with self._lock:
            self._conns.append(conn)
        self.wake()
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
            self._thread.start()

    def remove(self, conn: Driven) -> None:
        with self._lock:
            if conn in self._conns:
                self._conns.remove(conn)

    def wake(self) -> None:
        with contextlib.suppress(BlockingIOError, OSError):
            self._wake_w.send(b"x")

    def stop(self) -> None:
        self._stopped.set()
        self.wake()
        if self._thread and self._thread is not threading.current_thread():
            self._thread.join(5)

    # --- socket bookkeeping (paho callbacks) ---------------------------------------------

    def _opened(self, conn: Driven, sock: Any) -> None:
        with self._lock:
            self._socks[sock.fileno()] = (sock, conn, 0)
            self._dirty.add(sock.fileno())
        self.wake()

    def _closed(self, sock: Any) -> None:
        with self._lock:
            for fd, (s, _c, mask) in list(self._socks.items()):
                if s is sock:
                    del self._socks[fd]
                    if mask:
                        with contextlib.suppress(KeyError, ValueError, OSError):
                            self._sel.unregister(s)

    def _want(self, sock: Any) -> None:
        with self._lock:
            try:
                self._dirty.add(sock.fileno())
            except OSError:
                return
        self.wake()

    def _update_interest(self, fd: int) -> None:
        entry = self._socks.get(fd)
        if entry is None:
            return
        sock, conn, mask = entry
        want = selectors.EVENT_READ
        if conn.client.want_write():
            want |= selectors.EVENT_WRITE
        if want == mask:
            return
        try:
            if mask:
                self._sel.modify(sock, want, conn)
            else:
                self._sel.register(sock, want, conn)
        except (KeyError, ValueError, OSError):
            return
        self._socks[fd] = (sock, conn, want)

    # --- the loop ------------------------------------------------------------------------

    def _run(self) -> None:
        while not self._stopped.is_set():
            try:
                self._once()
            except Exception:  # the network thread must never die
                log.exception("reactor iteration failed")
                time.sleep(0.1)

    def _once(self) -> None:
        with self._lock:
            dirty, self._dirty = self._dirty, set()
            for fd in dirty:
                self._update_interest(fd)
            conns = list(self._conns)
        now = time.monotonic()
        timeout = TICK_S
        for conn in conns:
            timeout = min(timeout, max(0.0, conn.next_connect - now), conn.next_tick - now)
        for key, mask in self._sel.select(max(0.0, timeout)):
            if key.data is None:
                with contextlib.suppress(BlockingIOError):
                    self._wake_r.recv(4096)
                continue
            conn = key.data
            client = conn.client
            rc = mqtt.MQTT_ERR_SUCCESS
            if mask & selectors.EVENT_READ:
                rc = client.loop_read()
                sock = client.socket()
                # TLS may hold decrypted bytes that epoll cannot see
                while rc == mqtt.MQTT_ERR_SUCCESS and sock is not None and _pending(sock):
                    rc = client.loop_read()
            if rc == mqtt.MQTT_ERR_SUCCESS and mask & selectors.EVENT_WRITE:
                rc = client.loop_write()
            if rc != mqtt.MQTT_ERR_SUCCESS:
                conn.lost(rc)
            else:
                with self._lock:
                    sock = client.socket()
                    if sock is not None:
                        self._update_interest(sock.fileno())
        now = time.monotonic()
        for conn in conns:
            if conn.next_connect <= now:
                conn.try_connect()
            elif conn.next_tick <= now:
                conn.next_tick = now + TICK_S
                rc = conn.client.loop_misc()  # keepalive pings
                if rc != mqtt.MQTT_ERR_SUCCESS and conn.next_connect == float("inf"):
                    conn.lost(rc)
                    continue
                conn.tick()
                with self._lock:
                    sock = conn.client.socket()
                    if sock is not None:
                        self._update_interest(sock.fileno())


def _pending(sock: Any) -> bool:
    pending = getattr(sock, "pending", None)
    return bool(pending and pending() > 0)
