"""The node fleet: registering nodes, their credentials, and what their state and heartbeats say.

A node is online when its retained state says so *and* it has been heard from within
``missed_heartbeats`` heartbeat intervals (a frozen or half-open client never sends its last
will on some brokers).
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

import sqlite_utils

from controller.broker_files import mosquitto_hash
from controller.db import table
from controller.security import new_secret, token_hash
from loa.protocol import State, Telemetry, to_wire_time, utcnow

DEFAULT_HEARTBEAT_S = 30.0


def add_node(db: sqlite_utils.Database, node_id: str, zone_id: int, name: str = "") -> str:
    """Register a node; return its new secret (MQTT password and media token). Shown once."""
    secret = new_secret()
    table(db, "nodes").insert(
        {
            "id": node_id,
            "zone_id": zone_id,
            "name": name or node_id,
            "token_hash": token_hash(secret),
            "mqtt_password_hash": mosquitto_hash(secret),  # for the broker's password file
            "revoked": 0,
            "online": 0,
            "heartbeat_s": DEFAULT_HEARTBEAT_S,
            "created_at": to_wire_time(utcnow()),
        }
    )
    return secret


def node_for_token(db: sqlite_utils.Database, token: str) -> dict[str, Any] | None:
    rows = list(
        db.query("SELECT * FROM nodes WHERE token_hash = ? AND revoked = 0", [token_hash(token)])
    )
    return rows[0] if rows else None


def apply_state(db: sqlite_utils.Database, state: State, now: datetime) -> bool:
    """Record a state message. True when it announces a new connection (time to sync).

    A message no newer than what is stored (a retained copy seen again after a controller
    restart, or a duplicate) changes nothing.
    """
    rows = list(db.query("SELECT state_at, online FROM nodes WHERE id = ?", [state.node]))
    if not rows:
        return False
    at = to_wire_time(state.at)
    if rows[0]["state_at"] and at <= rows[0]["state_at"]:
        return False
    update: dict[str, Any] = {"online": int(state.online), "state_at": at}
    if state.online:
        update["last_seen"] = to_wire_time(now)
    if state.version is not None:
        update["version"] = state.version
    if state.volume is not None:
        update["volume"] = state.volume
    update["playing"] = state.playing.model_dump_json() if state.playing else None
    table(db, "nodes").update(state.node, update)
    return state.online


def apply_telemetry(db: sqlite_utils.Database, t: Telemetry, now: datetime) -> None:
    db.execute(
        "UPDATE nodes SET last_seen = ?, heartbeat_s = ?, version = ?, telemetry = ? WHERE id = ?",
        [to_wire_time(now), t.interval_s, t.version, t.model_dump_json(), t.node],
    )


def is_online(node: dict[str, Any], now: datetime, missed_heartbeats: int) -> bool:
    if not node.get("online") or not node.get("last_seen"):
        return False
    limit = timedelta(seconds=(node.get("heartbeat_s") or DEFAULT_HEARTBEAT_S) * missed_heartbeats)
    return datetime.fromisoformat(node["last_seen"]) + limit >= now


def list_nodes(
    db: sqlite_utils.Database, now: datetime, missed_heartbeats: int
) -> list[dict[str, Any]]:
    nodes = []
    for row in db.query(
        "SELECT n.*, z.name AS zone_name FROM nodes n JOIN zones z ON z.id = n.zone_id "
        "WHERE n.revoked = 0 ORDER BY z.name, n.id"
    ):
        telemetry = json.loads(row["telemetry"]) if row.get("telemetry") else None
        nodes.append(
            {
                "id": row["id"],
                "name": row["name"],
                "zone_id": row["zone_id"],
                "zone_name": row["zone_name"],
                "online": is_online(row, now, missed_heartbeats),
                "last_seen": row["last_seen"],
                "version": row["version"],
                "volume": row["volume"],
                "playing": json.loads(row["playing"]) if row.get("playing") else None,
                "telemetry": telemetry,
            }
        )
    return nodes
