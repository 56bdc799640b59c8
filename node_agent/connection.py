"""The MQTT connection: persistent session, retained state with a last will, reconnects with
exponential backoff and jitter, TLS with a pinned CA, and reports kept in the on-disk outbox
until the broker has acknowledged them (so a crash or a long outage loses none).

MQTT 3.1.1 only (the embedded demo broker speaks nothing newer), client id = user name = node id.
"""

from __future__ import annotations

import logging
import random
import sqlite3
import ssl
import threading
import time
from collections.abc import Callable
from typing import Any

import paho.mqtt.client as mqtt

from loa.protocol import MAX_PAYLOAD_BYTES, State, dumps, node_topic, utcnow, zone_topic
from node_agent.config import MqttConfig
from node_agent.reactor import Reactor
from node_agent.store import Store

log = logging.getLogger(__name__)


class Backoff:
    """Exponential delays from ``low`` to ``high``, each stretched by up to 50 % at random so a
    village of nodes coming back after a broker restart does not reconnect in lockstep."""

    def __init__(self, low: float, high: float, rng: random.Random | None = None):
        self.low, self.high = low, high
        self.attempt = 0
        self.rng = rng or random.Random()

    def next(self) -> float:
        base = min(self.high, self.low * 2**self.attempt)
        self.attempt += 1
        return base * (1 + 0.5 * self.rng.random())

    def reset(self) -> None:
        self.attempt = 0


def tls_context(ca_file: str) -> ssl.SSLContext:
    """Trust only ``ca_file`` when given (pinned), else the system store; always verify."""
    ctx = ssl.create_default_context(cafile=ca_file or None)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    return ctx


def _published(info: mqtt.MQTTMessageInfo) -> bool:
    """Acknowledged by the broker? (A message first sent while offline carries a NO_CONN code
    but stays queued in the client and goes out on reconnect.)"""
    try:
        return info.is_published()
    except (RuntimeError, ValueError):
        return bool(getattr(info, "_published", False))


def _wait(predicate: Callable[[], bool], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not predicate() and time.monotonic() < deadline:
        time.sleep(0.01)


class Connection:
    """One node's MQTT session, driven by a Reactor (its own, or one shared by a simulation)."""

    def __init__(
        self,
        cfg: MqttConfig,
        node_id: str,
        username: str,
        store: Store,
        on_command: Callable[[bytes, str], None],
        state: Callable[[], dict[str, Any]],
        on_tick: Callable[[], None] | None = None,
        reactor: Reactor | None = None,
    ):
        self.cfg = cfg
        self.node_id = node_id
        self.store = store
        self.on_command = on_command
        self.state = state
        self.on_tick = on_tick
        self.cmd_topic = node_topic(node_id, "cmd")
        self.state_topic = node_topic(node_id, "state")
        #: Protocol 2: the topics of the zones whose commands this node obeys (``set_zones``).
        self.zones: tuple[int, ...] = ()
        self.zone_topics: tuple[str, ...] = ()
        self.connected = threading.Event()
        self.connects = 0
        self.next_connect = float("inf")
        self.next_tick = float("inf")
        self._own_reactor = reactor is None
        self.reactor = reactor or Reactor(f"mqtt-{node_id}")
        self._stopping = False
        self._tracked: list[tuple[mqtt.MQTTMessageInfo, str]] = []
        self._tracked_lock = threading.Lock()
        self._backoff = Backoff(cfg.backoff_min_s, cfg.backoff_max_s)
        c = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2,
            client_id=node_id,
            clean_session=False,
            protocol=mqtt.MQTTv311,
        )
        c.username_pw_set(username, cfg.password or None)
        if cfg.tls:
            c.tls_set_context(tls_context(cfg.ca_file))
        c.max_queued_messages_set(0)
        c.max_inflight_messages_set(50)
        c.on_connect = self._on_connect
        c.on_disconnect = self._on_disconnect
        c.on_message = self._on_message
        self.client = c

    # --- lifecycle -----------------------------------------------------------------------

    def start(self) -> None:
        for report_id, topic, payload in self.store.outbox_all():
            self._publish_tracked(report_id, topic, payload)
        self.next_connect = 0.0
        self.next_tick = 0.0
        self.reactor.add(self)

    def stop(self, reason: str = "shutdown") -> None:
        """Leave cleanly: an offline state in place of the will, then a DISCONNECT (which also
        tells the broker not to publish the will)."""
        self._stopping = True
        self.next_connect = float("inf")
        if self.connected.is_set():
            body = {**self.state(), "online": False, "reason": reason, "at": utcnow()}
            info = self.client.publish(self.state_topic, dumps(State(**body)), qos=1, retain=True)
            _wait(lambda: _published(info), 2.0)
        self.client.disconnect()
        self.reactor.wake()
        _wait(lambda: self.client.socket() is None, 2.0)
        self.reactor.remove(self)
        self.connected.clear()
        if self._own_reactor:
            self.reactor.stop()

    # --- driven by the reactor (network thread) ------------------------------------------

    def try_connect(self) -> None:
        if self._stopping:
            self.next_connect = float("inf")
            return
        will = State(node=self.node_id, online=False, at=utcnow(), reason="will")
        self.client.will_set(self.state_topic, dumps(will), qos=1, retain=True)
        try:
            self.client.connect(self.cfg.host, self.cfg.port, keepalive=self.cfg.keepalive_s)
        except (OSError, ssl.SSLError, ValueError) as exc:
            self._retry_later(f"connect to {self.cfg.url} failed: {exc}")
            return
        self.next_connect = float("inf")
        self.next_tick = time.monotonic()

    def lost(self, rc: Any) -> None:
        self.connected.clear()
        if self._stopping:
            self.next_connect = float("inf")
            return
        self._retry_later(f"connection lost ({mqtt.error_string(rc)})")

    def _retry_later(self, why: str) -> None:
        delay = self._backoff.next()
        log.warning("%s %s; retrying in %.1fs", self.node_id, why, delay)
        self.next_connect = time.monotonic() + delay

    def tick(self) -> None:
        self._sweep_outbox()
        if self.on_tick and self.connected.is_set():
            try:
                self.on_tick()
            except Exception:
                log.exception("tick failed")

    # --- callbacks (network thread) ------------------------------------------------------

    def _on_connect(self, client: mqtt.Client, _u: Any, _f: Any, rc: Any, _p: Any) -> None:
        if rc.is_failure:
            log.error("broker refused the connection: %s", rc)
            client.disconnect()
            self.lost(rc)
            return
        self._backoff.reset()
        self.connects += 1
        client.subscribe([(t, 1) for t in (self.cmd_topic, *self.zone_topics)])
        self.publish_state()
        self.connected.set()
        log.info("connected to %s as %s", self.cfg.url, self.node_id)

    def _on_disconnect(self, _c: Any, _u: Any, _f: Any, rc: Any, _p: Any) -> None:
        self.connected.clear()
        if not self._stopping:
            log.warning("%s disconnected: %s", self.node_id, rc)

    def _on_message(self, _c: Any, _u: Any, msg: mqtt.MQTTMessage) -> None:
        if msg.topic != self.cmd_topic and msg.topic not in self.zone_topics:
            return
        try:
            self.on_command(bytes(msg.payload), msg.topic)
        except Exception:
            log.exception("command handling failed")

    def set_zones(self, zones: list[int]) -> None:
        """Listen to exactly these zones' command topics (protocol 2): subscribe to the new ones
        and unsubscribe from the ones no longer listed, now if connected, and on every
        (re)connect. The subscriptions are part of the persistent session, so a zone command
        sent while the node is offline waits in the broker like its own commands."""
        self.zones = tuple(dict.fromkeys(int(z) for z in zones))
        topics = tuple(zone_topic(z) for z in self.zones)
        gone = [t for t in self.zone_topics if t not in topics]
        new = [t for t in topics if t not in self.zone_topics]
        self.zone_topics = topics
        if not self.connected.is_set():
            return
        if gone:
            self.client.unsubscribe(gone)
        if new:
            self.client.subscribe([(t, 1) for t in new])

    # --- publishing ----------------------------------------------------------------------

    def publish_state(self, reason: str | None = None) -> None:
        body = {**self.state(), "online": True, "at": utcnow()}
        if reason and not body.get("reason"):
            body["reason"] = reason
        self.client.publish(self.state_topic, dumps(State(**body)), qos=1, retain=True)

    def publish(self, topic: str, payload: bytes, qos: int = 0) -> None:
        if len(payload) <= MAX_PAYLOAD_BYTES:
            self.client.publish(topic, payload, qos=qos)

    def send_report(self, report_id: str, topic: str, payload: bytes) -> None:
        """Store in the outbox first, then publish; removed once the broker has it.

        When the outbox cannot be written (a full disk, a damaged database) the report is
        still published, without the crash-safety: a refusal saying why must reach the
        controller, or the node just goes silent.
        """
        try:
            self.store.outbox_add(report_id, topic, payload, time.time())
        except sqlite3.Error as exc:
            log.warning("report %s not kept in the outbox (%s); sent anyway", report_id, exc)
            self.client.publish(topic, payload, qos=1)
            return
        self._publish_tracked(report_id, topic, payload)

    def _publish_tracked(self, report_id: str, topic: str, payload: bytes) -> None:
        info = self.client.publish(topic, payload, qos=1)
        with self._tracked_lock:
            self._tracked.append((info, report_id))

    def _sweep_outbox(self) -> None:
        with self._tracked_lock:
            done = [rid for info, rid in self._tracked if _published(info)]
            if not done:
                return
            self._tracked = [(i, r) for i, r in self._tracked if not _published(i)]
        for rid in done:
            try:
                self.store.outbox_remove(rid)
            except sqlite3.Error as exc:  # sent again after a restart: the controller drops it
                log.warning("report %s stays in the outbox: %s", rid, exc)

    def outbox_pending(self) -> int:
        with self._tracked_lock:
            return len(self._tracked)
