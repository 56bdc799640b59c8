"""The pronunciation lexicon (từ điển phát âm): terms and abbreviations with how the speech
engine should read them. A term is one entry whatever its case; every change is audited.
``announcements.lexicon`` hands it to the renderer, where ``audio.normalize.apply_lexicon``
reads each term as a whole word, ignoring case, also when stuck to a number (a term ``kV``
reads "22kV", ``QK`` reads "QK5"), never inside a longer word or number."""

from __future__ import annotations

from typing import Any

import sqlite_utils

from controller.core.db import Store, insert, table
from controller.domain import audit
from controller.domain.identity import Identity
from loa.protocol import to_wire_time, utcnow

MAX_TERM = 100
MAX_READING = 300


def entries(db: sqlite_utils.Database) -> list[dict[str, Any]]:
    """Every entry with the name of who changed it last, by term (any case)."""
    return list(
        db.query(
            "SELECT l.*, u.display_name FROM lexicon l LEFT JOIN users u ON u.id = l.updated_by "
            "ORDER BY l.term COLLATE NOCASE"
        )
    )


def save_entry(store: Store, who: Identity, term: str, reading: str) -> int:
    """Add a term, or change its reading (the same term in any case is one entry); audited.
    Checks of the words are the caller's; a concurrent insert of the same term raises
    ``sqlite3.IntegrityError`` and writes nothing."""
    db = store.db
    values = {"term": term, "reading": reading}
    with store.transaction():
        found = list(db.query("SELECT * FROM lexicon WHERE term = ? COLLATE NOCASE", [term]))
        row = {**values, "updated_by": who.user_id, "updated_at": to_wire_time(utcnow())}
        if found:
            table(db, "lexicon").update(found[0]["id"], row)
            entry_id = int(found[0]["id"])
        else:
            entry_id = insert(db, "lexicon", row)
        audit.record(
            db, who, "lexicon.save", "lexicon", entry_id, found[0] if found else None, values
        )
    return entry_id


def delete_entry(store: Store, who: Identity, entry_id: int) -> None:
    """Remove an entry (audited); an unknown id changes nothing."""
    db = store.db
    with store.transaction():
        found = list(db.query("SELECT * FROM lexicon WHERE id = ?", [entry_id]))
        if found:
            db.execute("DELETE FROM lexicon WHERE id = ?", [entry_id])
            audit.record(db, who, "lexicon.delete", "lexicon", entry_id, found[0])
