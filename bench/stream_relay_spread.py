"""Relay start/stop accuracy across nodes: a tone station relayed to three node-agent processes
for several windows; the spread of start and stop times across nodes, and each node's offset
from the window. Goal: spread < 500 ms.

    .venv/bin/python bench/stream_relay_spread.py --windows 3 --window-s 8 [--icecast]
"""

from __future__ import annotations

import argparse
import time

from node_common import percentile
from stream_common import commune, icecast_for, station

from tests.streams.helpers import add_source, schedule_relay, sink_play, ts, wait_final


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--windows", type=int, default=3)
    ap.add_argument("--window-s", type=float, default=8.0)
    ap.add_argument("--icecast", action="store_true", help="nodes listen through Icecast")
    args = ap.parse_args()
    ice = None
    if args.icecast:
        from tests.streams.icecast import Icecast

        ice = Icecast()
    starts: list[float] = []
    stops: list[float] = []
    offsets_start: list[float] = []
    offsets_stop: list[float] = []
    try:
        with station() as s, commune(before_start=icecast_for(ice) if ice else None) as c:
            source = add_source(c, s.url)
            for _ in range(args.windows):
                relay = schedule_relay(c, source["id"], seconds_ahead=5, window_s=args.window_s)
                wait_final(c, relay["id"], timeout=args.window_s + 30)
                begin = ts(relay["starts_at"])
                end = begin + args.window_s
                st = [
                    ts(sink_play(c, n.node_id, relay["id"])["started_at"]) for n in c.seeded.nodes
                ]
                fi = [
                    ts(sink_play(c, n.node_id, relay["id"])["finished_at"]) for n in c.seeded.nodes
                ]
                starts.append((max(st) - min(st)) * 1000)
                stops.append((max(fi) - min(fi)) * 1000)
                offsets_start.extend((t - begin) * 1000 for t in st)
                offsets_stop.extend((t - end) * 1000 for t in fi)
                time.sleep(1)
    finally:
        if ice is not None:
            ice.stop()
    via = "Icecast" if args.icecast else "the controller"
    print(f"relay through {via}: {args.windows} windows of {args.window_s:g} s on 3 nodes")
    print(
        f"  start spread across nodes: p50 {percentile(starts, 50):.0f} ms, "
        f"max {max(starts):.0f} ms (goal < 500 ms)"
    )
    print(
        f"  stop spread across nodes:  p50 {percentile(stops, 50):.0f} ms, max {max(stops):.0f} ms"
    )
    print(
        f"  start − window start: p50 {percentile(offsets_start, 50):+.0f} ms, "
        f"worst {max(offsets_start, key=abs):+.0f} ms"
    )
    print(
        f"  stop − window end:    p50 {percentile(offsets_stop, 50):+.0f} ms, "
        f"worst {max(offsets_stop, key=abs):+.0f} ms"
    )


if __name__ == "__main__":
    main()
