"""``loa node provision BUNDLE``: install the bundle the controller generates for one node.

A bundle (JSON, or TOML with the same keys) carries who the node is and how it reaches the
controller; local hardware settings ([player], [amplifier], …) stay in the config file. See
docs/node.md for the format.
"""

from __future__ import annotations

import json
import os
import tomllib
from pathlib import Path
from typing import Any

from node_agent.config import ConfigError, config_from_dict

BUNDLE_VERSION = 1
LOCAL_SECTIONS = ("player", "amplifier", "cache", "limits")


class ProvisionError(ValueError):
    pass


def read_bundle(path: Path) -> dict[str, Any]:
    text = path.read_text(encoding="utf-8")
    try:
        data = json.loads(text) if text.lstrip().startswith("{") else tomllib.loads(text)
    except (ValueError, tomllib.TOMLDecodeError) as exc:
        raise ProvisionError(f"{path}: neither JSON nor TOML: {exc}") from exc
    if not isinstance(data, dict):
        raise ProvisionError(f"{path}: not an object")
    if data.get("version", BUNDLE_VERSION) != BUNDLE_VERSION:
        raise ProvisionError(f"bundle version {data.get('version')} is not supported")
    for key in ("node_id", "controller_public_key"):
        if not isinstance(data.get(key), str) or not data[key]:
            raise ProvisionError(f"bundle has no {key}")
    mqtt = data.get("mqtt")
    if not isinstance(mqtt, dict) or not mqtt.get("url") or not mqtt.get("password"):
        raise ProvisionError("bundle needs mqtt.url and mqtt.password")
    return data


def config_dict(
    bundle: dict[str, Any],
    data_dir: Path,
    ca_file: Path | None,
    existing: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The agent config for a bundle; local sections of an existing config are kept."""
    mqtt = dict(bundle["mqtt"])
    mqtt.setdefault("username", bundle["node_id"])
    mqtt["ca_file"] = str(ca_file) if ca_file else ""
    http = dict(bundle.get("http") or {})
    http.setdefault("token", mqtt["password"])
    cfg: dict[str, Any] = {
        "node_id": bundle["node_id"],
        "data_dir": str(data_dir),
        "controller_public_key": bundle["controller_public_key"],
    }
    for key in ("heartbeat_s", "timezone"):
        if key in bundle:
            cfg[key] = bundle[key]
    for key in ("heartbeat_s", "timezone"):
        if existing and key in existing and key not in bundle:
            cfg[key] = existing[key]
    cfg["mqtt"] = mqtt
    cfg["http"] = http
    for section in LOCAL_SECTIONS:
        if existing and isinstance(existing.get(section), dict):
            cfg[section] = existing[section]
    return cfg


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)  # a TOML basic string: the same escapes as JSON
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    raise ProvisionError(f"cannot write {value!r} to TOML")


def to_toml(cfg: dict[str, Any]) -> str:
    lines = [f"{k} = {_toml_value(v)}" for k, v in cfg.items() if not isinstance(v, dict)]
    for name, table in cfg.items():
        if isinstance(table, dict):
            lines += ["", f"[{name}]"]
            lines += [f"{k} = {_toml_value(v)}" for k, v in table.items() if v is not None]
    return "\n".join(lines) + "\n"


def _write_private(path: Path, text: str, mode: int = 0o600) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def provision(bundle_path: Path, config_path: Path, data_dir: Path, force: bool = False) -> Path:
    """Write the config (0600) and the pinned CA next to it; return the config path."""
    bundle = read_bundle(bundle_path)
    existing = None
    if config_path.exists():
        if not force:
            raise ProvisionError(f"{config_path} exists (use --force to replace its identity)")
        existing = tomllib.loads(config_path.read_text(encoding="utf-8"))
    ca_file = None
    if bundle.get("ca_pem"):
        if "BEGIN CERTIFICATE" not in bundle["ca_pem"]:
            raise ProvisionError("ca_pem is not a PEM certificate")
        ca_file = config_path.parent / "ca.crt"
        _write_private(ca_file, bundle["ca_pem"], 0o644)
    cfg = config_dict(bundle, data_dir, ca_file, existing)
    try:
        config_from_dict(cfg)
        from loa.signing import load_public_key_b64

        load_public_key_b64(cfg["controller_public_key"])
    except (ConfigError, TypeError, ValueError) as exc:
        raise ProvisionError(f"bundle gives an invalid config: {exc}") from exc
    _write_private(config_path, to_toml(cfg))
    data_dir.mkdir(parents=True, exist_ok=True)
    return config_path
