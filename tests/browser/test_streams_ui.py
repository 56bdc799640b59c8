"""The relay pages in real headless Chromium against a real commune (controller, Mosquitto,
three node-agent processes) and a real local station (ffmpeg encoding a tone, served over HTTP:
tests/streams/tone.py): an approver adds the station (sources are admins' and approvers') — a
page that is not a stream is refused in Vietnamese first — and sees its health; an editor
schedules a relay for two villages seconds ahead, which waits until the approver approves it on
its page; it is in the schedules, and both villages play it; the pages at phone and desktop
width.

The tests run in file order and share one commune and station.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import DESKTOP, PHONE, Shared
from tests.streams.tone import ToneStation
from tests.support.system import Commune

pytestmark = pytest.mark.slow

LOCAL = ZoneInfo("Asia/Ho_Chi_Minh")
TWO_VILLAGES = ("Thôn Lạc Xuân", "Thôn Lạc Bình")
#: How far ahead the relay starts, and how long it plays.
LEAD_S = 12
WINDOW_S = 8


@pytest.fixture(scope="module")
def station() -> Iterator[ToneStation]:
    s = ToneStation()
    s.start()
    yield s
    s.stop()


def test_a_page_that_is_not_a_stream_is_refused_and_the_station_is_saved_with_its_health(
    session: Any, station: ToneStation, shared: Shared
) -> None:
    s = session("duyet")
    page = s.page
    page.get_by_role("link", name="Nguồn tiếp sóng", exact=True).first.click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Nguồn tiếp sóng")
    page.get_by_label("Tên nguồn").fill("Trang web xã")
    page.get_by_label("Địa chỉ luồng").fill(station.path_url("/page.html"))
    page.get_by_role("button", name="Kiểm tra và lưu").click()
    expect(page.locator("#url-error")).to_have_text(
        "Kiểm tra luồng không đạt: Địa chỉ này trả về text/html, không phải luồng âm thanh."
    )
    s.expect_console_error("status of 422")
    expect(page.get_by_label("Địa chỉ luồng")).to_have_attribute("aria-invalid", "true")
    expect(page.get_by_label("Tên nguồn")).to_have_value("Trang web xã")  # kept, not saved
    expect(page.locator("tr[data-source]")).to_have_count(0)

    page.get_by_label("Tên nguồn").fill("VOV1")
    page.get_by_label("Địa chỉ luồng").fill(station.url)
    page.get_by_role("button", name="Kiểm tra và lưu").click()
    expect(page.get_by_role("status")).to_contain_text("Đã lưu nguồn tiếp sóng.")
    row = page.locator("tr[data-source]")
    expect(row).to_have_count(1)
    expect(row).to_have_attribute("data-health", "ok")
    expect(row.locator(".health")).to_contain_text(re.compile(r"Tốt · MP3 · 64 kb/s"))
    expect(row.locator(".health")).to_contain_text("Kiểm tra lúc")
    shared.values["source_id"] = int(row.get_attribute("data-source") or 0)

    page.get_by_role("button", name="Kiểm tra lại: VOV1").click()
    expect(page.get_by_role("status")).to_contain_text("Đã kiểm tra lại nguồn.")
    expect(page.locator("tr[data-source]")).to_have_attribute("data-health", "ok")


def test_a_relay_for_two_villages_is_scheduled_listed_and_played_there(
    session: Any, commune: Commune, shared: Shared
) -> None:
    s = session("bientap")
    page = s.page
    page.get_by_role("link", name="Tiếp sóng", exact=True).first.click()
    page.get_by_role("link", name="Lên lịch tiếp sóng").first.click()
    page.get_by_label("Nguồn tiếp sóng", exact=True).select_option(str(shared.values["source_id"]))
    for village in TWO_VILLAGES:
        page.get_by_label(village).check()
    # Recurring shows the daily window; once shows the start and end.
    page.get_by_label("Định kỳ").check()
    expect(page.get_by_label("Bắt đầu (giờ Việt Nam)")).to_be_hidden()
    expect(page.get_by_label("Từ giờ (giờ Việt Nam)")).to_be_visible()
    page.get_by_label("Một lần").check()
    expect(page.get_by_label("Từ giờ (giờ Việt Nam)")).to_be_hidden()

    # A window in the past: the Vietnamese error, the villages still ticked, nothing saved.
    past = (datetime.now(UTC) - timedelta(minutes=5)).astimezone(LOCAL)
    page.get_by_label("Bắt đầu (giờ Việt Nam)").fill(past.strftime("%Y-%m-%dT%H:%M:%S"))
    page.get_by_label("Kết thúc (giờ Việt Nam)").fill(
        (past + timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%S")
    )
    page.get_by_role("button", name="Lưu lịch tiếp sóng").click()
    expect(page.locator("#starts_at-error")).to_contain_text("Thời gian phát đã qua")
    s.expect_console_error("status of 422")
    for village in TWO_VILLAGES:
        expect(page.get_by_label(village)).to_be_checked()
    assert commune.store.db.execute("SELECT COUNT(*) FROM broadcasts").fetchone()[0] == 0

    start = (datetime.now(UTC) + timedelta(seconds=LEAD_S)).astimezone(LOCAL)
    page.get_by_label("Bắt đầu (giờ Việt Nam)").fill(start.strftime("%Y-%m-%dT%H:%M:%S"))
    page.get_by_label("Kết thúc (giờ Việt Nam)").fill(
        (start + timedelta(seconds=WINDOW_S)).strftime("%Y-%m-%dT%H:%M:%S")
    )
    page.get_by_role("button", name="Lưu lịch tiếp sóng").click()
    expect(page.get_by_role("status")).to_contain_text("Đã lên lịch tiếp sóng.")
    row = page.locator("tr[data-relay][aria-current='true']")
    expect(row).to_contain_text("Tiếp sóng VOV1")
    expect(row).to_contain_text(", ".join(TWO_VILLAGES))
    expect(row).to_contain_text(f"trong {WINDOW_S} giây")
    expect(row).to_contain_text("Chờ duyệt")  # an editor's relay waits for an approver
    relay_id = int(row.get_attribute("data-relay") or 0)

    approver = session("duyet").page
    approver.goto(f"/broadcasts/{relay_id}")
    approver.get_by_role("button", name="Duyệt", exact=True).click()
    expect(approver.get_by_role("button", name="Duyệt", exact=True)).to_have_count(0)

    # The schedule lists it among the broadcasts; its page fills in as the villages play it.
    page.get_by_role("link", name="Lịch phát", exact=True).first.click()
    listed = page.locator(f"tr[data-broadcast='{relay_id}']")
    expect(listed).to_contain_text("Tiếp sóng VOV1")
    listed.get_by_role("link", name=str(relay_id)).click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Tiếp sóng VOV1")
    expect(page.locator("#delivered")).to_have_attribute("data-total", "2")
    expect(page.locator("#delivered")).to_have_attribute(
        "data-played", "2", timeout=(LEAD_S + WINDOW_S + 40) * 1000
    )
    played = {
        n.node_id
        for n in commune.seeded.nodes
        if any(p["broadcast"] == relay_id for p in commune.plays(n.node_id))
    }
    assert played == {"lac-xuan-1", "lac-binh-1"}
    for node_id in played:
        (play,) = [p for p in commune.plays(node_id) if p["broadcast"] == relay_id]
        assert play["stream"]["bytes"] > 0, play
    shared.values["relay_id"] = relay_id


STREAM_PAGES = [
    ("stream-sources", "/stream-sources"),
    ("relays", "/relays"),
    ("relay-new", "/relays/new"),
    ("relay-broadcast", "/broadcasts/{relay_id}"),
    ("live", "/live"),
]


def test_the_relay_pages_and_live_at_phone_and_desktop_width(session: Any, shared: Shared) -> None:
    s = session("quantri", viewport=PHONE)
    page = s.page
    for name, path in STREAM_PAGES:
        page.goto(path.format(**shared.values), wait_until="domcontentloaded")
        expect(page.locator("nav.menu a[href='/stream-sources']")).to_have_count(1)
        for label, viewport in (("phone", PHONE), ("desktop", DESKTOP)):
            page.set_viewport_size(viewport)
            expect(page.locator("h1")).to_be_visible()
            width = page.evaluate("document.documentElement.scrollWidth")
            assert width <= viewport["width"], f"{name} scrolls sideways at {label}: {width}px"
            s.shoot(name, label)
    # The live page keeps its own behaviour inside the layout: no zone → a Vietnamese word.
    page.goto("/live")
    page.get_by_role("button", name="Bắt đầu phát").click()
    expect(page.locator("#status")).to_have_text("Hãy chọn ít nhất một địa bàn.")
    assert page.evaluate("window.loaLive.state") == "idle"
