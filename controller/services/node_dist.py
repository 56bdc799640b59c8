"""What a Pi downloads to join: the install script and the ``loa`` wheel of this very version.

Rules:
- ``/node/install.sh`` is controller/install-node.sh with this controller's public URL, version
  and wheel name filled in (``@CONTROLLER_URL@``, ``@VERSION@``, ``@WHEEL@``).
- ``/node/{wheel}`` is ``loa-{version}-py3-none-any.whl``. A controller running from a source
  tree builds it from that tree the first time it is asked (``pip wheel --no-deps
  --no-build-isolation``, about two seconds; once per process, so it is always the running code)
  into ``{data_dir}/node-dist/``; if the build fails it serves ``dist/`` (``make dist``) of that
  tree. An installed controller serves ``{data_dir}/node-dist/`` (copy ``make dist``'s wheel
  there). No wheel of this version: ``wheel_unavailable`` (503).
- Third-party packages (paho-mqtt, cryptography, pydantic, gpiozero) are not served: the Pi's
  pip takes them from the registry it already uses.
"""

from __future__ import annotations

import fcntl
import logging
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

from controller.domain.provisioning import ProvisioningError
from loa import __version__

log = logging.getLogger("controller.node_dist")  # its flat name

SCRIPT = Path(__file__).parent.parent / "install-node.sh"
_built: set[Path] = set()
_lock = threading.Lock()


def wheel_name(version: str = __version__) -> str:
    return f"loa-{version}-py3-none-any.whl"


def source_root() -> Path | None:
    """The source tree this controller runs from, if it runs from one."""
    root = Path(__file__).resolve().parent.parent.parent
    return root if (root / "pyproject.toml").is_file() and (root / "loa").is_dir() else None


def install_script(public_url: str) -> str:
    text = SCRIPT.read_text(encoding="utf-8")
    return (
        text.replace("@CONTROLLER_URL@", public_url.rstrip("/"))
        .replace("@VERSION@", __version__)
        .replace("@WHEEL@", wheel_name())
    )


def _build(source: Path, out: Path) -> Path | None:
    out.mkdir(parents=True, exist_ok=True)
    # Builds from one tree share its build/ folder: one at a time on this machine.
    lock_path = Path(tempfile.gettempdir()) / "loa-wheel-build.lock"
    with lock_path.open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "wheel",
                "-q",
                "--disable-pip-version-check",
                "--no-deps",
                "--no-build-isolation",
                "-w",
                str(out),
                str(source),
            ],
            capture_output=True,
            text=True,
            timeout=300,
        )
    wheel = out / wheel_name()
    if done.returncode != 0 or not wheel.is_file():
        log.error("could not build %s from %s: %s", wheel.name, source, done.stderr[-2000:])
        return None
    return wheel


def node_wheel(data_dir: Path) -> Path:
    """The wheel of this version (built on first use from a source tree); see the rules."""
    out = data_dir / "node-dist"
    source = source_root()
    with _lock:
        if source is None:
            wheel = out / wheel_name()
            if wheel.is_file():
                return wheel
        else:
            wheel = out / wheel_name()
            if wheel in _built and wheel.is_file():
                return wheel
            built = _build(source, out)
            if built is not None:
                _built.add(built)
                return built
            fallback = source / "dist" / wheel_name()
            if fallback.is_file():
                return fallback
    raise ProvisioningError(503, "wheel_unavailable")
