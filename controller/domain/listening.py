"""The machine listening check (nghe kiểm tra) of an announcement's spoken audio: what is stored
and who is told when speech is made.

Rules:

- One row per delivered file (its sha256), with the normalized text it was spoken from:
  ``queued`` when the speech is made, then ``done`` (the share of words heard and each word,
  heard or not, with what was heard in its place) or ``failed`` (the recognizer's message).
- Speech made for an announcement is handed to the store's listener (:func:`watch`, the
  controller's background queue) after its transaction committed; without a listener, or
  when the check is not installed (``audio.listening.available()``), nothing is queued.
  Saving never waits for a check.
- Audio with no text to compare with (an uploaded or recorded announcement, a live broadcast's
  recording) is transcribed the same way, through the same listener (:func:`transcribe`): its
  row has ``expected`` empty and, when done, ``heard_text`` is the result — the transcript
  (:func:`transcript_of`), shown as a machine's hearing that may be wrong.
"""

from __future__ import annotations

import json
import weakref
from collections.abc import Callable
from typing import Any

import sqlite_utils

from controller.core.db import Store, table
from loa.protocol import to_wire_time, utcnow

Listener = Callable[[str, str], None]
_listeners: weakref.WeakKeyDictionary[Store, Listener] = weakref.WeakKeyDictionary()


def watch(store: Store, listener: Listener | None) -> None:
    """Tell ``listener(sha256, normalized_text)`` of every speech made in ``store`` (None:
    no more)."""
    if listener is None:
        _listeners.pop(store, None)
    else:
        _listeners[store] = listener


def spoken(store: Store, sha256: str, normalized_text: str) -> None:
    """Speech was made and committed: queue its check (a file already checked is not again)."""
    if normalized_text:
        _queue(store, sha256, normalized_text)


def transcribe(store: Store, sha256: str) -> None:
    """Audio with no text (uploaded, recorded, a live recording) was stored and committed:
    queue its transcript (a file already transcribed or waiting is not again)."""
    _queue(store, sha256, "")


def _queue(store: Store, sha256: str, expected: str) -> None:
    """Queue the file for the listener with the text it should say ("" for a transcript),
    unless it is already queued or done for that text (for a transcript: for any text)."""
    listener = _listeners.get(store)
    if listener is None:
        return
    with store.transaction() as db:
        found = db.execute(
            "SELECT state, expected FROM listening_checks WHERE sha256 = ?", [sha256]
        ).fetchone()
        if found and found[0] in ("queued", "done") and (found[1] == expected or not expected):
            return
        table(db, "listening_checks").upsert(
            {
                "sha256": sha256,
                "expected": expected,
                "state": "queued",
                "heard_share": None,
                "words": None,
                "heard_text": None,
                "error": None,
                "queued_at": to_wire_time(utcnow()),
                "checked_at": None,
            },
            pk="sha256",
        )
    listener(sha256, expected)


def record_transcript(
    store: Store, sha256: str, heard_text: str, *, recognizer: str, cpu_s: float
) -> None:
    """Store the finished transcript of audio with no text (written whether or not the file
    was queued here, e.g. by a controller restored from a backup)."""
    with store.transaction() as db:
        table(db, "listening_checks").upsert(
            {
                "sha256": sha256,
                "expected": "",
                "state": "done",
                "heard_share": None,
                "words": "[]",
                "heard_text": heard_text,
                "recognizer": recognizer,
                "cpu_s": cpu_s,
                "error": None,
                "checked_at": to_wire_time(utcnow()),
            },
            pk="sha256",
        )


def record_result(store: Store, sha256: str, result: Any) -> None:
    """Store a finished check (an ``audio.listening.ListeningResult``)."""
    words = [[w.word, w.heard, w.as_heard] for w in result.words]
    with store.transaction() as db:
        table(db, "listening_checks").update(
            sha256,
            {
                "state": "done",
                "heard_share": result.heard_share,
                "words": json.dumps(words, ensure_ascii=False),
                "heard_text": result.heard_text,
                "recognizer": result.recognizer,
                "cpu_s": result.cpu_s,
                "error": None,
                "checked_at": to_wire_time(utcnow()),
            },
        )


def record_failure(store: Store, sha256: str, message: str) -> None:
    with store.transaction() as db:
        table(db, "listening_checks").update(
            sha256,
            {"state": "failed", "error": message, "checked_at": to_wire_time(utcnow())},
        )


def check_of(db: sqlite_utils.Database, sha256: str | None) -> dict[str, Any] | None:
    """The check of a delivered file, ``words`` as ``[{word, heard, as_heard}]``; None if none."""
    if not sha256:
        return None
    rows = list(db.query("SELECT * FROM listening_checks WHERE sha256 = ?", [sha256]))
    if not rows:
        return None
    row = dict(rows[0])
    row["words"] = [
        {"word": w, "heard": bool(h), "as_heard": a} for w, h, a in json.loads(row["words"] or "[]")
    ]
    return row


def transcript_of(db: sqlite_utils.Database, sha256: str | None) -> dict[str, Any] | None:
    """The transcript row (``state``, ``heard_text``, ``error``) of audio with no text; None
    when it has none (or its audio was spoken from text: that is a check, :func:`check_of`)."""
    check = check_of(db, sha256)
    if check is None or check["expected"]:
        return None
    return check


def queued(db: sqlite_utils.Database) -> list[tuple[str, str]]:
    """Checks still waiting (e.g. queued before a restart), oldest first."""
    rows = db.execute(
        "SELECT sha256, expected FROM listening_checks WHERE state = 'queued' ORDER BY queued_at"
    )
    return [(r[0], r[1]) for r in rows.fetchall()]
