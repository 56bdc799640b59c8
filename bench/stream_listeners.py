"""Concurrent node listeners on one relay: how many the controller serves alone before audio
underruns, and how many through Icecast (the controller publishes once; icecast2 fans out).

Listeners are asyncio HTTP clients in this process (like nodes: a bearer token, reading as fast
as data comes), connecting spread over 2 s as nodes do. A listener underruns when, measured
together from 1 s after the last one connected, it gets less than 95 % of the stream's
real-time bytes or waits more than 1 s for data. Steps grow (``--factor``) until more than
1 % of listeners underrun. The clients share the machine with the servers, so the figure is a floor.

    .venv/bin/python bench/stream_listeners.py --start 400 --factor 1.5 --max 3200 [--icecast]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import resource
import time
from urllib.parse import urlsplit

import httpx
from stream_common import commune, icecast_for, station

from controller.services.hubs import RELAY_BITRATE

BYTES_PER_S = RELAY_BITRATE / 8
#: Listeners connect spread over this long, as nodes' pre-opens are.
SPREAD_S = 2.0


async def listen(
    url: str, token: str, delay: float, measure_from: float, until: float
) -> tuple[float, float]:
    """(bytes/s in [measure_from, until) as a fraction of real time, longest wait for data).
    Like a node, a listener told 403 (Icecast busy authenticating others) tries again."""
    await asyncio.sleep(delay)  # nodes open a relay 3-5 s ahead, spread by their node id
    parts = urlsplit(url)
    got = 0
    longest = 0.0
    last = max(time.monotonic(), measure_from)
    backoff = 0.2
    while time.monotonic() < until:
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection(parts.hostname, parts.port), timeout=10
            )
        except (OSError, TimeoutError):
            return 0.0, until - measure_from
        writer.write(
            f"GET {parts.path} HTTP/1.1\r\nHost: {parts.hostname}\r\n"
            f"Authorization: Bearer {token}\r\nConnection: close\r\n\r\n".encode()
        )
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout=10)
            if b" 403 " in head.split(b"\r\n", 1)[0]:
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 2.0)
                continue
            while time.monotonic() < until:
                chunk = await asyncio.wait_for(reader.read(65536), timeout=until - measure_from)
                if not chunk:
                    break
                now = time.monotonic()
                if now >= measure_from:
                    got += len(chunk)
                    longest = max(longest, now - last)
                    last = now
        except (OSError, TimeoutError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()
        break
    longest = max(longest, min(time.monotonic(), until) - last)
    return got / ((until - measure_from) * BYTES_PER_S), longest


async def step(url: str, token: str, n: int, seconds: float) -> tuple[int, float]:
    """All connect within SPREAD_S; everyone is measured together from 1 s after that."""
    measure_from = time.monotonic() + SPREAD_S + 1.0
    until = measure_from + seconds
    results = await asyncio.gather(
        *(listen(url, token, random.uniform(0, SPREAD_S), measure_from, until) for _ in range(n))
    )
    bad = sum(1 for rate, gap in results if rate < 0.95 or gap > 1.0)
    return bad, min(rate for rate, _ in results)


def main() -> None:
    # each listener is a socket here and in the server: lift the soft limit (servers inherit it)
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--max", type=int, default=3200)
    ap.add_argument("--start", type=int, default=50)
    ap.add_argument("--seconds", type=float, default=8.0)
    ap.add_argument("--icecast", action="store_true")
    ap.add_argument("--factor", type=float, default=2.0, help="growth from step to step")
    args = ap.parse_args()
    ice = None
    if args.icecast:
        from tests.streams.icecast import Icecast

        ice = Icecast(clients=args.max + 100)
    try:
        with station() as s, commune(before_start=icecast_for(ice) if ice else None) as c:
            token = c.seeded.nodes[0].secret
            with c.api() as api:
                source = api.post(
                    "/api/v1/stream-sources", json={"name": "VOV1", "url": s.url}
                ).json()
            own = f"{c.url}/streams/relay/{source['id']}.mp3"
            # one listener on the controller keeps the hub (and its Icecast mount) up
            keeper = httpx.Client(timeout=None, headers={"Authorization": f"Bearer {token}"})
            keep = keeper.stream("GET", own)
            keep.__enter__()
            time.sleep(3)
            url = f"{ice.url}/relay-{source['id']}.mp3" if ice else own
            via = "Icecast" if ice else "the controller alone"
            print(f"listeners on one 64 kb/s relay through {via} ({os.cpu_count()} cores shared)")
            n = args.start
            while n <= args.max:
                bad, worst = asyncio.run(step(url, token, n, args.seconds))
                print(
                    f"  {n:5d} listeners: {bad:4d} underran ({bad / n:.1%}), "
                    f"slowest got {worst:.0%} of real time"
                )
                if bad > n * 0.01:
                    break
                n = int(n * args.factor)
            keep.__exit__(None, None, None)
    finally:
        if ice is not None:
            ice.stop()


if __name__ == "__main__":
    main()
