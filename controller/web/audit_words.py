"""The audit log in words: each entry as the sentence an official reads ("Biên tập viên Nguyễn
Văn A hủy lượt phát số 4"), and the kinds of entity in the filter by their Vietnamese names.

Every action the controller writes (``audit.record``/``audit.append`` calls, with the names the
announcement workflow and the node actions make up) has its sentence here;
tests/controller/test_audit_words.py reads the code for those names so a new action cannot be
left without words. An unknown action (an older database) still reads as actor, action, entity.
"""

from __future__ import annotations

from typing import Any

from controller.web.common import N_, ROLES

#: action → sentence; ``%(who)s`` is the actor in words, ``%(id)s`` the entity's id.
ACTIONS: dict[str, str] = {
    "announcement.create": N_("%(who)s soạn bản tin số %(id)s"),
    "announcement.edit": N_("%(who)s sửa bản tin số %(id)s"),
    "announcement.submit": N_("%(who)s gửi duyệt bản tin số %(id)s"),
    "announcement.approve": N_("%(who)s duyệt bản tin số %(id)s"),
    "announcement.reject": N_("%(who)s từ chối bản tin số %(id)s"),
    "announcement.archive": N_("%(who)s lưu trữ bản tin số %(id)s"),
    "announcement.voice_withdrawn": N_(
        "%(who)s: bản tin số %(id)s mất âm thanh vì giọng xã đọc nó đã bị xóa"
    ),
    "broadcast.create": N_("%(who)s lên lịch lượt phát số %(id)s"),
    "broadcast.emergency": N_("%(who)s phát khẩn cấp (lượt phát số %(id)s)"),
    "broadcast.relay": N_("%(who)s lên lịch tiếp sóng (lượt phát số %(id)s)"),
    "broadcast.relay_approve": N_("%(who)s duyệt tiếp sóng (lượt phát số %(id)s)"),
    "broadcast.live": N_("%(who)s phát trực tiếp (lượt phát số %(id)s)"),
    "broadcast.cancel": N_("%(who)s hủy lượt phát số %(id)s"),
    "cap.receive": N_("%(who)s nhận bản tin cảnh báo CAP (số %(id)s trong danh sách đã nhận)"),
    "cap.refuse": N_("Hệ thống từ chối một bản tin cảnh báo CAP của nguồn số %(id)s"),
    "cap.end": N_("%(who)s dừng những gì bản tin cảnh báo CAP số %(id)s đã tạo"),
    "cap.repeat": N_("%(who)s phát lại cảnh báo khẩn cấp theo bản tin CAP số %(id)s"),
    "cap_source.create": N_("%(who)s thêm nguồn cảnh báo CAP số %(id)s"),
    "cap_source.update": N_("%(who)s sửa nguồn cảnh báo CAP số %(id)s"),
    "cap_source.delete": N_("%(who)s xóa nguồn cảnh báo CAP số %(id)s"),
    "cap_policy.save": N_("%(who)s lưu bảng chính sách cảnh báo CAP"),
    "controller.rotate_key": N_("%(who)s đổi khóa ký lệnh của bộ điều khiển"),
    "join_code.create": N_("%(who)s tạo mã tham gia số %(id)s"),
    "join_code.redeem": N_("%(who)s dùng mã tham gia số %(id)s để thêm cụm loa"),
    "join_code.revoke": N_("%(who)s thu hồi mã tham gia số %(id)s"),
    "lexicon.save": N_("%(who)s lưu cách đọc số %(id)s trong từ điển phát âm"),
    "lexicon.delete": N_("%(who)s xóa cách đọc số %(id)s khỏi từ điển phát âm"),
    "login_failed": N_("Đăng nhập sai với tên «%(id)s»"),
    "node.add": N_("%(who)s thêm cụm loa %(id)s"),
    "node.reissue": N_("%(who)s cấp lại khóa cho cụm loa %(id)s"),
    "node.revoke": N_("%(who)s thu hồi cụm loa %(id)s"),
    "node.tone": N_("%(who)s phát thử trên cụm loa %(id)s"),
    "node.stop": N_("%(who)s dừng phát trên cụm loa %(id)s"),
    "node.volume": N_("%(who)s đổi âm lượng cụm loa %(id)s"),
    "node.position": N_("%(who)s đặt vị trí cụm loa %(id)s trên bản đồ"),
    "stream_source.create": N_("%(who)s thêm nguồn tiếp sóng số %(id)s"),
    "stream_source.update": N_("%(who)s sửa nguồn tiếp sóng số %(id)s"),
    "stream_source.delete": N_("%(who)s xóa nguồn tiếp sóng số %(id)s"),
    "token.create": N_("%(who)s tạo mã truy cập số %(id)s"),
    "token.revoke": N_("%(who)s thu hồi mã truy cập số %(id)s"),
    "user.create": N_("%(who)s tạo tài khoản số %(id)s"),
    "user.change": N_("%(who)s thay đổi tài khoản số %(id)s"),
    "user.clear_sign_in_delay": N_("%(who)s bỏ thời gian chờ đăng nhập của tài khoản số %(id)s"),
    "voices.save": N_("%(who)s lưu tài khoản giọng đọc %(id)s"),
    "voices.install": N_("%(who)s cài giọng đọc ngoại tuyến %(id)s"),
    "voicebank.create": N_("%(who)s tạo giọng xã %(id)s"),
    "voicebank.record": N_("%(who)s ghi âm cho giọng xã %(id)s"),
    "voicebank.export": N_("%(who)s xuất giọng xã %(id)s ra tệp"),
    "voicebank.import": N_("%(who)s nhập giọng xã %(id)s từ tệp"),
    "voicebank.delete": N_("%(who)s xóa giọng xã %(id)s"),
    "zone.admin_code": N_("%(who)s đặt mã đơn vị hành chính cho địa bàn số %(id)s"),
}

#: entity → its name in the filter.
ENTITIES: dict[str, str] = {
    "announcement": N_("Bản tin"),
    "broadcast": N_("Lượt phát"),
    "cap_alert": N_("Bản tin cảnh báo CAP"),
    "cap_policy": N_("Chính sách cảnh báo CAP"),
    "cap_source": N_("Nguồn cảnh báo CAP"),
    "controller": N_("Bộ điều khiển"),
    "join_code": N_("Mã tham gia"),
    "lexicon": N_("Từ điển phát âm"),
    "node": N_("Cụm loa"),
    "stream_source": N_("Nguồn tiếp sóng"),
    "token": N_("Mã truy cập"),
    "user": N_("Người dùng"),
    "voices": N_("Giọng đọc"),
    "voicebank": N_("Giọng xã"),
    "zone": N_("Địa bàn"),
}


def actor_words(_: Any, row: dict[str, Any]) -> str:
    """Who did it: an official by role and name, else the system, a node or a token."""
    if row.get("actor_name"):
        role = ROLES.get(row.get("actor_role") or "", "")
        return f"{_(role)} {row['actor_name']}" if role else str(row["actor_name"])
    actor = str(row.get("actor") or "")
    kind, _sep, name = actor.partition(":")
    if actor == "system" or not actor:
        return str(_("Hệ thống"))
    if kind == "node":
        return str(_("Cụm loa %(id)s", id=name))
    if kind == "token":
        return str(_("Mã truy cập «%(name)s»", name=name))
    return actor


def sentence(_: Any, row: dict[str, Any]) -> str:
    """The entry as one sentence in the page's language."""
    words = ACTIONS.get(row["action"])
    who = actor_words(_, row)
    if words is None:
        return f"{who}: {row['action']} {row['entity']} #{row['entity_id']}"
    return str(_(words, who=who, id=row["entity_id"]))
