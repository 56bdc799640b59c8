"""One agent process: RSS and CPU while idle and while playing (file sink).
Goal RSS < 40 MB, idle CPU < 1 %.

    .venv/bin/python bench/node_resources.py [--seconds 10] [--breakdown]

``--breakdown`` also prints where the idle RSS goes: the largest mappings of
/proc/PID/smaps (shared libraries by file; Python's and the C libraries' heap as
``[heap]`` and ``[anon]``) and the number of threads.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from node_common import broker, cleanup

from loa.protocol import SchedulePut
from tests.node_agent.harness import (
    Controller,
    MediaServer,
    NodeProcess,
    item,
    media_blob,
    wait_online,
)
from tests.support.net import wait_until

TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime + stime


def memory(pid: int) -> str:
    """RSS, split into private (anon) memory and shared, file-backed library pages."""
    values = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmRSS", "RssAnon", "RssFile"):
            values[key] = int(rest.split()[0]) / 1024
    return (
        f"RSS {values['VmRSS']:.1f} MB (private {values['RssAnon']:.1f} MB, "
        f"shared libraries {values['RssFile']:.1f} MB)"
    )


def breakdown(pid: int, top: int = 12) -> list[str]:
    """The largest resident mappings (MB), one line each, plus the thread count."""
    rss: dict[str, int] = {}
    name = "[anon]"
    for line in Path(f"/proc/{pid}/smaps").read_text().splitlines():
        head = line.split(maxsplit=5)
        if head and "-" in head[0] and not head[0].endswith(":"):
            name = head[5].strip() if len(head) > 5 else "[anon]"
        elif head and head[0] == "Rss:":
            rss[name] = rss.get(name, 0) + int(head[1])
    lines = [
        f"    {kb / 1024:6.2f} MB  {Path(n).name if n.startswith('/') else n}"
        for n, kb in sorted(rss.items(), key=lambda kv: -kv[1])[:top]
    ]
    threads = len(list(Path(f"/proc/{pid}/task").iterdir()))
    rest = sum(sorted(rss.values(), reverse=True)[top:]) / 1024
    return [*lines, f"    {rest:6.2f} MB  (everything else)", f"  threads: {threads}"]


def measure(pid: int, seconds: float) -> tuple[float, str]:
    c0, t0 = cpu_seconds(pid), time.monotonic()
    time.sleep(seconds)
    c1, t1 = cpu_seconds(pid), time.monotonic()
    return 100 * (c1 - c0) / (t1 - t0), memory(pid)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--breakdown", action="store_true", help="where the idle RSS goes")
    args = ap.parse_args()
    b = broker()
    media = MediaServer()
    media.start()
    ctl = Controller(b.port)
    ctl.start()
    tmp = Path(tempfile.mkdtemp(prefix="loa-bench-res-"))
    node = NodeProcess("res-1", tmp / "res-1", b.url, ctl.public_b64)
    try:
        node.start()
        wait_online(ctl, node.node_id)
        assert node.proc is not None
        pid = node.proc.pid
        time.sleep(2)  # settle after start-up
        idle_cpu, idle_rss = measure(pid, args.seconds)
        idle_map = breakdown(pid) if args.breakdown else []
        content = media.content(media_blob("res"), duration_s=args.seconds + 2)
        ctl.send(
            "schedule.put",
            node.node_id,
            SchedulePut(items=[item(1, content, time.time() + 1.0)]),
        )
        wait_until(lambda: ctl.reports(node.node_id, "play.started"), 10)
        play_cpu, play_rss = measure(pid, args.seconds)
        print(
            f"one agent process (file sink, heartbeat {node.heartbeat_s:g}s), "
            f"{args.seconds:g}s windows"
        )
        print(f"  idle:    CPU {idle_cpu:.2f} %   {idle_rss}")
        print(f"  playing: CPU {play_cpu:.2f} %   {play_rss}")
        if idle_map:
            print("  idle RSS by mapping:")
            print("\n".join(idle_map))
    finally:
        node.stop()
        ctl.stop()
        media.stop()
        cleanup(b)


if __name__ == "__main__":
    main()
