"""Volume through the ALSA mixer (amixer)."""

from __future__ import annotations

import logging
import shutil
import subprocess

log = logging.getLogger(__name__)


def amixer_command(percent: int, control: str, card: str = "") -> list[str]:
    cmd = ["amixer", "-q"]
    if card:
        cmd += ["-c", card]
    return [*cmd, "sset", control, f"{max(0, min(100, percent))}%"]


def set_volume(percent: int, control: str, card: str = "") -> bool:
    """Set the mixer; False (logged) where there is no mixer or control."""
    if not control or shutil.which("amixer") is None:
        return False
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
    return True
