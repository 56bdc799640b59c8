"""The ffmpeg and ffprobe calls audio/ makes: decode, probe, limit and encode.

All audio inside Loa is mono float32 at :data:`SAMPLE_RATE`; every call here is deterministic
(no metadata, bit-exact flags) so the same samples always encode to the same bytes.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import numpy.typing as npt

from audio.errors import AudioError
from audio.messages import message_for

Samples = npt.NDArray[np.float32]

#: Working and delivery sample rate: MPEG-2 Layer III at 22.05 kHz suits speech at 48 kbps.
SAMPLE_RATE = 22050
#: Delivery bitrate: 48 kbps CBR = 360 KB per minute.
BITRATE = "48k"

#: Loudness target for all delivered audio (EBU R128 integrated loudness, LUFS) and the peak
#: ceiling (dBFS): loud and even for horn speakers outdoors, with headroom for MP3 overshoot.
TARGET_I = -16.0
TARGET_TP = -1.5

_QUIET = ["-hide_banner", "-nostdin", "-loglevel", "error"]


def _run(args: list[str], data: bytes | None = None, timeout: float = 120) -> bytes:
    exe = shutil.which(args[0])
    if exe is None:
        raise AudioError("ffmpeg_failed", message_for("ffmpeg_failed") + f" ({args[0]} missing)")
    proc = subprocess.run(
        [exe, *args[1:]],
        input=data,
        capture_output=True,
        timeout=timeout,
        check=False,
    )
    if proc.returncode != 0:
        detail = proc.stderr.decode("utf-8", "replace").strip().splitlines()[-1:] or ["?"]
        raise AudioError("ffmpeg_failed", message_for("ffmpeg_failed") + f" ({detail[0]})")
    return proc.stdout


def _raw_input() -> list[str]:
    return ["-f", "f32le", "-ar", str(SAMPLE_RATE), "-ac", "1", "-i", "pipe:0"]


def _raw_output() -> list[str]:
    return ["-f", "f32le", "-ar", str(SAMPLE_RATE), "-ac", "1", "pipe:1"]


def decode(source: Path | bytes, max_seconds: float | None = None) -> Samples:
    """Any audio ffmpeg reads → mono float32 samples at :data:`SAMPLE_RATE`."""
    limit = ["-t", f"{max_seconds:.3f}"] if max_seconds else []
    if isinstance(source, Path):
        out = _run(["ffmpeg", *_QUIET, "-i", str(source), "-vn", *limit, *_raw_output()])
    else:
        out = _run(["ffmpeg", *_QUIET, "-i", "pipe:0", "-vn", *limit, *_raw_output()], source)
    return np.frombuffer(out, dtype="<f4").astype(np.float32)


def encode_mp3(samples: Samples, dest: Path) -> None:
    """Mono CBR MP3 at :data:`BITRATE`, no tags, bit-exact: same samples → same bytes.

    Peaks above :data:`TARGET_TP` are brought down by ffmpeg's alimiter first."""
    ceiling = 10 ** (TARGET_TP / 20)
    limiter = []
    if samples.size and float(np.max(np.abs(samples))) > ceiling:
        limiter = ["-af", f"alimiter=limit={ceiling:.4f}:level=disabled:attack=5:release=50"]
    _run(
        [
            "ffmpeg",
            *_QUIET,
            "-y",
            *_raw_input(),
            *limiter,
            "-map_metadata",
            "-1",
            "-fflags",
            "+bitexact",
            "-flags:a",
            "+bitexact",
            "-c:a",
            "libmp3lame",
            "-b:a",
            BITRATE,
            "-ar",
            str(SAMPLE_RATE),
            "-ac",
            "1",
            "-id3v2_version",
            "0",
            "-write_id3v1",
            "0",
            "-f",
            "mp3",
            str(dest),
        ],
        np.clip(samples, -4.0, 4.0).astype("<f4").tobytes(),
    )


def probe(path: Path) -> dict[str, object] | None:
    """ffprobe's view of a file (format and streams), or None when ffprobe cannot read it."""
    exe = shutil.which("ffprobe")
    if exe is None:
        raise AudioError("ffmpeg_failed", message_for("ffmpeg_failed") + " (ffprobe missing)")
    proc = subprocess.run(
        [
            exe,
            "-v",
            "error",
            "-show_entries",
            "format=format_name,duration,size,bit_rate:"
            "stream=codec_type,codec_name,channels,sample_rate,duration,bit_rate",
            "-of",
            "json",
            str(path),
        ],
        capture_output=True,
        timeout=60,
        check=False,
    )
    if proc.returncode != 0:
        return None
    try:
        result: dict[str, object] = json.loads(proc.stdout or b"{}")
    except json.JSONDecodeError:
        return None
    return result
