"""Mosquitto's password and ACL files, generated from the database.

Every node's MQTT user name is its id, and its password is the node's one secret (also its media
token). The password file holds Mosquitto 2.0's own hash format, ``$7$`` (PBKDF2-HMAC-SHA512,
``$7$<iterations>$<base64 salt>$<base64 hash>``), byte-compatible with ``mosquitto_passwd``;
the hash is computed once when the node is made and kept in ``nodes.mqtt_password_hash``, since
the secret itself is never stored. The ACL is rendered from the one rule table
(``controller/core/broker_rules.py``, which the HTTP authorization for MQTT clusters evaluates
too): each node reads only its own ``cmd`` topic and its zones' commands, and writes only its own
``state``, ``telemetry`` and ``report`` topics; the controller's user reads and writes everything
under ``loa/v1``.

The files are rewritten whole (write to a temporary file, then rename) under a lock, so a broker
never reads half a file and two writers never interleave. Mosquitto reads them again on SIGHUP.
There is no default password: the controller's own MQTT password is generated when the files
are first written and kept in ``{data_dir}/mqtt_password`` (0600).
"""

from __future__ import annotations

import base64
import fcntl
import hashlib
import hmac
import logging
import os
import secrets
import signal
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import sqlite_utils

from controller.core import broker_rules
from loa.protocol import MAX_PAYLOAD_BYTES

log = logging.getLogger("controller.broker_files")  # its flat name

#: ``mosquitto_passwd`` 2.0's default. The secrets are 192 random bits, so the iteration count
#: adds nothing against guessing; a low count keeps a mass reconnect (thousands of nodes after a
#: broker restart) cheap for the broker.
PBKDF2_ITERATIONS = 101
SALT_BYTES = 12  # as mosquitto_passwd
CONTROLLER_PASSWORD_FILE = "mqtt_password"
PASSWORD_FILE = "passwd"
ACL_FILE = "acl"
#: The broker (user ``mosquitto``) reads the files through their group; nobody else may.
FILE_MODE = 0o640

#: The broker refuses to deliver a payload over this (``message_size_limit``, dropped quietly,
#: the publisher stays connected): the protocol's own limit, which nodes and the controller
#: refuse anyway. The largest legitimate message is a ``schedule.sync`` of a busy node: about
#: 0.6-0.9 KB per item, so 256 KiB holds some 300 items within the 24 h delivery horizon.
MESSAGE_SIZE_LIMIT = MAX_PAYLOAD_BYTES
#: A packet over this closes the client's connection before the broker reads it
#: (``max_packet_size``): a 50 MB publish costs the broker nothing.
MAX_PACKET_SIZE = 1024 * 1024


def broker_limits_conf() -> str:
    """The size limits of Loa's Mosquitto config (``/etc/mosquitto/conf.d/loa.conf``, see
    docs/operations.md, which shows these lines)."""
    return f"message_size_limit {MESSAGE_SIZE_LIMIT}\nmax_packet_size {MAX_PACKET_SIZE}\n"


# --- Mosquitto's $7$ hash ------------------------------------------------------------------------


def mosquitto_hash(
    password: str, iterations: int = PBKDF2_ITERATIONS, salt: bytes | None = None
) -> str:
    """The ``$7$`` PBKDF2-SHA512 hash Mosquitto 2.0 keeps in its password file."""
    salt = salt if salt is not None else secrets.token_bytes(SALT_BYTES)
    digest = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, iterations)
    return f"$7${iterations}${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"


def mosquitto_verify(hashed: str, password: str) -> bool:
    """True when ``password`` matches a ``$7$`` hash (ours or ``mosquitto_passwd``'s)."""
    parts = hashed.split("$")
    if len(parts) != 5 or parts[0] != "" or parts[1] != "7":
        return False
    try:
        iterations = int(parts[2])
        salt = base64.b64decode(parts[3], validate=True)
        expected = base64.b64decode(parts[4], validate=True)
    except ValueError:
        return False
    if not 0 < iterations <= 10_000_000:
        return False
    digest = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, iterations)
    return hmac.compare_digest(digest, expected)


# --- the controller's own MQTT password ---------------------------------------------------------


def controller_password_path(data_dir: Path) -> Path:
    return data_dir / CONTROLLER_PASSWORD_FILE


def stored_controller_password(data_dir: Path) -> str | None:
    """The generated controller MQTT password, if the broker files were ever written."""
    path = controller_password_path(data_dir)
    try:
        return path.read_text(encoding="utf-8").strip() or None
    except FileNotFoundError:
        return None


def controller_password(data_dir: Path) -> str:
    """The stored controller MQTT password, made (random, 0600) the first time."""
    found = stored_controller_password(data_dir)
    if found:
        return found
    password = secrets.token_urlsafe(24)
    path = controller_password_path(data_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process made it first: use theirs
        return controller_password(data_dir)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(password + "\n")
        f.flush()
        os.fsync(f.fileno())
    return password


# --- the files ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class BrokerFiles:
    directory: Path

    @property
    def password_file(self) -> Path:
        return self.directory / PASSWORD_FILE

    @property
    def acl_file(self) -> Path:
        return self.directory / ACL_FILE

    @property
    def lock_file(self) -> Path:
        return self.directory / ".lock"


def acl_text(controller_username: str, zones: Mapping[str, Iterable[int]] | None = None) -> str:
    """The ACL file, rendered from the one rule table (``broker_rules.RULES``); ``zones``: each
    node's zone chain, for the zone-addressed commands it may read."""
    return "\n".join(broker_rules.acl_lines(controller_username, zones))


def password_lines(
    db: sqlite_utils.Database, controller_username: str, controller_hash: str
) -> list[str]:
    lines = [f"{controller_username}:{controller_hash}"]
    skipped = []
    for row in db.query(
        "SELECT id, mqtt_password_hash FROM nodes WHERE revoked = 0 ORDER BY id",
    ):
        if row["id"] == controller_username:
            continue  # never let a node's row stand in for the controller
        if not row["mqtt_password_hash"]:
            skipped.append(row["id"])  # made before schema v2: re-issue its credentials
            continue
        lines.append(f"{row['id']}:{row['mqtt_password_hash']}")
    if skipped:
        log.warning("nodes without an MQTT password hash (re-issue them): %s", ", ".join(skipped))
    return lines


def _write_atomic(path: Path, text: str, mode: int) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.chmod(tmp, mode)  # the umask may have narrowed it
    os.replace(tmp, path)


@contextmanager
def _locked(files: BrokerFiles) -> Iterator[None]:
    files.directory.mkdir(parents=True, exist_ok=True)
    fd = os.open(files.lock_file, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def write_broker_files(
    db: sqlite_utils.Database,
    directory: Path,
    controller_username: str,
    controller_password: str,
) -> BrokerFiles:
    """Rewrite the password and ACL files from the database; return where they are."""
    files = BrokerFiles(directory)
    with _locked(files):
        # read the nodes inside the lock: a slower writer can never put back an older list
        lines = password_lines(db, controller_username, mosquitto_hash(controller_password))
        _write_atomic(files.password_file, "\n".join(lines) + "\n", FILE_MODE)
        zones = broker_rules.node_zone_chains(db)
        _write_atomic(files.acl_file, acl_text(controller_username, zones), FILE_MODE)
    log.info("wrote %s (%d users) and %s", files.password_file, len(lines), files.acl_file)
    return files


def reload_broker(pid_file: Path | None) -> bool:
    """SIGHUP the broker named by its pid file, so it reads the files again.

    Returns False when there is no pid file to use (under systemd a path unit does the reload,
    see docs/operations.md) or the process cannot be signalled.
    """
    if pid_file is None:
        return False
    try:
        pid = int(pid_file.read_text().strip())
        os.kill(pid, signal.SIGHUP)
    except (OSError, ValueError) as exc:
        log.warning("could not reload the broker from %s: %s", pid_file, exc)
        return False
    log.info("sent SIGHUP to the broker (pid %d)", pid)
    return True
