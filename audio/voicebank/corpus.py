"""The texts syllable frequencies are counted from.

- Loa's own corpus: realistic commune announcements written for the project
  (``audio/voicebank/corpus/*.txt``; storms and floods, health, elections and military service,
  land and tax, farming, meetings, power and water, security and traffic, social policy and
  schools, culture and environment, administration, the Mekong and the sea, mass organizations).
  One announcement per block; blocks are separated by a blank line; ``#`` lines are comments.
- The commune's own past announcements: a plain text file (one announcement per blank-line
  separated block, or per line) or the controller's SQLite database (its ``announcements``
  table, optionally only those created in the last N days).
"""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from importlib import resources
from pathlib import Path

from audio.voicebank.messages import error


def _blocks(text: str) -> list[str]:
    out: list[str] = []
    current: list[str] = []
    for line in text.splitlines():
        if line.lstrip().startswith("#"):
            continue
        if line.strip():
            current.append(line.strip())
        elif current:
            out.append(" ".join(current))
            current = []
    if current:
        out.append(" ".join(current))
    return out


def builtin_announcements() -> list[str]:
    """Loa's corpus: every announcement in ``audio/voicebank/corpus/*.txt``, file by file."""
    folder = resources.files("audio.voicebank").joinpath("corpus")
    names = sorted(
        entry.name
        for entry in folder.iterdir()
        if entry.name.endswith(".txt") and entry.name != "README.txt"
    )
    out: list[str] = []
    for name in names:
        out += _blocks(folder.joinpath(name).read_text(encoding="utf-8"))
    return out


def read_text_file(path: Path) -> list[str]:
    """Past announcements from a text file: blank-line separated blocks (a file with no blank
    line at all is read one announcement per line)."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise error("corpus_unreadable", source=str(path), detail=str(exc)) from exc
    blocks = _blocks(text)
    if len(blocks) == 1 and "\n" in text.strip():
        return [line.strip() for line in text.splitlines() if line.strip()]
    return blocks


def read_database(path: Path, since_days: int | None = None) -> list[str]:
    """Past announcements from the controller's database (read only): the ``text`` of every
    announcement, or of those created in the last ``since_days`` days."""
    if not path.is_file():
        raise error("corpus_unreadable", source=str(path), detail="không có tệp")
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            if since_days is None:
                rows = conn.execute("SELECT text FROM announcements ORDER BY id").fetchall()
            else:
                cutoff = (datetime.now(UTC) - timedelta(days=since_days)).isoformat()
                rows = conn.execute(
                    "SELECT text FROM announcements WHERE created_at >= ? ORDER BY id", (cutoff,)
                ).fetchall()
        finally:
            conn.close()
    except sqlite3.Error as exc:
        raise error("corpus_unreadable", source=str(path), detail=str(exc)) from exc
    return [str(r[0]) for r in rows if r[0] and str(r[0]).strip()]


def read_source(path: Path, since_days: int | None = None) -> list[str]:
    """A text file or a SQLite database (told apart by its first bytes)."""
    try:
        with path.open("rb") as f:
            head = f.read(16)
    except OSError as exc:
        raise error("corpus_unreadable", source=str(path), detail=str(exc)) from exc
    if head.startswith(b"SQLite format 3"):
        return read_database(path, since_days)
    return read_text_file(path)
