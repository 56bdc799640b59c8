"""The voices page (Giọng đọc) and ``/api/v1/voices``: an admin sets the cloud voices' accounts;
keys are stored, never shown back, never in the audit log or the logs; each engine's state comes
from a real check; an announcement is spoken by FPT.AI once its key is set; the voice picker and
the announcement page name voices through ``audio.voices.voice_label``.

A real controller app on a real SQLite file; the vendors are the local fakes of their documented
wire formats (tests/audio/fakes.py): nothing here calls out."""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from audio import engines
from audio.engines import online
from controller.app import create_app
from controller.core.settings import Settings
from controller.domain import voices
from tests.audio.fakes import FakeVendors, fake_vendors
from tests.audio.helpers import make_audio
from tests.controller.conftest import People
from tests.controller.test_web import _db, _signed_in

WRONG_KEY = "wrong-key-fedcba9876543210"


@pytest.fixture(scope="module")
def mp3_reply(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    path = tmp_path_factory.mktemp("cloud") / "reply.mp3"
    make_audio(path, 1.5, "-ar", "22050", "-ac", "1", "-c:a", "libmp3lame", "-b:a", "64k")
    return path.read_bytes()


@pytest.fixture
def fake(mp3_reply: bytes) -> Iterator[FakeVendors]:
    with fake_vendors(mp3_reply) as vendors:
        yield vendors
    online.configure(None)  # the engines are process-wide: leave no account to other tests


def _audit_text(client: TestClient) -> str:
    rows = _db(client).execute("SELECT * FROM audit_log").fetchall()
    return repr(rows)


def _engine(body: dict, name: str) -> dict:  # type: ignore[type-arg]
    return next(e for e in body["engines"] if e["engine"] == name)


def test_keys_set_through_the_api_are_stored_never_shown_and_checked_for_real(
    client: TestClient, people: People, fake: FakeVendors, caplog: pytest.LogCaptureFixture
):
    caplog.set_level(logging.DEBUG)
    admin = people.headers("admin")
    before = client.get("/api/v1/voices", headers=admin)
    assert before.status_code == 200, before.text
    assert _engine(before.json(), "fpt")["state"] == "not_configured"
    assert not fake.seen, "an engine without an account is not called"

    wrong = client.put(
        "/api/v1/voices/fpt",
        json={"fpt_api_key": WRONG_KEY, "fpt_url": fake.fpt_url},
        headers=admin,
    )
    assert wrong.status_code == 200, wrong.text
    assert wrong.json()["state"] == "wrong_key"
    assert wrong.json()["changed"] == ["fpt_api_key", "fpt_url"]
    assert fake.requests("POST", "/hmi/tts/v5"), "the state comes from a real call to the fake"

    right = client.put("/api/v1/voices/fpt", json={"fpt_api_key": fake.fpt_key}, headers=admin)
    assert right.status_code == 200, right.text
    body = right.json()
    assert body["state"] == "ready"
    assert body["settings"]["fpt_api_key"] == {"set": True}
    assert body["settings"]["fpt_url"] == {"set": True, "value": fake.fpt_url}
    assert fake.requests("POST", "/hmi/tts/v5")[-1].headers["api_key"] == fake.fpt_key

    stored = voices.stored(_db(client))
    assert stored["fpt_api_key"] == fake.fpt_key
    listed = client.get("/api/v1/voices", headers=admin)
    assert _engine(listed.json(), "fpt")["state"] == "ready"
    for text in (wrong.text, right.text, listed.text, _audit_text(client), caplog.text):
        assert fake.fpt_key not in text and WRONG_KEY not in text
    audit = (
        _db(client)
        .execute("SELECT after FROM audit_log WHERE action = 'voices.save' ORDER BY id")
        .fetchall()
    )
    assert [row[0] for row in audit] == [
        '{"changed": ["fpt_api_key", "fpt_url"], "cleared": []}',
        '{"changed": ["fpt_api_key"], "cleared": []}',
    ]


def test_a_bad_value_is_refused_by_field_without_echo_and_nothing_is_written(
    client: TestClient, people: People
):
    admin = people.headers("admin")
    secret = "has space-0123456789"
    refused = client.put("/api/v1/voices/fpt", json={"fpt_api_key": secret}, headers=admin)
    assert refused.status_code == 422
    assert refused.json()["error"]["code"] == "bad_voice_setting"
    assert refused.json()["error"]["field"] == "fpt_api_key"
    assert secret not in refused.text
    both = {"fpt_api_key": "good-key-0123456789", "fpt_url": "ftp://x"}
    assert client.put("/api/v1/voices/fpt", json=both, headers=admin).status_code == 422
    other = client.put("/api/v1/voices/fpt", json={"vbee_token": "t-0123"}, headers=admin)
    assert other.status_code == 422
    unknown = client.put("/api/v1/voices/espeak-ng", json={}, headers=admin)
    assert unknown.status_code == 404
    assert voices.stored(_db(client)) == {}
    assert (
        client.put(
            "/api/v1/voices/fpt", json={"fpt_api_key": "k-0123"}, headers=people.headers("editor")
        ).status_code
        == 403
    )
    assert voices.stored(_db(client)) == {}


def test_the_page_sets_keys_shows_only_that_they_are_set_and_the_real_state(
    client: TestClient, people: People, fake: FakeVendors, caplog: pytest.LogCaptureFixture
):
    caplog.set_level(logging.DEBUG)
    browser, csrf = _signed_in(client, "admin")
    assert 'href="/voices"' in browser.get("/").text
    page = browser.get("/voices")
    assert page.status_code == 200
    assert "Chưa đặt khóa" in page.text

    saved = browser.post(
        "/voices/vbee",
        data={
            "csrf": csrf,
            "vbee_token": WRONG_KEY,
            "vbee_app_id": fake.vbee_app_id,
            "vbee_url": fake.url,
        },
    )
    assert saved.status_code == 303
    page = browser.get("/voices")
    assert 'data-engine="vbee" data-state="wrong_key"' in page.text
    assert "Khóa không đúng" in page.text

    saved = browser.post(
        "/voices/vbee",
        data={
            "csrf": csrf,
            "vbee_token": fake.vbee_token,
            "vbee_app_id": fake.vbee_app_id,
            "vbee_url": fake.url,
        },
    )
    assert saved.status_code == 303
    # a key left blank keeps the stored one (the field is never filled in)
    kept = browser.post(
        "/voices/vbee",
        data={
            "csrf": csrf,
            "vbee_token": "",
            "vbee_app_id": fake.vbee_app_id,
            "vbee_url": fake.url,
        },
    )
    assert kept.status_code == 303
    page = browser.get("/voices")
    assert 'data-engine="vbee" data-state="ready"' in page.text
    assert "đã đặt" in page.text
    assert voices.stored(_db(client))["vbee_token"] == fake.vbee_token
    for text in (page.text, _audit_text(client), caplog.text):
        assert fake.vbee_token not in text and WRONG_KEY not in text

    refused = browser.post(
        "/voices/vbee",
        data={"csrf": csrf, "vbee_token": "a b", "vbee_app_id": "x", "vbee_url": fake.url},
    )
    assert refused.status_code == 422
    assert 'id="vbee-vbee_token-error"' in refused.text
    assert voices.stored(_db(client))["vbee_token"] == fake.vbee_token, "nothing is written"
    assert voices.stored(_db(client))["vbee_app_id"] == fake.vbee_app_id

    cleared = browser.post(
        "/voices/vbee",
        data={"csrf": csrf, "clear": "1", "vbee_app_id": fake.vbee_app_id, "vbee_url": fake.url},
    )
    assert cleared.status_code == 303
    assert "vbee_token" not in voices.stored(_db(client))
    assert 'data-engine="vbee" data-state="not_configured"' in browser.get("/voices").text


def test_the_voices_page_is_for_admins_only(client: TestClient, people: People):
    for role in ("editor", "approver", "operator", "viewer"):
        browser, csrf = _signed_in(client, role)
        assert 'href="/voices"' not in browser.get("/").text
        assert browser.get("/voices").status_code == 403
        posted = browser.post("/voices/fpt", data={"csrf": csrf, "fpt_api_key": "k-0123456"})
        assert posted.status_code == 403
    assert voices.stored(_db(client)) == {}


def test_an_announcement_is_spoken_by_fpt_once_an_admin_set_its_key(
    client: TestClient, people: People, fake: FakeVendors
):
    admin = people.headers("admin")
    set_key = client.put(
        "/api/v1/voices/fpt",
        json={"fpt_api_key": fake.fpt_key, "fpt_url": fake.fpt_url},
        headers=admin,
    )
    assert set_key.json()["state"] == "ready"
    created = client.post(
        "/api/v1/announcements",
        json={
            "title": "Họp thôn",
            "text": "Kính mời bà con họp thôn lúc bảy giờ tối.",
            "submit": True,
            "speech_engine": "fpt",
            "speech_voice": "lannhi",
        },
        headers=people.headers("editor"),
    )
    assert created.status_code == 201, created.text
    ann = created.json()
    assert ann["engine"] == "fpt" and ann["voice"] == "lannhi"
    posted = fake.requests("POST", "/hmi/tts/v5")[-1]
    assert posted.headers["voice"] == "lannhi"
    assert "họp thôn" in posted.body.decode("utf-8")
    browser, _csrf = _signed_in(client, "editor")
    page = browser.get(f"/announcements/{ann['id']}")
    assert "Lan Nhi — nữ miền Nam (FPT.AI)" in page.text
    # the picker offers FPT.AI's voices by the names officials know, once it has an account
    form = browser.get("/announcements/new").text
    assert '<option value="fpt|banmai">' in form
    assert "Ban Mai — nữ miền Bắc (FPT.AI)" in form


def test_the_announcement_page_names_the_google_voice_not_espeak_ngs(
    client: TestClient, people: People
):
    """gTTS's one voice is ``vi``, which is also espeak-ng's northern male voice: the page named
    it "Giọng miền Bắc (nam)" (espeak-ng's label) until it asked ``voice_label``."""
    created = client.post(
        "/api/v1/announcements",
        json={
            "title": "Thử",
            "text": "Xin chào bà con.",
            "speech_engine": "gtts",
            "speech_voice": "vi",
        },
        headers=people.headers("editor"),
    )
    assert created.status_code == 201, created.text
    # pending without speaking it (gTTS would call Google): the page that shows the voice
    db = _db(client)
    with db.conn:
        db.execute(
            "UPDATE announcements SET status = 'pending' WHERE id = ?", [created.json()["id"]]
        )
    browser, _csrf = _signed_in(client, "editor")
    page = browser.get(f"/announcements/{created.json()['id']}")
    speech = re.search(r'<p id="speech">(.*?)</p>', page.text, re.S)
    assert speech, page.text
    assert "Giọng Google" in speech.group(1)
    assert "Giọng miền Bắc (nam)" not in speech.group(1)


def test_the_api_accepts_every_engine_that_exists(client: TestClient, people: People):
    from audio.engines import ENGINES

    schema = client.get("/api/v1/openapi.json").json()
    body = schema["components"]["schemas"]["AnnouncementIn"]["properties"]["speech_engine"]
    assert set(body["enum"]) == {"auto", *ENGINES}


def test_a_vendor_slower_than_the_check_budget_is_unreachable_and_the_page_does_not_wait_longer(
    client: TestClient, people: People, fake: FakeVendors, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setattr(voices, "CHECK_BUDGET_S", 1.0)
    fake.delay_s = 4.0
    admin = people.headers("admin")
    started = time.monotonic()
    answer = client.put(
        "/api/v1/voices/viettel",
        json={"viettel_token": fake.viettel_token, "viettel_url": fake.viettel_url},
        headers=admin,
    )
    took = time.monotonic() - started
    assert answer.status_code == 200, answer.text
    assert answer.json()["state"] == "unreachable"
    assert took < 3.5, took


def test_a_restarted_controller_configures_the_engines_from_the_stored_accounts(
    client: TestClient, people: People, fake: FakeVendors, settings: Settings
):
    set_key = client.put(
        "/api/v1/voices/fpt",
        json={"fpt_api_key": fake.fpt_key, "fpt_url": fake.fpt_url},
        headers=people.headers("admin"),
    )
    assert set_key.status_code == 200, set_key.text
    online.configure(None)  # as a new process starts: the environment's (none here)
    assert online.current().fpt is None
    create_app(settings, start_services=False)  # the same database, as after a restart
    account = online.current().fpt
    assert account is not None
    assert account.api_key.reveal() == fake.fpt_key and account.url == fake.fpt_url
    assert engines.check("fpt").state == "ready"
