"""Red-team low finding (issue 12): titles of zero-width characters only, or holding NUL or a
right-to-left override, were stored. Words are NFC-normalized; control and invisible-only input
is refused with a stable code (API) and a Vietnamese message (web). Real app, real SQLite."""

from __future__ import annotations

import unicodedata

import pytest
from fastapi.testclient import TestClient

from tests.controller.conftest import People
from tests.controller.test_web import _signed_in


def _count(client: TestClient) -> int:
    db = client.app.state.runtime.store.db  # type: ignore[attr-defined]
    return int(db.execute("SELECT COUNT(*) FROM announcements").fetchone()[0])


@pytest.mark.parametrize(
    ("title", "text", "code", "field"),
    [
        ("\u200b\u200b\u200b", "Nội dung.", "invisible_only", "title"),
        ("\u200b\ufeff \u2060", "Nội dung.", "invisible_only", "title"),
        ("Tin\x00 họp", "Nội dung.", "control_characters", "title"),
        ("\u202eTin họp dân", "Nội dung.", "control_characters", "title"),
        ("Tin họp", "Họp \u2067dân\u2069 lúc 8 giờ.", "control_characters", "text"),
        ("Tin họp", "Họp\x07 dân.", "control_characters", "text"),
        ("Tin họp", "\u200b\u200c\u200d", "invisible_only", "text"),
    ],
)
def test_control_and_invisible_words_are_refused_with_a_stable_code(
    client: TestClient, people: People, title: str, text: str, code: str, field: str
):
    made = client.post(
        "/api/v1/announcements",
        json={"title": title, "text": text},
        headers=people.headers("editor"),
    )
    assert made.status_code == 422, made.text
    assert made.json()["error"]["code"] == code and made.json()["error"]["field"] == field
    assert _count(client) == 0


def test_words_are_stored_nfc_and_line_breaks_stay_allowed_in_the_text(
    client: TestClient, people: People
):
    title = unicodedata.normalize("NFD", "Thông báo họp dân")
    text = "Dòng một.\nDòng hai.\tHết."
    made = client.post(
        "/api/v1/announcements",
        json={"title": title, "text": text},
        headers=people.headers("editor"),
    )
    assert made.status_code == 201, made.text
    assert made.json()["title"] == unicodedata.normalize("NFC", title) != title
    assert made.json()["text"] == text


def test_the_web_form_explains_in_vietnamese(client: TestClient, people: People):
    editor, csrf = _signed_in(client, "editor")
    page = editor.post(
        "/announcements/new",
        data={
            "csrf": csrf,
            "title": "\u200b\u200b",
            "text": "Nội dung.",
            "category": "thong_bao",
            "action": "draft",
        },
    )
    assert page.status_code == 422
    assert "chỉ có ký tự vô hình" in page.text
    assert _count(client) == 0


def test_the_emergency_and_relay_titles_are_checked_the_same_way(
    client: TestClient, people: People, commune
):
    sent = client.post(
        "/api/v1/emergency",
        json={"title": "\u202eLũ", "text": "Sơ tán ngay.", "zone_ids": [commune.commune_id]},
        headers=people.headers("approver"),
    )
    assert sent.status_code == 422 and sent.json()["error"]["code"] == "control_characters"
    named = client.post(
        "/api/v1/stream-sources",
        json={"name": "\u200b", "url": "http://127.0.0.1:9/x.mp3", "accept_unhealthy": True},
        headers=people.headers("admin"),
    )
    assert named.status_code == 422 and named.json()["error"]["code"] == "invisible_only"
