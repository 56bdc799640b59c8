"""Every word the controller shows to people, in Vietnamese, in one place.

``ERRORS`` maps the API's stable error codes to the message an official reads; ``UI`` holds the
web pages' words. Domain words follow the project glossary (cụm loa, bản tin, lượt phát, …).
"""

from __future__ import annotations

ERRORS: dict[str, str] = {
    "unauthorized": "Chưa đăng nhập hoặc mã truy cập không hợp lệ.",
    "forbidden": "Bạn không có quyền thực hiện thao tác này.",
    "outside_area": "Địa bàn đã chọn nằm ngoài phạm vi bạn được giao.",
    "too_many_attempts": "Đăng nhập sai quá nhiều lần. Hãy thử lại sau {minutes} phút.",
    "self_approval": "Người duyệt phải là người khác với người soạn bản tin.",
    "bad_status": "Không thể thực hiện khi bản tin đang ở trạng thái «{state}».",
    "comment_required": "Hãy ghi lý do từ chối.",
    "schedule_conflict": "Trùng giờ với lượt phát khác cùng mức ưu tiên trên cùng cụm loa.",
    "broadcast_finished": "Lượt phát đã kết thúc hoặc đã hủy.",
    "user_exists": "Tên đăng nhập đã tồn tại.",
    "weak_password": "Mật khẩu phải có ít nhất 10 ký tự.",
    "bad_role": "Vai trò không hợp lệ.",
    "token_not_found": "Không tìm thấy mã truy cập.",
    "user_not_found": "Không tìm thấy người dùng.",
    "malformed_json": "Dữ liệu gửi lên không phải JSON hợp lệ.",
    "invalid_request": "Dữ liệu không hợp lệ.",
    "empty_text": "Nội dung bản tin không được để trống.",
    "text_too_long": "Nội dung bản tin quá dài (tối đa {limit} ký tự).",
    "empty_title": "Tiêu đề bản tin không được để trống.",
    "title_too_long": "Tiêu đề quá dài (tối đa {limit} ký tự).",
    "time_without_offset": "Thời gian phải có múi giờ, ví dụ 2026-12-01T07:30:00+07:00.",
    "in_past": "Thời gian phát đã qua. Hãy chọn một thời điểm trong tương lai.",
    "too_far_ahead": "Thời gian phát quá xa (tối đa {days} ngày tới).",
    "announcement_not_found": "Không tìm thấy bản tin.",
    "announcement_not_approved": "Bản tin chưa được duyệt nên chưa thể phát.",
    "broadcast_not_found": "Không tìm thấy lượt phát.",
    "zone_not_found": "Không tìm thấy địa bàn: {zone_ids}.",
    "no_zones": "Hãy chọn ít nhất một địa bàn.",
    "no_nodes": "Địa bàn đã chọn chưa có cụm loa nào.",
    "node_not_found": "Không tìm thấy cụm loa.",
    "node_exists": "Đã có cụm loa mang mã {node_id}.",
    "bad_node_id": (
        "Mã cụm loa chỉ gồm chữ thường không dấu, chữ số và dấu gạch ngang (tối đa 63 ký tự), "
        "ví dụ lac-xuan-1."
    ),
    "bad_coordinates": "Tọa độ không hợp lệ: cần cả vĩ độ (−90…90) và kinh độ (−180…180).",
    "node_revoked": "Cụm loa này đã bị thu hồi quyền truy cập.",
    "media_not_found": "Không tìm thấy tệp âm thanh.",
    "render_failed": "Không tạo được giọng đọc: {detail}",
    "not_found": "Không tìm thấy trang.",
    "login_failed": "Tên đăng nhập hoặc mật khẩu không đúng.",
    "csrf": "Phiên làm việc đã hết hạn. Hãy tải lại trang và thử lại.",
}


def error_message(code: str, **params: object) -> str:
    template = ERRORS.get(code, ERRORS["invalid_request"])
    try:
        return template.format(**params)
    except (KeyError, IndexError):
        return template


UI: dict[str, str] = {
    "app_name": "Loa — Truyền thanh thông minh",
    "nav_new": "Bản tin mới",
    "nav_nodes": "Cụm loa",
    "nav_approvals": "Duyệt bản tin",
    "approvals_title": "Bản tin chờ duyệt",
    "no_pending": "Không có bản tin nào chờ duyệt.",
    "approve": "Duyệt",
    "reject": "Từ chối",
    "reject_comment": "Lý do từ chối (bắt buộc khi từ chối)",
    "nav_broadcasts": "Lịch phát",
    "logout": "Đăng xuất",
    "login_title": "Đăng nhập",
    "username": "Tên đăng nhập",
    "password": "Mật khẩu",
    "login": "Đăng nhập",
    "no_admin": (
        "Chưa có tài khoản quản trị. Trên máy chủ, hãy chạy lệnh `loa admin create` để tạo "
        "tài khoản đầu tiên."
    ),
    "new_title": "Soạn bản tin và lên lịch phát",
    "title": "Tiêu đề",
    "text": "Nội dung bản tin",
    "zones": "Địa bàn phát",
    "play_at": "Thời gian phát (giờ Việt Nam)",
    "submit": "Lên lịch phát",
    "chars": "ký tự",
    "nodes_title": "Tình trạng cụm loa",
    "node": "Cụm loa",
    "zone": "Địa bàn",
    "status": "Trạng thái",
    "online": "Trực tuyến",
    "offline": "Mất kết nối",
    "last_seen": "Lần cuối hoạt động",
    "version": "Phiên bản",
    "volume": "Âm lượng",
    "never": "Chưa từng",
    "broadcast_title": "Lượt phát",
    "broadcast_created": "Đã lên lịch phát. Bản tin sẽ được phát sau khi được duyệt.",
    "announcement": "Bản tin",
    "listen": "Nghe thử",
    "dispatches": "Nhật ký phát",
    "state": "Trạng thái",
    "started_at": "Bắt đầu",
    "finished_at": "Kết thúc",
    "broadcasts_title": "Các lượt phát gần đây",
    "no_broadcasts": "Chưa có lượt phát nào.",
    "delivered": "Đã phát {played}/{total} cụm loa",
}

#: Dispatch states as officials read them (nhật ký phát).
DISPATCH_STATES: dict[str, str] = {
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

#: Alerts for operators (cảnh báo), by kind; see controller/alerts.py. ``{node}`` is the
#: node's name, which already reads "Cụm loa …".
ALERTS: dict[str, str] = {
    "node_offline": "{node} mất kết nối đã {minutes} phút.",
    "media_failed": "{node} không có tệp âm thanh cho lượt phát #{broadcast}: {error}",
    "clock_unsynced": (
        "Đồng hồ của {node} chưa được đồng bộ (đồng bộ: {synced}, lệch {offset} ms)."
    ),
}

#: Why a node's status changed (lịch sử trạng thái cụm loa).
NODE_STATUS_REASONS: dict[str, str] = {
    "connected": "Đã kết nối",
    "will": "Mất kết nối đột ngột",
    "shutdown": "Tắt có chủ động",
    "heartbeat": "Theo tín hiệu định kỳ",
    "offline": "Báo mất kết nối",
}


def alert_message(kind: str, **params: object) -> str:
    template = ALERTS.get(kind, kind)
    try:
        return template.format(**params)
    except (KeyError, IndexError):
        return template
