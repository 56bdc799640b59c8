"""The OpenAPI document's words in Vietnamese and English (issue 19): every operation, path and
query parameter and request field is described in both, side by side here so they cannot drift.
``GET /api/v1/openapi.json`` answers in Vietnamese; ``?lang=en`` (or ``Accept-Language`` whose
first language Loa has is English) in English (docs/api.md). errors.document applies them.

Keys: operations by route name (the handler's function name); parameters by name, or
``route.parameter`` when one route means something else by it; fields by ``Model.field``, or by
field name alone when every model means the same by it; request models by name."""

from __future__ import annotations

import copy
import re
from typing import Any

LANGUAGES = ("vi", "en")
DEFAULT_LANGUAGE = "vi"

Text = tuple[str, str]  # (Vietnamese, English)

OPERATIONS: dict[str, Text] = {
    # announcements
    "create_announcement": (
        "Soạn bản tin mới (bản nháp, hoặc gửi duyệt ngay với submit: true: đọc thành tiếng trước "
        "để người duyệt nghe đúng cái sẽ phát).",
        "Write a new announcement (a draft, or submitted at once with submit: true: spoken first, "
        "so the approver hears what will play).",
    ),
    "list_announcements": (
        "Danh sách bản tin, mới nhất trước, lọc theo trạng thái, loại và thời gian.",
        "Announcements, newest first, filtered by status, category and time.",
    ),
    "get_announcement": ("Một bản tin.", "One announcement."),
    "edit_announcement": (
        "Sửa bản nháp hoặc bản tin bị trả lại; trường bỏ trống giữ nguyên giá trị cũ.",
        "Edit a draft or rejected announcement; fields left out keep their values.",
    ),
    "submit_announcement": (
        "Gửi duyệt: đọc thành tiếng (nếu chưa), rồi chuyển sang chờ duyệt.",
        "Submit for approval: speak the text (if not yet), then make it pending.",
    ),
    "approve_announcement": (
        "Duyệt bản tin (không phải người soạn); các lượt phát đã lên lịch sẽ được gửi đi.",
        "Approve an announcement (not its author); broadcasts already scheduled go out.",
    ),
    "reject_announcement": (
        "Trả lại bản tin kèm lý do.",
        "Reject an announcement, saying why.",
    ),
    "archive_announcement": (
        "Lưu trữ bản tin; các lượt phát đã lên lịch vẫn phát (hủy chúng để dừng).",
        "Archive an announcement; broadcasts already scheduled still play (cancel them to stop).",
    ),
    "announcement_audio": (
        "Nghe trước khi phát: âm thanh MP3 của bản tin (đọc ở lần hỏi đầu, rồi lưu lại).",
        "Listen before it goes out: the announcement's MP3 (spoken on first request, cached).",
    ),
    # broadcasts
    "list_broadcasts": (
        "Các lượt phát gần đây, với số cụm loa đã phát và trạng thái.",
        "Recent broadcasts, with how many nodes played them and their state.",
    ),
    "create_broadcast": (
        "Lên lịch phát một bản tin đã duyệt tới các thôn: một lần hoặc lặp lại.",
        "Schedule an approved announcement to zones: once or recurring.",
    ),
    "check_broadcast": (
        "Kiểm tra một lượt phát mà không lưu: tóm tắt, các cụm loa, các lần phát, các lịch trùng.",
        "Check a broadcast without saving it: summary, nodes, occurrences, clashes.",
    ),
    "get_broadcast": (
        "Một lượt phát, với từng lần phát trên từng cụm loa.",
        "One broadcast, with each occurrence on each node.",
    ),
    "cancel_broadcast": (
        "Hủy phần còn lại của lượt phát (khẩn cấp: dừng ngay); lý do được ghi vào nhật ký.",
        "Cancel what is left of a broadcast (an emergency: stop it); the reason is audited.",
    ),
    "emergency": (
        "Khẩn cấp: soạn, duyệt và phát ngay trên mọi cụm loa của các thôn, trong một bước.",
        "Emergency: write, approve and play now on every node of the zones, in one step.",
    ),
    # zones, nodes, fleet
    "list_zones": ("Các thôn (vùng phát) của xã.", "The commune's zones (villages)."),
    "list_nodes": (
        "Các cụm loa, với trạng thái, lần cuối liên lạc và tỷ lệ hoạt động.",
        "The nodes, with status, last contact and uptime.",
    ),
    "add_node": (
        "Thêm cụm loa; câu trả lời chứa gói cấu hình của nó, chỉ hiện một lần.",
        "Add a node; the answer holds its provisioning bundle, shown once.",
    ),
    "revoke_node": (
        "Thu hồi cụm loa: nó không kết nối được nữa và bỏ lịch phát đang giữ.",
        "Revoke a node: it can no longer connect and drops the schedule it holds.",
    ),
    "reissue_node": (
        "Cấp lại mật khẩu cho cụm loa (gói mới; mật khẩu cũ hết hiệu lực).",
        "Re-issue a node's secret (a new bundle; the old secret stops working).",
    ),
    "get_node": (
        "Một cụm loa: trạng thái, số liệu gần nhất, tỷ lệ hoạt động, lịch sử và cảnh báo.",
        "One node: state, last telemetry, uptime, status history and alerts.",
    ),
    "get_node_uptime": (
        "Tỷ lệ thời gian cụm loa hoạt động trong một khoảng (mặc định 24 giờ qua).",
        "Percent of a period the node was online (default: the last 24 hours).",
    ),
    "list_alerts": (
        "Cảnh báo cho người vận hành: đang mở, hoặc cả đã đóng với all=1.",
        "Alerts for operators: the open ones, or closed ones too with all=1.",
    ),
    # join codes and the node's files
    "list_join_codes": ("Các mã tham gia.", "The join codes."),
    "create_join_code": (
        "Tạo mã tham gia cho một cụm loa mới và dòng lệnh gõ trên Pi (mã chỉ hiện một lần).",
        "Make a join code for a new node and the line to type on the Pi (the code is shown once).",
    ),
    "revoke_join_code": ("Thu hồi mã tham gia chưa dùng.", "Revoke an unused join code."),
    "redeem_join_code": (
        "Công khai: Pi đổi mã tham gia lấy gói cấu hình (mã là giấy phép, dùng một lần).",
        "Public: a Pi trades its join code for its bundle (the code is the credential, used once).",
    ),
    "install_script": (
        "Công khai: kịch bản cài đặt cụm loa trên Pi.",
        "Public: the node's install script for the Pi.",
    ),
    "node_wheel": (
        "Công khai: gói phần mềm loa cùng phiên bản với máy chủ.",
        "Public: the loa software package of the controller's version.",
    ),
    "get_media": (
        "Một tệp âm thanh MP3 theo mã SHA-256 của nó (cho cụm loa và người dùng đã đăng nhập).",
        "An MP3 file by its SHA-256 (for nodes and signed-in officials).",
    ),
    # reports
    "play_log": (
        "Nhật ký phát, mới nhất trước, từng trang; JSON, CSV hoặc Excel.",
        "The play log, newest first, a page at a time; JSON, CSV or Excel.",
    ),
    "delivery": (
        "Tỷ lệ phát tới nơi theo thôn và theo ngày.",
        "Delivery rate per zone and per day.",
    ),
    "monthly": (
        "Báo cáo tháng theo thôn và theo loại: giờ phát, bản tin, tiếp sóng, khẩn cấp.",
        "The monthly summary per zone and category: hours on air, bulletins, relays, emergencies.",
    ),
    "audit_log": (
        "Nhật ký thao tác: ai làm gì, lúc nào; JSON hoặc CSV.",
        "The audit log: who did what, when; JSON or CSV.",
    ),
    # officials and tokens
    "list_users": ("Các tài khoản cán bộ.", "The officials' accounts."),
    "create_user": ("Tạo tài khoản cán bộ.", "Create an official's account."),
    "change_user": (
        "Sửa tài khoản: vai trò, thôn, tên, mật khẩu, khóa; trường null giữ nguyên.",
        "Change an account: role, zone, name, password, disabled; a null field keeps it.",
    ),
    "list_tokens": ("Các mã truy cập API.", "The API tokens."),
    "create_token": (
        "Tạo mã truy cập API, chỉ hiện một lần (chỉ lưu bản băm).",
        "Create an API token, shown once (only its hash is kept).",
    ),
    "revoke_token": ("Thu hồi mã truy cập API.", "Revoke an API token."),
    # streams, relays, live
    "list_sources": ("Các nguồn tiếp sóng.", "The stream sources."),
    "create_source": (
        "Lưu nguồn tiếp sóng sau khi kiểm tra: kết nối được, là âm thanh, mã hóa, tốc độ bit.",
        "Save a stream source after checking it: reachable, audio, codec, bitrate.",
    ),
    "get_source": ("Một nguồn tiếp sóng.", "One stream source."),
    "update_source": (
        "Sửa nguồn tiếp sóng (kiểm tra lại).",
        "Change a stream source (checked again).",
    ),
    "delete_source": (
        "Xóa nguồn tiếp sóng (không được khi còn lượt tiếp sóng cần nó).",
        "Delete a stream source (refused while a relay still needs it).",
    ),
    "check_source": (
        "Kiểm tra nguồn ngay: kết nối, loại nội dung, mã hóa, tốc độ bit.",
        "Check the source now: reachable, content type, codec, bitrate.",
    ),
    "create_relay": (
        "Tiếp sóng một nguồn tới các thôn trong một khoảng thời gian, một lần hoặc lặp lại.",
        "Relay a stream source to zones for a window, once or recurring.",
    ),
    "approve_relay": (
        "Duyệt lượt tiếp sóng do biên tập viên tạo; cụm loa nhận nó sau đó.",
        "Approve an editor's relay; the nodes get it then.",
    ),
    "start_live": (
        "Mở một lượt phát trực tiếp; rồi gửi âm thanh micro (WebM/Opus) tới ws_path.",
        "Open a live broadcast; then send the microphone's WebM/Opus to ws_path.",
    ),
    "live_status": ("Trạng thái lượt phát trực tiếp.", "A live broadcast's state."),
    "stop_live": ("Dừng lượt phát trực tiếp.", "Stop a live broadcast."),
    "relay_stream": (
        "Luồng MP3 của nguồn tiếp sóng, cho cụm loa.",
        "The stream source's MP3 stream, for nodes.",
    ),
    "live_stream": (
        "Luồng MP3 của lượt phát trực tiếp, cho cụm loa.",
        "The live broadcast's MP3 stream, for nodes.",
    ),
    # cloud voices
    "list_voices": (
        "Các bộ đọc trên mạng (FPT.AI, Vbee, Viettel AI), các trường và trạng thái kiểm tra.",
        "The cloud voices (FPT.AI, Vbee, Viettel AI), their fields and checked state.",
    ),
    "set_voice_account": (
        "Đặt tài khoản của một bộ đọc trên mạng; câu trả lời là bộ đọc sau khi kiểm tra.",
        "Set a cloud voice's account; the answer is the engine as checked.",
    ),
    # CAP 1.2 alerts in (docs/alerts.md)
    "push_cap": (
        "Gửi tới một bản tin cảnh báo CAP 1.2 (nội dung XML: application/cap+xml, application/xml "
        "hoặc text/xml, tối đa 256 KB) bằng mã tích hợp của một nguồn kiểu push (quản trị viên có "
        "thể chỉ source_id). Trả lời 200 với việc nó đã làm (outcome: emergency, announcement, "
        "logged, test, expired, outside_area, cancelled …); bản tin bị từ chối là 422 với mã "
        "cap_* và lý do (413 cap_too_large khi quá lớn, 415 cap_content_type khi không phải XML), "
        "được ghi lại trên trang của nguồn.",
        "Push one CAP 1.2 alert (an XML body: application/cap+xml, application/xml or text/xml, "
        "at most 256 KB) with a push source's integration token (an admin may name source_id). "
        "200 with what it made (outcome: emergency, announcement, logged, test, expired, "
        "outside_area, cancelled …); a refused document is 422 with its cap_* code and reason "
        "(413 cap_too_large when too large, 415 cap_content_type when not XML), kept on the "
        "source's page.",
    ),
    "cap_sources_list": (
        "Các nguồn cảnh báo CAP (nguồn tin để hỏi định kỳ và nguồn push), với trạng thái.",
        "The CAP alert sources (feeds polled and push sources), with their state.",
    ),
    "cap_source_create": (
        "Thêm nguồn cảnh báo CAP; mã tích hợp của nguồn push nằm trong token, chỉ hiện lần này.",
        "Add a CAP alert source; a push source's integration token is in token, shown only now.",
    ),
    "cap_source_get": (
        "Một nguồn cảnh báo CAP, trạng thái và các lần từ chối gần nhất.",
        "One CAP alert source, its state and its latest refusals.",
    ),
    "cap_source_update": (
        "Sửa một nguồn cảnh báo CAP (kiểu nguồn giữ nguyên như lúc tạo).",
        "Change a CAP alert source (its kind stays what it was made).",
    ),
    "cap_source_delete": (
        "Xóa một nguồn cảnh báo CAP (bị từ chối khi đã có bản tin nhận từ nó; hãy tắt nó).",
        "Delete a CAP alert source (refused once alerts came from it: disable it instead).",
    ),
    "cap_alerts_list": (
        "Các bản tin CAP đã nhận, mới nhất trước: nguồn, việc đã làm, người duyệt.",
        "Received CAP alerts, newest first: their source, what each made, who approved it.",
    ),
    "cap_policy_get": (
        "Bảng chính sách CAP: quy tắc đầu tiên khớp với bản tin quyết định việc làm.",
        "The CAP policy table: the first rule that matches an alert decides what it does.",
    ),
    "cap_policy_put": (
        "Thay cả bảng chính sách CAP (theo thứ tự; quy tắc khớp đầu tiên thắng).",
        "Replace the CAP policy table (in order; the first matching rule wins).",
    ),
    "cap_zone_code": (
        "Đặt mã đơn vị hành chính của một thôn/xã (geocode của bản tin CAP tới vùng đó và các "
        "vùng bên dưới).",
        "Set a zone's administrative code (an alert's geocode reaches the zone and the zones "
        "below it).",
    ),
    # Loa's own CAP 1.2 warnings out (public)
    "cap_feed": (
        "Công khai: mục lục Atom 1.0 các bản tin CAP mới nhất của Loa (khẩn cấp, lệnh hủy, các "
        "loại bản tin được công bố); trả 304 khi If-None-Match là ETag hiện tại.",
        "Public: the Atom 1.0 index of Loa's newest CAP documents (emergencies, their cancels, "
        "the categories published); 304 when If-None-Match is the current ETag.",
    ),
    "get_cap_alert": (
        "Công khai: một bản tin CAP 1.2 theo identifier, có chữ ký khi máy chủ có khóa ký "
        "(cap_alert_not_found khi không có; cap_signing_unavailable khi không đọc được khóa).",
        "Public: one CAP 1.2 document by its identifier, signed when the deployment has a key "
        "(cap_alert_not_found otherwise; cap_signing_unavailable when the key cannot be read).",
    ),
}

PARAMETERS: dict[str, Text] = {
    "announcement_id": ("Mã bản tin.", "The announcement's id."),
    "broadcast_id": ("Mã lượt phát.", "The broadcast's id."),
    "node_id": ("Mã cụm loa, ví dụ lac-xuan-1.", "The node's id, e.g. lac-xuan-1."),
    "user_id": ("Mã tài khoản.", "The account's id."),
    "token_id": ("Mã của mã truy cập API.", "The API token's id."),
    "code_id": ("Mã của mã tham gia.", "The join code's id."),
    "source_id": ("Mã nguồn tiếp sóng.", "The stream source's id."),
    "sha256": ("Mã SHA-256 của tệp âm thanh.", "The audio file's SHA-256."),
    "wheel": ("Tên tệp gói phần mềm loa.", "The loa package's file name."),
    "engine": ("Bộ đọc: fpt, vbee hoặc viettel.", "The engine: fpt, vbee or viettel."),
    "status": ("Chỉ bản tin ở trạng thái này.", "Only announcements in this status."),
    "category": ("Chỉ bản tin thuộc loại này.", "Only announcements of this category."),
    "since": (
        "Từ thời điểm này (ISO 8601 có múi giờ).",
        "From this time (ISO 8601 with an offset).",
    ),
    "until": (
        "Đến thời điểm này (ISO 8601 có múi giờ).",
        "Until this time (ISO 8601 with an offset).",
    ),
    "zone_id": ("Chỉ thôn này.", "Only this zone."),
    "limit": ("Số dòng tối đa của trang.", "At most this many rows per page."),
    "offset": ("Bỏ qua ngần này dòng đầu.", "Skip this many rows first."),
    "format": (
        "Định dạng trả về: json, csv hoặc xlsx.",
        "The answer's format: json, csv or xlsx.",
    ),
    "labels": (
        "vi: tiêu đề và chữ tiếng Việt, giờ địa phương (cho người đọc).",
        "vi: Vietnamese headers and words, local times (for people).",
    ),
    "month": (
        "Tháng báo cáo YYYY-MM, giờ địa phương (mặc định tháng này).",
        "The report month YYYY-MM, local time (default: this month).",
    ),
    "entity": ("Chỉ thao tác trên loại đối tượng này.", "Only actions on this kind of entity."),
    "entity_id": ("Chỉ thao tác trên đối tượng này.", "Only actions on this entity."),
    "history": ("Số lần đổi trạng thái trả về.", "How many status changes to return."),
    "all": ("Cả cảnh báo đã đóng (mới nhất trước).", "Closed alerts too (newest first)."),
    "list_nodes.zone_id": ("Chỉ cụm loa của thôn này.", "Only the nodes of this zone."),
    # CAP
    "push_cap.source_id": (
        "Nguồn push nhận bản tin, khi quản trị viên gửi thay (mã của nguồn thì không cần).",
        "The push source it comes to, when an admin pushes for it (not with the source's token).",
    ),
    "cap_source_get.source_id": ("Mã nguồn cảnh báo CAP.", "The CAP alert source's id."),
    "cap_source_update.source_id": ("Mã nguồn cảnh báo CAP.", "The CAP alert source's id."),
    "cap_source_delete.source_id": ("Mã nguồn cảnh báo CAP.", "The CAP alert source's id."),
    "cap_alerts_list.limit": (
        "Số bản tin tối đa trả về (1–1000).",
        "At most this many alerts (1–1000).",
    ),
    "cap_zone_code.zone_id": ("Mã thôn/xã.", "The zone's id."),
    "identifier": ("Identifier của bản tin CAP.", "The CAP document's identifier."),
}

#: Request fields: ``Model.field`` first, then the field's name alone.
FIELDS: dict[str, Text] = {
    # shared meanings
    "title": (
        "Tiêu đề, một dòng (tối đa 200 ký tự).",
        "The title, one line (at most 200 characters).",
    ),
    "text": ("Nội dung sẽ được đọc.", "The text that is spoken."),
    "zone_ids": ("Các thôn nhận (ít nhất một).", "The zones it goes to (at least one)."),
    "zone_id": ("Mã thôn.", "The zone's id."),
    "priority": (
        "Mức ưu tiên: normal, urgent hoặc emergency.",
        "The priority: normal, urgent or emergency.",
    ),
    "starts_at": (
        "Phát một lần lúc này (ISO 8601 có múi giờ).",
        "One-off at this time (ISO 8601 with an offset).",
    ),
    "rrule": ("Lịch lặp theo RFC 5545 (RRULE).", "A recurrence as RFC 5545 text (RRULE)."),
    "rule": (
        "Lịch lặp theo các lựa chọn của trình tạo lịch.",
        "A recurrence as the rule builder's choices.",
    ),
    "accept_conflicts": (
        "Vẫn lên lịch khi trùng với lượt phát khác.",
        "Schedule it even when it clashes with another broadcast.",
    ),
    "accept_unhealthy": (
        "Vẫn lưu khi nguồn không qua kiểm tra (đài có thể đang tạm ngừng).",
        "Save it even when the source fails its check (the station may be off the air).",
    ),
    "repeats": ("Số lần đọc liên tiếp.", "How many times it is played in a row."),
    "frequency": (
        "Tần suất: daily, weekdays, weekly hoặc monthly.",
        "How often: daily, weekdays, weekly or monthly.",
    ),
    "times": ("Giờ phát trong ngày (giờ địa phương).", "Times of day (local time)."),
    "valid_from": ("Ngày bắt đầu.", "The first day."),
    "valid_until": ("Ngày kết thúc (trống: không hạn).", "The last day (empty: no end)."),
    "weekdays": ("Các thứ: 0 = thứ Hai … 6 = Chủ nhật.", "Weekdays: 0 = Monday … 6 = Sunday."),
    "month_days": (
        "Các ngày trong tháng: 1..31, hoặc -1 là ngày cuối tháng.",
        "Days of the month: 1..31, or -1 for the last.",
    ),
    "password": ("Mật khẩu (ít nhất 10 ký tự).", "The password (at least 10 characters)."),
    "role": (
        "Vai trò: admin, editor, approver hoặc viewer.",
        "The role: admin, editor, approver or viewer.",
    ),
    "display_name": ("Tên hiển thị.", "The display name."),
    # announcements
    "AnnouncementIn.category": ("Loại bản tin.", "The announcement's category."),
    "AnnouncementIn.submit": (
        "Gửi duyệt ngay (chờ duyệt) thay vì giữ bản nháp.",
        "Submit for approval at once (pending) instead of keeping a draft.",
    ),
    "AnnouncementIn.speech_engine": (
        "Bộ đọc: auto theo thứ tự của máy chủ; fpt, vbee, viettel khi quản trị đã đặt tài khoản.",
        "The engine: auto, the controller's order; fpt, vbee, viettel once an admin set their "
        "accounts.",
    ),
    "AnnouncementIn.speech_voice": (
        "Một giọng của bộ đọc trên máy chủ này; null: giọng mặc định.",
        "One of the engine's voices on this controller; null: its default.",
    ),
    "AnnouncementIn.speech_rate": (
        "Tốc độ đọc, số từ mỗi phút (60–400); null: mặc định của bộ đọc.",
        "Words per minute (60–400); null: the engine's default.",
    ),
    "RejectIn.comment": ("Lý do trả lại.", "Why it is rejected."),
    "ReviewIn.comment": ("Ghi chú.", "A comment."),
    # broadcasts
    "BroadcastIn.announcement_id": ("Bản tin đã duyệt cần phát.", "The approved announcement."),
    "BroadcastIn.priority": (
        "Mức ưu tiên (mặc định: của bản tin).",
        "The priority (default: the announcement's).",
    ),
    "BroadcastIn.repeat_gap_s": (
        "Khoảng nghỉ giữa các lần đọc, giây.",
        "Seconds between the repeats.",
    ),
    "CancelIn.reason": (
        "Lý do hủy, ghi vào nhật ký (tối đa 500 ký tự).",
        "Why it is cancelled, kept in the audit entry (at most 500 characters).",
    ),
    # users and tokens
    "UserIn.username": (
        "Tên đăng nhập: 2–64 chữ không dấu, số, dấu chấm, gạch ngang.",
        "The user name: 2–64 letters, digits, dots, hyphens.",
    ),
    "UserIn.zone_id": (
        "Thôn của cán bộ; trống: cả xã.",
        "The official's zone; empty: the whole commune.",
    ),
    "UserChange.zone_id": (
        "Thôn của cán bộ; null: giữ nguyên.",
        "The official's zone; null: unchanged.",
    ),
    "UserChange.disabled": ("Khóa tài khoản.", "Disable the account."),
    "TokenIn.name": ("Tên gợi nhớ của mã.", "A name to recognise the token by."),
    "TokenIn.user_id": (
        "Tài khoản mà mã thay mặt (vai trò và thôn); trống: một tích hợp với role.",
        "The account it acts as (role and area); empty: an integration with role.",
    ),
    # nodes and join codes
    "NodeIn.id": (
        "Mã cụm loa: chữ thường không dấu, chữ số, gạch ngang, ví dụ lac-xuan-1.",
        "The node id: lower-case letters, digits, hyphens, e.g. lac-xuan-1.",
    ),
    "NodeIn.name": ("Tên cụm loa.", "The node's name."),
    "NodeIn.lat": ("Vĩ độ (−90…90), cùng với kinh độ.", "Latitude (−90…90), with the longitude."),
    "NodeIn.lon": (
        "Kinh độ (−180…180), cùng với vĩ độ.",
        "Longitude (−180…180), with the latitude.",
    ),
    "JoinCodeIn.name": (
        "Tên cụm loa mới; mã cụm loa lấy từ tên khi không cho id.",
        "The new node's name; its id is made from it when no id is given.",
    ),
    "JoinCodeIn.id": (
        "Mã cụm loa; mặc định: lấy từ tên.",
        "The node id; default: made from the name.",
    ),
    "RedeemIn.code": ("Mã tham gia.", "The join code."),
    # streams
    "SourceIn.name": ("Tên nguồn tiếp sóng.", "The stream source's name."),
    "SourceIn.url": ("Địa chỉ http(s) của luồng.", "The stream's http(s) URL."),
    "RelayIn.stream_source_id": ("Nguồn tiếp sóng.", "The stream source."),
    "RelayIn.window_s": ("Thời lượng tiếp sóng, giây.", "How long the relay plays, seconds."),
    "RelayIn.title": ("Tiêu đề lượt tiếp sóng.", "The relay's title."),
    "LiveIn.title": ("Tiêu đề lượt phát trực tiếp.", "The live broadcast's title."),
    # cloud voices
    "VoiceAccountIn.fpt_api_key": ("Khóa API của FPT.AI.", "FPT.AI's API key."),
    "VoiceAccountIn.fpt_url": ("Địa chỉ API của FPT.AI.", "FPT.AI's API URL."),
    "VoiceAccountIn.vbee_token": ("Mã truy cập Vbee.", "Vbee's token."),
    "VoiceAccountIn.vbee_app_id": ("Mã ứng dụng Vbee.", "Vbee's app id."),
    "VoiceAccountIn.vbee_url": ("Địa chỉ API của Vbee.", "Vbee's API URL."),
    "VoiceAccountIn.viettel_token": ("Mã truy cập Viettel AI.", "Viettel AI's token."),
    "VoiceAccountIn.viettel_url": ("Địa chỉ API của Viettel AI.", "Viettel AI's API URL."),
    # CAP sources (CapSourceIn: POST; CapSourceChange: PUT), policy, zone codes
    **{
        f"{model}.{field}": text
        for model in ("CapSourceIn", "CapSourceChange")
        for field, text in {
            "name": (
                "Tên nguồn, một dòng (tối đa 100 ký tự).",
                "The source's name, one line (at most 100 characters).",
            ),
            "kind": (
                "feed: hỏi định kỳ địa chỉ url; push: bản tin gửi tới POST /api/v1/cap bằng mã "
                "tích hợp của nguồn. Khi sửa, kiểu nguồn giữ nguyên.",
                "feed: polled at url; push: alerts come to POST /api/v1/cap with the source's "
                "integration token. On PUT the kind stays.",
            ),
            "url": (
                "Với feed: địa chỉ http(s) của mục lục (Atom hoặc RSS) hoặc của một bản tin CAP; "
                "bỏ qua với push.",
                "For a feed: the http(s) URL of its index (Atom or RSS) or of one CAP document; "
                "ignored for push.",
            ),
            "interval_s": (
                "Với feed: hỏi lại sau ngần này giây (30–86400).",
                "For a feed: poll every this many seconds (30–86400).",
            ),
            "signed_only": (
                "Chỉ nhận bản tin có chữ ký hợp lệ theo chứng chỉ cert_pem.",
                "Take only alerts validly signed by cert_pem's certificate.",
            ),
            "cert_pem": (
                'Chứng chỉ của nguồn (PEM). Khi sửa: null giữ chứng chỉ đã lưu, "" thì xóa.',
                'The source\'s certificate (PEM). On PUT: null keeps the stored one, "" removes '
                "it.",
            ),
            "user_id": (
                "Cán bộ mà nguồn thay mặt (người duyệt hoặc quản trị); null: chính nguồn.",
                "The official the source acts as (an approver or admin); null: the source itself.",
            ),
            "enabled": (
                "Đang bật: tắt thì nguồn không nhận bản tin nào.",
                "Enabled: a disabled source takes no alert.",
            ),
        }.items()
    },
    "PolicyIn.rules": (
        "Các quy tắc theo thứ tự (ít nhất một): quy tắc đầu tiên khớp quyết định.",
        "The rules in order (at least one): the first that matches decides.",
    ),
    "PolicyRuleIn.severity": (
        "Mức nghiêm trọng CAP khớp (một trong các giá trị); trống: mọi mức.",
        "CAP severities that match (any of them); empty: any.",
    ),
    "PolicyRuleIn.urgency": (
        "Mức khẩn cấp CAP khớp (một trong các giá trị); trống: mọi mức.",
        "CAP urgencies that match (any of them); empty: any.",
    ),
    "PolicyRuleIn.certainty": (
        "Mức chắc chắn CAP khớp (một trong các giá trị); trống: mọi mức.",
        "CAP certainties that match (any of them); empty: any.",
    ),
    "PolicyRuleIn.event": (
        "Sự kiện (event) của bản tin, không phân biệt hoa thường; trống: mọi sự kiện.",
        "The alert's event (case-insensitive); empty: any.",
    ),
    "PolicyRuleIn.action": (
        "Việc làm: emergency (phát khẩn cấp ngay), announcement (bản tin chờ duyệt), log (chỉ "
        "ghi lại).",
        "What it does: emergency (sound it now), announcement (a pending announcement), log "
        "(only record it).",
    ),
    "PolicyRuleIn.repeat_min": (
        "Với emergency: phát lại sau ngần này phút cho tới khi bản tin hết hạn (0: một lần).",
        "For emergency: sound it again every this many minutes until the alert expires (0: once).",
    ),
    "AdminCodeIn.admin_code": (
        'Mã đơn vị hành chính của vùng, so với geocode của bản tin CAP; "" thì xóa.',
        'The zone\'s administrative code, matched against CAP geocodes; "" clears it.',
    ),
}

#: Request models' own descriptions (their docstrings are for developers).
MODELS: dict[str, Text] = {
    "RuleIn": (
        "Lịch lặp theo trình tạo lịch (giờ Việt Nam).",
        "The rule builder's choices (local time in Asia/Ho_Chi_Minh).",
    ),
    "RelayRuleIn": (
        "Lịch lặp theo trình tạo lịch (giờ Việt Nam).",
        "The rule builder's choices (local time in Asia/Ho_Chi_Minh).",
    ),
    "RejectIn": ("Trả lại bản tin: cần lý do.", "A rejection says why: comment is required."),
    "CancelIn": ("Hủy lượt phát: nội dung không bắt buộc.", "Cancelling: the body is optional."),
    "VoiceAccountIn": (
        'Các trường của một bộ đọc: giá trị thì thay, "" thì xóa, bỏ trống hoặc null thì giữ.',
        'An engine\'s fields: a value replaces, "" clears, absent or null keeps.',
    ),
    "NodeIn": (
        "Một cụm loa mới: vĩ độ và kinh độ cùng có hoặc cùng không.",
        "A new node: latitude and longitude both or neither.",
    ),
    "JoinCodeIn": (
        "Không cho id thì mã cụm loa lấy từ tên, nên tên phải có chữ hoặc số.",
        "Without id the node id is made from the name, which must then hold a letter or digit.",
    ),
    "CapSourceIn": (
        "Một nguồn cảnh báo CAP mới: nguồn feed (kind feed hoặc bỏ trống) cần url http(s).",
        "A new CAP alert source: a feed (kind feed or left out) needs an http(s) url.",
    ),
    "CapSourceChange": (
        "Cài đặt của một nguồn cảnh báo CAP; kiểu nguồn đã lưu quyết định url có bắt buộc không.",
        "A CAP alert source's settings; the stored kind decides whether url is required.",
    ),
}


#: The error answers' descriptions in Vietnamese (errors.ERROR_STATUSES says them in English).
ERRORS_VI: dict[int, str] = {
    400: "malformed_json: nội dung gửi lên không phải JSON",
    401: "unauthorized: không có mã truy cập hoặc phiên đăng nhập hợp lệ",
    403: "forbidden / csrf / outside_zone: không được phép làm việc này",
    404: "không tìm thấy: một mã trong đường dẫn hoặc nội dung không ứng với gì",
    409: "xung đột: trạng thái hiện tại không cho phép (đã làm rồi, trùng lịch, đã có)",
    410: "join_code_used / join_code_expired / join_code_revoked",
    413: "body_too_large: nội dung gửi lên quá lớn",
    415: "cap_content_type: cảnh báo CAP gửi tới không phải CAP hay XML",
    422: "invalid_request (hoặc một quy tắc của dữ liệu): yêu cầu phạm một quy tắc",
    503: "wheel_unavailable / cap_signing_unavailable: thiếu tệp mà câu trả lời cần",
}
#: How the 422 answer introduces the refusals only data or configuration decide.
DATA_DECIDES: Text = (
    "dữ liệu hoặc cấu hình của máy chủ này quyết định",
    "this controller's data or configuration decides",
)


def error_description(status: int, english: str, lang: str, refusals: list[str] | None) -> str:
    """An error answer's description in ``lang`` (``english``: errors.ERROR_STATUSES's)."""
    said = ERRORS_VI.get(status, english) if lang == "vi" else english
    if refusals:
        said += f"; {_pick(DATA_DECIDES, lang)}: {', '.join(refusals)}"
    return said


def language(query: str | None, accept_language: str | None) -> str:
    """``?lang=`` when it names a language Loa has; else the first of ``Accept-Language``
    (by its q values) that Loa has; else Vietnamese."""
    if query in LANGUAGES:
        return query
    ranked: list[tuple[float, int, str]] = []
    for position, part in enumerate((accept_language or "").split(",")):
        tag, _, params = part.strip().partition(";")
        found = re.search(r"q=([0-9.]+)", params)
        try:
            weight = float(found[1]) if found else 1.0
        except ValueError:
            weight = 0.0
        primary = tag.strip().lower().split("-")[0]
        if primary in LANGUAGES and weight > 0:
            ranked.append((-weight, position, primary))
    return min(ranked)[2] if ranked else DEFAULT_LANGUAGE


def _pick(text: Text, lang: str) -> str:
    return text[LANGUAGES.index(lang)]


def field_text(model: str, field: str) -> Text | None:
    return FIELDS.get(f"{model}.{field}") or FIELDS.get(field)


def parameter_text(route: str, name: str) -> Text | None:
    return PARAMETERS.get(f"{route}.{name}") or PARAMETERS.get(name)


def translate(
    doc: dict[str, Any],
    routes: dict[tuple[str, str], str],
    lang: str,
    errors: dict[int, str] | None = None,
) -> dict[str, Any]:
    """A copy of the document in ``lang``: operations (``routes``: (path, method) → route name),
    their parameters and error answers (``errors``: status → English description), and the
    request models' fields and descriptions, from the tables above. Anything without an entry
    keeps what the code says."""
    doc = copy.deepcopy(doc)
    for path, operations in doc.get("paths", {}).items():
        for method, operation in operations.items():
            route = routes.get((path, method))
            if route is None:
                continue
            said = OPERATIONS.get(route)
            if said:
                operation["summary"] = operation["description"] = _pick(said, lang)
            for parameter in operation.get("parameters", []):
                text = parameter_text(route, parameter["name"])
                if text:
                    parameter["description"] = _pick(text, lang)
            for status, answer in operation.get("responses", {}).items():
                if errors and status.isdigit() and int(status) in errors:
                    answer["description"] = error_description(
                        int(status), errors[int(status)], lang, answer.get("x-data-refusals")
                    )
    for name, schema in doc.get("components", {}).get("schemas", {}).items():
        said = MODELS.get(name)
        if said:
            schema["description"] = _pick(said, lang)
        for field, prop in schema.get("properties", {}).items():
            text = field_text(name, field)
            if text:
                prop["description"] = _pick(text, lang)
    return doc
