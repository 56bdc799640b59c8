"""A province on one controller (issue 17, part 3): an emergency to 1,000 / 5,000 / 10,000 MQTT
sessions, per-node and zone (group) addressing side by side; heartbeat ingest and the broker's
password/ACL reload at the largest size. Prints numbers; not a test, but it exits 1 when any
session never got the emergency or the controller did not count every ack.

For each size, from nothing:

* a database seeded as the tests and benches do (``fleet.add_node`` for every node, in villages
  of communes of one province), an approver's API token, and the emergency's speech made
  beforehand (an emergency read from a prepared text; the call's ``speech`` says it was cached);
* a real Mosquitto on its own port with the password and ACL files the controller generates
  (``provisioning.refresh_broker``: ``broker_files.write_broker_files`` then SIGHUP);
* a real ``loa controller`` process;
* the sessions: ``bench/mqtt_swarm.py`` in ``--processes`` processes (raw MQTT 3.1.1 over asyncio,
  each session a node with its own credentials), heartbeats every 60 s throughout.

Then, per addressing mode (``--modes``): ``node`` (the sessions speak protocol 1: the controller
sends each its own signed ``play.now``) and ``group`` (the same nodes reconnect speaking
protocol 2: the controller tells them their zones and sends one signed command per zone), one
``POST /api/v1/emergency`` to the province each, ``--runs`` times. Times are ``time.time()``
(one clock for every process on the machine), from just before the call:

* ``received``: when a session read the ``play.now`` PUBLISH; ``ack sent``: when it wrote its ack;
  ``ack counted``: when the controller applied the ack (the dispatch row's ``updated_at``);
* the CPU seconds of the controller, of Mosquitto and of the swarm processes between the call
  and the last ack counted (``/proc/<pid>/stat``), and the controller's RSS;
* how many sessions never got it, and how many acks the controller never counted: both must be 0.

At the largest size (``--extras-at``): heartbeat ingest at 1 per 60 s and 1 per 10 s per node
(``/metrics``: the ingest queue depth sampled every second, messages received and applied), and
the broker's reload with that many node users (add a node through ``provisioning.create_node``,
which rewrites the files and SIGHUPs Mosquitto; time until the new node's CONNACK is 0).

    .venv/bin/python bench/emergency_scale.py --sizes 1000,5000,10000 --processes 4

Everything listens on 127.0.0.1; every process is stopped at the end (and the swarm processes
also leave by themselves after ``max_seconds``). The load average is printed with the figures.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import select
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import httpx
from mqtt_swarm import connect_packet
from node_common import controller_process, percentile

from controller.core import broker_files
from controller.core.db import Store
from controller.core.settings import Settings
from controller.domain import fleet, provisioning, zones
from controller.domain.users import create_token, create_user
from controller.services import emergency_speech
from loa.signing import load_or_create_private_key
from tests.support.broker import Mosquitto
from tests.support.mqtt_auth import auth_config
from tests.support.net import wait_for_port

TOKEN = "bench-approver-" + "s" * 24
SWARM = str(Path(__file__).with_name("mqtt_swarm.py"))
CLK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")
TEXT = "Khẩn cấp: bão số 3 đổ bộ, bà con không ra khơi, tìm nơi trú ẩn an toàn."
NODES_PER_COMMUNE = 100
VILLAGES_PER_COMMUNE = 4


# --- /proc --------------------------------------------------------------------------------------


def cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process (all its threads)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK


def rss_mb(pid: int) -> float:
    return int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE / 2**20


def load() -> str:
    return "load average: " + " ".join(f"{x:.2f}" for x in os.getloadavg()) + " (2 cores)"


# --- the swarm processes ---------------------------------------------------------------------


def _renice(increment: int) -> None:
    """In the swarm's child before exec: real nodes have CPUs of their own, so the swarm (a few
    percent of a core) goes ahead of other work and its clock reads when a packet arrived, not
    when a loaded machine got round to it. Only root may lower it; otherwise it stays."""
    with contextlib.suppress(OSError):
        os.nice(increment)


@dataclass
class SwarmProcess:
    process: subprocess.Popen[bytes]
    stdout: IO[bytes]

    def send(self, line: str) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write((line + "\n").encode())
        self.process.stdin.flush()

    def reply(self, timeout: float) -> dict[str, Any]:
        ready, _, _ = select.select([self.stdout], [], [], timeout)
        if not ready:
            raise TimeoutError(f"swarm {self.process.pid} did not answer in {timeout:.0f} s")
        line = self.stdout.readline()
        if not line:
            raise RuntimeError(f"swarm {self.process.pid} ended (exit {self.process.poll()})")
        answer: dict[str, Any] = json.loads(line)
        return answer

    def ask(self, line: str, timeout: float = 60) -> dict[str, Any]:
        self.send(line)
        return self.reply(timeout)


@dataclass
class Swarm:
    procs: list[SwarmProcess] = field(default_factory=list)

    @classmethod
    def start(
        cls,
        tmp: Path,
        host: str,
        port: int,
        nodes: list[dict[str, Any]],
        processes: int,
        protocol: int,
        tag: str,
        nice: int = 0,
    ) -> Swarm:
        swarm = cls()
        for p in range(processes):
            config = tmp / f"swarm-{tag}-{p}.json"
            config.write_text(
                json.dumps(
                    {
                        "host": host,
                        "port": port,
                        "max_seconds": 3600,
                        "protocol": protocol,
                        "nodes": nodes[p::processes],
                    }
                )
            )
            proc = subprocess.Popen(
                [sys.executable, SWARM, "--config", str(config)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=(tmp / f"swarm-{tag}-{p}.log").open("wb"),
                preexec_fn=(lambda: _renice(nice)) if nice else None,
            )
            assert proc.stdout is not None
            swarm.procs.append(SwarmProcess(proc, proc.stdout))
        return swarm

    def ready(self, timeout: float = 300) -> list[dict[str, Any]]:
        return [p.reply(timeout) for p in self.procs]

    def ask(self, line: str, timeout: float = 60) -> list[dict[str, Any]]:
        for p in self.procs:
            p.send(line)
        return [p.reply(timeout) for p in self.procs]

    def total(self, key: str) -> int:
        return sum(int(s[key]) for s in self.ask("status"))

    def records(self, tmp: Path) -> list[list[Any]]:
        out: list[list[Any]] = []
        for i, p in enumerate(self.procs):
            path = tmp / f"records-{p.process.pid}-{i}.json"
            p.ask(f"dump {path}", timeout=120)
            out += json.loads(path.read_text())
            path.unlink()
        return out

    def cpu(self) -> float:
        return sum(cpu_s(p.process.pid) for p in self.procs)

    def stop(self) -> None:
        for p in self.procs:
            if p.process.poll() is None:
                with contextlib.suppress(OSError):
                    p.send("quit")
        for p in self.procs:
            try:
                p.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.process.kill()
                p.process.wait()


# --- set-up -------------------------------------------------------------------------------------


@dataclass
class Province:
    province: int
    nodes: list[dict[str, Any]]  # id, password
    zone_of: dict[str, int]


def seed(settings: Settings, count: int) -> Province:
    store = Store(settings.db_path)
    load_or_create_private_key(settings.key_path)
    nodes = []
    zone_of = {}
    with store.transaction() as db:
        province = zones.add_zone(db, "Tỉnh thử nghiệm", "province")
        communes = max(1, count // NODES_PER_COMMUNE)
        villages = []
        for c in range(1, communes + 1):
            commune = zones.add_zone(db, f"Xã {c}", "commune", province)
            villages += [
                zones.add_zone(db, f"Thôn {v} xã {c}", "village", commune)
                for v in range(1, VILLAGES_PER_COMMUNE + 1)
            ]
        for n in range(count):
            node_id = f"n-{n + 1:05d}"
            zone = villages[n % len(villages)]
            nodes.append({"id": node_id, "password": fleet.add_node(db, node_id, zone)})
            zone_of[node_id] = zone
        approver = create_user(db, "duyet", "mat-khau-nguoi-duyet", "approver")
        create_token(db, "bench", user_id=approver, token=TOKEN)
    return Province(province, nodes, zone_of)


def prepare_speech(settings: Settings) -> None:
    """The emergency's audio made beforehand, as for a prepared text (the render cache)."""
    facts = emergency_speech.speak(Store(settings.db_path), settings, TEXT).facts()
    print(f"  speech prepared: {facts}")


def can_connect(port: int, node_id: str, password: str) -> bool:
    """One CONNECT with a node's credentials: True when the CONNACK says accepted."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(connect_packet(f"probe-{node_id}", node_id, password, "x/will", b"", 10))
        answer = s.recv(4)
        s.sendall(b"\xe0\x00")
    return len(answer) == 4 and answer[0] == 0x20 and answer[3] == 0


# --- measurements -----------------------------------------------------------------------------


def ms(values: list[float]) -> str:
    if not values:
        return "n=0"
    return (
        f"p50={percentile(values, 50):.0f} p99={percentile(values, 99):.0f} "
        f"max={max(values):.0f} ms"
    )


def wire_s(text: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


@dataclass
class Bench:
    args: argparse.Namespace
    tmp: Path
    settings: Settings
    province: Province
    mq: Mosquitto
    controller: subprocess.Popen[bytes]
    api: httpx.Client
    db: sqlite3.Connection
    swarm: Swarm | None = None
    failures: list[str] = field(default_factory=list)

    @property
    def count(self) -> int:
        return len(self.province.nodes)

    def q(self, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        return self.db.execute(sql, params).fetchall()

    def connect_swarm(self, protocol: int, tag: str) -> None:
        t0 = time.monotonic()
        swarm = Swarm.start(
            self.tmp,
            self.mq.host,
            self.mq.port,
            self.province.nodes,
            self.args.processes,
            protocol,
            tag,
            self.args.swarm_nice,
        )
        self.swarm = swarm
        statuses = swarm.ready()
        connected = sum(s["connected"] for s in statuses)
        t_conn = time.monotonic() - t0
        if connected != self.count:
            self.failures.append(f"{tag}: {self.count - connected} sessions refused")
        # the controller sees each online and tells it its schedule (and, protocol 2, its zones)
        deadline = time.monotonic() + 300
        zones_deadline = float("inf")
        got = zoned = refused = 0
        while time.monotonic() < min(deadline, zones_deadline):
            online = self.q("SELECT count(*) FROM nodes WHERE online = 1")[0][0]
            statuses = swarm.ask("status")
            got = sum(s["commands"] for s in statuses)
            zoned = sum(s["zoned"] for s in statuses)
            refused = sum(s["refused_subscriptions"] for s in statuses)
            if online == self.count and got >= self.count:
                if protocol == 1 or zoned == self.count:
                    break
                # a controller without zone commands never sends zones: do not wait forever
                zones_deadline = min(zones_deadline, time.monotonic() + 30)
            time.sleep(1)
        print(
            f"  {connected}/{self.count} sessions (protocol {protocol}) connected in "
            f"{t_conn:.1f} s; online and told after {time.monotonic() - t0:.1f} s "
            f"({got} commands"
            + (f"; {zoned} sessions told their zones and subscribed)" if protocol > 1 else ")")
            + f"; {refused} subscriptions refused by the broker"
        )
        if refused:
            self.failures.append(f"{tag}: {refused} subscriptions refused by the broker")
        if protocol > 1 and zoned != self.count:
            self.failures.append(f"{tag}: {self.count - zoned} sessions never told their zones")
        swarm.ask(f"heartbeat {self.args.heartbeat_s}")
        time.sleep(3)

    def emergency(self, mode: str, run: int) -> None:
        assert self.swarm is not None
        pids = {"controller": self.controller.pid, "broker": self.mq.process.pid}  # type: ignore[union-attr]
        cpu0 = {k: cpu_s(p) for k, p in pids.items()}
        swarm0 = self.swarm.cpu()
        called = time.time()
        response = self.api.post(
            "/api/v1/emergency",
            json={
                "title": f"Khẩn cấp {mode} {run}",
                "text": TEXT,
                "zone_ids": [self.province.province],
                "repeats": 1,
            },
        )
        api_s = time.time() - called
        response.raise_for_status()
        answer = response.json()
        bid = answer["id"]
        deadline = time.monotonic() + self.args.ack_timeout
        acked = 0
        while time.monotonic() < deadline:
            acked = self.q(
                "SELECT count(*) FROM dispatches WHERE broadcast_id = ? AND acked_at IS NOT NULL",
                bid,
            )[0][0]
            if acked >= self.count:
                break
            time.sleep(0.2)
        done = time.time()
        cpu = {k: cpu_s(p) - cpu0[k] for k, p in pids.items()}
        swarm_cpu = self.swarm.cpu() - swarm0
        rows = self.q(
            "SELECT node_id, sent_at, updated_at FROM dispatches "
            "WHERE broadcast_id = ? AND acked_at IS NOT NULL",
            bid,
        )
        try:
            resends = self.q(
                "SELECT COALESCE(SUM(resends), 0) FROM dispatches WHERE broadcast_id = ?", bid
            )[0][0]
        except sqlite3.OperationalError:  # a controller from before re-sends
            resends = "?"
        counted = [(wire_s(r[2]) - called) * 1000 for r in rows]
        sent = [(wire_s(r[1]) - called) * 1000 for r in rows if r[1]]
        records = [r for r in self.swarm.records(self.tmp) if r[2] == "play.now" and r[4] == bid]
        first: dict[str, list[Any]] = {}
        for r in records:
            if r[0] not in first or r[5] < first[r[0]][5]:
                first[r[0]] = r
        resent_to = len({r[0] for r in records if r[7]})
        received = [(r[5] - called) * 1000 for r in first.values()]
        ack_sent = [(r[6] - called) * 1000 for r in first.values()]
        by_zone = sum(1 for r in first.values() if "/zone/" in r[3])
        resent = len(records) - len(first)
        never = self.count - len(first)
        uncounted = self.count - acked
        speech = answer.get("speech", {})
        print(
            f"  {mode:5} run {run}: call {api_s * 1000:.0f} ms (speech "
            f"{'cached' if speech.get('cached') else 'rendered'} {speech.get('seconds')} s); "
            f"controller published by {ms(sent).split(' max=')[1] if sent else '?'} "
            f"(last sent_at)\n"
            f"      received  {len(first)}/{self.count}: {ms(received)}  "
            f"[{by_zone} via a zone topic, {len(first) - by_zone} via the node's own, "
            f"{resent} copies again to {resent_to} nodes; the controller counts {resends} "
            f"re-sends]\n"
            f"      ack sent  {len(ack_sent)}/{self.count}: {ms(ack_sent)}\n"
            f"      ack counted {acked}/{self.count}: {ms(counted)} "
            f"(last after {(done - called):.1f} s)\n"
            f"      CPU s: controller {cpu['controller']:.2f}, mosquitto {cpu['broker']:.2f}, "
            f"swarm {swarm_cpu:.2f}; controller RSS {rss_mb(self.controller.pid):.0f} MB; "
            f"{load()}"
        )
        if mode == "group" and received and counted:
            r99, a99 = percentile(received, 99), percentile(counted, 99)
            print(
                f"      goal (group): received p99 {r99 / 1000:.2f} s < 1 s "
                f"{'met' if r99 < 1000 else 'NOT met'}; ack counted p99 {a99 / 1000:.2f} s < 3 s "
                f"{'met' if a99 < 3000 else 'NOT met'}"
            )
        if never:
            self.failures.append(f"{mode} run {run}: {never} sessions never got the emergency")
        if uncounted:
            self.failures.append(f"{mode} run {run}: {uncounted} acks never counted")

    def metrics(self) -> dict[str, float]:
        text = self.api.get("/metrics").text
        out: dict[str, float] = {}
        for line in text.splitlines():
            if line.startswith("#") or " " not in line:
                continue
            name, value = line.rsplit(" ", 1)
            out[name] = float(value)
        return out

    def heartbeats(self, interval: float, seconds: float) -> None:
        assert self.swarm is not None
        telemetry = 'loa_mqtt_messages_received_total{kind="telemetry"}'
        applied = "loa_ingest_batch_size_sum"
        self.swarm.ask(f"heartbeat {interval}")
        m0 = self.metrics()
        cpu0 = cpu_s(self.controller.pid)
        broker0 = cpu_s(self.mq.process.pid)  # type: ignore[union-attr]
        sent0 = self.swarm.total("heartbeats_sent")
        t0 = time.monotonic()
        depths = []
        while time.monotonic() - t0 < seconds:
            time.sleep(1)
            depths.append(self.metrics().get("loa_ingest_queue_depth", float("nan")))
        elapsed = time.monotonic() - t0
        sent = self.swarm.total("heartbeats_sent") - sent0
        cpu = cpu_s(self.controller.pid) - cpu0
        broker_cpu = cpu_s(self.mq.process.pid) - broker0  # type: ignore[union-attr]
        m1 = self.metrics()
        got = m1.get(telemetry, 0) - m0.get(telemetry, 0)
        done = m1.get(applied, 0) - m0.get(applied, 0)
        print(
            f"  heartbeat every {interval:.0f} s from {self.count} nodes for {elapsed:.0f} s: "
            f"sent {sent} ({sent / elapsed:.0f}/s), controller received {got:.0f}, applied "
            f"{done:.0f} messages; ingest queue depth max {max(depths):.0f}, last "
            f"{depths[-1]:.0f}; controller CPU {cpu:.1f} s ({100 * cpu / elapsed:.0f} % of a "
            f"core), mosquitto {100 * broker_cpu / elapsed:.0f} %; controller RSS "
            f"{rss_mb(self.controller.pid):.0f} MB; {load()}"
        )

    def reload(self, tries: int) -> None:
        assert self.swarm is not None
        cfg = provisioning.ProvisioningConfig.from_settings(
            self.settings, env={"LOA_BROKER_PID_FILE": str(self.pid_file)}
        )
        store = Store(self.settings.db_path)
        key = load_or_create_private_key(self.settings.key_path)
        before = self.swarm.total("disconnects")
        village = self.province.zone_of[self.province.nodes[0]["id"]]
        for i in range(1, tries + 1):
            node_id = f"reload-probe-{i}"
            broker0 = cpu_s(self.mq.process.pid)  # type: ignore[union-attr]
            t0 = time.monotonic()
            bundle = provisioning.create_node(store, cfg, key, node_id, village)
            t_files = time.monotonic() - t0
            password = bundle["mqtt"]["password"]
            attempts = 0
            while not can_connect(self.mq.port, node_id, password):
                attempts += 1
                if time.monotonic() - t0 > 60:
                    self.failures.append(f"{node_id} could not connect 60 s after the reload")
                    break
                time.sleep(0.01)
            t_conn = time.monotonic() - t0
            broker_cpu = cpu_s(self.mq.process.pid) - broker0  # type: ignore[union-attr]
            size = broker_files.BrokerFiles(cfg.broker_dir).password_file.stat().st_size
            print(
                f"  reload {i}: create_node (DB, files of {self.count + i} users "
                f"[{size // 1024} KiB], SIGHUP) {t_files * 1000:.0f} ms; the new node "
                f"connects {t_conn * 1000:.0f} ms after the start ({attempts} refused tries); "
                f"mosquitto CPU {broker_cpu:.2f} s; "
                f"mosquitto RSS {rss_mb(self.mq.process.pid):.0f} MB"  # type: ignore[union-attr]
            )
            time.sleep(2)
        lost = self.swarm.total("disconnects") - before
        print(f"  sessions dropped by the reloads: {lost}")
        if lost:
            self.failures.append(f"{lost} sessions dropped by a broker reload")

    @property
    def pid_file(self) -> Path:
        return self.settings.data_dir / "broker" / "mosquitto.pid"


def one_size(args: argparse.Namespace, count: int, extras: bool) -> list[str]:
    tmp = Path(tempfile.mkdtemp(prefix=f"loa-bench-scale-{count}-"))
    os.chmod(tmp, 0o777)
    settings = Settings(data_dir=tmp / "controller")
    t0 = time.monotonic()
    province = seed(settings, count)
    cfg = provisioning.ProvisioningConfig.from_settings(settings, env={})
    provisioning.refresh_broker(Store(settings.db_path).db, cfg)  # files only: no broker yet
    print(f"{count} nodes: seeded and broker files written in {time.monotonic() - t0:.1f} s")
    prepare_speech(settings)
    mq = Mosquitto(
        tmp / "mosquitto",
        extra_config=auth_config(cfg.broker_dir) + broker_files.broker_limits_conf(),
    )
    mq.start()
    env = {**os.environ, "LOA_LOG_LEVEL": "WARNING"}
    controller, port = controller_process(settings.data_dir, mq.url, "--tick", "1", env=env)
    api = httpx.Client(
        base_url=f"http://127.0.0.1:{port}",
        timeout=300,
        headers={"Authorization": f"Bearer {TOKEN}"},
    )
    db = sqlite3.connect(f"file:{settings.db_path}?mode=ro", uri=True, timeout=30)
    bench = Bench(args, tmp, settings, province, mq, controller, api, db)
    try:
        wait_for_port(port, timeout=60)
        for mode in args.modes:
            protocol = 2 if mode == "group" else 1
            bench.connect_swarm(protocol, mode)
            for run in range(1, args.runs + 1):
                bench.emergency(mode, run)
                time.sleep(args.pause)
            if extras and mode == args.modes[-1]:
                for interval in args.heartbeat_rates:
                    bench.heartbeats(interval, args.heartbeat_phase_s)
                bench.swarm.ask(f"heartbeat {args.heartbeat_s}")  # type: ignore[union-attr]
                bench.reload(args.reloads)
            if bench.swarm:
                bench.swarm.stop()
                bench.swarm = None
                time.sleep(2)
        print(f"  controller RSS at the end: {rss_mb(controller.pid):.0f} MB")
    finally:
        if bench.swarm:
            bench.swarm.stop()
        api.close()
        db.close()
        controller.terminate()
        try:
            controller.wait(timeout=30)
        except subprocess.TimeoutExpired:
            controller.kill()
            controller.wait()
        mq.stop()
        if not args.keep:
            import shutil

            shutil.rmtree(tmp, ignore_errors=True)
    return bench.failures


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", default="1000,5000,10000", help="session counts, comma-separated")
    ap.add_argument("--processes", type=int, default=4, help="swarm processes sharing the nodes")
    ap.add_argument("--modes", default="node,group", help="node, group or both (in that order)")
    ap.add_argument("--runs", type=int, default=1, help="emergencies per mode and size")
    ap.add_argument("--pause", type=float, default=5.0, help="seconds between emergencies")
    ap.add_argument("--ack-timeout", type=float, default=120.0)
    ap.add_argument("--heartbeat-s", type=float, default=60.0, help="heartbeats meanwhile")
    ap.add_argument(
        "--extras-at",
        type=int,
        default=None,
        help="size at which to measure heartbeat ingest and reload (default: the largest; 0: none)",
    )
    ap.add_argument("--heartbeat-rates", default="60,10", help="heartbeat intervals to measure")
    ap.add_argument("--heartbeat-phase-s", type=float, default=60.0)
    ap.add_argument("--reloads", type=int, default=3)
    ap.add_argument(
        "--swarm-nice",
        type=int,
        default=-5,
        help="nice increment of the swarm processes (negative needs root; 0: as everything else)",
    )
    ap.add_argument("--keep", action="store_true", help="keep the temporary folders")
    args = ap.parse_args()
    args.modes = [m for m in args.modes.split(",") if m]
    if not set(args.modes) <= {"node", "group"}:
        ap.error("--modes takes node and/or group")
    args.heartbeat_rates = [float(x) for x in args.heartbeat_rates.split(",") if x]
    sizes = [int(x) for x in args.sizes.split(",") if x]
    extras_at = max(sizes) if args.extras_at is None else args.extras_at
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))  # Mosquitto and the swarm inherit
    print(
        f"open files: {hard} per process; swarm nice {args.swarm_nice} "
        f"({'applied' if os.geteuid() == 0 or args.swarm_nice >= 0 else 'not root: ignored'}); "
        f"{load()}"
    )
    failures: list[str] = []
    for count in sizes:
        failures += one_size(args, count, extras=count == extras_at)
    print(f"done; {load()}")
    if failures:
        print("FAILED:\n  " + "\n  ".join(failures))
        sys.exit(1)


if __name__ == "__main__":
    main()
