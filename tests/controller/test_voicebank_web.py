"""Giọng xã's pages (/voicebank, the studio): consent before recording, takes stored or refused
with their reason, the coverage meter over the commune's own announcements, export and import,
deletion with everything made from the voice, and who may do what.

Real SQLite file, real ffmpeg and espeak-ng: the takes are read by the stand-in announcer
(tests/audio/voicebank/announcer.py), banks live in a temporary folder."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient

from audio.voicebank import bank as banks
from audio.voicebank.sheets import MAX_SHEET
from controller.core.db import insert
from controller.domain import authz, voicebank
from controller.domain.seed import SeededCommune
from loa.protocol import to_wire_time, utcnow
from tests.audio.voicebank.announcer import sheet_wav
from tests.controller.conftest import People
from tests.controller.test_web import _db, _signed_in


@pytest.fixture(autouse=True)
def banks_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    path = tmp_path / "banks"
    monkeypatch.setenv("LOA_VOICEBANK_DIR", str(path))
    monkeypatch.delenv("LOA_GIONG_XA_VOICE", raising=False)
    monkeypatch.delenv("LOA_TTS_ORDER", raising=False)
    yield path


def _audit(client: TestClient, action: str) -> list[dict[str, Any]]:
    rows = _db(client).query("SELECT * FROM audit_log WHERE action = ? ORDER BY id", [action])
    return [dict(r) for r in rows]


def _consent(browser: TestClient, csrf: str, speaker: str = "Nguyễn Thị Hạnh") -> str:
    """The consent form, agreed; returns the new bank's name."""
    made = browser.post("/voicebank", data={"csrf": csrf, "speaker": speaker, "agree": "1"})
    assert made.status_code == 303, made.text
    match = re.fullmatch(r"/voicebank/([a-z0-9-]+)/studio", made.headers["location"])
    assert match
    return match.group(1)


def _sheet(browser: TestClient, name: str, query: str = "") -> list[str]:
    page = browser.get(f"/voicebank/{name}/studio{query}")
    assert page.status_code == 200, page.text
    match = re.search(r'name="syllables" value="([^"]*)"', page.text)
    assert match, page.text
    return match.group(1).split()


def _take(browser: TestClient, csrf: str, name: str, syllables: list[str], wav: bytes) -> Any:
    return browser.post(
        f"/voicebank/{name}/take",
        data={"csrf": csrf, "syllables": " ".join(syllables)},
        files={"audio": ("to-doc.wav", wav, "audio/wav")},
    )


def _record(browser: TestClient, csrf: str, name: str, syllables: list[str]) -> None:
    for start in range(0, len(syllables), MAX_SHEET):
        part = syllables[start : start + MAX_SHEET]
        done = _take(browser, csrf, name, part, sheet_wav(part))
        assert done.status_code == 303, done.text


def test_consent_is_required_before_recording(
    client: TestClient, people: People, banks_dir: Path
) -> None:
    announcer, csrf = _signed_in(client, "announcer")
    page = announcer.get("/voicebank")
    assert page.status_code == 200
    assert voicebank.CONSENT_WORDS in page.text  # the words they agree to, beside the box
    assert 'href="/voicebank"' in page.text  # in the menu of an announcer

    refused = announcer.post("/voicebank", data={"csrf": csrf, "speaker": "Nguyễn Thị Hạnh"})
    assert refused.status_code == 422
    assert "Người đọc cần đánh dấu đồng ý trước khi ghi giọng." in refused.text
    assert 'value="Nguyễn Thị Hạnh"' in refused.text  # what was typed is kept
    nameless = announcer.post("/voicebank", data={"csrf": csrf, "speaker": " ", "agree": "1"})
    assert nameless.status_code == 422
    assert "Hãy ghi họ tên người đọc" in nameless.text
    assert banks.list_banks() == []
    assert _audit(client, "voicebank.create") == []
    # nothing to record into before consent
    take = _take(announcer, csrf, "nguyen-thi-hanh", ["xã"], sheet_wav(["xã"]))
    assert take.status_code == 404
    assert announcer.get("/voicebank/nguyen-thi-hanh/studio").status_code == 404

    name = _consent(announcer, csrf)
    assert name == "nguyen-thi-hanh"
    made = banks.open_bank(name)
    today = datetime.now(ZoneInfo("Asia/Ho_Chi_Minh")).date().isoformat()  # the commune's date
    assert made.speaker == "Nguyễn Thị Hạnh"
    assert made.consent["given_by"] == "Nguyễn Thị Hạnh"
    assert made.consent["given_at"] == today
    assert made.consent["words"] == voicebank.CONSENT_WORDS
    (entry,) = _audit(client, "voicebank.create")
    assert entry["actor_id"] == people.ids["announcer"]
    assert json.loads(entry["after"])["words"] == voicebank.CONSENT_WORDS
    shown = announcer.get("/voicebank").text
    assert "Giọng của Nguyễn Thị Hạnh" in shown and today in shown
    # a second announcer of the same name gets a bank of their own
    assert _consent(announcer, csrf) == "nguyen-thi-hanh-2"


def test_a_good_take_is_stored_replayed_and_one_syllable_recorded_again(
    client: TestClient, people: People
) -> None:
    announcer, csrf = _signed_in(client, "announcer")
    name = _consent(announcer, csrf)
    sheet = _sheet(announcer, name)
    assert 10 <= len(sheet) <= 20  # the next sheet, best coverage gain first
    done = _take(announcer, csrf, name, sheet, sheet_wav(sheet))
    assert done.status_code == 303, done.text
    assert done.headers["location"].startswith(f"/voicebank/{name}/studio?saved=")
    after = announcer.get(done.headers["location"])
    assert f"Đã lưu {len(sheet)} tiếng" in after.text
    bank = banks.open_bank(name)
    assert bank.syllables() == set(sheet)
    assert _sheet(announcer, name)[0] not in sheet  # the next sheet moves on

    replay = announcer.get(f"/voicebank/{name}/units/{sheet[0]}.wav")
    assert replay.status_code == 200
    assert replay.headers["content-type"] == "audio/wav"
    assert replay.content == bank.unit_wav(sheet[0])

    # one syllable alone, read again louder: only that unit changes
    one = sheet[3]
    assert _sheet(announcer, name, f"?syllables={one}") == [one]
    before = dict(bank.manifest["units"])
    again = _take(announcer, csrf, name, [one], sheet_wav([one], gain=1.8))
    assert again.status_code == 303, again.text
    bank = banks.open_bank(name)
    assert bank.manifest["units"][one]["sha256"] != before[one]["sha256"]
    assert all(bank.manifest["units"][s] == before[s] for s in sheet if s != one)
    records = _audit(client, "voicebank.record")
    assert [json.loads(r["after"])["syllables"] for r in records] == [sheet, [one]]


def test_a_bad_take_is_refused_with_its_reason_and_nothing_stored(
    client: TestClient, people: People
) -> None:
    announcer, csrf = _signed_in(client, "announcer")
    name = _consent(announcer, csrf)
    sheet = _sheet(announcer, name)
    skipped = _take(announcer, csrf, name, sheet, sheet_wav(sheet[:-1]))  # one left out
    assert skipped.status_code == 422
    assert f"Đếm được {len(sheet) - 1} tiếng nhưng tờ có {len(sheet)} tiếng" in skipped.text
    assert 'role="alert"' in skipped.text
    assert _sheet(announcer, name) == sheet  # the same sheet, to read again
    quiet = _take(announcer, csrf, name, sheet, sheet_wav(sheet, gain=0.01))
    assert quiet.status_code == 422
    assert "Giọng đọc quá nhỏ" in quiet.text
    noisy = _take(announcer, csrf, name, sheet, sheet_wav(sheet, noise_dbfs=-25.0))
    assert noisy.status_code == 422
    assert "Nền quá ồn" in noisy.text
    not_audio = _take(announcer, csrf, name, sheet, b"this is not audio" * 100)
    assert not_audio.status_code == 422
    assert "Không đọc được bản ghi" in not_audio.text
    assert banks.open_bank(name).syllables() == set()
    assert _audit(client, "voicebank.record") == []
    # the reason in English for an official who reads English
    announcer.get("/lang/en")
    english = _take(announcer, csrf, name, sheet, sheet_wav(sheet[:-1]))
    assert f"Counted {len(sheet) - 1} syllables but the sheet has {len(sheet)}" in english.text


def test_a_take_passes_the_upload_limit_not_the_form_limit(
    client: TestClient, people: People
) -> None:
    """A take is an upload: larger than a form may be (1 MiB), within the upload limit."""
    announcer, csrf = _signed_in(client, "announcer")
    name = _consent(announcer, csrf)
    big = _take(announcer, csrf, name, ["xã"], b"\0" * (2 * 1024 * 1024))
    assert big.status_code == 422, big.text  # read and refused as audio, not 413
    assert "Không đọc được bản ghi" in big.text


def _announce(client: TestClient, people: People, created: datetime, text: str) -> None:
    insert(
        _db(client),
        "announcements",
        {
            "title": "Thông báo",
            "text": text,
            "category": "thong_bao",
            "priority": "normal",
            "status": "approved",
            "created_by": people.ids["editor"],
            "created_at": to_wire_time(created),
            "updated_at": to_wire_time(created),
        },
    )


def test_the_coverage_meter_reads_the_communes_last_three_months(
    client: TestClient, people: People
) -> None:
    now = utcnow()
    _announce(client, people, now - timedelta(days=2), "Kính thưa bà con.")
    _announce(client, people, now - timedelta(days=80), "Bà con đi họp.")
    _announce(client, people, now - timedelta(days=120), "Họp họp họp họp họp họp.")  # too old
    announcer, csrf = _signed_in(client, "announcer")
    name = _consent(announcer, csrf)
    before = announcer.get("/voicebank").text
    assert "giọng xã đọc được 0% số tiếng trong các bản tin 3 tháng qua" in before
    _record(announcer, csrf, name, ["kính", "thưa", "bà"])
    # said in the last 90 days: kính thưa bà con · bà con đi họp = 8; recorded: kính thưa bà bà
    page = announcer.get("/voicebank").text
    assert "giọng xã đọc được 50% số tiếng trong các bản tin 3 tháng qua" in page
    assert 'data-percent="50"' in page
    assert "0 trên 2 bản tin đọc được trọn bằng giọng xã." in page
    # the most frequent missing syllable first, and a sheet of just the missing ones
    assert "Các tiếng còn thiếu hay gặp nhất:" in page and "con, họp, đi" in page
    assert _sheet(announcer, name, "?syllables=con,đi,họp") == ["con", "đi", "họp"]
    studio = announcer.get(f"/voicebank/{name}/studio").text
    assert "giọng xã đọc được 50% số tiếng" in studio


def _export(browser: TestClient, csrf: str, name: str) -> bytes:
    exported = browser.post(f"/voicebank/{name}/export", data={"csrf": csrf})
    assert exported.status_code == 200, exported.text
    assert exported.headers["content-disposition"].endswith('.loavoice"')
    return exported.content


def test_export_and_import_round_trip(client: TestClient, people: People) -> None:
    admin, csrf = _signed_in(client, "admin")
    name = _consent(admin, csrf, "Trần Văn Bình")
    _record(admin, csrf, name, ["kính", "thưa", "bà", "con"])
    original = banks.open_bank(name)
    data = _export(admin, csrf, name)
    assert data[:2] == b"PK"
    refused = admin.post(
        "/voicebank/import",
        data={"csrf": csrf},
        files={"file": ("giong.loavoice", data, "application/zip")},
    )
    assert refused.status_code == 422  # the same name exists and replace was not ticked
    assert "Đã có giọng xã “tran-van-binh”." in refused.text
    bad = admin.post(
        "/voicebank/import",
        data={"csrf": csrf},
        files={"file": ("giong.loavoice", b"not a zip", "application/zip")},
    )
    assert bad.status_code == 422
    assert "Tệp giọng xã không hợp lệ" in bad.text

    deleted = admin.post(f"/voicebank/{name}/delete", data={"csrf": csrf, "confirm": "1"})
    assert deleted.status_code == 303
    assert banks.list_banks() == []
    back = admin.post(
        "/voicebank/import",
        data={"csrf": csrf},
        files={"file": ("giong.loavoice", data, "application/zip")},
    )
    assert back.status_code == 303, back.text
    restored = banks.open_bank(name)
    assert restored.id == original.id
    assert restored.speaker == "Trần Văn Bình"
    assert restored.consent["words"] == voicebank.CONSENT_WORDS
    assert {s: u["sha256"] for s, u in restored.manifest["units"].items()} == {
        s: u["sha256"] for s, u in original.manifest["units"].items()
    }
    assert restored.unit_wav("con") == original.unit_wav("con")
    assert len(_audit(client, "voicebank.export")) == 1
    (imported,) = _audit(client, "voicebank.import")
    assert json.loads(imported["after"])["speaker"] == "Trần Văn Bình"


def _chunks_of(cache_dir: Path, bank_id: str) -> int:
    marker = b"lbnk"
    count = 0
    for path in (cache_dir / "chunks").glob("*.audio"):
        head = path.read_bytes()[:64]
        count += head[12:16] == marker and bank_id.encode() in head
    return count


def test_deleting_a_bank_withdraws_the_voice_and_everything_made_from_it(
    client: TestClient, people: People, commune: SeededCommune
) -> None:
    admin, csrf = _signed_in(client, "admin")
    name = _consent(admin, csrf)
    _record(admin, csrf, name, ["kính", "thưa", "bà", "con"])
    bank = banks.open_bank(name)
    created = client.post(
        "/api/v1/announcements",
        json={
            "title": "Kính thưa",
            "text": "Kính thưa bà con.",
            "submit": True,
            "speech_engine": "giong-xa",
            "speech_voice": name,
        },
        headers=people.headers("editor"),
    )
    assert created.status_code == 201, created.text
    ann = created.json()["id"]
    approved = client.post(
        f"/api/v1/announcements/{ann}/approve", headers=people.headers("approver")
    )
    assert approved.status_code == 200, approved.text
    row = next(_db(client).query("SELECT * FROM announcements WHERE id = ?", [ann]))
    assert (row["engine"], row["voice"], row["status"]) == ("giong-xa", name, "approved")
    sha = row["approved_sha256"]
    settings = client.app.state.runtime.settings  # type: ignore[attr-defined]
    assert (settings.media_dir / f"{sha}.mp3").is_file()
    assert _chunks_of(settings.tts_cache_dir, bank.id) >= 1
    scheduled = client.post(
        "/api/v1/broadcasts",
        json={
            "announcement_id": ann,
            "zone_ids": [commune.commune_id],
            "starts_at": (datetime.now(UTC) + timedelta(hours=2)).isoformat(),
        },
        headers=people.headers("editor"),
    )
    assert scheduled.status_code == 201, scheduled.text

    confirm = admin.get(f"/voicebank/{name}/delete")
    assert confirm.status_code == 200
    assert 'data-uses="1" data-approved="1"' in confirm.text
    assert "1 bản tin đã dùng giọng này" in confirm.text
    unconfirmed = admin.post(f"/voicebank/{name}/delete", data={"csrf": csrf})
    assert unconfirmed.status_code == 422
    assert banks.open_bank(name).syllables() == {"kính", "thưa", "bà", "con"}
    assert _audit(client, "voicebank.delete") == []

    done = admin.post(f"/voicebank/{name}/delete", data={"csrf": csrf, "confirm": "1"})
    assert done.status_code == 303
    assert "Đã xóa giọng xã" in admin.get(done.headers["location"]).text
    assert not bank.path.exists()
    assert banks.list_banks() == []
    assert _chunks_of(settings.tts_cache_dir, bank.id) == 0
    renders = [
        json.loads(p.read_text()) for p in (settings.tts_cache_dir / "renders").glob("*.json")
    ]
    assert not [r for r in renders if r.get("engine") == "giong-xa"]
    assert not (settings.media_dir / f"{sha}.mp3").exists()
    after = next(_db(client).query("SELECT * FROM announcements WHERE id = ?", [ann]))
    assert after["status"] == "pending"  # what was approved can no longer be heard
    assert after["approved_sha256"] is None and after["media_sha256"] is None
    assert after["speech_engine"] is None  # read by the next engine from now on
    (entry,) = _audit(client, "voicebank.delete")
    assert json.loads(entry["after"]) == {"announcements": [ann], "back_to_pending": [ann]}
    assert json.loads(entry["before"])["speaker"] == "Nguyễn Thị Hạnh"
    assert len(_audit(client, "announcement.voice_withdrawn")) == 1
    # approved again: spoken by another engine, never by the deleted voice
    again = client.post(f"/api/v1/announcements/{ann}/approve", headers=people.headers("approver"))
    assert again.status_code == 200, again.text
    spoken = next(_db(client).query("SELECT * FROM announcements WHERE id = ?", [ann]))
    assert spoken["status"] == "approved" and spoken["engine"] != "giong-xa"
    assert admin.get(f"/voicebank/{name}/studio").status_code == 404


PAGES = [
    ("GET", "/voicebank", "voicebank.record"),
    ("GET", "/voicebank/{name}/studio", "voicebank.record"),
    ("GET", "/voicebank/{name}/units/xã.wav", "voicebank.record"),
    ("POST", "/voicebank/{name}/take", "voicebank.record"),
    ("POST", "/voicebank", "voicebank.record"),
    ("GET", "/voicebank/{name}/delete", "voicebank.manage"),
    ("POST", "/voicebank/{name}/export", "voicebank.manage"),
    ("POST", "/voicebank/import", "voicebank.manage"),
    ("POST", "/voicebank/{name}/delete", "voicebank.manage"),
]


def test_who_may_record_and_who_manages_the_bank(client: TestClient, people: People) -> None:
    """Every page × every role against authz.PERMISSIONS: admins and announcers record; only
    admins export, import and delete. A role not allowed gets 403 and changes nothing."""
    admin, admin_csrf = _signed_in(client, "admin")
    name = _consent(admin, admin_csrf)
    _record(admin, admin_csrf, name, ["xã"])
    assert authz.PERMISSIONS["voicebank.record"] == {"admin", "announcer"}
    assert authz.PERMISSIONS["voicebank.manage"] == {"admin"}
    for role in People.ROLES:
        browser, csrf = _signed_in(client, role)
        menu = browser.get("/").text
        assert ('href="/voicebank"' in menu) == (role in {"admin", "announcer"}), role
        for method, path, permission in PAGES:
            url = path.format(name=name)
            if method == "GET":
                answer = browser.get(url)
            elif url.endswith("/take"):
                answer = browser.post(
                    url,
                    data={"csrf": csrf, "syllables": "xã"},
                    files={"audio": ("t.wav", sheet_wav(["xã"]), "audio/wav")},
                )
            elif url.endswith("/import"):
                answer = browser.post(
                    url,
                    data={"csrf": csrf},
                    files={"file": ("x.loavoice", b"x", "application/zip")},
                )
            elif url == "/voicebank":
                answer = browser.post(url, data={"csrf": csrf, "speaker": " "})
            else:  # delete without the confirmation, export: nothing lost
                answer = browser.post(url, data={"csrf": csrf})
            allowed = role in authz.PERMISSIONS[permission]
            if allowed:
                assert answer.status_code in (200, 303, 422), (role, method, url, answer.text)
            else:
                assert answer.status_code == 403, (role, method, url, answer.status_code)
    assert banks.open_bank(name).syllables() == {"xã"}
    assert len(_audit(client, "voicebank.record")) == 3  # the admin's and two allowed takes


def test_the_announcement_form_names_the_syllables_the_voice_lacks(
    client: TestClient, people: People
) -> None:
    """As the official types, the reading says what giọng xã still needs ("cần ghi thêm"), and
    that meanwhile the whole announcement is read by another voice; an announcer or admin gets
    a sheet of just those syllables."""
    editor, _ = _signed_in(client, "editor")
    text = "Kính thưa bà con."
    none_yet = editor.post("/announcements/reading", data={"text": text})
    assert none_yet.status_code == 200 and "voicebank-gaps" not in none_yet.text  # no bank
    admin, csrf = _signed_in(client, "admin")
    name = _consent(admin, csrf)
    _record(admin, csrf, name, ["kính", "bà"])
    typed = editor.post("/announcements/reading", data={"text": text})
    assert 'data-missing="2"' in typed.text
    assert "Giọng xã cần ghi thêm 2 tiếng: thưa, con." in typed.text
    assert "cả bản tin này được đọc bằng giọng khác" in typed.text
    assert "/studio?syllables=" not in typed.text  # an editor does not record
    form = admin.get("/announcements/new")
    assert form.status_code == 200
    link = admin.post("/announcements/reading", data={"text": text}).text
    match = re.search(r'href="(/voicebank/[^"]+/studio\?syllables=[^"]+)"', link)
    assert match
    assert _sheet(admin, name, match.group(1).split("/studio")[1]) == ["thưa", "con"]
    _record(admin, csrf, name, ["thưa", "con"])
    whole = editor.post("/announcements/reading", data={"text": text})
    assert "Giọng xã (giọng của Nguyễn Thị Hạnh) đọc được cả bản tin này." in whole.text
