"""A local radio station for tests and benchmarks: real ffmpeg encoding a tone to MP3 in real
time (``-re``), served over HTTP like an Icecast mount (``BURST_S`` at once, then in real
time), that can be taken off the air.

Paths: ``/tone.mp3`` (audio/mpeg, a 440 Hz tone), ``/tone.aac`` (audio/aac: the tone in AAC,
ADTS frames, as AAC radio streams are sent), ``/page.html`` (text/html: not a stream),
``/stall.mp3`` (audio/mpeg headers, then nothing).

``HlsStation`` is an HLS radio: ffmpeg writes a live playlist (a sliding window of one-second
AAC segments in MPEG-TS) into a folder served over HTTP.
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import numpy as np

from tests.support.net import free_port

#: Seconds of audio a station sends at once to a new listener, as Icecast's burst-on-connect
#: does (real stations send several): players start, and probes finish, without waiting.
BURST_S = 2


def tone_command(
    frequency: int = 440,
    bitrate: str = "64k",
    codec: str = "mp3",
    realtime: bool = True,
    seconds: float | None = None,
) -> list[str]:
    """ffmpeg sending the tone to stdout, in real time or at once: MP3, or AAC in ADTS
    frames."""
    encoder = ["-c:a", "aac", "-b:a", "48k", "-f", "adts"] if codec == "aac" else None
    return [
        "ffmpeg",
        "-hide_banner",
        "-loglevel",
        "error",
        *(["-re"] if realtime else []),
        "-f",
        "lavfi",
        "-i",
        f"sine=frequency={frequency}:sample_rate=44100"
        + (f":duration={seconds}" if seconds else ""),
        "-ac",
        "1",
        *(encoder or ["-c:a", "libmp3lame", "-b:a", bitrate, "-f", "mp3"]),
        "-flush_packets",
        "1",
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
                if not self.path.startswith(("/tone.mp3", "/tone.aac", "/stall.mp3")):
                    self.send_error(404)
                    return
                aac = self.path.startswith("/tone.aac")
                self.send_response(200)
                self.send_header("Content-Type", "audio/aac" if aac else "audio/mpeg")
                self.send_header("icy-br", "48" if aac else "64")
                self.end_headers()
                self.wfile.flush()
                with station._lock:
                    station._conns.add(self.connection)
                try:
                    if self.path.startswith("/stall.mp3"):
                        time.sleep(60)
                        return
                    codec = "aac" if aac else "mp3"
                    burst = subprocess.run(
                        tone_command(codec=codec, realtime=False, seconds=BURST_S),
                        capture_output=True,
                        check=True,
                    )
                    self.wfile.write(burst.stdout)
                    proc = subprocess.Popen(
                        tone_command(codec=codec),
                        stdout=subprocess.PIPE,
                        stdin=subprocess.DEVNULL,
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
        threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()

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


class HlsStation:
    """A live HLS station: ffmpeg encodes the tone (AAC, 48 kb/s) into one-second MPEG-TS
    segments and a playlist of the last six, deleting older segments, in a temporary folder
    served over HTTP. ``/live.m3u8`` answers ``application/vnd.apple.mpegurl``;
    ``/live.m3u8?type=audio/mpegurl`` the other type stations use."""

    def __init__(self, frequency: int = 440):
        self.frequency = frequency
        self.root = Path(tempfile.mkdtemp(prefix="loa-hls-"))
        self.port = free_port()
        self._server: ThreadingHTTPServer | None = None
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/live.m3u8"

    def start(self) -> None:
        self._proc = subprocess.Popen(
            [
                "ffmpeg",
                "-hide_banner",
                "-loglevel",
                "error",
                "-re",
                "-f",
                "lavfi",
                "-i",
                f"sine=frequency={self.frequency}:sample_rate=44100",
                "-ac",
                "1",
                "-c:a",
                "aac",
                "-b:a",
                "48k",
                "-f",
                "hls",
                "-hls_time",
                "1",
                "-hls_list_size",
                "6",
                "-hls_flags",
                "delete_segments+temp_file",
                str(self.root / "live.m3u8"),
            ],
            stdin=subprocess.DEVNULL,
        )
        root = self.root

        class Handler(SimpleHTTPRequestHandler):
            def __init__(self, *args: Any, **kwargs: Any) -> None:
                super().__init__(*args, directory=str(root), **kwargs)

            def log_message(self, *args: object) -> None:
                pass

            def guess_type(self, path: Any) -> str:
                if str(path).endswith(".m3u8"):
                    query = parse_qs(urlsplit(self.path).query)
                    return query.get("type", ["application/vnd.apple.mpegurl"])[0]
                if str(path).endswith(".ts"):
                    return "video/mp2t"
                return super().guess_type(path)

        server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        server.daemon_threads = True
        self._server = server
        threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()
        # the playlist is there with three segments: a player can start
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            playlist = self.root / "live.m3u8"
            if playlist.exists() and playlist.read_text().count("#EXTINF") >= 3:
                return
            time.sleep(0.1)
        raise TimeoutError("the HLS station did not start")

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._proc is not None:
            self._proc.kill()
            self._proc.wait()
        shutil.rmtree(self.root, ignore_errors=True)


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
