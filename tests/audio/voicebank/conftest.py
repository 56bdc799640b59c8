"""Voice bank tests: banks in a temporary folder, recorded by the stand-in announcer."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

from audio.voicebank.bank import Bank, Consent, create_bank
from audio.voicebank.sheets import sheets_for
from audio.voicebank.takes import cut_take
from tests.audio.voicebank.announcer import read_sheet

CONSENT = Consent(
    speaker="Nguyễn Thị Hạnh",
    given_by="Nguyễn Thị Hạnh",
    given_at="2026-12-01",
    note="giấy đồng ý lưu ở văn phòng UBND xã",
)


@pytest.fixture
def banks_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "banks"
    monkeypatch.setenv("LOA_VOICEBANK_DIR", str(path))
    monkeypatch.delenv("LOA_GIONG_XA_VOICE", raising=False)
    return path


def record(bank: Bank, syllables: Sequence[str], gain: float = 1.0, voice: str = "vi+f2") -> None:
    """The stand-in announcer reads sheets of these syllables; each take is cut and saved."""
    for sheet in sheets_for(list(syllables), size=15):
        take = cut_take(read_sheet(sheet.syllables, gain=gain, voice=voice), sheet.syllables)
        bank.save_take(take)


@pytest.fixture
def make_bank(banks_dir: Path) -> Callable[..., Bank]:
    def make(
        name: str = "hanh", syllables: Sequence[str] = (), gain: float = 1.0, voice: str = "vi+f2"
    ) -> Bank:
        bank = create_bank(name, CONSENT)
        if syllables:
            record(bank, syllables, gain, voice)
        return bank

    return make
