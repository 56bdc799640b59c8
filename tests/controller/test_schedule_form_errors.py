"""The schedule and relay forms as officials fill them (issue 14, should fix): every error at
once next to its field, impossible values said as such, times written "6h, 17h30", no red on an
untouched form, a clash said once with its broadcast, village, time in words and the nearest
free times, "Toàn xã" for the whole commune, and the last day of the month as a checkbox."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient

import schedules
from controller.domain.seed import SeededCommune
from tests.controller.conftest import People
from tests.controller.test_web import _count, _db, _signed_in, _write

LOCAL = ZoneInfo("Asia/Ho_Chi_Minh")


def _field_error(html: str, field: str) -> str:
    match = re.search(rf'<p class="field-error" id="{field}-error"[^>]*>(.*?)</p>', html, re.S)
    return match.group(1) if match else ""


def _announcement(client: TestClient, browser: TestClient, csrf: str, title: str) -> int:
    assert _write(browser, csrf, title, f"{title}: mời bà con.").status_code == 303
    return int(_db(client).execute("SELECT MAX(id) FROM announcements").fetchone()[0])


def _today() -> str:
    return datetime.now(UTC).astimezone(LOCAL).date().isoformat()


def test_every_schedule_error_is_shown_at_once_next_to_its_field(
    client: TestClient, people: People
) -> None:
    editor, csrf = _signed_in(client, "editor")
    today = datetime.now(UTC).astimezone(LOCAL).date()
    page = editor.post(
        "/schedule/new",
        data={
            "csrf": csrf,
            "announcement_id": "",
            "kind": "recurring",
            "frequency": "monthly",
            "times": "6h, 25:00",
            "month_days": "1, 32",
            "valid_from": today.isoformat(),
            "valid_until": (today - timedelta(days=3)).isoformat(),
            "repeats": "1",
        },
    )
    assert page.status_code == 422
    assert _field_error(page.text, "announcement_id") == "Hãy chọn bản tin."
    assert _field_error(page.text, "zone_ids")
    assert "Giờ không hợp lệ (00:00–23:59)" in _field_error(page.text, "times")
    assert "không hợp lệ" in _field_error(page.text, "month_days")
    assert "31" in _field_error(page.text, "month_days")
    assert "phải từ ngày bắt đầu" in _field_error(page.text, "valid_until")
    for field in ("announcement_id", "times", "month_days", "valid_until"):
        assert f'id="{field}"' in page.text
        assert re.search(rf'id="{field}"[^>]*aria-invalid="true"', page.text), field
    assert 'value="6h, 25:00"' in page.text and 'value="1, 32"' in page.text, "kept as typed"
    assert _count(client, "broadcasts") == 0


def test_the_relay_form_names_an_end_before_the_start_with_its_other_errors(
    client: TestClient, people: People
) -> None:
    editor, csrf = _signed_in(client, "editor")
    start = (datetime.now(UTC) + timedelta(hours=2)).astimezone(LOCAL)
    page = editor.post(
        "/relays/new",
        data={
            "csrf": csrf,
            "stream_source_id": "",
            "kind": "once",
            "starts_at": start.strftime("%Y-%m-%dT%H:%M"),
            "ends_at": (start - timedelta(minutes=30)).strftime("%Y-%m-%dT%H:%M"),
            "priority": "normal",
        },
    )
    assert page.status_code == 422
    assert _field_error(page.text, "stream_source_id")
    assert _field_error(page.text, "zone_ids")
    assert _field_error(page.text, "ends_at") == "Giờ kết thúc phải sau giờ bắt đầu."
    recurring = editor.post(
        "/relays/new",
        data={
            "csrf": csrf,
            "stream_source_id": "",
            "kind": "recurring",
            "frequency": "daily",
            "time_from": "25:00",
            "time_until": "6h30",
            "valid_from": _today(),
            "priority": "normal",
        },
    )
    assert recurring.status_code == 422
    assert "Giờ không hợp lệ (00:00–23:59)" in _field_error(recurring.text, "time_from")
    assert not _field_error(recurring.text, "time_until"), "6h30 is a time"
    assert _count(client, "broadcasts") == 0


@pytest.mark.parametrize(
    ("typed", "hour", "minute"),
    [
        ("6h", 6, 0),
        ("17h", 17, 0),
        ("6h30", 6, 30),
        ("17g", 17, 0),
        ("6:30", 6, 30),
        ("06.30", 6, 30),
    ],
)
def test_times_are_read_as_commune_officials_write_them(typed: str, hour: int, minute: int) -> None:
    assert schedules.parse_clock(typed) == datetime(2000, 1, 1, hour, minute).time()


def test_a_schedule_typed_6h_17h_is_checked_and_saved(
    client: TestClient, people: People, commune: SeededCommune
) -> None:
    editor, csrf = _signed_in(client, "editor")
    announcement = _announcement(client, editor, csrf, "Phát thanh sáng chiều")
    data = {
        "csrf": csrf,
        "touched": "1",
        "announcement_id": str(announcement),
        "zone_ids": str(commune.nodes[0].zone_id),
        "kind": "recurring",
        "frequency": "daily",
        "times": "6h, 17g30",
        "valid_from": _today(),
        "repeats": "1",
    }
    check = editor.post("/schedule/check", data=data)
    assert 'data-check="ok"' in check.text
    assert "Hằng ngày lúc 06:00 và 17:30" in check.text
    saved = editor.post("/schedule/new", data=data)
    assert saved.status_code == 303, saved.text
    rrule = _db(client).execute("SELECT rrule FROM broadcasts").fetchone()[0]
    assert "BYHOUR=6,17" in rrule or ("BYHOUR=6" in rrule and "BYHOUR=17" in rrule), rrule


def test_the_untouched_form_is_not_painted_red(client: TestClient, people: People) -> None:
    editor, csrf = _signed_in(client, "editor")
    form = editor.get("/schedule/new")
    assert 'name="touched" value=""' in form.text
    untouched = {
        "csrf": csrf,
        "touched": "",
        "announcement_id": "",
        "kind": "once",
        "play_at": "",
        "repeats": "1",
    }
    quiet = editor.post("/schedule/check", data=untouched)
    assert quiet.status_code == 200
    assert "field-error" not in quiet.text and 'data-check="error"' not in quiet.text
    touched = editor.post("/schedule/check", data={**untouched, "touched": "1"})
    assert 'data-check="error"' in touched.text
    assert "Hãy chọn bản tin." in touched.text and "Hãy chọn ngày giờ phát." in touched.text


def test_a_clash_is_said_once_with_its_broadcast_village_time_and_the_free_times(
    client: TestClient, people: People, commune: SeededCommune
) -> None:
    editor, csrf = _signed_in(client, "editor")
    first = _announcement(client, editor, csrf, "Họp thôn")
    second = _announcement(client, editor, csrf, "Tiêm chủng")
    at = (datetime.now(UTC) + timedelta(hours=2)).astimezone(LOCAL).replace(second=0, microsecond=0)
    if at.hour >= 23:  # free times are looked for on the same day
        at = at.replace(hour=9, minute=0) + timedelta(days=1)
    base = {
        "csrf": csrf,
        "zone_ids": str(commune.nodes[0].zone_id),
        "kind": "once",
        "play_at": at.strftime("%Y-%m-%dT%H:%M"),
        "repeats": "1",
    }
    assert (
        editor.post("/schedule/new", data={**base, "announcement_id": str(first)}).status_code
        == 303
    )
    first_id = _db(client).execute("SELECT MAX(id) FROM broadcasts").fetchone()[0]
    village = (
        _db(client)
        .execute("SELECT name FROM zones WHERE id = ?", [commune.nodes[0].zone_id])
        .fetchone()[0]
    )
    refused = editor.post("/schedule/new", data={**base, "announcement_id": str(second)})
    assert refused.status_code == 409
    text = refused.text
    assert text.count("Trùng giờ với lượt phát khác") == 1, "said once"
    assert text.count(f'href="/broadcasts/{first_id}"') == 1
    clash = re.search(r"<div class=\"conflicts\"[^>]*data-clashes>.*?</div>", text, re.S)
    assert clash, text
    weekday = ["thứ Hai", "thứ Ba", "thứ Tư", "thứ Năm", "thứ Sáu", "thứ Bảy", "Chủ nhật"]
    words = f"{at:%H:%M} {weekday[at.weekday()]} {at:%d/%m}"
    assert "Họp thôn" in clash[0] and village in clash[0] and words in clash[0], clash[0]
    free = re.findall(r'<time datetime="([^"]+)"', clash[0])
    assert len(free) == 3, clash[0]
    starts = [datetime.fromisoformat(f) for f in free]
    assert starts[0] == at + timedelta(minutes=15)
    assert all(s.astimezone(LOCAL).date() == at.date() for s in starts)
    assert _count(client, "broadcasts") == 1, "nothing saved"
    moved = editor.post(
        "/schedule/new",
        data={
            **base,
            "announcement_id": str(second),
            "play_at": starts[0].astimezone(LOCAL).strftime("%Y-%m-%dT%H:%M"),
        },
    )
    assert moved.status_code == 303, "the free time offered is free"


def test_the_whole_commune_reads_toan_xa(
    client: TestClient, people: People, commune: SeededCommune
) -> None:
    editor, csrf = _signed_in(client, "editor")
    announcement = _announcement(client, editor, csrf, "Thông báo chung")
    at = (datetime.now(UTC) + timedelta(hours=3)).astimezone(LOCAL).strftime("%Y-%m-%dT%H:%M")
    base = {
        "touched": "1",
        "announcement_id": str(announcement),
        "kind": "once",
        "play_at": at,
        "repeats": "1",
    }
    names = [
        r[0]
        for r in _db(client).execute(
            "SELECT name FROM zones WHERE parent_id = ? ORDER BY id", [commune.commune_id]
        )
    ]
    whole = editor.post("/schedule/check", data={**base, "zone_ids": str(commune.commune_id)})
    assert "Toàn xã" in whole.text and not any(n in whole.text for n in names)
    every_village = editor.post(
        "/schedule/check",
        data={**base, "zone_ids": [str(n.zone_id) for n in commune.nodes]},
    )
    assert "Toàn xã" in every_village.text
    one = editor.post("/schedule/check", data={**base, "zone_ids": str(commune.nodes[0].zone_id)})
    assert "Toàn xã" not in one.text and names[0] in one.text


def test_the_last_day_of_the_month_is_a_checkbox(
    client: TestClient, people: People, commune: SeededCommune
) -> None:
    editor, csrf = _signed_in(client, "editor")
    form = editor.get("/schedule/new").text
    assert 'name="month_last_day"' in form and "Ngày cuối tháng" in form
    assert "-1 là ngày cuối tháng" not in form
    announcement = _announcement(client, editor, csrf, "Thu phí cuối tháng")
    saved = editor.post(
        "/schedule/new",
        data={
            "csrf": csrf,
            "announcement_id": str(announcement),
            "zone_ids": str(commune.nodes[0].zone_id),
            "kind": "recurring",
            "frequency": "monthly",
            "times": "7h",
            "month_days": "",
            "month_last_day": "1",
            "valid_from": _today(),
            "repeats": "1",
        },
    )
    assert saved.status_code == 303, saved.text
    rrule = _db(client).execute("SELECT rrule FROM broadcasts").fetchone()[0]
    assert "BYMONTHDAY=-1" in rrule, rrule
