"""The web UI in real headless Chromium against a real commune (controller, Mosquitto, three
node-agent processes): write → listen → submit → approve → schedule for two villages → it plays
and the play log fills in; emergency with acks counted live; a node stopped turns offline on
the nodes page; every main page at phone and desktop width, with no console errors.

The tests run in file order and share one commune: each continues the story of the one before.
"""

from __future__ import annotations

import re
import signal
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import expect

from controller.web.fleet import TEST_TONE_BROADCAST
from tests.browser.conftest import DESKTOP, PASSWORDS, PHONE, Shared
from tests.support.net import wait_until
from tests.support.system import Commune

pytestmark = pytest.mark.slow

LOCAL = ZoneInfo("Asia/Ho_Chi_Minh")
TITLE = "Tiêm chủng <b>mở rộng</b>"
TEXT = "UBND xã Lạc Lâm: 7h30 mai tiêm chủng."
TWO_VILLAGES = ("Thôn Lạc Xuân", "Thôn Lạc Bình")


def _id_in(url: str, kind: str) -> int:
    match = re.search(rf"/{kind}/(\d+)", url)
    assert match, url
    return int(match[1])


def test_editor_writes_listens_and_submits(session: Any, shared: Shared) -> None:
    s = session("bientap")
    page = s.page
    page.get_by_role("link", name="Bản tin", exact=True).first.click()
    page.get_by_role("link", name="Soạn bản tin").first.click()
    page.get_by_label("Tiêu đề").fill(TITLE)
    page.get_by_label("Nội dung bản tin").fill(TEXT)
    expect(page.locator("#count")).to_have_text(str(len(TEXT)))
    # The normalized reading appears beside the text as the official types.
    expect(page.locator("#reading")).to_contain_text("ủy ban nhân dân xã lạc lâm")
    expect(page.locator("#reading")).to_contain_text("bảy giờ ba mươi")
    page.get_by_role("button", name="Nghe thử").click()
    audio = page.locator("#preview-audio")
    expect(audio).to_have_attribute("data-ready", "1", timeout=60_000)
    duration = page.wait_for_function(
        "() => { const a = document.getElementById('preview-audio');"
        " return a.readyState >= 1 && a.duration > 1 ? a.duration : false; }"
    ).json_value()
    assert 1 < duration < 30, duration
    page.get_by_role("button", name="Gửi duyệt").click()
    expect(page.get_by_role("status")).to_contain_text("Đã gửi duyệt")
    expect(page.get_by_role("heading", level=1)).to_have_text(TITLE)  # escaped, shown as text
    shared.values["announcement_id"] = _id_in(page.url, "announcements")


def test_editor_records_from_the_microphone_and_uploads_it(session: Any, commune: Commune) -> None:
    page = session("bientap").page
    page.goto("/announcements/new")
    page.get_by_label("Tiêu đề").fill("Lời chủ tịch xã")
    page.get_by_label("Nội dung bản tin").fill("Bản ghi âm lời chủ tịch xã.")
    page.get_by_role("button", name="Ghi âm").click()
    expect(page.locator("#record")).to_have_attribute("aria-pressed", "true")
    page.wait_for_timeout(1000)
    page.get_by_role("button", name="Dừng ghi âm").click()
    expect(page.locator("#record-status")).to_contain_text("Đã ghi âm")
    assert page.locator("#audio").evaluate("input => input.files.length") == 1
    page.get_by_role("button", name="Lưu nháp").click()
    expect(page.get_by_role("status")).to_contain_text("Đã lưu", timeout=60_000)
    row = commune.store.db.execute(
        "SELECT source, engine, media_sha256 FROM announcements WHERE title = ?",
        ["Lời chủ tịch xã"],
    ).fetchone()
    assert row[0] == "recording" and row[1] == "upload" and row[2]


def test_approver_listens_and_approves(session: Any, shared: Shared) -> None:
    page = session("duyet").page
    page.get_by_role("link", name="Duyệt bản tin").first.click()
    card = page.locator(f"article[data-announcement='{shared.values['announcement_id']}']")
    expect(card.get_by_role("heading", level=2)).to_have_text(TITLE)
    card.locator("audio").evaluate("a => { a.preload = 'auto'; a.load(); }")
    card.locator("audio").evaluate(
        "a => new Promise((ok, fail) => { if (a.readyState >= 1) return ok();"
        " a.onloadedmetadata = ok; a.onerror = () => fail(new Error('audio failed')); })"
    )
    card.get_by_role("button", name="Duyệt").click()
    expect(page.get_by_role("status")).to_contain_text("Đã ghi nhận")
    expect(card).to_have_count(0)


def test_scheduled_for_two_villages_it_plays_there_and_the_play_log_fills_in(
    session: Any, commune: Commune, shared: Shared
) -> None:
    page = session("duyet").page
    page.get_by_role("link", name="Lịch phát").first.click()
    page.get_by_role("link", name="Lên lịch phát").first.click()
    page.get_by_label("Bản tin", exact=True).select_option(str(shared.values["announcement_id"]))
    for village in TWO_VILLAGES:
        page.get_by_label(village).check()
    play_at = (datetime.now(UTC) + timedelta(seconds=7)).astimezone(LOCAL)
    page.get_by_label("Thời gian phát (giờ Việt Nam)").fill(play_at.strftime("%Y-%m-%dT%H:%M:%S"))
    check = page.locator("#check [data-check='ok']")
    expect(check).to_contain_text("Đến 2 cụm loa")
    expect(check).to_contain_text("Không trùng giờ")
    page.get_by_role("button", name="Lưu lịch phát").click()
    expect(page.get_by_role("status")).to_contain_text("Đã lên lịch phát")
    broadcast_id = _id_in(page.url, "broadcasts")
    shared.values["broadcast_id"] = broadcast_id
    # The page updates itself (htmx polling) until both villages have played.
    expect(page.locator("#delivered")).to_have_attribute("data-played", "2", timeout=60_000)
    expect(page.locator("tr[data-state='played']")).to_have_count(2)
    played = {n.node_id for n in commune.seeded.nodes if commune.plays(n.node_id)}
    assert played == {"lac-xuan-1", "lac-binh-1"}
    page.get_by_role("link", name="Báo cáo").first.click()
    log = page.locator("#play-log tbody tr[data-state='played']")
    expect(log).to_have_count(2)
    expect(log.first).to_contain_text("Tiêm chủng <b>mở rộng</b>")


def test_emergency_reaches_every_node_with_acks_counted_on_the_page(
    session: Any, commune: Commune, shared: Shared
) -> None:
    s = session("duyet")
    page = s.page
    page.get_by_role("link", name="Phát khẩn cấp").first.click()
    page.get_by_label("Nội dung cần đọc").fill("Lũ quét. Bà con di chuyển lên vùng cao ngay.")
    page.get_by_label("Số lần đọc").fill("1")
    page.get_by_label("Xã Lạc Lâm").check()  # ticks the villages beneath it too
    expect(page.get_by_label("Thôn Đồng Thạnh")).to_be_checked()
    page.get_by_role("button", name="PHÁT KHẨN CẤP").click()
    expect(page.locator("#confirm-error")).to_be_visible()  # not without the confirmation
    s.expect_console_error("status of 422")
    expect(page.get_by_label("Nội dung cần đọc")).to_have_value(
        "Lũ quét. Bà con di chuyển lên vùng cao ngay."
    )
    page.get_by_label("Tôi xác nhận phát khẩn cấp ngay bây giờ").check()
    page.get_by_role("button", name="PHÁT KHẨN CẤP").click()
    page.wait_for_url(re.compile(r"/emergency/\d+$"), timeout=60_000)
    shared.values["emergency_id"] = int(page.url.rsplit("/", 1)[1])
    expect(page.locator("#acked")).to_have_attribute("data-acked", "3", timeout=30_000)
    expect(page.locator("#acked")).to_contain_text("3/3")
    expect(page.locator(".node-states li")).to_have_count(3)


def test_a_recurring_program_is_summarized_before_saving_and_fills_the_agenda(
    session: Any, shared: Shared
) -> None:
    page = session("duyet").page
    with page.expect_response("**/schedule/check"):
        page.goto("/schedule/new")
    # the check ran on load, but an untouched form is not painted red
    expect(page.locator("#check [data-check='error']")).to_have_count(0)
    page.get_by_label("Bản tin", exact=True).select_option(str(shared.values["announcement_id"]))
    page.get_by_label("Thôn Lạc Xuân").check()
    page.get_by_label("Định kỳ").check()
    expect(page.get_by_label("Thời gian phát (giờ Việt Nam)")).to_be_hidden()
    page.get_by_label("Lặp lại").select_option("weekly")
    page.get_by_label("Thứ Hai").check()
    page.get_by_label("Thứ Sáu").check()
    page.get_by_label("Giờ phát trong ngày").fill("06:00, 17:30")
    summary = page.locator("#check [data-check='ok'] .summary")
    expect(summary).to_have_text(re.compile(r"^Thứ Hai, thứ Sáu hằng tuần lúc 06:00 và 17:30"))
    page.get_by_label("Giờ phát trong ngày").fill("25:00")
    expect(page.locator("#check [data-check='error']")).to_contain_text("Giờ không hợp lệ")
    page.get_by_label("Giờ phát trong ngày").fill("6h, 17h30")  # as officials write them
    expect(summary).to_be_visible()
    page.get_by_role("button", name="Lưu lịch phát").click()
    expect(page.get_by_role("status")).to_contain_text("Đã lên lịch phát")
    page.goto("/schedule")
    expect(page.locator(".agenda .day li").first).to_contain_text("Tiêm chủng <b>mở rộng</b>")
    assert page.locator(".agenda .day li").count() >= 2


MAIN_PAGES = [
    ("dashboard", "/"),
    ("announcements", "/announcements"),
    ("announcement-new", "/announcements/new"),
    ("approvals", "/approvals"),
    ("schedule", "/schedule"),
    ("schedule-new", "/schedule/new"),
    ("broadcast", "/broadcasts/{broadcast_id}"),
    ("emergency", "/emergency"),
    ("emergency-progress", "/emergency/{emergency_id}"),
    ("nodes", "/nodes"),
    ("node", "/nodes/lac-xuan-1"),
    ("reports", "/reports"),
    ("users", "/users"),
    ("audit", "/audit"),
    ("lexicon", "/lexicon"),
    ("public", "/public/1"),
]


def test_every_main_page_at_phone_and_desktop_width(session: Any, shared: Shared) -> None:
    s = session(viewport=PHONE)
    page = s.page

    def both_widths(name: str) -> None:
        for label, viewport in (("phone", PHONE), ("desktop", DESKTOP)):
            page.set_viewport_size(viewport)
            expect(page.locator("h1")).to_be_visible()
            width = page.evaluate("document.documentElement.scrollWidth")
            assert width <= viewport["width"], f"{name} scrolls sideways at {label}: {width}px"
            s.shoot(name, label)

    page.goto("/login")
    both_widths("login")
    # By keyboard alone: the first Tab reaches the skip link, then the form, Enter signs in.
    page.keyboard.press("Tab")
    expect(page.locator(".skip")).to_be_focused()
    page.get_by_label("Tên đăng nhập").focus()
    page.keyboard.type("quantri")
    page.keyboard.press("Tab")
    expect(page.get_by_label("Mật khẩu")).to_be_focused()
    page.keyboard.type(PASSWORDS["quantri"])
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"/$"))
    for name, path in MAIN_PAGES:
        page.goto(path.format(**shared.values), wait_until="domcontentloaded")
        both_widths(name)
    s.assert_no_console_errors()


def test_remote_actions_reach_the_node(session: Any, commune: Commune) -> None:
    page = session("duyet").page
    page.goto("/nodes/lac-xuan-1")
    before = len(commune.plays("lac-xuan-1"))
    page.get_by_label("Âm lượng").fill("55")
    page.get_by_role("button", name="Đặt âm lượng").click()
    expect(page.get_by_role("status")).to_contain_text("Đã gửi lệnh")
    # The node applies node.config and reports its new volume in its state.
    expect(page.locator("#node-volume")).to_have_text("55", timeout=10_000)
    page.get_by_role("button", name="Phát thử").click()
    expect(page.get_by_role("status")).to_contain_text("Đã gửi lệnh", timeout=30_000)
    wait_until(
        lambda: any(
            p["broadcast"] == TEST_TONE_BROADCAST for p in commune.plays("lac-xuan-1")[before:]
        ),
        timeout=30,
        interval=0.25,
        what="the test tone played on the node",
    )


def test_a_stopped_node_turns_offline_on_the_nodes_page(session: Any, commune: Commune) -> None:
    page = session("duyet").page
    page.get_by_role("link", name="Cụm loa").first.click()
    row = page.locator("tr[data-node='dong-thanh-1']")
    expect(row).to_have_attribute("data-online", "true")
    commune.nodes["dong-thanh-1"].kill(signal.SIGKILL)  # no goodbye from the agent itself
    # At the latest: 3 missed heartbeats of 1 s, the 0.5 s scheduler tick, the page's 2 s
    # polling (the broker's last will is usually sooner); the page is never reloaded.
    expect(row).to_have_attribute("data-online", "false", timeout=8_000)
    expect(row).to_contain_text("Mất kết nối")
    expect(page.locator("tr[data-node='lac-xuan-1']")).to_have_attribute("data-online", "true")
