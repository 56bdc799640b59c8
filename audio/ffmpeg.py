"""The ffmpeg and ffprobe calls audio/ makes: decode, probe, limit and encode.

All audio inside Loa is mono float32 at :data:`SAMPLE_RATE`; every call here is deterministic
(no metadata, bit-exact flags) so the same samples always encode to the same bytes.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
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


#: Samples handled at once where a whole recording need not be in memory twice (a 30-minute
#: upload is 160 MB of float32 samples; 2**20 samples are 4 MB).
CHUNK = 1 << 20


def peak(samples: Samples) -> float:
    """The largest absolute sample, computed a chunk at a time (no full-size copy)."""
    if samples.size == 0:
        return 0.0
    return max(float(np.max(np.abs(samples[i : i + CHUNK]))) for i in range(0, samples.size, CHUNK))


def _executable(name: str) -> str:
    exe = shutil.which(name)
    if exe is None:
        raise AudioError("ffmpeg_failed", message_for("ffmpeg_failed") + f" ({name} missing)")
    return exe


def _failed(stderr: bytes) -> AudioError:
    detail = stderr.decode("utf-8", "replace").strip().splitlines()[-1:] or ["?"]
    return AudioError("ffmpeg_failed", message_for("ffmpeg_failed") + f" ({detail[0]})")


def _run_streaming(
    args: list[str], chunks: Iterator[bytes] | None = None, timeout: float = 120
) -> bytearray:
    """Run ffmpeg, feeding it ``chunks`` and reading its output as it comes: memory holds
    the output once (a growing bytearray, no joined copy) and never the whole input. The input
    is written before the output is read, so give ``chunks`` only to a call writing a file."""
    with tempfile.TemporaryFile() as errors:
        proc = subprocess.Popen(
            [_executable(args[0]), *args[1:]],
            stdin=subprocess.PIPE if chunks is not None else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=errors,
        )
        out = bytearray()
        try:
            if chunks is not None:
                assert proc.stdin is not None
                with proc.stdin:
                    for chunk in chunks:
                        proc.stdin.write(chunk)
            assert proc.stdout is not None
            while block := proc.stdout.read(1 << 20):
                out += block
            code = proc.wait(timeout=timeout)
        except (OSError, subprocess.TimeoutExpired):
            proc.kill()
            proc.wait()
            code = -1
        if code != 0:
            errors.seek(0)
            raise _failed(errors.read())
    return out


def _run(args: list[str], data: bytes | None = None, timeout: float = 120) -> bytes:
    exe = _executable(args[0])
    proc = subprocess.run(
        [exe, *args[1:]],
        input=data,
        capture_output=True,
        timeout=timeout,
        check=False,
    )
    if proc.returncode != 0:
        raise _failed(proc.stderr)
    return proc.stdout


def _raw_input() -> list[str]:
    return ["-f", "f32le", "-ar", str(SAMPLE_RATE), "-ac", "1", "-i", "pipe:0"]


def _raw_output() -> list[str]:
    return ["-f", "f32le", "-ar", str(SAMPLE_RATE), "-ac", "1", "pipe:1"]


def decode(source: Path | bytes, max_seconds: float | None = None) -> Samples:
    """Any audio ffmpeg reads → mono float32 samples at :data:`SAMPLE_RATE`.

    A file is decoded as a stream into one buffer the samples are a view of (a long upload is
    in memory once, not three times)."""
    limit = ["-t", f"{max_seconds:.3f}"] if max_seconds else []
    if isinstance(source, Path):
        buffer = _run_streaming(
            ["ffmpeg", *_QUIET, "-i", str(source), "-vn", *limit, *_raw_output()]
        )
        return np.frombuffer(buffer, dtype="<f4")
    else:
        out = _run(["ffmpeg", *_QUIET, "-i", "pipe:0", "-vn", *limit, *_raw_output()], source)
    return np.frombuffer(out, dtype="<f4").astype(np.float32)


def encode_mp3(samples: Samples, dest: Path) -> None:
    """Mono CBR MP3 at :data:`BITRATE`, no tags, bit-exact: same samples → same bytes.

    Peaks above :data:`TARGET_TP` are brought down by ffmpeg's alimiter first."""
    ceiling = 10 ** (TARGET_TP / 20)
    limiter = []
    if samples.size and peak(samples) > ceiling:
        limiter = ["-af", f"alimiter=limit={ceiling:.4f}:level=disabled:attack=5:release=50"]
    _run_streaming(
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
        (  # a chunk at a time: the samples are never copied whole
            np.clip(samples[i : i + CHUNK], -4.0, 4.0).astype("<f4").tobytes()
            for i in range(0, samples.size, CHUNK)
        ),
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
