"""The monthly report in real headless Chromium: the page a commune prints and sends up to the
district, printed to PDF (``page.pdf()``, print media) and read back with pypdf — the commune's
name, the national motto, the title, the period, the tables and the signature block are on
paper, and the menu, the footer and the buttons are not. Files go to ``tmp_path``."""

from __future__ import annotations

import re
import unicodedata
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect
from pypdf import PdfReader

from controller.core.db import insert
from loa.protocol import to_wire_time
from tests.support.system import Commune

pytestmark = pytest.mark.slow

#: 17:30 UTC on 30 November 2026 is 00:30 on 1 December in Vietnam: a December play.
PLAYED_AT = datetime(2026, 11, 30, 17, 30, tzinfo=UTC)


def _pdf_text(path: Path) -> str:
    """The PDF's text, composed (NFC), its lines joined and runs of spaces made one (a line
    may wrap anywhere on A4)."""
    text = "\n".join(page.extract_text() or "" for page in PdfReader(path).pages)
    return re.sub(r"\s+", " ", unicodedata.normalize("NFC", text))


def _a_month_of_plays(commune: Commune) -> None:
    """A health bulletin played 10 minutes on every cluster at 00:30 local on 1 December."""
    with commune.store.transaction() as db:
        announcement = insert(
            db,
            "announcements",
            {"title": "Tiêm chủng mở rộng", "status": "approved", "category": "y_te"},
        )
        broadcast = insert(
            db,
            "broadcasts",
            {
                "announcement_id": announcement,
                "zone_ids": "[]",
                "starts_at": to_wire_time(PLAYED_AT),
                "priority": "normal",
                "status": "active",
            },
        )
        for node in commune.seeded.nodes:
            insert(
                db,
                "dispatches",
                {
                    "broadcast_id": broadcast,
                    "occurrence": to_wire_time(PLAYED_AT),
                    "node_id": node.node_id,
                    "play_at": to_wire_time(PLAYED_AT),
                    "state": "played",
                    "started_at": "2026-11-30T17:30:00Z",
                    "finished_at": "2026-11-30T17:40:00Z",
                },
            )


def test_monthly_report_prints_as_the_form_a_commune_sends_up(
    commune: Commune, session: Any, tmp_path: Path
) -> None:
    _a_month_of_plays(commune)
    s = session("quantri")
    page = s.page
    page.goto("/reports")
    page.get_by_role("link", name=re.compile("Báo cáo tổng hợp tháng")).click()
    page.wait_for_url(re.compile(r"/reports/monthly\?month=\d{4}-\d{2}$"))
    page.goto("/reports/monthly?month=2026-12")
    expect(page.locator("h1")).to_have_text("BÁO CÁO TỔNG HỢP THÁNG 12/2026")
    expect(page.locator("header.top nav")).to_be_visible()  # on screen the menu is there

    page.emulate_media(media="print")
    for hidden in ("header.top", "nav.menu", "footer.foot", "form.filters", "button"):
        expect(page.locator(hidden).first).to_be_hidden()
    expect(page.locator("#by-category")).to_be_visible()
    page.screenshot(path=str(tmp_path / "monthly-print.png"), full_page=True)

    pdf = tmp_path / "bao-cao-thang-12-2026.pdf"
    page.pdf(path=str(pdf), format="A4", print_background=True)
    assert len(PdfReader(pdf).pages) == 1  # three villages' month: one A4 sheet, signed once
    text = _pdf_text(pdf)
    for words in (
        "ỦY BAN NHÂN DÂN",
        "XÃ LẠC LÂM",
        "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM",
        "Độc lập - Tự do - Hạnh phúc",
        "BÁO CÁO TỔNG HỢP THÁNG 12/2026",
        "từ ngày 01/12/2026 đến ngày 31/12/2026",
        "Thôn Lạc Xuân",
        "Y tế",
        "Tổng cộng",
        "NGƯỜI LẬP BIỂU",
        "CHỦ TỊCH UBND XÃ",
    ):
        assert words in text, (words, text)
    for absent in ("Đăng xuất", "Trình đơn", "In báo cáo", "Tải Excel"):
        assert absent not in text, (absent, text)

    page.emulate_media(media="screen")
    page.goto("/reports/monthly?month=2026-13")
    expect(page.get_by_role("alert")).to_contain_text("Tháng báo cáo không hợp lệ")
    s.expect_console_error("422")
