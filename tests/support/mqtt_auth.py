"""Mosquitto with the controller's generated password and ACL files, and a probing client.

``auth_config(files_dir)`` is the ``extra_config`` for ``tests.support.broker.Mosquitto`` that
makes it use the files ``controller.core.broker_files`` writes into ``files_dir`` (and a pid file
there, for SIGHUP); ``Client`` records what a paho client is allowed to do.
"""

from __future__ import annotations

import threading
from pathlib import Path

import paho.mqtt.client as mqtt

from controller.core import broker_files
from tests.support.net import wait_until


def auth_config(files_dir: Path) -> str:
    """Mosquitto settings for the generated files (as docs/operations.md runs it).

    (tests.support.broker already keeps a root-started test broker as root, so it can read
    pytest's private folders; production gives the ``mosquitto`` user the files' group.)
    """
    return (
        "allow_anonymous false\n"
        f"password_file {files_dir / broker_files.PASSWORD_FILE}\n"
        f"acl_file {files_dir / broker_files.ACL_FILE}\n"
        f"pid_file {files_dir / 'mosquitto.pid'}\n"
    )


class Client:
    """A paho client that records what it receives and how its connection went."""

    def __init__(self, port: int, username: str | None, password: str | None, client_id: str):
        self.messages: list[tuple[str, bytes]] = []
        self.connack: mqtt.ReasonCode | None = None
        self.disconnected = threading.Event()
        self.subscribed = threading.Event()
        c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id)
        if username is not None:
            c.username_pw_set(username, password)
        c.reconnect_delay_set(min_delay=0.05, max_delay=0.05)  # close() waits for no backoff
        c.on_connect = self._on_connect
        c.on_disconnect = lambda *a: self.disconnected.set()
        c.on_message = lambda _c, _u, m: self.messages.append((m.topic, bytes(m.payload)))
        c.on_subscribe = lambda *a: self.subscribed.set()
        self.client = c
        self.port = port

    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:
        self.connack = reason_code

    def connect(self) -> bool:
        """True when the broker accepted the credentials."""
        self.client.connect("127.0.0.1", self.port, keepalive=10)
        self.client.loop_start()
        wait_until(
            lambda: self.connack is not None or self.disconnected.is_set(),
            timeout=5,
            what="CONNACK",
        )
        return self.connack is not None and not self.connack.is_failure

    def subscribe(self, topic: str) -> None:
        self.subscribed.clear()
        self.client.subscribe(topic, qos=1)
        wait_until(self.subscribed.is_set, timeout=5, what="SUBACK")

    def publish(self, topic: str, payload: bytes) -> None:
        self.client.publish(topic, payload, qos=1).wait_for_publish(5)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()
