"""``loa node simulate`` with 1,000 nodes against a real Mosquitto: connect time, fan-out of one
``schedule.put`` to every node (signed one by one), acks received, and the plays' start spread.

    .venv/bin/python bench/node_simulate.py [--count 1000]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import tempfile
import time
from pathlib import Path

from node_common import broker, cleanup, summary

from loa.protocol import SchedulePut
from node_agent.simulate import node_ids
from tests.node_agent.harness import LOA, Controller, MediaServer, item, media_blob, parse_time
from tests.support.net import wait_until


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--count", type=int, default=1000)
    ap.add_argument("--lead", type=float, default=20.0, help="play_at this far after sending")
    args = ap.parse_args()
    b = broker()
    media = MediaServer()
    media.start()
    ctl = Controller(b.port)
    ctl.client.max_inflight_messages_set(100)  # as the real controller's MQTT link
    ctl.start()
    tmp = Path(tempfile.mkdtemp(prefix="loa-bench-sim-"))
    ids = node_ids("sim", args.count)
    media.tokens = set(ids)  # simulate's default: each node's secret is its id
    t0 = time.monotonic()
    proc = subprocess.Popen(
        [
            LOA,
            "node",
            "simulate",
            "--count",
            str(args.count),
            "--broker",
            b.url,
            "--data-dir",
            str(tmp),
            "--controller-public-key",
            ctl.public_b64,
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:

        def online() -> int:
            with ctl._lock:
                return len(
                    {d["node"] for t, d in ctl.messages if t.endswith("/state") and d.get("online")}
                )

        wait_until(
            lambda: online() >= args.count, timeout=300, interval=0.2, what="all nodes online"
        )
        connect_s = time.monotonic() - t0
        print(f"simulate: {args.count} nodes in one process, real Mosquitto, file sinks")
        print(
            f"  connect: all {online()} online (retained state seen) {connect_s:.1f}s "
            "after the process started",
            flush=True,
        )
        content = media.content(media_blob("fanout"), duration_s=0.5)
        play_at = time.time() + args.lead
        put = SchedulePut(items=[item(1, content, play_at)])
        envs = [ctl.command("schedule.put", nid, put) for nid in ids]  # sign first
        t1 = time.monotonic()
        infos = [
            ctl.client.publish(f"loa/v1/node/{nid}/cmd", json.dumps(env).encode(), qos=1)
            for nid, env in zip(ids, envs, strict=True)
        ]
        published_s = time.monotonic() - t1
        wanted = {e["id"] for e in envs}
        wait_until(
            lambda: all(i.is_published() for i in infos), timeout=300, interval=0.01, what="pubacks"
        )
        broker_s = time.monotonic() - t1

        def acked() -> int:
            return len({r["body"]["cmd_id"] for r in ctl.reports(type_="ack")} & wanted)

        wait_until(lambda: acked() >= args.count, timeout=300, interval=0.1, what="acks")
        acks_s = time.monotonic() - t1
        ok = sum(
            1 for r in ctl.reports(type_="ack") if r["body"]["cmd_id"] in wanted and r["body"]["ok"]
        )
        print(
            f"  fan-out: {args.count} signed schedule.put published in {published_s:.2f}s "
            f"(all taken by the broker after {broker_s:.2f}s); "
            f"{ok}/{args.count} acked ok {acks_s:.2f}s after the first was sent",
            flush=True,
        )

        def fetched() -> int:
            return sum((tmp / n / "media" / content.sha256).exists() for n in ids)

        wait_until(lambda: fetched() >= args.count, timeout=300, interval=0.5, what="media")
        print(
            f"  media: cached on all nodes {time.monotonic() - t1:.1f}s after sending", flush=True
        )

        def finished() -> list[dict]:
            return [r["body"] for r in ctl.reports(type_="play.finished")]

        try:
            wait_until(
                lambda: len(finished()) >= args.count,
                timeout=args.lead + 120,
                interval=0.5,
                what="plays",
            )
        except TimeoutError:
            print(f"  only {len(finished())} play reports arrived in time")
        starts = [
            (parse_time(f["started_at"]) - play_at) * 1000 for f in finished() if f["started_at"]
        ]
        results: dict[str, int] = {}
        for f in finished():
            results[f["result"]] = results.get(f["result"], 0) + 1
        print(f"  plays: {results}")
        if starts:
            print(f"  start - play_at: {summary(starts)}")
    finally:
        proc.terminate()
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()
        ctl.stop()
        media.stop()
        cleanup(b)


if __name__ == "__main__":
    main()
