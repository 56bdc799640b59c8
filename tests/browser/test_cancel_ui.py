"""Safe cancel in real headless Chromium against a real commune (controller, Mosquitto, three
node-agent processes; issue 14, must-fix 3): a daily programme delivered to two villages is
opened, *Hủy lượt phát* shows what will stop (the clusters, the villages, the next times) and
nothing more until confirmed; confirmed, the page says the stop was sent to both clusters and
shows the state *Đã hủy*, and the nodes drop it. An emergency playing on every cluster is
stopped from its progress page: refused without a reason, then stopped with one, which the
audit entry keeps; the clusters stop. Screenshots go to the test's temporary folder.

The tests run in file order and share one commune.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import PHONE
from tests.support.net import wait_until
from tests.support.system import APPROVER_TOKEN, EDITOR_TOKEN, Commune

pytestmark = pytest.mark.slow

LOCAL = ZoneInfo("Asia/Ho_Chi_Minh")
TWO_VILLAGES = ("Thôn Lạc Xuân", "Thôn Lạc Bình")


def _states(commune: Commune, broadcast_id: int) -> list[str]:
    return [
        r[0]
        for r in commune.store.db.execute(
            "SELECT state FROM dispatches WHERE broadcast_id = ?", [broadcast_id]
        ).fetchall()
    ]


def _shoot(page: Any, folder: Path, name: str) -> None:
    page.screenshot(path=str(folder / f"{name}.png"), full_page=True)
    assert (folder / f"{name}.png").stat().st_size > 0


def test_a_programme_is_cancelled_only_after_confirming_what_will_stop(
    session: Any, commune: Commune, tmp_path: Path
) -> None:
    announcement_id = commune.approved_announcement("Chương trình sáng", "Bản tin buổi sáng.")
    today = datetime.now(UTC).astimezone(LOCAL).date()
    zone_ids = [n.zone_id for n in commune.seeded.nodes[:2]]
    with commune.api(EDITOR_TOKEN) as api:
        made = api.post(
            "/api/v1/broadcasts",
            json={
                "announcement_id": announcement_id,
                "zone_ids": zone_ids,
                "rule": {
                    "frequency": "daily",
                    "times": ["06:00", "17:30"],
                    "valid_from": today.isoformat(),
                },
            },
        )
    assert made.status_code == 201, made.text
    broadcast_id = int(made.json()["id"])
    # both clusters hold its next time (delivered within the 24 h horizon) before it is cancelled
    wait_until(
        lambda: set(_states(commune, broadcast_id)) == {"acked"},
        timeout=30,
        what="the programme delivered to both villages",
    )

    s = session("bientap", viewport=PHONE)
    page = s.page
    page.goto(f"/broadcasts/{broadcast_id}")
    expect(page.locator("#state")).to_contain_text("Chưa đến giờ phát — lần đầu")
    expect(page.locator("#delivered")).to_have_text("Chưa phát lần nào")
    _shoot(page, tmp_path, "broadcast-before")
    page.get_by_role("link", name="Hủy lượt phát").click()

    expect(page.get_by_role("heading", level=1)).to_have_text(
        f"Hủy lượt phát #{broadcast_id} «Chương trình sáng»?"
    )
    expect(page.locator("#stop-clusters")).to_have_text("2 cụm loa ở: " + ", ".join(TWO_VILLAGES))
    times = page.locator("#stop-times time")
    expect(times).to_have_count(5)
    expect(times.first).to_have_text(re.compile(r"^(06:00|17:30) (thứ \S+|Chủ nhật) \d\d/\d\d$"))
    expect(page.locator("#stop-times")).to_contain_text("và mọi lần sau đó")
    assert set(_states(commune, broadcast_id)) <= {"queued", "sent", "acked"}, "nothing yet"
    _shoot(page, tmp_path, "broadcast-confirm")
    page.get_by_label("Lý do (không bắt buộc, ghi vào nhật ký hệ thống)").fill("Đổi lịch")
    page.get_by_role("button", name="Xác nhận hủy lượt phát").click()

    page.wait_for_url(re.compile(rf"/broadcasts/{broadcast_id}$"))
    notice = page.locator("#cancel-notice")
    expect(notice).to_contain_text(f"Đã hủy lượt phát #{broadcast_id} «Chương trình sáng».")
    expect(notice).to_contain_text("Đã gửi lệnh dừng tới 2 cụm loa.")
    expect(notice).to_contain_text("Các lần phát sau sẽ không diễn ra.")
    expect(page.locator("#state")).to_contain_text("Đã hủy lúc")
    expect(page.locator("#state")).to_contain_text("bởi Biên tập viên")
    expect(page.get_by_role("link", name="Hủy lượt phát")).to_have_count(0)
    _shoot(page, tmp_path, "broadcast-cancelled")
    assert set(_states(commune, broadcast_id)) == {"cancelled"}
    entry = commune.store.db.execute(
        "SELECT after FROM audit_log WHERE action = 'broadcast.cancel' AND entity_id = ?",
        [str(broadcast_id)],
    ).fetchone()
    assert json.loads(entry[0])["reason"] == "Đổi lịch"


def test_an_emergency_is_stopped_from_its_page_only_with_a_reason(
    session: Any, commune: Commune, tmp_path: Path
) -> None:
    with commune.api(APPROVER_TOKEN) as api:
        sent = api.post(
            "/api/v1/emergency",
            json={
                "title": "Lũ quét",
                "text": "Lũ quét. Bà con thôn Lạc Xuân, Lạc Bình, Đồng Thạnh di chuyển lên "
                "vùng cao ngay, mang theo giấy tờ và thuốc men.",
                "zone_ids": [commune.seeded.commune_id],
                "repeats": 10,
            },
        )
    assert sent.status_code == 201, sent.text
    emergency_id = int(sent.json()["id"])
    s = session("duyet")
    page = s.page
    page.goto(f"/emergency/{emergency_id}")
    expect(page.locator("#acked")).to_have_attribute("data-acked", "3", timeout=30_000)
    expect(page.locator("#state")).to_have_text(re.compile("Đang phát khẩn cấp"))
    wait_until(
        lambda: "playing" in _states(commune, emergency_id), timeout=30, what="a node playing"
    )
    page.get_by_role("link", name="Dừng phát khẩn cấp").click()

    expect(page.get_by_role("heading", level=1)).to_have_text("Dừng phát khẩn cấp «Lũ quét»?")
    expect(page.locator("#stop-clusters")).to_have_text("3 cụm loa ở: Xã Lạc Lâm")
    expect(page.locator("#stop-now")).to_contain_text("sẽ dừng ngay")
    page.get_by_role("button", name="Xác nhận dừng phát khẩn cấp").click()
    expect(page.locator("#reason-error")).to_have_text("Hãy ghi lý do dừng phát khẩn cấp.")
    s.expect_console_error("status of 422")
    assert "cancelled" not in _states(commune, emergency_id), "not stopped without a reason"
    _shoot(page, tmp_path, "emergency-reason-needed")
    page.get_by_label("Lý do dừng (bắt buộc, ghi vào nhật ký hệ thống)").fill(
        "Báo nhầm: nước đã rút"
    )
    page.get_by_role("button", name="Xác nhận dừng phát khẩn cấp").click()

    page.wait_for_url(re.compile(rf"/emergency/{emergency_id}$"))
    notice = page.locator("#cancel-notice")
    expect(notice).to_contain_text("Đã dừng phát khẩn cấp «Lũ quét».")
    expect(notice).to_contain_text("Đã gửi lệnh dừng tới 3 cụm loa.")
    expect(page.locator("#state")).to_contain_text("Đã dừng lúc")
    expect(page.get_by_text("Lý do dừng: Báo nhầm: nước đã rút")).to_be_visible()
    expect(page.get_by_role("link", name="Dừng phát khẩn cấp")).to_have_count(0)
    # the clusters got it before it was stopped: still counted as having acknowledged it
    expect(page.locator("#acked")).to_contain_text("3/3")
    _shoot(page, tmp_path, "emergency-stopped")
    entry = commune.store.db.execute(
        "SELECT after FROM audit_log WHERE action = 'broadcast.cancel' AND entity_id = ?",
        [str(emergency_id)],
    ).fetchone()
    assert json.loads(entry[0])["reason"] == "Báo nhầm: nước đã rút"
    # the clusters stopped: each reports its play ended early, none played it to the end
    node = commune.seeded.nodes[0].node_id
    ended = wait_until(
        lambda: [p for p in commune.plays(node) if p["broadcast"] == emergency_id],
        timeout=30,
        what="the emergency's play ended on the node",
    )
    assert ended[0]["result"] != "played", ended
