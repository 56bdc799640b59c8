"""The database of record: one SQLite file, opened per thread, its schema kept by migrations.

Everything the controller knows lives here; scheduler jobs and MQTT state are derived from it.
Times are stored as UTC ISO 8601 strings with a Z (``loa.protocol.to_wire_time``), which sort
as text.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, suppress
from pathlib import Path
from typing import Any, Literal, cast

import sqlite_utils
from sqlite_utils.db import Table

Migration = Callable[[sqlite_utils.Database], None]


def _v1(db: sqlite_utils.Database) -> None:
    table(db, "zones").create(
        {"id": int, "parent_id": int, "name": str, "kind": str, "created_at": str},
        pk="id",
        foreign_keys=[("parent_id", "zones", "id")],
    )
    table(db, "nodes").create(
        {
            "id": str,
            "zone_id": int,
            "name": str,
            "token_hash": str,
            "revoked": int,
            "online": int,
            "state_at": str,
            "last_seen": str,
            "heartbeat_s": float,
            "version": str,
            "volume": int,
            "playing": str,
            "telemetry": str,
            "created_at": str,
        },
        pk="id",
        foreign_keys=[("zone_id", "zones", "id")],
        defaults={"revoked": 0, "online": 0},
    )
    table(db, "users").create(
        {
            "id": int,
            "username": str,
            "display_name": str,
            "password_hash": str,
            "role": str,
            "zone_id": int,
            "created_at": str,
            "disabled": int,
        },
        pk="id",
        defaults={"disabled": 0},
    )
    table(db, "users").create_index(["username"], unique=True)
    table(db, "api_tokens").create(
        {
            "id": int,
            "name": str,
            "token_hash": str,
            "role": str,
            "user_id": int,
            "created_at": str,
            "revoked_at": str,
        },
        pk="id",
    )
    table(db, "api_tokens").create_index(["token_hash"], unique=True)
    table(db, "media").create(
        {"sha256": str, "bytes": int, "duration_s": float, "mime": str, "created_at": str},
        pk="sha256",
    )
    table(db, "announcements").create(
        {
            "id": int,
            "title": str,
            "text": str,
            "category": str,
            "priority": str,
            "status": str,
            "engine": str,
            "voice": str,
            "normalized_text": str,
            "media_sha256": str,
            "created_by": int,
            "created_at": str,
            "updated_at": str,
        },
        pk="id",
    )
    table(db, "broadcasts").create(
        {
            "id": int,
            "announcement_id": int,
            "zone_ids": str,  # JSON list
            "starts_at": str,
            "rrule": str,
            "priority": str,
            "max_late_s": float,
            "repeats": int,
            "status": str,  # active | cancelled
            "created_by": int,
            "created_at": str,
        },
        pk="id",
        foreign_keys=[("announcement_id", "announcements", "id")],
    )
    table(db, "dispatches").create(
        {
            "id": int,
            "broadcast_id": int,
            "occurrence": str,
            "node_id": str,
            "play_at": str,
            "state": str,
            "cmd_id": str,
            "sent_at": str,
            "acked_at": str,
            "started_at": str,
            "finished_at": str,
            "error": str,
            "updated_at": str,
        },
        pk="id",
        foreign_keys=[("broadcast_id", "broadcasts", "id"), ("node_id", "nodes", "id")],
    )
    table(db, "dispatches").create_index(["broadcast_id", "occurrence", "node_id"], unique=True)
    table(db, "dispatches").create_index(["state", "play_at"])
    table(db, "dispatches").create_index(["node_id", "play_at"])
    table(db, "seen_reports").create({"id": str, "at": str}, pk="id")


def _v2(db: sqlite_utils.Database) -> None:
    """Approval workflow, recurring broadcasts, node credentials and history, alerts, audit."""
    ann = table(db, "announcements")
    for name, type_ in [
        ("submitted_at", str),
        ("reviewed_by", int),
        ("reviewed_at", str),
        ("review_comment", str),
        ("archived_at", str),
        ("source", str),  # "text" | "upload" | "recording"
        ("author", str),  # who wrote it: "user:ID" or "token:NAME" (approver must differ)
        ("emergency", int),
    ]:
        ann.add_column(name, type_)
    bc = table(db, "broadcasts")
    for name, type_ in [
        ("repeat_gap_s", float),
        ("emergency", int),
        ("cancelled_at", str),
        ("cancelled_by", int),
        ("planned_until", str),  # occurrences up to here have dispatch rows
    ]:
        bc.add_column(name, type_)
    nodes = table(db, "nodes")
    for name, type_ in [
        ("mqtt_password_hash", str),  # Mosquitto's PBKDF2 format, for its password file
        ("revoked_at", str),
        ("lat", float),
        ("lon", float),
    ]:
        nodes.add_column(name, type_)
    table(db, "node_events").create(
        {"id": int, "node_id": str, "at": str, "online": int, "reason": str},
        pk="id",
        foreign_keys=[("node_id", "nodes", "id")],
    )
    table(db, "node_events").create_index(["node_id", "at"])
    table(db, "alerts").create(
        {
            "id": int,
            "kind": str,
            "node_id": str,
            "broadcast_id": int,
            "message": str,
            "opened_at": str,
            "closed_at": str,
            "notified_at": str,
        },
        pk="id",
    )
    table(db, "alerts").create_index(["closed_at", "kind"])
    table(db, "audit_log").create(
        {
            "id": int,
            "at": str,
            "actor": str,
            "actor_id": int,
            "action": str,
            "entity": str,
            "entity_id": str,
            "before": str,
            "after": str,
            "ip": str,
        },
        pk="id",
    )
    table(db, "audit_log").create_index(["entity", "entity_id"])
    for op in ("UPDATE", "DELETE"):
        db.execute(
            f"CREATE TRIGGER audit_log_no_{op.lower()} BEFORE {op} ON audit_log "
            "BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END"
        )
    table(db, "login_attempts").create(
        {"id": int, "username": str, "ip": str, "at": str, "ok": int}, pk="id"
    )
    table(db, "login_attempts").create_index(["ip", "at"])
    table(db, "lexicon").create(
        {"id": int, "term": str, "reading": str, "updated_by": int, "updated_at": str}, pk="id"
    )
    table(db, "lexicon").create_index(["term"], unique=True)


def _v3(db: sqlite_utils.Database) -> None:
    """Three kinds of content: relays of saved stream sources and live speech beside files."""
    bc = table(db, "broadcasts")
    for name, type_ in [
        ("kind", str),  # file | relay | live (NULL: file, rows from before v3)
        ("title", str),  # relay and live broadcasts have no announcement
        ("stream_source_id", int),
        ("duration_s", float),  # the relay window / live cap
        ("recording_sha256", str),  # live: the recording in the media store
    ]:
        bc.add_column(name, type_)
    table(db, "stream_sources").create(
        {
            "id": int,
            "name": str,
            "url": str,
            "created_by": int,
            "created_at": str,
            "updated_at": str,
            "deleted_at": str,
            "reachable": int,
            "content_type": str,
            "codec": str,
            "bitrate": int,
            "error": str,
            "checked_at": str,
        },
        pk="id",
    )
    table(db, "live_sessions").create(
        {
            "id": str,
            "broadcast_id": int,
            "started_by": int,
            "started_at": str,
            "first_audio_at": str,
            "ended_at": str,
            "end_reason": str,
            "bytes_in": int,
            "recording_sha256": str,
        },
        pk="id",
        foreign_keys=[("broadcast_id", "broadcasts", "id")],
    )
    dp = table(db, "dispatches")
    dp.add_column("played_s", float)
    dp.add_column("interruptions", int)


#: Dispatches by time, carrying what reports count (``reports.delivery_summary`` names it).
DISPATCHES_BY_TIME = "idx_dispatches_by_time"


def _v4(db: sqlite_utils.Database) -> None:
    """Reports read the play log newest first over a date range and count delivery per
    occurrence: index dispatches by time, with the columns the counts need (no row lookups)."""
    table(db, "dispatches").create_index(
        ["play_at", "broadcast_id", "occurrence", "node_id", "state"],
        index_name=DISPATCHES_BY_TIME,
        if_not_exists=True,
    )


def _v5(db: sqlite_utils.Database) -> None:
    """The voice an official chose for an announcement, used whenever it is rendered again.

    ``engine`` and ``voice`` (from v1) stay what actually spoke the current audio; these are the
    choice: engine (auto | espeak-ng | piper | gtts), voice and rate (NULL: the engine's
    default). Rows from before v5 keep NULL in all three and render with the defaults, as they
    did."""
    ann = table(db, "announcements")
    ann.add_column("speech_engine", str)
    ann.add_column("speech_voice", str)
    ann.add_column("speech_rate", int)


def _v6(db: sqlite_utils.Database) -> None:
    """Approval pins what is heard. ``announcements.approved_sha256``: the audio the approver
    approved (delivered as is, never spoken again). ``broadcasts.approved_by``/``approved_at``:
    a relay's approval (an editor's relay waits for an approver). Rows from before v6: approved
    announcements keep the audio they had, existing relays count as approved."""
    table(db, "announcements").add_column("approved_sha256", str)
    table(db, "broadcasts").add_column("approved_by", int)
    table(db, "broadcasts").add_column("approved_at", str)
    db.execute(
        "UPDATE announcements SET approved_sha256 = media_sha256 WHERE status = 'approved' "
        "OR (status = 'archived' AND reviewed_at IS NOT NULL AND review_comment IS NULL)"
    )
    db.execute(
        "UPDATE broadcasts SET approved_by = created_by, approved_at = created_at "
        "WHERE kind = 'relay'"
    )


def _v7(db: sqlite_utils.Database) -> None:
    """Join codes (controller/domain/join.py): one-time codes a Pi redeems for its bundle. Only the
    code's SHA-256 is kept; ``node_id`` is the node the code creates (reserved while it waits)."""
    table(db, "join_codes").create(
        {
            "id": int,
            "code_hash": str,
            "node_id": str,
            "zone_id": int,
            "name": str,
            "created_at": str,
            "created_by": str,
            "expires_at": str,
            "redeemed_at": str,
            "revoked_at": str,
        },
        pk="id",
        foreign_keys=[("zone_id", "zones", "id")],
    )
    table(db, "join_codes").create_index(["code_hash"], unique=True)


def _v8(db: sqlite_utils.Database) -> None:
    """Sessions end on the server: a web session carries its user's ``session_version`` and is
    valid only while it matches; sign-out and a password change increment it."""
    table(db, "users").add_column("session_version", int, not_null_default=0)


def _v9(db: sqlite_utils.Database) -> None:
    """Settings an admin changes at run time, one row per key (``controller/domain/voices.py``:
    the cloud voices' accounts, ``audio.engines.online.SETTING_KEYS``). A key's value is never
    shown back by a page or the API; the audit log names the keys changed, not their values."""
    table(db, "settings").create(
        {"key": str, "value": str, "updated_by": int, "updated_at": str}, pk="key"
    )


def _v10(db: sqlite_utils.Database) -> None:
    """The machine listening check of spoken audio (``controller/domain/listening.py``), one row
    per delivered file: ``state`` queued | done | failed, the share of words heard and the words
    (JSON: ``[[word, heard, as_heard], …]``)."""
    table(db, "listening_checks").create(
        {
            "sha256": str,
            "expected": str,
            "state": str,
            "heard_share": float,
            "words": str,
            "heard_text": str,
            "recognizer": str,
            "cpu_s": float,
            "error": str,
            "queued_at": str,
            "checked_at": str,
        },
        pk="sha256",
    )


def _v11(db: sqlite_utils.Database) -> None:
    """A sign-in from a browser with its owner's device cookie counts in that browser's own
    bucket (``controller/domain/sign_in.py``): ``device`` 1 marks it; ``ip`` stays the address."""
    table(db, "login_attempts").add_column("device", int, not_null_default=0)


def _v12_cap(db: sqlite_utils.Database) -> None:
    """CAP 1.2 alerts in (``controller/domain/cap_sources.py``, issue 16): the sources (a feed
    polled or a push token, with their trust settings and state), every alert received with
    what it made, the refusals with their reason, and the policy table (rows in ``position``
    order, the first that matches wins; the defaults a commune would accept). ``zones.admin_code``
    is the zone's mã đơn vị hành chính, matched against an alert's geocodes;
    ``broadcasts.node_ids`` (JSON, NULL: every node of the zones) narrows a broadcast to the
    clusters inside an alert's area."""
    table(db, "zones").add_column("admin_code", str)
    table(db, "broadcasts").add_column("node_ids", str)
    table(db, "announcements").add_column("cap_alert_id", int)  # the alert it was written from
    table(db, "cap_sources").create(
        {
            "id": int,
            "name": str,
            "kind": str,  # feed | push
            "url": str,
            "interval_s": int,
            "signed_only": int,
            "cert_pem": str,
            "user_id": int,  # the official it acts as (NULL: the system, as the source)
            "token_id": int,  # push: its integration token
            "enabled": int,
            "etag": str,
            "last_modified": str,
            "last_checked_at": str,
            "last_ok_at": str,
            "last_error": str,
            "created_at": str,
            "updated_at": str,
        },
        pk="id",
        defaults={"signed_only": 0, "enabled": 1, "interval_s": 60},
    )
    table(db, "cap_alerts").create(
        {
            "id": int,
            "source_id": int,
            "sender": str,
            "identifier": str,
            "sent": str,
            "status": str,
            "msg_type": str,
            "refs": str,  # JSON [[sender, identifier, sent], …]
            "language": str,
            "event": str,
            "severity": str,
            "urgency": str,
            "certainty": str,
            "headline": str,
            "expires": str,
            "signed": int,
            "outcome": str,
            "detail": str,
            "policy_id": int,
            "repeat_min": int,
            "node_ids": str,  # JSON
            "zone_ids": str,  # JSON
            "announcement_id": int,
            "broadcast_id": int,
            "next_repeat_at": str,
            "ended_at": str,
            "end_reason": str,
            "received_at": str,
        },
        pk="id",
        foreign_keys=[("source_id", "cap_sources", "id")],
    )
    table(db, "cap_alerts").create_index(["sender", "identifier"], unique=True)
    table(db, "cap_alerts").create_index(["next_repeat_at"])
    table(db, "cap_refusals").create(
        {
            "id": int,
            "source_id": int,
            "at": str,
            "code": str,
            "reason": str,
            "url": str,
            "bytes": int,
        },
        pk="id",
    )
    table(db, "cap_refusals").create_index(["source_id", "at"])
    table(db, "cap_policy").create(
        {
            "id": int,
            "position": int,
            "severity": str,  # comma-separated CAP values, "" = any
            "urgency": str,
            "certainty": str,
            "event": str,  # "" = any; else the info's event, case-insensitive
            "action": str,  # emergency | announcement | log
            "repeat_min": int,  # emergency: again every N minutes until expires (0: once)
            "updated_at": str,
        },
        pk="id",
    )
    table(db, "cap_policy").insert_all(
        [
            {
                "position": 1,
                "severity": "Extreme,Severe",
                "urgency": "Immediate",
                "certainty": "Observed,Likely",
                "event": "",
                "action": "emergency",
                "repeat_min": 30,
            },
            {
                "position": 2,
                "severity": "Extreme,Severe,Moderate",
                "urgency": "Immediate,Expected,Future",
                "certainty": "Observed,Likely,Possible",
                "event": "",
                "action": "announcement",
                "repeat_min": 0,
            },
            {
                "position": 3,
                "severity": "",
                "urgency": "",
                "certainty": "",
                "event": "",
                "action": "log",
                "repeat_min": 0,
            },
        ]
    )


def _dispatch_commands_and_node_protocol(db: sqlite_utils.Database) -> None:
    """Issue 17: every command that carried a dispatch (``dispatch_commands``: an ack of any of
    them, per node, is the dispatch's ack, so a ``schedule.sync`` sent meanwhile no longer loses
    it); the signed payload of a dispatch's ``play.now`` (``sent_commands``), re-sent as is to a
    node that has not acked (``dispatches.resent_at``, ``resends``); and the protocol each node
    speaks (``nodes.protocol``, from its state and heartbeat: 2 gets zone-addressed commands) and
    the zones it was last told to obey (``nodes.listen_zones``)."""
    table(db, "dispatch_commands").create(
        {"cmd_id": str, "dispatch_id": int, "node_id": str, "at": str},
        pk=("cmd_id", "dispatch_id"),
    )
    table(db, "dispatch_commands").create_index(["dispatch_id"])
    table(db, "dispatch_commands").create_index(["at"])
    table(db, "sent_commands").create({"id": str, "payload": bytes, "expires_at": str}, pk="id")
    table(db, "dispatches").add_column("resent_at", str)
    table(db, "dispatches").add_column("resends", int, not_null_default=0)
    table(db, "nodes").add_column("protocol", int, not_null_default=1)
    table(db, "nodes").add_column("listen_zones", str)  # JSON: the zones it was last told


def _zones_confirmed(db: sqlite_utils.Database) -> None:
    """The zones a node has confirmed it listens to (``nodes.zones_confirmed``, JSON: the chain
    of the ``node.config`` it acked, whose command id is ``nodes.zones_cmd``). Until a node
    confirms its current chain it gets per-node commands, not zone ones: a node told a moment
    ago may not be subscribed yet, and would hear an emergency only when it is re-sent."""
    table(db, "nodes").add_column("zones_cmd", str)
    table(db, "nodes").add_column("zones_confirmed", str)


MIGRATIONS: list[Migration] = [
    _v1,
    _v2,
    _v3,
    _v4,
    _v5,
    _v6,
    _v7,
    _v8,
    _v9,
    _v10,
    _v11,
    _v12_cap,
    _dispatch_commands_and_node_protocol,
    _zones_confirmed,
]


def migrate(db: sqlite_utils.Database) -> int:
    """Apply the migrations this database has not had, each atomically; return the version."""
    with transaction(db):
        version = db.execute("PRAGMA user_version").fetchone()[0]
        for number, migration in enumerate(MIGRATIONS[version:], start=version + 1):
            migration(db)
            db.execute(f"PRAGMA user_version = {number}")
    return len(MIGRATIONS)


class _Connection(sqlite3.Connection):
    """``with conn:`` blocks nest: only the outermost one begins and commits (or rolls back).

    sqlite-utils wraps its writes in ``with conn:``; with plain sqlite3 an inner block would
    commit the caller's transaction half-way. Here the outermost block owns the transaction.
    """

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self._owned: list[bool] = []

    def __enter__(self) -> _Connection:
        owns = not self.in_transaction
        if owns:
            self.execute("BEGIN IMMEDIATE")
        self._owned.append(owns)
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> Literal[False]:
        if self._owned.pop():
            self.execute("COMMIT" if exc_type is None else "ROLLBACK")
        return False


def connect(path: Path) -> sqlite_utils.Database:
    conn = sqlite3.connect(
        str(path), timeout=10, check_same_thread=False, isolation_level=None, factory=_Connection
    )
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA foreign_keys=ON")
    conn.execute("PRAGMA busy_timeout=10000")
    return sqlite_utils.Database(conn)


#: The mode of the database file and its -wal/-shm: the controller's own (it holds token hashes,
#: node password hashes and the audit log), like the signing key.
FILE_MODE = 0o600


def make_private(path: Path) -> None:
    """Create ``path`` 0600 if it is missing (SQLite then gives -wal and -shm the same mode) and
    set 0600 on it and on its -wal/-shm, which an older version left world-readable."""
    if not path.exists():
        os.close(os.open(path, os.O_CREAT | os.O_WRONLY, FILE_MODE))
    for name in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        with suppress(FileNotFoundError):
            os.chmod(name, FILE_MODE)


class Store:
    """Per-thread connections to one database file (kept 0600, see ``make_private``)."""

    def __init__(self, path: Path):
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        make_private(path)
        self._local = threading.local()
        migrate(self.db)

    @property
    def db(self) -> sqlite_utils.Database:
        db = getattr(self._local, "db", None)
        if db is None:
            db = connect(self.path)
            self._local.db = db
        return db

    def transaction(self) -> AbstractContextManager[sqlite_utils.Database]:
        """This thread's connection in a transaction (:func:`transaction`)."""
        return transaction(self.db)


@contextmanager
def transaction(db: sqlite_utils.Database) -> Iterator[sqlite_utils.Database]:
    """BEGIN IMMEDIATE … COMMIT: all or nothing, one writer at a time; nests (only the
    outermost commits). The one way to write a transaction, for a Store or a connection."""
    with db.conn:
        yield db


def table(db: sqlite_utils.Database, name: str) -> Table:
    """A table (never a view), typed for mypy."""
    return cast(Table, db[name])


def insert(db: sqlite_utils.Database, name: str, row: dict[str, Any]) -> int:
    """Insert a row and return its integer primary key."""
    t = table(db, name)
    t.insert(row)
    if t.last_pk is None:
        raise RuntimeError(f"insert into {name} returned no key")
    return int(t.last_pk)
