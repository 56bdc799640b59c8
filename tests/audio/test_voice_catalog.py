"""``loa tts install-voice NAME``: a Vietnamese voice from Piper's catalogue, against a local
fake catalogue serving a tiny voice built here. Nothing here calls out."""

from __future__ import annotations

from pathlib import Path

import pytest

from audio.engines import piper
from audio.errors import AudioError
from audio.voices import install_from_catalog, installed_voices
from loa.cli import main

from .fakes import FakeCatalog, fake_catalog
from .helpers import build_tiny_piper_voice

NAME = "vi_VN-tiny-medium"


@pytest.fixture
def tiny_voice(tmp_path: Path) -> tuple[Path, Path]:
    return build_tiny_piper_voice(tmp_path / "built", NAME)


@pytest.fixture
def catalog(tiny_voice: tuple[Path, Path]):
    with fake_catalog() as fake:
        fake.add_voice(NAME, *tiny_voice)
        yield fake


def voices_dir_is_untouched(directory: Path) -> bool:
    """Nothing installed and nothing half-written (no temporary folder or file left)."""
    return not directory.exists() or not any(directory.iterdir())


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["tts", "install-voice", *args])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_install_voice_by_name_downloads_checks_and_installs(
    tmp_path: Path, catalog: FakeCatalog, capsys: pytest.CaptureFixture[str]
):
    code, out, _ = run(capsys, NAME, "--catalog-url", catalog.url)
    assert code == 0
    assert NAME in out
    assert installed_voices() == [NAME]
    assert piper.available() and piper.default_voice() == NAME
    folder = f"vi/vi_VN/tiny/medium/{NAME}"
    assert catalog.seen == ["voices.json", f"{folder}.onnx", f"{folder}.onnx.json"]
    assert sorted(p.name for p in (tmp_path / "voices").iterdir()) == [
        f"{NAME}.onnx",
        f"{NAME}.onnx.json",
    ]


def test_the_catalogue_url_comes_from_the_environment(
    catalog: FakeCatalog, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv("LOA_PIPER_CATALOG_URL", catalog.url.rstrip("/"))
    assert install_from_catalog(NAME) == NAME


@pytest.mark.parametrize("wrong", [".onnx", ".onnx.json"])
def test_a_wrong_checksum_installs_nothing(
    tmp_path: Path,
    tiny_voice: tuple[Path, Path],
    capsys: pytest.CaptureFixture[str],
    wrong: str,
):
    with fake_catalog() as fake:
        fake.add_voice(NAME, *tiny_voice, wrong_md5_for=wrong)
        code, _, err = run(capsys, NAME, "--catalog-url", fake.url)
    assert code == 2
    assert err.count("\n") == 1 and "[voice_checksum]" in err
    assert f"{NAME}{wrong}" in err
    assert voices_dir_is_untouched(tmp_path / "voices")


def test_a_voice_that_is_not_vietnamese_is_refused_before_downloading(
    tmp_path: Path, tiny_voice: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
):
    with fake_catalog() as fake:
        fake.add_voice("en_US-tiny-medium", *tiny_voice, family="en", code="en_US")
        code, _, err = run(capsys, "en_US-tiny-medium", "--catalog-url", fake.url)
    assert code == 2
    assert err.count("\n") == 1 and "[voice_not_vietnamese]" in err and "en_US" in err
    assert fake.seen == ["voices.json"]
    assert voices_dir_is_untouched(tmp_path / "voices")


def test_a_missing_network_is_one_clear_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    # the autouse fixture points the catalogue at a closed local port
    code, _, err = run(capsys, "vi_VN-vais1000-medium")
    assert code == 2
    assert err.count("\n") == 1
    assert "[voice_download_failed]" in err and "Internet" in err
    assert voices_dir_is_untouched(tmp_path / "voices")


def test_a_file_gone_from_the_catalogue_installs_nothing(tmp_path: Path, catalog: FakeCatalog):
    del catalog.files[f"vi/vi_VN/tiny/medium/{NAME}.onnx.json"]  # 404 after the model came
    with pytest.raises(AudioError) as err:
        install_from_catalog(NAME, base_url=catalog.url)
    assert err.value.code == "voice_download_failed"
    assert voices_dir_is_untouched(tmp_path / "voices")


def test_an_unknown_name_is_refused(tmp_path: Path, catalog: FakeCatalog):
    for name in ("vi_VN-nobody-low", "../../etc/passwd"):
        with pytest.raises(AudioError) as err:
            install_from_catalog(name, base_url=catalog.url)
        assert err.value.code == "unknown_catalog_voice"
    assert voices_dir_is_untouched(tmp_path / "voices")


def test_a_catalogue_file_that_is_not_a_voice_installs_nothing(
    tmp_path: Path, tiny_voice: tuple[Path, Path]
):
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"not a model at all")
    with fake_catalog() as fake:
        fake.add_voice(NAME, junk, tiny_voice[1])  # checksums right, model broken
        with pytest.raises(AudioError) as err:
            install_from_catalog(NAME, base_url=fake.url)
    assert err.value.code == "bad_voice_file"
    assert voices_dir_is_untouched(tmp_path / "voices")


def test_reinstalling_replaces_the_voice(tmp_path: Path, catalog: FakeCatalog):
    install_from_catalog(NAME, base_url=catalog.url)
    before = (tmp_path / "voices" / f"{NAME}.onnx").stat().st_ino
    install_from_catalog(NAME, base_url=catalog.url)
    assert (tmp_path / "voices" / f"{NAME}.onnx").stat().st_ino != before
    assert installed_voices() == [NAME]
