"""Schema migrations keep existing data and run once."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from controller.core import db as dbmod


def test_a_database_made_by_an_older_version_is_upgraded_keeping_its_rows(tmp_path: Path):
    path = tmp_path / "old.db"
    old = dbmod.connect(path)
    dbmod.MIGRATIONS[0](old)
    old.execute("PRAGMA user_version = 1")
    old.execute("INSERT INTO zones (name, kind) VALUES ('Xã Lạc Lâm', 'commune')")
    old.conn.close()

    store = dbmod.Store(path)
    assert store.db.execute("PRAGMA user_version").fetchone()[0] == len(dbmod.MIGRATIONS)
    assert [r["name"] for r in store.db.query("SELECT name FROM zones")] == ["Xã Lạc Lâm"]
    assert "audit_log" in store.db.table_names()


def test_migrating_twice_changes_nothing(tmp_path: Path):
    store = dbmod.Store(tmp_path / "x.db")
    assert dbmod.migrate(store.db) == len(dbmod.MIGRATIONS)
    tables = sorted(store.db.table_names())
    dbmod.Store(tmp_path / "x.db")
    assert sorted(store.db.table_names()) == tables


def test_a_failing_migration_leaves_the_database_as_it_was(tmp_path: Path, monkeypatch):
    path = tmp_path / "y.db"
    dbmod.Store(path)

    def broken(db):  # type: ignore[no-untyped-def]
        db.execute("CREATE TABLE half_done (x)")
        raise sqlite3.OperationalError("disk on fire")

    monkeypatch.setattr(dbmod, "MIGRATIONS", [*dbmod.MIGRATIONS, broken])
    with pytest.raises(sqlite3.OperationalError, match="disk on fire"):
        dbmod.Store(path)
    check = sqlite3.connect(path)
    assert check.execute("PRAGMA user_version").fetchone()[0] == len(dbmod.MIGRATIONS) - 1
    assert "half_done" not in {r[0] for r in check.execute("SELECT name FROM sqlite_master")}


def test_v5_adds_the_stored_voice_choice_and_keeps_old_announcements(tmp_path: Path):
    path = tmp_path / "v4.db"
    old = dbmod.connect(path)
    for migration in dbmod.MIGRATIONS[:4]:
        migration(old)
    old.execute("PRAGMA user_version = 4")
    old.execute(
        "INSERT INTO announcements (title, text, status, engine, voice, media_sha256) "
        "VALUES ('Họp thôn', 'Mời bà con họp.', 'approved', 'espeak-ng', 'vi+f2', ?)",
        ["a" * 64],
    )
    old.conn.close()

    store = dbmod.Store(path)
    assert store.db.execute("PRAGMA user_version").fetchone()[0] == len(dbmod.MIGRATIONS) >= 5
    rows = list(store.db.query("SELECT * FROM announcements"))
    assert len(rows) == 1
    row = rows[0]
    assert (row["title"], row["status"], row["engine"], row["voice"], row["media_sha256"]) == (
        "Họp thôn",
        "approved",
        "espeak-ng",
        "vi+f2",
        "a" * 64,
    )
    # no choice was stored before v5: such an announcement renders with the defaults, as it did
    assert (row["speech_engine"], row["speech_voice"], row["speech_rate"]) == (None, None, None)
    columns = store.db["announcements"].columns_dict
    assert columns["speech_rate"] is int and columns["speech_engine"] is str
