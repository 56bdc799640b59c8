"""Every word the controller shows to people, in Vietnamese, in one place.

``ERRORS`` maps the API's stable error codes to the message an official reads. The web pages'
own words are in the gettext catalog (controller/i18n, see docs/ui.md). Domain words follow the
project glossary (cụm loa, bản tin, lượt phát, …).
"""

from __future__ import annotations

from contextvars import ContextVar

from controller.core.messages_en import ERRORS_EN

ERRORS: dict[str, str] = {
    "unauthorized": "Chưa đăng nhập hoặc mã truy cập không hợp lệ.",
    "forbidden": "Bạn không có quyền thực hiện thao tác này.",
    "outside_area": "Địa bàn đã chọn nằm ngoài phạm vi bạn được giao.",
    "body_too_large": "Yêu cầu quá lớn (tối đa {limit} MB).",
    "self_approval": "Người duyệt phải là người khác với người soạn bản tin.",
    "bad_status": "Không thể thực hiện khi bản tin đang ở trạng thái «{state}».",
    "comment_required": "Hãy ghi lý do từ chối.",
    "schedule_conflict": "Trùng giờ với lượt phát khác cùng mức ưu tiên trên cùng cụm loa.",
    "broadcast_finished": "Lượt phát đã kết thúc hoặc đã hủy.",
    "reason_required": "Hãy ghi lý do dừng phát khẩn cấp.",
    "reason_too_long": "Lý do quá dài (tối đa {limit} ký tự).",
    "user_exists": "Tên đăng nhập đã tồn tại.",
    "weak_password": "Mật khẩu phải có ít nhất 10 ký tự.",
    "bad_role": "Vai trò không hợp lệ.",
    "token_not_found": "Không tìm thấy mã truy cập.",
    "user_not_found": "Không tìm thấy người dùng.",
    "malformed_json": "Dữ liệu gửi lên không phải JSON hợp lệ.",
    "invalid_request": "Dữ liệu không hợp lệ.",
    "bad_month": "Tháng báo cáo không hợp lệ: hãy chọn tháng theo dạng YYYY-MM, ví dụ 2026-11.",
    "empty_text": "Nội dung bản tin không được để trống.",
    "text_too_long": "Nội dung bản tin quá dài (tối đa {limit} ký tự).",
    "empty_title": "Tiêu đề bản tin không được để trống.",
    "title_too_long": "Tiêu đề quá dài (tối đa {limit} ký tự).",
    "control_characters": (
        "Có ký tự điều khiển hoặc ký tự ẩn không được phép (ví dụ ký tự đảo chiều chữ); "
        "hãy gõ lại phần này."
    ),
    "invisible_only": "Phần này chỉ có ký tự vô hình; hãy nhập chữ đọc được.",
    "approved_audio_missing": (
        "Không tìm thấy tệp âm thanh đã duyệt của bản tin; bản tin đã duyệt không được đọc lại, "
        "hãy báo quản trị viên."
    ),
    "audio_not_rendered": "Bản tin chưa có âm thanh để nghe duyệt; hãy nghe thử rồi duyệt lại.",
    "relay_not_pending": "Lượt tiếp sóng này không chờ duyệt.",
    "stream_target_forbidden": (
        "Địa chỉ nguồn phát thuộc mạng nội bộ, không được phép dùng làm nguồn tiếp sóng."
    ),
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
    "join_code_invalid": "Mã tham gia không đúng: hãy kiểm tra lại từng ký tự.",
    "join_code_used": "Mã tham gia này đã được dùng: hãy xin quản trị viên một mã mới.",
    "join_code_expired": "Mã tham gia đã hết hạn (sau 24 giờ): hãy xin quản trị viên một mã mới.",
    "join_code_revoked": "Mã tham gia đã bị thu hồi: hãy xin quản trị viên một mã mới.",
    "join_code_not_found": "Không tìm thấy mã tham gia.",
    "wheel_unavailable": "Bộ điều khiển chưa có gói cài đặt loa cho cụm loa (chạy make dist).",
    "bad_node_id": (
        "Mã cụm loa chỉ gồm chữ thường không dấu, chữ số và dấu gạch ngang (tối đa 63 ký tự), "
        "ví dụ lac-xuan-1."
    ),
    "bad_coordinates": "Tọa độ không hợp lệ: cần cả vĩ độ (−90…90) và kinh độ (−180…180).",
    "node_revoked": "Cụm loa này đã bị thu hồi quyền truy cập.",
    "media_not_found": "Không tìm thấy tệp âm thanh.",
    "cap_alert_not_found": "Không tìm thấy bản tin cảnh báo CAP này.",
    "cap_signing_unavailable": "Không đọc được khóa hoặc chứng thư ký bản tin cảnh báo CAP.",
    "render_failed": "Không tạo được giọng đọc: {detail}",
    "not_found": "Không tìm thấy trang.",
    "login_failed": "Tên đăng nhập hoặc mật khẩu không đúng.",
    "csrf": "Phiên làm việc đã hết hạn. Hãy tải lại trang và thử lại.",
    "stream_bad_url": "Địa chỉ luồng phải bắt đầu bằng http:// hoặc https://.",
    "stream_name_required": "Hãy đặt tên cho nguồn tiếp sóng (ví dụ VOV1).",
    "stream_unreachable": "Không kết nối được tới luồng phát: {detail}",
    "stream_wrong_type": "Địa chỉ này không phải luồng âm thanh: {detail}",
    "stream_stalled": "Luồng phát không gửi dữ liệu âm thanh: {detail}",
    "announcement_changed": "Bản tin vừa được sửa trong lúc tạo giọng đọc. Hãy thử lại.",
    "stream_source_not_found": "Không tìm thấy nguồn tiếp sóng.",
    "stream_source_unhealthy": "Nguồn «{name}» đang lỗi: {detail}",
    "stream_source_in_use": (
        "Chưa xóa được: nguồn này còn được dùng cho các lượt tiếp sóng sắp tới {relays}. "
        "Hãy hủy các lượt đó trước."
    ),
    "bad_window": "Thời lượng tiếp sóng phải từ {low} đến {high} giây.",
    "live_not_found": "Không có buổi phát trực tiếp này hoặc buổi phát đã kết thúc.",
    "live_already_connected": "Buổi phát trực tiếp này đang được phát từ một trình duyệt khác.",
    "unknown_engine": "Không có bộ đọc trực tuyến này.",
    "bad_voice_setting": "Giá trị không hợp lệ: khóa không được có dấu cách, địa chỉ phải bắt "
    "đầu bằng http:// hoặc https://.",
    # CAP alerts in (controller/domain/cap_sources.py)
    "cap_source_not_found": "Không tìm thấy nguồn cảnh báo CAP.",
    "cap_source_disabled": "Nguồn cảnh báo này đang tắt; hãy bật lại trước khi gửi.",
    "cap_source_bad_name": "Tên nguồn cảnh báo không được để trống, tối đa 100 ký tự.",
    "cap_source_bad_url": "Địa chỉ nguồn cảnh báo phải bắt đầu bằng http:// hoặc https://.",
    "cap_source_bad_interval": "Chu kỳ kiểm tra phải từ {low} đến {high} giây.",
    "cap_source_bad_cert": "Chứng thư số không đọc được (cần dạng PEM).",
    "cap_source_cert_required": "Nguồn chỉ nhận bản tin có chữ ký số cần có chứng thư số.",
    "cap_source_user_role": "Người được nguồn thay mặt phải là người duyệt hoặc quản trị viên.",
    "cap_source_has_alerts": "Nguồn đã nhận bản tin nên được giữ để tra cứu; hãy tắt nguồn.",
    "cap_content_type": "Bản tin CAP phải gửi dạng application/cap+xml hoặc application/xml.",
    "cap_policy_empty": "Bảng chính sách cần ít nhất một dòng.",
    "cap_policy_bad_value": "Giá trị «{value}» không có trong CAP 1.2.",
    "cap_policy_bad_action": "Hành động phải là phát khẩn cấp, chờ duyệt hoặc chỉ ghi nhận.",
    "cap_policy_bad_repeat": "Chu kỳ phát lại phải từ 0 đến {limit} phút.",
    "bad_admin_code": "Mã đơn vị hành chính chỉ gồm chữ số, chữ cái, dấu chấm hoặc gạch.",
    "admin_code_taken": "Mã đơn vị hành chính «{value}» đã gán cho địa bàn khác.",
}


#: The language of the error messages made during this request: Vietnamese (the API, always)
#: unless a web page sets its official's choice (``use_locale``; web/common.page_user does).
_LOCALE: ContextVar[str] = ContextVar("message_locale", default="vi")


def use_locale(locale: str) -> None:
    """Word the errors of the request being handled in ``locale`` (``en``: ``ERRORS_EN``)."""
    _LOCALE.set(locale)


def message_locale() -> str:
    return _LOCALE.get()


def error_message(code: str, **params: object) -> str:
    """The message for ``code`` in the request's language (Vietnamese unless a page chose)."""
    if _LOCALE.get() == "en" and code in ERRORS_EN:
        template = ERRORS_EN[code]
    else:
        template = ERRORS.get(code, ERRORS["invalid_request"])
    try:
        return template.format(**params)
    except (KeyError, IndexError):
        return template


#: Alerts for operators (cảnh báo), by kind; see controller/services/alerts.py. ``{node}`` is the
#: node's name, which already reads "Cụm loa …".
ALERTS: dict[str, str] = {
    "node_offline": "{node} mất kết nối đã {minutes} phút.",
    "media_failed": "{node} không có tệp âm thanh cho lượt phát #{broadcast}: {error}",
    "clock_unsynced": (
        "Đồng hồ của {node} chưa được đồng bộ (đồng bộ: {synced}, lệch {offset} ms)."
    ),
    "play_missed": "{node} không báo đã phát lượt phát #{broadcast}: {error}",
    "disk_low": "{node} sắp hết chỗ lưu trữ: còn {free} MB (ngưỡng {limit:.0f} MB).",
    "store_reset": (
        "{node} phát hiện cơ sở dữ liệu bị hỏng lúc {at}, đã lập lại và xin đồng bộ lịch "
        "(bản hỏng giữ ở {kept})."
    ),
}


def alert_message(kind: str, **params: object) -> str:
    template = ALERTS.get(kind, kind)
    try:
        return template.format(**params)
    except (KeyError, IndexError):
        return template
