"""``loa controller`` and ``loa admin``: argparse only at import time."""

from __future__ import annotations

import argparse
import getpass
import sys
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("controller", help="run the controller: API, web UI, scheduling")
    p.add_argument(
        "--data-dir", type=Path, help="state directory (default $LOA_DATA_DIR or ./data)"
    )
    p.add_argument("--host", help="listen address (default 127.0.0.1)")
    p.add_argument("--port", type=int, help="listen port (default 8080)")
    p.add_argument("--public-url", help="URL nodes use to reach this controller")
    p.add_argument("--mqtt-url", help="broker, mqtt://host:port or mqtts://host:port")
    p.add_argument("--mqtt-password", help="the controller's MQTT password")
    p.add_argument("--api-token", help="also accept this API token (bootstrap)")
    p.add_argument("--tick", type=float, help="seconds between scheduler ticks (default 2)")
    p.add_argument(
        "--log-format",
        choices=("text", "json"),
        help="text, or json: one JSON object per line (default $LOA_LOG_FORMAT or text)",
    )
    p.set_defaults(func=run_controller)

    admin = sub.add_parser("admin", help="manage officials' accounts")
    admin_sub = admin.add_subparsers(dest="admin_command", required=True)
    create = admin_sub.add_parser("create", help="create an administrator (the first account)")
    create.add_argument("--data-dir", type=Path)
    create.add_argument("--username", required=True)
    create.add_argument("--display-name", default="")
    create.add_argument(
        "--password-stdin", action="store_true", help="read the password from standard input"
    )
    create.set_defaults(func=admin_create)


def settings_from_args(args: argparse.Namespace):
    from controller.settings import Settings

    overrides = {
        "data_dir": getattr(args, "data_dir", None),
        "host": getattr(args, "host", None),
        "port": getattr(args, "port", None),
        "public_url": getattr(args, "public_url", None),
        "mqtt_url": getattr(args, "mqtt_url", None),
        "mqtt_password": getattr(args, "mqtt_password", None),
        "api_token": getattr(args, "api_token", None),
        "tick_s": getattr(args, "tick", None),
    }
    return Settings.from_env(**overrides)


def run_controller(args: argparse.Namespace) -> int:
    import uvicorn
    from uvicorn.config import LOGGING_CONFIG

    from controller import logs
    from controller.app import create_app

    log_format = logs.resolve_format(getattr(args, "log_format", None))
    logs.configure(log_format)
    settings = settings_from_args(args)
    app = create_app(settings)
    uvicorn.run(
        app,
        host=settings.host,
        port=settings.port,
        log_level="info",
        access_log=False,
        # json: uvicorn's own loggers go through the root handler, as JSON too
        log_config=None if log_format == "json" else LOGGING_CONFIG,
    )
    return 0


def admin_create(args: argparse.Namespace) -> int:
    from controller.db import Store
    from controller.users import create_user

    settings = settings_from_args(args)
    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = getpass.getpass("Mật khẩu: ")
        if password != getpass.getpass("Nhập lại mật khẩu: "):
            print("Hai mật khẩu không khớp.", file=sys.stderr)
            return 2
    store = Store(settings.db_path)
    try:
        create_user(store.db, args.username, password, "admin", args.display_name)
    except ValueError as exc:
        print(f"Không tạo được tài khoản: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:  # sqlite3.IntegrityError: the name exists
        print(f"Không tạo được tài khoản: {exc}", file=sys.stderr)
        return 2
    print(f"Đã tạo tài khoản quản trị {args.username}.")
    return 0
