"""The voice an official chooses (engine, voice, speaking rate) is stored with the announcement
and is what every later rendering uses: scheduling, listening through the API, after an edit.

Real SQLite file, real espeak-ng rendering: a slow rate makes longer audio than the default."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from controller.domain import announcements
from controller.domain.seed import SeededCommune
from tests.controller.conftest import People
from tests.controller.test_web import _csrf, _db, _signed_in

TEXT = "Kính thưa bà con. Sáng mai bảy giờ ba mươi, trạm y tế xã tiêm chủng cho trẻ em."
SLOW = 80  # words per minute; espeak-ng's default is 145
SOUTH = "vi-vn-x-south"


def _create(client: TestClient, people: People, **fields: Any) -> dict[str, Any]:
    body = {"title": "Tiêm chủng", "text": TEXT, "submit": True, **fields}
    response = client.post("/api/v1/announcements", json=body, headers=people.headers("editor"))
    assert response.status_code == 201, response.text
    return dict(response.json())


def _approve(client: TestClient, people: People, ann: int) -> None:
    response = client.post(
        f"/api/v1/announcements/{ann}/approve", headers=people.headers("approver")
    )
    assert response.status_code == 200, response.text


def _schedule(client: TestClient, people: People, commune: SeededCommune, ann: int) -> None:
    response = client.post(
        "/api/v1/broadcasts",
        json={
            "announcement_id": ann,
            "zone_ids": [commune.commune_id],
            "starts_at": (datetime.now(UTC) + timedelta(hours=2)).isoformat(),
        },
        headers=people.headers("editor"),
    )
    assert response.status_code == 201, response.text


def _row(client: TestClient, ann: int) -> dict[str, Any]:
    response = client.get(f"/api/v1/announcements/{ann}")
    assert response.status_code == 200
    return dict(response.json())


def _duration(client: TestClient, sha: str) -> float:
    row = _db(client).execute("SELECT duration_s FROM media WHERE sha256 = ?", [sha]).fetchone()
    assert row is not None, "the rendered media is recorded"
    return float(row[0])


def _media_bytes(client: TestClient, sha: str) -> bytes:
    media_dir: Path = client.app.state.runtime.settings.media_dir  # type: ignore[attr-defined]
    return (media_dir / f"{sha}.mp3").read_bytes()


def _default_rendering(client: TestClient, text: str = TEXT) -> Any:
    rt = client.app.state.runtime  # type: ignore[attr-defined]
    return announcements.render_speech(rt.store, rt.settings, text)


def test_the_api_stores_the_voice_and_scheduling_renders_with_it(
    client: TestClient, people: People, commune: SeededCommune
):
    created = _create(
        client, people, speech_engine="espeak-ng", speech_voice=SOUTH, speech_rate=SLOW
    )
    ann = created["id"]
    assert (created["speech_engine"], created["speech_voice"], created["speech_rate"]) == (
        "espeak-ng",
        SOUTH,
        SLOW,
    )
    assert created["media_sha256"], "submitted through the API: spoken before approval"
    _approve(client, people, ann)
    _schedule(client, people, commune, ann)

    row = _row(client, ann)
    assert row["media_sha256"] == row["approved_sha256"] == created["media_sha256"]
    assert (row["engine"], row["voice"]) == ("espeak-ng", SOUTH), "the chosen voice spoke"
    assert (row["speech_engine"], row["speech_voice"], row["speech_rate"]) == (
        "espeak-ng",
        SOUTH,
        SLOW,
    )
    default = _default_rendering(client)
    assert row["media_sha256"] != default.sha256
    slow_s, default_s = _duration(client, row["media_sha256"]), default.duration_s
    assert slow_s > default_s + 2, (slow_s, default_s)


def test_an_announcement_without_a_choice_renders_as_before(
    client: TestClient, people: People, commune: SeededCommune
):
    created = _create(client, people)
    assert (created["speech_engine"], created["speech_voice"], created["speech_rate"]) == (
        "auto",
        None,
        None,
    )
    _approve(client, people, created["id"])
    _schedule(client, people, commune, created["id"])
    assert _row(client, created["id"])["media_sha256"] == _default_rendering(client).sha256


def test_an_api_edit_keeps_the_voice_and_the_new_text_is_spoken_with_it(
    client: TestClient, people: People
):
    ann = _create(client, people, speech_engine="espeak-ng", speech_voice=SOUTH, speech_rate=SLOW)[
        "id"
    ]
    first = client.get(f"/api/v1/announcements/{ann}/audio.mp3", headers=people.headers("editor"))
    assert first.status_code == 200
    client.post(
        f"/api/v1/announcements/{ann}/reject",
        json={"comment": "Thêm giờ kết thúc"},
        headers=people.headers("approver"),
    )
    new_text = TEXT + " Kết thúc lúc mười một giờ."
    edited = client.put(
        f"/api/v1/announcements/{ann}",
        json={"title": "Tiêm chủng", "text": new_text},
        headers=people.headers("editor"),
    )
    assert edited.status_code == 200, edited.text
    body = edited.json()
    assert body["media_sha256"] is None, "an edit clears the old audio"
    assert (body["speech_engine"], body["speech_voice"], body["speech_rate"]) == (
        "espeak-ng",
        SOUTH,
        SLOW,
    )
    audio = client.get(f"/api/v1/announcements/{ann}/audio.mp3", headers=people.headers("editor"))
    assert audio.status_code == 200
    row = _row(client, ann)
    assert row["voice"] == SOUTH
    assert _duration(client, row["media_sha256"]) > _default_rendering(client, new_text).duration_s

    # a field sent replaces only itself; null goes back to the engine's default
    faster = client.put(
        f"/api/v1/announcements/{ann}",
        json={"title": "Tiêm chủng", "text": new_text, "speech_rate": None},
        headers=people.headers("editor"),
    ).json()
    assert (faster["speech_engine"], faster["speech_voice"], faster["speech_rate"]) == (
        "espeak-ng",
        SOUTH,
        None,
    )


def test_the_voice_of_an_approved_announcement_cannot_change(client: TestClient, people: People):
    ann = _create(client, people, speech_rate=SLOW)["id"]
    _approve(client, people, ann)
    response = client.put(
        f"/api/v1/announcements/{ann}",
        json={"title": "Tiêm chủng", "text": TEXT, "speech_rate": 200},
        headers=people.headers("editor"),
    )
    assert response.status_code == 409, response.text
    assert response.json()["error"]["code"] == "bad_status"
    assert _row(client, ann)["speech_rate"] == SLOW


@pytest.mark.parametrize(
    ("fields", "status", "code", "field"),
    [
        ({"speech_rate": 20}, 422, "invalid_request", "speech_rate"),
        ({"speech_rate": 401}, 422, "invalid_request", "speech_rate"),
        ({"speech_rate": "nhanh"}, 422, "invalid_request", "speech_rate"),
        ({"speech_engine": "festival"}, 422, "invalid_request", "speech_engine"),
        ({"speech_engine": "espeak-ng", "speech_voice": "en-us"}, 422, "unknown_voice", None),
        ({"speech_engine": "gtts", "speech_voice": SOUTH}, 422, "unknown_voice", None),
        ({"speech_voice": "không-có"}, 422, "unknown_voice", None),
        ({"speech_engine": "piper"}, 422, "engine_unavailable", "speech_engine"),
    ],
)
def test_a_bad_voice_choice_is_refused_and_nothing_is_written(
    client: TestClient,
    people: People,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    fields: dict[str, Any],
    status: int,
    code: str,
    field: str | None,
):
    monkeypatch.setenv("LOA_VOICES_DIR", str(tmp_path / "no-voices"))  # Piper has no voice here
    response = client.post(
        "/api/v1/announcements",
        json={"title": "T", "text": TEXT, **fields},
        headers=people.headers("editor"),
    )
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["code"] == code and error["message"]
    assert error["field"] == (field or "speech_voice")
    assert _db(client).execute("SELECT COUNT(*) FROM announcements").fetchone()[0] == 0


def test_a_bad_voice_in_an_edit_is_refused_and_the_stored_choice_stays(
    client: TestClient, people: People
):
    ann = _create(client, people, submit=False, speech_voice="vi")["id"]
    response = client.put(
        f"/api/v1/announcements/{ann}",
        json={"title": "Đổi", "text": TEXT, "speech_engine": "espeak-ng", "speech_voice": "x"},
        headers=people.headers("editor"),
    )
    assert response.status_code == 422 and response.json()["error"]["code"] == "unknown_voice"
    row = _row(client, ann)
    assert (row["title"], row["speech_engine"], row["speech_voice"]) == ("Tiêm chủng", "auto", "vi")


def test_the_web_choice_is_stored_shown_and_used_when_an_api_edit_re_renders(
    client: TestClient, people: People, commune: SeededCommune
):
    editor, csrf = _signed_in(client, "editor")
    voice = f"espeak-ng|{SOUTH}"
    saved = editor.post(
        "/announcements/new",
        data={
            "csrf": csrf,
            "title": "Giọng chậm",
            "text": TEXT,
            "category": "thong_bao",
            "voice": voice,
            "rate": str(SLOW),
            "action": "draft",
        },
    )
    assert saved.status_code == 303, saved.text
    ann = int(_db(client).execute("SELECT max(id) FROM announcements").fetchone()[0])
    row = _row(client, ann)
    assert (row["speech_engine"], row["speech_voice"], row["speech_rate"]) == (
        "espeak-ng",
        SOUTH,
        SLOW,
    )

    page = editor.get(f"/announcements/{ann}?view=1")
    assert "Giọng miền Nam (nam)" in page.text and f"{SLOW} từ/phút" in page.text
    form = editor.get(f"/announcements/{ann}")
    assert f'value="{voice}" selected' in form.text, "the edit form keeps the voice"
    assert f'name="rate" type="number" min="60" max="400" step="5" value="{SLOW}"' in form.text

    # An edit through the API drops the old audio; submitting speaks the new text with the
    # stored voice, and that is what is approved and scheduled.
    old_sha = row["media_sha256"]
    new_text = TEXT + " Bà con nhớ mang sổ tiêm chủng."
    edited = client.put(
        f"/api/v1/announcements/{ann}",
        json={"title": "Giọng chậm", "text": new_text, "submit": True},
        headers=people.headers("editor"),
    )
    assert edited.status_code == 200 and edited.json()["media_sha256"] not in (None, old_sha)
    _approve(client, people, ann)
    _schedule(client, people, commune, ann)
    sha = _row(client, ann)["media_sha256"]
    preview = editor.post(
        "/announcements/preview.mp3",
        data={"csrf": _csrf(form.text), "text": new_text, "voice": voice, "rate": str(SLOW)},
    )
    assert preview.status_code == 200
    assert _media_bytes(client, sha) == preview.content, "the villages hear what was previewed"


def test_a_web_edit_replaces_the_stored_choice(client: TestClient, people: People):
    ann = _create(client, people, submit=False, speech_engine="espeak-ng", speech_rate=SLOW)["id"]
    editor, csrf = _signed_in(client, "editor")
    form = editor.get(f"/announcements/{ann}")
    assert 'value="espeak-ng|" selected' in form.text, "the engine's default voice is offered"
    saved = editor.post(
        f"/announcements/{ann}",
        data={
            "csrf": csrf,
            "title": "Tiêm chủng",
            "text": TEXT,
            "category": "thong_bao",
            "voice": "espeak-ng|vi",
            "rate": "",
            "action": "draft",
        },
    )
    assert saved.status_code == 303, saved.text
    row = _row(client, ann)
    assert (row["speech_engine"], row["speech_voice"], row["speech_rate"]) == (
        "espeak-ng",
        "vi",
        None,
    )
    assert row["voice"] == "vi" and row["media_sha256"]
    page = editor.get(f"/announcements/{ann}?view=1").text
    assert "Tốc độ đọc: mặc định" in page and "Giọng miền Bắc (nam)" in page
    editor.get("/lang/en")
    english = editor.get(f"/announcements/{ann}?view=1").text
    assert "Speaking rate: default" in english and "Spoken by: eSpeak NG" in english
