"""Test harness for the node agent: a signing 'controller' on a real broker, a media HTTP server
with fault modes, and agent OS processes started from a real config file."""

from __future__ import annotations

import hashlib
import io
import json
import math
import os
import signal
import struct
import subprocess
import sys
import threading
import time
import uuid
import wave
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from loa.protocol import (
    COMMAND_BODIES,
    FileContent,
    ScheduleItem,
    new_command,
    node_topic,
    to_wire_time,
)
from loa.signing import public_key_b64, sign
from tests.support.net import wait_until

TOKEN = "media-secret"
LOA = str(Path(sys.executable).parent / "loa")


def wav_bytes(seconds: float = 0.2, rate: int = 8000) -> bytes:
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        frames = b"".join(
            struct.pack("<h", int(3000 * math.sin(2 * math.pi * 440 * n / rate)))
            for n in range(int(seconds * rate))
        )
        w.writeframes(frames)
    return buf.getvalue()


def media_blob(tag: str, size: int = 40_000) -> bytes:
    seed = hashlib.sha256(tag.encode()).digest()
    return (seed * (size // len(seed) + 1))[:size]


# --- media server ----------------------------------------------------------------------------


@dataclass
class MediaServer:
    """Serves /media/<sha256> with bearer auth. Faults: ``drop_once`` (close mid-file on the
    first request for a hash), ``corrupt`` (serve wrong bytes), ``down`` (HTTP 503)."""

    files: dict[str, bytes] = field(default_factory=dict)
    drop_once: set[str] = field(default_factory=set)
    #: hashes served slowly (1 KiB every 20 ms), to be caught mid-download
    slow: set[str] = field(default_factory=set)
    corrupt: set[str] = field(default_factory=set)
    down: bool = False
    requests: list[dict[str, Any]] = field(default_factory=list)
    #: bearer tokens let in
    tokens: set[str] = field(default_factory=lambda: {TOKEN})
    port: int = 0
    _server: ThreadingHTTPServer | None = None

    def add(self, data: bytes) -> str:
        sha = hashlib.sha256(data).hexdigest()
        self.files[sha] = data
        return sha

    def url(self, sha: str) -> str:
        return f"http://127.0.0.1:{self.port}/media/{sha}"

    def content(self, data: bytes, duration_s: float = 0.5) -> FileContent:
        sha = self.add(data)
        return FileContent(url=self.url(sha), sha256=sha, bytes=len(data), duration_s=duration_s)

    def start(self) -> None:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *a: Any) -> None:
                pass

            def do_GET(self) -> None:
                sha = self.path.rsplit("/", 1)[-1]
                owner.requests.append(
                    {
                        "sha": sha,
                        "range": self.headers.get("Range"),
                        "auth": self.headers.get("Authorization"),
                    }
                )
                if owner.down:
                    self.send_error(503)
                    return
                if self.headers.get("Authorization") not in {f"Bearer {t}" for t in owner.tokens}:
                    self.send_error(401)
                    return
                data = owner.files.get(sha)
                if data is None:
                    self.send_error(404)
                    return
                if sha in owner.corrupt:
                    data = bytes(b ^ 0xFF for b in data)
                start = 0
                rng = self.headers.get("Range")
                if rng and rng.startswith("bytes="):
                    start = int(rng[6:].split("-")[0])
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
                else:
                    self.send_response(200)
                body = data[start:]
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if sha in owner.drop_once:
                    owner.drop_once.discard(sha)
                    self.wfile.write(body[: len(body) // 2])
                    self.wfile.flush()
                    self.close_connection = True
                    self.connection.shutdown(2)
                    return
                if sha in owner.slow:
                    for i in range(0, len(body), 1024):
                        self.wfile.write(body[i : i + 1024])
                        self.wfile.flush()
                        time.sleep(0.02)
                    return
                self.wfile.write(body)

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.port = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        if self._server:
            self._server.shutdown()
            self._server.server_close()


# --- the signing controller ------------------------------------------------------------------


class Controller:
    """Signs and publishes commands; collects reports and retained states."""

    def __init__(self, broker_port: int, key: Ed25519PrivateKey | None = None):
        self.key = key or Ed25519PrivateKey.generate()
        self.public_b64 = public_key_b64(self.key)
        self.messages: list[tuple[str, dict[str, Any]]] = []
        self._lock = threading.Lock()
        # a persistent session, like the real controller: reports sent while it was away
        # (a broker restart) are still delivered
        self.client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2,
            client_id=f"test-controller-{uuid.uuid4().hex[:8]}",
            clean_session=False,
            protocol=mqtt.MQTTv311,
        )
        self.client.username_pw_set("controller")
        self.client.on_message = self._on_message
        self.client.reconnect_delay_set(0.1, 0.5)
        self.port = broker_port
        self._subscribed = threading.Event()
        self.client.on_subscribe = lambda *a: self._subscribed.set()
        self.client.on_connect = lambda c, *a: c.subscribe("loa/v1/node/+/+", qos=1)

    def start(self) -> None:
        self.client.connect("127.0.0.1", self.port)
        self.client.loop_start()
        wait_until(self._subscribed.is_set, 10, what="controller subscribed")

    def stop(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()

    def _on_message(self, _c: Any, _u: Any, msg: mqtt.MQTTMessage) -> None:
        try:
            data = json.loads(msg.payload)
        except ValueError:
            return
        with self._lock:
            self.messages.append((msg.topic, data))

    def command(
        self,
        type_: str,
        node: str,
        body: Any,
        ttl: float = 60,
        sign_with: Any = None,
        **overrides: Any,
    ) -> dict[str, Any]:
        assert isinstance(body, COMMAND_BODIES[type_])
        env = new_command(type_, node, body, ttl=timedelta(seconds=ttl))  # type: ignore[arg-type]
        env.update(overrides)
        return sign(env, sign_with or self.key)

    def publish(self, node: str, envelope: dict[str, Any] | bytes) -> None:
        payload = envelope if isinstance(envelope, bytes) else json.dumps(envelope).encode()
        self.client.publish(node_topic(node, "cmd"), payload, qos=1).wait_for_publish(5)

    def send(self, type_: str, node: str, body: Any, **kw: Any) -> dict[str, Any]:
        env = self.command(type_, node, body, **kw)
        self.publish(node, env)
        return env

    def reports(self, node: str | None = None, type_: str | None = None) -> list[dict[str, Any]]:
        with self._lock:
            out = [
                d
                for t, d in self.messages
                if t.endswith("/report")
                and (node is None or d.get("node") == node)
                and (type_ is None or d.get("type") == type_)
            ]
        return out

    def ack(self, cmd_id: str, timeout: float = 10) -> dict[str, Any]:
        def find() -> dict[str, Any] | None:
            for r in self.reports(type_="ack"):
                if r["body"]["cmd_id"] == cmd_id:
                    return r["body"]
            return None

        return wait_until(find, timeout, what=f"ack of {cmd_id}")

    def finished(self, node: str, broadcast: int, timeout: float = 15) -> dict[str, Any]:
        def find() -> dict[str, Any] | None:
            for r in self.reports(node, "play.finished"):
                if r["body"]["broadcast"] == broadcast:
                    return r["body"]
            return None

        return wait_until(find, timeout, what=f"play.finished of {broadcast} on {node}")

    def states(self, node: str) -> list[dict[str, Any]]:
        with self._lock:
            return [d for t, d in self.messages if t == node_topic(node, "state")]

    def telemetry(self, node: str) -> list[dict[str, Any]]:
        with self._lock:
            return [d for t, d in self.messages if t == node_topic(node, "telemetry")]


def item(
    broadcast: int, content: Any, play_at: datetime | float, occurrence: str = "o1", **kw: Any
) -> ScheduleItem:
    if isinstance(play_at, float | int):
        play_at = datetime.fromtimestamp(play_at, UTC)
    return ScheduleItem(
        broadcast=broadcast, occurrence=occurrence, play_at=play_at, content=content, **kw
    )


# --- agent processes -------------------------------------------------------------------------


@dataclass
class NodeProcess:
    node_id: str
    dir: Path
    broker_url: str
    public_key: str
    extra: str = ""
    #: more lines for the [mqtt] table
    mqtt_extra: str = ""
    heartbeat_s: float = 30
    proc: subprocess.Popen | None = None

    @property
    def config_path(self) -> Path:
        return self.dir / "node.toml"

    @property
    def data_dir(self) -> Path:
        return self.dir / "data"

    @property
    def sink(self) -> Path:
        return self.data_dir / "plays.jsonl"

    @property
    def log_path(self) -> Path:
        return self.dir / "agent.log"

    def write_config(self) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        self.config_path.write_text(
            f'node_id = "{self.node_id}"\n'
            f'data_dir = "data"\n'
            f'controller_public_key = "{self.public_key}"\n'
            f"heartbeat_s = {self.heartbeat_s}\n"
            "[mqtt]\n"
            f'url = "{self.broker_url}"\n'
            f'password = "pw-{self.node_id}"\n'
            "keepalive_s = 5\n"
            "backoff_min_s = 0.2\n"
            "backoff_max_s = 1.0\n" + self.mqtt_extra + "[http]\n"
            f'token = "{TOKEN}"\n'
            "timeout_s = 3\n"
            "retry_min_s = 0.2\n"
            "retry_max_s = 1.0\n"
            "[player]\n"
            + ("" if "backend =" in self.extra else 'backend = "file"\n')
            + 'mixer_control = ""\n'
            + self.extra
        )

    def start(self, env: dict[str, str] | None = None) -> NodeProcess:
        self.write_config()
        return self.start_written(env)

    def start_written(self, env: dict[str, str] | None = None) -> NodeProcess:
        """Start with the config file as it is on disk."""
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [LOA, "-v", "node", "--config", str(self.config_path)],
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, **(env or {})},
        )
        return self

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait()

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def plays(self) -> list[dict[str, Any]]:
        if not self.sink.exists():
            return []
        return [json.loads(line) for line in self.sink.read_text().splitlines() if line]

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


def parse_time(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def wire(ts: float) -> str:
    return to_wire_time(datetime.fromtimestamp(ts, UTC))


def wait_online(ctl: Controller, node: str, timeout: float = 15) -> None:
    wait_until(
        lambda: any(s.get("online") for s in ctl.states(node)), timeout, what=f"{node} online"
    )


def soon(seconds: float = 2.0) -> float:
    return time.time() + seconds


def quiet_window_around_now(tz: str = "Asia/Ho_Chi_Minh") -> tuple[str, str]:
    """Quiet hours from an hour ago to an hour from now, local time."""
    from zoneinfo import ZoneInfo

    now = datetime.now(ZoneInfo(tz))
    start, end = now - timedelta(hours=1), now + timedelta(hours=1)
    return start.strftime("%H:%M"), end.strftime("%H:%M")
