"""Who wrote an announcement, who approved or rejected it, and when: on the list, the
announcement's page, its edit form and the approval card (issue 14, should fix)."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

from tests.controller.conftest import People
from tests.controller.test_web import _db, _signed_in, _write


def _names(client: TestClient) -> None:
    db = _db(client)
    db.execute("UPDATE users SET display_name = 'Nguyễn Văn Soạn' WHERE username = 'editor'")
    db.execute("UPDATE users SET display_name = 'Trần Thị Duyệt' WHERE username = 'approver'")


def _people_line(html: str) -> str:
    match = re.search(r"<p class=\"people muted\" data-people>(.*?)</p>", html, re.S)
    assert match, "no line naming who wrote and reviewed"
    return re.sub(r"<[^>]+>", "", match.group(1))


def test_the_author_shows_on_the_approval_card_and_the_page(client: TestClient, people: People):
    _names(client)
    editor, csrf = _signed_in(client, "editor")
    _write(editor, csrf, "Lịch tiêm phòng dại", "Tiêm phòng dại cho chó mèo sáng thứ Bảy.")
    approver, _ = _signed_in(client, "approver")
    card = _people_line(approver.get("/approvals").text)
    assert "Nguyễn Văn Soạn" in card and "gửi duyệt" in card
    announcement_id = _db(client).execute("SELECT id FROM announcements").fetchone()[0]
    page = _people_line(approver.get(f"/announcements/{announcement_id}").text)
    assert "Nguyễn Văn Soạn" in page and "Trần Thị Duyệt" not in page


def test_the_approver_and_the_time_show_once_approved(client: TestClient, people: People):
    _names(client)
    editor, csrf = _signed_in(client, "editor")
    _write(editor, csrf, "Họp dân thôn", "Mời bà con dự họp lúc 19 giờ tối nay.")
    announcement_id = _db(client).execute("SELECT id FROM announcements").fetchone()[0]
    approver, csrf2 = _signed_in(client, "approver")
    done = approver.post(f"/approvals/{announcement_id}", data={"csrf": csrf2, "action": "approve"})
    assert done.status_code == 303
    page = _people_line(editor.get(f"/announcements/{announcement_id}").text)
    assert "Người soạn: Nguyễn Văn Soạn" in page
    assert re.search(r"Người duyệt: Trần Thị Duyệt, \d\d:\d\d \d\d/\d\d/\d{4}", page)
    listing = editor.get("/announcements").text
    row = re.search(rf'<tr data-announcement="{announcement_id}">(.*?)</tr>', listing, re.S)
    assert row and "Nguyễn Văn Soạn" in row.group(1) and "Trần Thị Duyệt" in row.group(1)


def test_a_rejection_names_who_rejected_on_the_edit_form(client: TestClient, people: People):
    _names(client)
    editor, csrf = _signed_in(client, "editor")
    _write(editor, csrf, "Thu thuế", "Nộp thuế trước ngày 31.")
    announcement_id = _db(client).execute("SELECT id FROM announcements").fetchone()[0]
    approver, csrf2 = _signed_in(client, "approver")
    approver.post(
        f"/approvals/{announcement_id}",
        data={"csrf": csrf2, "action": "reject", "comment": "Ghi rõ năm."},
    )
    form = editor.get(f"/announcements/{announcement_id}").text  # the editor edits it again
    assert "Sửa bản tin" in form
    line = _people_line(form)
    assert "Người từ chối: Trần Thị Duyệt" in line and "Người duyệt" not in line
