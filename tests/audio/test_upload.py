from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from audio import upload
from audio.errors import AudioError
from audio.render import VoiceSettings, render_upload

from .helpers import ffprobe, integrated_loudness, make_audio

#: What officials upload or a browser records, made by ffmpeg: name, encoder options.
FORMATS = {
    "speech.wav": ("-c:a", "pcm_s16le"),
    "speech.mp3": ("-c:a", "libmp3lame", "-b:a", "64k"),
    "speech.m4a": ("-c:a", "aac", "-b:a", "64k"),
    "speech.ogg": ("-c:a", "libvorbis"),
    "speech.webm": ("-c:a", "libopus", "-b:a", "32k"),
    "stereo.wav": ("-ac", "2", "-c:a", "pcm_s16le"),
}
SOURCE = "sine=frequency=330"
PLAIN = VoiceSettings(chime=False)


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("uploads")
    return {
        name: make_audio(folder / name, 2.0, *opts, source=SOURCE) for name, opts in FORMATS.items()
    }


@pytest.mark.parametrize("name", FORMATS)
def test_each_accepted_format_is_delivered_as_mono_48k_mp3(
    files: dict[str, Path], tmp_path: Path, name: str
):
    result = render_upload(files[name], tmp_path, PLAIN)
    stream = ffprobe(result.path)["streams"][0]
    assert (stream["codec_name"], stream["channels"], int(stream["bit_rate"])) == ("mp3", 1, 48000)
    assert result.engine == "upload"
    assert result.duration_s == pytest.approx(2.0 + 0.4, abs=0.1)
    assert hashlib.sha256(result.path.read_bytes()).hexdigest() == result.sha256


def test_upload_gets_the_same_loudness_as_speech(files: dict[str, Path], tmp_path: Path):
    quiet = make_audio(tmp_path / "quiet.wav", 3.0, "-af", "volume=-30dB", source=SOURCE)
    result = render_upload(quiet, tmp_path / "media", PLAIN)
    assert integrated_loudness(result.path) == pytest.approx(-16.0, abs=1.0)


def test_upload_silence_at_the_ends_is_trimmed(tmp_path: Path):
    padded = make_audio(
        tmp_path / "padded.wav", 2.0, "-af", "adelay=1500,apad=pad_dur=2", source=SOURCE
    )
    result = render_upload(padded, tmp_path / "media", PLAIN)
    assert result.duration_s == pytest.approx(2.0 + 0.4 + 0.06, abs=0.1)


def test_upload_with_chime_and_repeats(files: dict[str, Path], tmp_path: Path):
    result = render_upload(
        files["speech.wav"], tmp_path, VoiceSettings(repeats=2, repeat_gap_s=1.0)
    )
    assert result.duration_s == pytest.approx(0.4 + 2 * (1.86 + 0.5) + 2.0 * 2 + 1.0, abs=0.15)


@pytest.mark.parametrize(
    "content",
    [b"", b"This is not audio at all.\n" * 50, bytes(range(256)) * 40, b"RIFF\x00\x00WAVEjunk"],
    ids=["empty", "text", "binary", "broken-wav"],
)
def test_non_audio_is_refused(tmp_path: Path, content: bytes):
    bogus = tmp_path / "upload.mp3"
    bogus.write_bytes(content)
    with pytest.raises(AudioError) as err:
        render_upload(bogus, tmp_path / "media", PLAIN)
    assert err.value.code == "not_audio"
    assert "âm thanh" in err.value.message


def test_an_image_is_refused(tmp_path: Path):
    import subprocess

    image = tmp_path / "photo.png"
    subprocess.run(
        [
            "ffmpeg",
            "-loglevel",
            "error",
            "-f",
            "lavfi",
            "-i",
            "color=red:size=32x32",
            "-frames:v",
            "1",
            str(image),
        ],
        check=True,
    )
    with pytest.raises(AudioError) as err:
        render_upload(image, tmp_path / "media", PLAIN)
    assert err.value.code == "not_audio"


def test_too_long_is_refused(
    files: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setattr(upload, "MAX_UPLOAD_SECONDS", 1.5)
    for name in ("speech.wav", "speech.webm"):
        with pytest.raises(AudioError) as err:
            render_upload(files[name], tmp_path, PLAIN)
        assert err.value.code == "too_long"
    assert not list(tmp_path.glob("*.mp3"))


def test_recording_without_a_stated_duration_is_measured(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    # MediaRecorder's WebM has no duration in its header: piped output reproduces that
    import subprocess

    streamed = tmp_path / "recorded.webm"
    with streamed.open("wb") as out:
        subprocess.run(
            [
                "ffmpeg",
                "-loglevel",
                "error",
                "-f",
                "lavfi",
                "-i",
                f"{SOURCE}:duration=2",
                "-c:a",
                "libopus",
                "-f",
                "webm",
                "-live",
                "1",
                "pipe:1",
            ],
            stdout=out,
            check=True,
        )
    monkeypatch.setattr(upload, "MAX_UPLOAD_SECONDS", 1.5)
    with pytest.raises(AudioError) as err:
        render_upload(streamed, tmp_path / "media", PLAIN)
    assert err.value.code == "too_long"


def test_too_large_is_refused_before_reading(
    files: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setattr(upload, "MAX_UPLOAD_BYTES", 1000)
    with pytest.raises(AudioError) as err:
        render_upload(files["speech.wav"], tmp_path, PLAIN)
    assert err.value.code == "too_large"
    assert "MB" in err.value.message


def test_silent_recording_is_refused(tmp_path: Path):
    silent = make_audio(tmp_path / "silent.wav", 2.0, source="anullsrc=channel_layout=mono")
    with pytest.raises(AudioError) as err:
        render_upload(silent, tmp_path / "media", PLAIN)
    assert err.value.code == "empty_audio"
