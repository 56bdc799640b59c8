"""The controller's MQTT connection: publishes signed commands, hands node messages to a callback.

One paho client with a persistent session (clean_session false) and QoS 1 subscriptions, so
reports sent while the controller was down are delivered when it returns. MQTT 3.1.1, so the
same code runs on Mosquitto and on the embedded demo broker.
"""

from __future__ import annotations

import logging
import ssl
import threading
import time
from collections.abc import Callable
from urllib.parse import urlparse

import paho.mqtt.client as mqtt

from loa.protocol import TOPIC_ROOT

log = logging.getLogger("controller.mqtt_link")  # its flat name

MessageHandler = Callable[[str, bytes], None]

SUBSCRIPTIONS = [
    (f"{TOPIC_ROOT}/node/+/state", 1),
    (f"{TOPIC_ROOT}/node/+/telemetry", 0),
    (f"{TOPIC_ROOT}/node/+/report", 1),
]


class LogLimiter:
    """Warnings about bad node messages, at most one per key (a node) per ``period_s``.

    Anyone holding a node's credentials can publish garbage as fast as the link allows; one
    warning each would flood the log. The first message of a period is logged; the rest are
    counted, and the count is logged with the next warning for that key after the period
    ("… and 499 more like it from lac-xuan-1 in the last 60 s").
    """

    def __init__(self, logger: logging.Logger, period_s: float = 60.0):
        self.logger = logger
        self.period_s = period_s
        self._until: dict[str, float] = {}
        self._suppressed: dict[str, int] = {}
        self._lock = threading.Lock()

    def warning(self, key: str, msg: str, *args: object, now: float | None = None) -> bool:
        """Log ``msg % args`` unless ``key`` was logged in this period; True when logged."""
        now = time.monotonic() if now is None else now
        with self._lock:
            if now < self._until.get(key, 0.0):
                self._suppressed[key] = self._suppressed.get(key, 0) + 1
                return False
            if len(self._until) > 10_000:  # keys are topic names: bounded, but be safe
                self._until = {k: v for k, v in self._until.items() if v > now}
            self._until[key] = now + self.period_s
            suppressed = self._suppressed.pop(key, 0)
        if suppressed:
            msg += " (and %d more like it from %s in the last %.0f s)"
            args = (*args, suppressed, key, self.period_s)
        self.logger.warning(msg, *args)
        return True


def parse_mqtt_url(url: str) -> tuple[str, int, bool]:
    """``mqtt://host:1883`` or ``mqtts://host:8883`` → (host, port, tls)."""
    parsed = urlparse(url)
    if parsed.scheme not in ("mqtt", "mqtts") or not parsed.hostname:
        raise ValueError(f"not an MQTT URL: {url!r} (mqtt://host:port or mqtts://host:port)")
    tls = parsed.scheme == "mqtts"
    return parsed.hostname, parsed.port or (8883 if tls else 1883), tls


class MqttLink:
    def __init__(
        self,
        url: str,
        on_message: MessageHandler,
        *,
        client_id: str = "loa-controller",
        username: str = "loa-controller",
        password: str = "",
        ca_file: str | None = None,
        on_connected: Callable[[], None] | None = None,
    ):
        self.host, self.port, tls = parse_mqtt_url(url)
        self._on_message = on_message
        self._on_connected = on_connected
        self.connected = threading.Event()
        self.client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2,
            client_id=client_id,
            clean_session=False,
            protocol=mqtt.MQTTv311,
        )
        self.client.username_pw_set(username, password or None)
        if tls:
            self.client.tls_set(ca_certs=ca_file, tls_version=ssl.PROTOCOL_TLS_CLIENT)
        self.client.reconnect_delay_set(min_delay=1, max_delay=30)
        self.client.max_inflight_messages_set(100)
        self.client.max_queued_messages_set(0)
        self.client.on_connect = self._connected
        self.client.on_disconnect = self._disconnected
        self.client.on_message = self._message

    def start(self) -> None:
        self.client.connect_async(self.host, self.port, keepalive=30)
        self.client.loop_start()

    def stop(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()

    def publish(self, topic: str, payload: bytes, qos: int = 1, retain: bool = False) -> bool:
        """Hand a message to the broker connection; False when not connected (retry later)."""
        if not self.connected.is_set():
            return False
        info = self.client.publish(topic, payload, qos=qos, retain=retain)
        return info.rc == mqtt.MQTT_ERR_SUCCESS

    def _connected(self, client, userdata, flags, reason_code, properties) -> None:
        if reason_code.is_failure:
            log.error("MQTT connection refused: %s", reason_code)
            return
        log.info("connected to MQTT broker %s:%s", self.host, self.port)
        client.subscribe(SUBSCRIPTIONS)
        self.connected.set()
        if self._on_connected:
            self._on_connected()

    def _disconnected(self, client, userdata, flags, reason_code, properties) -> None:
        self.connected.clear()
        log.warning("disconnected from MQTT broker: %s", reason_code)

    def _message(self, client, userdata, msg: mqtt.MQTTMessage) -> None:
        try:
            self._on_message(msg.topic, bytes(msg.payload))
        except Exception:  # a bad message must never stop the network loop
            log.exception("handling %s failed", msg.topic)
