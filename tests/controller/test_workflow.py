"""The announcement workflow: draft → pending → approved / rejected → archived, with a second
person approving, and every step in the append-only audit log."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient

from controller.domain.seed import SeededCommune
from tests.controller.conftest import People


def _write(client: TestClient, people: People, submit: bool = True, who: str = "editor") -> int:
    response = client.post(
        "/api/v1/announcements",
        json={"title": "Lịch tiêm chủng", "text": "Sáng mai 7h30 tiêm chủng.", "submit": submit},
        headers=people.headers(who),
    )
    assert response.status_code == 201, response.text
    return int(response.json()["id"])


def _code(response) -> str:  # type: ignore[no-untyped-def]
    return str(response.json()["error"]["code"])


def test_a_new_announcement_is_a_draft_until_submitted(client, people):
    ann = _write(client, people, submit=False)
    assert client.get(f"/api/v1/announcements/{ann}").json()["status"] == "draft"
    submitted = client.post(f"/api/v1/announcements/{ann}/submit", headers=people.headers("editor"))
    assert submitted.json()["status"] == "pending"


def test_another_person_approves(client, people):
    ann = _write(client, people)
    response = client.post(
        f"/api/v1/announcements/{ann}/approve", headers=people.headers("approver")
    )
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "approved" and body["reviewed_by"] == people.ids["approver"]


def test_the_author_cannot_approve_their_own_announcement(client, people):
    ann = _write(client, people, who="admin")
    response = client.post(f"/api/v1/announcements/{ann}/approve", headers=people.headers("admin"))
    assert response.status_code == 403 and _code(response) == "self_approval"
    assert client.get(f"/api/v1/announcements/{ann}").json()["status"] == "pending"


def test_rejecting_needs_a_comment_and_the_author_can_fix_and_resubmit(client, people):
    ann = _write(client, people)
    url = f"/api/v1/announcements/{ann}"
    no_comment = client.post(
        f"{url}/reject", json={"comment": " "}, headers=people.headers("approver")
    )
    assert no_comment.status_code == 422 and _code(no_comment) == "comment_required"
    rejected = client.post(
        f"{url}/reject", json={"comment": "Sai ngày"}, headers=people.headers("approver")
    )
    assert rejected.json()["status"] == "rejected"
    assert rejected.json()["review_comment"] == "Sai ngày"
    edited = client.put(
        url,
        json={"title": "Lịch tiêm chủng", "text": "Sáng thứ Hai 7h30 tiêm chủng.", "submit": True},
        headers=people.headers("editor"),
    )
    assert edited.status_code == 200 and edited.json()["status"] == "pending"


def test_an_approved_announcement_cannot_be_edited(client, people):
    ann = _write(client, people)
    client.post(f"/api/v1/announcements/{ann}/approve", headers=people.headers("approver"))
    response = client.put(
        f"/api/v1/announcements/{ann}",
        json={"title": "x", "text": "y"},
        headers=people.headers("editor"),
    )
    assert response.status_code == 409 and _code(response) == "bad_status"
    assert "approved" in response.json()["error"]["message"]


@pytest.mark.parametrize("who", ["viewer", "operator"])
def test_roles_that_do_not_write_cannot_create(client, people, who):
    response = client.post(
        "/api/v1/announcements", json={"title": "t", "text": "x"}, headers=people.headers(who)
    )
    assert response.status_code == 403 and _code(response) == "forbidden"


def test_a_draft_or_rejected_announcement_cannot_be_scheduled(
    client, people, commune: SeededCommune
):
    ann = _write(client, people, submit=False)
    response = client.post(
        "/api/v1/broadcasts",
        json={
            "announcement_id": ann,
            "zone_ids": [commune.commune_id],
            "starts_at": (datetime.now(UTC) + timedelta(hours=1)).isoformat(),
        },
        headers=people.headers("editor"),
    )
    assert response.status_code == 409 and _code(response) == "announcement_not_approved"


def test_every_step_is_in_the_audit_log_with_before_and_after(client, people):
    ann = _write(client, people)
    client.post(f"/api/v1/announcements/{ann}/approve", headers=people.headers("approver"))
    entries = client.get(f"/api/v1/audit?entity=announcement&entity_id={ann}").json()
    assert [e["action"] for e in entries] == ["announcement.approve", "announcement.create"]
    approve = entries[0]
    assert approve["actor"] == f"user:{people.ids['approver']}"
    assert '"pending"' in approve["before"] and '"approved"' in approve["after"]
    csv = client.get("/api/v1/audit?format=csv")
    assert csv.headers["content-type"].startswith("text/csv")
    assert csv.text.startswith("\ufeffid,at,actor")


def test_the_audit_log_is_append_only(client, people):
    _write(client, people)
    db = client.app.state.runtime.store.db  # type: ignore[attr-defined]
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        db.execute("UPDATE audit_log SET actor = 'someone else'")
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        db.execute("DELETE FROM audit_log")


def test_only_admins_read_the_audit_log(client, people):
    response = client.get("/api/v1/audit", headers=people.headers("approver"))
    assert response.status_code == 403


def test_the_voice_choice_is_part_of_the_announcement_and_its_audit_trail(client, people):
    created = client.post(
        "/api/v1/announcements",
        json={"title": "Họp", "text": "Mời bà con họp.", "speech_rate": 110},
        headers=people.headers("editor"),
    ).json()
    ann = created["id"]
    assert (created["speech_engine"], created["speech_rate"]) == ("auto", 110)
    edited = client.put(
        f"/api/v1/announcements/{ann}",
        json={"title": "Họp", "text": "Mời bà con họp.", "speech_rate": 130},
        headers=people.headers("editor"),
    )
    assert edited.status_code == 200 and edited.json()["speech_rate"] == 130
    listed = client.get("/api/v1/announcements").json()
    assert [(a["id"], a["speech_rate"]) for a in listed] == [(ann, 130)]
    entries = client.get(f"/api/v1/audit?entity=announcement&entity_id={ann}").json()
    assert [e["action"] for e in entries] == ["announcement.edit", "announcement.create"]
    assert '"speech_rate": 110' in entries[0]["before"]
    assert '"speech_rate": 130' in entries[0]["after"]
