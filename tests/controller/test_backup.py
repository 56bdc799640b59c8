"""``loa controller backup``: a consistent copy of a database that is being written, which
restores into a working controller data directory."""

from __future__ import annotations

import os
import sqlite3
import stat
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from controller.core.db import MIGRATIONS, Store
from controller.domain import zones
from controller.domain.backup import BackupError, backup_database
from controller.domain.seed import seed_commune
from tests.support.net import wait_until


def test_backup_of_a_busy_database_is_a_consistent_restorable_snapshot(tmp_path: Path) -> None:
    store = Store(tmp_path / "live" / "loa.db")
    seed_commune(store)
    stop = threading.Event()
    written: list[int] = []

    def writer() -> None:  # the controller keeps working during the backup
        local = Store(store.path)
        n = 0
        while not stop.is_set():
            with local.transaction() as db:  # two rows per transaction: never half of one
                zones.add_zone(db, f"Tổ {n}a", "group")
                zones.add_zone(db, f"Tổ {n}b", "group")
            n += 1
            written.append(n)

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        wait_until(lambda: len(written) >= 20, what="writes before the backup")
        copy = backup_database(store.path, tmp_path / "backups" / "loa-copy.db")
        wait_until(lambda: len(written) >= 40, what="writes after the backup")
    finally:
        stop.set()
        thread.join()

    assert stat.S_IMODE(copy.stat().st_mode) == 0o600
    assert not list(copy.parent.glob("*-wal")) and not list(copy.parent.glob(".*part"))
    # restore: the copy becomes a data directory's database, and the controller's store opens it
    restored_dir = tmp_path / "restored"
    restored_dir.mkdir()
    (restored_dir / "loa.db").write_bytes(copy.read_bytes())
    restored = Store(restored_dir / "loa.db")
    db = restored.db
    assert db.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
    assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    groups = db.execute("SELECT COUNT(*) FROM zones WHERE kind = 'group'").fetchone()[0]
    live = store.db.execute("SELECT COUNT(*) FROM zones WHERE kind = 'group'").fetchone()[0]
    assert groups % 2 == 0, "no transaction is copied half-way"
    assert 40 <= groups < live, "a snapshot from while the writer ran"
    nodes = [r["id"] for r in db.query("SELECT id FROM nodes ORDER BY id")]
    assert nodes == ["dong-thanh-1", "lac-binh-1", "lac-xuan-1"]


def test_backup_never_overwrites_and_never_creates_a_database(tmp_path: Path) -> None:
    store = Store(tmp_path / "loa.db")
    seed_commune(store)
    target = tmp_path / "b.db"
    backup_database(store.path, target)
    with pytest.raises(BackupError, match="exists"):
        backup_database(store.path, target)
    with pytest.raises(BackupError, match="no database"):
        backup_database(tmp_path / "nowhere" / "loa.db", tmp_path / "c.db")
    assert not (tmp_path / "nowhere").exists() and not (tmp_path / "c.db").exists()
    folder = tmp_path / "daily"
    folder.mkdir()
    dated = backup_database(store.path, folder)
    assert dated.parent == folder and dated.name.startswith("loa-") and dated.suffix == ".db"


def test_loa_controller_backup_command(tmp_path: Path) -> None:
    store = Store(tmp_path / "data" / "loa.db")
    seed_commune(store)
    env = {**os.environ, "LOA_DATA_DIR": str(tmp_path / "data")}
    dest = tmp_path / "out.db"
    done = subprocess.run(
        [sys.executable, "-m", "loa", "controller", "backup", str(dest)],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == str(dest)
    with sqlite3.connect(dest) as conn:
        assert conn.execute("SELECT COUNT(*) FROM nodes").fetchone()[0] == 3
    again = subprocess.run(
        [sys.executable, "-m", "loa", "controller", "backup", str(dest)],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert again.returncode == 2 and "exists" in again.stderr
