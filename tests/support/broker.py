"""A real Mosquitto for the tests: its own loopback port and a temporary config.

Never relies on anything already listening on 1883. Persistence is on, so a restarted broker still
holds the queued messages of persistent sessions (as a production broker does).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from tests.support.net import free_port, wait_for_port


def mosquitto_binary() -> str:
    found = shutil.which("mosquitto") or shutil.which("mosquitto", path="/usr/sbin:/sbin")
    if not found:
        raise RuntimeError("mosquitto is not installed: run `make test`, which installs it")
    return found


@dataclass
class Mosquitto:
    directory: Path
    port: int = field(default_factory=free_port)
    extra_config: str = ""
    process: subprocess.Popen | None = None

    @property
    def host(self) -> str:
        return "127.0.0.1"

    @property
    def url(self) -> str:
        return f"mqtt://{self.host}:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.directory / "mosquitto.log"

    def write_config(self) -> Path:
        self.directory.mkdir(parents=True, exist_ok=True)
        conf = self.directory / "mosquitto.conf"
        conf.write_text(
            f"listener {self.port} 127.0.0.1\n"
            "allow_anonymous true\n"
            "persistence true\n"
            f"persistence_location {self.directory}/\n"
            f"log_dest file {self.log_path}\n"
            "log_type error\nlog_type warning\nlog_type notice\nlog_type information\n"
            "max_queued_messages 100000\n"
            "max_inflight_messages 100\n"
            "set_tcp_nodelay true\n"
            # As root, Mosquitto would switch to its own user, which cannot write into pytest's
            # private temporary folders: persistence would silently do nothing.
            + ("user root\n" if os.geteuid() == 0 else "")
            + self.extra_config
        )
        return conf

    def start(self) -> None:
        conf = self.write_config()
        self.process = subprocess.Popen(
            [mosquitto_binary(), "-c", str(conf)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            wait_for_port(self.port, timeout=10)
        except TimeoutError:
            self.stop()
            raise RuntimeError(f"mosquitto did not start; see {self.log_path}") from None

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def restart(self) -> None:
        self.stop()
        self.start()
