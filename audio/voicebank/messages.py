"""Every sentence the voice bank shows to people: Vietnamese (what officials and the announcer
read) and English, by stable code. The codes are what the API and the tests use."""

from __future__ import annotations

from audio.errors import AudioError

#: Code → Vietnamese message.
VI: dict[str, str] = {
    # takes
    "take_unreadable": "Không đọc được bản ghi (không phải tệp âm thanh hợp lệ).",
    "take_too_long": "Bản ghi quá dài (tối đa {limit} giây cho một tờ).",
    "take_silent": "Bản ghi không có tiếng nói. Kiểm tra micrô rồi ghi lại.",
    "take_too_quiet": (
        "Giọng đọc quá nhỏ ({level:.0f} dBFS). Hãy đến gần micrô hơn hoặc đọc to hơn rồi ghi lại."
    ),
    "take_clipping": (
        "Tiếng bị vỡ (quá to, {count} lần chạm trần). Hãy lùi xa micrô một chút hoặc đọc nhỏ "
        "hơn rồi ghi lại."
    ),
    "take_noisy": (
        "Nền quá ồn (tiếng nói chỉ to hơn tiếng ồn {snr:.0f} dB, cần ít nhất {minimum:.0f} dB). "
        "Hãy ghi ở nơi yên tĩnh hơn, tắt quạt, đóng cửa."
    ),
    "take_wrong_count": (
        "Đếm được {found} tiếng nhưng tờ có {expected} tiếng. Hãy đọc lại cả tờ, nghỉ một "
        "chút giữa các tiếng và không đọc sót, không đọc thêm."
    ),
    "take_syllable_too_long": (
        "Tiếng thứ {position} (“{syllable}”) dài {duration:.1f} giây: có lẽ đã đọc liền hai "
        "tiếng. Hãy nghỉ rõ giữa các tiếng rồi ghi lại."
    ),
    "take_uneven": (
        "Tiếng thứ {position} (“{syllable}”) nhỏ hơn các tiếng khác {drop:.0f} dB. "
        "Hãy đọc đều giọng rồi ghi lại."
    ),
    "bad_sheet": "Tờ đọc không hợp lệ: {detail}",
    # banks
    "bank_not_found": "Không có giọng xã “{name}”.",
    "bank_exists": "Đã có giọng xã “{name}”.",
    "bad_bank_name": (
        "Tên giọng xã “{name}” không hợp lệ: chỉ dùng chữ thường không dấu, số và dấu gạch "
        "ngang, tối đa 40 ký tự."
    ),
    "consent_required": (
        "Cần ghi rõ giọng của ai và người đó đã đồng ý cho xã dùng giọng đọc ({detail})."
    ),
    "bad_syllable": "“{syllable}” không phải là một tiếng (âm tiết) để ghi.",
    "unit_not_found": "Giọng xã “{name}” chưa có tiếng “{syllable}”.",
    "bank_damaged": "Giọng xã “{name}” bị hỏng: {detail}",
    # export / import
    "bad_bank_file": "Tệp giọng xã không hợp lệ: {detail}",
    "bank_file_version": (
        "Tệp giọng xã có phiên bản định dạng {found}, Loa này chỉ đọc được đến phiên bản "
        "{supported}. Hãy cập nhật Loa."
    ),
    # engine
    "missing_syllables": "Giọng xã “{name}” chưa đọc được bản tin này: cần ghi thêm {summary}.",
    "no_bank": "Chưa có giọng xã nào được ghi trên máy này.",
    "corpus_unreadable": "Không đọc được các bản tin cũ từ “{source}”: {detail}",
}

#: Code → English message (same placeholders).
EN: dict[str, str] = {
    "take_unreadable": "The take could not be read (not a valid audio file).",
    "take_too_long": "The take is too long (at most {limit} seconds for a sheet).",
    "take_silent": "The take has no speech in it. Check the microphone and record again.",
    "take_too_quiet": (
        "The voice is too quiet ({level:.0f} dBFS). Come closer to the microphone or speak up."
    ),
    "take_clipping": (
        "The sound is distorted (too loud, {count} clipped peaks). Move back from the "
        "microphone or speak softer."
    ),
    "take_noisy": (
        "Too much background noise (speech only {snr:.0f} dB above it, at least {minimum:.0f} dB "
        "needed). Record somewhere quieter."
    ),
    "take_wrong_count": (
        "Counted {found} syllables but the sheet has {expected}. Read the whole sheet again "
        "with a short pause between syllables."
    ),
    "take_syllable_too_long": (
        "Syllable {position} (“{syllable}”) lasts {duration:.1f} s: probably two syllables "
        "read together. Pause between syllables and record again."
    ),
    "take_uneven": (
        "Syllable {position} (“{syllable}”) is {drop:.0f} dB quieter than the others. "
        "Read evenly and record again."
    ),
    "bad_sheet": "Invalid sheet: {detail}",
    "bank_not_found": "There is no commune voice “{name}”.",
    "bank_exists": "A commune voice “{name}” already exists.",
    "bad_bank_name": (
        "Invalid commune voice name “{name}”: use lower-case ASCII letters, digits and hyphens, "
        "at most 40 characters."
    ),
    "consent_required": "Whose voice it is and their consent must be recorded ({detail}).",
    "bad_syllable": "“{syllable}” is not a syllable that can be recorded.",
    "unit_not_found": "The commune voice “{name}” has no recording of “{syllable}”.",
    "bank_damaged": "The commune voice “{name}” is damaged: {detail}",
    "bad_bank_file": "Invalid commune voice file: {detail}",
    "bank_file_version": (
        "The commune voice file has format version {found}; this Loa reads up to {supported}. "
        "Update Loa."
    ),
    "missing_syllables": "The commune voice “{name}” cannot read this yet: {summary} to record.",
    "no_bank": "No commune voice has been recorded on this machine.",
    "corpus_unreadable": "Could not read past announcements from “{source}”: {detail}",
}


def message_for(code: str, lang: str = "vi", /, **params: object) -> str:
    """The message for ``code`` in ``lang`` (``vi`` or ``en``), placeholders filled in."""
    catalog = EN if lang == "en" else VI
    template = catalog.get(code, "Lỗi giọng xã ({code})." if lang != "en" else "Error ({code}).")
    try:
        return template.format(code=code, **params)
    except (KeyError, IndexError, ValueError):
        return template


class VoicebankError(AudioError):
    """An :class:`audio.errors.AudioError` whose parameters are kept (``params``), so a page can
    show the message in English too (``message_for(code, "en", **params)``)."""

    def __init__(self, code: str, **params: object) -> None:
        super().__init__(code, message_for(code, **params))
        self.params = params


def error(code: str, **params: object) -> VoicebankError:
    """The error for ``code`` with its Vietnamese message."""
    return VoicebankError(code, **params)


def missing_summary(missing: list[str], shown: int = 12, lang: str = "vi") -> str:
    """``cần ghi thêm 4 tiếng: …``'s tail: the count and the syllables (the first ``shown``)."""
    listed = ", ".join(missing[:shown])
    more = len(missing) - shown
    if lang == "en":
        tail = f" and {more} more" if more > 0 else ""
        return f"{len(missing)} syllables: {listed}{tail}"
    tail = f" và {more} tiếng khác" if more > 0 else ""
    return f"{len(missing)} tiếng: {listed}{tail}"
