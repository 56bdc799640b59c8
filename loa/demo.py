"""``loa demo``: the whole system on one machine, on embedded defaults.

An embedded MQTT broker (amqtt, MQTT 3.1.1), the controller, and three node agents as separate
processes in a seeded commune (Xã Lạc Lâm → thôn Lạc Xuân, Lạc Bình, Đồng Thạnh) with file sinks.
State persists in the data directory; a second run reuses it. Ctrl-C stops everything.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import secrets
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

log = logging.getLogger("loa.demo")

#: Who runs a commune station: one writes, another approves (never the same person).
DEMO_ACCOUNTS = [
    ("admin", "admin", "Quản trị viên"),
    ("bientap", "editor", "Biên tập viên"),
    ("duyet", "approver", "Người duyệt (Chủ tịch UBND xã)"),
]


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", help="run broker, controller and three nodes on this machine")
    p.add_argument("--data-dir", type=Path, default=Path("data/demo"))
    p.add_argument("--port", type=int, default=8080, help="web UI and API port")
    p.add_argument("--mqtt-port", type=int, default=18830, help="embedded broker port")
    p.add_argument("--token", help="API token to accept (default: generated once, kept)")
    p.add_argument("--tick", type=float, default=1.0, help="controller scheduler tick, seconds")
    p.set_defaults(func=run_demo)


def _write_private(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)


def node_config(node_id: str, secret: str, node_dir: Path, mqtt_url: str, public_key: str) -> str:
    return (
        f'node_id = "{node_id}"\n'
        f'data_dir = "{node_dir}"\n'
        f'controller_public_key = "{public_key}"\n'
        "heartbeat_s = 5\n\n"
        "[mqtt]\n"
        f'url = "{mqtt_url}"\n'
        f'username = "{node_id}"\n'
        f'password = "{secret}"\n\n'
        "[http]\n"
        f'token = "{secret}"\n\n'
        "[player]\n"
        'backend = "file"\n'
        'sink_path = "plays.jsonl"\n'
    )


def prepare(data_dir: Path, mqtt_url: str, token: str | None) -> dict:
    """Seed the commune, an administrator and the node configs on first run; return the login."""
    from controller.db import Store
    from controller.seed import seed_commune
    from controller.settings import Settings
    from controller.users import create_user
    from loa.signing import load_or_create_private_key, public_key_b64

    settings = Settings(data_dir=data_dir / "controller")
    login_file = data_dir / "login.json"
    if login_file.exists():
        login = json.loads(login_file.read_text(encoding="utf-8"))
        if token:
            login["token"] = token
        return login
    store = Store(settings.db_path)
    public_key = public_key_b64(load_or_create_private_key(settings.key_path))
    commune = seed_commune(store)
    accounts = []
    for username, role, name in DEMO_ACCOUNTS:
        password = secrets.token_urlsafe(9)
        create_user(store.db, username, password, role, name)
        accounts.append({"username": username, "password": password, "role": role})
    for node in commune.nodes:
        node_dir = data_dir / "nodes" / node.node_id
        _write_private(
            node_dir / "node.toml",
            node_config(node.node_id, node.secret, node_dir, mqtt_url, public_key),
        )
    login = {"accounts": accounts, "token": token or secrets.token_urlsafe(24)}
    _write_private(login_file, json.dumps(login))
    return login


async def _broker(port: int) -> Any:
    from amqtt.broker import Broker

    broker = Broker(
        {
            "listeners": {"default": {"type": "tcp", "bind": f"127.0.0.1:{port}"}},
            "plugins": {
                "amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": True}
            },
        }
    )
    await broker.start()
    return broker


def run_demo(args: argparse.Namespace) -> int:
    import asyncio

    return asyncio.run(_run(args))


async def _run(args: argparse.Namespace) -> int:
    import asyncio

    data_dir: Path = args.data_dir.resolve()
    mqtt_url = f"mqtt://127.0.0.1:{args.mqtt_port}"
    login = prepare(data_dir, mqtt_url, args.token)
    logging.getLogger("amqtt").setLevel(logging.WARNING)
    broker = await _broker(args.mqtt_port)
    py = [sys.executable, "-m", "loa"]
    children: list[subprocess.Popen] = [
        subprocess.Popen(
            [
                *py,
                "controller",
                "--data-dir",
                str(data_dir / "controller"),
                "--port",
                str(args.port),
                "--mqtt-url",
                mqtt_url,
                "--api-token",
                login["token"],
                "--tick",
                str(args.tick),
            ]
        )
    ]
    for node_dir in sorted((data_dir / "nodes").iterdir()):
        children.append(subprocess.Popen([*py, "node", "--config", str(node_dir / "node.toml")]))

    url = f"http://127.0.0.1:{args.port}"
    print(
        f"\nLoa demo đang chạy / is running: {url}\n"
        + "".join(
            f"  Đăng nhập / login ({a['role']}): {a['username']} / {a['password']}\n"
            for a in login["accounts"]
        )
        + f"  API token: {login['token']}\n"
        f"  MQTT broker: {mqtt_url}\n"
        f"  Nhật ký phát của cụm loa / node play logs: {data_dir}/nodes/*/plays.jsonl\n"
        "  Ctrl-C để dừng / to stop.\n",
        flush=True,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    while not stop.is_set():
        if any(c.poll() is not None for c in children):
            log.error("a demo process exited; stopping the demo")
            break
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=0.5)
    for child in children:
        if child.poll() is None:
            child.terminate()
    for child in children:
        try:
            child.wait(timeout=10)
        except subprocess.TimeoutExpired:
            child.kill()
    await broker.shutdown()
    print("Đã dừng. / Stopped.", flush=True)
    return 0
