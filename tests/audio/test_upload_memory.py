"""Issue 12, finding 9: the longest allowed upload is delivered within a small controller's
memory. A real 29-minute FLAC made by ffmpeg goes through ``render_upload`` in a fresh process,
whose peak resident memory is measured (the old code took 1.2 GB; a 2 GB controller also holds
the service, the database and the other work)."""

from __future__ import annotations

from pathlib import Path

import pytest

from audio.upload import MAX_UPLOAD_BYTES, MAX_UPLOAD_SECONDS
from bench.upload_memory import make_flac, measure

#: What one upload may add at most, on top of the process that does it.
PEAK_LIMIT_MB = 600


@pytest.fixture(scope="module")
def long_flac(tmp_path_factory: pytest.TempPathFactory) -> Path:
    flac = tmp_path_factory.mktemp("upload") / "hop-dan.flac"
    make_flac(flac, 29)
    assert flac.stat().st_size < MAX_UPLOAD_BYTES  # an upload the controller accepts
    return flac


def test_a_29_minute_flac_is_delivered_in_bounded_memory(long_flac: Path):
    figures = measure(long_flac)
    assert figures["duration_s"] > 28 * 60
    assert figures["duration_s"] < MAX_UPLOAD_SECONDS + 5
    assert figures["peak_mb"] < PEAK_LIMIT_MB, figures


def test_two_long_uploads_at_once_stay_in_the_same_bound(long_flac: Path):
    figures = measure(long_flac, at_once=2)
    assert figures["peak_mb"] < PEAK_LIMIT_MB, figures
