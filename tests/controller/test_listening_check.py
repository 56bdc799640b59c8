"""The machine listening check in the controller: an announcement's speech is transcribed in the
background by one worker (viet-asr, when installed), the share of words heard and the misheard
words are stored by the audio's sha256 and shown on the announcement page; saving never waits.

A real controller app on a real SQLite file, real espeak-ng speech and the real recognizer
(skipped where viet-asr is not installed); the page's "not installed" words are checked with
the recognizer hidden from ``audio.listening.available``'s lookup."""

from __future__ import annotations

import time

import pytest
from fastapi.testclient import TestClient

from audio import listening as audio_listening
from controller.domain import listening
from controller.services.listening import ListeningQueue
from tests.controller.conftest import People
from tests.controller.test_web import _db, _signed_in

TEXT = "Kính thưa bà con. Chiều nay xã phun thuốc diệt muỗi ở thôn Đông."


def _submit(client: TestClient, people: People) -> dict:  # type: ignore[type-arg]
    created = client.post(
        "/api/v1/announcements",
        json={"title": "Phun thuốc", "text": TEXT, "submit": True, "speech_engine": "espeak-ng"},
        headers=people.headers("editor"),
    )
    assert created.status_code == 201, created.text
    return dict(created.json())


@pytest.mark.skipif(not audio_listening.available(), reason="viet-asr is not installed here")
def test_the_speech_is_checked_in_the_background_and_shown_on_the_page(
    client: TestClient, people: People
):
    store = client.app.state.runtime.store  # type: ignore[attr-defined]
    queue = ListeningQueue(store, client.app.state.runtime.settings.media_dir)  # type: ignore[attr-defined]
    assert queue.start()
    try:
        started = time.monotonic()
        ann = _submit(client, people)
        saved_in = time.monotonic() - started
        check = listening.check_of(_db(client), ann["media_sha256"])
        assert check is not None and check["state"] in ("queued", "done")
        assert check["expected"] == ann["normalized_text"]
        deadline = time.monotonic() + 240
        while check["state"] == "queued" and time.monotonic() < deadline:
            time.sleep(1)
            check = listening.check_of(_db(client), ann["media_sha256"])
            assert check is not None
        assert check["state"] == "done", check
        took = time.monotonic() - started
    finally:
        queue.stop()
    assert saved_in < took, "saving did not wait for the check"
    assert 0 < check["heard_share"] <= 1
    words = [w["word"] for w in check["words"]]
    assert words[:3] == ["kính", "thưa", "bà"]
    browser, _csrf = _signed_in(client, "approver")
    page = browser.get(f"/announcements/{ann['id']}").text
    assert 'data-state="done"' in page
    share = round(100 * check["heard_share"])
    assert f"Máy nghe đúng {share}% số từ." in page
    misheard = [w["word"] for w in check["words"] if not w["heard"]]
    assert page.count('<mark class="misheard"') == len(misheard)
    print(f"heard {share}% in {took:.1f} s (saved in {saved_in:.1f} s)")


def test_without_the_recognizer_nothing_is_queued_and_the_page_says_so(
    client: TestClient, people: People, monkeypatch: pytest.MonkeyPatch
):
    # the lookup of the recognizer's package finds nothing, as on a controller without it
    monkeypatch.setattr(audio_listening, "RECOGNIZER", "loa_no_such_recognizer")
    assert not audio_listening.available()
    store = client.app.state.runtime.store  # type: ignore[attr-defined]
    queue = ListeningQueue(store, client.app.state.runtime.settings.media_dir)  # type: ignore[attr-defined]
    assert not queue.start()
    ann = _submit(client, people)
    assert listening.check_of(_db(client), ann["media_sha256"]) is None
    browser, _csrf = _signed_in(client, "approver")
    page = browser.get(f"/announcements/{ann['id']}").text
    assert 'data-state="not_installed"' in page
    assert "Máy nghe kiểm tra (viet-asr) chưa được cài trên máy chủ này." in page
