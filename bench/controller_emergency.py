"""Emergency: API call → ``play.now`` acked by every one of 1,000 simulated nodes.

A real Mosquitto, a real controller process, and ``loa node simulate`` (complete agents, each
with its own credentials) in ``--processes`` processes sharing the nodes (default 2, one per
core: real nodes are computers of their own, and one Python process for a thousand of them
measures the simulator). Each run posts ``/api/v1/emergency`` and reads, from the play log,
when each node's ack arrived; prints p50 / p99 / max of (ack − call), how many commands carried
it (1: one zone command for the commune; 1,000: one per node) and how many re-sends the
controller made. Fails (exit status 1, naming the nodes) when any node has not acked within
``--ack-timeout`` seconds. The speech is rendered inside the call, so the first figure includes
text-to-speech.

    .venv/bin/python bench/controller_emergency.py [--count 1000] [--runs 3] [--processes 2]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
from node_common import broker, cleanup, controller_process, percentile, simulators

from controller.core.db import Store
from controller.core.settings import Settings
from controller.domain import fleet, zones
from controller.domain.users import create_token, create_user
from loa.signing import load_or_create_private_key, public_key_b64
from tests.support.net import wait_for_port, wait_until

TOKEN = "bench-approver-" + "b" * 24


def seed(data_dir: Path, count: int, processes: int) -> tuple[list[Path], str, int]:
    settings = Settings(data_dir=data_dir)
    store = Store(settings.db_path)
    key = load_or_create_private_key(settings.key_path)
    creds: dict[str, str] = {}
    with store.transaction() as db:
        commune = zones.add_zone(db, "Xã thử nghiệm", "commune")
        villages = [zones.add_zone(db, f"Thôn {i}", "village", commune) for i in range(1, 21)]
        for n in range(1, count + 1):
            node_id = f"sim-{n:04d}"
            creds[node_id] = fleet.add_node(db, node_id, villages[n % len(villages)])
        approver = create_user(db, "duyet", "mat-khau-nguoi-duyet", "approver")
        create_token(db, "bench", user_id=approver, token=TOKEN)
    files = []
    ids = sorted(creds)
    for p in range(processes):  # each simulator process has its share of the nodes
        share = {node_id: creds[node_id] for node_id in ids[p::processes]}
        files.append(data_dir / f"credentials-{p}.json")
        files[-1].write_text(json.dumps(share))
    return files, public_key_b64(key), commune


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--count", type=int, default=1000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument(
        "--ack-timeout",
        type=float,
        default=60,
        help="seconds to wait for every node's ack; the bench fails naming the nodes that did not",
    )
    ap.add_argument(
        "--processes",
        type=int,
        default=2,
        help="simulator processes sharing the nodes (real nodes are each their own computer; "
        "one Python process for all of them measures the simulator, not the controller)",
    )
    args = ap.parse_args()
    b = broker()
    tmp = Path(tempfile.mkdtemp(prefix="loa-bench-emergency-"))
    creds, public_key, commune = seed(tmp / "controller", args.count, args.processes)
    env = {**os.environ, "LOA_LOG_LEVEL": "WARNING"}
    controller, port = controller_process(tmp / "controller", b.url, "--tick", "1", env=env)
    sims = simulators(tmp, b.url, public_key, creds)
    api = httpx.Client(
        base_url=f"http://127.0.0.1:{port}",
        timeout=60,
        headers={"Authorization": f"Bearer {TOKEN}"},
    )
    failed = False
    code = 0
    try:
        wait_for_port(port, timeout=60)
        t0 = time.monotonic()
        wait_until(
            lambda: sum(n["online"] for n in api.get("/api/v1/nodes").json()) == args.count,
            timeout=300,
            interval=1,
            what="every simulated node online",
        )
        print(f"{args.count} nodes online after {time.monotonic() - t0:.1f} s")
        for run in range(1, args.runs + 1):
            called = datetime.now(UTC)
            t_call = time.monotonic()
            response = api.post(
                "/api/v1/emergency",
                json={
                    "title": f"Cảnh báo {run}",
                    "text": f"Khẩn cấp lần {run}: bão số 3 đổ bộ, bà con không ra khơi.",
                    "zone_ids": [commune],
                    "repeats": 1,
                },
            )
            response.raise_for_status()
            api_ms = (time.monotonic() - t_call) * 1000
            broadcast_id = response.json()["id"]

            def since_call(
                column: str, bid: int = broadcast_id, at: datetime = called
            ) -> list[float]:
                detail = api.get(f"/api/v1/broadcasts/{bid}").json()
                return [
                    (datetime.fromisoformat(d[column]) - at).total_seconds() * 1000
                    for d in detail["dispatches"]
                    if d[column]
                ]

            try:
                wait_until(
                    lambda: len(since_call("acked_at")) == args.count,
                    timeout=args.ack_timeout,
                    interval=0.5,
                    what="every ack",
                )
            except TimeoutError:
                detail = api.get(f"/api/v1/broadcasts/{broadcast_id}").json()
                missing = [d for d in detail["dispatches"] if not d["acked_at"]]
                print(
                    f"run {run}: FAILED: {len(missing)}/{args.count} nodes did not ack within "
                    f"{args.ack_timeout:.0f} s: "
                    + ", ".join(f"{d['node_id']} ({d['state']})" for d in missing[:20])
                )
                failed = True
                break
            sent, got = since_call("sent_at"), since_call("acked_at")
            commands, resends = _commands(tmp / "controller", broadcast_id)
            print(
                f"run {run}: API call {api_ms:.0f} ms (incl. speech rendering); play.now "
                f"published to {len(sent)} nodes by p50={percentile(sent, 50):.0f} ms "
                f"max={max(sent):.0f} ms; acks from {len(got)}/{args.count}: "
                f"p50={percentile(got, 50):.0f} ms  p99={percentile(got, 99):.0f} ms  "
                f"max={max(got):.0f} ms after the call; {commands} command(s) published, "
                f"{resends} re-sent"
            )
            time.sleep(15)  # let the nodes finish playing before the next emergency
        print(
            f"{args.processes} simulator process(es); load average: "
            f"{os.getloadavg()[0]:.2f} (2 cores)"
        )
    finally:
        code = 1 if failed else 0
        api.close()
        for p in (*sims, controller):
            p.terminate()
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()
        cleanup(b)
    if code:
        raise SystemExit(f"missing acks: {code}")


def _commands(data_dir: Path, broadcast_id: int) -> tuple[int, int]:
    """How many play.now commands carried the emergency (one per zone, or one per node) and
    how many re-sends the controller made, from its database."""
    store = Store(Settings(data_dir=data_dir).db_path)
    row = store.db.execute(
        "SELECT COUNT(DISTINCT cmd_id), COALESCE(SUM(resends), 0) FROM dispatches "
        "WHERE broadcast_id = ?",
        [broadcast_id],
    ).fetchone()
    return int(row[0]), int(row[1])


if __name__ == "__main__":
    main()
