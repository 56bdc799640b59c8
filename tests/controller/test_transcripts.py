"""Machine transcripts of audio with no text to compare with (issue 15 §3): an uploaded or
recorded announcement's audio and a live broadcast's recording go through the listening queue;
the transcript (``listening_checks`` with no expected text) is shown on the broadcast page, on
the announcement page and its approvals card, found by the reports' search, and offered on the
public page for citizens who cannot hear the speakers.

A real controller app on a real SQLite file, real ffmpeg audio and a real live session. The
transcribing itself needs the recognizer (viet-asr, skipped where it is not installed); the
rest is checked in CI with the store's listener being a plain list of what was queued, and
with a finished transcript written by the domain function the queue uses
(``listening.record_transcript``)."""

from __future__ import annotations

import subprocess
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from audio import listening as audio_listening
from controller.domain import listening
from controller.domain.seed import SeededCommune
from controller.services.listening import ListeningQueue
from loa.protocol import to_wire_time
from tests.controller.conftest import People
from tests.controller.test_web import _db, _signed_in
from tests.support.media import tone_mp3

HEARD = "kính thưa bà con chiều nay xã phun thuốc diệt muỗi ở thôn đông"


def _store(client: TestClient) -> Any:
    return client.app.state.runtime.store  # type: ignore[attr-defined]


def _queued(client: TestClient) -> list[tuple[str, str]]:
    """What the store's listener is told from now on (as the background queue would be)."""
    told: list[tuple[str, str]] = []
    listening.watch(_store(client), lambda sha256, text: told.append((sha256, text)))
    return told


def _upload(client: TestClient, audio: Path, *, recorded: bool, title: str = "Ghi âm") -> int:
    editor, csrf = _signed_in(client, "editor")
    response = editor.post(
        "/announcements/new",
        data={
            "csrf": csrf,
            "title": title,
            "text": "Lời chủ tịch xã",
            "action": "submit",
            **({"recorded": "1"} if recorded else {}),
        },
        files={"audio": ("ghi-am.mp3", audio.read_bytes(), "audio/mpeg")},
    )
    assert response.status_code == 303, response.text
    return int(_db(client).execute("SELECT MAX(id) FROM announcements").fetchone()[0])


def _media_of(client: TestClient, announcement_id: int) -> str:
    row = _db(client).execute(
        "SELECT media_sha256 FROM announcements WHERE id = ?", [announcement_id]
    )
    return str(row.fetchone()[0])


@pytest.mark.parametrize("recorded", [False, True], ids=["uploaded", "recorded"])
def test_uploaded_or_recorded_audio_is_queued_for_its_transcript(
    client: TestClient, people: People, tmp_path: Path, recorded: bool
):
    told = _queued(client)
    tone_mp3(tmp_path / "tone.mp3", seconds=1.0)
    announcement_id = _upload(client, tmp_path / "tone.mp3", recorded=recorded)
    sha256 = _media_of(client, announcement_id)
    assert told == [(sha256, "")], "queued once, with no text to compare with"
    row = listening.transcript_of(_db(client), sha256)
    assert row is not None and row["state"] == "queued" and row["expected"] == ""
    browser, _csrf = _signed_in(client, "approver")
    page = browser.get(f"/announcements/{announcement_id}?view=1").text
    assert 'data-listening="transcript"' in page and 'data-state="queued"' in page
    assert "Máy đang nghe bản ghi âm…" in page


def test_a_live_broadcasts_recording_is_queued_for_its_transcript(
    client: TestClient, commune: SeededCommune, tmp_path: Path
):
    told = _queued(client)
    speech = tmp_path / "mic.webm"
    subprocess.run(
        [
            *("ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-f", "lavfi"),
            *("-i", "sine=frequency=440:duration=2", "-c:a", "libopus", str(speech)),
        ],
        check=True,
    )
    made = client.post("/api/v1/live", json={"zone_ids": [commune.commune_id]})
    assert made.status_code == 201, made.text
    live = made.json()["broadcast_id"]
    with client.websocket_connect(f"/api/v1/live/{live}/ws") as ws:
        data = speech.read_bytes()
        for start in range(0, len(data), 4000):
            ws.send_bytes(data[start : start + 4000])
        ws.send_text("stop")
    deadline = time.monotonic() + 30
    while (status := client.get(f"/api/v1/live/{live}").json())["recording_sha256"] is None:
        assert time.monotonic() < deadline, status
        time.sleep(0.1)
    sha256 = status["recording_sha256"]
    deadline = time.monotonic() + 5
    while not told and time.monotonic() < deadline:  # queued right after the recording is kept
        time.sleep(0.05)
    assert told == [(sha256, "")]
    row = listening.transcript_of(_db(client), sha256)
    assert row is not None and row["state"] == "queued"


def _played_live(client: TestClient, commune: SeededCommune, sha256: str, title: str) -> int:
    """A live broadcast to the commune, played on the first node two hours ago, recorded."""
    db = _db(client)
    past = datetime.now(UTC) - timedelta(hours=2)
    broadcast_id = 901
    db["broadcasts"].insert(
        {
            "id": broadcast_id,
            "kind": "live",
            "title": title,
            "zone_ids": f"[{commune.commune_id}]",
            "status": "done",
            "priority": "normal",
            "starts_at": to_wire_time(past),
            "repeats": 1,
            "recording_sha256": sha256,
        }
    )
    db.execute(
        "INSERT INTO dispatches (broadcast_id, occurrence, node_id, play_at, state, started_at, "
        "finished_at) VALUES (?, 'o', ?, ?, 'played', ?, ?)",
        [broadcast_id, commune.nodes[0].node_id, *[to_wire_time(past)] * 3],
    )
    return broadcast_id


def test_a_transcript_shows_on_the_broadcast_page_the_public_page_and_the_reports_search(
    client: TestClient, commune: SeededCommune, people: People
):
    sha256 = "ab" * 32
    listening.record_transcript(_store(client), sha256, HEARD, recognizer="viet-asr", cpu_s=1.0)
    broadcast_id = _played_live(client, commune, sha256, "Chủ tịch xã nói trực tiếp")
    approver, _csrf = _signed_in(client, "approver")

    page = approver.get(f"/broadcasts/{broadcast_id}").text
    section = page.split('id="transcript"')[1].split("</section>")[0]
    assert 'data-state="done"' in section
    assert "Máy nghe được:" in section and HEARD in section
    assert "Bản ghi lời do máy tự nghe, có thể sai." in section

    public = TestClient(client.app).get(f"/public/{commune.nodes[0].zone_id}").text
    played = public.split('id="played-h"')[1]
    card = played.split(f'data-broadcast="{broadcast_id}"')[1].split("</article>")[0]
    assert "Chủ tịch xã nói trực tiếp" in card
    assert "Bản ghi lời (máy nghe, có thể sai)" in card and HEARD in card
    assert f"/public/{commune.nodes[0].zone_id}/audio/{broadcast_id}.mp3" in card

    def found(query: str) -> bool:
        response = approver.get("/reports", params={"since": "2020-01-01", "q": query})
        assert response.status_code == 200
        return f'href="/broadcasts/{broadcast_id}"' in response.text

    # words only the machine heard; case and Vietnamese capitals aside
    assert found("phun thuốc diệt muỗi")
    assert found("THÔN ĐÔNG")
    assert found("nói trực tiếp")  # the title still counts
    assert not found("họp dân")
    assert found("")  # no words: every row


def test_the_transcript_of_an_uploaded_announcement_is_on_its_page_and_approvals_card(
    client: TestClient, people: People, tmp_path: Path
):
    tone_mp3(tmp_path / "tone.mp3", seconds=1.0)
    announcement_id = _upload(client, tmp_path / "tone.mp3", recorded=True)
    sha256 = _media_of(client, announcement_id)
    listening.record_transcript(_store(client), sha256, HEARD, recognizer="viet-asr", cpu_s=1.0)
    approver, _csrf = _signed_in(client, "approver")

    page = approver.get(f"/announcements/{announcement_id}?view=1").text
    assert 'data-listening="transcript"' in page and 'data-state="done"' in page
    assert "Máy nghe được:" in page and HEARD in page

    approvals = approver.get("/approvals").text
    card = approvals.split(f'data-announcement="{announcement_id}"')[1].split("</article>")[0]
    section = card.split(f'id="listening-{announcement_id}"')[1].split("</section>")[0]
    assert 'data-state="done"' in section
    assert "Máy nghe được:" in section and HEARD in section


def test_the_listening_check_of_spoken_text_is_on_its_approvals_card(
    client: TestClient, people: People
):
    created = client.post(
        "/api/v1/announcements",
        json={
            "title": "Phun thuốc",
            "text": "Chiều nay xã phun thuốc diệt muỗi.",
            "submit": True,
            "speech_engine": "espeak-ng",
        },
        headers=people.headers("editor"),
    )
    assert created.status_code == 201, created.text
    ann = created.json()
    store = _store(client)
    # the row the queue finds, and the result it stores: "muỗi" heard as "mỗi"
    with store.transaction() as db:
        db["listening_checks"].upsert(
            {"sha256": ann["media_sha256"], "expected": ann["normalized_text"], "state": "queued"},
            pk="sha256",
        )
    heard = ann["normalized_text"].replace("muỗi", "mỗi")
    marks, share, wer = audio_listening.compare(ann["normalized_text"], heard)
    listening.record_result(
        store,
        ann["media_sha256"],
        audio_listening.ListeningResult(
            expected=ann["normalized_text"],
            heard_text=heard,
            words=marks,
            heard_share=share,
            word_error_rate=wer,
            speech_s=3.0,
            cpu_s=1.0,
            recognizer="viet-asr",
        ),
    )
    approver, _csrf = _signed_in(client, "approver")
    approvals = approver.get("/approvals").text
    card = approvals.split(f'data-announcement="{ann["id"]}"')[1].split("</article>")[0]
    section = card.split(f'id="listening-{ann["id"]}"')[1].split("</section>")[0]
    assert 'data-listening="check"' in section and 'data-state="done"' in section
    assert f"Máy nghe đúng {round(100 * share)}% số từ." in section
    assert section.count('<mark class="misheard"') == 1
    assert ">muỗi</mark>" in section


@pytest.mark.skipif(not audio_listening.available(), reason="viet-asr is not installed here")
def test_an_uploaded_speech_is_transcribed_in_the_background(
    client: TestClient, people: People, tmp_path: Path
):
    from audio.render import render_text
    from audio.settings import VoiceSettings

    spoken = render_text(
        "Kính thưa bà con. Chiều nay xã phun thuốc diệt muỗi.",
        tmp_path,
        VoiceSettings(engine="espeak-ng", chime=False),
    )
    store = _store(client)
    queue = ListeningQueue(store, client.app.state.runtime.settings.media_dir)  # type: ignore[attr-defined]
    assert queue.start()
    try:
        announcement_id = _upload(client, spoken.path, recorded=False)
        sha256 = _media_of(client, announcement_id)
        deadline = time.monotonic() + 240
        row = listening.transcript_of(_db(client), sha256)
        while row is not None and row["state"] == "queued" and time.monotonic() < deadline:
            time.sleep(1)
            row = listening.transcript_of(_db(client), sha256)
    finally:
        queue.stop()
    assert row is not None and row["state"] == "done", row
    assert row["heard_text"].strip()
    assert row["heard_share"] is None  # nothing to compare with
    approver, _csrf = _signed_in(client, "approver")
    page = approver.get(f"/announcements/{announcement_id}?view=1").text
    assert row["heard_text"] in page
    print(f"transcript: {row['heard_text']!r} ({row['cpu_s']:.1f} s CPU)")
