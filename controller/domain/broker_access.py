"""The checks an MQTT cluster asks the controller for (docs/operations.md, "A province on an EMQX
cluster"): is this node's password right, and may this user do this on that topic.

- **Password**: a node's user name is its id and its password the node's one secret, checked
  against the same ``$7$`` hash as Mosquitto's password file (``nodes.mqtt_password_hash``);
  the controller's own user against its configured or generated password. A revoked node, a
  node without a hash (made before schema v2) and an unknown name are refused.
- **Topics**: the one rule table, ``controller/core/broker_rules.py`` (the ACL file is rendered
  from it too). Nobody is a superuser.
- **Cache**: a password verified once is remembered for ``cache_s`` seconds (as a keyed digest,
  never the password), together with the hash it matched: re-issuing a node's secret changes
  the hash and so forgets it, and revocation is read from the database on every check. The
  hashes Mosquitto's tools make (or an operator imports) may be slow on purpose; a broker
  restart makes thousands of nodes reconnect at once.
- **Client id**: a node's MQTT client id must be its user name when the broker tells it (the
  cluster's equivalent of Mosquitto's ``use_username_as_clientid``): no node can take over and
  push off another's session, or the controller's.
- **Rate limit**: failed checks count per (user name, client address) and per client address
  (when the broker sends it: EMQX's ``${peerhost}``); past ``max_failures`` in a minute, a
  bucket's further attempts are refused unchecked until the minute has passed. A node whose
  password is in the cache is never slowed down by someone else's failures.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum

import sqlite_utils

from controller.core import broker_rules
from controller.core.broker_files import mosquitto_verify
from controller.core.broker_rules import Account, Action

log = logging.getLogger("controller.broker_access")

#: The window of the rate limit, in seconds.
WINDOW_S = 60.0
#: Failures per client address (all user names) in a window before it waits.
ADDRESS_FACTOR = 5
#: Entries kept at most (cache and buckets); beyond that the stale ones are dropped first.
MAX_ENTRIES = 200_000
#: Longest user name or password looked at (MQTT allows 65535 bytes).
MAX_FIELD = 1024


class Verdict(Enum):
    ALLOW = "allow"
    DENY = "deny"
    #: refused unchecked: too many failures from this bucket
    LIMITED = "limited"


@dataclass(frozen=True)
class Controller:
    """The controller's own MQTT account, as the settings and the data folder give it."""

    username: str
    password: str | None


def account(db: sqlite_utils.Database, username: str, controller: Controller) -> Account | None:
    """Who ``username`` is, or None (unknown, revoked, unsafe in a topic)."""
    if not username or len(username) > MAX_FIELD:
        return None
    if username == controller.username:
        return Account("controller", username)
    row = db.execute(
        "SELECT zone_id FROM nodes WHERE id = ? AND revoked = 0", [username]
    ).fetchone()
    if row is None or broker_rules.UNSAFE_IN_NAME & set(username):
        return None
    return Account("node", username, broker_rules.zone_chain(db, row[0]))


def authorize(
    db: sqlite_utils.Database, username: str, action: Action, topic: str, controller: Controller
) -> bool:
    return broker_rules.allowed(account(db, username, controller), action, topic)


def _node_hash(db: sqlite_utils.Database, username: str) -> str | None:
    row = db.execute(
        "SELECT mqtt_password_hash FROM nodes WHERE id = ? AND revoked = 0", [username]
    ).fetchone()
    return row[0] if row and row[0] else None


class BrokerAuth:
    """Password checks with their cache and rate limit (one per controller process)."""

    def __init__(
        self,
        cache_s: float = 300.0,
        max_failures: int = 10,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.cache_s = cache_s
        self.max_failures = max_failures
        self.clock = clock
        self._key = secrets.token_bytes(32)
        self._lock = threading.Lock()
        #: user name → (the hash it matched, keyed digest of the password, until)
        self._cache: dict[str, tuple[str, bytes, float]] = {}
        self._failures: dict[tuple[str, ...], deque[float]] = {}
        #: buckets already told about in the log, until their window ends
        self._reported: dict[tuple[str, ...], float] = {}
        self.verifications = 0  # slow hash checks done (the tests and the bench read it)

    # --- the cache --------------------------------------------------------------------------

    def _digest(self, username: str, password: str) -> bytes:
        return hmac.new(self._key, f"{username}\x00{password}".encode(), hashlib.sha256).digest()

    def _cached(self, username: str, hashed: str, password: str, now: float) -> bool:
        with self._lock:
            entry = self._cache.get(username)
        if entry is None or entry[2] <= now or entry[0] != hashed:
            return False
        return hmac.compare_digest(entry[1], self._digest(username, password))

    def _remember(self, username: str, hashed: str, password: str, now: float) -> None:
        digest = self._digest(username, password)
        with self._lock:
            if len(self._cache) >= MAX_ENTRIES:
                self._cache = {k: v for k, v in self._cache.items() if v[2] > now}
                if len(self._cache) >= MAX_ENTRIES:
                    self._cache.clear()
            self._cache[username] = (hashed, digest, now + self.cache_s)

    # --- the rate limit ---------------------------------------------------------------------

    def _buckets(self, username: str, address: str) -> list[tuple[tuple[str, ...], int]]:
        buckets: list[tuple[tuple[str, ...], int]] = [
            (("user", username, address), self.max_failures)
        ]
        if address:
            buckets.append((("address", address), self.max_failures * ADDRESS_FACTOR))
        return buckets

    def _count(self, key: tuple[str, ...], now: float) -> int:
        times = self._failures.get(key)
        if not times:
            return 0
        while times and times[0] <= now - WINDOW_S:
            times.popleft()
        if not times:
            del self._failures[key]
            return 0
        return len(times)

    def _limited(self, username: str, address: str, now: float) -> tuple[str, ...] | None:
        with self._lock:
            for key, limit in self._buckets(username, address):
                if self._count(key, now) >= limit:
                    return key
        return None

    def _fail(self, username: str, address: str, now: float) -> None:
        with self._lock:
            if len(self._failures) >= MAX_ENTRIES:
                for key in list(self._failures):
                    self._count(key, now)
                if len(self._failures) >= MAX_ENTRIES:
                    log.warning(
                        "broker auth: over %d failing buckets, forgetting them", MAX_ENTRIES
                    )
                    self._failures.clear()
            for key, _ in self._buckets(username, address):
                self._failures.setdefault(key, deque()).append(now)

    def _report_once(self, key: tuple[str, ...], now: float) -> bool:
        with self._lock:
            if self._reported.get(key, 0.0) > now:
                return False
            if len(self._reported) >= MAX_ENTRIES:
                self._reported = {k: v for k, v in self._reported.items() if v > now}
            self._reported[key] = now + WINDOW_S
            return True

    # --- the check --------------------------------------------------------------------------

    def check_password(
        self,
        db: sqlite_utils.Database,
        username: str,
        password: str,
        controller: Controller,
        address: str = "",
        client_id: str | None = None,
    ) -> Verdict:
        """Whether ``username`` may connect with ``password`` (``address``: the MQTT client's,
        when the broker tells it; ``client_id``: the MQTT client id, when told: a node's must be
        its own id, so no node takes over another's session, or the controller's)."""
        now = self.clock()
        username, address = username[:MAX_FIELD], address[:64]
        if len(password) > MAX_FIELD:
            password = ""  # never a node's secret; refused below, without hashing a megabyte
        if username != controller.username and client_id is not None and client_id != username:
            password = ""  # refused as a wrong password: counted, never checked
        if username == controller.username:
            expected = controller.password
            if expected and password and _same(expected, password):
                return Verdict.ALLOW
            hashed = None
        else:
            hashed = _node_hash(db, username)
            if hashed is not None and password and self._cached(username, hashed, password, now):
                return Verdict.ALLOW
        limited = self._limited(username, address, now)
        if limited is not None:
            if self._report_once(limited, now):
                log.warning(
                    "broker auth: too many failed passwords (%s), refusing unchecked for a minute",
                    " ".join(limited),
                )
            return Verdict.LIMITED
        if hashed is not None and password:
            self.verifications += 1
            if mosquitto_verify(hashed, password):
                self._remember(username, hashed, password, now)
                return Verdict.ALLOW
        self._fail(username, address, now)
        if self._report_once(("failed", username, address), now):
            known = (
                "unknown user" if hashed is None and username != controller.username else "wrong"
            )
            log.info("broker auth: %s password for %r from %s", known, username, address or "?")
        return Verdict.DENY


def _same(expected: str, given: str) -> bool:
    return hmac.compare_digest(expected.encode(), given.encode())
