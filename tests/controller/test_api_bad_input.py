"""Bad input gets a 4xx with a stable code and a Vietnamese message, and nothing is written."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient

from controller.domain.seed import SeededCommune


def _counts(client: TestClient) -> tuple[int, int, int]:
    db = client.app.state.runtime.store.db  # type: ignore[attr-defined]
    return (
        db.execute("SELECT COUNT(*) FROM announcements").fetchone()[0],
        db.execute("SELECT COUNT(*) FROM broadcasts").fetchone()[0],
        db.execute("SELECT COUNT(*) FROM dispatches").fetchone()[0],
    )


def _error(response, status: int, code: str) -> dict:  # type: ignore[no-untyped-def]
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["code"] == code
    assert error["message"]
    return error


def test_requests_without_or_with_a_wrong_token_are_refused(client: TestClient):
    for headers in ({"Authorization": ""}, {"Authorization": "Bearer nope"}):
        response = client.get("/api/v1/zones", headers=headers)
        _error(response, 401, "unauthorized")


@pytest.mark.parametrize(
    ("body", "code", "field"),
    [
        ({"title": "Tin", "text": ""}, "empty_text", "text"),
        ({"title": "Tin", "text": "  \n\t "}, "empty_text", "text"),
        ({"title": " ", "text": "Nội dung"}, "empty_title", "title"),
        ({"title": "Tin", "text": "a" * 501}, "text_too_long", "text"),
    ],
)
def test_bad_announcements_are_refused_and_nothing_is_written(client, body, code, field):
    error = _error(client.post("/api/v1/announcements", json=body), 422, code)
    assert error["field"] == field
    assert _counts(client) == (0, 0, 0)


def test_vietnamese_message_names_the_limit(client):
    error = _error(
        client.post("/api/v1/announcements", json={"title": "T", "text": "a" * 501}),
        422,
        "text_too_long",
    )
    assert "500" in error["message"] and "quá dài" in error["message"]


def test_malformed_json_is_a_400_with_a_stable_code(client):
    response = client.post(
        "/api/v1/announcements",
        content=b'{"title": "x", "text": ',
        headers={"Content-Type": "application/json"},
    )
    _error(response, 400, "malformed_json")


def test_unknown_fields_and_wrong_types_are_invalid_requests(client):
    _error(client.post("/api/v1/announcements", json={"title": 1}), 422, "invalid_request")
    _error(
        client.post("/api/v1/announcements", json={"title": "a", "text": "b", "x": 1}),
        422,
        "invalid_request",
    )


def _announcement(client: TestClient) -> int:
    response = client.post(
        "/api/v1/announcements",
        json={"title": "Tiêm chủng", "text": "Sáng mai tiêm chủng.", "submit": True},
    )
    assert response.status_code == 201, response.text
    return int(response.json()["id"])


def _future(seconds: float = 60) -> str:
    return (datetime.now(UTC) + timedelta(seconds=seconds)).isoformat()


def test_broadcast_in_the_past_is_refused_and_nothing_is_written(client, commune: SeededCommune):
    ann = _announcement(client)
    response = client.post(
        "/api/v1/broadcasts",
        json={"announcement_id": ann, "zone_ids": [commune.commune_id], "starts_at": _future(-5)},
    )
    assert _error(response, 422, "in_past")["field"] == "starts_at"
    assert _counts(client) == (1, 0, 0)


def test_broadcast_time_without_offset_is_refused(client, commune: SeededCommune):
    ann = _announcement(client)
    response = client.post(
        "/api/v1/broadcasts",
        json={
            "announcement_id": ann,
            "zone_ids": [commune.commune_id],
            "starts_at": "2099-01-01T07:30:00",
        },
    )
    _error(response, 422, "time_without_offset")


def test_broadcast_to_an_unknown_zone_is_refused(client, commune: SeededCommune):
    ann = _announcement(client)
    response = client.post(
        "/api/v1/broadcasts",
        json={
            "announcement_id": ann,
            "zone_ids": [commune.commune_id, 999],
            "starts_at": _future(),
        },
    )
    error = _error(response, 404, "zone_not_found")
    assert "999" in error["message"]
    assert _counts(client) == (1, 0, 0)


def test_broadcast_of_an_unknown_announcement_is_refused(client, commune: SeededCommune):
    response = client.post(
        "/api/v1/broadcasts",
        json={"announcement_id": 42, "zone_ids": [commune.commune_id], "starts_at": _future()},
    )
    _error(response, 404, "announcement_not_found")


def test_broadcast_with_no_zones_is_refused(client, commune: SeededCommune):
    ann = _announcement(client)
    response = client.post(
        "/api/v1/broadcasts", json={"announcement_id": ann, "zone_ids": [], "starts_at": _future()}
    )
    _error(response, 422, "no_zones")


def test_unknown_broadcast_is_a_404(client):
    _error(client.get("/api/v1/broadcasts/12345"), 404, "broadcast_not_found")


def test_ids_beyond_64_bits_are_invalid_not_a_server_error(client):
    response = client.post(f"/api/v1/announcements/{2**63}/submit")
    _error(response, 422, "invalid_request")
    response = client.get(f"/api/v1/broadcasts/{2**64}")
    _error(response, 422, "invalid_request")
