"""Heartbeat ingest: how many node telemetry messages per second the controller applies without
falling behind, with 1,000 and 5,000 nodes, against a real Mosquitto and a real controller
runtime (MQTT link, ingest queue and thread, batched SQLite writes, scheduler tick with the fleet
monitor). Prints numbers; not a test.

    .venv/bin/python bench/controller_ingest.py                       # paho publishers
    .venv/bin/python bench/controller_ingest.py --simulate 1000       # + `loa node simulate`

Two sources of heartbeats:

* **paho publishers** (pure ingest): worker processes publish well-formed telemetry for N node
  ids at a fixed offered rate, stepped up (e.g. 1,000 → 5,000 msg/s) for a few seconds each;
  then a burst as fast as they can. A step is *sustained* when the controller applied at least
  99 % of what it received, every message it received was applied within a second of the step's
  end, and the queue never held more than one second's worth.
* **`loa node simulate --count N --heartbeat-s H`**: N complete node agents (1,000 a process),
  each sending its real heartbeat every H seconds (offered rate N/H).

The machine is shared, so the load average is printed with the figures.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from controller.core.db import table  # noqa: E402
from controller.core.settings import Settings  # noqa: E402
from controller.services.runtime import Runtime  # noqa: E402
from loa.protocol import Telemetry, node_topic, to_wire_time, utcnow  # noqa: E402
from loa.signing import load_or_create_private_key, public_key_b64  # noqa: E402
from tests.support.broker import Mosquitto  # noqa: E402

LOA = str(Path(sys.executable).parent / "loa")


# --- publishers (separate processes) ---------------------------------------------------------


def _publisher(
    host: str, port: int, ids: list[str], rate: float, seconds: float, start: float, out: Any
) -> None:
    import paho.mqtt.client as mqtt

    client = mqtt.Client(
        mqtt.CallbackAPIVersion.VERSION2, client_id=f"bench-pub-{os.getpid()}", clean_session=True
    )
    client.username_pw_set("bench")
    client.max_queued_messages_set(0)
    client.connect(host, port, keepalive=60)
    client.loop_start()
    now = utcnow()
    payloads = [
        (
            node_topic(nid, "telemetry"),
            Telemetry(
                node=nid,
                at=now,
                uptime_s=1234.0,
                version="0.1.0",
                interval_s=30.0,
                temperature_c=48.5,
                load1=0.2,
                disk_free_mb=900.0,
                cache_free_mb=400.0,
                clock_synced=True,
                clock_offset_ms=3.0,
                signal_dbm=-71.0,
                scheduled=2,
            )
            .model_dump_json()
            .encode(),
        )
        for nid in ids
    ]
    while time.time() < start:
        time.sleep(0.001)
    t0 = time.monotonic()
    sent = 0
    i = 0
    while True:
        elapsed = time.monotonic() - t0
        if elapsed >= seconds:
            break
        due = int(rate * elapsed) - sent if rate > 0 else 200
        for _ in range(max(due, 0)):
            topic, payload = payloads[i]
            i = (i + 1) % len(payloads)
            client.publish(topic, payload, qos=0)
            sent += 1
        if rate > 0:
            time.sleep(0.002)
    time.sleep(0.5)  # let the network thread flush
    client.loop_stop()
    client.disconnect()
    out.put(sent)


def publish(broker: Mosquitto, ids: list[str], rate: float, seconds: float, workers: int) -> int:
    """Offer ``rate`` msg/s (0: as fast as possible) for ``seconds``; return messages sent."""
    ctx = mp.get_context("spawn")
    out: Any = ctx.Queue()
    start = time.time() + 3.0  # all workers start together, after their imports
    procs = [
        ctx.Process(
            target=_publisher,
            args=(broker.host, broker.port, ids[w::workers], rate / workers, seconds, start, out),
        )
        for w in range(workers)
    ]
    for p in procs:
        p.start()
    sent = sum(out.get() for _ in procs)
    for p in procs:
        p.join()
    return sent


# --- the controller ---------------------------------------------------------------------------


class Counting:
    """Stamps when messages arrive from the broker and when the dispatcher has applied them
    (after each batch's commit)."""

    def __init__(self, runtime: Runtime):
        self.received = 0
        self.applied = 0
        self.batches = 0
        self.first_rx = self.last_rx = self.last_applied = 0.0
        on_message = runtime.link._on_message
        handle_batch = runtime.dispatcher.handle_batch

        def counted_message(topic: str, payload: bytes) -> None:
            now = time.monotonic()
            if not self.first_rx:
                self.first_rx = now
            self.last_rx = now
            self.received += 1
            on_message(topic, payload)

        def counted_batch(messages: list[tuple[str, bytes]], now: Any = None) -> None:
            handle_batch(messages, now)
            self.applied += len(messages)
            self.batches += 1
            self.last_applied = time.monotonic()

        runtime.link._on_message = counted_message
        runtime.dispatcher.handle_batch = counted_batch  # type: ignore[method-assign]
        self.ticks: list[float] = []
        tick = runtime.tick

        def timed_tick() -> None:
            t0 = time.monotonic()
            tick()
            self.ticks.append(time.monotonic() - t0)

        runtime.tick = timed_tick  # type: ignore[method-assign]

    def reset(self) -> None:
        self.ticks = []
        self.received = self.applied = self.batches = 0
        self.first_rx = self.last_rx = self.last_applied = 0.0


def seed(runtime: Runtime, ids: list[str]) -> None:
    now = to_wire_time(utcnow())
    with runtime.store.transaction() as db:
        table(db, "zones").insert({"name": "Xã Bench", "kind": "commune", "created_at": now})
        zone_id = table(db, "zones").last_pk
        table(db, "nodes").insert_all(
            {
                "id": nid,
                "zone_id": zone_id,
                "name": nid,
                "token_hash": f"bench-{nid}",
                "revoked": 0,
                "online": 0,
                "heartbeat_s": 30.0,
                "created_at": now,
            }
            for nid in ids
        )


@dataclass
class Step:
    offered: float
    sent: int
    received: int
    applied: int
    rx_s: float  # first to last message received
    lag_s: float  # last message received → last message applied
    max_depth: int
    batches: int
    max_tick_s: float

    @property
    def rx_rate(self) -> float:
        return self.received / max(self.rx_s, 1e-6)

    @property
    def rate(self) -> float:
        """Applied per second, from the first message received to the last applied."""
        return self.applied / max(self.rx_s + self.lag_s, 1e-6)

    @property
    def sustained(self) -> bool:
        return (
            self.received >= 0.99 * self.sent
            and self.applied == self.received
            and self.lag_s <= 1.0
            and self.max_depth <= max(self.offered, 1000)
        )


def measure(runtime: Runtime, counting: Counting, run: Any, offered: float) -> Step:
    """Run ``run()`` (which publishes and returns how many it sent); sample the queue depth;
    wait until everything received has been applied."""
    counting.reset()
    depth = [0]
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            depth[0] = max(depth[0], runtime.ingest_depth())
            time.sleep(0.02)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    sent = run()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if counting.received >= sent and counting.applied >= counting.received:
            break
        quiet = time.monotonic() - max(counting.last_rx, counting.last_applied)
        if counting.applied >= counting.received and quiet > 2.0:
            break  # some messages never arrived
        time.sleep(0.05)
    stop.set()
    sampler.join()
    return Step(
        offered,
        sent,
        counting.received,
        counting.applied,
        counting.last_rx - counting.first_rx,
        max(0.0, counting.last_applied - counting.last_rx),
        depth[0],
        counting.batches,
        max(counting.ticks, default=0.0),
    )


def loadavg() -> str:
    one, five, _ = os.getloadavg()
    return f"load {one:.1f}/{five:.1f} on {os.cpu_count()} cores"


def paho_steps(
    runtime: Runtime,
    counting: Counting,
    broker: Mosquitto,
    ids: list[str],
    rates: list[float],
    seconds: float,
    workers: int,
    burst: int,
) -> None:
    print(f"\n== {len(ids):,} nodes, paho publishers ({workers} processes), {seconds:.0f} s a step")
    print(
        f"{'offered/s':>10} {'sent':>8} {'received':>9} {'applied':>8} {'recv/s':>8} "
        f"{'applied/s':>10} {'max queue':>9} {'lag s':>6} {'batch':>6} {'tick ms':>7}  verdict"
    )
    best = 0.0
    for rate in rates:
        step = measure(
            runtime, counting, lambda r=rate: publish(broker, ids, r, seconds, workers), rate
        )
        batch = step.applied / max(step.batches, 1)
        verdict = "sustained" if step.sustained else "BACKLOG/LOSS"
        print(
            f"{rate:>10,.0f} {step.sent:>8,} {step.received:>9,} {step.applied:>8,} "
            f"{step.rx_rate:>8,.0f} {step.rate:>10,.0f} {step.max_depth:>9,} "
            f"{step.lag_s:>6.2f} {batch:>6.0f} {step.max_tick_s * 1000:>7.0f}  {verdict}  "
            f"({loadavg()})",
            flush=True,
        )
        if step.sustained:
            best = max(best, step.rate)
    if burst:
        per_worker_s = 3.0
        step = measure(runtime, counting, lambda: publish(broker, ids, 0, per_worker_s, workers), 0)
        print(
            f"burst: {step.sent:,} sent as fast as possible, {step.received:,} received "
            f"({step.rx_rate:,.0f}/s), {step.applied:,} applied in "
            f"{step.rx_s + step.lag_s:.1f} s → {step.rate:,.0f} msg/s applied "
            f"(max queue {step.max_depth:,}, {step.applied / max(step.batches, 1):.0f} a batch)"
            f"  ({loadavg()})",
            flush=True,
        )
    print(f"highest sustained rate with {len(ids):,} nodes: {best:,.0f} msg/s")


#: Simulated agents per `loa node simulate` process.
AGENTS_PER_PROCESS = 1000


def simulate_run(
    runtime: Runtime,
    counting: Counting,
    broker: Mosquitto,
    key_b64: str,
    count: int,
    heartbeat_s: float,
    seconds: float,
    tmp: Path,
) -> None:
    ids = [f"sim-{n:04d}" for n in range(1, count + 1)]
    seed(runtime, ids)
    print(
        f"\n== `loa node simulate --count {count} --heartbeat-s {heartbeat_s:g}` "
        f"(offered {count / heartbeat_s:,.0f} msg/s)"
    )
    # Real nodes are computers of their own; here they share processes of at most
    # AGENTS_PER_PROCESS agents (each holds about ten open files: 5,000 in one process pass
    # this machine's limit of 20,000).
    shares = [ids[i : i + AGENTS_PER_PROCESS] for i in range(0, count, AGENTS_PER_PROCESS)]
    t0 = time.monotonic()
    procs = []
    for p, share in enumerate(shares):
        creds = tmp / f"sim-{count}-{p}.json"
        creds.write_text(json.dumps({nid: nid for nid in share}))
        procs.append(
            subprocess.Popen(
                [
                    LOA,
                    "node",
                    "simulate",
                    "--count",
                    str(len(share)),
                    "--credentials",
                    str(creds),
                    "--broker",
                    broker.url,
                    "--data-dir",
                    str(tmp / f"sim-{p}"),
                    "--controller-public-key",
                    key_b64,
                    "--heartbeat-s",
                    str(heartbeat_s),
                ],
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )
        )
    try:
        for proc, share in zip(procs, shares, strict=True):
            assert proc.stdout is not None
            for line in proc.stdout:
                if f"{len(share)}/{len(share)} connected" in line:
                    break
                if time.monotonic() - t0 > 240:
                    break
            else:
                print(f"  a simulator ended early: {proc.wait()}")
                return
            threading.Thread(target=proc.stdout.read, daemon=True).start()  # keep it drained
        if time.monotonic() - t0 > 240:
            print("  not all agents connected within 240 s")
            return
        connected_at = time.monotonic()
        print(
            f"  all {count:,} agents ({len(procs)} simulator processes) connected in "
            f"{connected_at - t0:.1f} s ({loadavg()})"
        )
        time.sleep(max(3.0, 2 * heartbeat_s))  # settle: states, schedule.syncs, first beats

        counting.reset()
        depth = 0
        t_end = time.monotonic() + seconds
        while time.monotonic() < t_end:
            depth = max(depth, runtime.ingest_depth())
            time.sleep(0.02)
        got, applied, left = counting.received, counting.applied, runtime.ingest_depth()
        online = runtime.store.db.execute(
            "SELECT COUNT(*) FROM nodes WHERE id LIKE 'sim-%' AND online = 1"
        ).fetchone()[0]
        verdict = "sustained" if depth <= max(count / heartbeat_s, 1000) else "BACKLOG"
        print(
            f"  over {seconds:.0f} s: {got:,} heartbeats received ({got / seconds:,.0f}/s), "
            f"{applied:,} applied ({applied / seconds:,.0f}/s), max queue {depth:,}, "
            f"{left:,} waiting at the end; {online:,}/{count:,} nodes online — {verdict} "
            f"({loadavg()})",
            flush=True,
        )
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--nodes", type=int, nargs="+", default=[1000, 5000])
    ap.add_argument("--rates", type=float, nargs="+", default=[1000, 2000, 3000, 5000])
    ap.add_argument("--seconds", type=float, default=8.0, help="length of each step")
    ap.add_argument("--workers", type=int, default=1, help="publisher processes")
    ap.add_argument("--no-burst", action="store_true")
    ap.add_argument(
        "--simulate",
        type=int,
        nargs="*",
        default=[],
        help="also run `loa node simulate` with these node counts",
    )
    ap.add_argument("--heartbeat-s", type=float, default=1.0, help="for --simulate")
    args = ap.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="loa-bench-ingest-"))
    os.chmod(tmp, 0o777)
    (tmp / "mosquitto").mkdir()
    os.chmod(tmp / "mosquitto", 0o777)  # a root-started Mosquitto drops to its own user
    broker = Mosquitto(tmp / "mosquitto")
    broker.start()
    settings = Settings(data_dir=tmp / "controller", mqtt_url=broker.url, tick_s=2.0)
    runtime = Runtime(settings)
    counting = Counting(runtime)
    print(f"Loa controller heartbeat ingest — Mosquitto on port {broker.port}, {loadavg()}")
    try:
        runtime.start()
        if not runtime.link.connected.wait(10):
            raise SystemExit("controller did not connect to the broker")
        seeded = 0
        for n in sorted(args.nodes):
            ids = [f"bench-{i:05d}" for i in range(1, n + 1)]
            seed(runtime, ids[seeded:])
            seeded = n
            paho_steps(
                runtime,
                counting,
                broker,
                ids,
                args.rates,
                args.seconds,
                args.workers,
                burst=not args.no_burst,
            )
        key_b64 = public_key_b64(load_or_create_private_key(settings.key_path))
        for count in args.simulate:
            simulate_run(runtime, counting, broker, key_b64, count, args.heartbeat_s, 10.0, tmp)
    finally:
        runtime.stop()
        broker.stop()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
