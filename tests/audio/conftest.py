"""Audio tests run with no installed voices and no engine order from the environment."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def _clean_audio_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOA_VOICES_DIR", str(tmp_path / "voices"))
    monkeypatch.delenv("LOA_TTS_ORDER", raising=False)
    monkeypatch.delenv("LOA_PIPER_VOICE", raising=False)
    monkeypatch.setenv("LOA_GTTS_URL", "http://127.0.0.1:9/never-the-internet")


@pytest.fixture
def media_dir(tmp_path: Path) -> Path:
    return tmp_path / "media"
