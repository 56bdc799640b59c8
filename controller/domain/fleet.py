"""The node fleet: registering nodes, their credentials, and what their state and heartbeats say.

A node is online when its retained state says so *and* it has been heard from within
``missed_heartbeats`` heartbeat intervals (a frozen or half-open client never sends its last
will on some brokers).

Every change of a node's status is a row in ``node_events`` (node, controller time, online,
reason): a state message (``reason`` from the node: ``will``, ``shutdown``; ``connected`` when it
comes online), missed heartbeats found by the scheduler tick (``heartbeat``), or heartbeats
heard again from a node counted offline that way (``heartbeat`` too). Uptime over any period is
computed from that history. Events for one node are written in time order, so the newest row
is the status the history records.
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

import sqlite_utils

from controller.core import metrics
from controller.core.broker_files import mosquitto_hash
from controller.core.db import table, transaction
from controller.core.errors import ApiError
from controller.core.security import new_secret, token_hash
from controller.domain import audit
from controller.domain.identity import Identity
from loa.protocol import State, Telemetry, to_wire_time, utcnow

DEFAULT_HEARTBEAT_S = 30.0

#: Reasons written into node_events.
REASON_CONNECTED = "connected"
REASON_WILL = "will"
REASON_HEARTBEAT = "heartbeat"
REASON_OFFLINE = "offline"
#: An online state's reason when the node started with a fresh database (its own was damaged).
REASON_STORE_RESET = "store_reset"

#: How far ahead of the controller's clock a node's ``at`` may be (small clock differences;
#: states sent in quick succession keep their order). Anything later counts as this much.
MAX_CLOCK_AHEAD = timedelta(minutes=2)

#: Periods reported with every node: label → length.
UPTIME_PERIODS: dict[str, timedelta] = {"24h": timedelta(hours=24), "7d": timedelta(days=7)}

_LAST_EVENT = (
    "SELECT online, at FROM node_events WHERE node_id = ? ORDER BY at DESC, id DESC LIMIT 1"
)


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


# --- status history ------------------------------------------------------------------------


def last_event(db: sqlite_utils.Database, node_id: str) -> tuple[bool, str] | None:
    """The newest recorded status of a node: (online, at), or None before its first event."""
    row = db.execute(_LAST_EVENT, [node_id]).fetchone()
    return (bool(row[0]), row[1]) if row else None


def record_status(
    db: sqlite_utils.Database, node_id: str, online: bool, reason: str, at: datetime
) -> bool:
    """Append a status change unless the history already says so; True when a row was written.

    ``at`` is never earlier than the node's previous event, so the history stays ordered.
    """
    last = last_event(db, node_id)
    if last is not None and last[0] == online:
        return False
    stamp = to_wire_time(at)
    if last is not None and stamp < last[1]:
        stamp = last[1]
    db.execute(
        "INSERT INTO node_events (node_id, at, online, reason) VALUES (?, ?, ?, ?)",
        [node_id, stamp, int(online), reason],
    )
    metrics.NODE_STATUS_CHANGES.labels("online" if online else "offline", reason).inc()
    return True


def apply_state(db: sqlite_utils.Database, state: State, now: datetime) -> bool:
    """Record a state message. True when it announces a new connection (time to sync).

    A node's clock is not trusted further than the controller's: ``at`` is bounded by ``now``
    plus ``MAX_CLOCK_AHEAD`` (a retained state dated 2099, published with a node's credentials,
    would otherwise make every later state look stale), and a stored ``state_at`` beyond that
    bound is read as the bound.

    A message no newer than what is stored (a retained copy seen again after a controller
    restart, or a duplicate) changes nothing — unless it is an online state for a node stored
    offline: that is a reconnect as this controller saw the session (a will or an offline
    state came in between), whatever the node's clock says, and it is always applied and
    synced. The last will is the other exception: its ``at`` is when the node *connected*, so
    it is always older than the states the node sent during that connection; it is applied
    when the node is stored online (a will seen again while the node is already offline changes
    nothing). ``state_at`` never goes backwards.

    An online state with reason ``store_reset`` (the node started with a fresh database after
    finding its own damaged) always asks for a sync.
    """
    rows = list(db.query("SELECT state_at, online FROM nodes WHERE id = ?", [state.node]))
    if not rows:
        return False
    now_s = to_wire_time(now)
    bound = to_wire_time(now + MAX_CLOCK_AHEAD)
    at = min(to_wire_time(state.at), bound)
    stored_at = rows[0]["state_at"]
    if stored_at and stored_at > bound:
        stored_at = bound  # pinned by a far-future time stored before times were bounded
    was_online = bool(rows[0]["online"])
    # a reconnect as this controller saw the session, or a node asking for its whole schedule
    reconnect = state.online and (not was_online or state.reason == REASON_STORE_RESET)
    newer = not stored_at or at > stored_at
    if not newer:
        is_will = not state.online and state.reason == REASON_WILL
        if not (reconnect or (is_will and was_online)):
            return False
        at = stored_at  # keep state_at monotonic: older states stay ignored
    update: dict[str, Any] = {"online": int(state.online), "state_at": at}
    if state.online:
        update["last_seen"] = now_s
    if state.version is not None:
        update["version"] = state.version
    if state.volume is not None:
        update["volume"] = state.volume
    update["playing"] = state.playing.model_dump_json() if state.playing else None
    table(db, "nodes").update(state.node, update)
    reason = state.reason or (REASON_CONNECTED if state.online else REASON_OFFLINE)
    record_status(db, state.node, state.online, reason, now)
    return state.online


_TELEMETRY_UPDATE = (
    "UPDATE nodes SET last_seen = ?, heartbeat_s = ?, version = ?, telemetry = ? WHERE id = ? "
    "RETURNING online, (SELECT e.online FROM node_events e WHERE e.node_id = nodes.id "
    "ORDER BY e.at DESC, e.id DESC LIMIT 1)"
)

_stamp_cache: tuple[datetime, str] | None = None


def _stamp(now: datetime) -> str:
    """``to_wire_time`` for the hot path: a batch shares one ``now``, formatted once."""
    global _stamp_cache
    cached = _stamp_cache
    if cached is not None and cached[0] is now:
        return cached[1]
    text = to_wire_time(now)
    _stamp_cache = (now, text)
    return text


def apply_telemetry(db: sqlite_utils.Database, t: Telemetry, now: datetime) -> None:
    """Store a heartbeat (the hot path: one statement per message).

    A node whose history says offline because its heartbeats stopped, while its state still
    says online, is back online when a heartbeat arrives.
    """
    row = db.conn.execute(
        _TELEMETRY_UPDATE, [_stamp(now), t.interval_s, t.version, t.model_dump_json(), t.node]
    ).fetchone()
    if row is not None and row[0] and row[1] != 1:
        record_status(db, t.node, True, REASON_HEARTBEAT, now)


def check_heartbeats(
    db: sqlite_utils.Database,
    now: datetime,
    missed_heartbeats: int,
    listening_since: datetime | None = None,
) -> list[str]:
    """Record offline every node whose state says online but whose heartbeats stopped.

    Called by the controller's scheduler tick. The event is dated when the node crossed the
    limit (last heard + ``missed_heartbeats`` intervals). ``listening_since`` is when this
    controller started hearing the broker: heartbeats sent while the controller was down were
    never heard, so silence counts from then — a controller restart is not a node outage, and
    a node that stays silent after it is dated honestly. Returns the nodes marked offline.
    """
    since = to_wire_time(listening_since) if listening_since else ""
    query = (
        "SELECT n.id, MAX(n.last_seen, ?), n.heartbeat_s FROM nodes n "
        "WHERE n.revoked = 0 AND n.online = 1 AND n.last_seen IS NOT NULL "
        "AND julianday(MAX(n.last_seen, ?)) + COALESCE(n.heartbeat_s, ?) * ? / 86400.0 "
        "< julianday(?) "
        "AND COALESCE((SELECT e.online FROM node_events e WHERE e.node_id = n.id "
        "ORDER BY e.at DESC, e.id DESC LIMIT 1), 1) = 1"
    )
    params = [since, since, DEFAULT_HEARTBEAT_S, missed_heartbeats, to_wire_time(now)]
    if not db.execute(query, params).fetchone():
        return []
    marked = []
    with transaction(db):
        for node_id, heard, heartbeat_s in db.execute(query, params).fetchall():
            limit = timedelta(seconds=(heartbeat_s or DEFAULT_HEARTBEAT_S) * missed_heartbeats)
            at = min(datetime.fromisoformat(heard) + limit, now)
            if record_status(db, node_id, False, REASON_HEARTBEAT, at):
                marked.append(node_id)
    return marked


def history(db: sqlite_utils.Database, node_id: str, limit: int = 50) -> list[dict[str, Any]]:
    """A node's status changes, newest first."""
    return [
        {"at": r["at"], "online": bool(r["online"]), "reason": r["reason"]}
        for r in db.query(
            "SELECT at, online, reason FROM node_events WHERE node_id = ? "
            "ORDER BY at DESC, id DESC LIMIT ?",
            [node_id, limit],
        )
    ]


def uptime(
    db: sqlite_utils.Database,
    start: datetime,
    end: datetime,
    node_ids: Iterable[str] | None = None,
) -> dict[str, float | None]:
    """Percent of [start, end) each node was online, from its status history.

    Only time the history covers counts: before a node's first event its status is unknown
    (not installed yet), and a node with no history in the period has ``None``.
    """
    start_s, end_s = to_wire_time(start), to_wire_time(end)
    ids = list(node_ids) if node_ids is not None else None
    where, params = "", []
    if ids is not None:
        if not ids:
            return {}
        where = f" WHERE n.id IN ({','.join('?' * len(ids))})"
        params = ids
    # Both queries walk the nodes and seek the (node_id, at) index, so the cost follows the
    # number of nodes and of events in the period, not the length of the whole history.
    initial: dict[str, bool] = {}  # each node's status when the period began
    for node_id, online in db.execute(
        "SELECT n.id, (SELECT e.online FROM node_events e WHERE e.node_id = n.id AND e.at < ? "
        f"ORDER BY e.at DESC, e.id DESC LIMIT 1) FROM nodes n{where}",
        [start_s, *params],
    ):
        if online is not None:
            initial[node_id] = bool(online)
    changes: dict[str, list[tuple[datetime, bool]]] = defaultdict(list)
    for node_id, at, online in db.execute(
        "SELECT e.node_id, e.at, e.online FROM nodes n CROSS JOIN node_events e "
        f"ON e.node_id = n.id AND e.at >= ? AND e.at < ?{where} ORDER BY n.id, e.at, e.id",
        [start_s, end_s, *params],
    ):
        changes[node_id].append((datetime.fromisoformat(at), bool(online)))
    result: dict[str, float | None] = {nid: None for nid in ids} if ids is not None else {}
    for node_id in set(initial) | set(changes):
        status: bool | None = initial.get(node_id)
        cursor = start
        up = known = 0.0
        for at, online in [*changes.get(node_id, []), (end, False)]:
            span = (at - cursor).total_seconds()
            if status is not None and span > 0:
                known += span
                if status:
                    up += span
            status, cursor = online, max(cursor, at)
        result[node_id] = round(100.0 * up / known, 2) if known > 0 else None
    return result


# --- reading the fleet ---------------------------------------------------------------------


def is_online(node: dict[str, Any], now: datetime, missed_heartbeats: int) -> bool:
    if not node.get("online") or not node.get("last_seen"):
        return False
    limit = timedelta(seconds=(node.get("heartbeat_s") or DEFAULT_HEARTBEAT_S) * missed_heartbeats)
    return datetime.fromisoformat(node["last_seen"]) + limit >= now


def _node_view(
    row: dict[str, Any],
    now: datetime,
    missed_heartbeats: int,
    since: str | None,
    uptimes: dict[str, dict[str, float | None]],
    open_alerts: int,
) -> dict[str, Any]:
    telemetry = json.loads(row["telemetry"]) if row.get("telemetry") else None
    online = is_online(row, now, missed_heartbeats)
    return {
        "id": row["id"],
        "name": row["name"],
        "zone_id": row["zone_id"],
        "zone_name": row["zone_name"],
        "online": online,
        "last_seen": row["last_seen"],
        "version": row["version"],
        "volume": row["volume"],
        "playing": json.loads(row["playing"]) if row.get("playing") else None,
        "telemetry": telemetry,
        "status": "online" if online else "offline",
        "status_since": since,
        "uptime_pct": {label: uptimes[label].get(row["id"]) for label in uptimes},
        "open_alerts": open_alerts,
    }


def _status_since(db: sqlite_utils.Database, node_ids: list[str] | None) -> dict[str, str]:
    """When each node's current recorded status began (its newest event)."""
    where, params = "", []
    if node_ids is not None:
        where = f" WHERE n.id IN ({','.join('?' * len(node_ids))})"
        params = node_ids
    return {
        r[0]: r[1]
        for r in db.execute(
            "SELECT n.id, (SELECT MAX(e.at) FROM node_events e WHERE e.node_id = n.id) "
            f"FROM nodes n{where}",
            params,
        )
        if r[1] is not None
    }


def _open_alert_counts(db: sqlite_utils.Database) -> dict[str, int]:
    return {
        r[0]: r[1]
        for r in db.execute(
            "SELECT node_id, COUNT(*) FROM alerts WHERE closed_at IS NULL AND node_id IS NOT NULL "
            "GROUP BY node_id"
        )
    }


def list_nodes(
    db: sqlite_utils.Database, now: datetime, missed_heartbeats: int
) -> list[dict[str, Any]]:
    rows = list(
        db.query(
            "SELECT n.*, z.name AS zone_name FROM nodes n JOIN zones z ON z.id = n.zone_id "
            "WHERE n.revoked = 0 ORDER BY z.name, n.id"
        )
    )
    since = _status_since(db, None)
    uptimes = {label: uptime(db, now - length, now) for label, length in UPTIME_PERIODS.items()}
    alerts = _open_alert_counts(db)
    return [
        _node_view(
            row, now, missed_heartbeats, since.get(row["id"]), uptimes, alerts.get(row["id"], 0)
        )
        for row in rows
    ]


def fleet_now(
    db: sqlite_utils.Database, now: datetime, missed_heartbeats: int
) -> list[dict[str, Any]]:
    """Each node's id, name, zone, online and what it plays: what the dashboard counts, which
    every open browser asks for every few seconds, without ``list_nodes``' uptime, status
    history and telemetry."""
    return [
        {
            "id": row["id"],
            "name": row["name"],
            "zone_id": row["zone_id"],
            "online": is_online(row, now, missed_heartbeats),
            "playing": json.loads(row["playing"]) if row["playing"] else None,
        }
        for row in db.query(
            "SELECT id, name, zone_id, online, last_seen, heartbeat_s, playing FROM nodes "
            "WHERE revoked = 0 ORDER BY id"
        )
    ]


def node_detail(
    db: sqlite_utils.Database,
    node_id: str,
    now: datetime,
    missed_heartbeats: int,
    history_limit: int = 50,
) -> dict[str, Any] | None:
    """One node: current state and telemetry, uptime, status history, open alerts."""
    rows = list(
        db.query(
            "SELECT n.*, z.name AS zone_name FROM nodes n JOIN zones z ON z.id = n.zone_id "
            "WHERE n.id = ?",
            [node_id],
        )
    )
    if not rows:
        return None
    row = rows[0]
    uptimes = {
        label: uptime(db, now - length, now, [node_id]) for label, length in UPTIME_PERIODS.items()
    }
    alerts = [
        dict(r)
        for r in db.query(
            "SELECT id, kind, broadcast_id, message, opened_at FROM alerts "
            "WHERE node_id = ? AND closed_at IS NULL ORDER BY opened_at",
            [node_id],
        )
    ]
    view = _node_view(
        row, now, missed_heartbeats, _status_since(db, [node_id]).get(node_id), uptimes, len(alerts)
    )
    view.update(
        {
            "revoked": bool(row["revoked"]),
            "lat": row["lat"],
            "lon": row["lon"],
            "heartbeat_s": row["heartbeat_s"],
            "state_at": row["state_at"],
            "created_at": row["created_at"],
            "history": history(db, node_id, history_limit),
            "alerts": alerts,
        }
    )
    return view


def node_zone(db: sqlite_utils.Database, node_id: str) -> dict[str, Any] | None:
    """A node's ``id`` and ``zone_id`` (revoked ones too), or None when there is no such node."""
    rows = list(db.query("SELECT id, zone_id FROM nodes WHERE id = ?", [node_id]))
    return rows[0] if rows else None


def zones_of_nodes(db: sqlite_utils.Database) -> dict[str, int]:
    """Every node's zone by node id (revoked ones too)."""
    return {r[0]: r[1] for r in db.execute("SELECT id, zone_id FROM nodes")}


def node_names(db: sqlite_utils.Database) -> dict[str, str]:
    """Every node's name by id (revoked ones too: a play log names every node it went to)."""
    return {r["id"]: r["name"] for r in db.query("SELECT id, name FROM nodes")}


def nodes_in_service(db: sqlite_utils.Database) -> list[dict[str, Any]]:
    """The nodes not revoked, ``id`` and ``name``, in id order."""
    return list(db.query("SELECT id, name FROM nodes WHERE revoked = 0 ORDER BY id"))


def any_node_located(db: sqlite_utils.Database) -> bool:
    """Whether any node has a latitude set (the node list then offers the map)."""
    return bool(list(db.query("SELECT 1 FROM nodes WHERE lat IS NOT NULL LIMIT 1")))


def set_position(
    db: sqlite_utils.Database, who: Identity, node_id: str, lat: float, lon: float
) -> None:
    """Place a cluster on the map: latitude −90…90 and longitude −180…180 (both finite, both
    given; else ``bad_coordinates``, 422, nothing written), saved with one ``node.position``
    audit entry (before and after) in the same transaction. An unknown or revoked node is
    ``node_not_found``. Who may do it (``node.manage``, in their area) is the caller's check."""
    if not (math.isfinite(lat) and -90 <= lat <= 90):
        raise ApiError(422, "bad_coordinates", "lat")
    if not (math.isfinite(lon) and -180 <= lon <= 180):
        raise ApiError(422, "bad_coordinates", "lon")
    with transaction(db):
        rows = list(db.query("SELECT lat, lon FROM nodes WHERE id = ? AND revoked = 0", [node_id]))
        if not rows:
            raise ApiError(404, "node_not_found")
        table(db, "nodes").update(node_id, {"lat": lat, "lon": lon})
        audit.record(
            db, who, "node.position", "node", node_id, dict(rows[0]), {"lat": lat, "lon": lon}
        )


def node_positions(db: sqlite_utils.Database) -> dict[str, tuple[float, float]]:
    """Each node's (latitude, longitude) by id, for the nodes that have both."""
    return {
        r["id"]: (r["lat"], r["lon"])
        for r in db.query(
            "SELECT id, lat, lon FROM nodes WHERE lat IS NOT NULL AND lon IS NOT NULL"
        )
    }


def online_offline(
    db: sqlite_utils.Database, now: datetime, missed_heartbeats: int
) -> tuple[int, int]:
    """How many nodes not revoked are online and offline now (``is_online``)."""
    online = offline = 0
    for row in db.query("SELECT online, last_seen, heartbeat_s FROM nodes WHERE revoked = 0"):
        if is_online(row, now, missed_heartbeats):
            online += 1
        else:
            offline += 1
    return online, offline


def open_alerts_by_kind(db: sqlite_utils.Database) -> list[tuple[str, int]]:
    """How many alerts are open, by kind (only the kinds that have one)."""
    return list(
        db.execute("SELECT kind, COUNT(*) FROM alerts WHERE closed_at IS NULL GROUP BY kind")
    )
