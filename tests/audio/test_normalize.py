from __future__ import annotations

import io
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from audio.normalize import (
    apply_lexicon,
    builtin_abbreviations,
    builtin_table,
    expand_document_numbers,
    expand_ranges,
    expand_slashes,
    expand_times,
    normalize,
    parse_lexicon,
    roman_value,
    spell_digits,
)
from loa.cli import main

GOLDEN_FILE = Path(__file__).with_name("golden.tsv")


def golden() -> list[tuple[str, str]]:
    rows = []
    for line in GOLDEN_FILE.read_text(encoding="utf-8").splitlines():
        if line and not line.startswith("#"):
            source, expected = line.split("\t")
            rows.append((source, expected))
    return rows


def test_golden_table_has_at_least_150_cases():
    assert len(golden()) >= 150


def test_golden_table_has_the_commune_shorthand_cases_of_issue_14():
    text = GOLDEN_FILE.read_text(encoding="utf-8")
    added = text.split("# Issue 14 (must fix 2)", 1)[1].splitlines()
    assert len([line for line in added if line and not line.startswith("#")]) >= 150


@pytest.mark.parametrize(("source", "expected"), golden(), ids=[s for s, _ in golden()])
def test_golden_table(source: str, expected: str):
    assert normalize(source) == expected


def test_loa_tts_normalize_command_passes_the_golden_table_line_by_line(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
):
    rows = golden()
    monkeypatch.setattr(sys, "stdin", io.StringIO("\n".join(s for s, _ in rows) + "\n"))
    assert main(["tts", "normalize"]) == 0
    assert capsys.readouterr().out.splitlines() == [e for _, e in rows]


def test_abbreviation_lexicon_has_at_least_100_entries_with_spoken_forms():
    table = builtin_abbreviations()
    assert len(table) >= 100
    for required in ("UBND", "HĐND", "UBMTTQ", "CĐS", "NTM", "KT-XH", "BCĐ", "PCTT", "TKCN"):
        assert required in table
    assert all(value and value != key for key, value in table.items())


def test_deployment_lexicon_wins_ignoring_case_and_only_whole_words():
    lexicon = {"Krông Búk": "Crông Búc", "Ea H'leo": "Ê a Hơ Lêu", "UBND": "ủy ban"}
    said = normalize("UBND huyện krông búk và EA H'LEO, Krông Búkk", lexicon)
    assert said == "ủy ban huyện crông búc và ê a hơ lêu, krông búkk"


def test_a_lexicon_entry_for_a_number_reads_it_as_given():
    assert normalize("Gọi 1080", {"1080": "một không tám không"}) == "gọi một không tám không"


def test_a_lexicon_entry_applies_to_a_word_stuck_to_a_number():
    lexicon = {"kVAr": "ki lô va phản kháng", "QK": "quân khu"}
    said = normalize("Tụ bù 50kVAr, 20 kvar và QK5", lexicon)
    assert (
        said == "tụ bù năm mươi ki lô va phản kháng, hai mươi ki lô va phản kháng và quân khu năm"
    )


def test_a_lexicon_entry_stuck_to_a_letter_or_a_longer_number_is_not_found():
    lexicon = {"kV": "ki lô vôn", "1080": "một không tám không"}
    assert apply_lexicon("kVx 11080 x1080", lexicon, ignore_case=False) == "kVx 11080 x1080"
    assert apply_lexicon("22kV", lexicon, ignore_case=False) == "22 ki lô vôn"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Cho 5g muối", "Cho 5g muối"),  # nothing says time: grams
        ("nặng 20g.", "nặng 20g."),
        ("lúc 5g", "lúc 5 giờ"),  # a time word before
        ("trước 17g", "trước 17 giờ"),
        ("5g sáng", "5 giờ sáng"),  # a time word after
        ("8g30", "8 giờ 30 phút"),  # minutes
        ("lúc 25g", "lúc 25g"),  # no such hour
        ("7h05′", "7 giờ 5 phút"),
        ("11h00", "11 giờ"),
        ("14 giờ 30′", "14 giờ 30 phút"),
        ("8h30'", "8 giờ 30 phút"),
        ("2ha", "2ha"),  # hectares, not an hour
    ],
)
def test_g_is_an_hour_only_with_minutes_or_a_time_word_and_h_always(text: str, expected: str):
    assert expand_times(text) == expected


@pytest.mark.parametrize(
    "text", ["ngày 30/4", "1/2 số hộ", "số nhà 12/3", "V/v họp", "60 km/h", "30km/h", "A/H5N1"]
)
def test_slashes_in_dates_fractions_addresses_abbreviations_and_rates_are_left_alone(text: str):
    assert expand_slashes(text) == text


def test_a_slash_between_words_is_or_and_after_a_number_per():
    assert expand_slashes("CMND/CCCD") == "CMND hoặc CCCD"
    assert expand_slashes("thôn 3 ông/bà") == "thôn 3 ông hoặc bà"
    assert expand_slashes("2 lần/ngày, 5 tấn/ha") == "2 lần mỗi ngày, 5 tấn mỗi héc ta"


def test_every_document_kind_and_issuer_is_read_after_its_number():
    for code, kind in builtin_table("document_types.tsv").items():
        assert expand_document_numbers(f"theo 5/{code}-UBND") == (
            f"theo {kind} số 5 của Ủy ban nhân dân"
        )
    for code, issuer in builtin_table("issuers.tsv").items():
        assert expand_document_numbers(f"Quyết định 7/2025/QĐ-{code}") == (
            f"Quyết định số 7 năm 2025 của {issuer}"
        )


def test_a_document_number_does_not_repeat_the_issuer_said_after_it():
    said = expand_document_numbers("Theo Kế hoạch 88/KH-UBND ngày 2/4/2025 của UBND xã")
    assert said == "Theo Kế hoạch số 88 ngày 2/4/2025 của UBND xã"


@pytest.mark.parametrize(
    ("numeral", "value"),
    [("I", 1), ("IV", 4), ("XIV", 14), ("XVI", 16), ("IIII", None), ("XXXX", None), ("C", None)],
)
def test_roman_values(numeral: str, value: int | None):
    assert roman_value(numeral) == value


def test_roman_numerals_are_read_only_after_their_words_and_letters_stay_letters():
    assert normalize("Bằng lái hạng C, đợt II, quý IV") == "bằng lái hạng xê, đợt hai, quý bốn"


def test_lexicon_text_format_accepts_tabs_equals_and_comments():
    text = "# comment\nKrông Búk\tCrông Búc\n\nEa Súp = Ê a Súp\nbroken line\n"
    assert parse_lexicon(text) == {"Krông Búk": "Crông Búc", "Ea Súp": "Ê a Súp"}


def test_each_line_in_gives_one_line_out_and_blank_lines_stay():
    assert normalize("UBND xã\n\nQL1") == "ủy ban nhân dân xã\n\nquốc lộ một"


def test_spell_digits_reads_every_digit():
    assert spell_digits("1900") == "một chín không không"


@pytest.mark.parametrize("text", ["tỷ số 3-1", "mã 0912-345", "COVID-19", "5-5"])
def test_dashes_that_are_not_ranges_are_left_alone(text: str):
    assert "đến" not in expand_ranges(text)


def test_emergency_number_in_brackets_is_spelled():
    assert normalize("Cảnh sát (113)") == "cảnh sát, một một ba"


def test_emergency_context_does_not_leak_across_sentences():
    assert normalize("Hãy gọi điện. 114 hộ đã đăng ký") == (
        "hãy gọi điện. một trăm mười bốn hộ đã đăng ký"
    )


@settings(max_examples=100, deadline=None)
@given(st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=80))
def test_normalize_never_fails_and_keeps_the_line_count(text: str):
    result = normalize(text)
    assert isinstance(result, str)
    assert len(result.split("\n")) == len(text.splitlines() or [""])
