"""Giọng xã's studio in real headless Chromium: an announcer gives consent on the page, then
reads the next sheet into Chromium's fake microphone — fed the stand-in announcer's reading of
that very sheet (espeak-ng, syllable by syllable with pauses, as a WAV file) — and the page's
MediaRecorder take is uploaded, cut and checked by the server: every syllable of the sheet is in
the bank, each can be replayed.

The controller is the real app served by uvicorn on a local port (no nodes are needed here).
Chromium loops the file it is fed, so the WAV ends with a long silence and the test stops the
recording inside it. Screenshots go under the test's tmp_path.
"""

from __future__ import annotations

import re
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import uvicorn
from playwright.sync_api import expect, sync_playwright

from audio.ffmpeg import SAMPLE_RATE
from audio.voicebank import bank as banks
from audio.voicebank.takes import wav_bytes
from controller.app import create_app
from controller.core.settings import Settings
from controller.domain import voicebank
from controller.domain.seed import seed_commune
from controller.domain.users import create_user
from tests.audio.voicebank.announcer import noise, read_sheet
from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS, DESKTOP, PHONE
from tests.support.net import free_port, wait_for_port

pytestmark = pytest.mark.slow

PASSWORD = "mat-khau-phat-thanh"
TRAILING_SILENCE_S = 4.0
#: ffmpeg up to its input; the output options make the 48 kHz mono 16-bit WAV Chromium reads.
FFMPEG_TO_48K_MONO_S16 = ["ffmpeg", "-v", "error", "-y", "-i"]


@pytest.fixture
def controller(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, Any]]:
    monkeypatch.setenv("LOA_VOICEBANK_DIR", str(tmp_path / "banks"))
    monkeypatch.delenv("LOA_GIONG_XA_VOICE", raising=False)
    settings = Settings(data_dir=tmp_path / "controller", listening_check=False)
    app = create_app(settings, start_services=False)
    store = app.state.runtime.store
    seed_commune(store)
    create_user(store.db, "phatthanh", PASSWORD, "announcer", "Phát thanh viên xã")
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    wait_for_port(port, timeout=20)
    try:
        yield f"http://127.0.0.1:{port}", store
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def _launch(playwright: Any, fake_audio: Path | None = None) -> Any:
    args = list(CHROMIUM_ARGS)
    if fake_audio is not None:
        args.append(f"--use-file-for-fake-audio-capture={fake_audio}")
    return playwright.chromium.launch(executable_path=CHROMIUM, args=args, headless=True)


def _context(browser: Any, base_url: str, viewport: dict[str, int], state: Any = None) -> Any:
    context = browser.new_context(
        base_url=base_url,
        viewport=viewport,
        locale="vi-VN",
        timezone_id="Asia/Ho_Chi_Minh",
        storage_state=state,
    )
    context.grant_permissions(["microphone"])
    return context


def _sheet_reading(syllables: list[str], path: Path) -> float:
    """The stand-in announcer reading the sheet, then a long silence, as a 48 kHz mono 16-bit
    WAV (what Chromium's fake microphone reads best); returns the seconds until the silence."""
    speech = read_sheet(syllables)
    tail = noise(TRAILING_SILENCE_S, seed=11)
    raw = path.with_suffix(".22k.wav")
    raw.write_bytes(wav_bytes(np.concatenate([speech, tail]).astype(np.float32)))
    subprocess.run(
        [
            *FFMPEG_TO_48K_MONO_S16,
            str(raw),
            "-ar",
            "48000",
            "-ac",
            "1",
            "-c:a",
            "pcm_s16le",
            str(path),
        ],
        check=True,
    )
    return speech.size / SAMPLE_RATE


def test_an_announcer_records_a_sheet_through_the_page(
    controller: tuple[str, Any], tmp_path: Path
) -> None:
    if not Path(CHROMIUM).exists():
        pytest.skip(f"no Chromium at {CHROMIUM}")
    base_url, store = controller
    errors: list[str] = []
    with sync_playwright() as p:
        # 1. Sign in and give consent (no microphone needed yet).
        browser = _launch(p)
        context = _context(browser, base_url, DESKTOP)
        page = context.new_page()
        page.set_default_timeout(30_000)
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.goto("/login")
        page.get_by_label("Tên đăng nhập").fill("phatthanh")
        page.get_by_label("Mật khẩu").fill(PASSWORD)
        page.get_by_role("button", name="Đăng nhập").click()
        page.wait_for_url(re.compile(r"/$"))
        page.get_by_role("link", name="Giọng xã").click()
        expect(page.get_by_role("heading", level=1)).to_have_text("Giọng xã")
        page.get_by_label("Họ tên người đọc (giọng của ai)").fill("Nguyễn Thị Hạnh")
        page.get_by_role("button", name="Đồng ý và bắt đầu ghi").click()
        expect(page.locator("#consent .field-error")).to_contain_text("đánh dấu đồng ý")
        errors = [e for e in errors if "422" not in e]  # the refused form, on purpose
        page.get_by_label("Tôi là người đọc và tôi đồng ý với nội dung trên").check()
        page.get_by_role("button", name="Đồng ý và bắt đầu ghi").click()
        page.wait_for_url(re.compile(r"/voicebank/nguyen-thi-hanh/studio$"))
        state = context.storage_state()
        browser.close()

        bank = banks.open_bank("nguyen-thi-hanh")
        (sheet,) = voicebank.next_sheets(store.db, bank, 1)
        syllables = list(sheet.syllables)
        reading = tmp_path / "sheet.wav"
        speech_s = _sheet_reading(syllables, reading)

        # 2. Read the sheet into the fake microphone.
        browser = _launch(p, reading)
        context = _context(browser, base_url, DESKTOP, state)
        page = context.new_page()
        page.set_default_timeout(60_000)
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto("/voicebank/nguyen-thi-hanh/studio")
        shown = page.locator("#sheet .vb-syllable").all_inner_texts()
        assert shown == syllables  # the page shows the sheet the test reads
        page.screenshot(path=str(tmp_path / "studio-desktop.png"), full_page=True)
        record = page.get_by_role("button", name="Ghi âm", exact=True)
        record.click()
        expect(page.get_by_role("button", name="Dừng và gửi")).to_have_attribute(
            "aria-pressed", "true"
        )
        time.sleep(speech_s + 1.0)  # the whole reading, stopped inside the trailing silence
        page.get_by_role("button", name="Dừng và gửi").click()
        page.wait_for_url(re.compile(r"/studio\?saved="))
        expect(page.locator("#saved h2")).to_have_text(f"Đã lưu {len(syllables)} tiếng")
        page.screenshot(path=str(tmp_path / "studio-saved.png"), full_page=True)

        stored = banks.open_bank("nguyen-thi-hanh")
        assert stored.syllables() == set(syllables)
        # each syllable can be replayed: the page's player points at the stored unit
        first = page.locator(f'#saved li[data-syllable="{syllables[0]}"] audio')
        src = first.get_attribute("src")
        assert src
        answer = page.request.get(src)
        assert answer.status == 200 and answer.body() == stored.unit_wav(syllables[0])
        # the next sheet moves on, and the page fits a phone
        assert page.locator("#sheet .vb-syllable").first.inner_text() not in syllables
        page.set_viewport_size(PHONE)
        page.screenshot(path=str(tmp_path / "studio-phone.png"), full_page=True)
        overflow = page.evaluate(
            "document.documentElement.scrollWidth > document.documentElement.clientWidth"
        )
        assert not overflow
        browser.close()
    assert not errors, errors
