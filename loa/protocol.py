"""MQTT protocol v1: topics, the signed command envelope, and every message both sides exchange.

This module is the single definition of the wire format. The controller and the node agent both
import it; ``python -m loa.schemas`` writes a JSON Schema for every message into docs/protocol/ so
other hardware can join. See docs/protocol.md for the prose version.

Times on the wire are UTC in ISO 8601 with a ``Z`` suffix.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal, TypeVar

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    ValidationError,
)

#: The protocol a node speaks, told in its ``state`` and ``telemetry`` (``protocol``; absent: 1).
#: 2 adds zone-addressed commands (``ZoneCommand`` on ``loa/v1/zone/{id}/cmd``). The envelopes
#: of version 1 (``Command``, ``Report``, ``State``, ``Telemetry``) are unchanged and keep
#: ``v: 1``, so a node of either version understands every per-node command.
PROTOCOL_VERSION = 2
#: ``v`` of the version-1 envelopes.
ENVELOPE_V1 = 1
#: ``v`` of a zone command: a node of protocol 1 refuses it as malformed, never obeys it.
ZONE_COMMAND_V = 2
TOPIC_ROOT = "loa/v1"
#: Largest payload either side accepts; anything bigger is refused unread.
MAX_PAYLOAD_BYTES = 256 * 1024

TopicKind = Literal["cmd", "state", "telemetry", "report"]


def node_topic(node_id: str, kind: TopicKind) -> str:
    """``loa/v1/node/{id}/{kind}``."""
    return f"{TOPIC_ROOT}/node/{node_id}/{kind}"


def zone_topic(zone_id: int) -> str:
    """``loa/v1/zone/{id}/cmd``: the commands for every node of the zone and of the zones below
    it. A node subscribes to the topic of its own zone and of every zone above it."""
    return f"{TOPIC_ROOT}/zone/{int(zone_id)}/cmd"


def zone_id_from_topic(topic: str) -> int | None:
    """The zone id of ``loa/v1/zone/{id}/cmd``; None for anything else."""
    parts = topic.split("/")
    if len(parts) != 5 or "/".join(parts[:3]) != f"{TOPIC_ROOT}/zone" or parts[4] != "cmd":
        return None
    text = parts[3]
    return int(text) if text.isdigit() and not text.startswith("0") else None


def node_id_from_topic(topic: str) -> tuple[str, str] | None:
    """Split ``loa/v1/node/{id}/{kind}`` into (id, kind); None for anything else."""
    parts = topic.split("/")
    if len(parts) != 5 or "/".join(parts[:3]) != f"{TOPIC_ROOT}/node":
        return None
    return parts[3], parts[4]


# --- times -------------------------------------------------------------------------------------


def utcnow() -> datetime:
    return datetime.now(UTC)


def to_wire_time(dt: datetime) -> str:
    """UTC ISO 8601 with milliseconds and a Z: ``2026-11-27T06:00:00.000Z``."""
    if dt.tzinfo is None:
        raise ValueError("naive datetime on the wire")
    return dt.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


WireTime = Annotated[AwareDatetime, PlainSerializer(to_wire_time, return_type=str)]

# --- shared vocabulary ----------------------------------------------------------------------------

Priority = Literal["normal", "urgent", "emergency"]
#: Higher preempts lower; equal priorities queue (never overlap on one node).
PRIORITY_RANK: dict[str, int] = {"normal": 0, "urgent": 1, "emergency": 2}

Sha256 = Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]
NodeId = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,62}$")]
ZoneId = Annotated[int, Field(ge=1)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# --- content: one of the three kinds a broadcast carries ---------------------------------------


class FileContent(_Model):
    """Prepared audio: delivered ahead and played from the node's cache."""

    kind: Literal["file"] = "file"
    url: str
    sha256: Sha256
    bytes: int = Field(ge=1)
    duration_s: float = Field(gt=0)


class StreamContent(_Model):
    """A relayed radio stream (tiếp sóng) or live speech (phát trực tiếp), played until ``until``.

    ``until`` is None for live speech: the node stops when the stream ends or falls silent.
    """

    kind: Literal["stream"] = "stream"
    url: str
    until: WireTime | None = None
    live: bool = False


Content = Annotated[FileContent | StreamContent, Field(discriminator="kind")]


class ScheduleItem(_Model):
    """One occurrence of a broadcast on one node.

    ``(broadcast, occurrence)`` identifies it; the controller's dispatch row has the same key.
    """

    broadcast: int = Field(ge=1)
    occurrence: str = Field(min_length=1, max_length=64)
    play_at: WireTime
    content: Content
    priority: Priority = "normal"
    volume: int | None = Field(default=None, ge=0, le=100)
    max_late_s: float = Field(default=30.0, ge=0)
    repeats: int = Field(default=1, ge=1, le=10)
    repeat_gap_s: float = Field(default=3.0, ge=0, le=600)
    title: str = Field(default="", max_length=200)

    @property
    def key(self) -> str:
        return item_key(self.broadcast, self.occurrence)


def item_key(broadcast: int, occurrence: str) -> str:
    return f"{broadcast}/{occurrence}"


# --- command bodies -----------------------------------------------------------------------------


class SchedulePut(_Model):
    """Add or replace (by key) items in the node's schedule."""

    items: list[ScheduleItem] = Field(max_length=500)


class ItemRef(_Model):
    broadcast: int = Field(ge=1)
    #: None cancels every occurrence of the broadcast.
    occurrence: str | None = None


class ScheduleCancel(_Model):
    items: list[ItemRef] = Field(min_length=1, max_length=500)


class ScheduleSync(_Model):
    """The node's whole future schedule: authoritative, replaces what the node holds."""

    items: list[ScheduleItem] = Field(max_length=5000)


class PlayNow(_Model):
    """Play at once, preempting anything of lower priority (``play_at`` is ignored)."""

    item: ScheduleItem


class PlayStop(_Model):
    #: None stops whatever is playing.
    broadcast: int | None = None


class QuietHours(_Model):
    start: str = Field(pattern=r"^\d{2}:\d{2}$")  # local time HH:MM
    end: str = Field(pattern=r"^\d{2}:\d{2}$")


class NodeConfig(_Model):
    volume: int | None = Field(default=None, ge=0, le=100)
    warmup_s: float | None = Field(default=None, ge=0, le=60)
    hold_s: float | None = Field(default=None, ge=0, le=600)
    heartbeat_s: float | None = Field(default=None, ge=1, le=3600)
    quiet_hours: QuietHours | None = None
    max_minutes_per_hour: float | None = Field(default=None, ge=0, le=60)
    #: Protocol 2: the zones whose commands this node obeys, its own zone first and then every
    #: zone above it. The node subscribes to exactly their topics (and unsubscribes from the
    #: zones no longer listed). Sent only to nodes of protocol 2 or later: a protocol-1 node
    #: refuses the field.
    zones: list[ZoneId] | None = Field(default=None, max_length=16)


class NodePing(_Model):
    pass


CommandBody = (
    SchedulePut | ScheduleCancel | ScheduleSync | PlayNow | PlayStop | NodeConfig | NodePing
)

CommandType = Literal[
    "schedule.put",
    "schedule.cancel",
    "schedule.sync",
    "play.now",
    "play.stop",
    "node.config",
    "node.ping",
]

COMMAND_BODIES: dict[str, type[_Model]] = {
    "schedule.put": SchedulePut,
    "schedule.cancel": ScheduleCancel,
    "schedule.sync": ScheduleSync,
    "play.now": PlayNow,
    "play.stop": PlayStop,
    "node.config": NodeConfig,
    "node.ping": NodePing,
}


class Command(_Model):
    """The signed envelope on ``loa/v1/node/{id}/cmd``.

    ``sig`` is Ed25519 over the canonical JSON of every other field (see ``loa.signing``).
    """

    v: Literal[1] = 1
    id: str = Field(min_length=1, max_length=64)
    type: CommandType
    node: NodeId
    issued_at: WireTime
    expires_at: WireTime
    body: dict[str, Any]
    sig: str = ""

    def parsed_body(self) -> _Model:
        return COMMAND_BODIES[self.type].model_validate(self.body)


def new_command(
    type_: CommandType, node: str, body: CommandBody, *, ttl: timedelta, now: datetime | None = None
) -> dict[str, Any]:
    """An unsigned command envelope as a JSON-ready dict."""
    return _envelope(ENVELOPE_V1, type_, ("node", node), body, ttl, now)


def _envelope(
    version: int,
    type_: str,
    to: tuple[str, str | int],
    body: CommandBody,
    ttl: timedelta,
    now: datetime | None,
) -> dict[str, Any]:
    """A command envelope (per node or per zone: ``to`` is ``("node", id)`` or ``("zone", id)``)."""
    now = now or utcnow()
    if not isinstance(body, COMMAND_BODIES[type_]):
        raise TypeError(f"{type_} takes {COMMAND_BODIES[type_].__name__}")
    return {
        "v": version,
        "id": str(uuid.uuid4()),
        "type": type_,
        to[0]: to[1],
        "issued_at": to_wire_time(now),
        "expires_at": to_wire_time(now + ttl),
        # node.config: only the settings given (a null would clear that setting on the node)
        "body": body.model_dump(mode="json", exclude_unset=isinstance(body, NodeConfig)),
    }


#: The commands a zone command may carry: an emergency and its cancel. Schedules stay per node.
ZoneCommandType = Literal["play.now", "play.stop", "schedule.cancel"]
ZONE_COMMAND_TYPES: tuple[str, ...] = ("play.now", "play.stop", "schedule.cancel")


class ZoneCommand(_Model):
    """Protocol 2: the signed envelope on ``loa/v1/zone/{zone}/cmd``, one command for every node
    of the zone and of the zones below it.

    Signed like ``Command`` (Ed25519 over the canonical JSON of every other field). A node
    obeys it when the signature is valid, ``zone`` is one of the zones its ``node.config``
    listed (or it arrived on the node's own ``cmd`` topic: the controller's re-send to a node
    that did not ack), it has not expired and its ``id`` was never received before; it acks on
    its own ``report`` topic with ``cmd_id`` = this ``id``, as for its own commands.
    """

    v: Literal[2] = 2
    id: str = Field(min_length=1, max_length=64)
    type: ZoneCommandType
    zone: ZoneId
    issued_at: WireTime
    expires_at: WireTime
    body: dict[str, Any]
    sig: str = ""

    def parsed_body(self) -> _Model:
        return COMMAND_BODIES[self.type].model_validate(self.body)


def new_zone_command(
    type_: ZoneCommandType,
    zone: int,
    body: CommandBody,
    *,
    ttl: timedelta,
    now: datetime | None = None,
) -> dict[str, Any]:
    """An unsigned zone command envelope as a JSON-ready dict."""
    if type_ not in ZONE_COMMAND_TYPES:
        raise ValueError(f"{type_} is not sent to a zone")
    return _envelope(ZONE_COMMAND_V, type_, ("zone", int(zone)), body, ttl, now)


# --- node → controller --------------------------------------------------------------------------

PlayResult = Literal["played", "interrupted", "failed", "missed", "cancelled"]


class Ack(_Model):
    cmd_id: str
    ok: bool
    #: A stable code when not ok: bad_signature, wrong_node, expired, replayed, malformed,
    #: unknown_type, too_large, rejected (with ``error`` saying why).
    code: str | None = None
    error: str | None = None


class PlayStarted(_Model):
    broadcast: int
    occurrence: str
    sha256: str | None = None
    play_at: WireTime
    started_at: WireTime


class PlayFinished(_Model):
    broadcast: int
    occurrence: str
    sha256: str | None = None
    play_at: WireTime
    started_at: WireTime | None = None
    ended_at: WireTime
    result: PlayResult
    error: str | None = None
    #: Streams: seconds of audio that actually arrived, and how often it dropped or was
    #: preempted and came back (absent for files).
    played_s: float | None = Field(default=None, ge=0)
    interruptions: int | None = Field(default=None, ge=0)


class MediaFailed(_Model):
    broadcast: int
    occurrence: str
    sha256: str
    error: str


ReportType = Literal["ack", "play.started", "play.finished", "media.failed"]

REPORT_BODIES: dict[str, type[_Model]] = {
    "ack": Ack,
    "play.started": PlayStarted,
    "play.finished": PlayFinished,
    "media.failed": MediaFailed,
}


class Report(_Model):
    """On ``loa/v1/node/{id}/report`` (QoS 1). ``id`` lets the controller drop duplicates."""

    v: Literal[1] = 1
    id: str = Field(min_length=1, max_length=64)
    type: ReportType
    node: NodeId
    at: WireTime
    body: dict[str, Any]

    def parsed_body(self) -> _Model:
        return REPORT_BODIES[self.type].model_validate(self.body)


def new_report(type_: ReportType, node: str, body: _Model, now: datetime | None = None) -> dict:
    if not isinstance(body, REPORT_BODIES[type_]):
        raise TypeError(f"{type_} takes {REPORT_BODIES[type_].__name__}")
    return {
        "v": ENVELOPE_V1,
        "id": str(uuid.uuid4()),
        "type": type_,
        "node": node,
        "at": to_wire_time(now or utcnow()),
        "body": body.model_dump(mode="json"),
    }


class Playing(_Model):
    broadcast: int
    occurrence: str
    priority: Priority
    started_at: WireTime


#: The ``reason`` of an online ``state`` a node publishes because what it plays changed, or
#: because a ``node.config`` changed its settings: not a new connection, so the controller
#: sends no ``schedule.sync`` for it (protocol 2; a state without a reason is a connection).
STATE_REASON_PLAYING = "playing"
STATE_REASON_CONFIG = "config"
STATE_REASONS_NOT_CONNECTED: tuple[str, ...] = (STATE_REASON_PLAYING, STATE_REASON_CONFIG)


class State(_Model):
    """Retained on ``loa/v1/node/{id}/state``; the last will publishes ``online: false``.

    ``at`` is when the node wrote it (for the will: when the node connected), so a stale retained
    message is recognisable.
    """

    v: Literal[1] = 1
    node: NodeId
    online: bool
    at: WireTime
    version: str | None = None
    playing: Playing | None = None
    volume: int | None = None
    reason: str | None = None
    #: The protocol the node speaks (``PROTOCOL_VERSION``); absent from protocol-1 nodes.
    protocol: int = Field(default=1, ge=1)


class CellularLink(_Model):
    """A 3G/4G modem's link as ModemManager reports it. Absent readings are null.

    ``quality_pct`` is ModemManager's signal quality (0-100, only when recent); the dBm and dB
    figures come from its extended signal readings, for the access technology in use, when the
    modem has them enabled (``mmcli --signal-setup``).
    """

    quality_pct: int | None = Field(default=None, ge=0, le=100)
    #: ModemManager's access technologies, e.g. ``lte``, ``umts``, ``hspa``, ``gsm``, ``5gnr``
    #: (several joined with ``,``).
    access_tech: str | None = Field(default=None, max_length=64)
    operator: str | None = Field(default=None, max_length=64)
    #: ModemManager's modem state: ``connected``, ``registered``, ``searching``, …
    state: str | None = Field(default=None, max_length=32)
    rssi_dbm: float | None = None
    rsrp_dbm: float | None = None
    rsrq_db: float | None = None
    snr_db: float | None = None


class Telemetry(_Model):
    """Heartbeat on ``loa/v1/node/{id}/telemetry`` (QoS 0). Absent readings are null.

    Link quality: ``signal_dbm`` is the Wi-Fi signal level; ``cellular`` the 3G/4G modem's link.
    """

    v: Literal[1] = 1
    node: NodeId
    at: WireTime
    uptime_s: float
    version: str
    interval_s: float
    temperature_c: float | None = None
    load1: float | None = None
    disk_free_mb: float | None = None
    cache_free_mb: float | None = None
    clock_synced: bool | None = None
    clock_offset_ms: float | None = None
    signal_dbm: float | None = None
    scheduled: int | None = None
    cellular: CellularLink | None = None
    #: When the node last found its database damaged and started a fresh one (null: never),
    #: and the name the damaged file was kept under.
    store_reset_at: WireTime | None = None
    store_reset_kept: str | None = Field(default=None, max_length=200)
    #: The protocol the node speaks (``PROTOCOL_VERSION``); absent from protocol-1 nodes.
    protocol: int = Field(default=1, ge=1)


# --- parsing helpers ----------------------------------------------------------------------------


class ProtocolError(ValueError):
    """A message that is not valid protocol v1; ``code`` is the stable code reported in acks."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code


def parse_json(payload: bytes) -> dict[str, Any]:
    if len(payload) > MAX_PAYLOAD_BYTES:
        raise ProtocolError("too_large", f"payload of {len(payload)} bytes")
    try:
        data = json.loads(payload.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ProtocolError("malformed", f"not JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise ProtocolError("malformed", "not a JSON object")
    return data


M = TypeVar("M", bound=BaseModel)


def parse_model(model: type[M], data: dict[str, Any]) -> M:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ProtocolError("malformed", _short(exc)) from exc


def _short(exc: ValidationError) -> str:
    first = exc.errors()[0]
    where = ".".join(str(p) for p in first["loc"])
    return f"{where}: {first['msg']}" + (
        f" (+{exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
    )


def dumps(obj: dict[str, Any] | BaseModel) -> bytes:
    """Compact UTF-8 JSON for the wire."""
    if isinstance(obj, BaseModel):
        obj = obj.model_dump(mode="json")
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode()
