"""An upload being checked and encoded (seconds for a long recording) does not hold the
controller's event loop: other officials' pages and the API keep answering meanwhile."""

from __future__ import annotations

import re
import threading
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

import audio.upload
from tests.controller.conftest import People


def test_other_requests_are_answered_while_an_upload_renders(
    client: TestClient, people: People, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.support.media import tone_mp3

    tone_mp3(tmp_path / "tone.mp3", seconds=1.0)
    rendering, answered = threading.Event(), threading.Event()
    real = audio.upload.render_upload

    def held_render(*args, **kwargs):  # type: ignore[no-untyped-def]
        rendering.set()
        answered.wait(15)  # until the other request got its answer, or the test gives up
        return real(*args, **kwargs)

    monkeypatch.setattr(audio.upload, "render_upload", held_render)
    # One client, so one event loop serves both requests (as one uvicorn worker does).
    page = client.get("/login")
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert csrf
    signed = client.post(
        "/login",
        data={"csrf": csrf.group(1), "username": "editor", "password": People.PASSWORD},
        follow_redirects=False,
    )
    assert signed.status_code == 303
    form = re.search(r'name="csrf" value="([^"]+)"', client.get("/announcements/new").text)
    assert form
    results: dict[str, int] = {}

    def upload() -> None:
        results["upload"] = client.post(
            "/announcements/new",
            data={"csrf": form.group(1), "title": "Ghi âm", "text": "Lời", "action": "save"},
            files={"audio": ("a.mp3", (tmp_path / "tone.mp3").read_bytes(), "audio/mpeg")},
            follow_redirects=False,
        ).status_code

    uploader = threading.Thread(target=upload)
    uploader.start()
    assert rendering.wait(15), "the upload reached its rendering"
    other = threading.Thread(
        target=lambda: results.setdefault("zones", client.get("/api/v1/zones").status_code)
    )
    other.start()
    other.join(10)
    served = "zones" in results
    answered.set()
    uploader.join(30)
    assert served, "an API request waited for an upload's rendering"
    assert results == {"zones": 200, "upload": 303}
