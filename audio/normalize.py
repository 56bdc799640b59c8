"""Vietnamese text → the words an announcer says.

sea-g2p does the heavy lifting (numbers, money, units, dates, times, phone numbers). Loa adds its
own layers before it, in this order, each a small pure function:

1. the deployment's lexicon (local place names, pronunciations; case-insensitive, whole words),
2. official document numbers (``12/2024/NĐ-CP``),
3. road codes (``QL27`` → "quốc lộ 27"),
4. hotlines (1800/1900 …) and emergency or short service numbers (113, 114, 115 …) digit by digit,
5. ranges read with "đến" (``100-150mm``, ``7h30-11h``, ``5-7/12``, ``2021-2025``),
6. dates written without "ngày" (``từ 20/11``),
7. "per" after money (``500.000 đồng/người/tháng`` → "… đồng mỗi người mỗi tháng"),
8. Loa's abbreviation lexicon (``abbreviations.tsv``: UBND, PCTT, TKCN …; case-sensitive),

then sea-g2p, then a few fixes of its output (``10 giờ không phút`` → ``10 giờ``).
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


@lru_cache(maxsize=1)
def builtin_abbreviations() -> dict[str, str]:
    """Loa's own abbreviation lexicon (``audio/abbreviations.tsv``)."""
    text = resources.files("audio").joinpath("abbreviations.tsv").read_text(encoding="utf-8")
    return parse_lexicon(text)


def _word_pattern(keys: Iterable[str], flags: int = 0) -> re.Pattern[str] | None:
    """Whole-word alternation; a key that starts or ends with punctuation ("Tp.") needs no
    boundary on that side, so "Tp.HCM" is two entries."""
    ordered = sorted({k for k in keys if k}, key=len, reverse=True)
    if not ordered:
        return None

    def bounded(key: str) -> str:
        before = f"(?<!{_W})" if re.match(_W, key[0]) else ""
        after = f"(?!{_W})" if re.match(_W, key[-1]) else ""
        return before + re.escape(key) + after

    return re.compile("|".join(bounded(k) for k in ordered), flags)


@lru_cache(maxsize=64)
def _compiled_lexicon(
    items: tuple[tuple[str, str], ...], ignore_case: bool
) -> tuple[re.Pattern[str] | None, dict[str, str]]:
    table = {(k.casefold() if ignore_case else k): v for k, v in items}
    flags = re.IGNORECASE if ignore_case else 0
    return _word_pattern((k for k, _ in items), flags), table


def apply_lexicon(text: str, lexicon: Mapping[str, str], *, ignore_case: bool) -> str:
    """Replace whole-word entries of ``lexicon`` (longest first) in ``text``."""
    if not lexicon:
        return text
    pattern, table = _compiled_lexicon(tuple(sorted(lexicon.items())), ignore_case)
    if pattern is None:
        return text

    def replace(match: re.Match[str]) -> str:
        key = match.group(0)
        spoken = table.get(key.casefold() if ignore_case else key, key)
        following = match.string[match.end() : match.end() + 1]
        if following and re.match(_W, following):
            spoken += " "  # "Tp.HCM": keep the next word apart
        return spoken

    return pattern.sub(replace, text)


# -- Loa's rules, each text → text ------------------------------------------------------------

_DOC_NUMBER = re.compile(
    rf"(?<![\w/])(\d{{1,5}})/(\d{{4}})/([A-ZĐ][A-ZĐa-z0-9&]*(?:-[A-ZĐ][A-ZĐa-z0-9&]*)*)(?!{_W})"
)


def expand_document_numbers(text: str) -> str:
    """``12/2024/NĐ-CP`` → ``12 năm 2024 NĐ CP`` (the code is then read by the lexicon)."""
    return _DOC_NUMBER.sub(lambda m: f"{m[1]} năm {m[2]} {m[3].replace('-', ' ')}", text)


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


_SHORT_NUMBER = re.compile(r"(?<![\d.,/:])(\d{3,4})(?![\d.,]\d|[/:]\d|\w)")
_CONTEXT_RE = re.compile(
    rf"(?<!{_W})(?:{'|'.join(re.escape(w) for w in CALL_CONTEXT)})(?!{_W})", re.IGNORECASE
)


def spell_emergency_numbers(text: str) -> str:
    """``gọi 114`` → ``gọi một một bốn``; ``114 hộ dân`` stays a number.

    A short service number is spelled when a calling word (:data:`CALL_CONTEXT`) comes shortly
    before it in the same sentence, or when it stands in brackets.
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


def expand_abbreviations(text: str) -> str:
    return apply_lexicon(text, builtin_abbreviations(), ignore_case=False)


#: Loa's layers before sea-g2p, in order.
PRE_RULES: tuple[Callable[[str], str], ...] = (
    expand_document_numbers,
    expand_roads,
    spell_hotlines,
    spell_emergency_numbers,
    expand_ranges,
    expand_bare_dates,
    expand_money_per,
    expand_abbreviations,
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
