"""Shared set-up for the node benchmarks: a real Mosquitto, a media server, a signing controller.

Not a benchmark itself (bench/node_*.py scripts import it). Run benchmarks from the repo root:
``.venv/bin/python bench/node_start_jitter.py``.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.support.broker import Mosquitto  # noqa: E402
from tests.support.net import free_port  # noqa: E402

LOA = str(Path(sys.executable).parent / "loa")


def broker() -> Mosquitto:
    directory = Path(tempfile.mkdtemp(prefix="loa-bench-mq-"))
    os.chmod(directory, 0o777)
    b = Mosquitto(directory)
    b.start()
    return b


def controller_process(
    data_dir: Path, mqtt_url: str, *extra: str, env: dict[str, str] | None = None
) -> tuple[subprocess.Popen[bytes], int]:
    """A real `loa controller` on a free port (its log in ``data_dir``/../controller.log)."""
    port = free_port()
    argv = [LOA, "controller", "--data-dir", str(data_dir), "--port", str(port)]
    process = subprocess.Popen(
        [*argv, "--mqtt-url", mqtt_url, *extra],
        stdout=subprocess.DEVNULL,
        stderr=(data_dir.parent / "controller.log").open("wb"),
        env=env,
    )
    return process, port


def simulators(
    tmp: Path, broker_url: str, public_key: str, shares: list[Path]
) -> list[subprocess.Popen[bytes]]:
    """One ``loa node simulate`` process per credentials file (its nodes' state under
    ``tmp/nodes-{i}``, its errors in ``tmp/sim-{i}.log``), heartbeats every 20 s."""
    return [
        subprocess.Popen(
            [
                LOA,
                "node",
                "simulate",
                "--count",
                str(len(json.loads(share.read_text()))),
                "--broker",
                broker_url,
                "--data-dir",
                str(tmp / f"nodes-{i}"),
                "--controller-public-key",
                public_key,
                "--credentials",
                str(share),
                "--heartbeat-s",
                "20",
            ],
            stdout=subprocess.DEVNULL,
            stderr=(tmp / f"sim-{i}.log").open("wb"),
        )
        for i, share in enumerate(shares)
    ]


def cleanup(b: Mosquitto) -> None:
    b.stop()
    shutil.rmtree(b.directory, ignore_errors=True)


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    k = (len(ordered) - 1) * p / 100
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def summary(values_ms: list[float]) -> str:
    return (
        f"n={len(values_ms)}  p50={percentile(values_ms, 50):.2f} ms  "
        f"p99={percentile(values_ms, 99):.2f} ms  max={max(values_ms):.2f} ms  "
        f"mean={statistics.fmean(values_ms):.2f} ms"
    )
