"""``loa controller`` and ``loa admin``: argparse only at import time."""

from __future__ import annotations

import argparse
import getpass
import sys
from datetime import timedelta
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
        "--horizon", type=float, help="deliver occurrences this many seconds ahead (default 1 day)"
    )
    p.add_argument(
        "--log-format",
        choices=("text", "json"),
        help="text, or json: one JSON object per line (default $LOA_LOG_FORMAT or text)",
    )
    p.set_defaults(func=run_controller)
    csub = p.add_subparsers(dest="controller_command", metavar="SUBCOMMAND")
    backup = csub.add_parser("backup", help="copy the live database (SQLite online backup)")
    backup.add_argument("dest", type=Path, help="backup file, or a folder for a dated one")
    backup.add_argument("--data-dir", type=Path, default=argparse.SUPPRESS)
    backup.set_defaults(func=backup_command)
    files = csub.add_parser(
        "broker-files", help="write Mosquitto's password and ACL files from the database"
    )
    files.add_argument("--data-dir", type=Path, default=argparse.SUPPRESS)
    files.set_defaults(func=broker_files_command)
    rotate = csub.add_parser(
        "rotate-key", help="new signing key; re-issue every node's bundle (controller stopped)"
    )
    rotate.add_argument("--bundles", type=Path, required=True, help="folder for the new bundles")
    rotate.add_argument("--data-dir", type=Path, default=argparse.SUPPRESS)
    rotate.set_defaults(func=rotate_key_command)
    mount = csub.add_parser("icecast-mount", help="icecast.xml: check listeners with Loa")
    mount.add_argument(
        "--controller-url",
        default="",
        help="how Icecast reaches the controller (default: LOA_PUBLIC_URL or host:port)",
    )
    mount.add_argument("--data-dir", type=Path, default=argparse.SUPPRESS)
    mount.set_defaults(func=icecast_mount_command)

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
    from controller.core.settings import Settings

    overrides = {
        "data_dir": getattr(args, "data_dir", None),
        "host": getattr(args, "host", None),
        "port": getattr(args, "port", None),
        "public_url": getattr(args, "public_url", None),
        "mqtt_url": getattr(args, "mqtt_url", None),
        "mqtt_password": getattr(args, "mqtt_password", None),
        "api_token": getattr(args, "api_token", None),
        "tick_s": getattr(args, "tick", None),
        "delivery_horizon": (
            timedelta(seconds=args.horizon) if getattr(args, "horizon", None) else None
        ),
    }
    settings = Settings.from_env(**overrides)
    if not settings.mqtt_password:  # the one generated with the broker's files, if any
        from dataclasses import replace

        from controller.core.broker_files import stored_controller_password

        stored = stored_controller_password(settings.data_dir)
        if stored:
            settings = replace(settings, mqtt_password=stored)
    return settings


def run_controller(args: argparse.Namespace) -> int:
    import uvicorn
    from uvicorn.config import LOGGING_CONFIG

    from controller.app import create_app
    from controller.core import logs

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
        # Forwarded headers are believed only from settings.trusted_proxies (controller/app.py)
        proxy_headers=False,
        # json: uvicorn's own loggers go through the root handler, as JSON too
        log_config=None if log_format == "json" else LOGGING_CONFIG,
    )
    return 0


def admin_create(args: argparse.Namespace) -> int:
    from controller.core.db import Store
    from controller.domain.users import create_user

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


def backup_command(args: argparse.Namespace) -> int:
    from controller.domain.backup import BackupError, backup_database

    settings = settings_from_args(args)
    try:
        path = backup_database(settings.db_path, args.dest)
    except (BackupError, OSError) as exc:
        print(f"Không sao lưu được: {exc}", file=sys.stderr)
        return 2
    print(path)
    return 0


def broker_files_command(args: argparse.Namespace) -> int:
    from controller.core.db import Store
    from controller.domain.provisioning import ProvisioningConfig, refresh_broker

    settings = settings_from_args(args)
    cfg = ProvisioningConfig.from_settings(settings)
    refresh_broker(Store(settings.db_path).db, cfg)
    print(cfg.broker_dir)
    return 0


def rotate_key_command(args: argparse.Namespace) -> int:
    from controller.domain.provisioning import cli_rotate_key

    return cli_rotate_key(args)


def icecast_mount_command(args: argparse.Namespace) -> int:
    """``loa controller icecast-mount [--controller-url URL]``: print the ``<mount>`` block to
    add to icecast.xml (the password is LOA_ICECAST_URL's). It was ``python -m
    controller.streams icecast-mount``."""
    from controller.core.settings import Settings
    from controller.domain.sources import icecast_mount_config, icecast_source_password

    password = icecast_source_password()
    if not password:
        print(
            "loa controller icecast-mount: set LOA_ICECAST_URL=http://source:PASSWORD@host:port "
            "first",
            file=sys.stderr,
        )
        return 2
    url = args.controller_url or Settings.from_env().base_url
    print(icecast_mount_config(url, password), end="")
    return 0
