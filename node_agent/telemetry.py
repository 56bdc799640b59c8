"""Heartbeat readings: each a plain function returning None where the system can't tell."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import threading
import time
from pathlib import Path

_clock_cache: tuple[float, tuple[bool | None, float | None]] | None = None
_clock_lock = threading.Lock()


def cpu_temperature_c(root: Path = Path("/sys/class/thermal")) -> float | None:
    try:
        for zone in sorted(root.glob("thermal_zone*")):
            raw = (zone / "temp").read_text().strip()
            if raw:
                return round(int(raw) / 1000, 1)
    except (OSError, ValueError):
        pass
    return None


def load1() -> float | None:
    try:
        return round(os.getloadavg()[0], 2)
    except OSError:
        return None


def disk_free_mb(path: Path) -> float | None:
    try:
        return round(shutil.disk_usage(path).free / 2**20, 1)
    except OSError:
        return None


def signal_dbm(wireless: Path = Path("/proc/net/wireless")) -> float | None:
    """Wi-Fi signal level of the first interface in /proc/net/wireless."""
    try:
        lines = wireless.read_text().splitlines()[2:]
    except OSError:
        return None
    for line in lines:
        fields = line.split()
        if len(fields) >= 4:
            try:
                return float(fields[3].rstrip("."))
            except ValueError:
                continue
    return None


def parse_chronyc_tracking(text: str) -> tuple[bool | None, float | None]:
    offset = None
    m = re.search(r"System time\s*:\s*([0-9.]+) seconds (fast|slow)", text)
    if m:
        offset = float(m.group(1)) * 1000 * (1 if m.group(2) == "fast" else -1)
    leap = re.search(r"Leap status\s*:\s*(.+)", text)
    synced = None if leap is None else leap.group(1).strip() == "Normal"
    return synced, (round(offset, 3) if offset is not None else None)


def _run(cmd: list[str]) -> str | None:
    if shutil.which(cmd[0]) is None:
        return None
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=3, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout if done.returncode == 0 else None


def clock_status(max_age_s: float = 60.0) -> tuple[bool | None, float | None]:
    """(synchronised, offset ms) from chrony, else timedatectl; cached for the process."""
    global _clock_cache
    with _clock_lock:
        now = time.monotonic()
        if _clock_cache and now - _clock_cache[0] < max_age_s:
            return _clock_cache[1]
        result: tuple[bool | None, float | None] = (None, None)
        out = _run(["chronyc", "-n", "tracking"])
        if out:
            result = parse_chronyc_tracking(out)
        else:
            out = _run(["timedatectl", "show", "-p", "NTPSynchronized", "--value"])
            if out and out.strip() in ("yes", "no"):
                result = (out.strip() == "yes", None)
        _clock_cache = (now, result)
        return result
