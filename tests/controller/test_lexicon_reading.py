"""The controller's pronunciation lexicon, as saved by an admin, read by the normalizer: an entry
applies to a word stuck to a number (issue 14, must fix 2)."""

from __future__ import annotations

from pathlib import Path

from audio.normalize import normalize
from controller.core.db import Store
from controller.domain import announcements, lexicon
from controller.domain.identity import Identity

ADMIN = Identity("token", "quản trị", "admin")


def test_a_saved_entry_reads_a_unit_stuck_to_a_number(tmp_path: Path):
    store = Store(tmp_path / "loa.db")
    lexicon.save_entry(store, ADMIN, "kVAr", "ki lô va phản kháng")
    lexicon.save_entry(store, ADMIN, "QK", "quân khu")
    terms = announcements.lexicon(store.db)
    said = normalize("Tụ bù 50kVAr và 20 KVAR, QK5 diễn tập.", terms)
    assert said == (
        "tụ bù năm mươi ki lô va phản kháng và hai mươi ki lô va phản kháng, quân khu năm diễn tập."
    )


def test_a_saved_entry_is_still_not_found_inside_a_longer_word_or_number(tmp_path: Path):
    store = Store(tmp_path / "loa.db")
    lexicon.save_entry(store, ADMIN, "Búk", "Búc")
    lexicon.save_entry(store, ADMIN, "1080", "một không tám không")
    terms = announcements.lexicon(store.db)
    assert normalize("Búkk gọi 11080", terms) == "búkk gọi mười một nghìn không trăm tám mươi"
    assert normalize("Búk5 gọi 1080", terms) == "búc năm gọi một không tám không"
