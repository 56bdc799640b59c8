"""CAP alert → speaker: from a CAP document's arrival (``POST /api/v1/cap`` with a push source's
token) to every cluster inside its polygon acking ``play.now``, at 1,000 simulated clusters.

A real Mosquitto, a real controller process and ``loa node simulate`` (complete agents, each
with its own credentials) in ``--processes`` processes. The clusters are placed on a grid over
a coastal commune; ``--inside`` of them (default 900) lie inside the alert's polygon, the rest
outside. Each run pushes a new Extreme/Immediate/Observed typhoon warning (the default policy
sounds it at once), then reads from the play log when each dispatch was sent and acked; prints
the push's answer time (parse, schema, targeting against 1,000 positions, policy, speech) and
p50 / p99 / max of (ack − arrival). Fails (exit status 1) when a cluster inside has not acked
within ``--ack-timeout`` seconds, or when any cluster outside was sent the alert.

    .venv/bin/python bench/cap_to_speaker.py [--count 1000] [--inside 900] [--runs 3]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from node_common import broker, cleanup, controller_process, percentile, simulators

from controller.core.db import Store
from controller.core.settings import Settings
from controller.domain import cap, cap_sources, fleet, zones
from controller.domain.cap import Area, Info
from controller.domain.identity import Identity
from loa.signing import load_or_create_private_key, public_key_b64
from tests.support.net import wait_for_port, wait_until

#: The alert's polygon (lat, lon): the coastal strip; clusters are placed west to east.
SOUTH, NORTH, WEST, EAST = 15.80, 16.00, 108.20, 108.50


def seed(
    data_dir: Path, count: int, inside: int, processes: int, whole: bool = False
) -> tuple[list[Path], str, str, set[str]]:
    """Zones, ``count`` clusters with positions (the first ``inside`` within the polygon), a push
    source; returns the simulators' credential files, the controller's public key and the
    source's token, and the ids of the clusters inside. ``whole``: the clusters inside are
    whole villages (the alert then targets them as zones: one zone command per village); else
    every village has clusters on both sides of the polygon's edge (one command per cluster)."""
    settings = Settings(data_dir=data_dir)
    store = Store(settings.db_path)
    key = load_or_create_private_key(settings.key_path)
    creds: dict[str, str] = {}
    inside_ids: set[str] = set()
    with store.transaction() as db:
        commune = zones.add_zone(db, "Xã ven biển", "commune")
        villages = [zones.add_zone(db, f"Thôn {i}", "village", commune) for i in range(1, 21)]
        for n in range(count):
            node_id = f"sim-{n + 1:04d}"
            village = (n * len(villages)) // count if whole else n % len(villages)
            creds[node_id] = fleet.add_node(db, node_id, villages[village])
            lat = SOUTH + 0.01 + (n % 30) * 0.006
            if n < inside:  # inside the polygon, spread over its width
                inside_ids.add(node_id)
                lon = WEST + 0.01 + (n / max(inside, 1)) * (EAST - WEST - 0.02)
            else:  # inland, west of it
                lon = WEST - 0.05 - (n - inside) * 0.0005
            db.execute("UPDATE nodes SET lat = ?, lon = ? WHERE id = ?", [lat, lon, node_id])
        _id, token = cap_sources.create_source(
            db, Identity("token", "bench", "admin"), {"name": "Đài KTTV", "kind": "push"}
        )
    assert token is not None
    files = []
    ids = sorted(creds)
    for p in range(processes):
        share = {node_id: creds[node_id] for node_id in ids[p::processes]}
        files.append(data_dir / f"credentials-{p}.json")
        files[-1].write_text(json.dumps(share))
    return files, public_key_b64(key), token, inside_ids


def typhoon(run: int) -> bytes:
    now = datetime.now(UTC).replace(microsecond=0)
    ring = ((SOUTH, WEST), (SOUTH, EAST), (NORTH, EAST), (NORTH, WEST), (SOUTH, WEST))
    return cap.write(
        identifier=f"BENCH-{now:%Y%m%dT%H%M%S}-{run}",
        sender="canhbao@kttvttb.vn",
        sent=now,
        status="Actual",
        msg_type="Alert",
        infos=(
            Info(
                language="vi-VN",
                categories=("Met",),
                event="Bão",
                urgency="Immediate",
                severity="Extreme",
                certainty="Observed",
                headline=f"Bão số {run} đổ bộ ven biển",
                description="Gió mạnh cấp 12, giật cấp 14.",
                instruction="Không ra khơi, di chuyển đến nơi trú ẩn an toàn.",
                expires=now + timedelta(hours=3),
                areas=(Area("Ven biển", polygons=(ring,)),),
            ),
        ),
    )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--count", type=int, default=1000)
    ap.add_argument("--inside", type=int, default=900)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--ack-timeout", type=float, default=60)
    ap.add_argument("--processes", type=int, default=2)
    ap.add_argument(
        "--whole-villages",
        action="store_true",
        help="the clusters inside are whole villages (zone commands) instead of some of each",
    )
    args = ap.parse_args()
    b = broker()
    tmp = Path(tempfile.mkdtemp(prefix="loa-bench-cap-"))
    creds, public_key, token, inside_ids = seed(
        tmp / "controller", args.count, args.inside, args.processes, args.whole_villages
    )
    env = {**os.environ, "LOA_LOG_LEVEL": "WARNING"}
    controller, port = controller_process(tmp / "controller", b.url, "--tick", "1", env=env)
    sims = simulators(tmp, b.url, public_key, creds)
    api = httpx.Client(
        base_url=f"http://127.0.0.1:{port}",
        timeout=120,
        headers={"Authorization": f"Bearer {token}"},
    )
    failed = False
    try:
        wait_for_port(port, timeout=60)
        t0 = time.monotonic()
        # read from the controller's database (WAL: a reader beside it): the push token
        # may push and nothing else
        store = Store(Settings(data_dir=tmp / "controller").db_path)
        wait_until(
            lambda: (
                store.db.execute("SELECT COUNT(*) FROM nodes WHERE online = 1").fetchone()[0]
                == args.count
            ),
            timeout=300,
            interval=1,
            what="every simulated cluster online",
        )
        print(f"{args.count} clusters online after {time.monotonic() - t0:.1f} s")
        for run in range(1, args.runs + 1):
            document = typhoon(run)
            arrived = datetime.now(UTC)
            t_call = time.monotonic()
            response = api.post(
                "/api/v1/cap", content=document, headers={"Content-Type": "application/cap+xml"}
            )
            response.raise_for_status()
            push_ms = (time.monotonic() - t_call) * 1000
            made = response.json()
            if made["outcome"] != "emergency" or made["node_count"] != args.inside:
                print(f"run {run}: FAILED: {made}")
                failed = True
                break
            broadcast_id = made["broadcast_id"]

            def since(column: str, bid: int = broadcast_id, at: datetime = arrived) -> list[float]:
                rows = store.db.execute(
                    f"SELECT {column} FROM dispatches WHERE broadcast_id = ? "
                    f"AND {column} IS NOT NULL",
                    [bid],
                ).fetchall()
                return [(datetime.fromisoformat(r[0]) - at).total_seconds() * 1000 for r in rows]

            try:
                wait_until(
                    lambda: len(since("acked_at")) == args.inside,
                    timeout=args.ack_timeout,
                    interval=0.5,
                    what="every ack inside",
                )
            except TimeoutError:
                print(
                    f"run {run}: FAILED: {args.inside - len(since('acked_at'))}/{args.inside} "
                    f"clusters inside did not ack within {args.ack_timeout:.0f} s"
                )
                failed = True
                break
            reached = {
                r[0]
                for r in store.db.execute(
                    "SELECT node_id FROM dispatches WHERE broadcast_id = ?", [broadcast_id]
                )
            }
            if reached != inside_ids:
                print(
                    f"run {run}: FAILED: sent to {len(reached - inside_ids)} clusters outside, "
                    f"{len(inside_ids - reached)} inside missing"
                )
                failed = True
                break
            sent, got = since("sent_at"), since("acked_at")
            commands, resends = store.db.execute(
                "SELECT COUNT(DISTINCT cmd_id), COALESCE(SUM(resends), 0) FROM dispatches "
                "WHERE broadcast_id = ?",
                [broadcast_id],
            ).fetchone()
            print(
                f"run {run}: push answered in {push_ms:.0f} ms (parse, schema, targeting "
                f"{args.count} positions, policy, speech); play.now to {len(sent)} clusters "
                f"inside by max={max(sent):.0f} ms; acks {len(got)}/{args.inside}: "
                f"p50={percentile(got, 50):.0f} ms  p99={percentile(got, 99):.0f} ms  "
                f"max={max(got):.0f} ms after arrival; {commands} command(s), {resends} "
                f"re-sent; {args.count - args.inside} outside: none sent"
            )
            time.sleep(15)  # let the clusters finish playing before the next alert
        print(
            f"{args.processes} simulator process(es); load average: "
            f"{os.getloadavg()[0]:.2f} (2 cores)"
        )
    finally:
        api.close()
        for p in (*sims, controller):
            p.terminate()
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()
        cleanup(b)
    if failed:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
