"""Settings that cannot work stop the controller at start with one line naming the variable."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from controller.core.settings import Settings


@pytest.mark.parametrize("sender", ["Xã Lạc Lâm", "canhbao@xa,lac-lam", "a<b", "a&b"])
def test_a_cap_sender_that_cap_forbids_is_refused(tmp_path: Path, sender: str) -> None:
    with pytest.raises(ValueError, match="LOA_CAP_SENDER"):
        Settings(data_dir=tmp_path, cap_sender=sender)


def test_a_good_cap_sender_and_the_default_are_accepted(tmp_path: Path) -> None:
    assert Settings(data_dir=tmp_path, cap_sender="canhbao@xa-lac-lam.gov.vn").cap_sender
    assert Settings(data_dir=tmp_path).cap_sender == ""


def test_the_controller_stops_at_start_with_one_line(tmp_path: Path) -> None:
    env = {**os.environ, "LOA_CAP_SENDER": "Xã Lạc Lâm", "LOA_DATA_DIR": str(tmp_path)}
    done = subprocess.run(
        [sys.executable, "-m", "loa", "controller", "--port", "1"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode != 0
    assert done.stderr.strip().splitlines() == [
        "loa controller: LOA_CAP_SENDER 'Xã Lạc Lâm': a CAP sender has no spaces, commas, "
        "'<' or '&' (e.g. canhbao@xa-lac-lam.gov.vn)"
    ]
