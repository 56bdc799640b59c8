"""Dispatch: turning the database's dispatch rows into signed commands, and node reports back
into dispatch states.

A dispatch is one (broadcast occurrence, node). Its state moves
queued → sent → acked → playing → played | interrupted | failed | missed | cancelled,
and the table is the play log. The database is the single source of truth: ``deliver`` and
``expire`` scan it on every scheduler tick, so nothing depends on in-memory jobs surviving.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime, timedelta
from typing import Any

import sqlite_utils
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from controller.core import broker_rules, metrics
from controller.core.db import Store
from controller.core.settings import Settings
from controller.domain import broadcasts, fleet
from controller.domain import sources as streams
from controller.services.mqtt_link import LogLimiter
from loa import protocol
from loa.protocol import (
    Ack,
    FileContent,
    ItemRef,
    MediaFailed,
    NodeConfig,
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

#: No re-sends while more node messages than this wait to be applied (``Dispatcher.resend``).
RESEND_MAX_BACKLOG = 100

#: The error of a dispatch nobody reported on; ``controller.services.alerts`` looks for this prefix.
NO_REPORT = "no report from the node"

#: Every deliverable dispatch: a file broadcast plays the audio its announcement's approver
#: approved (``approved_sha256``; still so once the announcement is archived), a relay plays once
#: approved (``approved_at``), live speech carries no announcement (``kind`` NULL is a file, rows
#: before v3). ``deliver``, ``sync_node`` and ``play_now`` all read this one query, so a node's
#: sync holds exactly the active, deliverable dispatch rows that are sent or acked for it.
_BROADCAST_ITEM = """
       b.priority, b.max_late_s, b.repeats, b.repeat_gap_s,
       COALESCE(a.title, b.title, '') AS title,
       COALESCE(b.kind, 'file') AS kind, b.stream_source_id, b.duration_s AS window_s,
       m.sha256, m.bytes, m.duration_s
"""
_DELIVERABLE = """
  LEFT JOIN announcements a ON a.id = b.announcement_id
  LEFT JOIN media m ON m.sha256 = COALESCE(a.approved_sha256,
                                           CASE WHEN a.status = 'approved' THEN a.media_sha256 END)
 WHERE b.status = 'active'
   AND CASE COALESCE(b.kind, 'file')
         WHEN 'file' THEN m.sha256 IS NOT NULL
         WHEN 'relay' THEN b.approved_at IS NOT NULL
         ELSE 1 END
"""
_ITEM_QUERY = (
    "SELECT d.id, d.broadcast_id, d.occurrence, d.node_id, d.play_at, d.state,"
    + _BROADCAST_ITEM
    + "FROM dispatches d JOIN broadcasts b ON b.id = d.broadcast_id"
    + _DELIVERABLE
)
#: What ``_ITEM_QUERY`` reads of a broadcast itself, before any dispatch row exists (an
#: emergency's zone command is published first: ``play_now`` with ``planned_from``).
_BROADCAST_ITEM_QUERY = (
    "SELECT b.id AS broadcast_id," + _BROADCAST_ITEM + "FROM broadcasts b" + _DELIVERABLE
)


_ONLINE = "SELECT online FROM nodes WHERE id = ?"


def _parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text)


#: A node's ack of any command that carried a dispatch acks it. The command is looked up per
#: dispatch (a primary-key probe): ``id IN (SELECT … WHERE cmd_id = ?)`` built the list of a zone
#: command's every dispatch — 10,000 in a province — again for each of its 10,000 acks (1.7 ms
#: each against 0.018 ms; bench/emergency_scale.py, docs/monitoring.md).
ACK_UPDATE = (
    "UPDATE dispatches SET "
    "state = CASE WHEN state = 'sent' THEN 'acked' ELSE state END, "
    "acked_at = COALESCE(acked_at, ?), updated_at = ? "
    "WHERE node_id = ? AND state NOT IN ('queued', 'failed', 'cancelled') "
    "AND (cmd_id = ? OR EXISTS (SELECT 1 FROM dispatch_commands c "
    "WHERE c.cmd_id = ? AND c.dispatch_id = dispatches.id))"
)


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
        #: Held while rows are written after their command went out (``play_now`` with
        #: ``planned_from``): ``handle_batch`` waits for it, and is woken as soon as it is free
        #: (SQLite's busy handler alone polls, up to 100 ms late).
        self._rows_gate = threading.Lock()
        #: bad or unknown-node messages: one warning per node per minute, then a count
        self._bad_messages = LogLimiter(log)
        self._next_prune = 0.0
        self._next_zones = time.monotonic() + 60

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
        payload = protocol.dumps(envelope)
        if not self.publish(protocol.node_topic(node_id, "cmd"), payload):
            return False
        self._mark_sent(db, envelope, payload if type_ == "play.now" else None, rows, now)
        return True

    def _mark_sent(
        self,
        db: sqlite_utils.Database,
        envelope: dict[str, Any],
        payload: bytes | None,
        rows: list[dict[str, Any]],
        now: datetime,
    ) -> None:
        """The rows are ``sent`` by this command (its id is their ``cmd_id``); every command
        that ever carried a row is kept in ``dispatch_commands``, so an ack of any of them is
        the row's ack (a ``schedule.sync`` sent before the ``play.now``'s ack arrived would
        otherwise take its ``cmd_id`` and the ack would match nothing). ``payload``: kept to
        be re-sent as is to a node that does not ack (``resend``)."""
        ids = [r["id"] for r in rows]
        if not ids:
            return
        stamp = to_wire_time(now)
        # ``sent_at`` is the first send (the play log's fan-out); a later one (a sync) restarts
        # the re-send clock; an acked dispatch stays acked
        db.execute(
            "UPDATE dispatches SET state = CASE WHEN state = 'acked' THEN 'acked' ELSE 'sent' END, "
            "cmd_id = ?, sent_at = COALESCE(sent_at, ?), updated_at = ?, "
            "resent_at = CASE WHEN sent_at IS NULL THEN NULL ELSE ? END "
            f"WHERE id IN ({','.join('?' * len(ids))})",
            [envelope["id"], stamp, stamp, stamp, *ids],
        )
        db.conn.executemany(
            "INSERT OR IGNORE INTO dispatch_commands (cmd_id, dispatch_id, node_id, at) "
            "VALUES (?, ?, ?, ?)",
            [(envelope["id"], r["id"], r["node_id"], stamp) for r in rows],
        )
        if payload is not None:
            _keep_for_resend(db, envelope, payload)

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

    def play_now(
        self,
        broadcast_id: int,
        now: datetime | None = None,
        *,
        group: bool = False,
        planned_from: datetime | None = None,
    ) -> int:
        """Send ``play.now`` for the broadcast's queued dispatches, to every node at once.

        Emergencies do not wait for the scheduler tick. With ``group`` (an emergency), the nodes
        of protocol 2 get one zone command per target zone (``loa/v1/zone/{id}/cmd``, the broker
        fans it out); every other node (protocol 1, or a broadcast narrowed to some nodes of its
        zones) gets its own signed command, as before. Returns how many dispatches were sent.

        ``planned_from``: the broadcast was saved without its dispatch rows at that time
        (``broadcasts.create_broadcast(..., dispatches_later=True)``, already durable with its
        audit entry). Its zone commands are published first, built from the broadcast alone,
        then its rows are written already ``sent`` by them, in this same transaction: a
        province's 10,000 rows no longer delay the command. Acks wait for the transaction
        (``handle_batch`` takes ``_rows_gate``, then SQLite's write lock), so an ack that
        arrives before its row exists is applied once the row is committed, never lost.
        """
        now = now or utcnow()
        sent = 0
        with self._lock, self._rows_gate, self.store.transaction() as db:
            zone_of = None
            if planned_from is not None:
                sent, zone_of = self._publish_then_write(db, broadcast_id, planned_from, group)
            rows = list(
                db.query(
                    _ITEM_QUERY + " AND d.broadcast_id = ? AND d.state = 'queued'",
                    [broadcast_id],
                )
            )
            per_node = rows
            if group and rows:
                grouped, per_node = self._group_rows(db, broadcast_id, rows, zone_of)
                for zone_id, zone_rows in grouped.items():
                    stamp = utcnow()
                    published = self._zone_play_now(zone_id, self._item(zone_rows[0]), stamp)
                    if published:
                        self._mark_sent(db, *published, zone_rows, stamp)
                        sent += len(zone_rows)
            for row in per_node:
                item = self._item(row)
                ttl = timedelta(seconds=item.max_late_s)
                body = PlayNow(item=item)
                # Stamped as each is published, so the play log shows the fan-out as it happened.
                if self._send(db, "play.now", row["node_id"], body, [row], ttl, utcnow()):
                    sent += 1
        log.info("play.now for broadcast %s sent to %d nodes", broadcast_id, sent)
        return sent

    def _publish_then_write(
        self, db: sqlite_utils.Database, broadcast_id: int, planned_from: datetime, group: bool
    ) -> tuple[int, dict[str, int] | None]:
        """``play_now``'s first step for a broadcast saved without its rows: publish its zone
        commands (with ``group``, when it has one occurrence to play), then write its rows, those
        the zone commands carry already ``sent`` (``dispatch_commands``, ``sent_commands`` as
        ``_mark_sent`` keeps them), the others ``queued`` for ``play_now``'s per-node commands.
        Returns how many rows were sent, and ``_zone_targets``' answer when it was asked."""
        occurrences, node_ids = broadcasts.first_dispatches(db, broadcast_id, planned_from)
        found = list(db.query(_BROADCAST_ITEM_QUERY + " AND b.id = ?", [broadcast_id]))
        zone_of: dict[str, int] | None = None
        commands: dict[int, tuple[dict[str, Any], bytes]] = {}
        if group and found and node_ids and len(occurrences) == 1:
            zone_of = _zone_targets(db, broadcast_id, node_ids)
            occurrence = {
                "occurrence": occurrences[0].key,
                "play_at": to_wire_time(occurrences[0].at),
            }
            item = self._item({**found[0], **occurrence})
            for zone_id in sorted(set(zone_of.values())):
                published = self._zone_play_now(zone_id, item, utcnow())
                if published:
                    commands[zone_id] = published
        rows = broadcasts.dispatch_rows(broadcast_id, occurrences, node_ids, planned_from)
        if zone_of is not None:
            for row in rows:
                zone = zone_of.get(row["node_id"])
                if zone in commands:
                    envelope = commands[zone][0]
                    stamp = envelope["issued_at"]  # as _mark_sent: when it was published
                    row.update(state="sent", cmd_id=envelope["id"], sent_at=stamp, updated_at=stamp)
        broadcasts.insert_dispatches(db, rows)
        sent = 0
        for envelope, payload in commands.values():
            cursor = db.execute(
                "INSERT OR IGNORE INTO dispatch_commands (cmd_id, dispatch_id, node_id, at) "
                "SELECT cmd_id, id, node_id, sent_at FROM dispatches "
                "WHERE broadcast_id = ? AND cmd_id = ?",
                [broadcast_id, envelope["id"]],
            )
            sent += cursor.rowcount or 0
            _keep_for_resend(db, envelope, payload)
        return sent, zone_of

    def _zone_play_now(
        self, zone_id: int, item: ScheduleItem, stamp: datetime
    ) -> tuple[dict[str, Any], bytes] | None:
        """Sign and publish one zone's ``play.now``; its envelope and payload, or None when the
        broker is not reachable now."""
        envelope = sign(
            protocol.new_zone_command(
                "play.now",
                zone_id,
                PlayNow(item=item),
                ttl=timedelta(seconds=item.max_late_s),
                now=stamp,
            ),
            self.key,
        )
        payload = protocol.dumps(envelope)
        return (envelope, payload) if self.publish(protocol.zone_topic(zone_id), payload) else None

    def _group_rows(
        self,
        db: sqlite_utils.Database,
        broadcast_id: int,
        rows: list[dict[str, Any]],
        zone_of: dict[str, int] | None = None,
    ) -> tuple[dict[int, list[dict[str, Any]]], list[dict[str, Any]]]:
        """Split dispatch rows into {target zone: rows} for one zone command each, and the rest
        (per node): a row goes to a zone when ``_zone_targets`` (or ``zone_of``, its answer
        already at hand) gives its node one and its item is the same as the zone's other rows'
        (one command, one item: the rows are one broadcast's, so the same occurrence at the
        same time)."""
        if zone_of is None:
            zone_of = _zone_targets(db, broadcast_id, [r["node_id"] for r in rows])
        grouped: dict[int, list[dict[str, Any]]] = defaultdict(list)
        items: dict[int, tuple[str, str]] = {}
        rest = []
        for row in rows:
            zone = zone_of.get(row["node_id"])
            if zone is None:
                rest.append(row)
                continue
            key = (row["occurrence"], row["play_at"])
            if items.setdefault(zone, key) != key:
                rest.append(row)
                continue
            grouped[zone].append(row)
        return dict(grouped), rest

    def cancel_group(self, broadcast_id: int, holders: list[str]) -> set[str]:
        """Cancel an emergency with zone commands (``schedule.cancel`` and ``play.stop`` on
        each target zone's topic) for the holders ``_zone_targets`` gives a zone; return the
        holders told so (the others get per-node commands from ``cancel``)."""
        now = utcnow()
        zone_of = _zone_targets(self.store.db, broadcast_id, holders, emergency_only=True)
        by_zone: dict[int, list[str]] = defaultdict(list)
        for node_id, zone in zone_of.items():
            by_zone[zone].append(node_id)
        told: set[str] = set()
        for zone_id, nodes in by_zone.items():
            commands: list[tuple[protocol.ZoneCommandType, protocol.CommandBody]] = [
                ("schedule.cancel", ScheduleCancel(items=[ItemRef(broadcast=broadcast_id)])),
                ("play.stop", PlayStop(broadcast=broadcast_id)),
            ]
            ok = True
            for type_, body in commands:
                envelope = sign(
                    protocol.new_zone_command(
                        type_, zone_id, body, ttl=timedelta(hours=1), now=now
                    ),
                    self.key,
                )
                ok = self.publish(protocol.zone_topic(zone_id), protocol.dumps(envelope)) and ok
            if ok:
                told.update(nodes)
        if told:
            log.info("cancel of broadcast %s sent to %d zones", broadcast_id, len(by_zone))
        return told

    def cancel(self, holders: dict[str, list[int]], now: datetime | None = None) -> int:
        """Tell nodes to drop cancelled broadcasts, and to stop them if they are playing."""
        now = now or utcnow()
        sent = 0
        for node_id, broadcast_ids in holders.items():
            refs = [ItemRef(broadcast=b) for b in broadcast_ids]
            cancel = ScheduleCancel(items=refs)
            sent += self.command(node_id, "schedule.cancel", cancel, now=now) is not None
            for b in broadcast_ids:
                sent += (
                    self.command(node_id, "play.stop", PlayStop(broadcast=b), now=now) is not None
                )
        return sent

    def command(
        self,
        node_id: str,
        type_: protocol.CommandType,
        body: protocol.CommandBody,
        *,
        ttl: timedelta = timedelta(hours=1),
        now: datetime | None = None,
    ) -> str | None:
        """Sign and publish one command; its id, or None when the broker is not reachable now."""
        envelope = sign(protocol.new_command(type_, node_id, body, ttl=ttl, now=now), self.key)
        sent = self.publish(protocol.node_topic(node_id, "cmd"), protocol.dumps(envelope))
        return envelope["id"] if sent else None

    def resend(self, now: datetime | None = None, backlog: int = 0) -> int:
        """Publish again, as is, the ``play.now`` (per node or zone) of every dispatch still
        ``sent`` to an online node after ``settings.resend_s``, then twice as long after each
        re-send, on the node's own topic; return how many. Idempotent on the node: the same
        command id is obeyed once (a node that had it answers ``replayed``; its first ack is
        on its way). Not while ``backlog`` (node messages received and not yet applied) is
        over ``RESEND_MAX_BACKLOG``: the acks may be in it, and re-sends would only add to it;
        nor while other nodes' reports on the same broadcast still come in (``_still_acking``):
        re-sends go to the nodes still silent once the others have gone quiet."""
        if self.settings.resend_s <= 0 or backlog > RESEND_MAX_BACKLOG:
            return 0
        now = now or utcnow()
        before = to_wire_time(now - timedelta(seconds=self.settings.resend_s))
        stamp = to_wire_time(now)
        done = 0
        with self._lock, self.store.transaction() as db:
            rows = list(
                db.query(
                    "SELECT d.id, d.broadcast_id, d.node_id, d.resends, "
                    "COALESCE(d.resent_at, d.sent_at) AS last, "
                    "c.payload FROM dispatches d "
                    "JOIN sent_commands c ON c.id = d.cmd_id "
                    "JOIN nodes n ON n.id = d.node_id AND n.online = 1 "
                    "WHERE d.state = 'sent' AND COALESCE(d.resent_at, d.sent_at) < ? "
                    "AND c.expires_at > ?",
                    [before, stamp],
                )
            )
            busy = self._still_acking(db, [r["broadcast_id"] for r in rows], before)
            for row in rows:
                if row["broadcast_id"] in busy:
                    continue
                wait = self.settings.resend_s * 2 ** min(row["resends"] or 0, 6)
                if _parse_time(row["last"]) + timedelta(seconds=wait) > now:
                    continue
                if not self.publish(protocol.node_topic(row["node_id"], "cmd"), row["payload"]):
                    break
                db.execute(
                    "UPDATE dispatches SET resent_at = ?, resends = resends + 1 WHERE id = ?",
                    [stamp, row["id"]],
                )
                done += 1
        if done:
            log.info("re-sent play.now to %d nodes (no ack yet)", done)
        return done

    @staticmethod
    def _still_acking(db: sqlite_utils.Database, broadcast_ids: list[int], since: str) -> set[int]:
        """The broadcasts some node reported on (an ack, a play) since ``since``: the fleet is
        still working through the command, so a node that has not acked yet is more likely slow
        than missed, and a re-send would only add to the work (1,000 simulated nodes on two
        busy cores ack over several seconds)."""
        ids = sorted(set(broadcast_ids))
        if not ids:
            return set()
        return {
            r["broadcast_id"]
            for r in db.query(
                "SELECT DISTINCT broadcast_id FROM dispatches WHERE broadcast_id IN "
                f"({','.join('?' * len(ids))}) AND state NOT IN ('queued', 'sent') "
                "AND updated_at >= ?",
                [*ids, since],
            )
        }

    def send_zones_now_and_then(self) -> int:
        """``send_zones`` for the nodes whose zone chain changed, at most once a minute (the
        reconnect path tells every node; this catches a change of the tree, or a node.config
        the broker could not take)."""
        if time.monotonic() < self._next_zones:
            return 0
        self._next_zones = time.monotonic() + 60
        return self.send_zones()

    def send_zones(self, node_ids: list[str] | None = None) -> int:
        """Tell nodes of protocol 2 which zones' commands to obey (``node.config`` with
        ``zones``: their zone and every zone above it): the nodes named (a reconnect: always),
        or else every online one whose zone chain changed since it was last told. Returns how
        many were told."""
        told = 0
        db = self.store.db
        chains = broker_rules.node_zone_chains(db)
        if node_ids is not None:
            wanted = set(node_ids)
            rows = [
                r
                for r in db.query("SELECT id, protocol, listen_zones FROM nodes WHERE revoked = 0")
                if r["id"] in wanted
            ]
        else:
            rows = list(
                db.query(
                    "SELECT id, protocol, listen_zones FROM nodes "
                    "WHERE revoked = 0 AND online = 1 AND protocol >= 2"
                )
            )
        for row in rows:
            if (row["protocol"] or 1) < 2:
                continue
            chain = list(chains.get(row["id"], ()))
            text = zone_chain_text(chain)
            if node_ids is None and row["listen_zones"] == text:
                continue
            cmd_id = self.command(row["id"], "node.config", NodeConfig(zones=chain))
            if cmd_id:
                with self.store.transaction():
                    db.execute(
                        "UPDATE nodes SET listen_zones = ?, zones_cmd = ? WHERE id = ?",
                        [text, cmd_id, row["id"]],
                    )
                told += 1
        return told

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
                    "WHERE d.state IN ('queued', 'sent', 'acked') AND d.play_at < ? "
                    # only rows near or past their limit reach Python (the check below is the
                    # exact one): every tick read a province emergency's 10,000 rows while its
                    # acks came in, holding the write lock the acks wait for
                    "AND julianday(d.play_at) * 86400.0 + b.max_late_s "
                    "+ CASE WHEN d.state = 'queued' THEN 0 ELSE ? END "
                    "< julianday(?) * 86400.0 + 1",
                    [to_wire_time(now), REPORT_GRACE.total_seconds(), to_wire_time(now)],
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
            db.execute(
                "DELETE FROM dispatch_commands WHERE at < ?",
                [to_wire_time(now - SEEN_REPORTS_KEEP)],
            )
            db.execute("DELETE FROM sent_commands WHERE expires_at < ?", [to_wire_time(now)])
        return cursor.rowcount or 0

    # --- node → controller ------------------------------------------------------------------

    def handle_batch(self, messages: list[tuple[str, bytes]], now: datetime | None = None) -> None:
        """Apply a batch of node messages in one transaction; then sync reconnected nodes.

        Set-based where a province's emergency needs it (10,000 acks in a few seconds): the
        batch's nodes are looked up in one query and its reports' ids in another (QoS 1
        duplicates), and the writes of consecutive reports (``seen_reports``, ``last_seen``, the
        acks) go in one prepared statement each (``_Reports.flush``), before any other message
        is applied, so the batch has the effect of its messages applied one by one, in order.
        Waits while ``play_now`` writes rows whose command is already out (``_rows_gate``).
        """
        now = now or utcnow()
        reconnected: list[str] = []
        with self._rows_gate, self.store.transaction() as db:
            parsed = self._parse_batch(db, messages)
            reports = _Reports(db, now, [m.id for _, m in parsed if isinstance(m, Report)])
            for topic, message in parsed:
                try:
                    if isinstance(message, Report):
                        body = reports.add(message)
                        if body is not None:
                            reports.flush()
                            self._apply_report(db, message, body, now)
                        continue
                    reports.flush()
                    node_id = self._apply(db, message, now)
                except ProtocolError as exc:
                    self._dropped(topic, exc)
                    continue
                if node_id:
                    reconnected.append(node_id)
            reports.flush()
        for node_id in dict.fromkeys(reconnected):
            self.sync_node(node_id, now=utcnow())
        if reconnected:
            self.send_zones(list(dict.fromkeys(reconnected)))

    def _dropped(self, topic: str, exc: ProtocolError) -> None:
        metrics.NODE_MESSAGES_DROPPED.labels(exc.code).inc()
        self._bad_messages.warning(
            topic.rsplit("/", 1)[0], "dropped message on %s: %s: %s", topic, exc.code, exc
        )

    def _parse_batch(
        self, db: sqlite_utils.Database, messages: list[tuple[str, bytes]]
    ) -> list[tuple[str, State | Telemetry | Report]]:
        """The batch's messages from known (not revoked) nodes, parsed and checked, in order;
        the others dropped (counted, logged). Nothing is written."""
        topics = [
            (topic, payload, protocol.node_id_from_topic(topic)) for topic, payload in messages
        ]
        known = _known_nodes(db, {t[2][0] for t in topics if t[2] is not None})
        out: list[tuple[str, State | Telemetry | Report]] = []
        for topic, payload, parts in topics:
            if parts is None:
                continue
            node_id, kind = parts
            if node_id not in known:
                metrics.NODE_MESSAGES_DROPPED.labels("unknown_node").inc()
                self._bad_messages.warning(node_id, "message from unknown node %s", node_id)
                continue
            try:
                data = protocol.parse_json(payload)
                if data.get("node") != node_id:
                    raise ProtocolError(
                        "wrong_node", f"{kind} on {node_id}'s topic names {data.get('node')}"
                    )
                model = _KINDS.get(kind)
                if model is not None:
                    out.append((topic, protocol.parse_model(model, data)))
            except ProtocolError as exc:
                self._dropped(topic, exc)
        return out

    def _apply(
        self, db: sqlite_utils.Database, message: State | Telemetry, now: datetime
    ) -> str | None:
        """Apply a state or a heartbeat; return the node id when it announces a new connection."""
        node_id = message.node
        self._note_protocol(db, node_id, message.protocol)
        if isinstance(message, Telemetry):
            fleet.apply_telemetry(db, message, now)
            return None
        state = message
        if state.online and state.reason in protocol.STATE_REASONS_NOT_CONNECTED:
            # what plays or its settings changed: a sync only if this is a reconnect as we
            # saw it (every node of an emergency sends two of these: a sync each was 2,000
            # commands; and a node.config answered by a sync and node.config, a loop)
            was_online = [r["online"] for r in db.query(_ONLINE, [node_id])] == [1]
            state = state.model_copy(update={"reason": None})
            return node_id if fleet.apply_state(db, state, now) and not was_online else None
        return node_id if fleet.apply_state(db, state, now) else None

    @staticmethod
    def _note_protocol(db: sqlite_utils.Database, node_id: str, version: int) -> None:
        """Keep the protocol the node speaks (2: zone commands); a downgrade counts too."""
        db.execute(
            "UPDATE nodes SET protocol = ? WHERE id = ? AND protocol IS NOT ?",
            [version, node_id, version],
        )

    def _apply_report(
        self, db: sqlite_utils.Database, report: Report, body: Any, now: datetime
    ) -> None:
        """A report other than a positive ack (those are ``_Reports``'), already recorded as
        seen: a refused ack, or how a play went."""
        stamp = to_wire_time(now)
        if isinstance(body, Ack):
            if body.code != "replayed":  # a redelivered or re-sent copy of one it had
                db.execute(
                    "UPDATE dispatches SET state = 'failed', error = ?, updated_at = ? "
                    "WHERE cmd_id = ? AND node_id = ? AND state = 'sent'",
                    [f"{body.code}: {body.error}", stamp, body.cmd_id, report.node],
                )
            return
        where = "WHERE broadcast_id = ? AND occurrence = ? AND node_id = ?"
        key = [body.broadcast, body.occurrence, report.node]
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


_KINDS: dict[str, type[State] | type[Telemetry] | type[Report]] = {
    "state": State,
    "telemetry": Telemetry,
    "report": Report,
}

#: At most this many values in one ``IN (…)`` (SQLite's limit is 32,766 since 3.32; a batch
#: is 500 messages).
_IN_CHUNK = 500


def _chunks(values: list[str]) -> Iterator[list[str]]:
    for i in range(0, len(values), _IN_CHUNK):
        yield values[i : i + _IN_CHUNK]


def _known_nodes(db: sqlite_utils.Database, node_ids: set[str]) -> set[str]:
    """Which of these nodes exist and are not revoked (one query per 500)."""
    known: set[str] = set()
    for chunk in _chunks(sorted(node_ids)):
        known.update(
            r[0]
            for r in db.conn.execute(
                f"SELECT id FROM nodes WHERE revoked = 0 AND id IN ({','.join('?' * len(chunk))})",
                chunk,
            )
        )
    return known


def zone_chain_text(chain: Iterable[int]) -> str:
    """A node's zone chain as stored in ``nodes.listen_zones`` and ``zones_confirmed`` (JSON),
    so that the two compare with the chain the zone tree gives now."""
    return json.dumps(list(chain))


def _keep_for_resend(db: sqlite_utils.Database, envelope: dict[str, Any], payload: bytes) -> None:
    """Keep a sent ``play.now``'s signed payload, to be re-sent as is (``Dispatcher.resend``)."""
    db.execute(
        "INSERT OR REPLACE INTO sent_commands (id, payload, expires_at) VALUES (?, ?, ?)",
        [envelope["id"], payload, envelope["expires_at"]],
    )


class _Reports:
    """The reports of one batch, their writes kept until ``flush``: each new report's id
    (``seen_reports``: a QoS 1 duplicate, in the database or earlier in the batch, is ignored)
    and its node's ``last_seen``, and the positive acks; then one prepared statement each.
    ``add`` gives back the body of any other report, for the caller to apply after a flush."""

    def __init__(self, db: sqlite_utils.Database, now: datetime, report_ids: list[str]):
        self.db = db
        self.now = now
        self.stamp = to_wire_time(now)
        self.seen: set[str] = set()
        for chunk in _chunks(sorted(set(report_ids))):
            self.seen.update(
                r[0]
                for r in db.conn.execute(
                    f"SELECT id FROM seen_reports WHERE id IN ({','.join('?' * len(chunk))})",
                    chunk,
                )
            )
        self.new_ids: list[str] = []
        self.nodes: dict[str, None] = {}
        self.acks: list[tuple[str, str, str, str, str]] = []

    def add(self, report: Report) -> Any:
        """Record the report; None when nothing more is to be done for it (a duplicate, or a
        positive ack: kept for ``flush``), else its body. ``ProtocolError`` (malformed) for a
        body that does not parse, once the report is recorded (as it always was)."""
        if report.id in self.seen:
            return None  # a QoS 1 duplicate
        self.seen.add(report.id)
        self.new_ids.append(report.id)
        self.nodes[report.node] = None
        try:
            body = report.parsed_body()
        except ValueError as exc:
            raise ProtocolError("malformed", str(exc)) from exc
        if isinstance(body, Ack) and body.ok:
            # Any command that carried the dispatch, acked by this node (a zone command's id is
            # shared by every node of the zone).
            at = self.stamp if report.at >= self.now else to_wire_time(report.at)
            self.acks.append((at, self.stamp, report.node, body.cmd_id, body.cmd_id))
            return None
        return body

    def flush(self) -> None:
        if self.new_ids:
            self.db.conn.executemany(
                "INSERT INTO seen_reports (id, at) VALUES (?, ?)",
                [(i, self.stamp) for i in self.new_ids],
            )
            self.new_ids = []
        if self.nodes:
            self.db.conn.executemany(
                "UPDATE nodes SET last_seen = ? WHERE id = ?",
                [(self.stamp, n) for n in self.nodes],
            )
            self.nodes = {}
        if self.acks:
            self.db.conn.executemany(ACK_UPDATE, self.acks)
            # an acked node.config: the node listens to the zones it was told
            self.db.conn.executemany(
                "UPDATE nodes SET zones_confirmed = listen_zones WHERE id = ? AND zones_cmd = ?",
                [(node, cmd_id) for _, _, node, cmd_id, _ in self.acks],
            )
            self.acks = []


def _zone_targets(
    db: sqlite_utils.Database,
    broadcast_id: int,
    node_ids: list[str],
    *,
    emergency_only: bool = False,
) -> dict[str, int]:
    """{node: the zone whose command carries the broadcast to it} for the nodes that get it by
    zone: the node speaks protocol 2, the broadcast covers its zones whole (not narrowed to some
    nodes) and the node's zone chain holds a target — the highest one, so that overlapping
    targets make one command, not two. The other nodes are left out (per-node commands)."""
    found = list(
        db.query(
            "SELECT zone_ids, node_ids, emergency FROM broadcasts WHERE id = ?", [broadcast_id]
        )
    )
    if not found or found[0]["node_ids"] or not node_ids:
        return {}
    if emergency_only and not found[0]["emergency"]:
        return {}
    try:
        targets = {int(z) for z in json.loads(found[0]["zone_ids"] or "[]")}
    except (TypeError, ValueError):
        return {}
    wanted = set(node_ids)
    chains = broker_rules.node_zone_chains(db)
    # every node's protocol, read whole: an IN list of a province's 10,000 ids cost more; and
    # only nodes that confirmed (acked) their current zone chain: one told a moment ago may not
    # be subscribed yet
    new_nodes = [
        node_id
        for node_id, version, confirmed in db.conn.execute(
            "SELECT id, protocol, zones_confirmed FROM nodes ORDER BY id"
        )
        if (version or 1) >= 2
        and node_id in wanted
        and confirmed == zone_chain_text(chains.get(node_id, ()))
    ]
    zone_of: dict[str, int] = {}
    for node_id in new_nodes:
        zone = next((z for z in reversed(chains.get(node_id, ())) if z in targets), None)
        if zone is not None:
            zone_of[node_id] = zone
    return zone_of
