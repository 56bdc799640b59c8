"""The node's crash-safe local state in one SQLite file (stdlib sqlite3, WAL, synchronous FULL).

Holds the schedule, the replay cache of command ids, the outbox of reports not yet acknowledged
by the broker, the media cache index, the play log used by the hourly safety limit, and settings
changed by ``node.config``. Every change is one transaction, so a power cut leaves either the old
or the new state, never half of one.

The file is private to the agent's user (0600, like the key): it holds the schedule and the
reports not yet sent.

A damaged file (a bad header, damaged pages: ``PRAGMA quick_check`` is not ``ok``, or SQLite
cannot read it at all) is found when the store opens: it is moved aside with its ``-wal`` and
``-shm`` (``node.db.damaged-<UTC time>``, kept for inspection) and a fresh database starts in its
place. The reset is written into the fresh database (``store_resets``): the agent reports it in
its heartbeats and asks the controller for its whole schedule. What the damaged file held that
the controller does not re-send (unsent reports, the replay cache, settings) is lost.
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from loa.protocol import PRIORITY_RANK, ItemRef, ScheduleItem

log = logging.getLogger(__name__)

SCHEMA = """
CREATE TABLE IF NOT EXISTS items (
    key TEXT PRIMARY KEY,
    broadcast INTEGER NOT NULL,
    occurrence TEXT NOT NULL,
    play_at REAL NOT NULL,
    priority INTEGER NOT NULL,
    item TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'pending',   -- pending | playing | done
    result TEXT,
    started_at REAL,
    immediate INTEGER NOT NULL DEFAULT 0,     -- from play.now
    updated REAL NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS items_status ON items(status, play_at);
CREATE TABLE IF NOT EXISTS seen (id TEXT PRIMARY KEY, expires_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS outbox (
    id TEXT PRIMARY KEY, topic TEXT NOT NULL, payload BLOB NOT NULL, created REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS media (sha256 TEXT PRIMARY KEY, bytes INTEGER NOT NULL,
                                  last_used REAL NOT NULL);
CREATE TABLE IF NOT EXISTS plays (started REAL NOT NULL, seconds REAL NOT NULL,
                                  emergency INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS store_resets (at REAL NOT NULL, kept TEXT NOT NULL, why TEXT NOT NULL);
"""

#: The mode of the database and its -wal/-shm files.
FILE_MODE = 0o600


class StoreDamaged(Exception):
    """The database file is damaged (SQLite says corrupt, or it is not a database)."""


def is_damage(exc: BaseException) -> bool:
    """Whether an SQLite error means a damaged file (not a full disk, a lock or a bad query)."""
    if not isinstance(exc, sqlite3.DatabaseError) or isinstance(exc, sqlite3.OperationalError):
        return False
    text = str(exc).lower()
    return "malformed" in text or "not a database" in text or "corrupt" in text


def _damage(path: Path) -> str | None:
    """Why the database at ``path`` cannot be trusted, or None when ``quick_check`` is ok."""
    if not path.exists():
        return None
    try:
        db = sqlite3.connect(str(path), isolation_level=None, timeout=30)
        try:
            rows = [r[0] for r in db.execute("PRAGMA quick_check(5)")]
        finally:
            db.close()
    except sqlite3.OperationalError:
        raise  # locked or unreadable: not a verdict on the file
    except sqlite3.DatabaseError as exc:  # not a database, malformed
        return str(exc)
    return None if rows == ["ok"] else "; ".join(str(r) for r in rows)[:500]


@dataclass(frozen=True)
class StoreReset:
    """A damaged database moved aside: when, where it was kept, and what SQLite said."""

    at: float
    kept: str
    why: str


@dataclass(frozen=True)
class StoredItem:
    key: str
    item: ScheduleItem
    play_at: float
    status: str
    started_at: float | None
    immediate: bool

    @property
    def rank(self) -> int:
        return PRIORITY_RANK[self.item.priority]


class Store:
    """One connection per thread: in WAL mode readers never wait for a writer's fsync, so the
    playback engine can read the schedule while a report is being written down."""

    def __init__(self, path: Path, durable: bool = True):
        """``durable=False`` (simulations only) skips the fsync on every commit."""
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._synchronous = "FULL" if durable else "OFF"
        self._local = threading.local()
        self._all: list[sqlite3.Connection] = []
        self._all_lock = threading.Lock()
        self._parsed: dict[str, tuple[str, ScheduleItem]] = {}
        #: Set when this start found the database damaged and began a fresh one.
        self.reset: StoreReset | None = None
        why = _damage(path)
        if why is not None:
            self.reset = self._move_aside(why)
        if not path.exists():
            # created private: SQLite gives the -wal and -shm files the database's mode
            os.close(os.open(path, os.O_CREAT | os.O_WRONLY, FILE_MODE))
        for name in (path, *self._sidecars(path)):
            with suppress(FileNotFoundError):
                os.chmod(name, FILE_MODE)
        db = self._conn()
        if db.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
            db.execute("PRAGMA journal_mode=WAL")
        db.executescript(f"BEGIN;{SCHEMA}COMMIT;")  # one transaction: one fsync
        if self.reset is not None:
            with self.transaction() as tx:
                tx.execute(
                    "INSERT INTO store_resets VALUES (?,?,?)",
                    (self.reset.at, self.reset.kept, self.reset.why),
                )

    @staticmethod
    def _sidecars(path: Path) -> list[Path]:
        return [path.with_name(path.name + suffix) for suffix in ("-wal", "-shm", "-journal")]

    def _move_aside(self, why: str) -> StoreReset:
        now = time.time()
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(now))
        kept = self.path.with_name(f"{self.path.name}.damaged-{stamp}")
        for source in (self.path, *self._sidecars(self.path)):
            if source.exists():
                os.replace(source, kept.with_name(kept.name + source.name[len(self.path.name) :]))
        log.error(
            "database %s is damaged (%s): kept as %s, starting a fresh one", self.path, why, kept
        )
        return StoreReset(at=now, kept=kept.name, why=why)

    def check(self) -> None:
        """Raise ``StoreDamaged`` when ``PRAGMA quick_check`` finds the open database damaged."""
        try:
            rows = [r[0] for r in self._conn().execute("PRAGMA quick_check(5)")]
        except sqlite3.DatabaseError as exc:
            if is_damage(exc):
                raise StoreDamaged(str(exc)) from exc
            raise
        if rows != ["ok"]:
            raise StoreDamaged("; ".join(str(r) for r in rows)[:500])

    def last_reset(self) -> StoreReset | None:
        """The newest time this database was started fresh after a damaged one."""
        rows = self._query("SELECT at, kept, why FROM store_resets ORDER BY at DESC LIMIT 1")
        return StoreReset(at=rows[0][0], kept=rows[0][1], why=rows[0][2]) if rows else None

    def _conn(self) -> sqlite3.Connection:
        db: sqlite3.Connection | None = getattr(self._local, "db", None)
        if db is None:
            db = sqlite3.connect(
                str(self.path), check_same_thread=False, isolation_level=None, timeout=30
            )
            db.execute(f"PRAGMA synchronous={self._synchronous}")
            db.execute("PRAGMA busy_timeout=30000")
            self._local.db = db
            with self._all_lock:
                self._all.append(db)
        return db

    def release(self) -> None:
        """Close the calling thread's connection (for short-lived threads, at their end)."""
        db = getattr(self._local, "db", None)
        if db is None:
            return
        self._local.db = None
        with self._all_lock:
            if db in self._all:
                self._all.remove(db)
        db.close()

    def close(self) -> None:
        with self._all_lock:
            for db in self._all:
                with suppress(sqlite3.Error):
                    db.close()
            self._all.clear()
        self._local = threading.local()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One atomic, durable write; nested uses join the outer transaction."""
        db = self._conn()
        if db.in_transaction:
            yield db
            return
        db.execute("BEGIN IMMEDIATE")
        try:
            yield db
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")

    def _query(self, sql: str, args: Iterable[Any] = ()) -> list[tuple[Any, ...]]:
        return list(self._conn().execute(sql, tuple(args)))

    def _item(self, key: str, text: str) -> ScheduleItem:
        """Parse an item's JSON, reusing the last parse while the text is unchanged."""
        cached = self._parsed.get(key)
        if cached is not None and cached[0] == text:
            return cached[1]
        item = ScheduleItem.model_validate_json(text)
        self._parsed[key] = (text, item)
        return item

    # --- schedule ----------------------------------------------------------------------------

    def put_items(self, items: Iterable[ScheduleItem], now: float, immediate: bool = False) -> None:
        """Add or replace items by key. A replaced item that already played keeps its status
        unless its play time changed (then it is a new occurrence and plays again)."""
        with self.transaction() as db:
            self._put(db, items, now, immediate)

    def _put(
        self, db: sqlite3.Connection, items: Iterable[ScheduleItem], now: float, immediate: bool
    ) -> None:
        for item in items:
            play_at = now if immediate else item.play_at.timestamp()
            row = db.execute(
                "SELECT play_at, status, immediate FROM items WHERE key=?", (item.key,)
            ).fetchone()
            keep = row is not None and row[1] != "pending" and abs(row[0] - play_at) < 1e-3
            # A play.now item plays once: a re-sent or second copy of it (a controller's
            # re-send, a per-node copy of a zone command) and a schedule.sync that lists it
            # change neither its time nor its status, whether it waits, plays or is done.
            once = row is not None and (bool(row[2]) or (immediate and row[1] != "pending"))
            if once or (keep and not immediate):
                db.execute(
                    "UPDATE items SET item=?, priority=?, updated=? WHERE key=?",
                    (item.model_dump_json(), PRIORITY_RANK[item.priority], now, item.key),
                )
                continue
            db.execute(
                "INSERT OR REPLACE INTO items (key, broadcast, occurrence, play_at, priority,"
                " item, status, immediate, updated) VALUES (?,?,?,?,?,?,'pending',?,?)",
                (
                    item.key,
                    item.broadcast,
                    item.occurrence,
                    play_at,
                    PRIORITY_RANK[item.priority],
                    item.model_dump_json(),
                    int(immediate),
                    now,
                ),
            )

    def sync_items(self, items: list[ScheduleItem], now: float) -> list[str]:
        """Replace the pending schedule with ``items``; return the keys dropped."""
        keys = {i.key for i in items}
        with self.transaction() as db:
            pending = [r[0] for r in db.execute("SELECT key FROM items WHERE status='pending'")]
            dropped = [k for k in pending if k not in keys]
            db.executemany("DELETE FROM items WHERE key=?", [(k,) for k in dropped])
            self._put(db, items, now, False)
        return dropped

    def cancel(self, refs: Iterable[ItemRef]) -> list[str]:
        """Delete the pending items referred to; return the keys of every matching item
        (pending or playing), so the caller can stop one that is playing."""
        matched: list[str] = []
        with self.transaction() as db:
            for ref in refs:
                if ref.occurrence is None:
                    rows = db.execute(
                        "SELECT key, status FROM items WHERE broadcast=?", (ref.broadcast,)
                    )
                else:
                    rows = db.execute(
                        "SELECT key, status FROM items WHERE broadcast=? AND occurrence=?",
                        (ref.broadcast, ref.occurrence),
                    )
                for key, status in list(rows):
                    if status == "pending":
                        db.execute("DELETE FROM items WHERE key=?", (key,))
                        matched.append(key)
                    elif status == "playing":
                        matched.append(key)
        return matched

    def active_items(self) -> list[StoredItem]:
        """Items pending or playing, earliest first."""
        rows = self._query(
            "SELECT key, item, play_at, status, started_at, immediate FROM items"
            " WHERE status IN ('pending','playing') ORDER BY play_at"
        )
        items = [
            StoredItem(
                key=r[0],
                item=self._item(r[0], r[1]),
                play_at=r[2],
                status=r[3],
                started_at=r[4],
                immediate=bool(r[5]),
            )
            for r in rows
        ]
        if len(self._parsed) > 2 * len(items) + 100:
            live = {si.key for si in items}
            self._parsed = {k: v for k, v in self._parsed.items() if k in live}
        return items

    def get_status(self, key: str) -> str | None:
        rows = self._query("SELECT status FROM items WHERE key=?", (key,))
        return rows[0][0] if rows else None

    def mark_playing(self, key: str, started_at: float) -> None:
        with self.transaction() as db:
            db.execute(
                "UPDATE items SET status='playing', started_at=? WHERE key=?", (started_at, key)
            )

    def mark_done(self, key: str, result: str) -> None:
        with self.transaction() as db:
            db.execute("UPDATE items SET status='done', result=? WHERE key=?", (result, key))

    def purge_done(self, before: float) -> None:
        with self.transaction() as db:
            db.execute("DELETE FROM items WHERE status='done' AND play_at < ?", (before,))

    def scheduled_count(self) -> int:
        return int(self._query("SELECT count(*) FROM items WHERE status='pending'")[0][0])

    def scheduled_media(self) -> set[str]:
        """sha256 of every file still to be played: never evicted from the cache."""
        out = set()
        for item in self.active_items():
            if item.item.content.kind == "file":
                out.add(item.item.content.sha256)
        return out

    # --- replay cache ------------------------------------------------------------------------

    def __contains__(self, cmd_id: object) -> bool:
        return bool(self._query("SELECT 1 FROM seen WHERE id=?", (cmd_id,)))

    def mark_seen(self, cmd_id: str, expires_at: float) -> None:
        with self.transaction() as db:
            db.execute("INSERT OR REPLACE INTO seen VALUES (?,?)", (cmd_id, expires_at))

    def prune_seen(self, before: float) -> None:
        with self.transaction() as db:
            db.execute("DELETE FROM seen WHERE expires_at < ?", (before,))

    # --- outbox ------------------------------------------------------------------------------

    def outbox_add(self, report_id: str, topic: str, payload: bytes, now: float) -> None:
        with self.transaction() as db:
            db.execute(
                "INSERT OR REPLACE INTO outbox VALUES (?,?,?,?)", (report_id, topic, payload, now)
            )

    def outbox_remove(self, report_id: str) -> None:
        with self.transaction() as db:
            db.execute("DELETE FROM outbox WHERE id=?", (report_id,))

    def outbox_all(self) -> list[tuple[str, str, bytes]]:
        return [
            (r[0], r[1], bytes(r[2]))
            for r in self._query("SELECT id, topic, payload FROM outbox ORDER BY created")
        ]

    # --- media index -------------------------------------------------------------------------

    def media_touch(self, sha256: str, size: int, now: float) -> None:
        with self.transaction() as db:
            db.execute("INSERT OR REPLACE INTO media VALUES (?,?,?)", (sha256, size, now))

    def media_entries(self) -> list[tuple[str, int, float]]:
        """(sha256, bytes, last_used), least recently used first."""
        return [
            (r[0], int(r[1]), float(r[2]))
            for r in self._query("SELECT sha256, bytes, last_used FROM media ORDER BY last_used")
        ]

    def media_forget(self, sha256: str) -> None:
        with self.transaction() as db:
            db.execute("DELETE FROM media WHERE sha256=?", (sha256,))

    # --- play log (hourly safety limit) ------------------------------------------------------

    def log_play(self, started: float, seconds: float, emergency: bool) -> None:
        with self.transaction() as db:
            db.execute("INSERT INTO plays VALUES (?,?,?)", (started, seconds, int(emergency)))
            db.execute("DELETE FROM plays WHERE started < ?", (started - 7200,))

    def non_emergency_seconds_since(self, since: float) -> float:
        rows = self._query(
            "SELECT coalesce(sum(seconds),0) FROM plays WHERE emergency=0 AND started >= ?",
            (since,),
        )
        return float(rows[0][0])

    # --- settings from node.config -----------------------------------------------------------

    def settings(self) -> dict[str, Any]:
        return {k: json.loads(v) for k, v in self._query("SELECT key, value FROM settings")}

    def set_settings(self, values: dict[str, Any]) -> None:
        with self.transaction() as db:
            for k, v in values.items():
                db.execute("INSERT OR REPLACE INTO settings VALUES (?,?)", (k, json.dumps(v)))
