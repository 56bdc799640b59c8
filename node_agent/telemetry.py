"""Heartbeat readings: each a plain function returning None where the system can't tell."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

from loa.protocol import CellularLink

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


def _run(cmd: list[str], timeout: float = 3.0, env: dict[str, str] | None = None) -> str | None:
    if shutil.which(cmd[0]) is None:
        return None
    try:
        done = subprocess.run(
            cmd, capture_output=True, text=True, timeout=timeout, check=False, env=env
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout if done.returncode == 0 else None


# --- cellular modem (ModemManager) -------------------------------------------------------------

#: Which block of ``mmcli --signal-get`` belongs to an access technology.
_SIGNAL_BLOCK = {
    "lte": "lte",
    "5gnr": "5g",
    "umts": "umts",
    "hsdpa": "umts",
    "hsupa": "umts",
    "hspa": "umts",
    "hspa-plus": "umts",
    "gsm": "gsm",
    "gsm-compact": "gsm",
    "gprs": "gsm",
    "edge": "gsm",
    "1xrtt": "cdma1x",
    "evdo0": "evdo",
    "evdoa": "evdo",
    "evdob": "evdo",
}
_SIGNAL_FIELDS = {"rssi": "rssi_dbm", "rsrp": "rsrp_dbm", "rsrq": "rsrq_db", "snr": "snr_db"}
_MMCLI_TIMEOUT_S = 2.0
_cellular_cache: tuple[float, CellularLink | None] | None = None
_cellular_lock = threading.Lock()


def _mm_text(value: Any, limit: int) -> str | None:
    """An mmcli string; ``--`` (ModemManager's "unknown") and empty are None."""
    if not isinstance(value, str) or value.strip() in ("", "--"):
        return None
    return value.strip()[:limit]


def _mm_number(value: Any) -> float | None:
    """An mmcli figure: ``"-104.00"``; some locales print ``"-67,00"``; ``--`` is None."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if not isinstance(value, str):
        return None
    try:
        return float(value.strip().replace(",", "."))
    except ValueError:
        return None


def _json(text: str | None) -> dict[str, Any] | None:
    if not text:
        return None
    try:
        data = json.loads(text)
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


def parse_mmcli_list(text: str | None) -> list[str]:
    """Modem paths from ``mmcli -L -J``: ``{"modem-list": ["/org/…/Modem/0", …]}``."""
    data = _json(text) or {}
    modems = data.get("modem-list")
    return [m for m in modems if isinstance(m, str) and m] if isinstance(modems, list) else []


def parse_mmcli_modem(text: str | None) -> dict[str, Any]:
    """quality_pct, access_tech, operator, state from ``mmcli -m M -J`` (absent ones left out)."""
    modem = (_json(text) or {}).get("modem")
    if not isinstance(modem, dict):
        return {}
    generic: dict[str, Any] = modem.get("generic") or {}
    gpp: dict[str, Any] = modem.get("3gpp") or {}
    if not isinstance(generic, dict) or not isinstance(gpp, dict):
        return {}
    out: dict[str, Any] = {}
    quality = generic.get("signal-quality")
    if isinstance(quality, dict) and str(quality.get("recent")).lower() in ("yes", "true"):
        value = _mm_number(quality.get("value"))
        if value is not None and 0 <= value <= 100:
            out["quality_pct"] = int(value)
    techs = generic.get("access-technologies")
    if isinstance(techs, str):
        techs = [t.strip() for t in techs.split(",")]
    if isinstance(techs, list):
        known = [t for t in (_mm_text(t, 16) for t in techs) if t and t != "unknown"]
        if known:
            out["access_tech"] = ",".join(known)[:64]
    if operator := _mm_text(gpp.get("operator-name"), 64):
        out["operator"] = operator
    if state := _mm_text(generic.get("state"), 32):
        out["state"] = state
    return out


def parse_mmcli_signal(text: str | None, access_tech: str | None) -> dict[str, float]:
    """rssi/rsrp/rsrq/snr from ``mmcli -m M --signal-get -J``: the block of the access
    technology in use, else the first block with any reading (all ``--`` until the modem's
    extended signal polling is set up)."""
    modem = (_json(text) or {}).get("modem")
    signal = modem.get("signal") if isinstance(modem, dict) else None
    if not isinstance(signal, dict):
        return {}

    def readings(block: Any) -> dict[str, float]:
        if not isinstance(block, dict):
            return {}
        found = {name: _mm_number(block.get(key)) for key, name in _SIGNAL_FIELDS.items()}
        return {k: v for k, v in found.items() if v is not None}

    for tech in (access_tech or "").split(","):
        block = _SIGNAL_BLOCK.get(tech.strip())
        if block and (values := readings(signal.get(block))):
            return values
    for name in ("5g", "lte", "umts", "gsm", "cdma1x", "evdo"):
        if values := readings(signal.get(name)):
            return values
    return {}


def cellular(max_age_s: float = 25.0) -> CellularLink | None:
    """The first modem's link from ModemManager's ``mmcli``; None without mmcli or a modem.
    Cached for ``max_age_s`` (each reading is three mmcli runs)."""
    global _cellular_cache
    with _cellular_lock:
        now = time.monotonic()
        if _cellular_cache and now - _cellular_cache[0] < max_age_s:
            return _cellular_cache[1]
        result = _read_cellular()
        _cellular_cache = (now, result)
        return result


def _read_cellular() -> CellularLink | None:
    if shutil.which("mmcli") is None:
        return None
    env = {**os.environ, "LC_ALL": "C"}  # figures with a decimal point
    modems = parse_mmcli_list(_run(["mmcli", "-L", "-J"], _MMCLI_TIMEOUT_S, env))
    if not modems:
        return None
    modem = modems[0]
    info = parse_mmcli_modem(_run(["mmcli", "-m", modem, "-J"], _MMCLI_TIMEOUT_S, env))
    if not info:
        return None
    signal = _run(["mmcli", "-m", modem, "--signal-get", "-J"], _MMCLI_TIMEOUT_S, env)
    return CellularLink.model_validate(
        {**info, **parse_mmcli_signal(signal, info.get("access_tech"))}
    )


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
