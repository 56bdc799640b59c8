"""API latency under 50 concurrent clients on the main pages and endpoints (goal p95 < 50 ms).

A real controller process on a seeded database (one commune, 20 villages, 200 nodes, 100
broadcasts with their dispatches, heartbeats recorded). 50 clients, signed in as a viewer, loop
over the main web pages and API endpoints for a fixed time; per endpoint it prints p50 / p95 /
p99 and requests per second, twice:

- **paced**: each client is an official's browser or an integration that asks once every
  ``--think`` seconds (default 1 s, each client starting at a random moment of that second):
  50 officials at once, the goal's case;
- **saturated**: every client asks again as soon as it has its answer, so the controller never
  rests: the requests per second are its capacity, and the latency is mostly queueing
  (50 in flight / capacity).

The clients run in this process, on the same two cores as the controller.

    .venv/bin/python bench/controller_api_latency.py [--clients 50] [--seconds 10] [--think 1]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import re
import tempfile
import time
from collections import defaultdict
from datetime import timedelta
from pathlib import Path

import httpx
from node_common import broker, cleanup, controller_process, percentile

from controller.core.db import Store, insert
from controller.core.settings import Settings
from controller.domain import fleet, zones
from controller.domain.users import create_token, create_user
from loa.protocol import to_wire_time, utcnow
from tests.support.net import wait_for_port

TOKEN = "bench-viewer-" + "v" * 24
VIEWER_PASSWORD = "mat-khau-nguoi-xem"
#: Pages a signed-in official opens (the dashboard, the cluster list, the schedule, the
#: announcements, the play log), then the API's main endpoints.
PAGES = ["/", "/nodes", "/schedule", "/announcements", "/reports"]
ENDPOINTS = [
    *PAGES,
    "/api/v1/nodes",
    "/api/v1/zones",
    "/api/v1/broadcasts",
    "/api/v1/broadcasts/{broadcast}",
    "/api/v1/announcements?status=approved",
    "/api/v1/reports/plays?since={since}",
    "/api/v1/reports/delivery?since={since}",
]


def seed(data_dir: Path) -> int:
    store = Store(Settings(data_dir=data_dir).db_path)
    now = utcnow()
    with store.transaction() as db:
        commune = zones.add_zone(db, "Xã thử nghiệm", "commune")
        villages = [zones.add_zone(db, f"Thôn {i}", "village", commune) for i in range(20)]
        nodes = [f"n-{i:03d}" for i in range(200)]
        for i, node_id in enumerate(nodes):
            fleet.add_node(db, node_id, villages[i % 20])
        db.execute("UPDATE nodes SET online = 1, last_seen = ?", [to_wire_time(now)])
        insert(db, "media", {"sha256": "a" * 64, "bytes": 100_000, "duration_s": 30.0})
        broadcast = 0
        for b in range(100):
            ann = insert(
                db,
                "announcements",
                {
                    "title": f"Bản tin {b}",
                    "text": "Nội dung bản tin.",
                    "status": "approved",
                    "priority": "normal",
                    "media_sha256": "a" * 64,
                    "created_at": to_wire_time(now),
                },
            )
            play_at = to_wire_time(now - timedelta(hours=b))
            broadcast = insert(
                db,
                "broadcasts",
                {
                    "announcement_id": ann,
                    "zone_ids": f"[{commune}]",
                    "starts_at": play_at,
                    "priority": "normal",
                    "max_late_s": 30.0,
                    "repeats": 1,
                    "status": "active",
                    "planned_until": play_at,
                },
            )
            db.conn.executemany(
                "INSERT INTO dispatches (broadcast_id, occurrence, node_id, play_at, state, "
                "started_at, finished_at) VALUES (?, ?, ?, ?, 'played', ?, ?)",
                [(broadcast, play_at, n, play_at, play_at, play_at) for n in nodes],
            )
        viewer = create_user(db, "xem", VIEWER_PASSWORD, "viewer")
        create_token(db, "bench", user_id=viewer, token=TOKEN)
    return broadcast


def sign_in(base: str) -> dict[str, str]:
    """The viewer's session cookie (pages want a browser session, not a token)."""
    with httpx.Client(base_url=base, timeout=30) as http:
        form = http.get("/login").text
        csrf = re.search(r'name="csrf" value="([^"]+)"', form)
        assert csrf, "no CSRF field on /login"
        answer = http.post(
            "/login",
            data={"csrf": csrf.group(1), "username": "xem", "password": VIEWER_PASSWORD},
        )
        assert answer.status_code == 303, answer.text[:300]
        return dict(http.cookies)


async def client(
    base: str,
    paths: list[str],
    until: float,
    timings: dict[str, list[float]],
    think: float,
    cookies: dict[str, str],
) -> None:
    async with httpx.AsyncClient(
        base_url=base, headers={"Authorization": f"Bearer {TOKEN}"}, cookies=cookies, timeout=30
    ) as http:
        # Connected and answered once before the clock starts: the figures are the steady
        # state of 50 officials already on the pages, not 50 connections being opened (the
        # first request on a new connection also meets a worker thread's first database use).
        (await http.get(paths[0])).raise_for_status()
        i = 0
        if think:
            await asyncio.sleep(random.uniform(0, think))
        while time.monotonic() < until:
            path = paths[i % len(paths)]
            i += 1
            t0 = time.perf_counter()
            response = await http.get(path)
            elapsed = (time.perf_counter() - t0) * 1000
            if response.status_code != 200:
                raise RuntimeError(f"{path}: {response.status_code} {response.text[:200]}")
            timings[path.split("?")[0]].append(elapsed)
            if think:
                await asyncio.sleep(max(0.0, think - elapsed / 1000))


async def run(
    base: str,
    paths: list[str],
    clients: int,
    seconds: float,
    think: float = 0.0,
    cookies: dict[str, str] | None = None,
) -> dict:
    timings: dict[str, list[float]] = defaultdict(list)
    until = time.monotonic() + seconds
    await asyncio.gather(
        *(
            client(
                base,
                paths[i % len(paths) :] + paths[: i % len(paths)],
                until,
                timings,
                think,
                cookies or {},
            )
            for i in range(clients)
        )
    )
    return timings


def report(
    label: str, clients: int, seconds: float, think: float, timings: dict[str, list[float]]
) -> None:
    total = sum(len(v) for v in timings.values())
    pace = f"one request every {think:g} s each" if think else "back to back"
    print(
        f"{label}: {clients} concurrent clients, {pace}, {seconds:.0f} s, {total} requests "
        f"({total / seconds:.0f}/s)"
    )
    for path, values in sorted(timings.items()):
        print(
            f"  {path:38s} n={len(values):5d}  p50={percentile(values, 50):6.1f} ms  "
            f"p95={percentile(values, 95):6.1f} ms  p99={percentile(values, 99):6.1f} ms"
        )
    every = [v for values in timings.values() for v in values]
    print(
        f"  {'all':38s} n={len(every):5d}  p50={percentile(every, 50):6.1f} ms  "
        f"p95={percentile(every, 95):6.1f} ms  p99={percentile(every, 99):6.1f} ms"
    )
    print(f"  load average: {os.getloadavg()[0]:.2f} (2 cores; the clients share them)")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--clients", type=int, default=50)
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument(
        "--think",
        type=float,
        default=1.0,
        help="seconds between one client's requests in the paced run",
    )
    args = ap.parse_args()
    b = broker()
    tmp = Path(tempfile.mkdtemp(prefix="loa-bench-api-"))
    last = seed(tmp / "controller")
    controller, port = controller_process(tmp / "controller", b.url)
    try:
        wait_for_port(port, timeout=60)
        since = to_wire_time(utcnow() - timedelta(days=1))
        paths = [p.format(broadcast=last, since=since) for p in ENDPOINTS]
        base = f"http://127.0.0.1:{port}"
        cookies = sign_in(base)
        asyncio.run(run(base, paths, 5, 2, cookies=cookies))  # warm up
        for label, think in (("paced", args.think), ("saturated", 0.0)):
            timings = asyncio.run(run(base, paths, args.clients, args.seconds, think, cookies))
            report(label, args.clients, args.seconds, think, timings)
    finally:
        controller.terminate()
        controller.wait(timeout=30)
        cleanup(b)


if __name__ == "__main__":
    main()
