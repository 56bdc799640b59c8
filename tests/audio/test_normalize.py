from __future__ import annotations

import io
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from audio.normalize import (
    builtin_abbreviations,
    expand_ranges,
    normalize,
    parse_lexicon,
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
