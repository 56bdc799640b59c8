"""Editing an announcement through the API changes what was sent and nothing else: category and
priority left out are kept, uploaded audio stays the announcement's audio, and speech made from
words that changed meanwhile never lands on the newer words. Real SQLite file, real espeak-ng."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from controller.core.db import table
from controller.domain import announcements
from controller.domain.identity import Identity
from tests.controller.conftest import People


def _create(client: TestClient, people: People, **fields: Any) -> int:
    made = client.post(
        "/api/v1/announcements",
        json={"title": "Lịch tiêm chủng", "text": "Sáng mai tiêm chủng.", **fields},
        headers=people.headers("editor"),
    )
    assert made.status_code == 201, made.text
    return int(made.json()["id"])


def _row(client: TestClient, ann: int) -> dict[str, Any]:
    db = client.app.state.runtime.store.db  # type: ignore[attr-defined]
    row = announcements.get_announcement(db, ann)
    assert row is not None
    return row


def test_an_edit_keeps_the_category_and_priority_it_leaves_out(client: TestClient, people):
    ann = _create(client, people, category="y_te", priority="urgent")
    edited = client.put(
        f"/api/v1/announcements/{ann}",
        json={"title": "Lịch tiêm chủng (sửa)", "text": "Chiều mai tiêm chủng."},
        headers=people.headers("editor"),
    )
    assert edited.status_code == 200, edited.text
    assert (edited.json()["category"], edited.json()["priority"]) == ("y_te", "urgent")
    changed = client.put(
        f"/api/v1/announcements/{ann}",
        json={"title": "Lịch tiêm chủng", "text": "Chiều mai.", "priority": "normal"},
        headers=people.headers("editor"),
    )
    assert (changed.json()["category"], changed.json()["priority"]) == ("y_te", "normal")


def test_an_edit_of_an_uploaded_announcement_keeps_its_recording(client: TestClient, people):
    ann = _create(client, people)
    db = client.app.state.runtime.store.db  # type: ignore[attr-defined]
    table(db, "media").insert({"sha256": "b" * 64, "bytes": 1000, "duration_s": 12.0})
    table(db, "announcements").update(
        ann, {"media_sha256": "b" * 64, "engine": "upload", "voice": "", "source": "upload"}
    )
    edited = client.put(
        f"/api/v1/announcements/{ann}",
        json={"title": "Thông báo của trưởng thôn", "text": "Bản ghi âm của trưởng thôn."},
        headers=people.headers("editor"),
    )
    assert edited.status_code == 200, edited.text
    row = _row(client, ann)
    assert (row["media_sha256"], row["source"], row["engine"]) == ("b" * 64, "upload", "upload")
    assert row["title"] == "Thông báo của trưởng thôn"


def test_an_edit_of_spoken_text_clears_its_audio(client: TestClient, people):
    ann = _create(client, people)
    first = client.get(f"/api/v1/announcements/{ann}/audio.mp3", headers=people.headers("editor"))
    assert first.status_code == 200
    assert _row(client, ann)["media_sha256"]
    client.put(
        f"/api/v1/announcements/{ann}",
        json={"title": "Lịch tiêm chủng", "text": "Chiều mai tiêm chủng."},
        headers=people.headers("editor"),
    )
    assert _row(client, ann)["media_sha256"] is None, "spoken again when needed"


def test_speech_of_words_edited_while_speaking_is_not_kept(
    client: TestClient, people, monkeypatch: pytest.MonkeyPatch
):
    """The official edits the text while the controller speaks the old text (for scheduling or
    listening): the old speech must not become the new text's audio."""
    ann = _create(client, people)
    runtime = client.app.state.runtime  # type: ignore[attr-defined]
    real = announcements.render_speech
    spoken: list[str] = []

    def edited_while_speaking(store: Any, settings: Any, text: str, voice: Any = None) -> Any:
        rendered = real(store, settings, text, voice)
        if not spoken:  # the first time only: the edit lands while this is being spoken
            announcements.edit(
                store.db,
                Identity("user", "editor", "editor", people.ids["editor"]),
                ann,
                title="Lịch tiêm chủng",
                text="Chiều mai tiêm chủng.",
                max_text_chars=500,
            )
        spoken.append(text)
        return rendered

    monkeypatch.setattr(announcements, "render_speech", edited_while_speaking)
    sha = announcements.ensure_rendered(runtime.store, runtime.settings, _row(client, ann))
    assert spoken == ["Sáng mai tiêm chủng.", "Chiều mai tiêm chủng."]
    row = _row(client, ann)
    assert row["media_sha256"] == sha
    assert row["normalized_text"] and "chiều" in row["normalized_text"].lower()
