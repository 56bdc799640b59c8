"""The web pages as a browser without JavaScript sees them: sign-in, CSRF, rate limiting, inline
Vietnamese errors that keep what was typed and save nothing, escaping, roles, the catalog's
second locale, the lexicon, uploads, and the public page."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from fastapi.testclient import TestClient

from controller.core.db import insert
from controller.domain.seed import SeededCommune
from loa.protocol import to_wire_time
from tests.controller.conftest import People

LOCAL = ZoneInfo("Asia/Ho_Chi_Minh")


def _csrf(html: str) -> str:
    match = re.search(r'name="csrf" value="([^"]+)"', html)
    assert match
    return match.group(1)


def _browser(client: TestClient) -> TestClient:
    return TestClient(client.app, follow_redirects=False)


def _login(browser: TestClient, username: str, password: str = People.PASSWORD):  # type: ignore[no-untyped-def]
    page = browser.get("/login")
    return browser.post(
        "/login", data={"csrf": _csrf(page.text), "username": username, "password": password}
    )


def _signed_in(client: TestClient, username: str) -> tuple[TestClient, str]:
    browser = _browser(client)
    assert _login(browser, username).status_code == 303
    return browser, _csrf(browser.get("/").text)


def _db(client: TestClient):  # type: ignore[no-untyped-def]
    return client.app.state.runtime.store.db  # type: ignore[attr-defined]


def _count(client: TestClient, table: str) -> int:
    return int(_db(client).execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])


def _write(browser: TestClient, csrf: str, title: str, text: str, action: str = "submit"):  # type: ignore[no-untyped-def]
    return browser.post(
        "/announcements/new",
        data={
            "csrf": csrf,
            "title": title,
            "text": text,
            "category": "thong_bao",
            "action": action,
        },
    )


def test_first_run_points_to_the_admin_command(client: TestClient):
    page = _browser(client).get("/login")
    assert "loa admin create" in page.text


def test_sign_in_sets_an_httponly_strict_session_cookie(client: TestClient, people: People):
    browser = _browser(client)
    response = _login(browser, "editor")
    assert response.status_code == 303 and response.headers["location"] == "/"
    cookie = response.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie
    assert "Tổng quan" in browser.get("/").text
    assert "Soạn bản tin" in browser.get("/announcements/new").text


def test_pages_need_a_session_and_an_api_token_is_not_one(client: TestClient, people: People):
    browser = _browser(client)
    for path in ("/", "/announcements", "/schedule", "/nodes", "/reports"):
        assert browser.get(path).headers["location"] == "/login", path
    with_token = browser.get("/nodes", headers=people.headers("admin"))
    assert with_token.headers["location"] == "/login"


def test_a_form_without_its_csrf_token_is_refused(client: TestClient, people: People):
    browser = _browser(client)
    response = browser.post("/login", data={"username": "editor", "password": People.PASSWORD})
    assert "Phiên làm việc đã hết hạn" in response.text
    assert browser.get("/").headers["location"] == "/login", "not signed in"
    editor, _ = _signed_in(client, "editor")
    refused = _write(editor, "not-the-token", "Họp thôn", "Mời bà con họp.")
    assert refused.status_code == 422 and "Phiên làm việc đã hết hạn" in refused.text
    assert _count(client, "announcements") == 0


def test_repeated_wrong_passwords_are_slowed_down(client: TestClient, people: People):
    browser = _browser(client)
    for _ in range(3):
        assert _login(browser, "editor", "sai-mat-khau").status_code == 401
    blocked = _login(browser, "editor")  # at once: 1 s to wait (issue 14, growing delays)
    assert blocked.status_code == 429
    assert "Hãy thử lại sau 1 giây" in blocked.text
    assert _login(browser, "approver").status_code == 303, "others unaffected"


def test_announcement_errors_are_inline_keep_the_text_and_save_nothing(
    client: TestClient, people: People
):
    editor, csrf = _signed_in(client, "editor")
    response = _write(editor, csrf, "   ", "Mời bà con họp lúc 19h.")
    assert response.status_code == 422
    assert 'id="title-error"' in response.text and "Tiêu đề bản tin không được để trống" in (
        response.text
    )
    assert "Mời bà con họp lúc 19h." in response.text
    too_long = _write(editor, csrf, "Họp thôn", "x" * 501)
    assert 'id="text-error"' in too_long.text and "tối đa 500 ký tự" in too_long.text
    assert 'value="Họp thôn"' in too_long.text
    assert _count(client, "announcements") == 0


def test_a_file_that_is_not_audio_is_refused_next_to_the_field(client: TestClient, people: People):
    editor, csrf = _signed_in(client, "editor")
    response = editor.post(
        "/announcements/new",
        data={"csrf": csrf, "title": "Tệp hỏng", "text": "Ghi âm họp thôn", "action": "submit"},
        files={"audio": ("hop-thon.mp3", b"this is not audio at all", "audio/mpeg")},
    )
    assert response.status_code == 422
    assert 'id="audio-error"' in response.text and "không phải là tệp âm thanh" in response.text
    assert 'value="Tệp hỏng"' in response.text
    assert _count(client, "announcements") == 0


def test_an_uploaded_recording_becomes_the_announcements_audio(
    client: TestClient, people: People, tmp_path: Path
):
    from tests.support.media import tone_mp3

    tone_mp3(tmp_path / "tone.mp3", seconds=1.0)
    editor, csrf = _signed_in(client, "editor")
    response = editor.post(
        "/announcements/new",
        data={
            "csrf": csrf,
            "title": "Ghi âm",
            "text": "Lời chủ tịch xã",
            "action": "submit",
            "recorded": "1",
        },
        files={"audio": ("ghi-am.mp3", (tmp_path / "tone.mp3").read_bytes(), "audio/mpeg")},
    )
    assert response.status_code == 303, response.text
    row = (
        _db(client)
        .execute("SELECT status, source, engine, media_sha256 FROM announcements")
        .fetchone()
    )
    assert row[:3] == ("pending", "recording", "upload") and row[3]
    assert _count(client, "media") == 1


def test_schedule_errors_are_inline_and_keep_every_choice(
    client: TestClient, people: People, commune: SeededCommune
):
    editor, csrf = _signed_in(client, "editor")
    assert _write(editor, csrf, "Họp thôn", "Mời bà con họp lúc 19h.").status_code == 303
    announcement_id = _db(client).execute("SELECT id FROM announcements").fetchone()[0]
    past = (datetime.now(UTC) - timedelta(hours=1)).astimezone(LOCAL)
    village = commune.nodes[0].zone_id
    response = editor.post(
        "/schedule/new",
        data={
            "csrf": csrf,
            "announcement_id": str(announcement_id),
            "zone_ids": str(village),
            "kind": "once",
            "play_at": past.strftime("%Y-%m-%dT%H:%M"),
            "repeats": "2",
        },
    )
    assert response.status_code == 422
    assert 'id="play_at-error"' in response.text and "đã qua" in response.text
    assert f'value="{village}" data-zone="{village}"' in response.text
    assert re.search(
        rf'value="{village}" data-zone="{village}" data-parent="\d+"\s+checked', (response.text)
    )
    assert 'name="repeats" type="number" min="1" max="10" value="2"' in response.text
    assert _count(client, "broadcasts") == 0


def test_the_rule_builder_check_shows_the_vietnamese_summary_before_saving(
    client: TestClient, people: People, commune: SeededCommune
):
    editor, csrf = _signed_in(client, "editor")
    _write(editor, csrf, "Phát thanh buổi sáng", "Chương trình phát thanh buổi sáng.")
    announcement_id = _db(client).execute("SELECT id FROM announcements").fetchone()[0]
    today = datetime.now(UTC).astimezone(LOCAL).date()
    check = editor.post(
        "/schedule/check",
        data={
            "announcement_id": str(announcement_id),
            "zone_ids": str(commune.commune_id),
            "kind": "recurring",
            "frequency": "weekly",
            "weekdays": ["0", "2"],
            "times": "06:00, 17:30",
            "valid_from": today.isoformat(),
            "repeats": "1",
        },
        headers={"X-CSRF-Token": csrf},
    )
    assert check.status_code == 200
    assert 'data-check="ok"' in check.text
    assert "Thứ Hai" in check.text and "06:00" in check.text and "17:30" in check.text
    assert "Đến 3 cụm loa" in check.text
    assert _count(client, "broadcasts") == 0


def test_titles_are_escaped_everywhere(client: TestClient, people: People, commune):
    editor, csrf = _signed_in(client, "editor")
    response = _write(editor, csrf, "<script>alert(1)</script>", "Nội dung <b>đậm</b>")
    assert response.status_code == 303, response.text
    announcement_id = _db(client).execute("SELECT id FROM announcements").fetchone()[0]
    soon = (datetime.now(UTC) + timedelta(hours=1)).astimezone(LOCAL)
    scheduled = editor.post(
        "/schedule/new",
        data={
            "csrf": csrf,
            "announcement_id": str(announcement_id),
            "zone_ids": str(commune.commune_id),
            "kind": "once",
            "play_at": soon.strftime("%Y-%m-%dT%H:%M"),
            "repeats": "1",
        },
    )
    assert scheduled.status_code == 303, scheduled.text
    for path in (
        response.headers["location"],
        scheduled.headers["location"],
        "/announcements",
        "/approvals",
        "/schedule",
        "/schedule/new",
    ):
        page = editor.get(path)
        assert "<script>alert(1)</script>" not in page.text, path
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text, path
    assert "<b>đậm</b>" not in editor.get("/approvals").text


def test_an_approver_cannot_approve_their_own_announcement_and_is_told_why(
    client: TestClient, people: People
):
    admin, csrf = _signed_in(client, "admin")
    _write(admin, csrf, "Tự duyệt", "Không được tự duyệt.")
    announcement_id = _db(client).execute("SELECT id FROM announcements").fetchone()[0]
    response = admin.post(f"/approvals/{announcement_id}", data={"csrf": csrf, "action": "approve"})
    assert response.status_code == 422 and "Người duyệt phải là người khác" in response.text
    approver, csrf2 = _signed_in(client, "approver")
    no_comment = approver.post(
        f"/approvals/{announcement_id}", data={"csrf": csrf2, "action": "reject", "comment": ""}
    )
    assert 'id="comment-error"' in no_comment.text and "Hãy ghi lý do từ chối" in no_comment.text
    ok = approver.post(f"/approvals/{announcement_id}", data={"csrf": csrf2, "action": "approve"})
    assert ok.status_code == 303
    status = _db(client).execute("SELECT status FROM announcements").fetchone()[0]
    assert status == "approved"


def test_menus_and_pages_follow_the_role(client: TestClient, people: People):
    editor, _ = _signed_in(client, "editor")
    home = editor.get("/").text
    assert 'href="/emergency"' not in home and 'href="/users"' not in home
    assert editor.get("/emergency").status_code == 403
    assert editor.get("/users").status_code == 403
    assert editor.get("/audit").status_code == 403
    admin, _ = _signed_in(client, "admin")
    assert 'href="/users"' in admin.get("/").text
    assert admin.get("/audit").status_code == 200


def test_the_emergency_page_asks_for_confirmation_and_saves_nothing_without_it(
    client: TestClient, people: People, commune: SeededCommune
):
    approver, csrf = _signed_in(client, "approver")
    response = approver.post(
        "/emergency",
        data={
            "csrf": csrf,
            "title": "Lũ quét",
            "text": "Bà con di chuyển lên vùng cao ngay.",
            "zone_ids": str(commune.commune_id),
            "repeats": "2",
        },
    )
    assert response.status_code == 422 and 'id="confirm-error"' in response.text
    assert "Bà con di chuyển lên vùng cao ngay." in response.text
    assert _count(client, "broadcasts") == 0


def test_english_is_the_second_locale_and_vietnamese_the_default(
    client: TestClient, people: People
):
    admin, _ = _signed_in(client, "admin")
    assert "Tình trạng cụm loa" in admin.get("/nodes").text
    switched = admin.get("/lang/en?next=/nodes")
    assert switched.status_code == 303 and switched.headers["location"] == "/nodes"
    page = admin.get("/nodes").text
    assert "Speaker clusters" in page and "Last seen" in page and '<html lang="en">' in page
    admin.get("/lang/vi")
    assert "Lần cuối hoạt động" in admin.get("/nodes").text
    assert admin.get("/lang/en?next=//evil.example").headers["location"] == "/"


def test_the_lexicon_changes_the_reading_shown_beside_the_text(client: TestClient, people: People):
    # Only an admin writes the lexicon (it changes how every later text is spoken).
    editor, csrf = _signed_in(client, "admin")
    saved = editor.post("/lexicon", data={"csrf": csrf, "term": "HTX", "reading": "hợp tác xã"})
    assert saved.status_code == 303
    reading = editor.post(
        "/announcements/reading",
        data={"text": "HTX Lạc Lâm họp"},
        headers={"X-CSRF-Token": csrf},
    )
    assert "hợp tác xã" in reading.text
    empty = editor.post("/lexicon", data={"csrf": csrf, "term": "UBT", "reading": ""})
    assert empty.status_code == 422 and 'id="reading-error"' in empty.text
    assert 'value="UBT"' in empty.text
    viewer, vcsrf = _signed_in(client, "viewer")
    refused = viewer.post("/lexicon", data={"csrf": vcsrf, "term": "X", "reading": "ích"})
    assert refused.status_code == 403
    assert _count(client, "lexicon") == 1


def test_the_public_page_lists_only_what_played_and_serves_its_audio(
    client: TestClient, people: People, commune: SeededCommune, tmp_path: Path
):
    from tests.support.media import tone_mp3

    runtime = client.app.state.runtime  # type: ignore[attr-defined]
    db = runtime.store.db
    sha, size = tone_mp3(runtime.settings.media_dir / "x.mp3")
    (runtime.settings.media_dir / "x.mp3").rename(runtime.settings.media_dir / f"{sha}.mp3")
    db.execute("INSERT INTO media (sha256, bytes, duration_s) VALUES (?, ?, 1.0)", [sha, size])
    for n, (title, state) in enumerate([("Đã phát rồi", "played"), ("Chưa phát", "queued")], 1):
        db.execute(
            "INSERT INTO announcements (id, title, text, status, media_sha256) "
            "VALUES (?, ?, 'Nội dung', 'approved', ?)",
            [n, title, sha],
        )
        now = datetime.now(UTC).isoformat().replace("+00:00", "Z")
        db.execute(
            "INSERT INTO broadcasts (id, announcement_id, zone_ids, status, priority, starts_at) "
            "VALUES (?, ?, ?, 'active', 'normal', ?)",
            [n, n, f"[{commune.commune_id}]", "2026-01-01T00:00:00Z"],
        )
        db.execute(
            "INSERT INTO dispatches (broadcast_id, occurrence, node_id, play_at, state, "
            "started_at) VALUES (?, 'o', ?, ?, ?, ?)",
            [n, commune.nodes[0].node_id, now, state, now],
        )
    anonymous = _browser(client)
    page = anonymous.get(f"/public/{commune.commune_id}")
    assert page.status_code == 200
    assert "Đã phát rồi" in page.text and "Chưa phát" not in page.text
    assert anonymous.get(f"/public/{commune.commune_id}/audio/1.mp3").status_code == 200
    assert anonymous.get(f"/public/{commune.commune_id}/audio/2.mp3").status_code == 404
    other_village = commune.nodes[1].zone_id
    assert "Đã phát rồi" not in anonymous.get(f"/public/{other_village}").text


def test_a_submitted_announcement_is_not_edited_and_the_page_says_why(
    client: TestClient, people: People
):
    editor, csrf = _signed_in(client, "editor")
    _write(editor, csrf, "Họp thôn", "Mời bà con họp.")
    announcement_id = _db(client).execute("SELECT id FROM announcements").fetchone()[0]
    view = editor.get(f"/announcements/{announcement_id}")
    assert view.status_code == 200 and 'name="title"' not in view.text, "no edit form"
    response = editor.post(
        f"/announcements/{announcement_id}",
        data={"csrf": csrf, "title": "Đổi tiêu đề", "text": "Đổi nội dung", "action": "draft"},
    )
    assert response.status_code == 422
    assert 'id="form-error"' in response.text
    assert "Không thể thực hiện khi bản tin đang ở trạng thái" in response.text
    assert 'value="Đổi tiêu đề"' in response.text
    title = _db(client).execute("SELECT title FROM announcements").fetchone()[0]
    assert title == "Họp thôn"


def test_the_chosen_voice_speaks_the_announcement_and_a_bad_rate_is_refused(
    client: TestClient, people: People
):
    editor, csrf = _signed_in(client, "editor")
    form = editor.get("/announcements/new").text
    assert 'value="espeak-ng|vi-vn-x-south"' in form, "the picker lists the engines' voices"
    data = {"csrf": csrf, "title": "Giọng miền Nam", "text": "Bà con chú ý.", "action": "draft"}
    slow = editor.post("/announcements/new", data={**data, "voice": "espeak-ng|vi", "rate": "20"})
    assert slow.status_code == 422 and 'id="rate-error"' in slow.text
    assert 'value="espeak-ng|vi" selected' in slow.text, "the choice is kept"
    assert _count(client, "announcements") == 0
    saved = editor.post(
        "/announcements/new", data={**data, "voice": "espeak-ng|vi-vn-x-south", "rate": "150"}
    )
    assert saved.status_code == 303, saved.text
    engine, voice, sha = (
        _db(client).execute("SELECT engine, voice, media_sha256 FROM announcements").fetchone()
    )
    assert (engine, voice) == ("espeak-ng", "vi-vn-x-south") and sha
    preview = editor.post(
        "/announcements/preview.mp3",
        data={
            "csrf": csrf,
            "text": "Bà con chú ý.",
            "voice": "espeak-ng|vi-vn-x-south",
            "rate": "150",
        },
    )
    assert preview.status_code == 200 and preview.headers["content-type"] == "audio/mpeg"
    assert (
        preview.content
        == (
            client.app.state.runtime.settings.media_dir / f"{sha}.mp3"  # type: ignore[attr-defined]
        ).read_bytes()
    ), "what was heard is what will play"


def test_nodes_with_coordinates_get_a_map_with_vendored_leaflet(
    client: TestClient, people: People, commune: SeededCommune
):
    viewer, _ = _signed_in(client, "viewer")
    assert 'href="/nodes/map"' not in viewer.get("/nodes").text, "no coordinates, no map"
    node = commune.nodes[0].node_id
    _db(client).execute(
        "UPDATE nodes SET lat = 21.03, lon = 105.85, name = 'Cụm <b>loa</b>' WHERE id = ?", [node]
    )
    assert 'href="/nodes/map"' in viewer.get("/nodes").text
    page = viewer.get("/nodes/map").text
    assert '<script src="/static/leaflet/leaflet.js"' in page
    assert "21.03" in page and "105.85" in page and f'"id": "{node}"' in page
    assert "<b>loa</b>" not in page, "names are escaped in the map's data too"
    assert viewer.get("/static/leaflet/leaflet.js").status_code == 200


def test_a_clash_is_shown_before_saving_and_saved_only_when_accepted(
    client: TestClient, people: People, commune: SeededCommune
):
    editor, csrf = _signed_in(client, "editor")
    for title in ("Họp thôn", "Tiêm chủng"):
        assert _write(editor, csrf, title, f"{title}: mời bà con.").status_code == 303
    first, second = [r[0] for r in _db(client).execute("SELECT id FROM announcements ORDER BY id")]
    at = (datetime.now(UTC) + timedelta(hours=2)).astimezone(LOCAL).strftime("%Y-%m-%dT%H:%M")
    base = {
        "csrf": csrf,
        "zone_ids": str(commune.nodes[0].zone_id),
        "kind": "once",
        "play_at": at,
        "repeats": "1",
    }
    assert (
        editor.post("/schedule/new", data={**base, "announcement_id": str(first)}).status_code
        == 303
    )
    check = editor.post(
        "/schedule/check",
        data={**base, "announcement_id": str(second)},
        headers={"X-CSRF-Token": csrf},
    )
    assert "Trùng giờ với lượt phát khác" in check.text and "Họp thôn" in check.text
    refused = editor.post("/schedule/new", data={**base, "announcement_id": str(second)})
    assert refused.status_code == 409 and 'class="conflicts"' in refused.text
    assert _count(client, "broadcasts") == 1, "nothing saved"
    accepted = editor.post(
        "/schedule/new",
        data={**base, "announcement_id": str(second), "accept_conflicts": "1"},
    )
    assert accepted.status_code == 303
    assert _count(client, "broadcasts") == 2


def test_a_broadcast_is_cancelled_from_its_page_and_the_play_log_exports_as_csv(
    client: TestClient, people: People, commune: SeededCommune
):
    editor, csrf = _signed_in(client, "editor")
    _write(editor, csrf, "Họp thôn", "Mời bà con họp.")
    announcement_id = _db(client).execute("SELECT id FROM announcements").fetchone()[0]
    at = (datetime.now(UTC) + timedelta(hours=2)).astimezone(LOCAL).strftime("%Y-%m-%dT%H:%M")
    saved = editor.post(
        "/schedule/new",
        data={
            "csrf": csrf,
            "announcement_id": str(announcement_id),
            "zone_ids": str(commune.commune_id),
            "kind": "once",
            "play_at": at,
            "repeats": "1",
        },
    )
    page = editor.get(saved.headers["location"])
    assert "Hủy lượt phát" in page.text and page.text.count('data-state="queued"') == 3
    broadcast_id = saved.headers["location"].split("/")[2].split("?")[0]
    csv = editor.get("/api/v1/reports/plays?format=csv")  # the report page's link, by session
    assert csv.status_code == 200 and csv.headers["content-type"].startswith("text/csv")
    assert csv.text.count("Họp thôn") == 3
    cancelled = editor.post(
        f"/broadcasts/{broadcast_id}/cancel", data={"csrf": csrf, "confirm": "1"}
    )
    assert cancelled.status_code == 303
    after = editor.get(f"/broadcasts/{broadcast_id}").text
    assert after.count('data-state="cancelled"') == 3 and "Hủy lượt phát" not in after


def test_an_announcement_is_archived_from_its_page_but_not_by_a_viewer(
    client: TestClient, people: People
):
    editor, csrf = _signed_in(client, "editor")
    _write(editor, csrf, "Họp thôn", "Mời bà con họp.")
    announcement_id = _db(client).execute("SELECT id FROM announcements").fetchone()[0]
    viewer, vcsrf = _signed_in(client, "viewer")
    assert "Lưu trữ" not in viewer.get(f"/announcements/{announcement_id}").text
    refused = viewer.post(f"/announcements/{announcement_id}/archive", data={"csrf": vcsrf})
    assert refused.status_code == 422 and "không có quyền" in refused.text
    assert "Lưu trữ" in editor.get(f"/announcements/{announcement_id}").text
    archived = editor.post(f"/announcements/{announcement_id}/archive", data={"csrf": csrf})
    assert archived.status_code == 303
    status = _db(client).execute("SELECT status FROM announcements").fetchone()[0]
    assert status == "archived"
    assert "Không có bản tin nào chờ duyệt" in editor.get("/approvals").text


def test_todays_list_on_the_dashboard_keeps_to_the_officials_area(
    client: TestClient, people: People, commune: SeededCommune, monkeypatch
):
    from controller.web import session as web

    made = client.post(
        "/api/v1/announcements",
        json={"title": "Họp thôn", "text": "Mời họp.", "submit": True},
        headers=people.headers("editor"),
    )
    announcement_id = made.json()["id"]
    approved = client.post(
        f"/api/v1/announcements/{announcement_id}/approve", headers=people.headers("approver")
    )
    assert approved.status_code == 200, approved.text
    start = (datetime.now(UTC) + timedelta(hours=1)).replace(second=0, microsecond=0)
    ids = {}
    for name, zone_id in (
        ("village", people.village_zone),
        ("other", people.other_zone),
        ("commune", commune.commune_id),
    ):
        b = client.post(
            "/api/v1/broadcasts",
            json={
                "announcement_id": announcement_id,
                "zone_ids": [zone_id],
                "starts_at": start.isoformat(),
                "accept_conflicts": True,
            },
        )
        assert b.status_code == 201, b.text
        ids[name] = b.json()["id"]
    monkeypatch.setattr(web, "utcnow", lambda: start)  # "today" is the broadcasts' local day

    def today(who: str) -> dict[int, str]:
        browser, _ = _signed_in(client, who)
        html = browser.get("/").text
        table = re.search(r"<h2>Lịch phát hôm nay</h2>.*?</table>", html, re.S)
        assert table, html
        rows = re.findall(
            r'<tr><td>.*?href="/broadcasts/(\d+)".*?<td>(\d+/\d+)</td></tr>', table[0], re.S
        )
        return {int(b): counts for b, counts in rows}

    assert today("editor") == {ids["village"]: "0/1", ids["other"]: "0/1", ids["commune"]: "0/3"}
    # a village official: their village's broadcasts, counted on their village's clusters
    assert today("village_editor") == {ids["village"]: "0/1", ids["commune"]: "0/1"}


def test_the_play_log_page_counts_every_row_of_its_period_and_opens_on_the_last_week(
    client: TestClient, people: People, commune
):
    """120 plays in the last days and one a month ago: the page shows the newest 100 of the 120
    (not of however many rows it fetched), and the month-old one only when asked for."""
    db = _db(client)
    now = datetime.now(UTC)
    nodes = [n.node_id for n in commune.nodes]
    with db.conn:
        times = [now - timedelta(hours=h) for h in range(40)] + [now - timedelta(days=30)]
        for b, at in enumerate(times):
            broadcast = insert(
                db,
                "broadcasts",
                {"title": f"Bản tin {b}", "kind": "relay", "zone_ids": "[]", "status": "active"},
            )
            for node in nodes[:3] if b < 40 else nodes[:1]:
                insert(
                    db,
                    "dispatches",
                    {
                        "broadcast_id": broadcast,
                        "occurrence": to_wire_time(at),
                        "node_id": node,
                        "play_at": to_wire_time(at),
                        "state": "played",
                    },
                )
    viewer, _ = _signed_in(client, "viewer")
    page = viewer.get("/reports")
    week_ago = (datetime.now(LOCAL).date() - timedelta(days=6)).isoformat()
    assert f'name="since" value="{week_ago}"' in page.text
    assert "Hiển thị 100/120 dòng" in page.text
    everything = viewer.get("/reports", params={"since": "2020-01-01"})
    assert "Hiển thị 100/121 dòng" in everything.text
