"""A light node swarm: thousands of MQTT 3.1.1 sessions in one asyncio process, raw over TCP.

Not a benchmark itself: ``bench/emergency_scale.py`` starts several of these processes (one
Python process holds a few thousand sessions; the machine's file limit and its cores decide how
many). Each session is a real node known to the controller (its id and its password from the
controller's database), and does what a node does on the wire, nothing more:

* CONNECT as its node id (clean session off, as node agents), user name = node id, with the
  node's last will (retained ``online: false`` state);
* SUBSCRIBE QoS 1 to its own ``cmd`` topic and any extra topics it is given (a zone's command
  topic, for group addressing);
* PUBLISH its retained ``online: true`` state, and a heartbeat (telemetry, QoS 0) every
  ``heartbeat`` seconds when asked; both say ``protocol: 2`` when the swarm speaks protocol 2
  (``"protocol": 2`` in the config; absent, as from old nodes, for 1);
* protocol 2: on a ``node.config`` listing ``zones``, SUBSCRIBE QoS 1 to each zone's command
  topic (``loa/v1/zone/{z}/cmd``) it does not hold yet;
* on each command: PUBACK it (QoS 1), parse the envelope (JSON only: nothing is verified) and
  PUBLISH an ``ack`` report (QoS 1) on its report topic, as ``loa/protocol.py``'s Report/Ack.
  A command id seen before is acked ``ok: false, code: replayed``, as a node does.

Every command received is recorded with ``time.time()`` (the machine's one clock, shared by the
processes) when its PUBLISH was read and when the ack was written to the socket.

The parent drives a process through stdin, one word a line, and reads one JSON line back:
``status`` (counts), ``heartbeat <seconds>`` (0: stop), ``dump <path>`` (records → JSON file),
``quit`` (an ``online: false`` state, then DISCONNECT, as a node agent that stops). A process
also ends by itself after the config's ``max_seconds``.

    python bench/mqtt_swarm.py --config swarm-0.json
    config: {"host": "127.0.0.1", "port": 1883, "max_seconds": 1800, "protocol": 2,
             "nodes": [{"id": "n-00001", "password": "…", "topics": []}]}

Only the standard library: the swarm's own cost stays small and obvious.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import struct
import sys
import time
import uuid
from datetime import UTC, datetime
from typing import Any

TOPIC_ROOT = "loa/v1"  # loa.protocol.TOPIC_ROOT (kept stdlib-only on purpose)
KEEPALIVE_S = 120
CONNECT_CONCURRENCY = 100
AGENT_VERSION = "0.1.0-swarm"


def wire_time(t: float) -> str:
    """``loa.protocol.to_wire_time`` for a ``time.time()`` value."""
    return datetime.fromtimestamp(t, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


# --- MQTT 3.1.1 packets ---------------------------------------------------------------------


def _length(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n % 128, n // 128
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _str(s: str | bytes) -> bytes:
    b = s.encode() if isinstance(s, str) else s
    return struct.pack("!H", len(b)) + b


def connect_packet(
    client_id: str, username: str, password: str, will_topic: str, will: bytes, keepalive: int
) -> bytes:
    # user name, password, will retain, will QoS 1, will flag; clean session off
    flags = 0x80 | 0x40 | 0x20 | 0x08 | 0x04
    variable = _str("MQTT") + bytes([4, flags]) + struct.pack("!H", keepalive)
    payload = _str(client_id) + _str(will_topic) + _str(will) + _str(username) + _str(password)
    body = variable + payload
    return b"\x10" + _length(len(body)) + body


def subscribe_packet(packet_id: int, topics: list[str]) -> bytes:
    body = struct.pack("!H", packet_id) + b"".join(_str(t) + b"\x01" for t in topics)
    return b"\x82" + _length(len(body)) + body


def publish_packet(
    topic: str, payload: bytes, qos: int, packet_id: int = 0, retain: bool = False
) -> bytes:
    body = _str(topic) + (struct.pack("!H", packet_id) if qos else b"") + payload
    return bytes([0x30 | (qos << 1) | int(retain)]) + _length(len(body)) + body


def puback_packet(packet_id: int) -> bytes:
    return b"\x40\x02" + struct.pack("!H", packet_id)


PINGREQ = b"\xc0\x00"
DISCONNECT = b"\xe0\x00"


# --- one node's session ------------------------------------------------------------------------


class Swarm:
    def __init__(self, host: str, port: int, nodes: list[dict[str, Any]], protocol: int = 1):
        self.host, self.port = host, port
        self.protocol = protocol
        self.nodes = nodes
        self.sessions: dict[str, Session] = {}
        #: (node, cmd id, type, topic, broadcast or None, received, acked, a copy seen before)
        self.records: list[tuple[str, str, str, str, int | None, float, float, bool]] = []
        self.connected = 0
        self.refused = 0
        self.disconnects = 0
        self.refused_subscriptions = 0
        self.zone_subscriptions = 0
        self.heartbeat_s = 0.0
        self.heartbeats_sent = 0
        self._hb_task: asyncio.Task[None] | None = None

    async def connect_all(self) -> None:
        gate = asyncio.Semaphore(CONNECT_CONCURRENCY)

        async def one(node: dict[str, Any]) -> None:
            async with gate:
                session = Session(self, node)
                try:
                    await asyncio.wait_for(session.open(), timeout=60)
                except (OSError, TimeoutError, ConnectionError) as exc:
                    self.refused += 1
                    print(f"{node['id']}: {exc!r}", file=sys.stderr)
                    return
                self.sessions[node["id"]] = session

        await asyncio.gather(*(one(n) for n in self.nodes))

    def set_heartbeat(self, seconds: float) -> None:
        if self._hb_task:
            self._hb_task.cancel()
            self._hb_task = None
        self.heartbeat_s = seconds
        if seconds > 0:
            self._hb_task = asyncio.get_running_loop().create_task(self._heartbeats(seconds))

    async def _heartbeats(self, interval: float) -> None:
        """Each session once per ``interval``, spread evenly (real nodes' timers drift apart)."""
        sessions = list(self.sessions.values())
        random.shuffle(sessions)
        if not sessions:
            return
        step = interval / len(sessions)
        start = time.monotonic()
        i = 0
        while True:
            due = start + i * step
            delay = due - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            sessions[i % len(sessions)].heartbeat(interval)
            self.heartbeats_sent += 1
            i += 1

    def status(self) -> dict[str, Any]:
        return {
            "pid": os.getpid(),
            "connected": self.connected,
            "refused": self.refused,
            "open": sum(s.open_now for s in self.sessions.values()),
            "disconnects": self.disconnects,
            "zone_subscriptions": self.zone_subscriptions,
            "zoned": sum(len(s.topics) > 1 for s in self.sessions.values()),
            "refused_subscriptions": self.refused_subscriptions,
            "commands": sum(not r[7] for r in self.records),
            "copies": sum(r[7] for r in self.records),
            "heartbeats_sent": self.heartbeats_sent,
        }

    async def close(self) -> None:
        for s in self.sessions.values():
            s.close()
        await asyncio.sleep(1.0)


class Session(asyncio.Protocol):
    def __init__(self, swarm: Swarm, node: dict[str, Any]):
        self.swarm = swarm
        self.node_id: str = node["id"]
        self.password: str = node["password"]
        self.topics = [f"{TOPIC_ROOT}/node/{self.node_id}/cmd", *node.get("topics", [])]
        self.state_topic = f"{TOPIC_ROOT}/node/{self.node_id}/state"
        self.report_topic = f"{TOPIC_ROOT}/node/{self.node_id}/report"
        self.telemetry_topic = f"{TOPIC_ROOT}/node/{self.node_id}/telemetry"
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.next_id = 0
        self.seen: set[str] = set()
        self.connack: asyncio.Future[int] | None = None
        self.open_now = False
        self.started = time.monotonic()
        self.pinger: asyncio.Task[None] | None = None

    def _packet_id(self) -> int:
        self.next_id = self.next_id % 65535 + 1
        return self.next_id

    def _state(self, online: bool, reason: str | None = None) -> bytes:
        state: dict[str, Any] = {
            "v": 1,
            "node": self.node_id,
            "online": online,
            "at": wire_time(time.time()),
            "version": AGENT_VERSION,
        }
        if reason:
            state["reason"] = reason
        if self.swarm.protocol > 1:
            state["protocol"] = self.swarm.protocol
        return json.dumps(state, separators=(",", ":")).encode()

    async def open(self) -> None:
        loop = asyncio.get_running_loop()
        self.connack = loop.create_future()
        await loop.create_connection(lambda: self, self.swarm.host, self.swarm.port)
        assert self.transport is not None
        will = self._state(False, "will")
        self.transport.write(
            connect_packet(
                self.node_id, self.node_id, self.password, self.state_topic, will, KEEPALIVE_S
            )
        )
        code = await self.connack
        if code != 0:
            self.transport.close()
            raise ConnectionError(f"CONNACK {code}")
        self.open_now = True
        self.swarm.connected += 1
        self.transport.write(subscribe_packet(self._packet_id(), self.topics))
        self.transport.write(
            publish_packet(self.state_topic, self._state(True), 1, self._packet_id(), retain=True)
        )
        self.pinger = loop.create_task(self._keepalive())

    async def _keepalive(self) -> None:
        while self.open_now and self.transport is not None:
            await asyncio.sleep(KEEPALIVE_S / 2)
            if self.open_now:
                self.transport.write(PINGREQ)

    def heartbeat(self, interval: float) -> None:
        if not (self.open_now and self.transport):
            return
        now = time.time()
        telemetry = {
            "v": 1,
            "node": self.node_id,
            "at": wire_time(now),
            "uptime_s": round(time.monotonic() - self.started, 1),
            "version": AGENT_VERSION,
            "interval_s": interval,
            "temperature_c": 48.5,
            "load1": 0.2,
            "disk_free_mb": 900.0,
            "cache_free_mb": 400.0,
            "clock_synced": True,
            "clock_offset_ms": 3.0,
            "signal_dbm": -71.0,
            "scheduled": 0,
        }
        if self.swarm.protocol > 1:
            telemetry["protocol"] = self.swarm.protocol
        payload = json.dumps(telemetry, separators=(",", ":")).encode()
        self.transport.write(publish_packet(self.telemetry_topic, payload, 0))

    # --- asyncio.Protocol ---

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def connection_lost(self, exc: Exception | None) -> None:
        if self.open_now:
            self.swarm.disconnects += 1
        self.open_now = False
        if self.connack and not self.connack.done():
            self.connack.set_exception(ConnectionError(f"closed before CONNACK: {exc!r}"))

    def data_received(self, data: bytes) -> None:
        buf = self.buffer
        buf += data
        while len(buf) >= 2:
            # remaining length: up to 4 bytes
            n, mult, i = 0, 1, 1
            while True:
                if i >= len(buf):
                    return
                byte = buf[i]
                n += (byte & 0x7F) * mult
                mult *= 128
                i += 1
                if not byte & 0x80:
                    break
            if len(buf) < i + n:
                return
            header = buf[0]
            body = bytes(buf[i : i + n])
            del buf[: i + n]
            self._packet(header, body)

    def _packet(self, header: int, body: bytes) -> None:
        kind = header >> 4
        if kind == 2:  # CONNACK
            if self.connack and not self.connack.done():
                self.connack.set_result(body[1])
        elif kind == 3:  # PUBLISH
            received = time.time()
            qos = (header >> 1) & 3
            (tlen,) = struct.unpack_from("!H", body)
            topic = body[2 : 2 + tlen].decode()
            at = 2 + tlen
            if qos:
                (packet_id,) = struct.unpack_from("!H", body, at)
                at += 2
                assert self.transport is not None
                self.transport.write(puback_packet(packet_id))
            self._command(topic, body[at:], received)
        elif kind == 9:  # SUBACK: one return code per topic, 0x80 refused
            self.swarm.refused_subscriptions += body[2:].count(0x80)
        # PUBACK, PINGRESP: nothing to do

    def _command(self, topic: str, payload: bytes, received: float) -> None:
        try:
            envelope = json.loads(payload)
            cmd_id = str(envelope["id"])
            cmd_type = str(envelope.get("type", ""))
        except (ValueError, KeyError, TypeError):
            print(f"{self.node_id}: unreadable command on {topic}", file=sys.stderr)
            return
        broadcast = None
        body = envelope.get("body")
        if cmd_type == "play.now" and isinstance(body, dict):
            item = body.get("item") or {}
            broadcast = item.get("broadcast")
        if cmd_type == "node.config" and isinstance(body, dict) and self.swarm.protocol > 1:
            self._follow_zones(body.get("zones") or [])
        replayed = cmd_id in self.seen
        self.seen.add(cmd_id)
        ack = {"cmd_id": cmd_id, "ok": not replayed, "code": "replayed" if replayed else None}
        now = time.time()
        report = {
            "v": 1,
            "id": str(uuid.uuid4()),
            "type": "ack",
            "node": self.node_id,
            "at": wire_time(now),
            "body": ack,
        }
        payload_out = json.dumps(report, separators=(",", ":")).encode()
        assert self.transport is not None
        self.transport.write(publish_packet(self.report_topic, payload_out, 1, self._packet_id()))
        acked = time.time()
        self.swarm.records.append(
            (self.node_id, cmd_id, cmd_type, topic, broadcast, received, acked, replayed)
        )

    def _follow_zones(self, zones: list[Any]) -> None:
        """Subscribe to the command topics of the zones listed and not yet held."""
        new = [f"{TOPIC_ROOT}/zone/{int(z)}/cmd" for z in zones]
        new = [t for t in new if t not in self.topics]
        if new and self.transport:
            self.topics += new
            self.swarm.zone_subscriptions += len(new)
            self.transport.write(subscribe_packet(self._packet_id(), new))

    def close(self) -> None:
        if self.transport and self.open_now:
            self.open_now = False
            offline = self._state(False, "shutdown")
            self.transport.write(
                publish_packet(self.state_topic, offline, 1, self._packet_id(), retain=True)
            )
            self.transport.write(DISCONNECT)
            self.transport.close()


# --- the process --------------------------------------------------------------------------------


def _reply(obj: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


async def run(config: dict[str, Any]) -> None:
    swarm = Swarm(config["host"], config["port"], config["nodes"], config.get("protocol", 1))
    deadline = time.monotonic() + float(config.get("max_seconds", 1800))
    t0 = time.monotonic()
    await swarm.connect_all()
    _reply({"ready": True, "seconds": round(time.monotonic() - t0, 2), **swarm.status()})
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            print("swarm: max_seconds reached, leaving", file=sys.stderr)
            break
        try:
            line = await asyncio.wait_for(reader.readline(), timeout=left)
        except TimeoutError:
            continue
        if not line:  # the parent is gone
            break
        word, _, arg = line.decode().strip().partition(" ")
        if word == "status":
            _reply(swarm.status())
        elif word == "heartbeat":
            swarm.set_heartbeat(float(arg))
            _reply({"heartbeat_s": swarm.heartbeat_s})
        elif word == "dump":
            with open(arg, "w", encoding="utf-8") as f:
                json.dump(swarm.records, f)
            _reply({"dumped": len(swarm.records), **swarm.status()})
        elif word == "quit":
            break
        else:
            _reply({"error": f"unknown word {word!r}"})
    swarm.set_heartbeat(0)
    await swarm.close()
    _reply({"bye": True})


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--config", required=True, help="JSON: host, port, max_seconds, nodes")
    args = ap.parse_args()
    with open(args.config, encoding="utf-8") as f:
        config = json.load(f)
    asyncio.run(run(config))


if __name__ == "__main__":
    main()
