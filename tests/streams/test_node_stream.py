"""The node's stream reader against a local HTTP server that answers like Icecast does when it
is busy (403 "busy, please try again later": too many listeners awaiting authentication at
once) or refuses a token (401)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from node_agent.stream import StreamRefused, StreamStats, pump

MP3_FRAME = bytes([0xFF, 0xFB, 0x90, 0x64]) + bytes(413)  # 128 kb/s, 44.1 kHz


class Busy:
    """Answers ``status`` to the first ``refusals`` requests, then sends audio for good."""

    def __init__(self, status: int, refusals: int):
        self.status, self.refusals, self.requests = status, refusals, 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                outer.requests += 1
                if outer.requests <= outer.refusals:
                    body = b"busy, please try again later"
                    self.send_response(outer.status)
                    self.send_header("Content-Type", "text/plain; charset=utf-8")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                    return
                self.send_response(200)
                self.send_header("Content-Type", "audio/mpeg")
                self.end_headers()
                try:
                    while True:
                        self.wfile.write(MP3_FRAME * 4)
                        self.wfile.flush()
                        time.sleep(0.1)
                except OSError:
                    pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/relay-1.mp3"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def busy() -> Iterator[Busy]:
    server = Busy(403, refusals=2)
    yield server
    server.close()


@pytest.fixture
def refusing() -> Iterator[Busy]:
    server = Busy(401, refusals=1000)
    yield server
    server.close()


def test_a_busy_icecast_is_retried_within_the_window(busy: Busy):
    stats = StreamStats()
    received: list[bytes] = []
    until = time.time() + 1.5
    ended = pump(
        busy.url, "tok", until, False, threading.Event(), received.append, lambda t: None, stats
    )
    assert ended is True
    assert busy.requests == 3, "two refusals, then the stream"
    assert stats.bytes > 0 and sum(map(len, received)) == stats.bytes
    assert stats.interruptions == 0  # nothing had played yet
    assert stats.last_error is not None and "HTTP 403" in stats.last_error
    assert "busy, please try again later" in stats.last_error


def test_a_refused_token_fails_at_once(refusing: Busy):
    stats = StreamStats()
    t0 = time.time()
    with pytest.raises(StreamRefused, match="HTTP 401"):
        pump(
            refusing.url,
            "bad",
            t0 + 10,
            False,
            threading.Event(),
            lambda b: None,
            lambda t: None,
            stats,
        )
    assert time.time() - t0 < 1.0 and refusing.requests == 1
