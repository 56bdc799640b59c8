"""``loa controller`` and ``loa admin``: argparse only at import time."""

from __future__ import annotations

import argparse
import getpass
import sys
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import sqlite_utils

    from controller.core.db import Store
    from controller.domain.provisioning import ProvisioningConfig, ProvisioningError


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
    try:
        settings = Settings.from_env(**overrides)
    except ValueError as exc:  # a LOA_* value that cannot work: one line, not a traceback
        raise SystemExit(f"loa controller: {exc}") from None
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


# --- provisioning: ``loa node add|revoke|reissue``, ``loa controller rotate-key`` ----------


def _cli_context(args: Any) -> tuple[Store, ProvisioningConfig]:
    from controller.core.db import Store
    from controller.domain.provisioning import ProvisioningConfig

    settings = settings_from_args(args)
    if not settings.db_path.is_file():
        raise SystemExit(
            f"Không thấy cơ sở dữ liệu {settings.db_path}: hãy chỉ đúng --data-dir "
            "(hoặc LOA_DATA_DIR) của bộ điều khiển."
        )
    return Store(settings.db_path), ProvisioningConfig.from_settings(settings)


def _zone_id(db: sqlite_utils.Database, zone: str) -> int:
    from controller.domain.provisioning import ProvisioningError

    if zone.isdigit():
        return int(zone)
    rows = list(db.query("SELECT id FROM zones WHERE name = ?", [zone]))
    if len(rows) == 1:
        return int(rows[0]["id"])
    raise ProvisioningError(404 if not rows else 409, "zone_not_found", zone_ids=zone)


def _broker_note(cfg: ProvisioningConfig) -> str:
    if cfg.broker_pid_file is not None:
        return f"Đã gửi SIGHUP tới Mosquitto (pid trong {cfg.broker_pid_file}) để nạp lại tệp."
    return (
        f"Đã ghi tệp mật khẩu và ACL vào {cfg.broker_dir}. Nếu không có dịch vụ systemd theo dõi "
        "thư mục này, hãy chạy: systemctl reload mosquitto"
    )


def _print_error(exc: ProvisioningError) -> int:
    from controller.core.messages import error_message

    print(f"{exc.code}: {error_message(exc.code, **exc.params)}", file=sys.stderr)
    return 2


def _out_free(args: Any) -> bool:
    """Refuse before any change: a bundle that cannot be written is a secret lost."""
    out = args.out or Path(f"{args.node_id}.bundle.json")
    if str(out) != "-" and out.exists():
        print(f"Không ghi đè {out}.", file=sys.stderr)
        return False
    return True


def cli_add(args: Any) -> int:
    from controller.domain.provisioning import ProvisioningError, create_node, load_key

    store, cfg = _cli_context(args)
    if not _out_free(args):
        return 2
    try:
        bundle = create_node(
            store,
            cfg,
            load_key(cfg),
            args.node_id,
            _zone_id(store.db, args.zone),
            name=args.name or "",
            lat=args.lat,
            lon=args.lon,
            actor="cli",
        )
    except ProvisioningError as exc:
        return _print_error(exc)
    _emit(args, cfg, bundle, f"Đã tạo cụm loa {args.node_id}.", "")
    return 0


def _emit(args: Any, cfg: ProvisioningConfig, bundle: dict[str, Any], done: str, flag: str) -> None:
    import json

    from controller.domain.provisioning import write_bundle

    out = args.out or Path(f"{args.node_id}.bundle.json")
    if str(out) == "-":
        print(json.dumps(bundle, ensure_ascii=False, indent=2))
    else:
        write_bundle(out, bundle)
        print(
            f"{done} Gói cấu hình (chứa mật khẩu, chỉ hiện một lần): {out}\n"
            f"Trên Raspberry Pi: sudo loa node provision{flag} {out.name}",
            file=sys.stderr,
        )
    print(_broker_note(cfg), file=sys.stderr)


def cli_reissue(args: Any) -> int:
    from controller.domain.provisioning import ProvisioningError, load_key, reissue_node

    store, cfg = _cli_context(args)
    if not _out_free(args):
        return 2
    try:
        bundle = reissue_node(store, cfg, load_key(cfg), args.node_id, actor="cli")
    except ProvisioningError as exc:
        return _print_error(exc)
    _emit(
        args,
        cfg,
        bundle,
        f"Đã cấp mật khẩu mới cho cụm loa {args.node_id}; mật khẩu cũ hết hiệu lực.",
        " --force",
    )
    return 0


def cli_revoke(args: Any) -> int:
    from controller.domain.provisioning import ProvisioningError, revoke_node

    store, cfg = _cli_context(args)
    try:
        node = revoke_node(store, cfg, args.node_id, actor="cli")
    except ProvisioningError as exc:
        return _print_error(exc)
    print(f"Đã thu hồi cụm loa {node['id']} lúc {node['revoked_at']}.", file=sys.stderr)
    print(_broker_note(cfg), file=sys.stderr)
    return 0


def cli_rotate_key(args: Any) -> int:
    from controller.domain.provisioning import rotate_key

    store, cfg = _cli_context(args)
    try:
        old, written = rotate_key(store, cfg, args.bundles, actor="cli")
    except FileExistsError as exc:
        print(f"Không ghi đè: {exc}", file=sys.stderr)
        return 2
    print(
        f"Đã tạo khóa ký mới {cfg.key_path}; khóa cũ giữ ở {old}.\n"
        f"Đã cấp lại {len(written)} gói cấu hình trong {args.bundles}. Hãy khởi động lại bộ "
        "điều khiển ngay (nó cần khóa mới), rồi cài từng gói lên cụm loa của nó (sudo loa node "
        "provision --force GÓI, rồi khởi động lại tác tử).",
        file=sys.stderr,
    )
    print(_broker_note(cfg), file=sys.stderr)
    return 0
