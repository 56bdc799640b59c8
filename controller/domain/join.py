"""Join codes: a speaker cluster joins with one command typed on its Pi.

An administrator names a node and its zone; the controller answers with a one-time join code and
the line to type on the Pi (``curl -fsSL {public_url}/node/install.sh | sudo sh -s -- CODE``).
The install script (scripts/install-node.sh, served at ``/node/install.sh``) redeems the code at
``POST /api/v1/join`` for the node's bundle, so the node's secret goes from the controller to the
Pi over HTTPS and never through the technician's hands.

Rules:
- A code is 16 letters and digits (Crockford's base 32: no I, L, O, U), shown in groups of four;
  typing is forgiving (case, spaces, hyphens, O for 0, I/L for 1). 80 random bits.
- Only its SHA-256 is stored; it is shown once, when made.
- It is used once: redeeming creates the node (``provisioning``'s checks, the broker's files) and
  returns its bundle in the same step; a second redeem is refused.
- It expires 24 hours after it is made and can be revoked while it waits.
- While it waits, its node id is reserved: no other code or node may take it.
- Making, revoking and redeeming a code are written to the audit log (never the code itself).
- A code's status: ``waiting``, ``expired``, ``revoked``, ``joined`` (redeemed; the node has not
  come online yet, or is offline) or ``online`` (its node is online now); once joined, the list
  says when the node first came online.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
import unicodedata
from datetime import datetime, timedelta
from typing import Any

import sqlite_utils
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from controller.core.db import Store, insert, table
from controller.domain import audit, fleet, provisioning
from controller.domain.provisioning import ProvisioningConfig, ProvisioningError
from loa.protocol import to_wire_time, utcnow
from loa.signing import public_key_b64

#: How long a code can be redeemed after it is made.
LIFETIME = timedelta(hours=24)
#: Crockford's base 32: digits and letters without I, L, O, U.
ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
CODE_LENGTH = 16
_TYPO = str.maketrans({"O": "0", "I": "1", "L": "1"})


def new_code() -> str:
    """A fresh code, grouped for reading aloud: ``7KQ2-M9XD-4HPA-R3TE``."""
    raw = "".join(secrets.choice(ALPHABET) for _ in range(CODE_LENGTH))
    return "-".join(raw[i : i + 4] for i in range(0, CODE_LENGTH, 4))


def normalize(code: str) -> str | None:
    """The code as stored (hashed): upper case, no spaces or hyphens, O→0, I/L→1; None when it
    cannot be a code at all (wrong length or letters)."""
    raw = re.sub(r"[\s-]", "", code).upper().translate(_TYPO)
    if len(raw) != CODE_LENGTH or any(c not in ALPHABET for c in raw):
        return None
    return raw


def code_hash(code: str) -> str:
    return hashlib.sha256(code.encode("ascii")).hexdigest()


def slug(name: str) -> str:
    """A node id from a display name: "Thôn Lạc Xuân 1" → "thon-lac-xuan-1"."""
    plain = unicodedata.normalize("NFD", name.replace("đ", "d").replace("Đ", "D"))
    plain = "".join(c for c in plain if not unicodedata.combining(c)).lower()
    return re.sub(r"[^a-z0-9]+", "-", plain).strip("-")[:63].strip("-")


def join_command(public_url: str, code: str) -> str:
    """The one line a technician types on the Pi."""
    return f"curl -fsSL {public_url.rstrip('/')}/node/install.sh | sudo sh -s -- {code}"


def _taken(db: sqlite_utils.Database, node_id: str) -> bool:
    return provisioning.get_node(db, node_id) is not None or provisioning.reserved(db, node_id)


def create_code(
    store: Store,
    cfg: ProvisioningConfig,
    name: str,
    zone_id: int,
    node_id: str | None = None,
    actor: str = "system",
    actor_id: int | None = None,
) -> dict[str, Any]:
    """Make a code for a new node named ``name`` in ``zone_id``; return the code's row with the
    code itself (``code``, shown once). Without ``node_id`` the id is made from the name
    (``-2``, ``-3``… when taken); a given ``node_id`` that is taken is refused (``node_exists``).
    """
    name = name.strip()
    if not name or len(name) > provisioning.MAX_NAME:
        raise ProvisioningError(422, "invalid_request", field="name")
    if not 0 < zone_id <= provisioning.MAX_ID:
        raise ProvisioningError(404, "zone_not_found", field="zone_id", zone_ids=zone_id)
    chosen = (node_id or "").strip()
    base = chosen or slug(name)
    if not base:
        raise ProvisioningError(422, "bad_node_id", field="id")
    provisioning.check_node_id(base, cfg)
    code = new_code()
    now = utcnow()
    stamp = to_wire_time(now)
    with store.transaction() as db:
        if not list(db.query("SELECT 1 FROM zones WHERE id = ?", [zone_id])):
            raise ProvisioningError(404, "zone_not_found", field="zone_id", zone_ids=zone_id)
        candidate = base
        number = 1
        while _taken(db, candidate):
            if chosen:
                raise ProvisioningError(409, "node_exists", field="id", node_id=candidate)
            number += 1
            suffix = f"-{number}"
            candidate = base[: 63 - len(suffix)].rstrip("-") + suffix
        row = {
            "code_hash": code_hash(normalize(code) or ""),
            "node_id": candidate,
            "zone_id": zone_id,
            "name": name,
            "created_at": stamp,
            "created_by": actor,
            "expires_at": to_wire_time(now + LIFETIME),
        }
        code_id = insert(db, "join_codes", row)
        public = {k: v for k, v in row.items() if k != "code_hash"}
        audit.append(db, actor, actor_id, "join_code.create", "join_code", code_id, None, public)
    return {
        "id": code_id,
        **public,
        "status": "waiting",
        "code": code,
        "command": join_command(cfg.controller_url, code),
    }


def status(row: dict[str, Any], node: dict[str, Any] | None, now: datetime) -> str:
    """Wire times have one fixed format, so they compare as strings."""
    if row["redeemed_at"]:
        return "online" if node and node.get("online") and not node.get("revoked") else "joined"
    if row["revoked_at"]:
        return "revoked"
    if row["expires_at"] <= to_wire_time(now):
        return "expired"
    return "waiting"


def list_codes(
    db: sqlite_utils.Database, limit: int = 50, area: set[int] | None = None
) -> list[dict[str, Any]]:
    """The newest codes with their status and, once joined, when their node first came online
    (``first_online``) and its last heartbeat (``last_seen``); with
    ``area`` (an administrator limited to a zone), only codes for zones in it."""
    now = utcnow()
    out: list[dict[str, Any]] = []
    rows = db.query("SELECT * FROM join_codes ORDER BY id DESC")
    for row in rows:
        if area is not None and row["zone_id"] not in area:
            continue
        if len(out) == limit:
            break
        node = provisioning.get_node(db, row["node_id"]) if row["redeemed_at"] else None
        item = {k: v for k, v in row.items() if k != "code_hash"}
        item["status"] = status(row, node, now)
        item["last_seen"] = node.get("last_seen") if node else None
        item["first_online"] = _first_online(db, row["node_id"]) if node else None
        item["version"] = node.get("version") if node else None
        out.append(item)
    return out


def _first_online(db: sqlite_utils.Database, node_id: str) -> str | None:
    """When the node first came online (its first state message): the end of joining."""
    row = db.execute(
        "SELECT MIN(at) FROM node_events WHERE node_id = ? AND online = 1", [node_id]
    ).fetchone()
    return row[0] if row else None


def revoke_code(
    store: Store,
    code_id: int,
    actor: str = "system",
    actor_id: int | None = None,
    area: set[int] | None = None,
) -> dict[str, Any]:
    """Revoke a code that waits; a code already used cannot be revoked (revoke its node). A code
    for a zone outside ``area`` is not found."""
    with store.transaction() as db:
        rows = list(db.query("SELECT * FROM join_codes WHERE id = ?", [code_id]))
        if not rows or (area is not None and rows[0]["zone_id"] not in area):
            raise ProvisioningError(404, "join_code_not_found")
        row = rows[0]
        if row["redeemed_at"]:
            raise ProvisioningError(409, "join_code_used")
        if not row["revoked_at"]:
            stamp = to_wire_time(utcnow())
            table(db, "join_codes").update(code_id, {"revoked_at": stamp})
            audit.append(
                db,
                actor,
                actor_id,
                "join_code.revoke",
                "join_code",
                code_id,
                None,
                {"revoked_at": stamp},
            )
        row = next(iter(db.query("SELECT * FROM join_codes WHERE id = ?", [code_id])))
    item = {k: v for k, v in row.items() if k != "code_hash"}
    item["status"] = status(row, None, utcnow())
    return item


def redeem(
    store: Store, cfg: ProvisioningConfig, key: Ed25519PrivateKey, code: str, ip: str | None = None
) -> dict[str, Any]:
    """Use a code: create its node and return the node's bundle (shown this once).

    Refusals, each with nothing changed: ``join_code_invalid`` (404: no such code, e.g.
    mistyped), ``join_code_used``, ``join_code_expired``, ``join_code_revoked`` (410).
    """
    raw = normalize(code)
    if raw is None:
        raise ProvisioningError(404, "join_code_invalid")
    now = utcnow()
    stamp = to_wire_time(now)
    with store.transaction() as db:
        rows = list(db.query("SELECT * FROM join_codes WHERE code_hash = ?", [code_hash(raw)]))
        if not rows:
            raise ProvisioningError(404, "join_code_invalid")
        row = rows[0]
        if row["redeemed_at"]:
            raise ProvisioningError(410, "join_code_used")
        if row["revoked_at"]:
            raise ProvisioningError(410, "join_code_revoked")
        if row["expires_at"] <= stamp:
            raise ProvisioningError(410, "join_code_expired")
        if provisioning.get_node(db, row["node_id"]) is not None:
            raise ProvisioningError(409, "node_exists", field="id", node_id=row["node_id"])
        secret = fleet.add_node(db, row["node_id"], row["zone_id"], row["name"])
        table(db, "join_codes").update(row["id"], {"redeemed_at": stamp})
        node = provisioning.get_node(db, row["node_id"]) or {}
        actor = f"join_code:{row['id']}"
        audit.append(
            db,
            actor,
            None,
            "join_code.redeem",
            "join_code",
            row["id"],
            None,
            {"node_id": row["node_id"], "ip": ip},
        )
        insert(
            db,
            "audit_log",
            {
                "at": stamp,
                "actor": actor,
                "actor_id": None,
                "action": "node.add",
                "entity": "node",
                "entity_id": row["node_id"],
                "after": json.dumps(provisioning.public_row(node), ensure_ascii=False),
            },
        )
    provisioning._refresh_after_change(store.db, cfg)
    return provisioning.make_bundle(node, secret, cfg, public_key_b64(key))
