from __future__ import annotations

import io
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from loa.cli import main

from .helpers import ffprobe


@dataclass
class Ran:
    returncode: int
    stdout: str
    stderr: str


@pytest.fixture
def loa(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch):
    """Run ``loa tts …`` in this process (the same parser and handlers as the command)."""

    def run(*args: str, stdin: str | None = None) -> Ran:
        if stdin is not None:
            monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
        code = main(["tts", *args])
        out = capsys.readouterr()
        return Ran(code, out.out, out.err)

    return run


def test_synth_writes_a_mono_mp3_at_the_delivery_bitrate(loa, tmp_path: Path):
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


def test_synth_errors_are_shown_in_vietnamese_with_their_code(loa, tmp_path: Path):
    proc = loa("synth", "   ", "-o", str(tmp_path / "x.mp3"))
    assert proc.returncode == 2
    assert "[empty_text]" in proc.stderr
    assert "trống" in proc.stderr
    assert not (tmp_path / "x.mp3").exists()


def test_normalize_reads_stdin_one_line_out_per_line_in(loa):
    proc = loa("normalize", stdin="QL27\n\nGọi 113\n")
    assert proc.stdout == "quốc lộ hai mươi bảy\n\ngọi một một ba\n"


def test_normalize_uses_a_lexicon_file(loa, tmp_path: Path):
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


def test_voices_lists_engines_and_the_auto_order(loa):
    ran = loa("voices")
    assert ran.returncode == 0
    assert "espeak-ng\tcó\tvi, vi+f2" in ran.stdout
    assert "auto\tpiper,espeak-ng" in ran.stdout
