"""Real processes for end-to-end tests: a controller and node agents, each an OS process.

``Commune`` seeds a controller data directory (zones, nodes, key), writes one TOML config per
node, and starts ``python -m loa controller`` and ``python -m loa node --config …`` processes.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from controller.core.db import Store
from controller.core.settings import Settings
from controller.demo import node_config
from controller.domain.seed import SeededCommune, seed_commune
from controller.domain.users import create_token, create_user
from loa.signing import load_or_create_private_key, public_key_b64
from tests.support.net import free_port, wait_for_port, wait_until

TOKEN = "e2e-token-" + "k" * 24  # the bootstrap admin token
EDITOR_TOKEN = "e2e-editor-" + "e" * 24
APPROVER_TOKEN = "e2e-approver-" + "a" * 24


@dataclass
class Process:
    name: str
    argv: list[str]
    log_path: Path
    env: dict[str, str] = field(default_factory=dict)
    popen: subprocess.Popen | None = None

    def start(self) -> None:
        log = self.log_path.open("ab")
        self.popen = subprocess.Popen(
            self.argv, stdout=log, stderr=subprocess.STDOUT, env={**os.environ, **self.env}
        )

    @property
    def running(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def kill(self, sig: int = signal.SIGKILL) -> None:
        if self.running:
            assert self.popen is not None
            self.popen.send_signal(sig)
            self.popen.wait(timeout=10)

    def stop(self) -> None:
        if self.running:
            assert self.popen is not None
            self.popen.terminate()
            try:
                self.popen.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


@dataclass
class Commune:
    root: Path
    mqtt_url: str
    port: int = field(default_factory=free_port)
    tick_s: float = 0.5
    horizon_s: float | None = None
    processes: list[Process] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.settings = Settings(data_dir=self.root / "controller")
        self.store = Store(self.settings.db_path)
        self.key = load_or_create_private_key(self.settings.key_path)
        self.seeded: SeededCommune = seed_commune(self.store)
        db = self.store.db
        editor = create_user(db, "bientap", "mat-khau-bien-tap", "editor", "Biên tập viên")
        approver = create_user(db, "duyet", "mat-khau-nguoi-duyet", "approver", "Người duyệt")
        create_token(db, "editor", user_id=editor, token=EDITOR_TOKEN)
        create_token(db, "approver", user_id=approver, token=APPROVER_TOKEN)
        self.controller: Process | None = None
        self.nodes: dict[str, Process] = {}
        for node in self.seeded.nodes:
            node_dir = self.node_dir(node.node_id)
            node_dir.mkdir(parents=True, exist_ok=True)
            (node_dir / "node.toml").write_text(
                node_config(
                    node.node_id, node.secret, node_dir, self.mqtt_url, public_key_b64(self.key)
                ).replace("heartbeat_s = 5", "heartbeat_s = 1")
            )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def node_dir(self, node_id: str) -> Path:
        return self.root / "nodes" / node_id

    def start_controller(self) -> Process:
        proc = Process(
            "controller",
            [
                sys.executable,
                "-m",
                "loa",
                "controller",
                "--data-dir",
                str(self.settings.data_dir),
                "--port",
                str(self.port),
                "--mqtt-url",
                self.mqtt_url,
                "--api-token",
                TOKEN,
                "--tick",
                str(self.tick_s),
                *(["--horizon", str(self.horizon_s)] if self.horizon_s else []),
            ],
            self.root / "controller.log",
            # the test stations (tone, HLS, sirens) listen on loopback
            env={"LOA_STREAM_ALLOWED_HOSTS": "127.0.0.0/8,::1"},
        )
        proc.start()
        self.controller = proc
        self.processes.append(proc)
        wait_for_port(self.port, timeout=20)
        return proc

    def start_node(self, node_id: str) -> Process:
        proc = Process(
            node_id,
            [
                sys.executable,
                "-m",
                "loa",
                "node",
                "--config",
                str(self.node_dir(node_id) / "node.toml"),
            ],
            self.root / f"{node_id}.log",
        )
        proc.start()
        self.nodes[node_id] = proc
        self.processes.append(proc)
        return proc

    def start_nodes(self) -> None:
        for node in self.seeded.nodes:
            self.start_node(node.node_id)

    def stop(self) -> None:
        for proc in reversed(self.processes):
            proc.stop()

    # --- talking to it ----------------------------------------------------------------------

    def api(self, token: str = TOKEN) -> httpx.Client:
        return httpx.Client(
            base_url=self.url, headers={"Authorization": f"Bearer {token}"}, timeout=30
        )

    def approved_announcement(self, title: str, text: str) -> int:
        """Written and submitted by the editor, approved by the approver: ready to broadcast."""
        with self.api(EDITOR_TOKEN) as editor, self.api(APPROVER_TOKEN) as approver:
            made = editor.post(
                "/api/v1/announcements", json={"title": title, "text": text, "submit": True}
            )
            assert made.status_code == 201, made.text
            announcement_id = int(made.json()["id"])
            approved = approver.post(f"/api/v1/announcements/{announcement_id}/approve")
            assert approved.status_code == 200, approved.text
        return announcement_id

    def wait_nodes_online(self, timeout: float = 20) -> None:
        with self.api() as api:
            wait_until(
                lambda: all(n["online"] for n in api.get("/api/v1/nodes").json()),
                timeout=timeout,
                what="all nodes online",
            )

    def plays(self, node_id: str) -> list[dict[str, Any]]:
        sink = self.node_dir(node_id) / "plays.jsonl"
        if not sink.exists():
            return []
        return [json.loads(line) for line in sink.read_text().splitlines() if line.strip()]

    def logs(self) -> str:
        return "\n".join(f"==== {p.name}\n{p.log()[-4000:]}" for p in self.processes)
