"""Corpus, syllable frequencies, coverage figures, sheets, the commune's own texts, the CLI."""

from __future__ import annotations

import sqlite3
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from audio.errors import AudioError
from audio.voicebank import coverage, sheets
from audio.voicebank.corpus import builtin_announcements, read_source
from audio.voicebank.syllables import phrases, spoken_syllables, tone
from loa.cli import main


def test_corpus_has_at_least_300_distinct_announcements() -> None:
    texts = builtin_announcements()
    assert len(texts) >= 300
    assert len(set(texts)) == len(texts)
    assert all(len(t.split()) >= 15 for t in texts)  # announcements, not fragments


def test_numbers_are_counted_as_the_words_said() -> None:
    said = spoken_syllables("Họp lúc 7h30 ngày 15/12, UBND xã.")
    assert said[:6] == ["họp", "lúc", "bảy", "giờ", "ba", "mươi"]
    assert "ủy" in said and all(not ch.isdigit() for s in said for ch in s)


def test_tones() -> None:
    tones = [tone(s) for s in ("thôn", "bà", "báo", "hỏi", "ngã", "họp")]
    assert tones == ["ngang", "huyền", "sắc", "hỏi", "ngã", "nặng"]


def test_phrases_end_at_punctuation_and_lines() -> None:
    said = phrases("thông báo, họp dân. mời bà con\nđến dự")
    assert [(p.syllables, p.boundary) for p in said] == [
        (("thông", "báo"), "clause"),
        (("họp", "dân"), "sentence"),
        (("mời", "bà", "con"), "paragraph"),
        (("đến", "dự"), "end"),
    ]


def test_syllables_needed_for_a_level() -> None:
    counts = Counter({"a": 50, "b": 30, "c": 15, "d": 4, "e": 1})
    assert coverage.syllables_for(counts, 0.50) == 1
    assert coverage.syllables_for(counts, 0.80) == 2
    assert coverage.syllables_for(counts, 0.90) == 3
    assert coverage.syllables_for(counts, 0.95) == 3
    assert coverage.syllables_for(counts, 0.99) == 4
    table = coverage.coverage_table(counts, texts=3, seconds_per_syllable=2.0)
    assert [(r.syllables, r.recording_s) for r in table.levels] == [(3, 6.0), (3, 6.0), (4, 8.0)]
    assert table.tokens == 100 and table.distinct == 5


def test_corpus_coverage_grows_with_the_level() -> None:
    texts = builtin_announcements()
    counts = coverage.count_syllables(texts)
    table = coverage.coverage_table(counts, len(texts))
    needed = [r.syllables for r in table.levels]
    assert needed == sorted(needed) and needed[0] < needed[-1] < table.distinct
    # The most frequent syllable of commune announcements is said hundreds of times.
    assert coverage.ranked(counts)[0][1] > 100


def test_sheets_take_the_best_gain_first_and_skip_recorded() -> None:
    words = [s for s, _ in coverage.ranked(coverage.count_syllables(builtin_announcements()))]
    counts = Counter({w: 100 - i for i, w in enumerate(reversed(words[:40]))})
    made = sheets.make_sheets(counts, size=15)
    assert [len(s.syllables) for s in made] == [15, 15, 10]
    assert made[0].gain > made[1].gain > made[2].gain
    assert made[-1].coverage_after == pytest.approx(1.0)
    first = made[0].syllables
    again = sheets.make_sheets(counts, recorded=first[:5], size=10)
    assert again[0].syllables[0] == first[5]
    assert all(s not in first[:5] for sh in again for s in sh.syllables)


def test_sheet_size_is_10_to_20() -> None:
    with pytest.raises(AudioError) as info:
        sheets.make_sheets(Counter({"a": 1}), size=25)
    assert info.value.code == "bad_sheet"
    with pytest.raises(AudioError) as info:
        sheets.check_sheet(["xã", "xã"])
    assert info.value.code == "bad_sheet"
    with pytest.raises(AudioError) as info:
        sheets.check_sheet(["xã", "12"])
    assert info.value.code == "bad_syllable"


def test_bank_coverage_meter() -> None:
    texts = ["Họp dân.", "Họp thôn Đông."]
    meter = coverage.bank_coverage({"họp", "dân", "thôn"}, texts)
    assert (meter.tokens, meter.covered_tokens) == (5, 4)
    assert (meter.texts, meter.readable_texts) == (2, 1)
    assert meter.missing == (("đông", 1),)
    assert meter.meter() == "giọng xã đọc được 80% số tiếng trong các bản tin 3 tháng qua"


def test_commune_texts_from_a_text_file(tmp_path: Path) -> None:
    path = tmp_path / "cu.txt"
    path.write_text("Thông báo họp dân.\n\nMời bà con\nđến dự.\n", encoding="utf-8")
    assert read_source(path) == ["Thông báo họp dân.", "Mời bà con đến dự."]
    path.write_text("Một bản tin.\nHai bản tin.\n", encoding="utf-8")
    assert read_source(path) == ["Một bản tin.", "Hai bản tin."]


def _announcements_db(path: Path) -> None:
    old = (datetime.now(UTC) - timedelta(days=200)).isoformat()
    new = (datetime.now(UTC) - timedelta(days=10)).isoformat()
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE announcements (id INTEGER PRIMARY KEY, text TEXT, created_at)")
        conn.execute("INSERT INTO announcements (text, created_at) VALUES (?, ?)", ("Cũ rồi.", old))
        conn.execute("INSERT INTO announcements (text, created_at) VALUES (?, ?)", ("Mới.", new))
    conn.close()


def test_commune_texts_from_the_controller_database(tmp_path: Path) -> None:
    db = tmp_path / "loa.db"
    _announcements_db(db)
    assert read_source(db) == ["Cũ rồi.", "Mới."]
    assert read_source(db, since_days=90) == ["Mới."]
    bad = tmp_path / "other.db"
    with sqlite3.connect(bad) as conn:
        conn.execute("CREATE TABLE x (y)")
    conn.close()
    with pytest.raises(AudioError) as info:
        read_source(bad)
    assert info.value.code == "corpus_unreadable"
    with pytest.raises(AudioError) as info:
        read_source(tmp_path / "none.txt")
    assert info.value.code == "corpus_unreadable"


def test_loa_voicebank_coverage_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    own = tmp_path / "cu.txt"
    own.write_text("Thông báo của xã về lịch tiêm chủng cho 30 cháu.\n", encoding="utf-8")
    freq = tmp_path / "freq.tsv"
    assert main(["voicebank", "coverage", "--texts", str(own), "--frequencies", str(freq)]) == 0
    out = capsys.readouterr().out
    assert "(302 mẫu của Loa, 1 của xã)" in out or "mẫu của Loa, 1 của xã)" in out
    for level in ("phủ 90%:", "phủ 95%:", "phủ 99%:"):
        assert level in out
    assert "ghi khoảng" in out
    rows = freq.read_text(encoding="utf-8").splitlines()
    assert rows[0] == "syllable\tcount\tshare\tcumulative\ttone"
    assert rows[-1].split("\t")[3] == "1.000000"
    assert main(["voicebank", "coverage", "--no-corpus", "--texts", str(own)]) == 0
    out = capsys.readouterr().out
    assert "1 bản tin (0 mẫu của Loa, 1 của xã)" in out
    assert main(["voicebank", "coverage", "--texts", str(tmp_path / "none")]) == 2
    assert "[corpus_unreadable]" in capsys.readouterr().err


def test_the_shipped_frequency_list_matches_the_corpus() -> None:
    """audio/voicebank/corpus/frequencies.tsv is regenerated whenever the corpus changes:
    loa voicebank coverage --frequencies audio/voicebank/corpus/frequencies.tsv"""
    shipped = (
        Path(coverage.__file__).with_name("corpus").joinpath("frequencies.tsv").read_text("utf-8")
    )
    rows = coverage.frequency_rows(coverage.count_syllables(builtin_announcements()))
    expected = ["syllable\tcount\tshare\tcumulative\ttone"] + [
        f"{s}\t{n}\t{share:.6f}\t{cum:.6f}\t{t}" for s, n, share, cum, t in rows
    ]
    assert shipped.splitlines() == expected
