"""The README's set-up commands, run for real: `make`'s system-package and Python-version steps.

The package step once never ran (a pattern rule for phony targets, which make never searches)
and every machine that had the packages by hand hid it. These tests run the Makefile's own
recipes with a PATH that lacks the commands and a stand-in ``apt-get`` that records how it was
called, so the step is proven wherever the suite runs.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MAKE = shutil.which("make")

pytestmark = pytest.mark.skipif(MAKE is None, reason="make is what these tests run")


def _packages(target: str) -> list[tuple[str, str]]:
    """The Makefile's command:package pairs for ``sysdeps-<target>`` (expanded by make)."""
    out = subprocess.run(
        [MAKE or "make", "-s", "-C", str(ROOT), "--no-print-directory", "-n", f"sysdeps-{target}"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    line = next(x for x in out.splitlines() if "scripts/sysdeps.sh" in x)
    return [tuple(p.split(":", 1)) for p in line.split("sysdeps.sh", 1)[1].split()]  # type: ignore[misc]


def _bin(tmp_path: Path, present: list[str]) -> Path:
    """A PATH folder with only what the recipe itself runs, the ``present`` commands (empty
    stand-ins) and an ``apt-get`` that writes each call's arguments to a log."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("sh", "id"):
        real = shutil.which(tool)
        assert real, tool
        (bin_dir / tool).symlink_to(real)
    # The interpreter itself, not a version manager's shell shim (which needs bash on PATH).
    (bin_dir / "python3").symlink_to(os.path.realpath(sys.executable))
    for cmd in present:
        stub = bin_dir / cmd
        stub.write_text("#!/bin/sh\nexit 0\n")
        stub.chmod(0o755)
    apt = bin_dir / "apt-get"
    apt.write_text(f'#!/bin/sh\necho "$*" >> {tmp_path / "apt.log"}\n')
    apt.chmod(0o755)
    return bin_dir


def _run(tmp_path: Path, target: str, present: list[str], **env: str):
    bin_dir = _bin(tmp_path, present)
    return subprocess.run(
        [MAKE or "make", "-C", str(ROOT), "--no-print-directory", f"sysdeps-{target}"],
        capture_output=True,
        text=True,
        env={
            "PATH": str(bin_dir),
            "LOA_SYSDEPS_SBIN": str(tmp_path / "no-sbin"),
            "HOME": str(tmp_path),
            **env,
        },
    )


def _apt_calls(tmp_path: Path) -> list[str]:
    log = tmp_path / "apt.log"
    return log.read_text().splitlines() if log.exists() else []


@pytest.mark.parametrize("target", ["demo", "test"])
def test_missing_commands_install_exactly_their_packages(tmp_path: Path, target: str) -> None:
    if os.geteuid() != 0:
        pytest.skip("the recipe installs packages as root only")
    pairs = _packages(target)
    assert ("ffmpeg", "ffmpeg") in pairs and ("espeak-ng", "espeak-ng") in pairs
    result = _run(tmp_path, target, present=[])
    assert result.returncode == 0, result.stdout + result.stderr
    wanted = list(dict.fromkeys(pkg for _, pkg in pairs))
    assert _apt_calls(tmp_path) == [
        "update -qq",
        "install -y -qq --no-install-recommends " + " ".join(wanted),
    ]


def test_only_the_missing_packages_are_installed(tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("the recipe installs packages as root only")
    pairs = _packages("test")
    # ffprobe is missing although ffmpeg is there: its package is named once, still.
    present = [cmd for cmd, _ in pairs if cmd not in ("ffprobe", "chromium")]
    result = _run(tmp_path, "test", present=present)
    assert result.returncode == 0, result.stderr
    assert _apt_calls(tmp_path)[-1] == "install -y -qq --no-install-recommends ffmpeg chromium"


@pytest.mark.parametrize("target", ["demo", "test"])
def test_nothing_missing_calls_no_apt_get(tmp_path: Path, target: str) -> None:
    result = _run(tmp_path, target, present=[cmd for cmd, _ in _packages(target)])
    assert result.returncode == 0, result.stderr
    assert _apt_calls(tmp_path) == []


def test_an_old_python_stops_with_one_clear_line(tmp_path: Path) -> None:
    old = tmp_path / "python3.9"
    old.write_text('#!/bin/sh\ncase "$1" in --version) echo "Python 3.9.2";; *) exit 1;; esac\n')
    old.chmod(0o755)
    result = _run(tmp_path, "demo", present=[], PYTHON=str(old))
    assert result.returncode != 0
    assert re.search(
        r"Loa needs Python 3\.11 or newer; .*python3\.9 is Python 3\.9\.2", result.stderr
    )
    assert _apt_calls(tmp_path) == [], "nothing is installed for a Python that cannot run Loa"
