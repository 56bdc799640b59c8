"""Cost of the machine listening check: seconds of CPU (and wall) per minute of speech that
audio.listening.listen takes, and how much of the text the recognizer heard.

Run: .venv/bin/python bench/audio_listening.py [--engine espeak-ng] [--runs 3]
Speaks the intelligibility bench's 32 sentences as one announcement (chimes included, as
delivered), then listens to it. Needs viet-asr (the `bench` extra).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

from audio_intelligibility import SENTENCES

from audio import listening
from audio.render import VoiceSettings, render_text


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--engine", default="espeak-ng")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    if not listening.available():
        print("viet-asr is not installed: pip install viet-asr", file=sys.stderr)
        return 1
    with tempfile.TemporaryDirectory() as tmp:
        spoken = render_text(" ".join(SENTENCES), Path(tmp), VoiceSettings(engine=args.engine))
        print(
            f"{spoken.duration_s:.1f} s of speech ({args.engine}), {listening.recognizer_version()}"
        )
        cpu, wall = [], []
        for _ in range(args.runs):
            started = time.perf_counter()
            result = listening.listen(spoken.path, spoken.normalized_text)
            wall.append(time.perf_counter() - started)
            cpu.append(result.cpu_s)
            print(
                f"cpu {result.cpu_s:.1f} s, wall {wall[-1]:.1f} s, heard {result.heard_share:.1%},"
                f" WER {result.word_error_rate:.1%}",
                flush=True,
            )
    minutes = spoken.duration_s / 60
    print(
        f"per minute of speech: CPU {statistics.median(cpu) / minutes:.1f} s, "
        f"wall {statistics.median(wall) / minutes:.1f} s (median of {args.runs})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
