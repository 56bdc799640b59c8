"""Dispatch: turning the database's dispatch rows into signed commands, and node reports back
into dispatch states.

A dispatch is one (broadcast occurrence, node). Its state moves
queued → sent → acked → playing → played | interrupted | failed | missed | cancelled,
and the table is the play log. The database is the single source of truth: ``deliver`` and
``expire`` scan it on every scheduler tick, so nothing depends on in-memory jobs surviving.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import sqlite_utils
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from controller.core import metrics
from controller.core.db import Store
from controller.core.settings import Settings
from controller.domain import fleet
from controller.domain import sources as streams
from controller.services.mqtt_link import LogLimiter
from loa import protocol
from loa.protocol import (
    Ack,
    FileContent,
    ItemRef,
    MediaFailed,
    PlayFinished,
    PlayNow,
    PlayStarted,
    PlayStop,
    ProtocolError,
    Report,
    ScheduleCancel,
    ScheduleItem,
    SchedulePut,
    ScheduleSync,
    State,
    StreamContent,
    Telemetry,
    to_wire_time,
    utcnow,
)
from loa.signing import sign

log = logging.getLogger("controller.dispatch")  # its flat name

Publisher = Callable[[str, bytes], bool]

FINAL_STATES = ("played", "interrupted", "failed", "missed", "cancelled")
_RANK = {"queued": 0, "sent": 1, "acked": 2, "playing": 3}

#: How long a schedule.sync stays valid in a node's queue.
SYNC_TTL = timedelta(minutes=10)

#: How long after a dispatch's last allowed start (play time + lateness) the controller waits
#: for a report (``play.started`` or a refused ack) before a ``sent``/``acked`` dispatch is
#: ``missed``: reports a node queued while cut off for a moment still arrive in time.
REPORT_GRACE = timedelta(minutes=5)

#: How long report ids are kept to recognise QoS 1 duplicates (a node's outbox may hold a
#: report through a long outage; an older duplicate is harmless, see ``prune_seen_reports``).
SEEN_REPORTS_KEEP = timedelta(days=7)

#: The error of a dispatch nobody reported on; ``controller.services.alerts`` looks for this prefix.
NO_REPORT = "no report from the node"

#: Every deliverable dispatch: a file broadcast plays the audio its announcement's approver
#: approved (``approved_sha256``; still so once the announcement is archived), a relay plays once
#: approved (``approved_at``), live speech carries no announcement (``kind`` NULL is a file, rows
#: before v3). ``deliver``, ``sync_node`` and ``play_now`` all read this one query, so a node's
#: sync holds exactly the active, deliverable dispatch rows that are sent or acked for it.
_ITEM_QUERY = """
SELECT d.id, d.broadcast_id, d.occurrence, d.node_id, d.play_at, d.state,
       b.priority, b.max_late_s, b.repeats, b.repeat_gap_s,
       COALESCE(a.title, b.title, '') AS title,
       COALESCE(b.kind, 'file') AS kind, b.stream_source_id, b.duration_s AS window_s,
       m.sha256, m.bytes, m.duration_s
  FROM dispatches d
  JOIN broadcasts b ON b.id = d.broadcast_id
  LEFT JOIN announcements a ON a.id = b.announcement_id
  LEFT JOIN media m ON m.sha256 = COALESCE(a.approved_sha256,
                                           CASE WHEN a.status = 'approved' THEN a.media_sha256 END)
 WHERE b.status = 'active'
   AND CASE COALESCE(b.kind, 'file')
         WHEN 'file' THEN m.sha256 IS NOT NULL
         WHEN 'relay' THEN b.approved_at IS NOT NULL
         ELSE 1 END
"""


def _parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text)


class Dispatcher:
    def __init__(
        self, store: Store, settings: Settings, key: Ed25519PrivateKey, publish: Publisher
    ):
        self.store = store
        self.settings = settings
        self.key = key
        self.publish = publish
        # deliver, expire and sync must not interleave: a sync computed from a stale view
        # could otherwise overwrite a put sent a moment earlier.
        self._lock = threading.Lock()
        #: bad or unknown-node messages: one warning per node per minute, then a count
        self._bad_messages = LogLimiter(log)
        self._next_prune = 0.0

    # --- controller → node ------------------------------------------------------------------

    def _content(self, row: dict[str, Any]) -> FileContent | StreamContent:
        if row["kind"] == "relay":
            play_at = _parse_time(row["play_at"])
            return StreamContent(
                url=streams.relay_url(self.settings, row["stream_source_id"]),
                until=play_at + timedelta(seconds=row["window_s"]),
            )
        if row["kind"] == "live":
            return StreamContent(
                url=streams.live_url(self.settings, row["broadcast_id"]), until=None, live=True
            )
        sha = row["sha256"]
        return FileContent(
            url=f"{self.settings.base_url}/media/{sha}.mp3",
            sha256=sha,
            bytes=row["bytes"],
            duration_s=row["duration_s"],
        )

    def _item(self, row: dict[str, Any]) -> ScheduleItem:
        return ScheduleItem(
            broadcast=row["broadcast_id"],
            occurrence=row["occurrence"],
            play_at=_parse_time(row["play_at"]),
            content=self._content(row),
            priority=row["priority"],
            max_late_s=row["max_late_s"],
            repeats=row["repeats"] or 1,
            repeat_gap_s=row["repeat_gap_s"] if row["repeat_gap_s"] is not None else 3.0,
            title=row["title"][:200],
        )

    def _send(
        self,
        db: sqlite_utils.Database,
        type_: protocol.CommandType,
        node_id: str,
        body: protocol.CommandBody,
        rows: list[dict[str, Any]],
        ttl: timedelta,
        now: datetime,
    ) -> bool:
        envelope = sign(protocol.new_command(type_, node_id, body, ttl=ttl, now=now), self.key)
        if not self.publish(protocol.node_topic(node_id, "cmd"), protocol.dumps(envelope)):
            return False
        ids = [r["id"] for r in rows]
        if ids:
            db.execute(
                f"UPDATE dispatches SET state = 'sent', cmd_id = ?, sent_at = ?, updated_at = ? "
                f"WHERE id IN ({','.join('?' * len(ids))})",
                [envelope["id"], to_wire_time(now), to_wire_time(now), *ids],
            )
        return True

    def deliver(self, now: datetime | None = None) -> int:
        """Send every queued dispatch that falls inside the delivery horizon; return how many."""
        now = now or utcnow()
        horizon = to_wire_time(now + self.settings.delivery_horizon)
        sent = 0
        with self._lock, self.store.transaction() as db:
            rows = list(
                db.query(
                    _ITEM_QUERY + " AND d.state = 'queued' AND d.play_at <= ? ORDER BY d.play_at",
                    [horizon],
                )
            )
            by_node: dict[str, list[dict[str, Any]]] = defaultdict(list)
            for row in rows:
                if _parse_time(row["play_at"]) + timedelta(seconds=row["max_late_s"]) > now:
                    by_node[row["node_id"]].append(row)
            for node_id, node_rows in by_node.items():
                items = [self._item(r) for r in node_rows]
                last = max(i.play_at + timedelta(seconds=i.max_late_s) for i in items)
                ttl = max(last - now, timedelta(seconds=30))
                if self._send(
                    db, "schedule.put", node_id, SchedulePut(items=items), node_rows, ttl, now
                ):
                    sent += len(node_rows)
        if sent:
            log.info("delivered %d dispatches", sent)
        return sent

    def sync_node(self, node_id: str, now: datetime | None = None) -> bool:
        """Send the node its whole future schedule (authoritative), e.g. when it reconnects."""
        now = now or utcnow()
        horizon = to_wire_time(now + self.settings.delivery_horizon)
        with self._lock, self.store.transaction() as db:
            rows = [
                r
                for r in db.query(
                    _ITEM_QUERY + " AND d.node_id = ? AND d.state IN ('queued', 'sent', 'acked')"
                    " AND d.play_at <= ? ORDER BY d.play_at",
                    [node_id, horizon],
                )
                if _parse_time(r["play_at"]) + timedelta(seconds=r["max_late_s"]) > now
            ]
            body = ScheduleSync(items=[self._item(r) for r in rows])
            ok = self._send(db, "schedule.sync", node_id, body, rows, SYNC_TTL, now)
        log.info("schedule.sync to %s with %d items: %s", node_id, len(rows), ok)
        return ok

    def play_now(self, broadcast_id: int, now: datetime | None = None) -> int:
        """Send ``play.now`` for the broadcast's queued dispatches, to every node at once.

        Emergencies do not wait for the scheduler tick; each node gets its own signed command.
        """
        now = now or utcnow()
        sent = 0
        with self._lock, self.store.transaction() as db:
            rows = list(
                db.query(
                    _ITEM_QUERY + " AND d.broadcast_id = ? AND d.state = 'queued'",
                    [broadcast_id],
                )
            )
            for row in rows:
                item = self._item(row)
                ttl = timedelta(seconds=item.max_late_s)
                body = PlayNow(item=item)
                # Stamped as each is published, so the play log shows the fan-out as it happened.
                if self._send(db, "play.now", row["node_id"], body, [row], ttl, utcnow()):
                    sent += 1
        log.info("play.now for broadcast %s sent to %d nodes", broadcast_id, sent)
        return sent

    def cancel(self, holders: dict[str, list[int]], now: datetime | None = None) -> int:
        """Tell nodes to drop cancelled broadcasts, and to stop them if they are playing."""
        now = now or utcnow()
        sent = 0
        for node_id, broadcast_ids in holders.items():
            refs = [ItemRef(broadcast=b) for b in broadcast_ids]
            sent += self.command(node_id, "schedule.cancel", ScheduleCancel(items=refs), now=now)
            for b in broadcast_ids:
                sent += self.command(node_id, "play.stop", PlayStop(broadcast=b), now=now)
        return sent

    def command(
        self,
        node_id: str,
        type_: protocol.CommandType,
        body: protocol.CommandBody,
        *,
        ttl: timedelta = timedelta(hours=1),
        now: datetime | None = None,
    ) -> bool:
        """Sign and publish one command; False when the broker is not reachable now."""
        envelope = sign(protocol.new_command(type_, node_id, body, ttl=ttl, now=now), self.key)
        return self.publish(protocol.node_topic(node_id, "cmd"), protocol.dumps(envelope))

    def expire(self, now: datetime | None = None) -> int:
        """Mark missed what can no longer play as planned; return how many.

        * ``queued`` past its lateness limit: it was never delivered (or its announcement was
          not approved in time).
        * ``sent`` or ``acked`` past its lateness limit plus ``REPORT_GRACE`` with no report:
          the node never said it started (silenced, full disk, lost command). The error says
          which state it was left in; a report that still arrives later (``play.started``,
          ``play.finished``) wins over it.
        """
        now = now or utcnow()
        missed = 0
        with self._lock, self.store.transaction() as db:
            rows = list(
                db.query(
                    "SELECT d.id, d.play_at, d.state, b.max_late_s, "
                    "CASE WHEN COALESCE(b.kind, 'file') = 'file' AND a.approved_sha256 IS NULL "
                    "THEN a.status WHEN b.kind = 'relay' AND b.approved_at IS NULL "
                    "THEN 'pending' ELSE 'approved' END AS status FROM dispatches d "
                    "JOIN broadcasts b ON b.id = d.broadcast_id "
                    "LEFT JOIN announcements a ON a.id = b.announcement_id "
                    "WHERE d.state IN ('queued', 'sent', 'acked') AND d.play_at < ?",
                    [to_wire_time(now)],
                )
            )
            for row in rows:
                limit = _parse_time(row["play_at"]) + timedelta(seconds=row["max_late_s"])
                if row["state"] != "queued":
                    limit += REPORT_GRACE
                if limit > now:
                    continue
                if row["state"] != "queued":
                    reason = f"{NO_REPORT} by play time (left {row['state']})"
                elif row["status"] == "approved":
                    reason = "not delivered before play time"
                else:
                    reason = f"announcement not approved in time ({row['status']})"
                db.execute(
                    "UPDATE dispatches SET state = 'missed', error = ?, updated_at = ? "
                    "WHERE id = ? AND state = ?",
                    [reason, to_wire_time(now), row["id"], row["state"]],
                )
                missed += 1
        self.prune_seen_reports(now)
        return missed

    def prune_seen_reports(self, now: datetime, force: bool = False) -> int:
        """Forget report ids older than ``SEEN_REPORTS_KEEP`` (at most hourly, unless
        ``force``); return how many. A duplicate older than that changes nothing anyway:
        report updates are idempotent."""
        if not force and time.monotonic() < self._next_prune:
            return 0
        self._next_prune = time.monotonic() + 3600
        with self.store.transaction() as db:
            cursor = db.execute(
                "DELETE FROM seen_reports WHERE at < ?", [to_wire_time(now - SEEN_REPORTS_KEEP)]
            )
        return cursor.rowcount or 0

    # --- node → controller ------------------------------------------------------------------

    def handle_batch(self, messages: list[tuple[str, bytes]], now: datetime | None = None) -> None:
        """Apply a batch of node messages in one transaction; then sync reconnected nodes."""
        now = now or utcnow()
        reconnected: list[str] = []
        with self.store.transaction() as db:
            for topic, payload in messages:
                try:
                    node_id = self._apply(db, topic, payload, now)
                except ProtocolError as exc:
                    metrics.NODE_MESSAGES_DROPPED.labels(exc.code).inc()
                    self._bad_messages.warning(
                        topic.rsplit("/", 1)[0],
                        "dropped message on %s: %s: %s",
                        topic,
                        exc.code,
                        exc,
                    )
                    continue
                if node_id:
                    reconnected.append(node_id)
        for node_id in dict.fromkeys(reconnected):
            self.sync_node(node_id, now=utcnow())

    def _apply(
        self, db: sqlite_utils.Database, topic: str, payload: bytes, now: datetime
    ) -> str | None:
        """Apply one message; return the node id when it announces a new connection."""
        parsed = protocol.node_id_from_topic(topic)
        if parsed is None:
            return None
        node_id, kind = parsed
        if not list(db.query("SELECT 1 FROM nodes WHERE id = ? AND revoked = 0", [node_id])):
            metrics.NODE_MESSAGES_DROPPED.labels("unknown_node").inc()
            self._bad_messages.warning(node_id, "message from unknown node %s", node_id)
            return None
        data = protocol.parse_json(payload)
        if data.get("node") != node_id:
            raise ProtocolError(
                "wrong_node", f"{kind} on {node_id}'s topic names {data.get('node')}"
            )
        if kind == "state":
            state = protocol.parse_model(State, data)
            return node_id if fleet.apply_state(db, state, now) else None
        if kind == "telemetry":
            fleet.apply_telemetry(db, protocol.parse_model(Telemetry, data), now)
        elif kind == "report":
            self._apply_report(db, protocol.parse_model(Report, data), now)
        return None

    def _apply_report(self, db: sqlite_utils.Database, report: Report, now: datetime) -> None:
        if list(db.query("SELECT 1 FROM seen_reports WHERE id = ?", [report.id])):
            return  # a QoS 1 duplicate
        db.execute(
            "INSERT INTO seen_reports (id, at) VALUES (?, ?)", [report.id, to_wire_time(now)]
        )
        db.execute("UPDATE nodes SET last_seen = ? WHERE id = ?", [to_wire_time(now), report.node])
        try:
            body = report.parsed_body()
        except ValueError as exc:
            raise ProtocolError("malformed", str(exc)) from exc
        stamp = to_wire_time(now)
        if isinstance(body, Ack):
            if body.ok:
                db.execute(
                    "UPDATE dispatches SET state = 'acked', acked_at = ?, updated_at = ? "
                    "WHERE cmd_id = ? AND state = 'sent'",
                    [to_wire_time(min(report.at, now)), stamp, body.cmd_id],
                )
            elif body.code != "replayed":  # a redelivered copy of a command already obeyed
                db.execute(
                    "UPDATE dispatches SET state = 'failed', error = ?, updated_at = ? "
                    "WHERE cmd_id = ? AND state = 'sent'",
                    [f"{body.code}: {body.error}", stamp, body.cmd_id],
                )
            return
        where = "WHERE broadcast_id = ? AND occurrence = ? AND node_id = ?"
        key = [body.broadcast, body.occurrence, report.node]  # type: ignore[attr-defined]
        if isinstance(body, PlayStarted):
            db.execute(
                "UPDATE dispatches SET state = 'playing', started_at = ?, updated_at = ? "
                f"{where} AND (state IN ('queued', 'sent', 'acked') "
                f"OR (state = 'missed' AND error LIKE '{NO_REPORT}%'))",
                [to_wire_time(body.started_at), stamp, *key],
            )
        elif isinstance(body, PlayFinished):
            db.execute(
                "UPDATE dispatches SET state = ?, started_at = COALESCE(?, started_at), "
                "finished_at = ?, error = ?, updated_at = ?, played_s = ?, interruptions = ? "
                f"{where}",
                [
                    body.result,
                    to_wire_time(body.started_at) if body.started_at else None,
                    to_wire_time(body.ended_at),
                    body.error,
                    stamp,
                    body.played_s,
                    body.interruptions,
                    *key,
                ],
            )
        elif isinstance(body, MediaFailed):
            db.execute(
                f"UPDATE dispatches SET state = 'failed', error = ?, updated_at = ? {where} "
                "AND state IN ('queued', 'sent', 'acked')",
                [f"media: {body.error}", stamp, *key],
            )
