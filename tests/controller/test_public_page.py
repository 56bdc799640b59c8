"""The public page (no sign-in): the commune's name, what will play in a village in the coming
days (only what is approved, only what reaches that village), and what played there with its
text shown (controller/domain/public.py states the rules)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from fastapi.testclient import TestClient

from controller.domain.seed import SeededCommune
from loa.protocol import to_wire_time

LOCAL = ZoneInfo("Asia/Ho_Chi_Minh")


def _broadcast(db, n: int, title: str, zone_id: int, at: datetime, **extra) -> None:  # type: ignore[no-untyped-def]
    """A broadcast of its own announcement (or, with kind, a relay or live one), once at ``at``."""
    status = extra.pop("announcement_status", "approved")
    kind = extra.pop("kind", None)
    announcement_id = None
    if kind is None:
        db.execute(
            "INSERT INTO announcements (id, title, text, status) VALUES (?, ?, 'Nội dung', ?)",
            [n, title, status],
        )
        announcement_id = n
    row = {
        "id": n,
        "announcement_id": announcement_id,
        "kind": kind,
        "title": None if kind is None else title,
        "zone_ids": f"[{zone_id}]",
        "status": "active",
        "priority": "normal",
        "starts_at": to_wire_time(at),
        "repeats": 1,
    } | extra
    db["broadcasts"].insert(row)


def test_a_village_page_names_the_commune_and_lists_what_will_play_there(
    client: TestClient, commune: SeededCommune
):
    db = client.app.state.runtime.store.db  # type: ignore[attr-defined]
    village, other = commune.nodes[0].zone_id, commune.nodes[1].zone_id
    soon = (datetime.now(UTC) + timedelta(days=2)).replace(second=0, microsecond=0)
    _broadcast(db, 1, "Lịch tiêm chủng cả xã", commune.commune_id, soon)
    _broadcast(db, 2, "Họp thôn riêng", village, soon + timedelta(hours=1))
    _broadcast(db, 3, "Thôn bên cạnh", other, soon)
    _broadcast(db, 4, "Đang chờ duyệt", village, soon, announcement_status="pending")
    _broadcast(db, 5, "Đã hủy rồi", village, soon, status="cancelled")
    _broadcast(db, 6, "Tiếp sóng chưa duyệt", village, soon, kind="relay")
    _broadcast(db, 7, "Tiếp sóng VOV1", village, soon, kind="relay", approved_at="2026-01-01Z")
    _broadcast(db, 8, "Quá xa", village, soon + timedelta(days=9))

    page = TestClient(client.app).get(f"/public/{village}")
    assert page.status_code == 200
    assert "Xã Lạc Lâm" in page.text
    listed = page.text.split('id="played-h"')[0]
    for shown in ("Lịch tiêm chủng cả xã", "Họp thôn riêng", "Tiếp sóng VOV1"):
        assert shown in listed
    for hidden in ("Thôn bên cạnh", "Đang chờ duyệt", "Đã hủy rồi", "Tiếp sóng chưa duyệt"):
        assert hidden not in listed
    assert "Quá xa" not in listed
    local = soon.astimezone(LOCAL)
    weekday = ["Thứ Hai", "Thứ Ba", "Thứ Tư", "Thứ Năm", "Thứ Sáu", "Thứ Bảy", "Chủ Nhật"]
    assert f"{local:%H:%M} {weekday[local.weekday()]} {local:%d/%m}" in listed
    assert listed.index("Lịch tiêm chủng cả xã") < listed.index("Họp thôn riêng")

    index = TestClient(client.app).get("/public")
    assert "Xã Lạc Lâm" in index.text


def test_what_played_shows_its_text_without_a_click(client: TestClient, commune: SeededCommune):
    db = client.app.state.runtime.store.db  # type: ignore[attr-defined]
    village = commune.nodes[0].zone_id
    past = datetime.now(UTC) - timedelta(hours=2)
    _broadcast(db, 1, "Thông báo nộp thuế", village, past)
    db.execute("UPDATE announcements SET text = 'Hạn nộp thuế đất là ngày 31 tháng 12.'")
    db.execute(
        "INSERT INTO dispatches (broadcast_id, occurrence, node_id, play_at, state, started_at) "
        "VALUES (1, 'o', ?, ?, 'played', ?)",
        [commune.nodes[0].node_id, to_wire_time(past), to_wire_time(past)],
    )
    page = TestClient(client.app).get(f"/public/{village}")
    played = page.text.split('id="played-h"')[1]
    assert "Hạn nộp thuế đất là ngày 31 tháng 12." in played
    assert "<details" not in played
