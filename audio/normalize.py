"""Vietnamese text → the words an announcer says.

sea-g2p does the heavy lifting (numbers, money, units, dates, times, phone numbers). Loa adds its
own layers before it, in this order, each a small pure function:

1. the deployment's lexicon (local place names, pronunciations; case-insensitive, whole words),
2. official document numbers, read as an announcer says them: ``Nghị định 100/2019/NĐ-CP`` →
   "Nghị định số 100 năm 2019 của Chính phủ"; ``123/CV-UBND``, ``57-NQ/TW``, ``45/2024/QH15``.
   The kind (NĐ, QĐ, TT, CV, KH, CT …, ``document_types.tsv``) is said only when the words
   before do not already name it, "số" only when not already written, the issuer (CP, UBND,
   TT-BYT …, ``issuers.tsv``) after "của" unless "của …" follows anyway,
3. road codes (``QL27`` → "quốc lộ 27"),
4. hotlines (1800/1900 …) digit by digit, dotted phone numbers (``0263.3848.123``) without the
   dots, and emergency or short service numbers (113, 114, 115 …) digit by digit,
5. street and holiday names that are dates (``đường 30/4`` → "đường 30 tháng tư"),
6. ranges read with "đến" (``100-150mm``, ``7h30-11h``, ``5-7/12``, ``2021-2025``),
7. dates written without "ngày" (``từ 20/11``),
8. times written with h/g and a minute mark: ``7h30′``, ``8h30'``, ``14 giờ 30′`` →
   "7 giờ 30 phút". ``h`` is always giờ. ``g`` is giờ (not gam) when minutes follow it
   (``8g30``), when sáng/trưa/chiều/tối/đêm/hôm/ngày comes next (``5g sáng``) or when
   lúc/từ/đến/tới/vào/khoảng/đúng/trước/sau comes before (``lúc 20g``); otherwise it stays gam
   (``5g muối``). Hours above 24 or minutes above 59 are never a time,
9. Roman numerals after lần thứ, khóa, quý, đợt, đại hội, báo động … (``quý III``); flood alarm
   levels ``BĐ2``, ``báo động số 2`` → "báo động 2",
10. units glued to or after a number that sea-g2p misreads (``units.tsv``: ``22kV`` →
    "22 ki lô vôn", ``m³/s``, ``‰``),
11. "per" after money (``500.000 đồng/người/tháng`` → "… đồng mỗi người mỗi tháng"),
12. "/" between words: "hoặc" between alternatives (``CMND/CCCD``, ``ông/bà``), "mỗi" after a
    number and a word (``2 lần/ngày``), left to sea-g2p after a unit symbol (``60 km/h``) and
    never touched between numbers (dates, fractions, addresses),
13. Loa's abbreviation lexicon (``abbreviations.tsv``: UBND, PCTT, TKCN …; case-sensitive),
14. April is "tháng tư".

A lexicon entry (the deployment's or Loa's) matches a whole word; a letter at the edge of an
entry may touch a digit, so an entry for ``kV`` reads "22kV" and one for ``QK`` reads "QK5".

Then sea-g2p, then a few fixes of its output (``10 giờ không phút`` → ``10 giờ``).
The result is lower case, one output line per input line.
"""

from __future__ import annotations

import re
import threading
import unicodedata
from collections.abc import Callable, Iterable, Mapping
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

DIGITS = ("không", "một", "hai", "ba", "bốn", "năm", "sáu", "bảy", "tám", "chín")

#: Short service numbers read digit by digit when the sentence is about calling them.
EMERGENCY_NUMBERS = frozenset({"111", "112", "113", "114", "115", "1022"})

#: Words that, shortly before a short number, mean "this is a number to call".
CALL_CONTEXT = (
    "gọi",
    "bấm",
    "quay số",
    "tổng đài",
    "đường dây",
    "hotline",
    "liên hệ",
    "liên lạc",
    "báo ngay",
    "báo cho",
    "thông báo cho",
    "điện thoại",
    "sđt",
    "đt",
    "cảnh sát",
    "công an",
    "cứu hỏa",
    "cứu hoả",
    "chữa cháy",
    "pccc",
    "cấp cứu",
    "cứu nạn",
    "cứu hộ",
    "khẩn cấp",
    "số máy",
    "trực",
)

#: Road classes written as a prefix before the road's number.
ROADS = {
    "QL": "quốc lộ",
    "TL": "tỉnh lộ",
    "ĐT": "đường tỉnh",
    "ĐH": "đường huyện",
    "HL": "hương lộ",
    "ĐX": "đường xã",
    "ĐCT": "đường cao tốc",
    "CT": "đường cao tốc",
}

#: Words after which a bare D/M is a date ("từ 20/11"), not a fraction.
DATE_CONTEXT = frozenset(
    {
        "từ",
        "đến",
        "tới",
        "và",
        "hoặc",
        "hôm",
        "nay",
        "mai",
        "sáng",
        "trưa",
        "chiều",
        "tối",
        "đêm",
        "trước",
        "sau",
        "nhật",
        "hai",
        "ba",
        "tư",
        "năm",
        "sáu",
        "bảy",
        "hạn",
        "dịp",
    }
)

_W = r"[^\W_]"  # a letter or digit, Unicode-aware
_L = r"[^\W\d_]"  # a letter, Unicode-aware
_NUM = r"\d+(?:[.,]\d+)*"
_DASH = r"\s*[-–—]\s*"


def spell_digits(digits: str) -> str:
    """``"114"`` → ``"một một bốn"``: every digit on its own."""
    return " ".join(DIGITS[int(d)] for d in digits if d.isdigit())


# -- lexicons ---------------------------------------------------------------------------------


def parse_lexicon(text: str) -> dict[str, str]:
    """Read ``WORD<TAB>spoken form`` lines (``#`` comments and blank lines skipped).

    ``WORD = spoken form`` is accepted too, for lexicons typed by hand.
    """
    entries: dict[str, str] = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if "\t" in raw:
            key, _, value = raw.partition("\t")
        elif "=" in line:
            key, _, value = line.partition("=")
        else:
            continue
        key, value = key.strip(), value.strip()
        if key and value:
            entries[unicodedata.normalize("NFC", key)] = unicodedata.normalize("NFC", value)
    return entries


def load_lexicon(path: Path) -> dict[str, str]:
    return parse_lexicon(path.read_text(encoding="utf-8"))


@lru_cache(maxsize=8)
def builtin_table(name: str) -> dict[str, str]:
    """One of Loa's own tables in ``audio/`` (``abbreviations.tsv``, ``units.tsv`` …)."""
    return parse_lexicon(resources.files("audio").joinpath(name).read_text(encoding="utf-8"))


def builtin_abbreviations() -> dict[str, str]:
    """Loa's own abbreviation lexicon (``audio/abbreviations.tsv``)."""
    return builtin_table("abbreviations.tsv")


def _edge(char: str) -> str:
    """What may not touch an entry's edge ``char``: a letter touches no letter but may touch a
    digit ("22kV", "QK5": a word stuck to a number); a digit touches no letter or digit ("1080"
    is not in "11080"); punctuation ("Tp.") needs no boundary, so "Tp.HCM" is two entries."""
    if re.match(_L, char):
        return _L
    return _W if re.match(_W, char) else ""


def _word_pattern(keys: Iterable[str], flags: int = 0) -> re.Pattern[str] | None:
    """Whole-word alternation, longest first, with the boundaries of :func:`_edge`.

    Keys are grouped by what may not precede them (a key's first character decides, so at one
    position only one group can match) and each group's boundary is checked once, not once
    per key: ten times faster on a long text than a lookbehind in every alternative.
    """
    ordered = sorted({k for k in keys if k}, key=len, reverse=True)
    if not ordered:
        return None
    groups: dict[str, list[str]] = {}
    for key in ordered:
        last = _edge(key[-1])
        groups.setdefault(_edge(key[0]), []).append(
            re.escape(key) + (f"(?!{last})" if last else "")
        )
    return re.compile(
        "|".join(
            (f"(?<!{before})" if before else "") + "(?:" + "|".join(alternatives) + ")"
            for before, alternatives in groups.items()
        ),
        flags,
    )


@lru_cache(maxsize=64)
def _compiled_lexicon(
    items: tuple[tuple[str, str], ...], ignore_case: bool
) -> tuple[re.Pattern[str] | None, dict[str, str]]:
    table = {(k.casefold() if ignore_case else k): v for k, v in items}
    flags = re.IGNORECASE if ignore_case else 0
    return _word_pattern((k for k, _ in items), flags), table


def apply_lexicon(text: str, lexicon: Mapping[str, str], *, ignore_case: bool) -> str:
    """Replace whole-word entries of ``lexicon`` (longest first) in ``text``; an entry stuck
    to a number is found too ("22kV" → "22 ki lô vôn"), see :func:`_edge`."""
    if not lexicon:
        return text
    pattern, table = _compiled_lexicon(tuple(sorted(lexicon.items())), ignore_case)
    if pattern is None:
        return text

    def replace(match: re.Match[str]) -> str:
        key = match.group(0)
        spoken = table.get(key.casefold() if ignore_case else key, key)
        text = match.string
        following = text[match.end() : match.end() + 1]
        if following and re.match(_W, following):
            spoken += " "  # "Tp.HCM", "BĐ2": keep the next word apart
        if match.start() and re.match(_W, text[match.start() - 1]):
            spoken = " " + spoken  # "22kV": keep the number apart
        return spoken

    return pattern.sub(replace, text)


# -- Loa's rules, each text → text ------------------------------------------------------------

_CODE = r"[A-ZĐ][A-ZĐa-z0-9&]*"
_DOC_NUMBER = re.compile(
    rf"(?<![\w/.,-])(\d{{1,5}})(?:/(\d{{4}}))?/({_CODE}(?:-{_CODE})*)(?![\w/-])"
    rf"|(?<![\w/.,-])(\d{{1,5}})-({_CODE})/({_CODE}(?:-{_CODE})*)(?![\w/-])"
)
_KIND_BEFORE = re.compile(
    r"(?i)(?<!\w)(?:nghị định|quyết định|nghị quyết|thông tư(?: liên tịch)?|chỉ thị|công văn|"
    r"kế hoạch|thông báo|báo cáo|hướng dẫn|công điện|tờ trình|giấy mời|chương trình|phương án|"
    r"đề án|kết luận|quy chế|quy định|lệnh|luật|pháp lệnh|văn bản)\s*(?:số\s*:?\s*)?$"
)
_NUMBER_WORD_BEFORE = re.compile(r"(?i)(?<!\w)số\s*:?\s*$")
_OF_AFTER = re.compile(r"(?i)\s*(?:,?\s*ngày\s+[\d/]+\s*)?của(?!\w)")  # "… ngày 2/4/2025 của"
_TERM_ISSUERS = frozenset({"QH", "UBTVQH"})  # "QH15": the 15th term, "khóa 15"


def _issuer(code: str) -> str | None:
    """``UBND`` → "Ủy ban nhân dân", ``QH15`` → "Quốc hội khóa 15"; None when unknown."""
    issuers = builtin_table("issuers.tsv")
    if code in issuers:
        return issuers[code]
    letters = code.rstrip("0123456789")
    digits = code[len(letters) :]
    if digits and letters in issuers:
        return f"{issuers[letters]} {'khóa ' if letters in _TERM_ISSUERS else ''}{int(digits)}"
    return builtin_abbreviations().get(code)


def expand_document_numbers(text: str) -> str:
    """An official document's number as an announcer says it.

    ``Nghị định 100/2019/NĐ-CP`` → "Nghị định số 100 năm 2019 của Chính phủ";
    ``theo 123/CV-UBND`` → "theo công văn số 123 của Ủy ban nhân dân"; Party style
    ``57-NQ/TW`` → "nghị quyết số 57 của Trung ương". The kind is said only when the words just
    before name none and "số" is not written (``Số: 05/2024/TT-BYT`` stays "Số: 5 …"), "số"
    only when not written, "của" + issuer only when no "của" follows (even after the date:
    "… ngày 2/4/2025 của UBND xã"). Several issuers after a kind are joined with "và"
    (``TTLT-BTC-BNV``); without a kind the first code is the issuer and the rest, the drafting
    office, is not said, and without a year either it is a công văn (``123/UBND-VP`` → "công
    văn số 123 của Ủy ban nhân dân"). A number without a year or a dash whose code is neither
    a kind nor an issuer (``Tổ 5/A``) is left alone.
    """
    kinds = builtin_table("document_types.tsv")

    def replace(m: re.Match[str]) -> str:
        if m[1]:
            number, year, codes = m[1], m[2], m[3].split("-")
        else:
            number, year, codes = m[4], None, [m[5], *m[6].split("-")]
        if not year and len(codes) == 1 and codes[0] not in kinds and not _issuer(codes[0]):
            return m.group(0)
        before = text[max(0, m.start() - 40) : m.start()]
        kind = kinds.get(codes[0])
        issuer_codes = codes[1:] if kind else codes[:1] if _issuer(codes[0]) else codes
        if not kind and not year and _issuer(codes[0]):
            kind = "công văn"  # "123/UBND-VP": a công văn's number names no kind
        words = []
        if not _NUMBER_WORD_BEFORE.search(before):
            if kind and not _KIND_BEFORE.search(before):
                words.append(kind)
            words.append("số")
        words.append(str(int(number)))
        if year:
            words.append(f"năm {year}")
        if issuer_codes and not _OF_AFTER.match(text, m.end()):
            words.append("của " + " và ".join(_issuer(c) or c for c in issuer_codes))
        return " ".join(words)

    return _DOC_NUMBER.sub(replace, text)


_ROAD = re.compile(
    rf"(?<!{_W})({'|'.join(sorted(ROADS, key=len, reverse=True))})\.?\s?(\d{{1,4}}[A-Z]?)(?!{_W})"
)


def expand_roads(text: str) -> str:
    """``QL27`` / ``QL.27`` / ``QL 1A`` → ``quốc lộ 27`` / ``quốc lộ 1A``."""

    def replace(match: re.Match[str]) -> str:
        number = match.group(2)
        if number.startswith("0"):  # "ĐT 0912…" is a phone number, not a road
            return match.group(0)
        return f"{ROADS[match.group(1)]} {number}"

    return _ROAD.sub(replace, text)


_HOTLINE = re.compile(r"(?<![\d.,])(1[89]00)([ .]?)(\d{4}|\d{3}[ .]?\d{3})(?![\d])")


def spell_hotlines(text: str) -> str:
    """``1800 1234`` / ``1900.636.789`` → digit by digit, the prefix apart."""

    def replace(match: re.Match[str]) -> str:
        rest = re.sub(r"\D", "", match.group(3))
        return f"{spell_digits(match.group(1))}, {spell_digits(rest)}"

    return _HOTLINE.sub(replace, text)


_DOTTED_PHONE = re.compile(r"(?<![\w.,+])(0\d{2,4}(?:\.\d{2,4}){1,3})(?![\w]|[.,]\d)")


def join_dotted_phone_numbers(text: str) -> str:
    """``0263.3848.123`` → ``02633848123``: a number starting with 0, 10 or 11 digits in
    dotted groups, is a phone number read digit by digit (as sea-g2p reads ``0912.345.678``),
    never "chấm"."""

    def replace(m: re.Match[str]) -> str:
        digits = m.group(1).replace(".", "")
        return digits if len(digits) in (10, 11) else m.group(0)

    return _DOTTED_PHONE.sub(replace, text)


_LIST_SEPARATOR = r"(?:\s*[/,]\s*|\s+(?:và|hoặc)\s+)"
_SHORT_NUMBER_LIST = re.compile(
    rf"(?<![\d.,/:])(\d{{3,4}}(?:{_LIST_SEPARATOR}\d{{3,4}})+)(?![\d/:]|[.,]\d)"
)
_SHORT_NUMBER = re.compile(r"(?<![\d.,/:])(\d{3,4})(?![\d.,]\d|[/:]\d|\w)")
_CONTEXT_RE = re.compile(
    rf"(?<!{_W})(?:{'|'.join(re.escape(w) for w in CALL_CONTEXT)})(?!{_W})", re.IGNORECASE
)


def spell_emergency_numbers(text: str) -> str:
    """``gọi 114`` → ``gọi một một bốn``; ``114 hộ dân`` stays a number.

    A short service number is spelled when a calling word (:data:`CALL_CONTEXT`) comes shortly
    before it in the same sentence, or when it stands in brackets; a list of two or more of
    them (``113/114/115``, ``113, 114 và 115``) is always spelled, "/" read "hoặc".
    """

    def replace(match: re.Match[str]) -> str:
        number = match.group(1)
        if number not in EMERGENCY_NUMBERS:
            return match.group(0)
        start = match.start()
        before = text[max(0, start - 40) : start]
        before = re.split(r"[.!?;\n]", before)[-1]
        bracketed = before.rstrip().endswith("(")
        if bracketed or _CONTEXT_RE.search(before):
            return spell_digits(number)
        return number

    def spell_list(match: re.Match[str]) -> str:
        if not all(n in EMERGENCY_NUMBERS for n in re.findall(r"\d+", match.group(1))):
            return match.group(0)
        spelled = re.sub(r"\d+", lambda n: spell_digits(n.group(0)), match.group(1))
        return re.sub(r"\s*/\s*", " hoặc ", spelled)

    text = _SHORT_NUMBER_LIST.sub(spell_list, text)
    return _SHORT_NUMBER.sub(replace, text)


def _number_value(token: str) -> float | None:
    """Vietnamese-written number: ``.`` groups thousands, ``,`` is the decimal comma."""
    whole, _, decimals = token.partition(",")
    if "," in decimals:
        return None
    groups = whole.split(".")
    if len(groups) > 1 and any(len(g) != 3 for g in groups[1:]):
        return None
    try:
        return float("".join(groups) + ("." + decimals if decimals else ""))
    except ValueError:
        return None


def _valid_day_month(day: str, month: str) -> bool:
    return 1 <= int(day) <= 31 and 1 <= int(month) <= 12


def _date_words(day: str, month: str, year: str | None) -> str:
    words = f"ngày {int(day)} tháng {int(month)}"
    return f"{words} năm {year}" if year else words


_DATE = r"(\d{1,2})/(\d{1,2})(?:/(\d{4}))?"
_DATE_RANGE_FULL = re.compile(rf"(?<![\w/]){_DATE}{_DASH}{_DATE}(?![\w/])")
_DATE_RANGE_DAYS = re.compile(rf"(?<![\w/.,])(\d{{1,2}}){_DASH}{_DATE}(?![\w/])")
_TIME = r"\d{1,2}(?:[hg:]\d{2}|[hg])(?:\d{2})?"
_TIME_RANGE = re.compile(rf"(?<![\w:])({_TIME}){_DASH}({_TIME})(?![\w:])")
_NUMBER_RANGE = re.compile(rf"(?<![\w.,/:-])({_NUM}){_DASH}({_NUM})(?![\d/:]|[.,]\d)")


def expand_ranges(text: str) -> str:
    """Ranges read with "đến": dates, days of a month, times, then plain numbers.

    A plain ``A-B`` is a range only when A < B and A is not a phone number, so a score
    ("2-1") or a phone number is left alone.
    """

    def full_dates(m: re.Match[str]) -> str:
        d1, m1, y1, d2, m2, y2 = m.groups()
        if not (_valid_day_month(d1, m1) and _valid_day_month(d2, m2)):
            return m.group(0)
        return f"{_date_words(d1, m1, y1)} đến {_date_words(d2, m2, y2)}"

    def day_range(m: re.Match[str]) -> str:
        d1, d2, month, year = m.groups()
        if not (_valid_day_month(d1, month) and _valid_day_month(d2, month)) or int(d1) >= int(d2):
            return m.group(0)
        return f"ngày {int(d1)} đến {_date_words(d2, month, year)}"

    def numbers(m: re.Match[str]) -> str:
        left, right = m.group(1), m.group(2)
        a, b = _number_value(left), _number_value(right)
        if a is None or b is None or a >= b:
            return m.group(0)
        if left.startswith("0") and len(left) > 1 and not left.startswith("0,"):
            return m.group(0)  # a phone number or a code
        return f"{left} đến {right}"

    text = _DATE_RANGE_FULL.sub(full_dates, text)
    text = _DATE_RANGE_DAYS.sub(day_range, text)
    text = _TIME_RANGE.sub(lambda m: f"{m[1]} đến {m[2]}", text)
    return _NUMBER_RANGE.sub(numbers, text)


_BARE_DATE = re.compile(rf"(?<![\w/.,]){_DATE}(?![\w/]|[.,]\d)")


def expand_bare_dates(text: str) -> str:
    """``từ 20/11`` → ``từ ngày 20 tháng 11``; ``15/12/2022`` → a date; ``1/2 số hộ`` stays."""

    def replace(m: re.Match[str]) -> str:
        day, month, year = m.groups()
        if not _valid_day_month(day, month):
            return m.group(0)
        before = text[: m.start()].rstrip()
        previous = before.rsplit(None, 1)[-1].casefold() if before else ""
        if previous == "ngày":
            words = f"{int(day)} tháng {int(month)}"
            return f"{words} năm {year}" if year else words
        if year or previous.strip("(,") in DATE_CONTEXT:
            return _date_words(day, month, year)
        return m.group(0)

    return _BARE_DATE.sub(replace, text)


#: Words before a D/M that names a street, a square or a holiday ("đường 30/4").
DATE_NAMES = (
    "đường",
    "phố",
    "quảng trường",
    "công viên",
    "cầu",
    "chợ",
    "sân vận động",
    "lễ",
    "quốc khánh",
)
_DATE_NAME = re.compile(
    rf"(?<!{_W})((?i:{'|'.join(DATE_NAMES)}))\s+(\d{{1,2}})/(\d{{1,2}})(?![\w/]|[.,]\d)"
)


def expand_date_names(text: str) -> str:
    """``đường 30/4`` → ``đường 30 tháng 4`` (then "tháng tư"): a street, square or holiday named
    after a date is said without "ngày"; an invalid D/M is left alone."""

    def replace(m: re.Match[str]) -> str:
        word, day, month = m.groups()
        if not _valid_day_month(day, month):
            return m.group(0)
        return f"{word} {int(day)} tháng {int(month)}"

    return _DATE_NAME.sub(replace, text)


#: Words before a bare "5g" that make it a time (giờ), not grams.
TIME_WORDS_BEFORE = frozenset(
    {"lúc", "từ", "đến", "tới", "vào", "khoảng", "đúng", "trước", "sau", "hồi", "chậm", "muộn"}
)
#: Words after a bare "5g" that make it a time.
TIME_WORDS_AFTER = frozenset({"sáng", "trưa", "chiều", "tối", "đêm", "hôm", "ngày", "hằng", "thứ"})

_CLOCK = re.compile(r"(?<![\w.,:/])(\d{1,2})([hHg])(\d{2})?(?:\s?['′])?(?![^\W_])")
_MINUTE_MARK = re.compile(r"(?<!\w)(giờ\s+\d{1,2})\s?['′]")
_WORD_AFTER = re.compile(r"\s*([^\W\d_]+)")


def expand_times(text: str) -> str:
    """``7h30′``, ``8g30``, ``20h``, ``lúc 8g`` → "7 giờ 30 phút", "8 giờ 30 phút", "20 giờ",
    "lúc 8 giờ"; ``14 giờ 30′`` → "14 giờ 30 phút"; ``5g muối`` stays grams.

    ``h`` is always an hour. ``g`` is an hour when minutes follow it, when a word of
    :data:`TIME_WORDS_AFTER` comes next (sáng, chiều, tối …) or one of
    :data:`TIME_WORDS_BEFORE` comes before (lúc, từ, đến …); otherwise it is grams. An hour
    above 24 or minutes above 59 are never a time.
    """

    def replace(m: re.Match[str]) -> str:
        hour, mark, minutes = int(m[1]), m[2], m[3]
        if hour > 24 or (minutes and int(minutes) > 59):
            return m.group(0)
        if mark == "g" and not minutes:
            before = text[max(0, m.start() - 12) : m.start()].split()
            after = _WORD_AFTER.match(text, m.end())
            said_before = bool(before) and before[-1].casefold() in TIME_WORDS_BEFORE
            said_after = after is not None and after[1].casefold() in TIME_WORDS_AFTER
            if not (said_before or said_after):
                return m.group(0)
        return f"{hour} giờ {int(minutes)} phút" if minutes and int(minutes) else f"{hour} giờ"

    text = _MINUTE_MARK.sub(r"\1 phút", text)
    return _CLOCK.sub(replace, text)


#: Words after which a Roman numeral is a number ("quý III", "Đại hội lần thứ XIV").
ROMAN_CONTEXT = (
    "lần thứ",
    "khóa",
    "khoá",
    "quý",
    "đợt",
    "đại hội",
    "khu vực",
    "báo động",
    "giai đoạn",
    "phần",
    "chương",
    "mục",
    "kỳ",
    "hạng",
    "loại",
    "vùng",
    "quân khu",
    "thế kỷ",
    "cấp",
    "cấp độ",
)
_ROMAN_WORDS = "|".join(sorted(ROMAN_CONTEXT, key=len, reverse=True))
_ROMAN = re.compile(rf"(?<!{_W})((?i:{_ROMAN_WORDS}))\s+([IVX]+)(?!{_W})")
#: I, V, X only (up to XXXIX): "hạng C", "mục L" are letters, not 100 and 50.
_ROMAN_VALUES = {"I": 1, "V": 5, "X": 10}


def roman_value(numeral: str) -> int | None:
    """``"XIV"`` → 14; None for a malformed numeral ("IIII", "VX", "XXXX") or another letter."""
    if not numeral or any(ch not in _ROMAN_VALUES for ch in numeral):
        return None
    total = 0
    for i, ch in enumerate(numeral):
        value = _ROMAN_VALUES[ch]
        following = _ROMAN_VALUES[numeral[i + 1]] if i + 1 < len(numeral) else 0
        total += -value if value < following else value
    return total if 0 < total < 40 and _roman(total) == numeral else None


def _roman(value: int) -> str:
    out = ""
    for number, letters in (
        (10, "X"),
        (9, "IX"),
        (5, "V"),
        (4, "IV"),
        (1, "I"),
    ):
        while value >= number:
            out, value = out + letters, value - number
    return out


def expand_roman_numerals(text: str) -> str:
    """``quý III`` → ``quý 3``, ``Đại hội lần thứ XIV`` → ``… lần thứ 14``: only after a word of
    :data:`ROMAN_CONTEXT`, so "xã A", "V/v" or a name are left alone."""

    def replace(m: re.Match[str]) -> str:
        value = roman_value(m[2])
        return f"{m[1]} {value}" if value else m.group(0)

    return _ROMAN.sub(replace, text)


_ALARM = re.compile(rf"(?<!{_W})(?:BĐ\s?([123])|BĐ(I{{1,3}}))(?!{_W})")
_ALARM_NUMBER = re.compile(r"(?<!\w)((?i:báo động))\s+số\s+(?=\d)")


def expand_alarm_levels(text: str) -> str:
    """Flood alarm levels: ``BĐ2`` / ``BĐII`` → "báo động 2"; ``báo động số 2`` →
    "báo động 2" (announcers do not say "số" there)."""
    text = _ALARM.sub(lambda m: f"báo động {m[1] or len(m[2])}", text)
    return _ALARM_NUMBER.sub(r"\1 ", text)


def expand_units(text: str) -> str:
    """``22kV`` / ``22 kV`` → ``22 ki lô vôn``: units of ``units.tsv`` right after a number
    (one not stuck to a letter: "QH15V" is not a voltage)."""
    units = builtin_table("units.tsv")
    pattern = _units_pattern(tuple(sorted(units)))
    return pattern.sub(lambda m: f"{m[1]} {units[m[2]]}", text)


@lru_cache(maxsize=4)
def _units_pattern(units: tuple[str, ...]) -> re.Pattern[str]:
    alternation = "|".join(re.escape(u) for u in sorted(units, key=len, reverse=True))
    return re.compile(rf"(?<!{_L})(\d+(?:[.,]\d+)*)\s?({alternation})(?!{_W})")


_PER_AFTER_MONEY = re.compile(
    r"((?:\d|nghìn|ngàn|triệu|tỷ|trăm)\s?(?:đồng|đ|VNĐ|VND))((?:/[^\W_]+)+)(?!\w)"
)
#: Units that sea-g2p reads only after a number, said in full after "mỗi".
PER_UNITS = {
    "kg": "ki lô gam",
    "ha": "héc ta",
    "m2": "mét vuông",
    "m²": "mét vuông",
    "m3": "mét khối",
    "m³": "mét khối",
    "km": "ki lô mét",
    "m": "mét",
    "l": "lít",
}


def expand_money_per(text: str) -> str:
    """``500.000 đồng/người/tháng`` → ``500.000 đồng mỗi người mỗi tháng``."""

    def replace(m: re.Match[str]) -> str:
        units = [PER_UNITS.get(u, u) for u in m.group(2).split("/") if u]
        return m.group(1) + "".join(f" mỗi {u}" for u in units)

    return _PER_AFTER_MONEY.sub(replace, text)


_SLASHED = re.compile(rf"(?<![\w./:@&-])({_W}+(?:/{_W}+)+)(?![\w/@&]|\.{_W})")
_QUANTITY_BEFORE = re.compile(r"\d[a-zA-Z]{0,3}\s$")  # "2 lần/ngày", "5kg phân/sào"
_PER_SYMBOL = re.compile(r"[a-zA-Z]{1,2}")  # "km/h", "m/s": sea-g2p's "trên"
#: Words read "mỗi …" after "/" when a number comes shortly before ("200.000 đơn vị/lần").
PER_WORDS = frozenset(
    {
        *PER_UNITS,
        *("km2", "km²", "lần", "ngày", "đêm", "tuần", "tháng", "năm", "quý", "vụ", "mùa"),
        *("giờ", "phút", "người", "hộ", "khẩu", "con", "cây", "sào", "mẫu", "thửa", "lượt"),
        *("suất", "xe", "chuyến", "bình", "bao", "gói", "liều", "mũi", "tấn", "lít", "phòng"),
        *("lớp", "trẻ", "cháu", "xã", "thôn", "tổ"),
    }
)


def expand_slashes(text: str) -> str:
    """A "/" between words: ``CMND/CCCD`` → "CMND hoặc CCCD", ``ông/bà`` → "ông hoặc bà".

    "Per" (``mỗi``) instead when a number comes within three words before and what follows
    "/" is a word of :data:`PER_WORDS` (``2 lần/ngày`` → "2 lần mỗi ngày", ``5kg phân/sào``
    → "… phân mỗi sào", ``5 tấn/ha`` → "5 tấn mỗi héc ta", ``200.000 đơn vị/lần``,
    ``300m2/hộ``). Left alone: anything with a
    part that has no letter (dates ``30/4``, fractions, addresses ``12/3``), a rate whose "per"
    is a unit symbol (``60 km/h``, ``30km/h``, ``15 m/s``: sea-g2p says "trên"), another part
    glued to a number (``3A/3B``), and an entry of the abbreviation lexicon (``V/v``,
    ``A/H5N1``)."""

    def per(parts: list[str]) -> str:
        return parts[0] + "".join(f" mỗi {PER_UNITS.get(p, p)}" for p in parts[1:])

    def replace(m: re.Match[str]) -> str:
        chain = m.group(1)
        parts = chain.split("/")
        if chain in builtin_abbreviations() or not all(re.search(_L, p) for p in parts):
            return chain
        recent = text[max(0, m.start() - 30) : m.start()].split()[-3:]
        number_near = parts[0][0].isdigit() or any(w[0].isdigit() for w in recent)
        if number_near and all(p.casefold() in PER_WORDS for p in parts[1:]):
            return per(parts)
        if parts[0][0].isdigit():  # "30km/h", "3A/3B": a quantity or a code, not words
            return chain
        if _QUANTITY_BEFORE.search(text, 0, m.start()) and any(
            _PER_SYMBOL.fullmatch(p) for p in parts[1:]
        ):
            return chain
        return " hoặc ".join(parts)

    return _SLASHED.sub(replace, text)


_APRIL = re.compile(r"(?<!\w)([Tt]háng)\s+0?4(?:/(\d{4}))?(?![\w/]|[.,]\d|\s+(?:ngày|tuần|giờ))")


def say_april(text: str) -> str:
    """``tháng 4`` → "tháng tư" (as announcers name April), ``tháng 4/2025`` → "tháng tư năm
    2025"; "3 tháng 4 ngày" (a duration) stays."""
    return _APRIL.sub(lambda m: f"{m[1]} tư" + (f" năm {m[2]}" if m[2] else ""), text)


def expand_abbreviations(text: str) -> str:
    return apply_lexicon(text, builtin_abbreviations(), ignore_case=False)


#: Loa's layers before sea-g2p, in order.
PRE_RULES: tuple[Callable[[str], str], ...] = (
    expand_document_numbers,
    expand_roads,
    spell_hotlines,
    join_dotted_phone_numbers,
    spell_emergency_numbers,
    expand_date_names,
    expand_ranges,
    expand_bare_dates,
    expand_times,
    expand_roman_numerals,
    expand_alarm_levels,
    expand_units,
    expand_money_per,
    expand_slashes,
    expand_abbreviations,
    say_april,
)

_POST_FIXES: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"\bgiờ không phút\b"), "giờ"),
    (re.compile(r"\bngày ngày\b"), "ngày"),
    (re.compile(r"\s+([,.!?;:])"), r"\1"),
    (re.compile(r"([,.!?;:])(?:\s*\1)+"), r"\1"),
    (re.compile(r"[ \t]+"), " "),
)


# -- sea-g2p ----------------------------------------------------------------------------------

_sea_lock = threading.Lock()
_sea: Any = None


def _sea_normalizer() -> Any:
    global _sea
    with _sea_lock:
        if _sea is None:
            from sea_g2p import Normalizer

            _sea = Normalizer("vi")
        return _sea


def sea_normalize(lines: list[str]) -> list[str]:
    if not lines:
        return []
    result = _sea_normalizer().normalize_batch(lines)
    return [str(line) for line in result]


# -- the public function ----------------------------------------------------------------------


def prepare_line(line: str, lexicon: Mapping[str, str] | None = None) -> str:
    """One line through Loa's own layers (everything before sea-g2p)."""
    line = re.sub(r"\s+", " ", unicodedata.normalize("NFC", line)).strip()
    if lexicon:
        line = apply_lexicon(line, lexicon, ignore_case=True)
    for rule in PRE_RULES:
        line = rule(line)
    return line


def finish_line(line: str) -> str:
    for pattern, replacement in _POST_FIXES:
        line = pattern.sub(replacement, line)
    return line.strip()


def normalize(text: str, lexicon: Mapping[str, str] | None = None) -> str:
    """The spoken form of ``text``: lower case, one output line per input line.

    ``lexicon`` is the deployment's own (place names, local pronunciations): its entries are
    matched as whole words, ignoring case, before every other rule.
    """
    lines = text.splitlines() or [""]
    prepared = [prepare_line(line, lexicon) for line in lines]
    todo = [i for i, line in enumerate(prepared) if line]
    spoken = sea_normalize([prepared[i] for i in todo])
    out = [""] * len(lines)
    for i, said in zip(todo, spoken, strict=True):
        out[i] = finish_line(said)
    return "\n".join(out)
