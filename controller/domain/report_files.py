"""Report files officials open in a spreadsheet program (Excel, LibreOffice) and send to the
district: the play log and the monthly summary as CSV and as .xlsx (openpyxl).

Rules:

- Files for people are in Vietnamese: column headers and words for codes (result, kind,
  category, priority), times in the deployment's time zone (``Settings.timezone``,
  Asia/Ho_Chi_Minh by default) with the offset stated in the header ("UTC+07:00").
  The words are the same Vietnamese source strings the web UI shows (controller/web/common.py).
- CSV starts with a UTF-8 BOM, so Excel reads the diacritics.
- No cell can become a formula: a text cell starting with ``=``, ``+``, ``-``, ``@``, a tab or
  a carriage return gets a leading apostrophe (``'=1+1``), in CSV and in .xlsx (where every text
  cell is also stored as text, never as a formula). Numbers stay numbers.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from openpyxl import Workbook
from openpyxl.styles import Font

#: What makes a spreadsheet read a cell as a formula (or a DDE command).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")

#: Dispatch results (``dispatches.state``) as the web UI says them.
RESULTS: dict[str, str] = {
    "queued": "Chờ gửi",
    "sent": "Đã gửi",
    "acked": "Cụm loa đã nhận",
    "playing": "Đang phát",
    "played": "Đã phát",
    "interrupted": "Bị ngắt",
    "failed": "Lỗi",
    "missed": "Lỡ giờ phát",
    "cancelled": "Đã hủy",
}
#: What a broadcast carries (``broadcasts.kind``).
KINDS: dict[str, str] = {"file": "Bản tin", "relay": "Tiếp sóng", "live": "Trực tiếp"}
#: Announcement categories, and the summary's rows for relays and live broadcasts.
CATEGORIES: dict[str, str] = {
    "thong_bao": "Thông báo",
    "tin_tuc": "Tin tức",
    "phap_luat": "Pháp luật",
    "thien_tai": "Phòng chống thiên tai",
    "y_te": "Y tế",
    "khac": "Khác",
    "relay": "Tiếp sóng",
    "live": "Trực tiếp",
}
PRIORITIES: dict[str, str] = {
    "normal": "Thông thường",
    "urgent": "Ưu tiên",
    "emergency": "Khẩn cấp",
}

#: The monthly summary's columns after the row's label: (key, header).
SUMMARY_COLUMNS: tuple[tuple[str, str], ...] = (
    ("hours", "Số giờ phát"),
    ("bulletins", "Số bản tin"),
    ("relays", "Số lần tiếp sóng"),
    ("live", "Số lần phát trực tiếp"),
    ("emergencies", "Số lần phát khẩn cấp"),
    ("played", "Lượt phát thành công"),
    ("dispatched", "Lượt phát đã gửi"),
    ("rate", "Tỉ lệ phát thành công (%)"),
)


def neutral(value: Any) -> Any:
    """A cell's value that no spreadsheet runs as a formula (see the module's rules)."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def utc_offset(zone: ZoneInfo, at: datetime | None = None) -> str:
    """``UTC+07:00``: the zone's offset (at ``at``, or now)."""
    moment = (at or datetime.now(zone)).astimezone(zone)
    return "UTC" + moment.strftime("%z")[:3] + ":" + moment.strftime("%z")[3:]


def _local(wire: str | None, zone: ZoneInfo) -> datetime | None:
    """A stored UTC time as a naive local one (what a spreadsheet cell holds)."""
    if not wire:
        return None
    return datetime.fromisoformat(wire).astimezone(zone).replace(tzinfo=None, microsecond=0)


def play_log_table(
    rows: Iterable[dict[str, Any]], zone: ZoneInfo
) -> tuple[list[str], list[list[Any]]]:
    """The play log (``reports.play_log`` rows) as Vietnamese headers and rows, local times."""
    offset = utc_offset(zone)
    header = [
        f"Thời gian phát ({offset})",
        "Cụm loa",
        "Mã cụm loa",
        "Thôn/xóm",
        "Bản tin",
        "Chuyên mục",
        "Loại",
        "Mức ưu tiên",
        "Kết quả",
        f"Bắt đầu ({offset})",
        f"Kết thúc ({offset})",
        "Thời lượng phát (giây)",
        "Số lần bị ngắt",
        "Lỗi",
    ]
    body = [
        [
            _local(r["play_at"], zone),
            r.get("node_name") or "",
            r.get("node_id") or "",
            r.get("zone_name") or "",
            r.get("title") or "",
            CATEGORIES.get(r.get("category") or "", r.get("category") or ""),
            KINDS.get(r.get("kind") or "file", r.get("kind") or ""),
            PRIORITIES.get(r.get("priority") or "", r.get("priority") or ""),
            RESULTS.get(r.get("state") or "", r.get("state") or ""),
            _local(r.get("started_at"), zone),
            _local(r.get("finished_at"), zone),
            r.get("played_s"),
            r.get("interruptions"),
            r.get("error") or "",
        ]
        for r in rows
    ]
    return header, body


def summary_tables(summary: dict[str, Any]) -> list[tuple[str, list[str], list[list[Any]]]]:
    """The monthly summary (``reports.monthly_summary``) as titled tables: per village, per
    category, each ending with the month's total."""

    def cells(label: str, row: dict[str, Any]) -> list[Any]:
        values = [row[key] for key, _ in SUMMARY_COLUMNS]
        values[-1] = None if row["rate"] is None else round(row["rate"] * 100, 1)
        return [label, *values]

    headers = [h for _, h in SUMMARY_COLUMNS]
    total = cells("Tổng cộng", summary["total"])
    return [
        (
            "Theo thôn/xóm",
            ["Thôn/xóm", *headers],
            [*(cells(z["name"], z) for z in summary["zones"]), total],
        ),
        (
            "Theo chuyên mục",
            ["Chuyên mục", *headers],
            [
                *(
                    cells(CATEGORIES.get(c["category"], c["category"]), c)
                    for c in summary["categories"]
                ),
                total,
            ],
        ),
    ]


def csv_bytes(header: Sequence[Any], rows: Iterable[Sequence[Any]]) -> bytes:
    """A CSV file with a UTF-8 BOM; times as ``YYYY-MM-DD HH:MM:SS``; no formula cells."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([neutral(h) for h in header])
    for row in rows:
        writer.writerow(
            [
                v.strftime("%Y-%m-%d %H:%M:%S") if isinstance(v, datetime) else neutral(v)
                for v in row
            ]
        )
    return ("\ufeff" + out.getvalue()).encode()


def xlsx_bytes(
    sheets: Sequence[tuple[str, Sequence[str], Sequence[str], Iterable[Sequence[Any]]]],
) -> bytes:
    """An .xlsx workbook: per sheet (name, lines above the table, header, rows); a sheet's name
    has ``-`` for what Excel refuses there (``Theo thôn/xóm`` → ``Theo thôn-xóm``). Headers bold,
    times as date cells shown ``dd/mm/yyyy hh:mm:ss``, text stored as text (no formulas)."""
    book = Workbook()
    book.remove(book.active)
    for name, above, header, rows in sheets:
        sheet = book.create_sheet(title=re.sub(r"[\\/*?:\[\]]", "-", name)[:31])
        for line in above:
            sheet.append([neutral(line)])
            sheet.cell(row=sheet.max_row, column=1).font = Font(bold=True)
        sheet.append([neutral(h) for h in header])
        for cell in sheet[sheet.max_row]:
            cell.font = Font(bold=True)
            cell.data_type = "s"
        for row in rows:
            sheet.append([neutral(v) for v in row])
            for cell in sheet[sheet.max_row]:
                if isinstance(cell.value, str):
                    cell.data_type = "s"
                elif isinstance(cell.value, datetime):
                    cell.number_format = "dd/mm/yyyy hh:mm:ss"
        for column, h in enumerate(header, start=1):
            width = min(max(len(str(h)), 12) + 2, 40)
            sheet.column_dimensions[sheet.cell(row=1, column=column).column_letter].width = width
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def summary_heading(summary: dict[str, Any], commune: str) -> list[str]:
    """The lines above the summary's tables in its .xlsx: who, title, period."""
    first = datetime.fromisoformat(summary["first_day"])
    last = datetime.fromisoformat(summary["last_day"])
    return [
        f"UBND {commune}",
        f"BÁO CÁO TỔNG HỢP THÁNG {first:%m/%Y}",
        f"Hoạt động truyền thanh từ ngày {first:%d/%m/%Y} đến ngày {last:%d/%m/%Y}",
    ]
