"""Peak memory of delivering the longest allowed upload (issue 12, finding 9).

Makes a 29-minute FLAC with ffmpeg (a speech-like tone: amplitude-modulated, with pauses), then
delivers it with ``audio.upload.render_upload`` in a fresh Python process and prints that
process's peak resident memory (ru_maxrss) and how long it took.

    .venv/bin/python bench/upload_memory.py [--minutes 29] [--repeats 1]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CHILD = """
import json, resource, sys, threading, time
from pathlib import Path
from audio.settings import VoiceSettings
from audio.upload import render_upload
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
start = time.monotonic()
results = []
def one():
    settings = VoiceSettings(repeats=int(sys.argv[3]))
    results.append(render_upload(Path(sys.argv[1]), Path(sys.argv[2]), settings))
threads = [threading.Thread(target=one) for _ in range(int(sys.argv[4]))]
for t in threads:
    t.start()
for t in threads:
    t.join()
out = results[0]
print(json.dumps({
    "baseline_mb": before / 1024,
    "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    "seconds": round(time.monotonic() - start, 1),
    "duration_s": out.duration_s,
}))
"""


def make_flac(path: Path, minutes: float) -> None:
    """A long speech-like recording: 8 kHz mono (like a phone recording), a 220 Hz
    tone with syllable-rate tremolo and a pause each second."""
    subprocess.run(
        [
            "ffmpeg",
            "-hide_banner",
            "-loglevel",
            "error",
            "-y",
            "-f",
            "lavfi",
            "-i",
            f"sine=frequency=220:sample_rate=8000:duration={minutes * 60}",
            "-af",
            "tremolo=f=4:d=0.8,volume='if(lt(mod(t,1),0.8),1,0.02)':eval=frame",
            "-ac",
            "1",
            "-c:a",
            "flac",
            str(path),
        ],
        check=True,
    )


def measure(source: Path, repeats: int = 1, at_once: int = 1) -> dict[str, float]:
    """Deliver ``source`` in a child process (``at_once`` threads doing it at the same time,
    as several officials uploading); its figures as a dict."""
    with tempfile.TemporaryDirectory() as media:
        proc = subprocess.run(
            [sys.executable, "-c", CHILD, str(source), media, str(repeats), str(at_once)],
            capture_output=True,
            text=True,
            check=True,
        )
    result: dict[str, float] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=29.0)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--at-once", type=int, default=1, help="uploads delivered concurrently")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        flac = Path(tmp) / "long.flac"
        start = time.monotonic()
        make_flac(flac, args.minutes)
        made = time.monotonic() - start
        print(f"FLAC: {args.minutes:g} min, {flac.stat().st_size / 1e6:.1f} MB ({made:.0f} s)")
        figures = measure(flac, args.repeats, args.at_once)
    print(
        f"render_upload x{args.at_once}: peak RSS {figures['peak_mb']:.0f} MB "
        f"(Python + imports {figures['baseline_mb']:.0f} MB), {figures['seconds']} s, "
        f"delivered {figures['duration_s'] / 60:.1f} min"
    )
    print(
        f"children's peak: {resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024:.0f} MB"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
