"""Incoming commands: verify (signature, node, expiry, replay), apply, ack.

Protocol 2's zone commands (``ZoneCommand``, on ``loa/v1/zone/{id}/cmd``) are verified the same
way, the zone in place of the node: it must be one of the zones ``node.config`` listed, unless
the command came on the node's own topic (the controller's re-send to this node). One replay
cache for both: a command id is obeyed once, whichever topic brought it.

Every command whose id can be read is acked: ``ok`` or a stable code. Nothing unverified changes
any state. A command that cannot be stored is refused with its reason: ``disk_full`` (the disk
or the database is full, even after evicting every cached file no schedule needs) or
``store_damaged`` (the database is damaged: the agent then stops so that its next start moves
the file aside). The replay cache is the store's ``seen`` table, so it survives restarts.
"""

from __future__ import annotations

import errno
import logging
import re
import sqlite3
import time
from collections.abc import Callable, Sequence
from contextlib import suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from loa.protocol import (
    Ack,
    Command,
    NodeConfig,
    PlayNow,
    PlayStop,
    ProtocolError,
    ScheduleCancel,
    SchedulePut,
    ScheduleSync,
    ZoneCommand,
    parse_json,
)
from loa.signing import PublicKey, verify_command, verify_zone_command
from node_agent.engine import Engine
from node_agent.store import Store, is_damage

log = logging.getLogger(__name__)

_ID_RE = re.compile(rb'"id"\s*:\s*"([^"\\]{1,64})"')


def readable_id(payload: bytes, data: dict[str, Any] | None) -> str | None:
    """The command id if one can be read, even from a payload that is not valid."""
    if data is not None:
        cid = data.get("id")
        return cid if isinstance(cid, str) and 0 < len(cid) <= 64 else None
    m = _ID_RE.search(payload[:4096])
    return m.group(1).decode(errors="replace") if m else None


@dataclass
class CommandContext:
    node_id: str
    public_key: PublicKey
    store: Store
    engine: Engine
    ack: Callable[[Ack], None]
    apply_config: Callable[[dict[str, Any]], None]
    warmup_for_now: Callable[[], float]
    #: Called when a command failed because the database is damaged (see ``store_damaged``).
    on_store_damaged: Callable[[str], None] = lambda _why: None
    #: Called when the disk is full: frees what it can (cached media no longer needed) and
    #: returns the bytes freed; the command is tried once more when that is not 0.
    make_room: Callable[[], int] = lambda: 0
    #: Protocol 2: the zones whose commands this node obeys (its node.config's ``zones``).
    zones: Callable[[], Sequence[int]] = lambda: ()


def _code(exc: BaseException) -> str:
    """The ack code of a command that could not be applied: ``disk_full`` when the node's disk
    (or its database) is full, else ``rejected``."""
    if isinstance(exc, sqlite3.OperationalError) and "full" in str(exc).lower():
        return "disk_full"
    if isinstance(exc, OSError) and exc.errno == errno.ENOSPC:
        return "disk_full"
    return "rejected"


def handle(payload: bytes, ctx: CommandContext, own_topic: bool = True) -> None:
    """Verify, apply and ack one command; ``own_topic``: it came on the node's own ``cmd``
    topic (else on a zone's)."""
    data: dict[str, Any] | None = None
    cmd: Command | ZoneCommand
    try:
        data = parse_json(payload)
        now = datetime.now(UTC)
        if "zone" in data or not own_topic:
            cmd = verify_zone_command(
                data, ctx.public_key, ctx.zones(), now, ctx.store, own_topic=own_topic
            )
        else:
            cmd = verify_command(data, ctx.public_key, ctx.node_id, now, ctx.store)
    except ProtocolError as exc:
        cid = readable_id(payload, data)
        log.warning("refused command %s: %s (%s)", cid or "(no id)", exc.code, exc)
        if cid:
            ctx.ack(Ack(cmd_id=cid, ok=False, code=exc.code, error=str(exc)[:500]))
        return
    except sqlite3.DatabaseError as exc:  # the replay cache could not be read
        cid = readable_id(payload, data)
        log.error("command %s not checked: %s", cid or "(no id)", exc)
        if cid:
            code = "store_damaged" if is_damage(exc) else _code(exc)
            ctx.ack(Ack(cmd_id=cid, ok=False, code=code, error=str(exc)[:500]))
        if is_damage(exc):
            ctx.on_store_damaged(str(exc))
        return
    try:
        try:
            after = _apply_and_mark(cmd, ctx)
        except Exception as exc:
            if _code(exc) != "disk_full" or not ctx.make_room():
                raise
            log.warning("disk full: evicted cached media, trying %s again", cmd.id)
            after = _apply_and_mark(cmd, ctx)
    except Exception as exc:
        log.exception("command %s (%s) could not be applied", cmd.id, cmd.type)
        if is_damage(exc):
            # Nothing more can be written: refuse with the reason, then let the agent restart,
            # which moves the damaged file aside (node_agent/store.py).
            ctx.ack(Ack(cmd_id=cmd.id, ok=False, code="store_damaged", error=str(exc)[:500]))
            ctx.on_store_damaged(str(exc))
            return
        with suppress(sqlite3.Error):
            ctx.store.mark_seen(cmd.id, cmd.expires_at.timestamp())
        ctx.ack(Ack(cmd_id=cmd.id, ok=False, code=_code(exc), error=str(exc)[:500]))
        return
    after()  # tell the engine only once the change is committed
    log.info("command %s %s ok", cmd.type, cmd.id)
    ctx.ack(Ack(cmd_id=cmd.id, ok=True))


def _apply_and_mark(cmd: Command | ZoneCommand, ctx: CommandContext) -> Callable[[], None]:
    # the replay cache and the command's effect are written in one transaction
    with ctx.store.transaction():
        ctx.store.mark_seen(cmd.id, cmd.expires_at.timestamp())
        return apply(cmd, ctx)


def apply(cmd: Command | ZoneCommand, ctx: CommandContext) -> Callable[[], None]:
    """Write the command's effect to the store; return what to do once it is committed."""
    body = cmd.parsed_body()
    now = time.time()
    engine = ctx.engine
    if isinstance(body, SchedulePut):
        ctx.store.put_items(body.items, now)
        return lambda: engine.wake(schedule_changed=True)
    if isinstance(body, ScheduleSync):
        ctx.store.sync_items(body.items, now)
        return lambda: engine.wake(schedule_changed=True)
    if isinstance(body, ScheduleCancel):
        keys = set(ctx.store.cancel(body.items))

        def stop_cancelled() -> None:
            engine.stop_playing("cancelled", keys=keys, error="schedule.cancel")
            engine.wake(schedule_changed=True)

        return stop_cancelled
    if isinstance(body, PlayNow):
        ctx.store.put_items([body.item], now + ctx.warmup_for_now(), immediate=True)
        return lambda: engine.wake(schedule_changed=True)
    if isinstance(body, PlayStop):
        broadcast = body.broadcast

        def stop() -> None:
            engine.stop_playing("cancelled", broadcast=broadcast, error="play.stop")

        return stop
    if isinstance(body, NodeConfig):
        values = {k: getattr(body, k) for k in body.model_fields_set}
        if "quiet_hours" in values and values["quiet_hours"] is not None:
            values["quiet_hours"] = values["quiet_hours"].model_dump()
        ctx.store.set_settings(values)

        def configure() -> None:
            ctx.apply_config(values)
            engine.wake()

        return configure
    return lambda: None  # node.ping: the ack is the answer
