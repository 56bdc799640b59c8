"""Issue 12, accounts: an admin limited to a zone stays in it (finding 5); sessions end on the
server at sign-out and password change; the API wants bearer auth or a same-origin proof for
cookie-authenticated writes; unknown user names cost a password hash; old sign-in attempts are
pruned. All against the real app on a real SQLite file."""

from __future__ import annotations

import statistics
import time
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient

from controller.core.db import insert
from controller.domain import users
from controller.domain.seed import SeededCommune
from loa.protocol import to_wire_time, utcnow
from tests.controller.conftest import People, _password_hash
from tests.controller.test_web import _browser, _csrf, _login, _signed_in


def _db(client: TestClient):  # type: ignore[no-untyped-def]
    return client.app.state.runtime.store.db  # type: ignore[attr-defined]


@pytest.fixture
def village_admin(client: TestClient, people: People) -> dict[str, str]:
    """An admin limited to the first village, with a personal token."""
    db = _db(client)
    user_id = insert(
        db,
        "users",
        {
            "username": "village_admin",
            "display_name": "village_admin",
            "password_hash": _password_hash(),
            "role": "admin",
            "zone_id": people.village_zone,
            "disabled": 0,
        },
    )
    people.ids["village_admin"] = user_id
    return {"Authorization": f"Bearer {users.create_token(db, 'va', user_id=user_id)}"}


# --- finding 5: an admin limited to a zone ------------------------------------------------------


def test_zone_admin_cannot_lift_own_zone_limit(
    client: TestClient, people: People, village_admin: dict[str, str]
):
    me = people.ids["village_admin"]
    response = client.patch(f"/api/v1/users/{me}", json={"zone_id": None}, headers=village_admin)
    assert response.status_code == 403, response.text
    assert response.json()["error"]["code"] == "outside_area"
    other = client.patch(
        f"/api/v1/users/{me}", json={"zone_id": people.other_zone}, headers=village_admin
    )
    assert other.status_code == 403
    assert users.get_user(_db(client), me)["zone_id"] == people.village_zone  # type: ignore[index]


def test_zone_admin_makes_accounts_only_inside_the_area(
    client: TestClient, people: People, village_admin: dict[str, str]
):
    body = {"username": "everywhere", "password": "mat-khau-dai-123", "role": "admin"}
    assert client.post("/api/v1/users", json=body, headers=village_admin).status_code == 403
    body |= {"username": "elsewhere", "zone_id": people.other_zone}
    assert client.post("/api/v1/users", json=body, headers=village_admin).status_code == 403
    body |= {"username": "inside", "zone_id": people.village_zone}
    assert client.post("/api/v1/users", json=body, headers=village_admin).status_code == 201
    names = {u["username"] for u in client.get("/api/v1/users", headers=village_admin).json()}
    assert names == {"village_admin", "village_editor", "village_approver", "inside"}
    # Accounts outside the area are not found, and cannot be changed.
    admin = people.ids["admin"]
    response = client.patch(
        f"/api/v1/users/{admin}", json={"disabled": True}, headers=village_admin
    )
    assert response.status_code == 404
    assert users.get_user(_db(client), admin) is not None


def test_zone_admin_cannot_mint_an_unlimited_token(
    client: TestClient, people: People, village_admin: dict[str, str]
):
    integration = {"name": "x", "role": "admin"}
    response = client.post("/api/v1/tokens", json=integration, headers=village_admin)
    assert response.status_code == 403, response.text
    as_admin = {"name": "x", "user_id": people.ids["admin"]}
    assert client.post("/api/v1/tokens", json=as_admin, headers=village_admin).status_code == 404
    own = {"name": "mine", "user_id": people.ids["village_editor"]}
    assert client.post("/api/v1/tokens", json=own, headers=village_admin).status_code == 201
    listed = client.get("/api/v1/tokens", headers=village_admin).json()
    assert {t["user_id"] for t in listed} <= {
        people.ids["village_admin"],
        people.ids["village_editor"],
        people.ids["village_approver"],
    }
    admin_token = next(
        t["id"] for t in client.get("/api/v1/tokens").json() if t["user_id"] == people.ids["admin"]
    )
    assert client.delete(f"/api/v1/tokens/{admin_token}", headers=village_admin).status_code == 404


def test_zone_admin_cannot_touch_nodes_of_another_zone(
    client: TestClient, commune: SeededCommune, people: People, village_admin: dict[str, str]
):
    other_node = commune.nodes[1].node_id
    response = client.post(f"/api/v1/nodes/{other_node}/reissue", headers=village_admin)
    assert response.status_code == 404, response.text
    assert "secret" not in response.text
    assert client.post(f"/api/v1/nodes/{other_node}/revoke", headers=village_admin).status_code == (
        404
    )
    add = {"id": "moi-1", "zone_id": people.other_zone}
    assert client.post("/api/v1/nodes", json=add, headers=village_admin).status_code == 403
    row = _db(client).execute("SELECT revoked FROM nodes WHERE id = ?", [other_node]).fetchone()
    assert row[0] == 0


def test_zone_admin_reads_only_the_audit_of_their_area(
    client: TestClient, people: People, village_admin: dict[str, str]
):
    client.post(
        "/api/v1/users",
        json={"username": "by-admin", "password": "mat-khau-dai-123", "role": "viewer"},
        headers=people.headers("admin"),
    )
    client.post(
        "/api/v1/users",
        json={
            "username": "by-village",
            "password": "mat-khau-dai-123",
            "role": "viewer",
            "zone_id": people.village_zone,
        },
        headers=village_admin,
    )
    entries = client.get("/api/v1/audit", headers=village_admin).json()
    actors = {e["actor_id"] for e in entries}
    assert actors == {people.ids["village_admin"]}, entries
    everything = client.get("/api/v1/audit", headers=people.headers("admin")).json()
    assert people.ids["admin"] in {e["actor_id"] for e in everything}


def test_zone_admin_users_page_lists_only_the_area(
    client: TestClient, people: People, village_admin: dict[str, str]
):
    browser, _ = _signed_in(client, "village_admin")
    page = browser.get("/users").text
    assert 'data-user="village_editor"' in page
    assert 'data-user="admin"' not in page and 'data-user="viewer"' not in page


# --- sessions end on the server -----------------------------------------------------------------


def test_session_cookie_is_dead_after_logout(client: TestClient, people: People):
    browser, csrf = _signed_in(client, "editor")
    stolen = dict(browser.cookies)
    assert browser.post("/logout", data={"csrf": csrf}).status_code == 303
    replay = TestClient(client.app, follow_redirects=False, cookies=stolen)
    assert replay.get("/").headers.get("location") == "/login"
    assert replay.get("/api/v1/announcements").status_code == 401


def test_session_cookie_is_dead_after_password_change(client: TestClient, people: People):
    browser, _ = _signed_in(client, "editor")
    assert browser.get("/").status_code == 200
    change = {"password": "mat-khau-moi-456"}
    response = client.patch(f"/api/v1/users/{people.ids['editor']}", json=change)
    assert response.status_code == 200
    assert browser.get("/").headers.get("location") == "/login"


# --- cookie-authenticated API writes need a same-origin proof -----------------------------------


def test_api_write_with_cookie_needs_csrf_or_same_origin(client: TestClient, people: People):
    browser, csrf = _signed_in(client, "editor")
    body = {"title": "Tin", "text": "Họp thôn lúc bảy giờ.", "category": "thong_bao"}
    forged = browser.post("/api/v1/announcements", json=body, headers={"Origin": "https://evil"})
    assert forged.status_code == 403, forged.text
    assert forged.json()["error"]["code"] == "csrf"
    bare = browser.post("/api/v1/announcements", json=body)
    assert bare.status_code == 403
    with_token = browser.post("/api/v1/announcements", json=body, headers={"X-CSRF-Token": csrf})
    assert with_token.status_code == 201, with_token.text
    same_origin = browser.post(
        "/api/v1/announcements", json=body, headers={"Origin": "http://testserver"}
    )
    assert same_origin.status_code == 201, same_origin.text
    assert browser.get("/api/v1/announcements").status_code == 200  # reads need no proof


# --- sign-in timing and pruning -----------------------------------------------------------------


def test_unknown_user_name_costs_a_password_hash(client: TestClient, people: People):
    def timed(username: str) -> float:
        start = time.perf_counter()
        response = _login(_browser(client), username, "sai-mat-khau-000")
        assert response.status_code == 401
        return time.perf_counter() - start

    known = statistics.median(timed(n) for n in ("viewer", "operator", "approver"))
    unknown = statistics.median(timed(f"khong-co-{i}") for i in range(3))
    assert unknown > 0.5 * known, (unknown, known)


def test_old_sign_in_attempts_are_pruned(client: TestClient, people: People):
    db = _db(client)
    old = to_wire_time(utcnow() - timedelta(days=2))
    db.execute(
        "INSERT INTO login_attempts (username, ip, at, ok) VALUES ('cu', '10.0.0.9', ?, 0)", [old]
    )
    _login(_browser(client), "viewer", "sai-mat-khau-000")
    rows = db.execute("SELECT username FROM login_attempts").fetchall()
    assert [r[0] for r in rows] == ["viewer"]
    assert _csrf  # the helper module is the web tests' own


def test_the_live_page_sends_the_csrf_token_with_its_api_call(client: TestClient, people: People):
    browser, csrf = _signed_in(client, "approver")
    page = browser.get("/live").text
    assert f'"X-CSRF-Token": "{csrf}"' in page
    body = {"zone_ids": [people.village_zone], "title": "Trực tiếp"}
    refused = browser.post("/api/v1/live", json=body)
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "csrf"
    allowed = browser.post("/api/v1/live", json=body, headers={"X-CSRF-Token": csrf})
    assert allowed.status_code == 201, allowed.text
