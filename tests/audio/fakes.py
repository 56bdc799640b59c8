"""Local stand-ins for the cloud voices and Piper's voice catalogue: real HTTP servers on
127.0.0.1, in a thread, speaking each vendor's documented wire format, failures included.

- FPT.AI TTS v5: ``POST /hmi/tts/v5`` (text body; ``api_key``, ``voice``, ``speed``, ``format``
  headers) → ``{"async", "error", "message", "request_id"}``; the ``async`` link answers 404
  until the file is "ready".
- Vbee (older API): ``POST /api/v1/tts`` (bearer token; JSON ``app_id``, ``input_text``,
  ``voice_code`` …) → ``{"status": 1, "result": {"request_id", "status": "IN_PROGRESS"}}``;
  ``GET /api/v1/tts/{id}`` → ``result.status`` IN_PROGRESS … SUCCESS with ``audio_link``.
- Viettel AI: ``POST /voice/api/tts/v1/rest/syn`` (``token`` header; JSON ``text``, ``voice``,
  ``id``, ``without_filter``, ``speed``, ``tts_return_option``) → the audio itself. Its docs give
  no error format: the fake refuses a bad token with 401 and a spent quota with a JSON message.
- Piper's catalogue: ``voices.json`` and the files under their catalogue paths.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class FakeVendors:
    """Both vendors on one server. Set the attributes to make it fail the documented ways."""

    audio: bytes
    fpt_key: str = "fpt-key-0123456789abcdef"
    vbee_token: str = "vbee.jwt.token-0123456789"
    vbee_app_id: str = "app-1234"
    viettel_token: str = "viettel-token-0123456789"
    #: characters the account may still convert; past it the vendor refuses (quota)
    quota_chars: int = 1_000_000
    #: polls of a result (FPT's link, Vbee's request) answered "not ready yet" before it is
    pending_polls: int = 0
    #: a 5xx for this many requests to the synthesis endpoint, then normal answers
    server_errors: int = 0
    #: seconds the synthesis endpoint waits before answering
    delay_s: float = 0.0
    #: FPT.AI refuses this many first requests at once (quota), before any delay
    refuse_first: int = 0
    #: what the audio link serves: "audio" | "html"
    link_serves: str = "audio"
    #: Vbee's request ends in FAILURE instead of SUCCESS
    vbee_failure: bool = False
    url: str = ""
    seen: list[Seen] = field(default_factory=list)
    _polls: dict[str, int] = field(default_factory=dict)
    _fpt_posts: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def fpt_url(self) -> str:
        return f"{self.url}/hmi/tts/v5"

    @property
    def viettel_url(self) -> str:
        return f"{self.url}/voice/api/tts/v1/rest/syn"

    def requests(self, method: str, prefix: str) -> list[Seen]:
        return [s for s in self.seen if s.method == method and s.path.startswith(prefix)]

    def _poll_ready(self, request_id: str) -> bool:
        with self._lock:
            count = self._polls.get(request_id, 0)
            self._polls[request_id] = count + 1
        return count >= self.pending_polls

    def _spend(self, chars: int) -> bool:
        with self._lock:
            if chars > self.quota_chars:
                return False
            self.quota_chars -= chars
            return True

    def _server_error(self) -> bool:
        with self._lock:
            if self.server_errors > 0:
                self.server_errors -= 1
                return True
            return False

    # -- FPT.AI -------------------------------------------------------------------------------

    def fpt_post(self, seen: Seen) -> tuple[int, dict[str, Any]]:
        with self._lock:
            self._fpt_posts += 1
            refused = self._fpt_posts <= self.refuse_first
        if refused:
            return 200, {"error": 1, "message": "Your account has exceeded its character quota"}
        if self.delay_s:
            time.sleep(self.delay_s)
        if self._server_error():
            return 502, {"message": "An invalid response was received from the upstream server"}
        if seen.headers.get("api_key") != self.fpt_key:
            return 401, {"message": "Invalid authentication credentials"}
        text = seen.body.decode("utf-8")
        if not 3 <= len(text) <= 5000:
            return 200, {"error": 1, "message": "Text length must be from 3 to 5000 characters"}
        if not self._spend(len(text)):
            return 200, {"error": 1, "message": "Your account has exceeded its character quota"}
        request_id = uuid.uuid4().hex
        return 200, {
            "async": f"{self.url}/files/{request_id}.mp3",
            "error": 0,
            "message": "The content will be returned after a few seconds under the async link.",
            "request_id": request_id,
        }

    # -- Vbee ---------------------------------------------------------------------------------

    def _vbee_refusal(self, seen: Seen) -> tuple[int, dict[str, Any]] | None:
        if seen.headers.get("authorization") != f"Bearer {self.vbee_token}":
            return 401, {"status": 0, "error_code": 401, "error_message": "Unauthorized"}
        return None

    def vbee_post(self, seen: Seen) -> tuple[int, dict[str, Any]]:
        if self.delay_s:
            time.sleep(self.delay_s)
        if self._server_error():
            return 503, {"status": 0, "error_code": 503, "error_message": "Service Unavailable"}
        refusal = self._vbee_refusal(seen)
        if refusal:
            return refusal
        body = json.loads(seen.body)
        if body.get("app_id") != self.vbee_app_id:
            return 200, {"status": 0, "error_code": 1001, "error_message": "App not found"}
        if not self._spend(len(body["input_text"])):
            return 200, {
                "status": 0,
                "error_code": 1005,
                "error_message": "Characters exceed the package limit",
            }
        request_id = str(uuid.uuid4())
        return 200, {
            "status": 1,
            "result": {
                "app_id": body["app_id"],
                "request_id": request_id,
                "characters": len(body["input_text"]),
                "voice_code": body["voice_code"],
                "audio_type": body["audio_type"],
                "speed_rate": body["speed_rate"],
                "bitrate": body["bitrate"],
                "status": "IN_PROGRESS",
            },
        }

    def vbee_get(self, seen: Seen, request_id: str) -> tuple[int, dict[str, Any]]:
        refusal = self._vbee_refusal(seen)
        if refusal:
            return refusal
        result: dict[str, Any] = {"request_id": request_id, "app_id": self.vbee_app_id}
        if not self._poll_ready("vbee-" + request_id):
            return 200, {"status": 1, "result": result | {"status": "IN_PROGRESS", "progress": 40}}
        if self.vbee_failure:
            return 200, {"status": 1, "result": result | {"status": "FAILURE", "progress": 100}}
        return 200, {
            "status": 1,
            "result": result
            | {
                "status": "SUCCESS",
                "progress": 100,
                "audio_link": f"{self.url}/files/{request_id}.mp3",
                "audio_expired": False,
            },
        }

    # -- Viettel AI ----------------------------------------------------------------------------

    def viettel_post(self, seen: Seen) -> tuple[int, str, bytes]:
        if self.delay_s:
            time.sleep(self.delay_s)
        if self._server_error():
            return 500, "text/html", b"<html><body>Internal Server Error</body></html>"
        if seen.headers.get("token") != self.viettel_token:
            return 401, "application/json", b'{"code": 401, "message": "Token is invalid"}'
        body = json.loads(seen.body)
        if not self._spend(len(body["text"])):
            refusal = {"code": 429, "message": "Characters quota exceeded"}
            return 200, "application/json", json.dumps(refusal).encode("utf-8")
        if self.link_serves == "html":
            return 200, "text/html", b"<html><body>Maintenance</body></html>"
        return 200, "audio/mpeg", self.audio

    # -- the files behind the links -----------------------------------------------------------

    def file(self, name: str, polled: bool) -> tuple[int, str, bytes]:
        if polled and not self._poll_ready("file-" + name):
            return 404, "application/xml", b"<Error><Code>NoSuchKey</Code></Error>"
        if self.link_serves == "html":
            return 200, "text/html", b"<html><body>503 Service Temporarily Unavailable</body>"
        return 200, "audio/mpeg", self.audio


@contextmanager
def fake_vendors(audio: bytes, **options: Any) -> Iterator[FakeVendors]:
    fake = FakeVendors(audio=audio, **options)

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _seen(self) -> Seen:
            length = int(self.headers.get("Content-Length", 0))
            body = self.rfile.read(length) if length else b""
            headers = {k.lower(): v for k, v in self.headers.items()}
            seen = Seen(self.command, self.path, headers, body)
            fake.seen.append(seen)
            return seen

        def _json(self, status: int, payload: dict[str, Any]) -> None:
            self._send(status, "application/json", json.dumps(payload).encode("utf-8"))

        def _send(self, status: int, kind: str, data: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_POST(self) -> None:
            seen = self._seen()
            if self.path == "/hmi/tts/v5":
                self._json(*fake.fpt_post(seen))
            elif self.path == "/api/v1/tts":
                self._json(*fake.vbee_post(seen))
            elif self.path == "/voice/api/tts/v1/rest/syn":
                self._send(*fake.viettel_post(seen))
            else:
                self._json(404, {"message": "no route"})

        def do_GET(self) -> None:
            seen = self._seen()
            if self.path.startswith("/api/v1/tts/"):
                self._json(*fake.vbee_get(seen, self.path.rsplit("/", 1)[1]))
            elif self.path.startswith("/files/"):
                # FPT's link is polled; Vbee's link is given once the request succeeded
                name = self.path.rsplit("/", 1)[1]
                polled = "-" not in name  # FPT's ids are hex, Vbee's are UUIDs
                self._send(*fake.file(name, polled))
            else:
                self._json(404, {"message": "no route"})

        def log_message(self, *args: object) -> None:
            pass

    with _serving(Handler) as url:
        fake.url = url
        yield fake


@contextmanager
def _serving(handler: type[BaseHTTPRequestHandler]) -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


# -- Piper's voice catalogue -------------------------------------------------------------------


@dataclass
class FakeCatalog:
    """``voices.json`` and files, laid out as Piper's catalogue is."""

    files: dict[str, bytes] = field(default_factory=dict)
    voices: dict[str, Any] = field(default_factory=dict)
    url: str = ""
    seen: list[str] = field(default_factory=list)

    def add_voice(
        self,
        name: str,
        model: Path,
        config: Path,
        *,
        family: str = "vi",
        code: str = "vi_VN",
        wrong_md5_for: str = "",
    ) -> None:
        _, speaker, quality = name.split("-", 2)
        folder = f"{family}/{code}/{speaker}/{quality}"
        entry_files: dict[str, Any] = {}
        for suffix, path in ((".onnx", model), (".onnx.json", config)):
            data = path.read_bytes()
            catalog_path = f"{folder}/{name}{suffix}"
            self.files[catalog_path] = data
            digest = hashlib.md5(data, usedforsecurity=False).hexdigest()
            if suffix == wrong_md5_for:
                digest = "0" * 32
            entry_files[catalog_path] = {"size_bytes": len(data), "md5_digest": digest}
        card = f"{folder}/MODEL_CARD"
        self.files[card] = b"# Model card\n"
        card_md5 = hashlib.md5(self.files[card], usedforsecurity=False).hexdigest()
        entry_files[card] = {"size_bytes": len(self.files[card]), "md5_digest": card_md5}
        self.voices[name] = {
            "key": name,
            "name": speaker,
            "language": {
                "code": code,
                "family": family,
                "region": code.split("_")[1],
                "name_native": "Tiếng Việt" if family == "vi" else code,
            },
            "quality": quality,
            "num_speakers": 1,
            "speaker_id_map": {},
            "files": entry_files,
            "aliases": [],
        }


@contextmanager
def fake_catalog() -> Iterator[FakeCatalog]:
    catalog = FakeCatalog()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0].lstrip("/")
            catalog.seen.append(path)
            if path == "voices.json":
                data = json.dumps(catalog.voices).encode("utf-8")
            elif path in catalog.files:
                data = catalog.files[path]
            else:
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: object) -> None:
            pass

    with _serving(Handler) as url:
        catalog.url = url + "/"
        yield catalog
