"""``loa demo``: the whole system on one machine, on embedded defaults.

An embedded MQTT broker (amqtt, MQTT 3.1.1), the controller, and three node agents as separate
processes in a seeded commune (Xã Lạc Lâm → thôn Lạc Xuân, Lạc Bình, Đồng Thạnh) with file sinks.
State persists in the data directory; a second run reuses it. Ctrl-C stops everything.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import json
import logging
import os
import secrets
import signal
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

log = logging.getLogger("controller.demo")

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
    p.add_argument(
        "--speakers",
        action="store_true",
        help="play what the nodes play through this machine's sound card (mpg123/ffplay/aplay)",
    )
    p.set_defaults(func=run_demo)


def _write_private(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)  # a file that was there keeps its old mode through O_CREAT
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)


#: Where the demo nodes play: a JSON line per play in plays.jsonl, or (``--speakers``) the
#: machine's sound card through the agent's ``auto`` player.
PLAYER_FILE = 'backend = "file"'
PLAYER_SPEAKERS = 'backend = "auto"'

#: Loggers of the embedded broker: its internals (a line per state change of every client
#: session) are for whoever debugs amqtt, shown with ``loa -v demo`` only.
BROKER_LOGGERS = ("amqtt", "transitions")


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
        f"{PLAYER_FILE}\n"
        'sink_path = "plays.jsonl"\n'
    )


def set_player(config_path: Path, speakers: bool) -> None:
    """Point a demo node's player at the sound card or back at its file, keeping its secret."""
    text = config_path.read_text(encoding="utf-8")
    old, new = (PLAYER_FILE, PLAYER_SPEAKERS) if speakers else (PLAYER_SPEAKERS, PLAYER_FILE)
    if old in text:
        _write_private(config_path, text.replace(old, new))


def busy_port(ports: dict[int, str]) -> str | None:
    """The line to print when one of the demo's ports is taken (by another demo, say), else None.

    ``ports`` maps a port to the flag that changes it. Binding is the only true test: a port
    held on 0.0.0.0 or 127.0.0.1 refuses a bind on 127.0.0.1 alike.
    """

    for port, flag in ports.items():
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            # as the servers bind: a port still closing a past connection (TIME_WAIT) is free
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind(("127.0.0.1", port))
            except OSError as exc:
                if exc.errno != errno.EADDRINUSE:
                    raise
                return (
                    f"Cổng {port} đang được dùng (có thể bởi một demo khác): chọn cổng khác "
                    f"với {flag} / port {port} is in use: choose another with {flag}"
                )
    return None


def prepare(data_dir: Path, mqtt_url: str, token: str | None) -> dict:
    """Seed the commune, an administrator and the node configs on first run; return the login."""
    # lazy: `loa --help` loads this module: argparse only at import
    from controller.core.db import Store

    # lazy: `loa --help` loads this module: argparse only at import
    from controller.core.settings import Settings

    # lazy: `loa --help` loads this module: argparse only at import
    from controller.domain.seed import seed_commune

    # lazy: `loa --help` loads this module: argparse only at import
    from controller.domain.users import create_user

    # lazy: `loa --help` loads this module: argparse only at import
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
    # lazy: the embedded broker is needed only by the demo
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


def _answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


def run_demo(args: argparse.Namespace) -> int:
    # lazy: `loa --help` loads this module: argparse only at import
    import asyncio

    return asyncio.run(_run(args))


async def _run(args: argparse.Namespace) -> int:
    # lazy: `loa --help` loads this module: argparse only at import
    import asyncio

    data_dir: Path = args.data_dir.resolve()
    mqtt_url = f"mqtt://127.0.0.1:{args.mqtt_port}"
    taken = busy_port({args.port: "--port", args.mqtt_port: "--mqtt-port"})
    if taken:
        print(taken, file=sys.stderr, flush=True)
        return 2
    login = prepare(data_dir, mqtt_url, args.token)
    if not logging.getLogger().isEnabledFor(logging.DEBUG):
        for name in BROKER_LOGGERS:
            logging.getLogger(name).setLevel(logging.WARNING)
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
        set_player(node_dir / "node.toml", args.speakers)
        children.append(subprocess.Popen([*py, "node", "--config", str(node_dir / "node.toml")]))

    url = f"http://127.0.0.1:{args.port}"
    welcome = (
        f"\nLoa demo đang chạy / is running: {url}\n"
        + "".join(
            f"  Đăng nhập / login ({a['role']}): {a['username']} / {a['password']}\n"
            for a in login["accounts"]
        )
        + f"  API token: {login['token']}\n"
        f"  MQTT broker: {mqtt_url} (chỉ trên máy này, không mật khẩu: để thử, không dùng thật"
        " / this machine only, no passwords: for trying, not for real use)\n"
        + (
            "  Các cụm loa phát ra loa của máy này / the nodes play through this machine's "
            "speakers\n"
            if args.speakers
            else f"  Nhật ký phát của cụm loa / node play logs: {data_dir}/nodes/*/plays.jsonl\n"
            "  Nghe bản tin qua loa của máy / to hear them: make demo DEMO_ARGS=--speakers\n"
        )
        + "  Thử / try: đăng nhập bằng bientap, soạn bản tin, gửi duyệt; đăng nhập bằng duyet,"
        " duyệt; rồi đặt lịch phát / sign in as bientap, write and submit; as duyet, approve;"
        " then schedule it\n"
        "  Ctrl-C để dừng / to stop.\n"
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    welcomed = False
    while not stop.is_set():
        if any(c.poll() is not None for c in children):
            log.error("a demo process exited; stopping the demo")
            break
        if not welcomed and _answers(args.port):
            # once the web page answers, below the start-up lines, not lost among them
            print(welcome, flush=True)
            welcomed = True
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
