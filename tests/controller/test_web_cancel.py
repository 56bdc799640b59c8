"""Safe cancel and the states officials read (issue 14, must-fix 3), as a browser without
JavaScript sees them: *Hủy lượt phát* asks first, naming the clusters, the villages and the
times that will not play, and cancels only once confirmed; the page then says what happened;
a finished broadcast offers no cancel and refuses one; a recurring programme counts the times
it played, not "0/0 cụm loa"; the emergency page stops an emergency only with a reason, which
the audit entry keeps. Real SQLite, the real app; the clock is the real one (times are computed
from now), dispatches moved through their states in the database where a node would report."""

from __future__ import annotations

import json
import re
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from fastapi.testclient import TestClient

from controller.domain.seed import SeededCommune
from loa.protocol import to_wire_time
from tests.controller.conftest import People

LOCAL = ZoneInfo("Asia/Ho_Chi_Minh")
WEEKDAYS = ("thứ Hai", "thứ Ba", "thứ Tư", "thứ Năm", "thứ Sáu", "thứ Bảy", "Chủ nhật")
TWO_VILLAGES = ("Thôn Lạc Xuân", "Thôn Lạc Bình")


def _csrf(html: str) -> str:
    match = re.search(r'name="csrf" value="([^"]+)"', html)
    assert match
    return match.group(1)


def _signed_in(client: TestClient, username: str) -> tuple[TestClient, str]:
    browser = TestClient(client.app, follow_redirects=False)
    page = browser.get("/login")
    signed = browser.post(
        "/login",
        data={"csrf": _csrf(page.text), "username": username, "password": People.PASSWORD},
    )
    assert signed.status_code == 303
    return browser, _csrf(browser.get("/").text)


def _db(client: TestClient) -> Any:
    return client.app.state.runtime.store.db  # type: ignore[attr-defined]


def _words(at: datetime) -> str:
    """A time as the pages word it: "06:00 thứ Hai 07/12" (the year when not this year's)."""
    local = at.astimezone(LOCAL)
    this_year = datetime.now(UTC).astimezone(LOCAL).year
    day = f"{local:%d/%m}" if local.year == this_year else f"{local:%d/%m/%Y}"
    return f"{local:%H:%M} {WEEKDAYS[local.weekday()]} {day}"


def _text(html: str) -> str:
    """The page's words without tags, spaces collapsed."""
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def _approved(client: TestClient, people: People, title: str = "Họp thôn") -> int:
    made = client.post(
        "/api/v1/announcements",
        json={"title": title, "text": "Mời bà con họp lúc 19 giờ.", "submit": True},
        headers=people.headers("editor"),
    )
    announcement_id = int(made.json()["id"])
    approved = client.post(
        f"/api/v1/announcements/{announcement_id}/approve", headers=people.headers("approver")
    )
    assert approved.status_code == 200, approved.text
    return announcement_id


def _villages(commune: SeededCommune) -> list[int]:
    return [commune.nodes[0].zone_id, commune.nodes[1].zone_id]


def _daily_from(
    client: TestClient, people: People, zone_ids: list[int], first_day: date, times: list[str]
) -> int:
    made = client.post(
        "/api/v1/broadcasts",
        json={
            "announcement_id": _approved(client, people, "Chương trình sáng"),
            "zone_ids": zone_ids,
            "rule": {"frequency": "daily", "times": times, "valid_from": first_day.isoformat()},
        },
        headers=people.headers("editor"),
    )
    assert made.status_code == 201, made.text
    return int(made.json()["id"])


def _once(client: TestClient, people: People, zone_ids: list[int], at: datetime) -> int:
    made = client.post(
        "/api/v1/broadcasts",
        json={
            "announcement_id": _approved(client, people),
            "zone_ids": zone_ids,
            "starts_at": at.isoformat(),
        },
        headers=people.headers("editor"),
    )
    assert made.status_code == 201, made.text
    return int(made.json()["id"])


def _played_in_the_past(client: TestClient, broadcast_id: int, ago: timedelta) -> None:
    """As if its time came ``ago`` and every node reported it played."""
    at = to_wire_time(datetime.now(UTC) - ago)
    db = _db(client)
    db.execute("UPDATE broadcasts SET starts_at = ? WHERE id = ?", [at, broadcast_id])
    db.execute(
        "UPDATE dispatches SET play_at = ?, state = 'played' WHERE broadcast_id = ?",
        [at, broadcast_id],
    )
    db.conn.commit()


def _status(client: TestClient, broadcast_id: int) -> str:
    return str(
        _db(client)
        .execute("SELECT status FROM broadcasts WHERE id = ?", [broadcast_id])
        .fetchone()[0]
    )


def _tomorrow_local() -> date:
    return datetime.now(UTC).astimezone(LOCAL).date() + timedelta(days=1)


def test_cancel_asks_first_naming_the_clusters_villages_and_times_then_says_what_happened(
    client: TestClient, people: People, commune: SeededCommune
):
    first_day = _tomorrow_local() + timedelta(days=1)  # beyond the 24 h horizon: nothing sent
    broadcast_id = _daily_from(client, people, _villages(commune), first_day, ["06:00", "17:30"])
    first = datetime.combine(first_day, time(6, 0), LOCAL)
    editor, csrf = _signed_in(client, "editor")

    page = editor.get(f"/broadcasts/{broadcast_id}").text
    assert f"Chưa đến giờ phát — lần đầu {_words(first)}" in _text(page)
    assert "Chưa phát lần nào" in page and "0/0" not in page
    assert f'href="/broadcasts/{broadcast_id}/cancel"' in page
    assert f'action="/broadcasts/{broadcast_id}/cancel"' not in page, "no one-tap cancel form"

    confirm = editor.get(f"/broadcasts/{broadcast_id}/cancel")
    assert confirm.status_code == 200
    text = _text(confirm.text)
    assert f"Hủy lượt phát #{broadcast_id} «Chương trình sáng»?" in text
    assert "2 cụm loa ở: Thôn Lạc Xuân, Thôn Lạc Bình" in text
    expected = [
        first,
        first.replace(hour=17, minute=30),
        first + timedelta(days=1),
        (first + timedelta(days=1)).replace(hour=17, minute=30),
        first + timedelta(days=2),
    ]
    times = re.findall(r'<time datetime="[^"]+">([^<]+)</time>', confirm.text)
    assert times == [_words(at) for at in expected]
    assert "và mọi lần sau đó" in text
    assert 'name="confirm" value="1"' in confirm.text and 'id="reason"' in confirm.text
    assert "Lý do (không bắt buộc" in text
    assert _status(client, broadcast_id) == "active", "showing the step cancels nothing"

    # A form without the confirmation (the old one-tap post) shows the step again.
    unconfirmed = editor.post(f"/broadcasts/{broadcast_id}/cancel", data={"csrf": csrf})
    assert unconfirmed.status_code == 200 and "2 cụm loa ở:" in unconfirmed.text
    assert _status(client, broadcast_id) == "active"
    bad_token = editor.post(
        f"/broadcasts/{broadcast_id}/cancel", data={"csrf": "not-it", "confirm": "1"}
    )
    assert bad_token.status_code == 403 and _status(client, broadcast_id) == "active"

    done = editor.post(
        f"/broadcasts/{broadcast_id}/cancel",
        data={"csrf": csrf, "confirm": "1", "reason": "Đổi lịch họp"},
    )
    assert done.status_code == 303 and done.headers["location"] == f"/broadcasts/{broadcast_id}"
    assert _status(client, broadcast_id) == "cancelled"
    after = editor.get(done.headers["location"]).text
    text = _text(after)
    assert f"Đã hủy lượt phát #{broadcast_id} «Chương trình sáng»." in text
    assert "Chưa cụm loa nào nhận lượt phát này nên không cần gửi lệnh dừng." in text
    assert "Các lần phát sau sẽ không diễn ra." in text
    assert re.search(r"Đã hủy lúc \d\d:\d\d \S+ \S+ \d\d/\d\d, bởi editor", text), text
    assert "Lý do: Đổi lịch họp" in text
    assert "Hủy lượt phát" not in after, "nothing left to cancel"
    assert 'id="cancel-notice"' not in editor.get(f"/broadcasts/{broadcast_id}").text, "once"
    entry = (
        _db(client)
        .execute("SELECT actor_id, after FROM audit_log WHERE action = 'broadcast.cancel'")
        .fetchone()
    )
    assert entry[0] == people.ids["editor"]
    assert json.loads(entry[1])["reason"] == "Đổi lịch họp"
    listed = _text(editor.get("/schedule").text)
    assert re.search(rf"{broadcast_id} Chương trình sáng Định kỳ .*? Đã hủy lúc", listed)


def test_the_message_says_how_many_clusters_held_it_and_were_not_reached(
    client: TestClient, people: People, commune: SeededCommune
):
    at = (datetime.now(UTC) + timedelta(hours=2)).replace(second=0, microsecond=0)
    broadcast_id = _once(client, people, _villages(commune), at)
    db = _db(client)
    # delivered to both nodes (as a tick would); this test app has no broker to reach them now
    db.execute("UPDATE dispatches SET state = 'acked' WHERE broadcast_id = ?", [broadcast_id])
    db.conn.commit()
    editor, csrf = _signed_in(client, "editor")
    page = _text(editor.get(f"/broadcasts/{broadcast_id}").text)
    assert f"Chưa đến giờ phát — phát lúc {_words(at)}" in page
    confirm = editor.get(f"/broadcasts/{broadcast_id}/cancel").text
    assert [_words(at)] == re.findall(r'<time datetime="[^"]+">([^<]+)</time>', confirm)
    assert "Lần phát sẽ không diễn ra:" in confirm and "và mọi lần sau đó" not in confirm
    done = editor.post(
        f"/broadcasts/{broadcast_id}/cancel", data={"csrf": csrf, "confirm": "1", "reason": ""}
    )
    assert done.status_code == 303
    notice = re.search(
        r'<p class="notice"[^>]*id="cancel-notice".*?</p>',
        editor.get(done.headers["location"]).text,
        re.S,
    )
    assert notice, "the notice"
    assert 'data-held="2" data-told="0"' in notice[0]
    assert (
        "2 cụm loa chưa nhận được lệnh vì mất kết nối; khi kết nối lại, cụm loa sẽ bỏ lượt "
        "phát này." in _text(notice[0])
    )
    entry = (
        _db(client)
        .execute("SELECT after FROM audit_log WHERE action = 'broadcast.cancel'")
        .fetchone()
    )
    assert json.loads(entry[0])["reason"] is None, "no reason given: none stored"


def test_states_for_a_recurring_programme_under_way_and_a_finished_broadcast(
    client: TestClient, people: People, commune: SeededCommune
):
    village = [commune.nodes[0].zone_id]
    today = datetime.now(UTC).astimezone(LOCAL).date()
    daily = _daily_from(client, people, village, today, ["06:00"])
    # its first time came yesterday and played there
    yesterday = datetime.combine(today - timedelta(days=1), time(6, 0), LOCAL)
    db = _db(client)
    db.execute("UPDATE broadcasts SET starts_at = ? WHERE id = ?", [to_wire_time(yesterday), daily])
    db.execute(
        "INSERT INTO dispatches (broadcast_id, occurrence, node_id, play_at, state, updated_at) "
        "VALUES (?, ?, ?, ?, 'played', ?)",
        [daily, "2000", commune.nodes[0].node_id, to_wire_time(yesterday), to_wire_time(yesterday)],
    )
    db.conn.commit()
    now_local = datetime.now(UTC).astimezone(LOCAL)
    upcoming = datetime.combine(today, time(6, 0), LOCAL)
    if upcoming <= now_local:
        upcoming += timedelta(days=1)
    editor, csrf = _signed_in(client, "editor")
    page = editor.get(f"/broadcasts/{daily}").text
    assert f"Đang hiệu lực — lần tới {_words(upcoming)}" in _text(page)
    assert "Đã phát 1 lần" in page and "Đã phát 0/" not in page
    assert "Hủy lượt phát" in page
    row = re.search(
        rf'<tr data-broadcast="{daily}">.*?</tr>',
        editor.get("/schedule").text,
        re.S,
    )
    assert row and 'data-broadcast-state="active"' in row[0]
    assert "1 lần" in row[0] and "Đang hiệu lực — lần tới" in row[0]

    once = _once(client, people, village, datetime.now(UTC) + timedelta(hours=2))
    _played_in_the_past(client, once, timedelta(minutes=30))
    page = editor.get(f"/broadcasts/{once}").text
    assert 'data-broadcast-state="finished"' in page and "Đã phát xong" in page
    assert "Đang hiệu lực" not in page and "Hủy lượt phát" not in page
    assert "Đã phát 1/1 cụm loa" in page
    refused = editor.get(f"/broadcasts/{once}/cancel")
    assert refused.status_code == 422 and "Lượt phát đã kết thúc hoặc đã hủy." in refused.text
    posted = editor.post(f"/broadcasts/{once}/cancel", data={"csrf": csrf, "confirm": "1"})
    assert posted.status_code == 422 and _status(client, once) == "active", "played stays played"
    api = client.get(f"/api/v1/broadcasts/{once}").json()
    assert (api["status"], api["state"], api["stoppable"]) == ("active", "finished", False)
    again = client.post(f"/api/v1/broadcasts/{once}/cancel")
    assert again.status_code == 409 and again.json()["error"]["code"] == "broadcast_finished"
    listed = {b["id"]: b for b in client.get("/api/v1/broadcasts").json()}
    assert listed[daily]["state"] == "active" and listed[daily]["next_at"]
    assert listed[once]["state"] == "finished" and listed[once]["next_at"] is None


def test_the_emergency_page_stops_it_only_with_a_reason_which_is_audited(
    client: TestClient, people: People, commune: SeededCommune
):
    sent = client.post(
        "/api/v1/emergency",
        json={
            "title": "Lũ quét",
            "text": "Bà con di chuyển lên vùng cao ngay.",
            "zone_ids": [commune.commune_id],
            "repeats": 3,
        },
        headers=people.headers("approver"),
    )
    assert sent.status_code == 201, sent.text
    emergency_id = sent.json()["id"]
    db = _db(client)
    db.execute(  # the nodes got it, its time came, and one plays it now
        "UPDATE dispatches SET state = CASE node_id WHEN ? THEN 'playing' ELSE 'acked' END, "
        "play_at = ? WHERE broadcast_id = ?",
        [
            commune.nodes[0].node_id,
            to_wire_time(datetime.now(UTC) - timedelta(seconds=1)),
            emergency_id,
        ],
    )
    db.conn.commit()
    approver, csrf = _signed_in(client, "approver")
    page = approver.get(f"/emergency/{emergency_id}").text
    assert "Đang phát khẩn cấp" in page
    assert f'href="/emergency/{emergency_id}/stop"' in page and "Dừng phát khẩn cấp" in page

    confirm = approver.get(f"/emergency/{emergency_id}/stop")
    text = _text(confirm.text)
    assert confirm.status_code == 200
    assert "Dừng phát khẩn cấp «Lũ quét»?" in text
    assert "3 cụm loa ở: Xã Lạc Lâm" in text
    assert "Đang phát trên 3 cụm loa (Cụm loa Thôn" in text and "sẽ dừng ngay." in text
    assert "Lý do dừng (bắt buộc" in text
    assert f'action="/emergency/{emergency_id}/stop"' in confirm.text

    no_reason = approver.post(
        f"/emergency/{emergency_id}/stop", data={"csrf": csrf, "confirm": "1", "reason": "  "}
    )
    assert no_reason.status_code == 422
    assert 'id="reason-error"' in no_reason.text
    assert "Hãy ghi lý do dừng phát khẩn cấp." in no_reason.text
    assert _status(client, emergency_id) == "active"
    too_long = approver.post(
        f"/emergency/{emergency_id}/stop", data={"csrf": csrf, "confirm": "1", "reason": "x" * 501}
    )
    assert too_long.status_code == 422 and "tối đa 500 ký tự" in too_long.text
    assert _status(client, emergency_id) == "active"

    stopped = approver.post(
        f"/emergency/{emergency_id}/stop",
        data={"csrf": csrf, "confirm": "1", "reason": "Báo nhầm: nước đã rút"},
    )
    assert stopped.status_code == 303
    assert stopped.headers["location"] == f"/emergency/{emergency_id}"
    after = _text(approver.get(stopped.headers["location"]).text)
    assert "Đã dừng phát khẩn cấp «Lũ quét»." in after
    assert "3 cụm loa chưa nhận được lệnh vì mất kết nối" in after
    assert re.search(r"Đã dừng lúc \d\d:\d\d:?\d* \S+ \S+ \d\d/\d\d, bởi approver", after), after
    assert "Lý do dừng: Báo nhầm: nước đã rút" in after
    assert "Dừng phát khẩn cấp" not in after.replace("Đã dừng phát khẩn cấp", "")
    entry = db.execute(
        "SELECT actor_id, after FROM audit_log WHERE action = 'broadcast.cancel' AND entity_id = ?",
        [str(emergency_id)],
    ).fetchone()
    assert entry[0] == people.ids["approver"]
    assert json.loads(entry[1])["reason"] == "Báo nhầm: nước đã rút"
    assert client.get(f"/api/v1/broadcasts/{emergency_id}").json()["cancel_reason"] == (
        "Báo nhầm: nước đã rút"
    )


def test_a_finished_emergency_says_so_and_offers_no_stop(
    client: TestClient, people: People, commune: SeededCommune
):
    sent = client.post(
        "/api/v1/emergency",
        json={"title": "Bão", "text": "Bão sắp vào.", "zone_ids": [commune.commune_id]},
        headers=people.headers("approver"),
    )
    emergency_id = sent.json()["id"]
    _played_in_the_past(client, emergency_id, timedelta(minutes=5))
    approver, _ = _signed_in(client, "approver")
    page = approver.get(f"/emergency/{emergency_id}").text
    assert 'data-broadcast-state="finished"' in page and "Đã phát xong" in page
    assert "Đang phát khẩn cấp" not in page and "/stop" not in page


def test_the_api_cancel_takes_an_optional_reason(
    client: TestClient, people: People, commune: SeededCommune
):
    broadcast_id = _once(client, people, _villages(commune), datetime.now(UTC) + timedelta(hours=3))
    done = client.post(
        f"/api/v1/broadcasts/{broadcast_id}/cancel",
        json={"reason": "Trùng lịch tiêm chủng"},
        headers=people.headers("approver"),
    )
    assert done.status_code == 200, done.text
    body = done.json()
    assert (body["status"], body["state"], body["stoppable"]) == ("cancelled", "cancelled", False)
    assert body["cancel_reason"] == "Trùng lịch tiêm chủng"
    assert (body["nodes_held"], body["nodes_told"]) == (0, 0)
    other = _once(client, people, _villages(commune), datetime.now(UTC) + timedelta(hours=4))
    control = client.post(
        f"/api/v1/broadcasts/{other}/cancel",
        json={"reason": "a\u202eb"},
        headers=people.headers("approver"),
    )
    assert control.status_code == 422 and control.json()["error"]["field"] == "reason"
    assert _status(client, other) == "active", "nothing half-written"
