"""Start jitter: 100 scheduled plays on real agent processes (file sink), printing p50 / p99 /
max of (actual start − play_at) in ms. Goal p99 < 20 ms.

    .venv/bin/python bench/node_start_jitter.py [--plays 100] [--agents 1] [--gap 0.25]
"""

from __future__ import annotations

import argparse
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


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--plays", type=int, default=100)
    ap.add_argument("--agents", type=int, default=1)
    ap.add_argument("--gap", type=float, default=0.25, help="seconds between play times")
    args = ap.parse_args()

    b = broker()
    media = MediaServer()
    media.start()
    ctl = Controller(b.port)
    ctl.start()
    tmp = Path(tempfile.mkdtemp(prefix="loa-bench-jitter-"))
    nodes = [
        NodeProcess(f"jitter-{n}", tmp / f"jitter-{n}", b.url, ctl.public_b64)
        for n in range(args.agents)
    ]
    try:
        for node in nodes:
            node.start()
        for node in nodes:
            wait_online(ctl, node.node_id)
        content = media.content(media_blob("jitter"), duration_s=0.1)
        t0 = time.time() + 3
        items = [item(n + 1, content, t0 + n * args.gap, occurrence="j") for n in range(args.plays)]
        for node in nodes:
            ctl.send("schedule.put", node.node_id, SchedulePut(items=items))
        total = args.plays * len(nodes)
        wait_until(
            lambda: sum(len(n.plays()) for n in nodes) >= total,
            timeout=10 + args.plays * args.gap * 2,
            interval=0.5,
            what="all plays",
        )
        late = [
            (parse_time(p["started_at"]) - parse_time(p["play_at"])) * 1000
            for node in nodes
            for p in node.plays()
        ]
        results = {p["result"] for node in nodes for p in node.plays()}
        print(
            f"start jitter, {args.agents} agent process(es), {args.plays} plays each, "
            f"{args.gap}s apart, file sink"
        )
        print(f"  actual start - play_at: {summary(late)}")
        print(f"  min={min(late):.2f} ms   results={sorted(results)}")
    finally:
        for node in nodes:
            node.stop()
        ctl.stop()
        media.stop()
        cleanup(b)


if __name__ == "__main__":
    main()
