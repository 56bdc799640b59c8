"""Audio tests run with no installed voices, no engine order and no cloud accounts from the
environment, every breaker closed, and every network endpoint on a closed local port."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from audio.engines import online

CLOSED_PORT = "http://127.0.0.1:9"


@pytest.fixture(autouse=True)
def _clean_audio_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("LOA_VOICES_DIR", str(tmp_path / "voices"))
    monkeypatch.delenv("LOA_TTS_ORDER", raising=False)
    monkeypatch.delenv("LOA_PIPER_VOICE", raising=False)
    for name in ("LOA_FPT_API_KEY", "LOA_VBEE_TOKEN", "LOA_VBEE_APP_ID"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("LOA_GTTS_URL", f"{CLOSED_PORT}/never-the-internet")
    monkeypatch.setenv("LOA_FPT_URL", f"{CLOSED_PORT}/hmi/tts/v5")
    monkeypatch.setenv("LOA_VBEE_URL", CLOSED_PORT)
    monkeypatch.setenv("LOA_PIPER_CATALOG_URL", f"{CLOSED_PORT}/piper-voices/")
    online.configure(None)
    yield
    online.configure(None)


@pytest.fixture
def media_dir(tmp_path: Path) -> Path:
    return tmp_path / "media"
