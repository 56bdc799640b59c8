"""The relay pages as a browser without JavaScript sees them, against a real controller and a
real local station (ffmpeg, tests/streams/tone.py): stream sources with their health in
Vietnamese, the relay form and its errors (nothing half-saved), deleting a source, the live page
in the common layout, and every new route × every role from the permission table."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient

from controller.domain import sources as streams
from controller.domain.authz import PERMISSIONS
from controller.domain.seed import SeededCommune
from controller.i18n import gettext_for
from controller.web import live as web_live
from controller.web import streams as web_streams
from controller.web.common import NAV, duration_text
from controller.web.streams import health_reason
from loa.protocol import to_wire_time
from tests.controller.conftest import People
from tests.controller.test_web import _browser, _signed_in
from tests.streams.tone import ToneStation
from tests.support.net import free_port

LOCAL = ZoneInfo("Asia/Ho_Chi_Minh")
#: Nothing listens here: a check fails at once ("connection refused").
DEAD_URL = f"http://127.0.0.1:{free_port()}/vov1.mp3"


@pytest.fixture(scope="module")
def station() -> Iterator[ToneStation]:
    s = ToneStation()
    s.start()
    yield s
    s.stop()


def _db(client: TestClient) -> Any:
    return client.app.state.runtime.store.db  # type: ignore[attr-defined]


def _count(client: TestClient, table: str, where: str = "1") -> int:
    return int(_db(client).execute(f"SELECT COUNT(*) FROM {table} WHERE {where}").fetchone()[0])


def _field_error(html: str, field: str) -> str:
    match = re.search(rf'<p class="field-error" id="{field}-error" role="alert">([^<]*)</p>', html)
    assert match, f"no error shown for {field}"
    return match.group(1)


def _add_source(browser: TestClient, csrf: str, name: str, url: str, **extra: str) -> Any:
    return browser.post("/stream-sources", data={"csrf": csrf, "name": name, "url": url, **extra})


def _saved_source(client: TestClient, name: str, url: str) -> int:
    """A source saved directly (its health checked for real, failing accepted)."""
    runtime = client.app.state.runtime  # type: ignore[attr-defined]
    source_id, _ = streams.save_source(runtime.store, None, name, url, accept_unhealthy=True)
    return source_id


def _local(delta: timedelta) -> str:
    return (datetime.now(UTC) + delta).astimezone(LOCAL).strftime("%Y-%m-%dT%H:%M:%S")


def _relay(source_id: int, zone_ids: list[int], csrf: str, **extra: Any) -> dict[str, Any]:
    return {
        "csrf": csrf,
        "stream_source_id": str(source_id),
        "zone_ids": [str(z) for z in zone_ids],
        "kind": "once",
        "starts_at": _local(timedelta(hours=1)),
        "ends_at": _local(timedelta(hours=1, minutes=30)),
        "priority": "normal",
        **extra,
    }


def _row(html: str, source_id: int) -> str:
    match = re.search(rf'<tr id="source-{source_id}".*?</tr>', html, re.S)
    assert match, html
    return re.sub(r"\s+", " ", match.group(0))


# --- stream sources ---------------------------------------------------------------------------


def test_a_source_is_checked_before_saving_and_its_health_is_listed(
    client: TestClient, people: People, station: ToneStation
):
    editor, csrf = _signed_in(client, "approver")  # sources: admins and approvers
    saved = _add_source(editor, csrf, "VOV1", station.url)
    assert saved.status_code == 303, saved.text
    page = editor.get(saved.headers["location"])
    assert "Đã lưu nguồn tiếp sóng." in page.text
    source_id = _db(client).execute("SELECT id FROM stream_sources").fetchone()[0]
    row = _row(page.text, source_id)
    assert 'data-health="ok"' in row
    assert "Tốt" in row and "MP3" in row and "64 kb/s" in row
    assert station.url in row
    checked = re.search(r"Kiểm tra lúc (\d\d:\d\d:\d\d \d\d/\d\d/\d{4})", row)
    assert checked, row
    at = datetime.strptime(checked.group(1), "%H:%M:%S %d/%m/%Y").replace(tzinfo=LOCAL)
    assert abs((datetime.now(UTC) - at).total_seconds()) < 60, "shown in Vietnam's time"


@pytest.mark.parametrize(
    ("path", "reason"),
    [
        ("/page.html", "Địa chỉ này trả về text/html, không phải luồng âm thanh."),
        ("/missing.mp3", "Máy chủ trả lời lỗi HTTP 404."),
    ],
)
def test_a_failing_check_is_a_vietnamese_error_and_saves_nothing_unless_accepted(
    client: TestClient, people: People, station: ToneStation, path: str, reason: str
):
    editor, csrf = _signed_in(client, "approver")  # sources: admins and approvers
    url = station.path_url(path)
    refused = _add_source(editor, csrf, "Trang web", url)
    assert refused.status_code == 422
    assert _field_error(refused.text, "url") == f"Kiểm tra luồng không đạt: {reason}"
    assert 'value="Trang web"' in refused.text and f'value="{url}"' in refused.text
    assert 'aria-describedby="url-error"' in refused.text
    assert _count(client, "stream_sources") == 0
    accepted = _add_source(editor, csrf, "Trang web", url, accept_unhealthy="1")
    assert accepted.status_code == 303, accepted.text
    source_id = _db(client).execute("SELECT id FROM stream_sources").fetchone()[0]
    row = _row(editor.get("/stream-sources").text, source_id)
    assert 'data-health="error"' in row
    assert "Lỗi" in row and reason in row


def test_a_station_that_is_not_there_is_explained_in_vietnamese(client: TestClient, people: People):
    editor, csrf = _signed_in(client, "approver")  # sources: admins and approvers
    refused = _add_source(editor, csrf, "Đài tỉnh", DEAD_URL)
    assert refused.status_code == 422
    assert "từ chối kết nối" in _field_error(refused.text, "url")
    bad = _add_source(editor, csrf, "Đài tỉnh", "ftp://example.org/radio")
    assert _field_error(bad.text, "url").startswith("Địa chỉ luồng phải bắt đầu bằng http://")
    nameless = _add_source(editor, csrf, "  ", DEAD_URL)
    assert "Hãy đặt tên cho nguồn tiếp sóng" in _field_error(nameless.text, "name")
    assert _count(client, "stream_sources") == 0


def test_every_reason_the_health_check_gives_reads_as_vietnamese():
    """Each error controller.domain.sources.check_url can store, and the sentence officials read."""
    _ = gettext_for("vi")
    cases = {
        "HTTP 503": "Máy chủ trả lời lỗi HTTP 503.",
        "content type text/html is not an audio stream": "Địa chỉ này trả về text/html",
        "no audio data": "không gửi dữ liệu âm thanh",
        "no data within the timeout": "không gửi dữ liệu trong thời gian chờ",
        "ffprobe found no audio": "Không tìm thấy âm thanh",
        "ConnectError: [Errno 111] Connection refused": "từ chối kết nối",
        "ConnectTimeout: timed out": "Hết thời gian chờ",
        "ConnectError: [Errno -2] Name or service not known": "Không tìm thấy tên máy chủ",
        "RemoteProtocolError: Server disconnected": "Không kết nối được tới máy chủ phát",
    }
    for error, expected in cases.items():
        assert expected in health_reason(_, error), error
    assert health_reason(gettext_for("en"), "no audio data").startswith("Connected, but")


def test_durations_read_as_words():
    _ = gettext_for("vi")
    assert duration_text(_, 1800) == "30 phút"
    assert duration_text(_, 5400) == "1 giờ 30 phút"
    assert duration_text(_, 6) == "6 giây"


def test_check_again_updates_the_health_shown(
    client: TestClient, people: People, station: ToneStation
):
    source_id = _saved_source(client, "Đài huyện", DEAD_URL)
    viewer, csrf = _signed_in(client, "viewer")  # checking is open to every role, as in the API
    row = _row(viewer.get("/stream-sources").text, source_id)
    assert 'data-health="error"' in row and "từ chối kết nối" in row
    _db(client).execute("UPDATE stream_sources SET url = ? WHERE id = ?", [station.url, source_id])
    _db(client).conn.commit()
    checked = viewer.post(f"/stream-sources/{source_id}/check", data={"csrf": csrf})
    assert checked.status_code == 303
    page = viewer.get(checked.headers["location"])
    assert "Đã kiểm tra lại nguồn." in page.text
    assert 'data-health="ok"' in _row(page.text, source_id)
    assert viewer.post(f"/stream-sources/{source_id}/check", data={}).status_code == 403


def test_a_source_in_use_is_not_deleted_until_its_relays_are_cancelled(
    client: TestClient, people: People, commune: SeededCommune
):
    source_id = _saved_source(client, "VOV3", DEAD_URL)
    editor, csrf = _signed_in(client, "approver")  # removing a source: admins and approvers
    made = editor.post(
        "/relays/new",
        data=_relay(source_id, [commune.commune_id], csrf, accept_unhealthy="1"),
    )
    assert made.status_code == 303, made.text
    relay_id = int(made.headers["location"].split("=")[1])
    refused = editor.post(f"/stream-sources/{source_id}/delete", data={"csrf": csrf})
    assert refused.status_code == 409
    assert f"«Tiếp sóng VOV3» (#{relay_id})" in _row(refused.text, source_id)
    assert _count(client, "stream_sources", "deleted_at IS NULL") == 1
    cancelled = editor.post(f"/broadcasts/{relay_id}/cancel", data={"csrf": csrf, "confirm": "1"})
    assert cancelled.status_code == 303
    deleted = editor.post(f"/stream-sources/{source_id}/delete", data={"csrf": csrf})
    assert deleted.status_code == 303
    page = editor.get(deleted.headers["location"])
    assert "Đã xóa nguồn khỏi danh sách" in page.text and "VOV3" not in page.text
    assert _count(client, "stream_sources", "deleted_at IS NOT NULL") == 1, "kept for the log"
    assert _count(client, "audit_log", "action = 'stream_source.delete'") == 1
    assert "VOV3" in editor.get(f"/broadcasts/{relay_id}").text, "the play log keeps its title"


# --- relays -----------------------------------------------------------------------------------


def test_a_relay_for_two_villages_is_saved_and_shown_in_the_schedules(
    client: TestClient, people: People, commune: SeededCommune, station: ToneStation
):
    editor, csrf = _signed_in(client, "approver")  # adds the source, so approves its own relay
    assert _add_source(editor, csrf, "VOV1", station.url).status_code == 303
    source_id = _db(client).execute("SELECT id FROM stream_sources").fetchone()[0]
    form = editor.get(f"/relays/new?source={source_id}")
    assert re.search(rf'<option value="{source_id}" selected>VOV1 — Tốt</option>', form.text)
    villages = [commune.nodes[0].zone_id, commune.nodes[1].zone_id]
    start = datetime.now(UTC) + timedelta(hours=2)
    data = _relay(
        source_id,
        villages,
        csrf,
        starts_at=start.astimezone(LOCAL).strftime("%Y-%m-%dT%H:%M"),
        ends_at=(start + timedelta(minutes=45)).astimezone(LOCAL).strftime("%Y-%m-%dT%H:%M"),
        title="Thời sự VOV",
    )
    saved = editor.post("/relays/new", data=data)
    assert saved.status_code == 303, saved.text
    assert saved.headers["location"].startswith("/relays?created=")
    relay_id = int(saved.headers["location"].split("=")[1])
    b = client.get(f"/api/v1/broadcasts/{relay_id}").json()
    assert b["kind"] == "relay" and b["window_s"] == 45 * 60
    assert b["stream_source_name"] == "VOV1" and sorted(b["zone_ids"]) == sorted(villages)
    assert b["starts_at"][:16] == start.replace(second=0).isoformat()[:16]
    assert len(b["dispatches"]) == 2

    listing = editor.get(saved.headers["location"]).text
    assert "Đã lên lịch tiếp sóng." in listing
    row = re.sub(r"\s+", " ", re.search(rf'<tr data-relay="{relay_id}".*?</tr>', listing, re.S)[0])
    assert "Thời sự VOV" in row and "VOV1" in row and "trong 45 phút" in row
    assert "Thôn Lạc Xuân, Thôn Lạc Bình" in row and "0/2" in row
    local_start = start.astimezone(LOCAL)
    assert local_start.strftime("%H:%M %d/%m") in row
    schedule = editor.get("/schedule").text
    assert f'<tr data-broadcast="{relay_id}">' in schedule and "Thời sự VOV" in schedule
    detail = editor.get(f"/broadcasts/{relay_id}")
    assert detail.status_code == 200 and "Thời sự VOV" in detail.text


def test_a_daily_relay_across_midnight(client: TestClient, people: People, commune: SeededCommune):
    source_id = _saved_source(client, "VOV Giao thông", DEAD_URL)
    approver, csrf = _signed_in(client, "approver")
    today = datetime.now(UTC).astimezone(LOCAL).date()
    saved = approver.post(
        "/relays/new",
        data=_relay(
            source_id,
            [commune.commune_id],
            csrf,
            kind="recurring",
            frequency="weekly",
            weekdays=["5", "6"],
            time_from="23:30",
            time_until="00:30",
            valid_from=today.isoformat(),
            accept_unhealthy="1",
        ),
    )
    assert saved.status_code == 303, saved.text
    relay_id = int(saved.headers["location"].split("=")[1])
    b = client.get(f"/api/v1/broadcasts/{relay_id}").json()
    assert b["window_s"] == 3600 and b["rrule"]
    assert "Thứ Bảy, Chủ nhật hằng tuần lúc 23:30" in b["summary"]
    assert "trong 1 giờ" in approver.get("/relays").text


def test_relay_errors_are_vietnamese_keep_the_choices_and_save_nothing(
    client: TestClient, people: People, commune: SeededCommune
):
    source_id = _saved_source(client, "VOV1", DEAD_URL)
    village = commune.nodes[0].zone_id
    editor, csrf = _signed_in(client, "editor")
    base = _relay(source_id, [village], csrf, accept_unhealthy="1", title="Thời sự")

    past = editor.post("/relays/new", data={**base, "starts_at": _local(-timedelta(hours=1))})
    assert past.status_code == 422
    assert "đã qua" in _field_error(past.text, "starts_at")
    assert re.search(
        rf'value="{village}" data-zone="{village}" data-parent="\d+"\s+checked', past.text
    )
    assert 'value="Thời sự"' in past.text

    backwards = {**base, "ends_at": _local(timedelta(minutes=30))}
    assert "phải sau giờ bắt đầu" in _field_error(
        editor.post("/relays/new", data=backwards).text, "ends_at"
    )
    too_long = {**base, "ends_at": _local(timedelta(hours=14))}
    assert "từ 5 đến 43200 giây" in _field_error(
        editor.post("/relays/new", data=too_long).text, "ends_at"
    )
    nowhere = {k: v for k, v in base.items() if k != "zone_ids"}
    assert "ít nhất một địa bàn" in _field_error(
        editor.post("/relays/new", data=nowhere).text, "zone_ids"
    )
    no_source = {**base, "stream_source_id": ""}
    assert (
        _field_error(editor.post("/relays/new", data=no_source).text, "stream_source_id")
        == "Hãy chọn nguồn tiếp sóng."
    )
    emergency = editor.post("/relays/new", data={**base, "priority": "emergency"})
    assert emergency.status_code == 403 and 'id="form-error"' in emergency.text
    no_csrf = editor.post("/relays/new", data={**base, "csrf": "sai"})
    assert no_csrf.status_code == 403 and "Phiên làm việc đã hết hạn" in no_csrf.text
    assert _count(client, "broadcasts") == 0 and _count(client, "dispatches") == 0


def test_an_unhealthy_source_is_named_and_needs_an_explicit_choice(
    client: TestClient, people: People, commune: SeededCommune
):
    source_id = _saved_source(client, "Đài tỉnh", DEAD_URL)
    editor, csrf = _signed_in(client, "editor")
    data = _relay(source_id, [commune.commune_id], csrf)
    refused = editor.post("/relays/new", data=data)
    assert refused.status_code == 422
    message = _field_error(refused.text, "stream_source_id")
    assert message.startswith("Nguồn «Đài tỉnh» đang lỗi: Máy chủ phát từ chối kết nối")
    assert "Vẫn lên lịch khi nguồn đang lỗi" in message
    assert _count(client, "broadcasts") == 0
    accepted = editor.post("/relays/new", data={**data, "accept_unhealthy": "1"})
    assert accepted.status_code == 303, accepted.text


def test_a_source_back_on_the_air_is_rechecked_when_scheduling(
    client: TestClient, people: People, commune: SeededCommune, station: ToneStation
):
    source_id = _saved_source(client, "VOV2", DEAD_URL)
    _db(client).execute("UPDATE stream_sources SET url = ? WHERE id = ?", [station.url, source_id])
    _db(client).conn.commit()
    editor, csrf = _signed_in(client, "editor")
    saved = editor.post("/relays/new", data=_relay(source_id, [commune.commune_id], csrf))
    assert saved.status_code == 303, saved.text
    assert client.get(f"/api/v1/stream-sources/{source_id}").json()["health"]["reachable"]


def test_an_overlapping_relay_names_the_clash_and_saves_only_when_accepted(
    client: TestClient, people: People, commune: SeededCommune
):
    source_id = _saved_source(client, "VOV1", DEAD_URL)
    editor, csrf = _signed_in(client, "editor")
    first = _relay(source_id, [commune.commune_id], csrf, accept_unhealthy="1")
    made = editor.post("/relays/new", data=first)
    assert made.status_code == 303
    first_id = int(made.headers["location"].split("=")[1])
    village = commune.nodes[1].zone_id
    later = {
        **first,
        "zone_ids": [str(village)],
        "starts_at": _local(timedelta(hours=1, minutes=10)),
        "ends_at": _local(timedelta(hours=2)),
    }
    clash = editor.post("/relays/new", data=later)
    assert clash.status_code == 409
    assert "Trùng giờ với lượt phát khác" in _field_error(clash.text, "form")
    conflicts = re.search(
        r'<div class="conflicts" role="alert" data-clashes>.*?</div>', clash.text, re.S
    )
    assert conflicts and "«Tiếp sóng VOV1»" in conflicts[0]  # said once, in the shared list
    assert conflicts[0].count("Tiếp sóng VOV1") == 1 and "lúc " in conflicts[0]
    assert f'href="/broadcasts/{first_id}"' in conflicts[0]
    assert _count(client, "broadcasts") == 1
    urgent = editor.post("/relays/new", data={**later, "priority": "urgent"})
    assert urgent.status_code == 303, "a different priority is not a clash"
    accepted = editor.post("/relays/new", data={**later, "accept_conflicts": "1"})
    assert accepted.status_code == 303
    assert _count(client, "broadcasts") == 3


def test_a_village_official_schedules_inside_their_village_only(
    client: TestClient, people: People, commune: SeededCommune
):
    source_id = _saved_source(client, "VOV1", DEAD_URL)
    editor, csrf = _signed_in(client, "village_editor")
    form = editor.get("/relays/new").text
    assert f'data-zone="{people.village_zone}"' in form
    assert f'data-zone="{people.other_zone}"' not in form
    outside = _relay(source_id, [people.other_zone], csrf, accept_unhealthy="1")
    refused = editor.post("/relays/new", data=outside)
    assert refused.status_code == 403
    assert _field_error(refused.text, "zone_ids")
    assert _count(client, "broadcasts") == 0
    admin, admin_csrf = _signed_in(client, "admin")
    admin.post("/relays/new", data={**outside, "csrf": admin_csrf})
    assert _count(client, "broadcasts") == 1
    assert 'data-relay="' not in editor.get("/relays").text, "another village's relay"


def test_names_are_escaped(client: TestClient, people: People, commune: SeededCommune):
    source_id = _saved_source(client, "<script>alert(1)</script>", DEAD_URL)
    editor, csrf = _signed_in(client, "editor")
    made = editor.post(
        "/relays/new", data=_relay(source_id, [commune.commune_id], csrf, accept_unhealthy="1")
    )
    assert made.status_code == 303
    for path in ("/stream-sources", "/relays", "/relays/new"):
        page = editor.get(path).text
        assert "<script>alert(1)</script>" not in page, path
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page, path


# --- relays and live broadcasts among the other broadcasts ---------------------------------------


def _in_agenda(html: str, broadcast_id: int) -> str:
    """The agenda entry (7 days on /schedule) of this broadcast, whitespace squeezed."""
    agenda = re.search(
        r'<section aria-labelledby="agenda-h">.*?<section aria-labelledby="recent', html, re.S
    )
    assert agenda, html
    entry = re.search(
        rf'<li>(?:(?!</li>).)*href="/broadcasts/{broadcast_id}".*?</li>', agenda[0], re.S
    )
    assert entry, f"broadcast {broadcast_id} is not in the agenda"
    return re.sub(r"\s+", " ", entry[0])


def _today_row(html: str, broadcast_id: int) -> str:
    """The row of this broadcast in the dashboard's "Lịch phát hôm nay"."""
    today = re.search(r"<h2>Lịch phát hôm nay</h2>.*?</table>", html, re.S)
    assert today, "no broadcast today"
    row = re.search(
        rf'<tr>(?:(?!</tr>).)*href="/broadcasts/{broadcast_id}".*?</tr>', today[0], re.S
    )
    assert row, f"broadcast {broadcast_id} is not in today's list"
    return re.sub(r"\s+", " ", row[0])


def _live_broadcast(client: TestClient, people: People, zone_id: int, at: datetime) -> int:
    """A live broadcast opened through the API, with the dispatch rows the live manager writes
    when the first audio arrives (one per node, played at once)."""
    made = client.post(
        "/api/v1/live",
        json={"zone_ids": [zone_id], "title": "Họp khẩn tổ dân phố"},
        headers=people.headers("approver"),
    )
    assert made.status_code == 201, made.text
    broadcast_id = int(made.json()["broadcast_id"])
    stamp = to_wire_time(at)
    db = _db(client)
    for (node_id,) in db.execute("SELECT id FROM nodes").fetchall():
        db.execute(
            "INSERT INTO dispatches (broadcast_id, occurrence, node_id, play_at, state, "
            "updated_at) VALUES (?, ?, ?, ?, 'playing', ?)",
            [broadcast_id, "live", node_id, stamp, stamp],
        )
    db.conn.commit()
    return broadcast_id


def test_relays_and_live_broadcasts_are_in_the_agenda_and_todays_list_with_their_kind(
    client: TestClient, people: People, commune: SeededCommune, monkeypatch: pytest.MonkeyPatch
):
    from controller.web import session as web

    source_id = _saved_source(client, "VOV1", DEAD_URL)
    editor, csrf = _signed_in(client, "editor")
    start = (datetime.now(UTC) + timedelta(hours=1)).replace(second=0, microsecond=0)
    made = editor.post(
        "/relays/new",
        data=_relay(
            source_id,
            [commune.commune_id],
            csrf,
            accept_unhealthy="1",
            title="Thời sự VOV",
            starts_at=start.astimezone(LOCAL).strftime("%Y-%m-%dT%H:%M"),
            ends_at=(start + timedelta(minutes=30)).astimezone(LOCAL).strftime("%Y-%m-%dT%H:%M"),
        ),
    )
    assert made.status_code == 303, made.text
    relay_id = int(_db(client).execute("SELECT MAX(id) FROM broadcasts").fetchone()[0])
    live_id = _live_broadcast(client, people, commune.commune_id, start)

    entry = _in_agenda(editor.get("/schedule").text, relay_id)
    assert "Thời sự VOV" in entry and start.astimezone(LOCAL).strftime("%H:%M") in entry
    assert 'data-kind="relay">Tiếp sóng</span>' in entry
    assert "Chờ duyệt" not in entry, "a relay needs no approval"
    recent = re.search(
        rf'<tr data-broadcast="{live_id}">.*?</tr>', editor.get("/schedule").text, re.S
    )
    assert recent and 'data-kind="live">Trực tiếp</span>' in recent[0]

    # "today" is the relay's local day, whatever the hour the test runs
    monkeypatch.setattr(web, "utcnow", lambda: start)
    for path in ("/", "/partials/dashboard"):
        html = editor.get(path).text
        relay = _today_row(html, relay_id)
        assert "Thời sự VOV" in relay and 'data-kind="relay">Tiếp sóng</span>' in relay, path
        assert "0/3" in relay, path
        live = _today_row(html, live_id)
        assert "Họp khẩn tổ dân phố" in live and 'data-kind="live">Trực tiếp</span>' in live
        assert "/announcements/None" not in html


def test_a_file_broadcast_carries_no_kind_label(
    client: TestClient, people: People, commune: SeededCommune
):
    from tests.controller.test_web import _write

    editor, csrf = _signed_in(client, "editor")
    assert _write(editor, csrf, "Tiêm phòng", "Tiêm phòng cho trẻ em.").status_code == 303
    announcement_id = int(_db(client).execute("SELECT MAX(id) FROM announcements").fetchone()[0])
    saved = editor.post(
        "/schedule/new",
        data={
            "csrf": csrf,
            "announcement_id": str(announcement_id),
            "zone_ids": [str(commune.commune_id)],
            "kind": "once",
            "play_at": _local(timedelta(hours=2))[:16],
            "repeats": "1",
        },
    )
    assert saved.status_code == 303, saved.text
    broadcast_id = int(saved.headers["location"].split("/")[2].split("?")[0])
    entry = _in_agenda(editor.get("/schedule").text, broadcast_id)
    assert "Tiêm phòng" in entry and "Chờ duyệt" in entry and "data-kind" not in entry
    page = editor.get(saved.headers["location"]).text
    assert "Bản tin sẽ được phát sau khi được duyệt." in page, "still said for an announcement"
    assert "data-kind" not in page


def _relay_facts(html: str) -> str:
    """The text of a broadcast page's relay facts (source, window), tags and spacing removed."""
    facts = re.search(r'<dl class="facts relay">.*?</dl>', html, re.S)
    assert facts, html
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", facts[0]))


def test_the_broadcast_page_of_a_relay_shows_its_source_and_window(
    client: TestClient, people: People, commune: SeededCommune
):
    source_id = _saved_source(client, "VOV Giao thông", DEAD_URL)
    editor, csrf = _signed_in(client, "editor")
    start = (datetime.now(UTC) + timedelta(hours=3)).replace(second=0, microsecond=0)
    end = start + timedelta(minutes=45)
    made = editor.post(
        "/relays/new",
        data=_relay(
            source_id,
            [commune.commune_id],
            csrf,
            accept_unhealthy="1",
            starts_at=start.astimezone(LOCAL).strftime("%Y-%m-%dT%H:%M"),
            ends_at=end.astimezone(LOCAL).strftime("%Y-%m-%dT%H:%M"),
        ),
    )
    assert made.status_code == 303, made.text
    relay_id = int(_db(client).execute("SELECT MAX(id) FROM broadcasts").fetchone()[0])
    page = editor.get(f"/broadcasts/{relay_id}?created=1").text
    assert "Đã lên lịch tiếp sóng." in page
    assert "sau khi được duyệt" not in page, "a relay has no announcement to approve"
    assert 'data-kind="relay">Tiếp sóng</span>' in page
    text = _relay_facts(page)
    assert "Nguồn tiếp sóng VOV Giao thông" in text
    local_start, local_end = start.astimezone(LOCAL), end.astimezone(LOCAL)
    window = f"{local_start:%H:%M %d/%m/%Y} – {local_end:%H:%M %d/%m/%Y}"
    assert f"Khung giờ {window} (45 phút)" in text, text
    short_start = start + timedelta(hours=1, seconds=30)
    short = editor.post(
        "/relays/new",
        data=_relay(
            source_id,
            [commune.commune_id],
            csrf,
            accept_unhealthy="1",
            starts_at=short_start.astimezone(LOCAL).strftime("%Y-%m-%dT%H:%M:%S"),
            ends_at=(short_start + timedelta(seconds=8))
            .astimezone(LOCAL)
            .strftime("%Y-%m-%dT%H:%M:%S"),
        ),
    )
    assert short.status_code == 303, short.text
    short_id = int(_db(client).execute("SELECT MAX(id) FROM broadcasts").fetchone()[0])
    text = _relay_facts(editor.get(f"/broadcasts/{short_id}").text)
    local_short = short_start.astimezone(LOCAL)
    seconds = f"{local_short:%H:%M:%S %d/%m/%Y} – {local_short + timedelta(seconds=8):%H:%M:%S}"
    assert f"Khung giờ {seconds}" in text and "(8 giây)" in text, "seconds shown when they count"

    approver, approver_csrf = _signed_in(client, "approver")
    today = datetime.now(UTC).astimezone(LOCAL).date()
    daily = approver.post(
        "/relays/new",
        data=_relay(
            source_id,
            [commune.commune_id],
            approver_csrf,
            kind="recurring",
            frequency="daily",
            time_from="23:30",
            time_until="00:30",
            valid_from=(today + timedelta(days=1)).isoformat(),
            accept_unhealthy="1",
        ),
    )
    assert daily.status_code == 303, daily.text
    daily_id = int(_db(client).execute("SELECT MAX(id) FROM broadcasts").fetchone()[0])
    page = approver.get(f"/broadcasts/{daily_id}").text
    text = _relay_facts(page)
    tomorrow = today + timedelta(days=1)
    after = tomorrow + timedelta(days=1)
    assert f"Lần tới 23:30 {tomorrow:%d/%m/%Y} – 00:30 {after:%d/%m/%Y} (1 giờ)" in text, text
    cancelled = approver.post(
        f"/broadcasts/{daily_id}/cancel", data={"csrf": approver_csrf, "confirm": "1"}
    )
    assert cancelled.status_code == 303
    text = _relay_facts(approver.get(cancelled.headers["location"]).text)
    assert "Lần tới Không còn lần nào (mỗi lần 1 giờ)" in text, text


def test_the_broadcast_page_of_a_live_broadcast(
    client: TestClient, people: People, commune: SeededCommune
):
    live_id = _live_broadcast(client, people, commune.commune_id, datetime.now(UTC))
    approver, _ = _signed_in(client, "approver")
    page = approver.get(f"/broadcasts/{live_id}?created=1").text
    assert "Họp khẩn tổ dân phố" in page and 'data-kind="live">Trực tiếp</span>' in page
    assert "sau khi được duyệt" not in page and 'class="facts relay"' not in page


# --- the menu, the live page, the English catalog ----------------------------------------------


def test_the_menu_shows_the_relay_pages_and_live_only_to_who_may_use_them(
    client: TestClient, people: People
):
    for role in People.ROLES:
        browser, _ = _signed_in(client, role)
        menu = re.search(r'<nav class="menu".*?</nav>', browser.get("/").text, re.S)
        assert menu, role
        assert 'href="/relays"' in menu[0] and 'href="/stream-sources"' in menu[0], role
        assert ('href="/live"' in menu[0]) == (role in PERMISSIONS["broadcast.live"]), role
        new_relay = 'href="/relays/new"' in browser.get("/relays").text
        assert new_relay == (role in PERMISSIONS["broadcast.schedule"]), role
        # The menu is NAV (web_common), in its order: nothing is added by the template.
        links = re.findall(r'<a href="([^"]+)"', menu[0])
        declared = [
            path
            for path, _label, perm in NAV
            if perm is None or role in PERMISSIONS.get(perm, frozenset())
        ]
        assert links == declared, role
        assert declared.index("/relays") == declared.index("/schedule") + 1
        assert declared.index("/stream-sources") == declared.index("/relays") + 1
    viewer, _ = _signed_in(client, "viewer")
    sources = viewer.get("/stream-sources").text
    assert 'action="/stream-sources"' not in sources, "no add form for a viewer"
    current = re.search(r'<a href="/stream-sources" aria-current="page">', sources)
    assert current, "the menu marks the page"


def test_the_live_page_uses_the_common_layout(
    client: TestClient, people: People, commune: SeededCommune
):
    approver, _ = _signed_in(client, "approver")
    page = approver.get("/live")
    assert page.status_code == 200
    html = page.text
    assert '<nav class="menu"' in html and 'class="skip"' in html and 'class="foot"' in html
    assert '<a href="/live" aria-current="page">' in html
    assert "<title>Phát trực tiếp — Loa</title>" in html
    for node in commune.nodes:
        assert f'name="zone" value="{node.zone_id}"' in html
    for element in ('id="start"', 'id="stop"', 'id="level"', 'id="status"', "window.loaLive"):
        assert element in html
    assert 'data-no-zone="Hãy chọn ít nhất một địa bàn."' in html
    # A kiosk (and the stream tests) may open it with a personal token instead of a session.
    assert _browser(client).get("/live", headers=people.headers("approver")).status_code == 200
    assert _browser(client).get("/live").headers["location"] == "/login"
    editor, _ = _signed_in(client, "editor")
    refused = editor.get("/live")
    assert refused.status_code == 403 and "Không có quyền" in refused.text
    english = approver.get("/lang/en?next=/live")
    assert english.status_code == 303
    live_en = approver.get("/live").text
    assert (
        "Start broadcasting" in live_en and 'data-ended="The live broadcast has ended."' in live_en
    )


def test_the_relay_pages_in_english(client: TestClient, people: People, commune: SeededCommune):
    editor, csrf = _signed_in(client, "editor")
    editor.get("/lang/en")
    assert "<h1>Stream sources</h1>" in editor.get("/stream-sources").text
    assert "<h1>Schedule a relay</h1>" in editor.get("/relays/new").text
    assert "<h1>Relay schedule</h1>" in editor.get("/relays").text
    source_id = _saved_source(client, "VOV1", DEAD_URL)
    made = editor.post(
        "/relays/new",
        data=_relay(source_id, [commune.commune_id], csrf, accept_unhealthy="1"),
    )
    assert made.status_code == 303, made.text
    relay_id = int(_db(client).execute("SELECT MAX(id) FROM broadcasts").fetchone()[0])
    page = editor.get(f"/broadcasts/{relay_id}?created=1").text
    assert 'data-kind="relay">Relay</span>' in page
    assert "The relay is scheduled." in page and "Window" in _relay_facts(page)


# --- every new route × every role --------------------------------------------------------------


def _route_calls(
    client: TestClient, commune: SeededCommune
) -> list[tuple[str, str, str, Any, int]]:
    """(method, path, permission, form data maker, status when allowed); each call gets
    objects of its own."""

    def fresh_source() -> int:
        return _saved_source(client, "VOV1", DEAD_URL)

    def pending_relay() -> int:
        """A relay as an editor leaves it: waiting for approval."""
        made = client.post(
            "/api/v1/relays",
            json={
                "stream_source_id": fresh_source(),
                "zone_ids": [commune.commune_id],
                "window_s": 600,
                "starts_at": (datetime.now(UTC) + timedelta(hours=3)).isoformat(),
                "accept_conflicts": True,
                "accept_unhealthy": True,
            },
        )
        assert made.status_code == 201, made.text
        relay_id = int(made.json()["id"])
        _db(client).execute(
            "UPDATE broadcasts SET approved_by = NULL, approved_at = NULL WHERE id = ?", [relay_id]
        )
        _db(client).conn.commit()
        return relay_id

    return [
        (
            "POST",
            "/relays/{id}/approve",
            "relay.review",
            lambda csrf: (f"/relays/{pending_relay()}/approve", {"csrf": csrf}),
            303,
        ),
        ("GET", "/stream-sources", "read", None, 200),
        ("GET", "/relays", "read", None, 200),
        ("GET", "/relays/new", "broadcast.schedule", None, 200),
        ("GET", "/live", "broadcast.live", None, 200),
        (
            "POST",
            "/stream-sources",
            "stream.source.write",
            lambda csrf: (
                "/stream-sources",
                {"csrf": csrf, "name": "Đài", "url": DEAD_URL, "accept_unhealthy": "1"},
            ),
            303,
        ),
        (
            "POST",
            "/stream-sources/{id}/check",
            "read",
            lambda csrf: (f"/stream-sources/{fresh_source()}/check", {"csrf": csrf}),
            303,
        ),
        (
            "POST",
            "/stream-sources/{id}/delete",
            "stream.source.write",
            lambda csrf: (f"/stream-sources/{fresh_source()}/delete", {"csrf": csrf}),
            303,
        ),
        (
            "POST",
            "/relays/new",
            "broadcast.schedule",
            lambda csrf: (
                "/relays/new",
                _relay(
                    fresh_source(),
                    [commune.commune_id],
                    csrf,
                    accept_unhealthy="1",
                    accept_conflicts="1",
                ),
            ),
            303,
        ),
    ]


def test_every_role_gets_what_its_permission_allows_on_the_relay_pages(
    client: TestClient, people: People, commune: SeededCommune
):
    signed = {role: _signed_in(client, role) for role in People.ROLES}
    routes = _route_calls(client, commune)
    # Every route of the relay pages and the live page is in the matrix.
    served = {
        (method, re.sub(r"\{[^}]+\}", "{id}", route.path))
        for route in [*web_streams.router.routes, *web_live.router.routes]
        for method in getattr(route, "methods", ()) or ()
        if method in ("GET", "POST")
    }
    assert served == {(method, path) for method, path, *_rest in routes}
    for method, path, permission, make, ok in routes:
        for role in People.ROLES:
            browser, csrf = signed[role]
            if method == "GET":
                response = browser.get(path)
            else:
                target, data = make(csrf)
                response = browser.post(target, data=data)
            expected = ok if role in PERMISSIONS[permission] else 403
            assert response.status_code == expected, (method, path, role, response.text[:300])
