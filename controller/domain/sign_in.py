"""Sign-in throttling: growing delays that never lock the rightful official out (issue 14).

Rules:

- Failures count per bucket: (user name as typed, address), or (user name, its owner's
  browser) when the browser carries a valid device cookie naming that same user (set by a
  successful sign-in, see ``device_cookie``; stored as ``device`` 1, the address kept). So an
  attacker's failures, from the office's shared address or anywhere else, never delay the
  owner's own browser: emergency sign-in is never blocked by someone else's failures.
- After ``FREE_FAILURES`` failures in a bucket, the next try is allowed only 1 s after the
  last failure, then 2, 4, 8 s … (``2**(failures - FREE_FAILURES)``), at most ``MAX_DELAY_S``
  (5 minutes). Before that, the sign-in page says how many tries are left. A try that comes
  too early is refused (429) before its password is checked and is not counted. The right
  password once the delay has passed signs in; nothing refuses it for a fixed 15 minutes.
- An address with ``MAX_FAILURES_PER_IP`` failures in ``LOGIN_WINDOW_MIN`` minutes is
  spraying names: the names that failed from it wait from their first failure there, and their delay
  runs from the address's last failure. Officials behind that address who did not fail, and
  every browser with its owner's device cookie, are untouched.
- A success clears its own bucket. An admin may clear all of a user name's buckets
  (``clear_throttle``, audited). Failures older than ``LOGIN_HISTORY`` are
  deleted (at each attempt) and so forgotten.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta

import sqlite_utils
from itsdangerous import BadSignature, URLSafeTimedSerializer

from controller.core.db import transaction
from controller.core.errors import ApiError
from controller.domain import admin_area, audit, authz
from controller.domain.identity import Identity
from loa.protocol import to_wire_time

LOGIN_WINDOW_MIN = 15
FREE_FAILURES = 3
MAX_DELAY_S = 300
MAX_FAILURES_PER_IP = 20
#: Sign-in attempts older than this are deleted (at each attempt).
LOGIN_HISTORY = timedelta(days=1)
#: A user name is stored and audited at most this long.
USERNAME_KEPT = 64


def is_owners_browser(device_user: str | None, username: str) -> bool:
    """Whether the browser's device cookie names the user signing in (its own bucket)."""
    return device_user is not None and device_user == username


def _bucket(device: bool) -> str:
    """The WHERE clause of a bucket: the owner's browser wherever it is, else the address."""
    return "username = ? AND device = 1" if device else "username = ? AND ip = ? AND device = 0"


def _bucket_params(username: str, ip: str, device: bool) -> list[str]:
    return [username[:USERNAME_KEPT]] if device else [username[:USERNAME_KEPT], ip]


def _bucket_failures(
    db: sqlite_utils.Database, username: str, ip: str, device: bool, now: datetime
) -> tuple[int, datetime | None]:
    since = to_wire_time(now - LOGIN_HISTORY)
    count, last = db.execute(
        f"SELECT COUNT(*), MAX(at) FROM login_attempts WHERE {_bucket(device)} "
        "AND ok = 0 AND at >= ?",
        [*_bucket_params(username, ip, device), since],
    ).fetchone()
    return count, _wire(last)


def _address_failures(
    db: sqlite_utils.Database, ip: str, device: bool, now: datetime
) -> tuple[int, datetime | None]:
    if device:
        return 0, None
    since = to_wire_time(now - timedelta(minutes=LOGIN_WINDOW_MIN))
    count, last = db.execute(
        "SELECT COUNT(*), MAX(at) FROM login_attempts "
        "WHERE ip = ? AND device = 0 AND ok = 0 AND at >= ?",
        [ip, since],
    ).fetchone()
    return count, _wire(last)


def _wire(at: str | None) -> datetime | None:
    return datetime.fromisoformat(at.replace("Z", "+00:00")) if at else None


def _free_failures(db: sqlite_utils.Database, ip: str, device: bool, now: datetime) -> int:
    by_ip, _ = _address_failures(db, ip, device, now)
    return 0 if by_ip >= MAX_FAILURES_PER_IP else FREE_FAILURES


def login_wait_s(
    db: sqlite_utils.Database, username: str, ip: str, now: datetime, *, device: bool = False
) -> int:
    """Seconds before this bucket may try again (0: it may try now). While its address is
    spraying, the delay runs from the address's last failure, not the bucket's own."""
    failures, last = _bucket_failures(db, username, ip, device, now)
    by_ip, last_here = _address_failures(db, ip, device, now)
    spraying = by_ip >= MAX_FAILURES_PER_IP
    threshold = 1 if spraying else FREE_FAILURES
    if spraying and last_here is not None:
        last = last_here
    if failures < threshold or last is None:
        return 0
    delay = min(2 ** (failures - threshold), MAX_DELAY_S)
    remaining = (last + timedelta(seconds=delay) - now).total_seconds()
    return max(0, math.ceil(remaining))


def tries_left(
    db: sqlite_utils.Database, username: str, ip: str, now: datetime, *, device: bool = False
) -> int:
    """Failures this bucket may still make before it has to wait."""
    failures, _ = _bucket_failures(db, username, ip, device, now)
    return max(0, _free_failures(db, ip, device, now) - failures)


def record_login(
    db: sqlite_utils.Database,
    username: str,
    ip: str,
    now: datetime,
    *,
    ok: bool,
    device: bool = False,
) -> None:
    """Store one checked sign-in in its bucket; a success clears that bucket's failures."""
    with transaction(db):
        db.execute(
            "INSERT INTO login_attempts (username, ip, device, at, ok) VALUES (?, ?, ?, ?, ?)",
            [username[:USERNAME_KEPT], ip, int(device), to_wire_time(now), int(ok)],
        )
        if ok:
            db.execute(
                f"DELETE FROM login_attempts WHERE {_bucket(device)} AND ok = 0",
                _bucket_params(username, ip, device),
            )
        db.execute("DELETE FROM login_attempts WHERE at < ?", [to_wire_time(now - LOGIN_HISTORY)])


def throttled_usernames(db: sqlite_utils.Database, now: datetime) -> set[str]:
    """User names with failures remembered (``LOGIN_HISTORY``), which an admin may clear."""
    since = to_wire_time(now - LOGIN_HISTORY)
    rows = db.execute(
        "SELECT DISTINCT username FROM login_attempts WHERE ok = 0 AND at >= ?", [since]
    )
    return {r[0] for r in rows}


def clear_throttle(
    db: sqlite_utils.Database, who: Identity, user_id: int, ip: str | None = None
) -> int:
    """An admin forgets every failure of this account's user name (from every address and
    browser): ``user.manage``, only for an account inside the admin's area (otherwise 404
    ``user_not_found``, as for every other change); audited as ``user.clear_sign_in_delay``.
    Returns how many failures were forgotten."""
    authz.require(who, "user.manage")
    rows = list(db.query("SELECT * FROM users WHERE id = ?", [user_id]))
    if not rows or not admin_area.user_visible(db, who, rows[0]):
        raise ApiError(404, "user_not_found")
    with transaction(db):
        cursor = db.execute(
            "DELETE FROM login_attempts WHERE username = ? AND ok = 0", [rows[0]["username"]]
        )
        audit.record(
            db,
            who,
            "user.clear_sign_in_delay",
            "user",
            user_id,
            after={"failures_cleared": cursor.rowcount},
            ip=ip,
        )
    return int(cursor.rowcount)


def record_failed_login(db: sqlite_utils.Database, username: str, ip: str) -> None:
    """The audit log keeps every refused password: the user name as typed (truncated) and the
    address, never the password."""
    with transaction(db):
        audit.record(
            db,
            None,
            "login_failed",
            "user",
            username[:USERNAME_KEPT],
            after={"username": username[:USERNAME_KEPT]},
            ip=ip,
        )


_DEVICE_SALT = "loa-device"
#: How long a browser keeps its own allowance after its last successful sign-in.
DEVICE_COOKIE_MAX_AGE_S = 365 * 86400
DEVICE_COOKIE = "loa_device"


def device_cookie(secret: str, username: str) -> str:
    """The signed value of the device cookie a browser gets on a successful sign-in."""
    return URLSafeTimedSerializer(secret, salt=_DEVICE_SALT).dumps(username)


def device_user(secret: str, cookie: str | None) -> str | None:
    """The user name a device cookie was signed for, or None (absent, forged or expired)."""
    if not cookie:
        return None
    try:
        value = URLSafeTimedSerializer(secret, salt=_DEVICE_SALT).loads(
            cookie, max_age=DEVICE_COOKIE_MAX_AGE_S
        )
    except BadSignature:
        return None
    return value if isinstance(value, str) else None
