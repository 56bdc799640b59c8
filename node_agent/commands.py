"""Incoming commands: verify (signature, node, expiry, replay), apply, ack.

Every command whose id can be read is acked: ``ok`` or a stable code. Nothing unverified changes
any state. The replay cache is the store's ``seen`` table, so it survives restarts.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

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
    parse_json,
)
from loa.signing import verify_command
from node_agent.engine import Engine
from node_agent.store import Store

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
    public_key: Ed25519PublicKey
    store: Store
    engine: Engine
    ack: Callable[[Ack], None]
    apply_config: Callable[[dict[str, Any]], None]
    warmup_for_now: Callable[[], float]


def handle(payload: bytes, ctx: CommandContext) -> None:
    data: dict[str, Any] | None = None
    try:
        data = parse_json(payload)
        cmd = verify_command(data, ctx.public_key, ctx.node_id, datetime.now(UTC), ctx.store)
    except ProtocolError as exc:
        cid = readable_id(payload, data)
        log.warning("refused command %s: %s (%s)", cid or "(no id)", exc.code, exc)
        if cid:
            ctx.ack(Ack(cmd_id=cid, ok=False, code=exc.code, error=str(exc)[:500]))
        return
    ctx.store.mark_seen(cmd.id, cmd.expires_at.timestamp())
    try:
        apply(cmd, ctx)
    except Exception as exc:
        log.exception("command %s (%s) could not be applied", cmd.id, cmd.type)
        ctx.ack(Ack(cmd_id=cmd.id, ok=False, code="rejected", error=str(exc)[:500]))
        return
    log.info("command %s %s ok", cmd.type, cmd.id)
    ctx.ack(Ack(cmd_id=cmd.id, ok=True))


def apply(cmd: Command, ctx: CommandContext) -> None:
    body = cmd.parsed_body()
    now = time.time()
    if isinstance(body, SchedulePut):
        ctx.store.put_items(body.items, now)
        ctx.engine.wake(schedule_changed=True)
    elif isinstance(body, ScheduleSync):
        ctx.store.sync_items(body.items, now)
        ctx.engine.wake(schedule_changed=True)
    elif isinstance(body, ScheduleCancel):
        keys = ctx.store.cancel(body.items)
        ctx.engine.stop_playing("cancelled", keys=set(keys), error="schedule.cancel")
        ctx.engine.wake(schedule_changed=True)
    elif isinstance(body, PlayNow):
        ctx.store.put_items([body.item], now + ctx.warmup_for_now(), immediate=True)
        ctx.engine.wake(schedule_changed=True)
    elif isinstance(body, PlayStop):
        ctx.engine.stop_playing("cancelled", broadcast=body.broadcast, error="play.stop")
    elif isinstance(body, NodeConfig):
        values = {k: getattr(body, k) for k in body.model_fields_set}
        if "quiet_hours" in values and values["quiet_hours"] is not None:
            values["quiet_hours"] = values["quiet_hours"].model_dump()
        ctx.apply_config(values)
        ctx.engine.wake()
    # node.ping: the ack is the answer
