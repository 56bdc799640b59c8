"""Bank storage with consent, re-recording, deletion with everything made from it, and
export/import as one versioned file that is refused whole when anything is wrong."""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest

from audio.errors import AudioError
from audio.render import VoiceSettings, render_text
from audio.voicebank.archive import HEADER, export_bank, import_bank
from audio.voicebank.bank import Bank, create_bank, delete_bank, list_banks, open_bank
from audio.voicebank.takes import cut_take
from loa.cli import main
from tests.audio.voicebank.announcer import read_sheet
from tests.audio.voicebank.conftest import CONSENT

WORDS = ("thông", "báo", "họp", "dân", "tối", "nay", "tại", "nhà", "văn", "hóa", "thôn")
TEXT = "Thông báo họp dân tối nay tại nhà văn hóa thôn."

MakeBank = Callable[..., Bank]


def test_a_bank_needs_consent_and_a_good_name(banks_dir: Path) -> None:
    for consent in (
        replace(CONSENT, speaker=" "),
        replace(CONSENT, given_by=""),
        replace(CONSENT, given_at=""),
        replace(CONSENT, given_at="hôm qua"),
    ):
        with pytest.raises(AudioError) as info:
            create_bank("hanh", consent)
        assert info.value.code == "consent_required"
    for name in ("Hạnh", "a b", "", "-x", "../x", "x" * 41):
        with pytest.raises(AudioError) as info:
            create_bank(name, CONSENT)
        assert info.value.code == "bad_bank_name"
    assert not banks_dir.exists() or list(banks_dir.iterdir()) == []
    create_bank("hanh", CONSENT)
    with pytest.raises(AudioError) as info:
        create_bank("hanh", CONSENT)
    assert info.value.code == "bank_exists"


def test_the_manifest_says_whose_voice_and_who_agreed(make_bank: MakeBank) -> None:
    bank = make_bank(syllables=WORDS)
    manifest = json.loads((bank.path / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["speaker"] == "Nguyễn Thị Hạnh"
    assert manifest["consent"] == {
        "given_by": "Nguyễn Thị Hạnh",
        "given_at": "2026-12-01",
        "note": "giấy đồng ý lưu ở văn phòng UBND xã",
    }
    assert manifest["format_version"] == 1 and manifest["version"] == 2  # created, one take
    assert set(manifest["units"]) == set(WORDS)
    assert len(list((bank.path / "units").glob("*.wav"))) == len(WORDS)
    assert [b.name for b in list_banks()] == ["hanh"]


def test_re_recording_one_syllable_replaces_only_it(make_bank: MakeBank) -> None:
    bank = make_bank(syllables=WORDS)
    before = {s: bank.unit_path(s) for s in WORDS}
    version = bank.save_take(cut_take(read_sheet(["họp"], gain=0.7), ["họp"]))
    assert version == bank.version == 3
    assert bank.unit_path("họp") != before["họp"] and not before["họp"].exists()
    assert all(bank.unit_path(s) == before[s] for s in WORDS if s != "họp")
    assert open_bank("hanh").manifest == bank.manifest
    bank.remove_units(["họp"])
    assert "họp" not in open_bank("hanh").syllables()
    assert len(list((bank.path / "units").glob("*.wav"))) == len(WORDS) - 1


def test_delete_removes_the_bank_and_everything_made_from_it(
    make_bank: MakeBank, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bank = make_bank(syllables=WORDS)
    other = make_bank("lan", syllables=WORDS, voice="vi-vn-x-south")
    cache, media = tmp_path / "cache", tmp_path / "media"
    mine = render_text(TEXT, media, VoiceSettings(engine="giong-xa", voice="hanh"), cache_dir=cache)
    theirs = render_text(
        TEXT, media, VoiceSettings(engine="giong-xa", voice="lan"), cache_dir=cache
    )
    espeak = render_text(TEXT, media, VoiceSettings(engine="espeak-ng"), cache_dir=cache)
    assert mine.engine == "giong-xa" and mine.sha256 != theirs.sha256
    chunks_before = len(list((cache / "chunks").iterdir()))

    done = delete_bank("hanh", cache_dir=cache, media_dir=media)
    assert done.media_sha256 == (mine.sha256,)
    assert done.cached_renders == 1 and done.cached_chunks == 1
    assert not bank.path.exists() and not mine.path.exists()
    assert theirs.path.exists() and espeak.path.exists()
    assert len(list((cache / "chunks").iterdir())) == chunks_before - 1
    with pytest.raises(AudioError) as info:
        open_bank("hanh")
    assert info.value.code == "bank_not_found"
    # The other bank still speaks from the cache; the deleted one is no voice any more.
    again = render_text(TEXT, media, VoiceSettings(engine="giong-xa", voice="lan"), cache_dir=cache)
    assert again.sha256 == theirs.sha256
    with pytest.raises(AudioError) as info:
        render_text(TEXT, media, VoiceSettings(engine="giong-xa", voice="hanh"), cache_dir=cache)
    assert info.value.code == "unknown_voice"
    assert other.path.exists()
    assert main(["voicebank", "delete", "lan"]) == 2  # without --yes nothing happens
    assert other.path.exists()
    assert main(["voicebank", "delete", "lan", "--yes"]) == 0
    assert not other.path.exists()
    assert "đã xóa giọng xã lan" in capsys.readouterr().out


def test_export_and_import_round_trip(make_bank: MakeBank, tmp_path: Path) -> None:
    bank = make_bank(syllables=WORDS)
    path = export_bank("hanh", tmp_path)
    assert path.name == "giong-xa-hanh-v2.loavoice"
    with zipfile.ZipFile(path) as zf:
        header = json.loads(zf.read(HEADER))
        assert header["format"] == "loa-voicebank" and header["format_version"] == 1
        assert header["manifest"]["consent"]["given_by"] == "Nguyễn Thị Hạnh"
    neighbour = tmp_path / "neighbour"
    got = import_bank(path, neighbour)
    assert (got.name, got.id, got.version, got.speaker) == ("hanh", bank.id, 2, bank.speaker)
    assert all(got.unit_wav(s) == bank.unit_wav(s) for s in WORDS)
    renamed = import_bank(path, neighbour, name="hanh-xa-ben")
    assert renamed.id != bank.id and renamed.syllables() == bank.syllables()
    with pytest.raises(AudioError) as info:
        import_bank(path, neighbour)
    assert info.value.code == "bank_exists"
    bank.save_take(cut_take(read_sheet(["xã"]), ["xã"]))
    newer = export_bank("hanh", tmp_path / "v3.loavoice")
    replaced = import_bank(newer, neighbour, replace=True)
    assert replaced.version == 3 and "xã" in replaced.syllables()
    assert sorted(p.name for p in neighbour.iterdir()) == ["hanh", "hanh-xa-ben"]


def _rewrite(path: Path, change: Callable[[dict[str, bytes]], None]) -> bytes:
    with zipfile.ZipFile(path) as zf:
        entries = {i.filename: zf.read(i) for i in zf.infolist()}
    change(entries)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as zf:
        for name, data in entries.items():
            zf.writestr(name, data)
    return out.getvalue()


def _header_change(key: str, value: object) -> Callable[[dict[str, bytes]], None]:
    def change(entries: dict[str, bytes]) -> None:
        header = json.loads(entries[HEADER])
        target = header
        *parents, last = key.split(".")
        for p in parents:
            target = target[p]
        target[last] = value
        entries[HEADER] = json.dumps(header).encode()

    return change


def _first_unit(entries: dict[str, bytes]) -> str:
    return next(n for n in entries if n.startswith("units/"))


def _corrupt_unit(entries: dict[str, bytes]) -> None:
    name = _first_unit(entries)
    entries[name] = entries[name][:-2] + b"\x00\x01"


def _drop_unit(entries: dict[str, bytes]) -> None:
    del entries[_first_unit(entries)]


@pytest.mark.parametrize(
    ("change", "code", "words"),
    [
        (_header_change("format_version", 2), "bank_file_version", "phiên bản định dạng 2"),
        (_header_change("format", "other"), "bad_bank_file", "không phải tệp giọng xã"),
        (_header_change("manifest.consent.given_by", ""), "bad_bank_file", "đồng ý"),
        (_header_change("manifest.name", "../etc"), "bad_bank_file", "không hợp lệ"),
        (_corrupt_unit, "bad_bank_file", "mã kiểm tra"),
        (_drop_unit, "bad_bank_file", "thiếu tệp"),
        (lambda e: e.__setitem__("../evil.sh", b"x"), "bad_bank_file", "không thuộc"),
        (lambda e: e.pop(HEADER), "bad_bank_file", "thiếu loa-voicebank.json"),
    ],
)
def test_a_bad_file_is_refused_and_nothing_is_written(
    make_bank: MakeBank,
    tmp_path: Path,
    change: Callable[[dict[str, bytes]], None],
    code: str,
    words: str,
) -> None:
    make_bank(syllables=WORDS[:3])
    data = _rewrite(export_bank("hanh", tmp_path), change)
    neighbour = tmp_path / "neighbour"
    with pytest.raises(AudioError) as info:
        import_bank(data, neighbour)
    assert info.value.code == code
    assert words in info.value.message
    assert not neighbour.exists() or list(neighbour.iterdir()) == []


def test_not_a_zip_is_refused(banks_dir: Path) -> None:
    with pytest.raises(AudioError) as info:
        import_bank(b"PK not really", banks_dir)
    assert info.value.code == "bad_bank_file"


def test_a_failed_replace_keeps_the_old_bank(make_bank: MakeBank, tmp_path: Path) -> None:
    bank = make_bank(syllables=WORDS[:3])
    bad = _rewrite(export_bank("hanh", tmp_path), _corrupt_unit)
    with pytest.raises(AudioError):
        import_bank(bad, replace=True)
    assert open_bank("hanh").manifest == bank.manifest
    assert sorted(p.name for p in bank.path.parent.iterdir()) == ["hanh"]


def test_cli_create_take_export_import(
    banks_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["--speaker", "Lò Văn Chiến", "--consent-by", "Lò Văn Chiến", "--consent-at"]
    assert main(["voicebank", "create", "chien", *args, "2026-11-30"]) == 0
    take = tmp_path / "take.wav"
    from audio.voicebank.takes import wav_bytes

    take.write_bytes(wav_bytes(read_sheet(WORDS[:4])))
    assert main(["voicebank", "take", "chien", str(take), *WORDS[:4]]) == 0
    assert main(["voicebank", "take", "chien", str(take), *WORDS[:5]]) == 2
    err = capsys.readouterr().err
    assert "Đếm được 4 tiếng nhưng tờ có 5 tiếng" in err and "[take_wrong_count]" in err
    assert main(["voicebank", "missing", "chien", "Thông báo họp dân"]) == 0
    assert main(["voicebank", "missing", "chien", "Thông báo họp dân tối nay"]) == 1
    assert "cần ghi thêm 2 tiếng: tối, nay" in capsys.readouterr().out
    assert main(["voicebank", "export", "chien", str(tmp_path)]) == 0
    exported = tmp_path / "giong-xa-chien-v2.loavoice"
    assert main(["voicebank", "import", str(exported), "--name", "chien-2"]) == 0
    assert main(["voicebank", "list"]) == 0
    out = capsys.readouterr().out
    assert "chien\tLò Văn Chiến\t4 tiếng" in out and "chien-2\tLò Văn Chiến\t4 tiếng" in out
    own = tmp_path / "cu.txt"
    own.write_text("Thông báo họp dân.\n\nThông báo họp thôn.\n", encoding="utf-8")
    base = ["--no-corpus", "--texts", str(own), "--bank", "chien"]
    assert main(["voicebank", "coverage", *base]) == 0
    out = capsys.readouterr().out
    assert "giọng xã đọc được 88% số tiếng trong các bản tin của xã; đọc trọn 1/2 bản tin" in out
    assert main(["voicebank", "sheets", *base, "--size", "10"]) == 0
    assert capsys.readouterr().out.strip() == "Tờ 1 (+1 tiếng, phủ 100.0%): thôn"
