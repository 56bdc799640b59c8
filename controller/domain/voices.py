"""The cloud voices' accounts (Giọng đọc): what an admin sets for FPT.AI, Vbee and Viettel AI,
and each engine's state from a real check.

Rules:

- The values are the ``settings`` table's rows named as ``audio.engines.online.SETTING_KEYS``.
  While none is stored the controller keeps the environment (``LOA_FPT_API_KEY`` …, what
  ``loa tts`` reads); once an admin saved one, the stored values are the whole configuration.
  They are handed to ``audio.engines.online.configure`` when the app starts (:func:`apply`)
  and after every change (:func:`save`).
- A key (:data:`SECRET_KEYS`) is never shown back: :func:`engines` says only whether it is set.
  It is never logged, never put in an error (a refused value is named by its field, not
  quoted), and the audit log records which fields changed, not their values.
- A change is checked whole before anything is written: a field of another engine, a URL that
  is not http(s), a value with spaces or control characters inside a key is refused
  (:class:`~controller.core.errors.ApiError` ``bad_voice_setting`` naming the field).
- An engine's state comes from a real call (``audio.engines.check``): ready, not configured,
  wrong key, out of quota, unreachable, failed. The calls wait on the network (at most
  :data:`CHECK_BUDGET_S`, in parallel): callers run :func:`engines` off the event loop.
"""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import sqlite_utils

from audio import engines as audio_engines
from audio.engines import online
from audio.messages import ENGINE_LABELS
from controller.core.db import Store
from controller.core.errors import ApiError
from controller.domain import audit, authz
from controller.domain.identity import Identity
from loa.protocol import to_wire_time, utcnow

#: The cloud engines and the fields an admin sets for each (``online.SETTING_KEYS``).
ENGINE_FIELDS: dict[str, tuple[str, ...]] = {
    "fpt": ("fpt_api_key", "fpt_url"),
    "vbee": ("vbee_token", "vbee_app_id", "vbee_url"),
    "viettel": ("viettel_token", "viettel_url"),
}
#: Credentials: stored, sent to the vendor, never shown back.
SECRET_KEYS = frozenset({"fpt_api_key", "vbee_token", "viettel_token"})
MAX_VALUE = 2000
#: Seconds a check may wait on a vendor (a page waits for its checks): a slower one is
#: ``unreachable``.
CHECK_BUDGET_S = 10.0
_URL = re.compile(r"^https?://[^\s]+$")
_TOKEN = re.compile(r"^[\x21-\x7e]+$")  # printable ASCII, no spaces: it goes into a header

assert set(online.SETTING_KEYS) >= {f for fs in ENGINE_FIELDS.values() for f in fs}


def stored(db: sqlite_utils.Database) -> dict[str, str]:
    """The cloud voices' stored values (blank ones are not stored)."""
    keys = list(online.SETTING_KEYS)
    marks = ",".join("?" * len(keys))
    rows = db.execute(f"SELECT key, value FROM settings WHERE key IN ({marks})", keys)
    return {key: value for key, value in rows.fetchall() if value}


def apply(db: sqlite_utils.Database) -> None:
    """Hand the stored accounts to the speech engines (none stored: the environment's)."""
    values = stored(db)
    online.configure(online.from_mapping(values) if values else None)


def _checked_value(key: str, value: str) -> str:
    value = value.strip()
    if not value:
        return ""
    if len(value) > MAX_VALUE:
        raise ApiError(422, "bad_voice_setting", key)
    if key.endswith("_url"):
        if not _URL.match(value):
            raise ApiError(422, "bad_voice_setting", key)
    elif not _TOKEN.match(value):
        raise ApiError(422, "bad_voice_setting", key)
    return value


def save(
    store: Store, who: Identity, engine: str, changes: dict[str, str | None], ip: str | None = None
) -> list[str]:
    """Set an engine's fields: a value replaces, ``""`` clears, ``None`` (or absent) keeps.
    Admins only. Returns the fields that changed; audited with their names only; the engines
    are configured again at once."""
    authz.require(who, "voices.manage")
    fields = ENGINE_FIELDS.get(engine)
    if fields is None:
        raise ApiError(404, "unknown_engine", "engine")
    for key in changes:
        if key not in fields:
            raise ApiError(422, "bad_voice_setting", key)
    wanted = {k: _checked_value(k, v) for k, v in changes.items() if v is not None}
    db = store.db
    with store.transaction():
        before = stored(db)
        changed = sorted(k for k, v in wanted.items() if before.get(k, "") != v)
        now = to_wire_time(utcnow())
        for key in changed:
            if wanted[key]:
                db.execute(
                    "INSERT INTO settings (key, value, updated_by, updated_at) VALUES (?, ?, ?, ?)"
                    " ON CONFLICT(key) DO UPDATE SET value = excluded.value,"
                    " updated_by = excluded.updated_by, updated_at = excluded.updated_at",
                    [key, wanted[key], who.user_id, now],
                )
            else:
                db.execute("DELETE FROM settings WHERE key = ?", [key])
        if changed:
            audit.record(
                db,
                who,
                "voices.save",
                "voice_engine",
                engine,
                None,
                {"changed": changed, "cleared": [k for k in changed if not wanted[k]]},
                ip,
            )
    if changed:
        apply(db)
    return changed


def _state(engine: str) -> dict[str, str]:
    with online.budget(CHECK_BUDGET_S):
        result = audio_engines.check(engine)
    return {"state": result.state, "message": result.message}


def engines(
    db: sqlite_utils.Database, names: tuple[str, ...] | None = None
) -> list[dict[str, Any]]:
    """Each cloud engine (``names``: some of them) with its fields — a key only as set or not,
    other values as stored — and its state from a real check (run in parallel; this blocks on
    the network up to the engines' deadline)."""
    values = stored(db)
    chosen = [n for n in ENGINE_FIELDS if names is None or n in names]
    with ThreadPoolExecutor(max_workers=len(chosen) or 1) as pool:
        states = dict(zip(chosen, pool.map(_state, chosen), strict=True))
    rows: list[dict[str, Any]] = []
    for name in chosen:
        shown: dict[str, Any] = {}
        for key in ENGINE_FIELDS[name]:
            if key in SECRET_KEYS:
                shown[key] = {"set": key in values}
            else:
                shown[key] = {"set": key in values, "value": values.get(key, "")}
        rows.append(
            {
                "engine": name,
                "label": ENGINE_LABELS.get(name, name),
                "settings": shown,
                **states[name],
            }
        )
    return rows
