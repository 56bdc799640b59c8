"""Start jitter: 100 scheduled plays on real agent processes (file sink), printing p50 / p99 /
max of (actual start − play_at) in ms. Goal p99 < 20 ms.

    .venv/bin/python bench/node_start_jitter.py [--plays 100] [--agents 1] [--gap 0.25]
                                                [--load N] [--rt-priority P]

The start is the time the player began (the file sink's ``started_at``). With ``--load N`` a
second round of plays runs while N busy processes (nice 0, computing in bursts with short
sleeps) keep the CPUs full, and both rounds are printed. ``--rt-priority 0`` runs the agents without
real-time scheduling for their playback threads (the default asks for what the config's
default asks for).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from node_common import broker, cleanup, summary

from loa.protocol import SchedulePut
from tests.node_agent.harness import (
    Controller,
    MediaServer,
    NodeProcess,
    item,
    media_blob,
    parse_time,
    wait_online,
)
from tests.support.net import wait_until

#: A busy process as a loaded machine has them: it computes for 1-30 ms, then sleeps up to
#: 2 ms (so, like real work, it keeps the scheduler's favour on wake-ups: a pure busy loop
#: loses it and barely delays a sleeping agent).
HOG = """
import random, time
end = time.monotonic() + {seconds}
while time.monotonic() < end:
    busy = time.monotonic() + random.uniform(0.001, 0.030)
    while time.monotonic() < busy:
        pass
    time.sleep(random.uniform(0, 0.002))
"""


def hogs(count: int, seconds: float) -> list[subprocess.Popen]:
    """``count`` processes that keep a CPU busy each, for at most ``seconds``."""
    return [
        subprocess.Popen([sys.executable, "-c", HOG.format(seconds=seconds)]) for _ in range(count)
    ]


def play_round(
    ctl: Controller,
    nodes: list[NodeProcess],
    content: object,
    plays: int,
    gap: float,
    first: int,
) -> list[float]:
    """Schedule ``plays`` plays from broadcast ``first`` on; (start − play_at) in ms."""
    t0 = time.time() + 3
    items = [item(first + n, content, t0 + n * gap, occurrence="j") for n in range(plays)]
    for node in nodes:
        ctl.send("schedule.put", node.node_id, SchedulePut(items=items))
    wanted = set(range(first, first + plays))

    def ours() -> list[dict]:
        return [p for node in nodes for p in node.plays() if p["broadcast"] in wanted]

    total = plays * len(nodes)
    wait_until(
        lambda: len(ours()) >= total,
        timeout=10 + plays * gap * 2,
        interval=0.5,
        what="all plays",
    )
    results = {p["result"] for p in ours()}
    if results != {"played"}:
        print(f"  results: {sorted(results)}")
    return [
        (parse_time(p["started_at"]) - parse_time(p["play_at"])) * 1000
        for p in ours()
        if p["started_at"]
    ]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--plays", type=int, default=100)
    ap.add_argument("--agents", type=int, default=1)
    ap.add_argument("--gap", type=float, default=0.25, help="seconds between play times")
    ap.add_argument("--load", type=int, default=0, help="busy processes in a second round")
    ap.add_argument(
        "--rt-priority", type=int, default=None, help="the agents' [player] rt_priority"
    )
    args = ap.parse_args()

    b = broker()
    media = MediaServer()
    media.start()
    ctl = Controller(b.port)
    ctl.start()
    tmp = Path(tempfile.mkdtemp(prefix="loa-bench-jitter-"))
    extra = "" if args.rt_priority is None else f"rt_priority = {args.rt_priority}\n"
    nodes = [
        NodeProcess(f"jitter-{n}", tmp / f"jitter-{n}", b.url, ctl.public_b64, extra=extra)
        for n in range(args.agents)
    ]
    load: list[subprocess.Popen] = []
    try:
        for node in nodes:
            node.start()
        for node in nodes:
            wait_online(ctl, node.node_id)
        content = media.content(media_blob("jitter"), duration_s=0.1)
        quiet = play_round(ctl, nodes, content, args.plays, args.gap, 1)
        print(
            f"start jitter, {args.agents} agent process(es), {args.plays} plays each, "
            f"{args.gap}s apart, file sink, {os.cpu_count()} CPUs"
        )
        print(f"  quiet:  actual start - play_at: {summary(quiet)}  min={min(quiet):.2f} ms")
        if args.load:
            load = hogs(args.load, 30 + args.plays * args.gap * 3)
            time.sleep(1)
            loaded = play_round(ctl, nodes, content, args.plays, args.gap, 1 + args.plays)
            print(
                f"  loaded ({args.load} busy processes): actual start - play_at: "
                f"{summary(loaded)}  min={min(loaded):.2f} ms"
            )
        for node in nodes:
            for line in node.log().splitlines():
                if "playback priority" in line:
                    print(f"  {node.node_id}: {line.split(': ', 1)[-1]}")
                    break
    finally:
        for hog in load:
            hog.kill()
            hog.wait()
        for node in nodes:
            node.stop()
        ctl.stop()
        media.stop()
        cleanup(b)


if __name__ == "__main__":
    main()
