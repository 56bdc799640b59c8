"""The controller's MQTT connection: publishes signed commands, hands node messages to a callback.

One paho client with a persistent session (clean_session false) and QoS 1 subscriptions, so
reports sent while the controller was down are delivered when it returns. MQTT 3.1.1, so the
same code runs on Mosquitto and on the embedded demo broker.
"""

from __future__ import annotations

import logging
import ssl
import threading
from collections.abc import Callable
from urllib.parse import urlparse

import paho.mqtt.client as mqtt

from loa.protocol import TOPIC_ROOT

log = logging.getLogger(__name__)

MessageHandler = Callable[[str, bytes], None]

SUBSCRIPTIONS = [
    (f"{TOPIC_ROOT}/node/+/state", 1),
    (f"{TOPIC_ROOT}/node/+/telemetry", 0),
    (f"{TOPIC_ROOT}/node/+/report", 1),
]


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
