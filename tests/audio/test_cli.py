from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from .helpers import ffprobe


def loa(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "loa.cli", "tts", *args],
        input=stdin,
        capture_output=True,
        text=True,
        check=False,
    )


def test_synth_writes_a_mono_mp3_at_the_delivery_bitrate(tmp_path: Path):
    out = tmp_path / "x.mp3"
    proc = loa(
        "synth",
        "UBND xã thông báo.",
        "-o",
        str(out),
        "--engine",
        "espeak-ng",
        "--voice",
        "vi-vn-x-south",
        "--rate",
        "170",
        "--no-chime",
    )
    assert proc.returncode == 0, proc.stderr
    stream = ffprobe(out)["streams"][0]
    assert (stream["codec_name"], stream["channels"], int(stream["bit_rate"])) == ("mp3", 1, 48000)
    assert "engine=espeak-ng voice=vi-vn-x-south" in proc.stdout
    assert float(ffprobe(out)["format"]["duration"]) < 4  # no chimes (4.7 s with them)


def test_synth_errors_are_shown_in_vietnamese_with_their_code(tmp_path: Path):
    proc = loa("synth", "   ", "-o", str(tmp_path / "x.mp3"))
    assert proc.returncode == 2
    assert "[empty_text]" in proc.stderr
    assert "trống" in proc.stderr
    assert not (tmp_path / "x.mp3").exists()


def test_normalize_reads_stdin_one_line_out_per_line_in(tmp_path: Path):
    proc = loa("normalize", stdin="QL27\n\nGọi 113\n")
    assert proc.stdout == "quốc lộ hai mươi bảy\n\ngọi một một ba\n"


def test_normalize_uses_a_lexicon_file(tmp_path: Path):
    lexicon = tmp_path / "lexicon.tsv"
    lexicon.write_text("Ea Súp\tÊ a Súp\n", encoding="utf-8")
    proc = loa("normalize", "huyện Ea Súp", "--lexicon", str(lexicon))
    assert proc.stdout == "huyện ê a súp\n"


def test_cli_module_imports_only_argparse_level_modules():
    code = (
        "import sys, audio.cli; "
        "heavy = [m for m in ('numpy', 'pydub', 'sea_g2p', 'piper', 'gtts', 'httpx') "
        "if m in sys.modules]; print(heavy)"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert proc.stdout.strip() == "[]"
