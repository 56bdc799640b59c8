"""Every Vietnamese sentence the audio package shows to people, in one place."""

from __future__ import annotations

#: Error code → message shown to officials.
ERRORS: dict[str, str] = {
    "empty_text": "Nội dung bản tin đang trống, không có gì để đọc.",
    "text_too_long": (
        "Nội dung bản tin quá dài (tối đa {limit} ký tự). Hãy chia thành nhiều bản tin."
    ),
    "not_audio": "Tệp tải lên không phải là tệp âm thanh hợp lệ.",
    "empty_audio": "Tệp âm thanh không có tiếng (chỉ có khoảng lặng).",
    "too_long": "Tệp âm thanh quá dài (tối đa {limit} phút).",
    "too_large": "Tệp âm thanh quá lớn (tối đa {limit} MB).",
    "engine_unavailable": "Không có giọng đọc nào dùng được để đọc bản tin này.",
    "unknown_engine": (
        'Không có bộ đọc "{engine}". Hãy chọn auto, fpt, vbee, viettel, gtts, piper hoặc espeak-ng.'
    ),
    "unknown_voice": 'Không có giọng đọc "{voice}" cho bộ đọc {engine}.',
    "engine_failed": "Bộ đọc {engine} bị lỗi khi đọc bản tin.",
    "offline": "Không kết nối được dịch vụ đọc trực tuyến (gTTS). Kiểm tra mạng Internet.",
    "bad_voice_file": "Tệp giọng đọc không hợp lệ: {detail}",
    "unknown_catalog_voice": 'Danh mục giọng Piper không có giọng "{voice}".',
    "voice_not_vietnamese": 'Giọng "{voice}" không phải giọng tiếng Việt ({language}).',
    "voice_download_failed": (
        "Không tải được giọng {voice} từ danh mục giọng Piper ({url}). Kiểm tra mạng Internet."
    ),
    "voice_checksum": (
        "Tệp {file} tải về không khớp mã kiểm tra của danh mục: chưa cài gì, hãy thử lại."
    ),
    "bad_settings": "Thiết lập giọng đọc không hợp lệ: {detail}",
    "listening_unavailable": (
        "Máy chủ chưa cài bộ nhận dạng tiếng nói (viet-asr) nên chưa nghe kiểm tra được."
    ),
    "listening_failed": "Không nghe kiểm tra được tệp âm thanh này.",
    "ffmpeg_failed": "Lỗi khi xử lý âm thanh (ffmpeg).",
}

#: Labels for the UI (engine names as officials see them).
ENGINE_LABELS: dict[str, str] = {
    "auto": "Tự động",
    "espeak-ng": "eSpeak NG (ngoại tuyến, giọng máy)",
    "piper": "Piper (ngoại tuyến, giọng tự nhiên)",
    "gtts": "Google (trực tuyến)",
    "fpt": "FPT.AI (trực tuyến, giọng tự nhiên)",
    "vbee": "Vbee (trực tuyến, giọng tự nhiên)",
    "viettel": "Viettel AI (trực tuyến, giọng tự nhiên)",
    "giong-xa": "Giọng xã (giọng phát thanh viên của xã, ghép từng tiếng)",
    "upload": "Tệp tải lên",
}

VOICE_LABELS: dict[str, str] = {
    "vi": "Giọng miền Bắc (nam)",
    "vi+f2": "Giọng miền Bắc (nữ)",
    "vi-vn-x-south": "Giọng miền Nam (nam)",
    "vi-vn-x-south+f2": "Giọng miền Nam (nữ)",
    "vi-vn-x-central": "Giọng miền Trung (nam)",
    "vi-vn-x-central+f2": "Giọng miền Trung (nữ)",
}

#: An online engine's state (audio.engines.online.STATES) as the voices page says it.
ONLINE_STATES: dict[str, str] = {
    "ready": "{engine}: sẵn sàng.",
    "not_configured": "{engine}: chưa nhập khóa API.",
    "wrong_key": "{engine}: khóa API không đúng hoặc đã bị thu hồi.",
    "out_of_quota": "{engine}: đã hết hạn mức ký tự của tài khoản.",
    "unreachable": "{engine}: không kết nối được dịch vụ. Kiểm tra mạng Internet.",
    "timeout": "{engine}: dịch vụ không trả lời trong {seconds:g} giây.",
    "failed": "{engine}: dịch vụ trả về kết quả không dùng được.",
}


def engine_label(engine: str) -> str:
    """An engine's short name inside a sentence ("FPT.AI")."""
    from audio.voices import ENGINE_SHORT_NAMES

    return ENGINE_SHORT_NAMES.get(engine, engine)


def _cloud_voice_labels() -> None:
    from audio.voices import CLOUD_VOICES

    VOICE_LABELS.update({v.voice: v.label() for v in CLOUD_VOICES})


def message_for(code: str, **params: object) -> str:
    """The Vietnamese message for ``code``, with ``{placeholders}`` filled in."""
    template = ERRORS.get(code, "Lỗi xử lý âm thanh ({code}).")
    try:
        return template.format(code=code, **params)
    except (KeyError, IndexError):
        return template


_cloud_voice_labels()
