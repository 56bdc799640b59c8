"""A real Icecast (Debian's icecast2) on a free loopback port, with a config file of its own."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from controller.domain.sources import icecast_mount_config
from tests.support.net import free_port, wait_for_port

SOURCE_PASSWORD = "nguon-" + "s" * 12
ADMIN_PASSWORD = "quan-tri-" + "a" * 12

CONFIG = """<icecast>
  <location>Loa test</location>
  <admin>loa@localhost</admin>
  <limits>
    <clients>{clients}</clients>
    <sources>20</sources>
    <queue-size>524288</queue-size>
    <client-timeout>30</client-timeout>
    <header-timeout>15</header-timeout>
    <source-timeout>5</source-timeout>
    <burst-on-connect>1</burst-on-connect>
    <burst-size>4000</burst-size>
  </limits>
  <authentication>
    <source-password>{source}</source-password>
    <relay-password>{source}</relay-password>
    <admin-user>admin</admin-user>
    <admin-password>{admin}</admin-password>
  </authentication>
  <hostname>127.0.0.1</hostname>
  <listen-socket><port>{port}</port><bind-address>127.0.0.1</bind-address></listen-socket>
{mounts}  <fileserve>1</fileserve>
  <paths>
    <basedir>/usr/share/icecast2</basedir>
    <logdir>{logdir}</logdir>
    <webroot>/usr/share/icecast2/web</webroot>
    <adminroot>/usr/share/icecast2/admin</adminroot>
  </paths>
  <logging><accesslog>access.log</accesslog><errorlog>error.log</errorlog><loglevel>2</loglevel></logging>
  <security>
    <chroot>0</chroot>
    <changeowner><user>nobody</user><group>nogroup</group></changeowner>
  </security>
</icecast>
"""


class Icecast:
    def __init__(self, clients: int = 2000, controller_url: str = ""):
        """With ``controller_url``, listeners are checked by that controller (the mount config
        Loa generates: URL authentication)."""
        # icecast2 drops root for nobody, who cannot enter pytest's 0700 temporary folders
        self.root = Path(tempfile.mkdtemp(prefix="loa-icecast-"))
        os.chmod(self.root, 0o755)
        self.port = free_port()
        self.clients = clients
        self.controller_url = controller_url
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def source_url(self) -> str:
        """What the controller publishes to (LOA_ICECAST_URL)."""
        return f"http://source:{SOURCE_PASSWORD}@127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        logdir = self.root / "icecast-log"
        logdir.mkdir(parents=True, exist_ok=True)
        os.chmod(logdir, 0o777)
        conf = self.root / "icecast.xml"
        conf.write_text(
            CONFIG.format(
                clients=self.clients,
                source=SOURCE_PASSWORD,
                admin=ADMIN_PASSWORD,
                port=self.port,
                logdir=logdir,
                mounts=(
                    icecast_mount_config(self.controller_url, SOURCE_PASSWORD)
                    if self.controller_url
                    else ""
                ),
            )
        )
        os.chmod(conf, 0o644)
        self.proc = subprocess.Popen(
            ["icecast2", "-c", str(conf)],
            stdout=subprocess.DEVNULL,
            stderr=(self.root / "icecast.out").open("wb"),
        )
        wait_for_port(self.port, timeout=10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()  # a test instance: nothing to save, and SIGTERM takes a second
            self.proc.wait()
        shutil.rmtree(self.root, ignore_errors=True)

    def access_log(self) -> str:
        p = self.root / "icecast-log" / "access.log"
        return p.read_text(errors="replace") if p.exists() else ""

    def log(self) -> str:
        p = self.root / "icecast-log" / "error.log"
        return p.read_text(errors="replace") if p.exists() else ""
