"""The voices page's offline voices (issue 15, "the same from the voices page"): an admin installs
a Vietnamese Piper voice of the catalogue with one button; it downloads in the background, runs
the same install as ``loa tts install-voice NAME`` (same catalogue setting), and the page shows
đang tải / đã cài / lỗi with the command line's one Vietnamese line. A missing network, a wrong
checksum or a voice that is not Vietnamese installs nothing. Audited.

A real controller app on a real SQLite file; the catalogue is the local fake serving a tiny ONNX
voice built here (tests/audio/fakes.py): nothing here calls out."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from markupsafe import escape

from audio.messages import message_for
from audio.voices import installed_voices
from controller.services import piper_install
from tests.audio.fakes import FakeCatalog, fake_catalog
from tests.audio.helpers import build_tiny_piper_voice
from tests.controller.conftest import People
from tests.controller.test_web import _db, _signed_in

GOOD = "vi_VN-vais1000-medium"
BAD_MD5 = "vi_VN-25hours_single-low"
ENGLISH = "en_US-lessac-medium"


@pytest.fixture
def catalog(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeCatalog]:
    model, config = build_tiny_piper_voice(tmp_path / "built", "vi_VN-tiny-medium")
    monkeypatch.setenv("LOA_VOICES_DIR", str(tmp_path / "voices"))
    piper_install.jobs = piper_install.InstallJobs()  # this process's jobs: none from other tests
    with fake_catalog() as fake:
        fake.add_voice(GOOD, model, config)
        fake.add_voice(BAD_MD5, model, config, wrong_md5_for=".onnx")
        fake.add_voice(ENGLISH, model, config, family="en", code="en_US")
        monkeypatch.setenv("LOA_PIPER_CATALOG_URL", fake.url)
        yield fake


def _row(page: str, voice: str) -> str:
    match = re.search(rf'<tr id="piper-{re.escape(voice)}".*?</tr>', page, re.S)
    assert match, f"no row for {voice}"
    return match.group(0)


def _install(browser: TestClient, csrf: str, voice: str) -> str:
    sent = browser.post(
        "/voices/piper/install", data={"csrf": csrf, "voice": voice}, follow_redirects=False
    )
    assert sent.status_code == 303, sent.text
    piper_install.jobs.wait(voice, timeout=60)
    return browser.get("/voices").text


def test_an_admin_installs_a_vietnamese_voice_from_the_page(
    client: TestClient, people: People, catalog: FakeCatalog, tmp_path: Path
):
    browser, csrf = _signed_in(client, "admin")
    page = browser.get("/voices").text
    assert "Giọng đọc ngoại tuyến (Piper)" in page
    for voice in (GOOD, BAD_MD5, "vi_VN-vivos-x_low"):  # the catalogue's Vietnamese voices
        assert "Cài đặt" in _row(page, voice)
    assert "Chưa cài giọng Piper nào." in page

    page = _install(browser, csrf, GOOD)
    row = _row(page, GOOD)
    assert 'data-state="installed"' in row and "Đã cài" in row and "Cài đặt" not in row
    assert installed_voices() == [GOOD]
    assert re.search(rf'<ul id="piper-installed"><li>{GOOD}</li>', page)
    folder = f"vi/vi_VN/vais1000/medium/{GOOD}"
    assert catalog.seen == ["voices.json", f"{folder}.onnx", f"{folder}.onnx.json"]
    audited = _db(client).execute(
        "SELECT actor_id, entity_id FROM audit_log WHERE action = 'voices.install'"
    )
    assert [row[1] for row in audited.fetchall()] == [GOOD]


@pytest.mark.parametrize(
    ("voice", "code", "params"),
    [
        (BAD_MD5, "voice_checksum", {"file": f"{BAD_MD5}.onnx"}),
        (ENGLISH, "voice_not_vietnamese", {"voice": ENGLISH, "language": "en_US"}),
    ],
)
def test_a_bad_voice_shows_the_command_lines_line_and_installs_nothing(
    client: TestClient,
    people: People,
    catalog: FakeCatalog,
    tmp_path: Path,
    voice: str,
    code: str,
    params: dict[str, str],
):
    browser, csrf = _signed_in(client, "admin")
    page = _install(browser, csrf, voice)
    row = _row(page, voice)
    assert 'data-state="failed"' in row and "Lỗi" in row
    assert str(escape(message_for(code, **params))) in row
    assert installed_voices() == []
    voices = tmp_path / "voices"
    assert not voices.exists() or not any(voices.iterdir()), "nothing half-installed"
    if code == "voice_not_vietnamese":
        assert catalog.seen == ["voices.json"], "nothing downloaded for a foreign voice"


def test_a_missing_network_shows_one_line_and_installs_nothing(
    client: TestClient,
    people: People,
    catalog: FakeCatalog,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
):
    monkeypatch.setenv("LOA_PIPER_CATALOG_URL", "http://127.0.0.1:9/")  # nothing listens there
    browser, csrf = _signed_in(client, "admin")
    row = _row(_install(browser, csrf, GOOD), GOOD)
    expected = message_for("voice_download_failed", voice=GOOD, url="http://127.0.0.1:9/")
    assert 'data-state="failed"' in row and str(escape(expected)) in row
    assert installed_voices() == []


def test_only_an_admin_installs(client: TestClient, people: People, catalog: FakeCatalog):
    browser, csrf = _signed_in(client, "approver")
    sent = browser.post(
        "/voices/piper/install", data={"csrf": csrf, "voice": GOOD}, follow_redirects=False
    )
    assert sent.status_code == 403
    assert catalog.seen == [] and piper_install.jobs.get(GOOD) is None
