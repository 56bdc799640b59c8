"""Provisioning: adding a node (its credentials, the broker's files, the bundle for its Pi) and
revoking one.

A node has one secret: its MQTT password and its bearer token for media. The controller keeps
only hashes of it (SHA-256 for the media token, Mosquitto's ``$7$`` for the broker), so the
bundle that carries it is shown once. The bundle is what ``loa node provision BUNDLE`` installs
on the Pi (node_agent/provision.py; format in docs/operations.md).

Revoking a node locks it out at once everywhere the controller decides (media token, incoming
messages, new dispatches; its pending dispatches are cancelled) and, after the broker reloads its
files, at the broker too.
"""

from __future__ import annotations

import json
import logging
import math
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlite_utils
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from controller.core import broker_files
from controller.core.db import Store, table
from controller.core.security import new_secret, token_hash
from controller.core.settings import Settings
from controller.domain import audit, fleet
from loa.protocol import to_wire_time, utcnow
from loa.signing import generate_private_key, load_or_create_private_key, public_key_b64

BUNDLE_VERSION = 1
#: Lower-case letters, digits and inner hyphens, like a DNS label: safe as an MQTT user name,
#: client id, topic level, file name and ACL ``%u``.
NODE_ID = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")
MAX_NAME = 200
#: SQLite's integer range: a larger zone id is simply not found.
MAX_ID = 2**63 - 1

log = logging.getLogger("controller.provisioning")  # its flat name


class ProvisioningError(Exception):
    """A refusal with a stable API error code (controller/core/messages.py) and an HTTP status."""

    def __init__(self, status: int, code: str, field: str | None = None, **params: Any):
        super().__init__(code)
        self.status = status
        self.code = code
        self.field = field
        self.params = params


@dataclass(frozen=True)
class ProvisioningConfig:
    """Where the broker's files go and what a bundle tells a node.

    Each value comes from ``settings.extra`` when set there, else from the environment:
    ``LOA_BROKER_DIR`` (default ``{data_dir}/broker``), ``LOA_NODE_MQTT_URL`` (the broker as
    nodes reach it; default the controller's own ``mqtt_url``), ``LOA_NODE_CA_FILE`` (the CA
    certificate nodes pin), ``LOA_BROKER_PID_FILE`` (SIGHUP this broker after each change).
    """

    data_dir: Path
    broker_dir: Path
    controller_username: str
    #: The controller's MQTT password as configured; None: the generated, stored one.
    controller_password: str | None
    node_mqtt_url: str
    controller_url: str
    key_path: Path
    ca_file: Path | None = None
    broker_pid_file: Path | None = None

    @classmethod
    def from_settings(
        cls, settings: Settings, env: dict[str, str] | None = None
    ) -> ProvisioningConfig:
        environ = dict(os.environ) if env is None else env

        def pick(key: str) -> str:
            return settings.extra.get(key) or environ.get(f"LOA_{key.upper()}", "")

        ca_file = pick("node_ca_file")
        pid_file = pick("broker_pid_file")
        return cls(
            data_dir=settings.data_dir,
            broker_dir=Path(pick("broker_dir") or settings.data_dir / "broker"),
            controller_username=settings.mqtt_username,
            controller_password=settings.mqtt_password or None,
            node_mqtt_url=pick("node_mqtt_url") or settings.mqtt_url,
            controller_url=settings.base_url,
            key_path=settings.key_path,
            ca_file=Path(ca_file) if ca_file else None,
            broker_pid_file=Path(pid_file) if pid_file else None,
        )

    def mqtt_password(self) -> str:
        return self.controller_password or broker_files.controller_password(self.data_dir)


def refresh_broker(db: sqlite_utils.Database, cfg: ProvisioningConfig) -> bool:
    """Rewrite the broker's password and ACL files and ask it to reload; True when signalled."""
    broker_files.write_broker_files(
        db, cfg.broker_dir, cfg.controller_username, cfg.mqtt_password()
    )
    return broker_files.reload_broker(cfg.broker_pid_file)


def _refresh_after_change(db: sqlite_utils.Database, cfg: ProvisioningConfig) -> None:
    """After a committed change: a failure to write the files must not lose the change (or a
    bundle shown once), so it is logged loudly; ``loa controller broker-files`` repeats it."""
    try:
        refresh_broker(db, cfg)
    except OSError:
        log.exception(
            "the broker files in %s were not written: fix it, then run "
            "`loa controller broker-files`",
            cfg.broker_dir,
        )


# --- checks -------------------------------------------------------------------------------------


def check_node_id(node_id: str, cfg: ProvisioningConfig) -> None:
    if not NODE_ID.match(node_id) or node_id == cfg.controller_username:
        raise ProvisioningError(422, "bad_node_id", field="id")


def check_coordinates(lat: float | None, lon: float | None) -> None:
    if (lat is None) != (lon is None):
        raise ProvisioningError(422, "bad_coordinates", field="lat" if lat is None else "lon")
    if lat is None or lon is None:
        return
    if not (math.isfinite(lat) and -90 <= lat <= 90):
        raise ProvisioningError(422, "bad_coordinates", field="lat")
    if not (math.isfinite(lon) and -180 <= lon <= 180):
        raise ProvisioningError(422, "bad_coordinates", field="lon")


_PUBLIC = ("id", "zone_id", "name", "lat", "lon", "revoked", "revoked_at", "created_at")


def reserved(db: sqlite_utils.Database, node_id: str) -> bool:
    """A join code that still waits holds this node id (controller/domain/join.py)."""
    return bool(
        list(
            db.query(
                "SELECT 1 FROM join_codes WHERE node_id = ? AND redeemed_at IS NULL "
                "AND revoked_at IS NULL AND expires_at > ?",
                [node_id, to_wire_time(utcnow())],
            )
        )
    )


def public_row(row: dict[str, Any]) -> dict[str, Any]:
    """A node row without its hashes."""
    return {k: row.get(k) for k in _PUBLIC}


def get_node(db: sqlite_utils.Database, node_id: str) -> dict[str, Any] | None:
    rows = list(db.query("SELECT * FROM nodes WHERE id = ?", [node_id]))
    return rows[0] if rows else None


# --- the bundle ---------------------------------------------------------------------------------


def make_bundle(
    node: dict[str, Any], secret: str, cfg: ProvisioningConfig, public_key: str
) -> dict[str, Any]:
    """What ``loa node provision`` installs: who the node is, how it reaches the controller."""
    bundle: dict[str, Any] = {
        "version": BUNDLE_VERSION,
        "node_id": node["id"],
        "name": node["name"],
        "issued_at": to_wire_time(utcnow()),
        "controller_public_key": public_key,
        "mqtt": {"url": cfg.node_mqtt_url, "username": node["id"], "password": secret},
        "http": {"base_url": cfg.controller_url, "token": secret},
    }
    if cfg.ca_file is not None:
        bundle["ca_pem"] = cfg.ca_file.read_text(encoding="ascii")
    return bundle


def write_bundle(path: Path, bundle: dict[str, Any]) -> None:
    """Write a bundle readable by its owner only; never overwrite one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump(bundle, f, ensure_ascii=False, indent=2)
        f.write("\n")


# --- add, revoke, re-issue ----------------------------------------------------------------------


def create_node(
    store: Store,
    cfg: ProvisioningConfig,
    key: Ed25519PrivateKey,
    node_id: str,
    zone_id: int,
    name: str = "",
    lat: float | None = None,
    lon: float | None = None,
    actor: str = "system",
    actor_id: int | None = None,
) -> dict[str, Any]:
    """Register a node, rewrite the broker's files, and return its bundle (shown once)."""
    check_node_id(node_id, cfg)
    name = name.strip()
    if len(name) > MAX_NAME:
        raise ProvisioningError(422, "invalid_request", field="name")
    check_coordinates(lat, lon)
    if not 0 < zone_id <= MAX_ID:
        raise ProvisioningError(404, "zone_not_found", field="zone_id", zone_ids=zone_id)
    with store.transaction() as db:
        if not list(db.query("SELECT 1 FROM zones WHERE id = ?", [zone_id])):
            raise ProvisioningError(404, "zone_not_found", field="zone_id", zone_ids=zone_id)
        if get_node(db, node_id) is not None or reserved(db, node_id):
            raise ProvisioningError(409, "node_exists", field="id", node_id=node_id)
        secret = fleet.add_node(db, node_id, zone_id, name)
        if lat is not None:
            table(db, "nodes").update(node_id, {"lat": lat, "lon": lon})
        node = get_node(db, node_id) or {}
        audit.append(db, actor, actor_id, "node.add", "node", node_id, None, public_row(node))
    _refresh_after_change(store.db, cfg)
    return make_bundle(node, secret, cfg, public_key_b64(key))


def revoke_node(
    store: Store,
    cfg: ProvisioningConfig,
    node_id: str,
    actor: str = "system",
    actor_id: int | None = None,
    before_broker: Callable[[str], object] | None = None,
) -> dict[str, Any]:
    """Lock a node out; its pending dispatches are cancelled. Revoking twice changes nothing.

    ``before_broker(node_id)`` runs after the change is committed and before the broker is told,
    while the node may still be connected: the running controller sends it an empty
    ``schedule.sync`` there, so a connected node drops what it held.
    """
    now = to_wire_time(utcnow())
    changed = False
    with store.transaction() as db:
        node = get_node(db, node_id)
        if node is None:
            raise ProvisioningError(404, "node_not_found")
        if not node["revoked"]:
            changed = True
            db.execute(
                "UPDATE nodes SET revoked = 1, revoked_at = ?, online = 0 WHERE id = ?",
                [now, node_id],
            )
            db.execute(
                "UPDATE dispatches SET state = 'cancelled', error = 'node revoked', "
                "updated_at = ? WHERE node_id = ? AND state IN ('queued', 'sent', 'acked') "
                "AND play_at > ?",
                [now, node_id, now],
            )
            after = get_node(db, node_id) or {}
            audit.append(
                db,
                actor,
                actor_id,
                "node.revoke",
                "node",
                node_id,
                public_row(node),
                public_row(after),
            )
            node = after
    if changed and before_broker is not None:
        try:
            before_broker(node_id)
        except Exception:  # the revocation stands whatever happens here
            log.exception("could not clear the schedule of revoked node %s", node_id)
    _refresh_after_change(store.db, cfg)
    return public_row(node)


def reissue_node(
    store: Store,
    cfg: ProvisioningConfig,
    key: Ed25519PrivateKey,
    node_id: str,
    actor: str = "system",
    actor_id: int | None = None,
    refresh: bool = True,
) -> dict[str, Any]:
    """Give a (not revoked) node a new secret and return its new bundle; the old one stops working.

    For a lost or copied SD card, a node made before schema v2, or a key rotation.
    """
    secret = new_secret()
    with store.transaction() as db:
        node = get_node(db, node_id)
        if node is None:
            raise ProvisioningError(404, "node_not_found")
        if node["revoked"]:
            raise ProvisioningError(409, "node_revoked")
        db.execute(
            "UPDATE nodes SET token_hash = ?, mqtt_password_hash = ? WHERE id = ?",
            [token_hash(secret), broker_files.mosquitto_hash(secret), node_id],
        )
        audit.append(db, actor, actor_id, "node.reissue", "node", node_id, None, public_row(node))
    if refresh:
        _refresh_after_change(store.db, cfg)
    return make_bundle(node, secret, cfg, public_key_b64(key))


def load_key(cfg: ProvisioningConfig) -> Ed25519PrivateKey:
    return load_or_create_private_key(cfg.key_path)


def rotate_key(
    store: Store, cfg: ProvisioningConfig, bundles_dir: Path, actor: str = "system"
) -> tuple[Path, list[Path]]:
    """Replace the controller's signing key and re-issue every active node's bundle.

    The old key is kept beside the new one (``controller_ed25519.pem.<time>.old``, 0600). Every
    node gets a new secret too, so a copy of an old bundle is worth nothing. Run it with the
    controller stopped (it holds the key in memory); nodes keep playing what they hold until
    their new bundle is installed. Returns the old key's new path and the bundles written.
    """
    bundles_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(bundles_dir, 0o700)
    node_ids = [
        r["id"] for r in store.db.query("SELECT id FROM nodes WHERE revoked = 0 ORDER BY id")
    ]
    taken = [
        bundles_dir / f"{n}.bundle.json"
        for n in node_ids
        if (bundles_dir / f"{n}.bundle.json").exists()
    ]
    if taken:
        raise FileExistsError(f"{taken[0]} exists: use an empty folder")
    old = cfg.key_path.with_name(f"{cfg.key_path.name}.{utcnow().strftime('%Y%m%dT%H%M%SZ')}.old")
    if cfg.key_path.exists():
        os.replace(cfg.key_path, old)
    key = generate_private_key(cfg.key_path)
    written = []
    for node_id in node_ids:
        bundle = reissue_node(store, cfg, key, node_id, actor=actor, refresh=False)
        path = bundles_dir / f"{node_id}.bundle.json"
        write_bundle(path, bundle)
        written.append(path)
    with store.transaction() as db:
        audit.append(
            db,
            actor,
            None,
            "controller.rotate_key",
            "controller",
            cfg.key_path.name,
            None,
            {"public_key": public_key_b64(key), "bundles": len(written)},
        )
    refresh_broker(store.db, cfg)
    return old, written
