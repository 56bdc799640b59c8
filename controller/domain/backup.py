"""``loa controller backup DEST``: a consistent copy of the live database, taken with SQLite's
online backup API while the controller keeps running.

The copy is one self-contained file (rollback journal, not WAL), readable by its owner only
(it holds password and token hashes), checked with ``PRAGMA integrity_check`` before it is given
its final name. Restoring is copying it back as ``{data_dir}/loa.db`` with the controller
stopped (docs/operations.md).
"""

from __future__ import annotations

import os
import sqlite3
from datetime import UTC, datetime
from pathlib import Path


class BackupError(RuntimeError):
    pass


def backup_path(dest: Path, now: datetime | None = None) -> Path:
    """DEST itself, or a time-stamped file inside it when DEST is a directory."""
    if dest.is_dir():
        stamp = (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%SZ")
        return dest / f"loa-{stamp}.db"
    return dest


def backup_database(db_path: Path, dest: Path) -> Path:
    """Copy the database at ``db_path`` to ``dest`` (never overwritten); return the file written."""
    if not db_path.is_file():
        raise BackupError(f"no database at {db_path}")
    target = backup_path(dest)
    if target.exists():
        raise BackupError(f"{target} exists")
    target.parent.mkdir(parents=True, exist_ok=True)
    part = target.with_name(f".{target.name}.part")
    part.unlink(missing_ok=True)
    os.close(os.open(part, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    # read-only URI: a wrong path never creates an empty database
    src = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=30)
    dst = sqlite3.connect(part)
    try:
        # one step: a consistent snapshot; in WAL mode the controller keeps writing meanwhile
        src.backup(dst)
        dst.execute("PRAGMA journal_mode=DELETE")
        check = dst.execute("PRAGMA integrity_check").fetchone()[0]
        if check != "ok":
            raise BackupError(f"the copy failed its integrity check: {check}")
    except BaseException:
        dst.close()
        part.unlink(missing_ok=True)
        raise
    finally:
        src.close()
    dst.close()
    fd = os.open(part, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(part, target)
    return target
