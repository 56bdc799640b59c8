"""A local radio station for tests and benchmarks: real ffmpeg encoding a tone to MP3 in real
time (``-re``), served over HTTP like an Icecast mount, that can be taken off the air.

Paths: ``/tone.mp3`` (audio/mpeg, a 440 Hz tone), ``/page.html`` (text/html: not a stream),
``/stall.mp3`` (audio/mpeg headers, then nothing).
"""

from __future__ import annotations

import contextlib
import socket
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np

from tests.support.net import free_port


def tone_command(frequency: int = 440, bitrate: str = "64k") -> list[str]:
    return [
        "ffmpeg",
        "-hide_banner",
        "-loglevel",
        "error",
        "-re",
        "-f",
        "lavfi",
        "-i",
        f"sine=frequency={frequency}:sample_rate=44100",
        "-ac",
        "1",
        "-c:a",
        "libmp3lame",
        "-b:a",
        bitrate,
        "-flush_packets",
        "1",
        "-f",
        "mp3",
        "pipe:1",
    ]


class ToneStation:
    def __init__(self, port: int | None = None):
        self.port = port or free_port()
        self._server: ThreadingHTTPServer | None = None
        self._procs: set[subprocess.Popen[bytes]] = set()
        self._conns: set[socket.socket] = set()
        self._lock = threading.Lock()
        self.requests = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/tone.mp3"

    def path_url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def start(self) -> None:
        station = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.0"

            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                station.requests += 1
                if self.path.startswith("/page.html"):
                    body = b"<html><body>Not a stream</body></html>"
                    self.send_response(200)
                    self.send_header("Content-Type", "text/html; charset=utf-8")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                    return
                if not self.path.startswith(("/tone.mp3", "/stall.mp3")):
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Type", "audio/mpeg")
                self.send_header("icy-br", "64")
                self.end_headers()
                self.wfile.flush()
                with station._lock:
                    station._conns.add(self.connection)
                try:
                    if self.path.startswith("/stall.mp3"):
                        time.sleep(60)
                        return
                    proc = subprocess.Popen(
                        tone_command(), stdout=subprocess.PIPE, stdin=subprocess.DEVNULL
                    )
                    with station._lock:
                        station._procs.add(proc)
                    assert proc.stdout is not None
                    try:
                        while chunk := proc.stdout.read1(4096):
                            self.wfile.write(chunk)
                            self.wfile.flush()
                    except OSError:
                        pass
                    finally:
                        proc.kill()
                        proc.wait()
                        with station._lock:
                            station._procs.discard(proc)
                finally:
                    with station._lock:
                        station._conns.discard(self.connection)

        server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        server.daemon_threads = True
        server.allow_reuse_address = True
        self._server = server
        threading.Thread(target=server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        """Off the air: stop listening and cut every listener."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        with self._lock:
            for conn in list(self._conns):
                with contextlib.suppress(OSError):
                    conn.shutdown(socket.SHUT_RDWR)
            for proc in list(self._procs):
                proc.kill()

    def off_air_for(self, seconds: float) -> threading.Thread:
        """Kill the stream now and bring it back after ``seconds`` (in the background)."""
        self.stop()

        def back() -> None:
            time.sleep(seconds)
            ThreadingHTTPServer.allow_reuse_address = True
            self.start()

        t = threading.Thread(target=back, daemon=True)
        t.start()
        return t


def decode(path: str, rate: int = 16000) -> np.ndarray:
    """The audio in a file (any format ffmpeg reads) as mono float samples at ``rate``."""
    out = subprocess.run(
        ["ffmpeg", "-v", "quiet", "-i", path, "-ac", "1", "-ar", str(rate), "-f", "s16le", "-"],
        capture_output=True,
        check=False,
    )
    return np.frombuffer(out.stdout, dtype="<i2").astype(np.float32) / 32768.0


def dominant_frequency(samples: np.ndarray, rate: int = 16000) -> float:
    spectrum = np.abs(np.fft.rfft(samples[: rate * 4]))
    return float(np.argmax(spectrum) * rate / min(len(samples), rate * 4))
