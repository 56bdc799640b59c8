"""Volume through the ALSA mixer (amixer).

The engine asks for an item's volume right before it starts; running amixer costs milliseconds,
so a level already set (within the last minute) is not set again.
"""

from __future__ import annotations

import logging
import shutil
import subprocess
import threading
import time

log = logging.getLogger(__name__)

#: Re-apply an unchanged level after this long (someone may have used alsamixer meanwhile).
REAPPLY_S = 60.0

_last: dict[tuple[str, str], tuple[int, float]] = {}
_lock = threading.Lock()


def amixer_command(percent: int, control: str, card: str = "") -> list[str]:
    cmd = ["amixer", "-q"]
    if card:
        cmd += ["-c", card]
    return [*cmd, "sset", control, f"{max(0, min(100, percent))}%"]


def set_volume(percent: int, control: str, card: str = "") -> bool:
    """Set the mixer; False (logged) where there is no mixer or control."""
    if not control or shutil.which("amixer") is None:
        return False
    percent = max(0, min(100, percent))
    with _lock:
        prev = _last.get((control, card))
        if prev and prev[0] == percent and time.monotonic() - prev[1] < REAPPLY_S:
            return True
    try:
        done = subprocess.run(
            amixer_command(percent, control, card),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        log.warning("amixer: %s", exc)
        return False
    if done.returncode != 0:
        log.debug("amixer failed: %s", done.stderr.decode(errors="replace").strip())
        return False
    with _lock:
        _last[(control, card)] = (percent, time.monotonic())
    return True
