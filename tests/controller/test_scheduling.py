"""Recurring broadcasts, conflicts before saving, cancellation and reports, through the API."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

from fastapi.testclient import TestClient

from controller.domain.broadcasts import materialize
from controller.domain.seed import SeededCommune
from tests.controller.conftest import People

TOMORROW = (datetime.now(UTC) + timedelta(days=1)).astimezone().date()


def _approved(client: TestClient, people: People, title: str = "Bản tin sáng") -> int:
    made = client.post(
        "/api/v1/announcements",
        json={"title": title, "text": "Phát thanh buổi sáng.", "submit": True},
        headers=people.headers("editor"),
    )
    ann = int(made.json()["id"])
    client.post(f"/api/v1/announcements/{ann}/approve", headers=people.headers("approver"))
    return ann


def _daily(ann: int, zone: int, times: list[str], **extra) -> dict:  # type: ignore[no-untyped-def]
    return {
        "announcement_id": ann,
        "zone_ids": [zone],
        "rule": {
            "frequency": "daily",
            "times": times,
            "valid_from": TOMORROW.isoformat(),
            "valid_until": (TOMORROW + timedelta(days=30)).isoformat(),
        },
        **extra,
    }


def test_a_daily_program_gets_dispatches_for_occurrences_inside_the_horizon(
    client, people, commune: SeededCommune
):
    ann = _approved(client, people)
    response = client.post(
        "/api/v1/broadcasts",
        json=_daily(ann, commune.commune_id, ["06:00", "17:00"]),
        headers=people.headers("editor"),
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["summary"].startswith("Hằng ngày lúc 06:00 và 17:00")
    assert body["rrule"].startswith("DTSTART;TZID=Asia/Ho_Chi_Minh")
    # 24 h horizon from now: at most the next two occurrences x three nodes
    occurrences = {d["occurrence"] for d in body["dispatches"]}
    assert 1 <= len(occurrences) <= 2
    assert len(body["dispatches"]) == 3 * len(occurrences)

    runtime = client.app.state.runtime  # type: ignore[attr-defined]
    # noon in Vietnam three days on: the horizon then ends at noon, between 06:00 and 17:00
    later = datetime.combine(TOMORROW + timedelta(days=2), time(5, 0), tzinfo=UTC)
    assert materialize(runtime.store, runtime.settings, now=later) > 0
    detail = client.get(f"/api/v1/broadcasts/{body['id']}").json()
    assert len({d["occurrence"] for d in detail["dispatches"]}) > len(occurrences)
    assert materialize(runtime.store, runtime.settings, now=later) == 0, "idempotent"
    db = runtime.store.db
    changes = db.conn.total_changes
    # the next tick: the horizon moved a minute, with no occurrence in that minute
    assert materialize(runtime.store, runtime.settings, now=later + timedelta(minutes=1)) == 0
    assert db.conn.total_changes == changes, "a tick with nothing new to plan writes nothing"


def test_an_equal_priority_overlap_is_reported_before_saving_with_the_other_named(
    client, people, commune: SeededCommune
):
    first = _approved(client, people, "Chương trình sáng")
    second = _approved(client, people, "Thông báo họp")
    created = client.post(
        "/api/v1/broadcasts",
        json=_daily(first, commune.commune_id, ["06:00"]),
        headers=people.headers("editor"),
    )
    village = commune.nodes[0].zone_id
    clash = _daily(second, village, ["06:00"])
    check = client.post("/api/v1/broadcasts/check", json=clash, headers=people.headers("editor"))
    assert check.status_code == 200
    assert check.json()["conflicts"][0]["broadcast_id"] == created.json()["id"]
    refused = client.post("/api/v1/broadcasts", json=clash, headers=people.headers("editor"))
    assert refused.status_code == 409
    error = refused.json()["error"]
    assert error["code"] == "schedule_conflict"
    assert "Chương trình sáng" in error["message"]
    assert error["details"][0]["nodes"] == [commune.nodes[0].node_id]
    accepted = client.post(
        "/api/v1/broadcasts",
        json={**clash, "accept_conflicts": True},
        headers=people.headers("editor"),
    )
    assert accepted.status_code == 201
    urgent = client.post(
        "/api/v1/broadcasts",
        json={**_daily(second, village, ["06:00"]), "priority": "urgent"},
        headers=people.headers("editor"),
    )
    assert urgent.status_code == 201, "different priorities never conflict"


def test_bad_rules_get_the_schedule_codes(client, people, commune: SeededCommune):
    ann = _approved(client, people)
    body = _daily(ann, commune.commune_id, ["06:00"])
    body["rule"]["valid_until"] = (TOMORROW - timedelta(days=2)).isoformat()
    response = client.post("/api/v1/broadcasts", json=body, headers=people.headers("editor"))
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "window_empty"
    garbage = client.post(
        "/api/v1/broadcasts",
        json={"announcement_id": ann, "zone_ids": [commune.commune_id], "rrule": "FREQ=NOPE"},
        headers=people.headers("editor"),
    )
    assert garbage.status_code == 422 and garbage.json()["error"]["code"] == "bad_rrule"


def test_cancelling_a_broadcast_cancels_what_has_not_played(client, people, commune):
    ann = _approved(client, people)
    created = client.post(
        "/api/v1/broadcasts",
        json={
            "announcement_id": ann,
            "zone_ids": [commune.commune_id],
            "starts_at": (datetime.now(UTC) + timedelta(hours=2)).isoformat(),
        },
        headers=people.headers("editor"),
    ).json()
    cancelled = client.post(
        f"/api/v1/broadcasts/{created['id']}/cancel", headers=people.headers("approver")
    )
    assert cancelled.status_code == 200
    assert cancelled.json()["status"] == "cancelled"
    assert {d["state"] for d in cancelled.json()["dispatches"]} == {"cancelled"}
    again = client.post(
        f"/api/v1/broadcasts/{created['id']}/cancel", headers=people.headers("approver")
    )
    assert again.status_code == 409


def test_play_log_filters_and_exports_csv(client, people, commune: SeededCommune):
    ann = _approved(client, people)
    created = client.post(
        "/api/v1/broadcasts",
        json={
            "announcement_id": ann,
            "zone_ids": [commune.commune_id],
            "starts_at": (datetime.now(UTC) + timedelta(hours=1)).isoformat(),
        },
        headers=people.headers("editor"),
    ).json()
    db = client.app.state.runtime.store.db  # type: ignore[attr-defined]
    db.execute(
        "UPDATE dispatches SET state = 'played' WHERE broadcast_id = ? AND node_id = ?",
        [created["id"], commune.nodes[0].node_id],
    )
    rows = client.get(f"/api/v1/reports/plays?zone_id={commune.nodes[0].zone_id}").json()
    assert [r["node_id"] for r in rows] == [commune.nodes[0].node_id]
    delivery = client.get("/api/v1/reports/delivery").json()
    assert delivery["broadcasts"][0]["played"] == 1 and delivery["broadcasts"][0]["total"] == 3
    csv = client.get("/api/v1/reports/plays?format=csv")
    assert csv.text.startswith("\ufeffbroadcast_id,occurrence")
    assert "Thôn Lạc Xuân" in csv.text
