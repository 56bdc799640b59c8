"""Alerts for operators: opened and closed automatically from what the database says.

Three kinds:

* ``node_offline`` — a node's status history says offline for more than
  ``alert_offline_minutes``; closed when it is back online (or revoked).
* ``media_failed`` — a dispatch on the node failed with a media error (a ``media.failed``
  report, or a play that failed because the audio was not there); closed when the node
  plays a broadcast successfully afterwards.
* ``clock_unsynced`` — an online node's heartbeat says its clock is not synchronised, or off
  by more than ``alert_clock_offset_ms``; closed by a heartbeat that is fine again.
* ``play_missed`` — a dispatch the node was sent passed its play time (plus lateness and
  ``dispatch.REPORT_GRACE``) without a report, so it is ``missed``: the node is silent while it
  may look online; closed when the node plays a broadcast successfully afterwards.
* ``disk_low`` — an online node's heartbeat says its data disk has less than
  ``DISK_LOW_MB`` free; closed by a heartbeat with at least ``DISK_LOW_MB`` plus a margin.
* ``store_reset`` — a node's heartbeat says it found its database damaged and started with
  a fresh one (``store_reset_at``); closed ``STORE_RESET_OPEN`` after that reset.

``Monitor.tick`` runs in the controller's scheduler tick: it records missed heartbeats in the
node history on every tick and evaluates alerts every ``alert_check_s``. Ingest never waits for
it. Each opened or closed alert can be POSTed as JSON to ``alert_webhook_url`` by a background
thread that retries with exponential backoff.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
import time
from datetime import datetime, timedelta
from typing import Any

import httpx
import sqlite_utils

from controller.core import metrics
from controller.core.db import Store, insert
from controller.core.messages import alert_message
from controller.core.settings import Settings
from controller.domain import fleet
from controller.services.dispatch import NO_REPORT
from loa.protocol import to_wire_time, utcnow

log = logging.getLogger("controller.alerts")  # its flat name

NODE_OFFLINE = "node_offline"
MEDIA_FAILED = "media_failed"
CLOCK_UNSYNCED = "clock_unsynced"
PLAY_MISSED = "play_missed"
DISK_LOW = "disk_low"
STORE_RESET = "store_reset"
KINDS = (NODE_OFFLINE, MEDIA_FAILED, CLOCK_UNSYNCED, PLAY_MISSED, DISK_LOW, STORE_RESET)

#: How far back media failures and unreported dispatches are looked at.
MEDIA_WINDOW = timedelta(hours=24)

#: Free space (MB) on a node's data disk below which ``disk_low`` opens; it closes again at
#: ``DISK_LOW_MB + DISK_LOW_MARGIN_MB`` so a value hovering at the limit does not flap.
DISK_LOW_MB = 50.0
DISK_LOW_MARGIN_MB = 10.0

#: How long a ``store_reset`` alert stays open after the node's reset.
STORE_RESET_OPEN = timedelta(hours=24)

Event = tuple[str, dict[str, Any]]  # ("opened" | "closed", alert row)


def _open_alerts(db: sqlite_utils.Database, kind: str) -> dict[str, dict[str, Any]]:
    return {
        r["node_id"]: r
        for r in db.query(
            "SELECT * FROM alerts WHERE kind = ? AND closed_at IS NULL AND node_id IS NOT NULL",
            [kind],
        )
    }


def _open(
    db: sqlite_utils.Database,
    kind: str,
    node_id: str,
    message: str,
    now: datetime,
    broadcast_id: int | None = None,
) -> dict[str, Any]:
    row = {
        "kind": kind,
        "node_id": node_id,
        "broadcast_id": broadcast_id,
        "message": message,
        "opened_at": to_wire_time(now),
        "closed_at": None,
        "notified_at": None,
    }
    row["id"] = insert(db, "alerts", row)
    metrics.ALERT_EVENTS.labels(kind, "opened").inc()
    log.warning("alert opened: %s", message, extra={"alert": kind, "node": node_id})
    return row


def _close(db: sqlite_utils.Database, row: dict[str, Any], now: datetime) -> dict[str, Any]:
    closed = {**row, "closed_at": to_wire_time(now)}
    db.execute("UPDATE alerts SET closed_at = ? WHERE id = ?", [closed["closed_at"], row["id"]])
    metrics.ALERT_EVENTS.labels(row["kind"], "closed").inc()
    log.info(
        "alert closed: %s", row["message"], extra={"alert": row["kind"], "node": row["node_id"]}
    )
    return closed


def _names(db: sqlite_utils.Database) -> dict[str, str]:
    return {r[0]: r[1] for r in db.execute("SELECT id, name FROM nodes")}


def _check_offline(
    db: sqlite_utils.Database, settings: Settings, now: datetime, names: dict[str, str]
) -> list[Event]:
    events: list[Event] = []
    minutes = settings.alert_offline_minutes
    threshold = to_wire_time(now - timedelta(minutes=minutes))
    status = {
        r[0]: (bool(r[1]), r[2], bool(r[3]))
        for r in db.execute(
            "SELECT n.id, e.online, e.at, n.revoked FROM nodes n JOIN node_events e "
            "ON e.id = (SELECT id FROM node_events WHERE node_id = n.id "
            "ORDER BY at DESC, id DESC LIMIT 1)"
        )
    }
    opened = _open_alerts(db, NODE_OFFLINE)
    for node_id, (online, at, revoked) in status.items():
        if not online and not revoked and at <= threshold and node_id not in opened:
            since = datetime.fromisoformat(at)
            message = alert_message(
                NODE_OFFLINE,
                node=names.get(node_id, node_id),
                minutes=int((now - since).total_seconds() // 60),
            )
            events.append(("opened", _open(db, NODE_OFFLINE, node_id, message, now)))
    for node_id, row in opened.items():
        online, _, revoked = status.get(node_id, (False, "", True))
        if online or revoked:
            events.append(("closed", _close(db, row, now)))
    return events


def _check_clock(
    db: sqlite_utils.Database, settings: Settings, now: datetime, names: dict[str, str]
) -> list[Event]:
    events: list[Event] = []
    limit = settings.alert_clock_offset_ms
    opened = _open_alerts(db, CLOCK_UNSYNCED)
    for row in db.query(
        "SELECT id, online, last_seen, heartbeat_s, revoked, "
        "json_extract(telemetry, '$.clock_synced') AS synced, "
        "json_extract(telemetry, '$.clock_offset_ms') AS offset_ms "
        "FROM nodes WHERE telemetry IS NOT NULL"
    ):
        node_id = row["id"]
        if row["revoked"]:
            if node_id in opened:
                events.append(("closed", _close(db, opened[node_id], now)))
            continue
        if not fleet.is_online(row, now, settings.missed_heartbeats):
            continue  # an old heartbeat says nothing about the clock now
        offset = row["offset_ms"]
        bad = row["synced"] == 0 or (offset is not None and abs(offset) > limit)
        if bad and node_id not in opened:
            message = alert_message(
                CLOCK_UNSYNCED,
                node=names.get(node_id, node_id),
                offset="?" if offset is None else f"{offset:+.0f}",
                synced="không" if row["synced"] == 0 else "có",
            )
            events.append(("opened", _open(db, CLOCK_UNSYNCED, node_id, message, now)))
        elif not bad and node_id in opened:
            events.append(("closed", _close(db, opened[node_id], now)))
    return events


def _check_dispatch_failures(
    db: sqlite_utils.Database,
    now: datetime,
    names: dict[str, str],
    kind: str,
    where: str,
) -> list[Event]:
    """Open ``kind`` for each node with a dispatch matching ``where`` (newer than the node's
    last alert of that kind); close it when the node plays a broadcast afterwards."""
    events: list[Event] = []
    since = to_wire_time(now - MEDIA_WINDOW)
    opened = _open_alerts(db, kind)
    latest_alert = {
        r[0]: r[1]
        for r in db.execute(
            "SELECT node_id, MAX(opened_at) FROM alerts WHERE kind = ? GROUP BY node_id",
            [kind],
        )
    }
    failures: dict[str, dict[str, Any]] = {}
    for row in db.query(
        "SELECT id, node_id, broadcast_id, error, updated_at FROM dispatches "
        f"WHERE {where} AND updated_at >= ? ORDER BY updated_at",
        [since],
    ):
        failures[row["node_id"]] = row  # the newest per node
    for node_id, failure in failures.items():
        if node_id in opened or failure["updated_at"] <= latest_alert.get(node_id, ""):
            continue
        message = alert_message(
            kind,
            node=names.get(node_id, node_id),
            broadcast=failure["broadcast_id"],
            error=(failure["error"] or "")[:200],
        )
        events.append(
            ("opened", _open(db, kind, node_id, message, now, broadcast_id=failure["broadcast_id"]))
        )
    for node_id, row in opened.items():
        played = db.execute(
            "SELECT 1 FROM dispatches WHERE node_id = ? AND state = 'played' AND updated_at > ? "
            "LIMIT 1",
            [node_id, row["opened_at"]],
        ).fetchone()
        if played:
            events.append(("closed", _close(db, row, now)))
    return events


def _check_media(db: sqlite_utils.Database, now: datetime, names: dict[str, str]) -> list[Event]:
    return _check_dispatch_failures(
        db, now, names, MEDIA_FAILED, "state = 'failed' AND error LIKE 'media%'"
    )


def _check_missed(db: sqlite_utils.Database, now: datetime, names: dict[str, str]) -> list[Event]:
    return _check_dispatch_failures(
        db, now, names, PLAY_MISSED, f"state = 'missed' AND error LIKE '{NO_REPORT}%'"
    )


def _check_disk(
    db: sqlite_utils.Database, settings: Settings, now: datetime, names: dict[str, str]
) -> list[Event]:
    events: list[Event] = []
    opened = _open_alerts(db, DISK_LOW)
    for row in db.query(
        "SELECT id, online, last_seen, heartbeat_s, revoked, "
        "json_extract(telemetry, '$.disk_free_mb') AS free_mb "
        "FROM nodes WHERE telemetry IS NOT NULL"
    ):
        node_id, free = row["id"], row["free_mb"]
        if row["revoked"]:
            if node_id in opened:
                events.append(("closed", _close(db, opened[node_id], now)))
            continue
        if free is None or not fleet.is_online(row, now, settings.missed_heartbeats):
            continue  # an old heartbeat says nothing about the disk now
        if free < DISK_LOW_MB and node_id not in opened:
            message = alert_message(
                DISK_LOW, node=names.get(node_id, node_id), free=f"{free:.1f}", limit=DISK_LOW_MB
            )
            events.append(("opened", _open(db, DISK_LOW, node_id, message, now)))
        elif free >= DISK_LOW_MB + DISK_LOW_MARGIN_MB and node_id in opened:
            events.append(("closed", _close(db, opened[node_id], now)))
    return events


def _check_store_reset(
    db: sqlite_utils.Database, now: datetime, names: dict[str, str]
) -> list[Event]:
    events: list[Event] = []
    opened = _open_alerts(db, STORE_RESET)
    latest_alert = {
        r[0]: r[1]
        for r in db.execute(
            "SELECT node_id, MAX(opened_at) FROM alerts WHERE kind = ? GROUP BY node_id",
            [STORE_RESET],
        )
    }
    window = to_wire_time(now - STORE_RESET_OPEN)
    for node_id, reset_at, kept in db.execute(
        "SELECT id, json_extract(telemetry, '$.store_reset_at'), "
        "json_extract(telemetry, '$.store_reset_kept') FROM nodes "
        "WHERE revoked = 0 AND json_extract(telemetry, '$.store_reset_at') IS NOT NULL"
    ).fetchall():
        # times from nodes are bounded by the controller's clock
        reset_at = min(to_wire_time(datetime.fromisoformat(reset_at)), to_wire_time(now))
        if reset_at < window or node_id in opened or reset_at <= latest_alert.get(node_id, ""):
            continue
        message = alert_message(
            STORE_RESET, node=names.get(node_id, node_id), at=reset_at, kept=kept or "?"
        )
        events.append(("opened", _open(db, STORE_RESET, node_id, message, now)))
    for row in opened.values():
        if row["opened_at"] < window:
            events.append(("closed", _close(db, row, now)))
    return events


def evaluate(store: Store, settings: Settings, now: datetime | None = None) -> list[Event]:
    """Open and close alerts for what the database says now; return what changed."""
    now = now or utcnow()
    with store.transaction() as db:
        names = _names(db)
        return [
            *_check_offline(db, settings, now, names),
            *_check_media(db, now, names),
            *_check_missed(db, now, names),
            *_check_clock(db, settings, now, names),
            *_check_disk(db, settings, now, names),
            *_check_store_reset(db, now, names),
        ]


def list_alerts(
    db: sqlite_utils.Database, include_closed: bool = False, limit: int = 500
) -> list[dict[str, Any]]:
    """Open alerts (oldest first), or with ``include_closed`` the newest ``limit`` of all."""
    base = (
        "SELECT a.id, a.kind, a.node_id, n.name AS node_name, a.broadcast_id, a.message, "
        "a.opened_at, a.closed_at, a.notified_at FROM alerts a "
        "LEFT JOIN nodes n ON n.id = a.node_id"
    )
    if include_closed:
        sql = base + " ORDER BY a.opened_at DESC, a.id DESC LIMIT ?"
    else:
        sql = base + " WHERE a.closed_at IS NULL ORDER BY a.opened_at, a.id LIMIT ?"
    return [{**r, "open": r["closed_at"] is None} for r in db.query(sql, [limit])]


def webhook_payload(event: str, alert: dict[str, Any]) -> dict[str, Any]:
    return {
        "event": f"alert.{event}",
        "alert": {
            key: alert.get(key)
            for key in (
                "id",
                "kind",
                "node_id",
                "broadcast_id",
                "message",
                "opened_at",
                "closed_at",
            )
        },
        "sent_at": to_wire_time(utcnow()),
    }


class WebhookNotifier:
    """POSTs alert events to one URL from a background thread, in order, with retries.

    ``notify`` never blocks: events wait in a bounded queue (the oldest are not dropped; new
    ones are, with a warning, when it is full). Each event is tried ``attempts`` times with
    exponential backoff from ``backoff_s`` (capped at ``max_backoff_s``). A delivered event sets
    ``notified_at`` on the alert.
    """

    def __init__(
        self,
        url: str,
        store: Store | None = None,
        *,
        attempts: int = 6,
        backoff_s: float = 1.0,
        max_backoff_s: float = 60.0,
        timeout_s: float = 5.0,
        max_queue: int = 10_000,
    ):
        self.url = url
        self.store = store
        self.attempts = attempts
        self.backoff_s = backoff_s
        self.max_backoff_s = max_backoff_s
        self.timeout_s = timeout_s
        self._queue: queue.Queue[dict[str, Any] | None] = queue.Queue(max_queue)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="alert-webhook", daemon=True)
        self.delivered = 0
        self.dropped = 0

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        with contextlib.suppress(queue.Full):
            self._queue.put_nowait(None)
        self._thread.join(timeout)

    def notify(self, event: str, alert: dict[str, Any]) -> None:
        try:
            self._queue.put_nowait(webhook_payload(event, alert))
        except queue.Full:
            self.dropped += 1
            metrics.WEBHOOK_DELIVERIES.labels("dropped").inc()
            log.warning("alert webhook queue full; dropped %s", alert.get("id"))

    def idle(self) -> bool:
        return self._queue.unfinished_tasks == 0

    def _run(self) -> None:
        with httpx.Client(timeout=self.timeout_s) as client:
            while True:
                payload = self._queue.get()
                try:
                    if payload is None or self._stop.is_set():
                        return  # undelivered opened alerts are sent again at the next start
                    self._deliver(client, payload)
                finally:
                    self._queue.task_done()

    def _deliver(self, client: httpx.Client, payload: dict[str, Any]) -> None:
        delay = self.backoff_s
        for attempt in range(1, self.attempts + 1):
            try:
                response = client.post(self.url, json=payload)
                if response.status_code < 300:
                    self.delivered += 1
                    metrics.WEBHOOK_DELIVERIES.labels("delivered").inc()
                    self._mark_notified(payload)
                    return
                why = f"HTTP {response.status_code}"
            except httpx.HTTPError as exc:
                why = f"{type(exc).__name__}: {exc}"
            if attempt == self.attempts:
                break
            metrics.WEBHOOK_DELIVERIES.labels("retried").inc()
            log.warning("alert webhook attempt %d failed (%s); retry in %.1fs", attempt, why, delay)
            if self._stop.wait(delay):
                break
            delay = min(delay * 2, self.max_backoff_s)
        self.dropped += 1
        metrics.WEBHOOK_DELIVERIES.labels("failed").inc()
        log.error("alert webhook gave up on %s %s", payload["event"], payload["alert"]["id"])

    def _mark_notified(self, payload: dict[str, Any]) -> None:
        if self.store is None or payload["alert"].get("id") is None:
            return
        try:
            with self.store.transaction() as db:
                db.execute(
                    "UPDATE alerts SET notified_at = ? WHERE id = ?",
                    [to_wire_time(utcnow()), payload["alert"]["id"]],
                )
        except Exception:
            log.exception("could not record the webhook delivery")


class Monitor:
    """The fleet's part of the scheduler tick: missed heartbeats, then alerts."""

    def __init__(self, store: Store, settings: Settings):
        self.store = store
        self.settings = settings
        self.notifier = (
            WebhookNotifier(settings.alert_webhook_url, store)
            if settings.alert_webhook_url
            else None
        )
        self._next_check = 0.0
        #: Silence counts from here (set again at start); see ``fleet.check_heartbeats``.
        self.listening_since: datetime | None = None

    def start(self) -> None:
        self.listening_since = utcnow()
        if self.notifier:
            self.notifier.start()
            for alert in list_alerts(self.store.db):
                if alert["notified_at"] is None:  # opened while the webhook was unreachable
                    self.notifier.notify("opened", alert)

    def stop(self) -> None:
        if self.notifier:
            self.notifier.stop()

    def tick(self, now: datetime | None = None) -> list[Event]:
        now = now or utcnow()
        events: list[Event] = []
        try:
            fleet.check_heartbeats(
                self.store.db, now, self.settings.missed_heartbeats, self.listening_since
            )
            if time.monotonic() >= self._next_check:
                self._next_check = time.monotonic() + self.settings.alert_check_s
                events = evaluate(self.store, self.settings, now)
        except Exception:
            log.exception("fleet monitor tick failed")
            return events
        if self.notifier:
            for event, alert in events:
                self.notifier.notify(event, alert)
        return events
