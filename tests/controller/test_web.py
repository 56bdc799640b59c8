"""The web pages as a browser without JavaScript sees them: sign-in, CSRF, rate limiting, inline
Vietnamese errors that keep what was typed, and escaping."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from fastapi.testclient import TestClient

from controller.seed import SeededCommune
from tests.controller.conftest import People


def _csrf(html: str) -> str:
    match = re.search(r'name="csrf" value="([^"]+)"', html)
    assert match
    return match.group(1)


def _browser(client: TestClient) -> TestClient:
    browser = TestClient(client.app, follow_redirects=False)
    return browser


def _login(browser: TestClient, username: str, password: str):  # type: ignore[no-untyped-def]
    page = browser.get("/login")
    return browser.post(
        "/login", data={"csrf": _csrf(page.text), "username": username, "password": password}
    )


def test_first_run_points_to_the_admin_command(client: TestClient):
    page = _browser(client).get("/login")
    assert "loa admin create" in page.text


def test_sign_in_sets_an_httponly_strict_session_cookie(client: TestClient, people: People):
    browser = _browser(client)
    response = _login(browser, "editor", People.PASSWORD)
    assert response.status_code == 303 and response.headers["location"] == "/new"
    cookie = response.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie
    assert "Soạn bản tin" in browser.get("/new").text


def test_a_form_without_its_csrf_token_is_refused(client: TestClient, people: People):
    browser = _browser(client)
    response = browser.post("/login", data={"username": "editor", "password": People.PASSWORD})
    assert "Phiên làm việc đã hết hạn" in response.text
    assert browser.get("/new").headers["location"] == "/login", "not signed in"


def test_repeated_wrong_passwords_are_slowed_down(client: TestClient, people: People):
    browser = _browser(client)
    for _ in range(5):
        assert _login(browser, "editor", "sai-mat-khau").status_code == 401
    blocked = _login(browser, "editor", People.PASSWORD)
    assert blocked.status_code == 429
    assert "thử lại sau 15 phút" in blocked.text
    assert _login(browser, "approver", People.PASSWORD).status_code == 303, "others unaffected"


def test_form_errors_are_inline_in_vietnamese_and_keep_what_was_typed(
    client: TestClient, people: People, commune: SeededCommune
):
    browser = _browser(client)
    _login(browser, "editor", People.PASSWORD)
    form = browser.get("/new")
    past = (datetime.now(UTC) - timedelta(hours=1)).astimezone(ZoneInfo("Asia/Ho_Chi_Minh"))
    response = browser.post(
        "/new",
        data={
            "csrf": _csrf(form.text),
            "title": "Họp thôn",
            "text": "Mời bà con họp lúc 19h.",
            "zone_ids": str(commune.commune_id),
            "play_at": past.strftime("%Y-%m-%dT%H:%M"),
        },
    )
    assert response.status_code == 422
    assert 'id="play-at-error"' in response.text and "đã qua" in response.text
    assert 'value="Họp thôn"' in response.text and "Mời bà con họp lúc 19h." in response.text
    db = client.app.state.runtime.store.db  # type: ignore[attr-defined]
    assert db.execute("SELECT COUNT(*) FROM announcements").fetchone()[0] == 0, "nothing saved"


def test_titles_are_escaped_everywhere(client: TestClient, people: People, commune):
    browser = _browser(client)
    _login(browser, "editor", People.PASSWORD)
    form = browser.get("/new")
    soon = (datetime.now(UTC) + timedelta(hours=1)).astimezone(ZoneInfo("Asia/Ho_Chi_Minh"))
    response = browser.post(
        "/new",
        data={
            "csrf": _csrf(form.text),
            "title": "<script>alert(1)</script>",
            "text": "Nội dung <b>đậm</b>",
            "zone_ids": str(commune.commune_id),
            "play_at": soon.strftime("%Y-%m-%dT%H:%M"),
        },
    )
    assert response.status_code == 303, response.text
    for page in (
        browser.get(response.headers["location"]),
        browser.get("/broadcasts"),
        browser.get("/approvals"),
    ):
        assert "<script>alert(1)</script>" not in page.text
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text
