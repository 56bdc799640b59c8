"""Every API route × every role, inside and outside the official's area → the right status.

The matrix is built from controller/authz.py's permission table, so a route that forgets its
check, or a role given too much, fails here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from controller.authz import PERMISSIONS
from controller.seed import SeededCommune
from tests.controller.conftest import People

Ctx = dict[str, Any]


@dataclass(frozen=True)
class Route:
    method: str
    path: str  # may use {ann}, {pending}, {broadcast}, {zone}
    permission: str
    body: Callable[[Ctx], dict[str, Any]] | None = None
    ok: int = 200


def _later(hours: float = 2) -> str:
    return (datetime.now(UTC) + timedelta(hours=hours)).isoformat()


ROUTES = [
    Route("GET", "/api/v1/zones", "read"),
    Route("GET", "/api/v1/nodes", "read"),
    Route("GET", "/api/v1/announcements", "read"),
    Route("GET", "/api/v1/announcements/{ann}", "read"),
    Route("GET", "/api/v1/broadcasts", "read"),
    Route("GET", "/api/v1/broadcasts/{broadcast}", "read"),
    Route("GET", "/api/v1/reports/plays", "read"),
    Route("GET", "/api/v1/reports/delivery", "read"),
    Route(
        "POST",
        "/api/v1/announcements",
        "announcement.write",
        lambda c: {"title": "t", "text": "x"},
        201,
    ),
    Route("POST", "/api/v1/announcements/{draft}/submit", "announcement.write"),
    Route("POST", "/api/v1/announcements/{pending}/approve", "announcement.review"),
    Route(
        "POST",
        "/api/v1/announcements/{pending}/reject",
        "announcement.review",
        lambda c: {"comment": "sai"},
    ),
    Route("POST", "/api/v1/announcements/{ann}/archive", "announcement.archive"),
    Route(
        "POST",
        "/api/v1/broadcasts",
        "broadcast.schedule",
        lambda c: {
            "announcement_id": c["ann"],
            "zone_ids": [c["zone"]],
            "starts_at": _later(),
            "accept_conflicts": True,
        },
        201,
    ),
    Route(
        "POST",
        "/api/v1/broadcasts/check",
        "broadcast.schedule",
        lambda c: {"announcement_id": c["ann"], "zone_ids": [c["zone"]], "starts_at": _later()},
    ),
    Route("POST", "/api/v1/broadcasts/{broadcast}/cancel", "broadcast.cancel"),
    Route(
        "POST",
        "/api/v1/emergency",
        "broadcast.emergency",
        lambda c: {"title": "Bão", "text": "Bão số 3.", "zone_ids": [c["zone"]]},
        201,
    ),
    Route("GET", "/api/v1/audit", "audit.read"),
    Route("GET", "/api/v1/users", "user.manage"),
    Route("GET", "/api/v1/tokens", "user.manage"),
]


def _setup(client: TestClient, people: People, zone: int) -> Ctx:
    """Fresh objects for one request: an approved, a pending and a draft announcement (by the
    editor of the whole commune) and a broadcast in ``zone``."""

    def write(submit: bool) -> int:
        made = client.post(
            "/api/v1/announcements",
            json={"title": "Tin", "text": "Nội dung.", "submit": submit},
            headers=people.headers("editor"),
        )
        return int(made.json()["id"])

    ann, pending, draft = write(True), write(True), write(False)
    client.post(f"/api/v1/announcements/{ann}/approve", headers=people.headers("approver"))
    broadcast = client.post(
        "/api/v1/broadcasts",
        json={
            "announcement_id": ann,
            "zone_ids": [zone],
            "starts_at": _later(3),
            "accept_conflicts": True,
        },
        headers=people.headers("admin"),
    )
    assert broadcast.status_code == 201, broadcast.text
    return {
        "ann": ann,
        "pending": pending,
        "draft": draft,
        "zone": zone,
        "broadcast": broadcast.json()["id"],
    }


def _call(client: TestClient, route: Route, ctx: Ctx, who: str, people: People):  # type: ignore[no-untyped-def]
    path = route.path.format(**ctx)
    body = route.body(ctx) if route.body else None
    return client.request(route.method, path, json=body, headers=people.headers(who))


@pytest.mark.parametrize("route", ROUTES, ids=lambda r: f"{r.method} {r.path}")
def test_every_role_gets_what_its_permission_allows(
    client: TestClient, people: People, commune: SeededCommune, route: Route
):
    ctx = _setup(client, people, commune.commune_id)
    for role in People.ROLES:
        if route.method != "GET":  # each role gets objects of its own to act on
            ctx = _setup(client, people, commune.commune_id)
        response = _call(client, route, ctx, role, people)
        expected = route.ok if role in PERMISSIONS[route.permission] else 403
        assert response.status_code == expected, (role, response.text)


AREA_ROUTES = [r for r in ROUTES if "{broadcast}" in r.path or "zone" in str(r.body)]


@pytest.mark.parametrize("route", AREA_ROUTES, ids=lambda r: f"{r.method} {r.path}")
def test_a_village_official_acts_inside_their_village_only(
    client: TestClient, people: People, commune: SeededCommune, route: Route
):
    who = "village_approver" if "approver" in PERMISSIONS[route.permission] else "village_editor"
    if who.split("_")[1] not in PERMISSIONS[route.permission]:
        pytest.skip("no village role holds this permission")
    inside = _call(client, route, _setup(client, people, people.village_zone), who, people)
    assert inside.status_code == route.ok, inside.text
    outside = _call(client, route, _setup(client, people, people.other_zone), who, people)
    assert outside.status_code in (403, 404), outside.text
    expected = 404 if "{broadcast}" in route.path else 403
    assert outside.status_code == expected


def test_a_village_official_sees_only_their_village(
    client: TestClient, people: People, commune: SeededCommune
):
    nodes = client.get("/api/v1/nodes", headers=people.headers("village_editor")).json()
    assert [n["id"] for n in nodes] == [commune.nodes[0].node_id]
    zones = client.get("/api/v1/zones", headers=people.headers("village_editor")).json()
    assert [z["id"] for z in zones] == [people.village_zone]
    _setup(client, people, people.other_zone)
    listed = client.get("/api/v1/broadcasts", headers=people.headers("village_editor")).json()
    assert listed == []


def test_a_revoked_token_stops_working(client: TestClient, people: People):
    made = client.post("/api/v1/tokens", json={"name": "cổng thông tin", "role": "viewer"})
    assert made.status_code == 201
    token = made.json()["token"]
    headers = {"Authorization": f"Bearer {token}"}
    assert client.get("/api/v1/zones", headers=headers).status_code == 200
    assert client.delete(f"/api/v1/tokens/{made.json()['id']}").status_code == 204
    response = client.get("/api/v1/zones", headers=headers)
    assert response.status_code == 401
    assert all(
        t["token_hash"] != token for t in client.get("/api/v1/tokens").json() if "token_hash" in t
    )


def test_a_disabled_users_tokens_stop_working(client: TestClient, people: People):
    assert client.get("/api/v1/zones", headers=people.headers("viewer")).status_code == 200
    client.patch(f"/api/v1/users/{people.ids['viewer']}", json={"disabled": True})
    assert client.get("/api/v1/zones", headers=people.headers("viewer")).status_code == 401
