"""Issue 12, finding 9: the longest allowed upload is delivered within a small controller's
memory. A real 29-minute FLAC made by ffmpeg goes through ``render_upload`` in a fresh process,
whose peak resident memory is measured (the old code took 1.2 GB; a 2 GB controller also holds
the service, the database and the other work)."""

from __future__ import annotations

from pathlib import Path

from audio.upload import MAX_UPLOAD_BYTES, MAX_UPLOAD_SECONDS
from bench.upload_memory import make_flac, measure

#: What one upload may add at most, on top of the process that does it.
PEAK_LIMIT_MB = 600


def test_a_29_minute_flac_is_delivered_in_bounded_memory(tmp_path: Path):
    flac = tmp_path / "hop-dan.flac"
    make_flac(flac, 29)
    assert flac.stat().st_size < MAX_UPLOAD_BYTES  # an upload the controller accepts
    figures = measure(flac)
    assert figures["duration_s"] > 28 * 60
    assert figures["duration_s"] < MAX_UPLOAD_SECONDS + 5
    assert figures["peak_mb"] < PEAK_LIMIT_MB, figures
