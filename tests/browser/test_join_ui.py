"""*Cụm loa → Thêm cụm loa* in headless Chromium: an administrator makes a join code, reads the
one line to type on the Pi, sees the code waiting and revokes it; on a desktop and a phone."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import PHONE

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("viewport", [None, PHONE], ids=["desktop", "phone"])
def test_admin_makes_a_join_code_and_revokes_it(session: Any, viewport: Any) -> None:
    s = session("quantri") if viewport is None else session("quantri", viewport)
    page = s.page
    page.goto("/nodes")
    page.get_by_role("link", name="Thêm cụm loa").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Thêm cụm loa")
    name = "Cụm loa bến đò" if viewport is None else "Cụm loa chợ"
    page.get_by_label("Tên cụm loa").fill(name)
    page.get_by_label("Địa bàn").select_option(label="Xã Lạc Lâm › Thôn Lạc Xuân")
    page.get_by_role("button", name="Tạo mã tham gia").click()
    command = page.locator("#join-command")
    expect(command).to_contain_text("/node/install.sh | sudo sh -s -- ")
    code = page.locator("#join-code").inner_text()
    assert command.inner_text().endswith(code)
    row = page.locator("#join-rows tr", has_text=name)
    expect(row).to_have_attribute("data-status", "waiting")
    s.shoot("join-code", "desktop" if viewport is None else "phone")
    row.get_by_role("button", name="Thu hồi").click()
    expect(page.locator("#join-rows tr", has_text=name)).to_have_attribute("data-status", "revoked")
    expect(page.locator("#join-code")).to_have_count(0)  # shown once
