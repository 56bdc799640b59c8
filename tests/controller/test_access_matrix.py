"""Every API route × every role, inside and outside the official's area → the right status.

The matrix is built from controller/domain/authz.py's permission table, so a route that forgets its
check, or a role given too much, fails here; and every route the app serves under ``/api/v1``
and ``/streams`` must have a row (or a reason in ``NOT_ROLE_ROUTES``), so a new route cannot be
added without one.
"""

from __future__ import annotations

import itertools
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.routing import iter_route_contexts
from fastapi.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from controller.domain import cap_sources, users, zones
from controller.domain import sources as streams
from controller.domain.authz import PERMISSIONS
from controller.domain.identity import Identity
from controller.domain.seed import SeededCommune
from tests.controller.conftest import People
from tests.support.net import free_port

#: Nothing listens here: a stream source's health check fails at once (connection refused).
DEAD_URL = f"http://127.0.0.1:{free_port()}/vov1.mp3"
#: Node provisioning is for administrators (docs/api.md), not a permission of the table.
ADMIN = "admin only"
ALLOWED: dict[str, frozenset[str]] = {**PERMISSIONS, ADMIN: frozenset({"admin"})}
#: A stream source id no one saved: the relay stream answers 404 once the caller is let in (an
#: existing source would start an endless stream, which a test client cannot end).
MISSING = 987654


@dataclass(frozen=True)
class Route:
    #: GET, POST, …, or WS (a WebSocket: its "status" is 101 when accepted, else the close code)
    method: str
    #: may use the keys of ``_context``: {ann}, {pending}, {draft}, {broadcast}, {zone},
    #: {source}, {relay}, {live}, {node}, {new_node}, {join_code}, {user}, {token}, {missing},
    #: {cap_source},
    #: {cloud_engine}
    path: str
    #: a key of ``ALLOWED``: the roles that may call it
    permission: str
    body: Callable[[Ctx], dict[str, Any]] | None = None
    ok: int = 200
    #: How the route keeps to the official's area. "path": the object in the path lies in
    #: {zone} (outside the area it is not found: 404, its existence not revealed); "body": the
    #: request targets {zone} (outside: 403); None: nothing zoned.
    area: str | None = None

    @property
    def denied(self) -> int:
        return 4403 if self.method == "WS" else 403

    @property
    def hidden(self) -> int:
        return 4404 if self.method == "WS" else 404


class Ctx(dict[str, Any]):
    """Objects for one request, each made the first time a path or body asks for it."""

    def __init__(self, makers: dict[str, Callable[[], Any]]):
        super().__init__()
        self.makers = makers

    def __missing__(self, key: str) -> Any:
        value = self.makers[key]()
        self[key] = value
        return value


def _later(hours: float = 2) -> str:
    return (datetime.now(UTC) + timedelta(hours=hours)).isoformat()


_serial = itertools.count(1)


ROUTES = [
    Route("GET", "/api/v1/zones", "read"),
    Route("GET", "/api/v1/nodes", "read"),
    Route("GET", "/api/v1/nodes/{node}", "read", area="path"),
    Route("GET", "/api/v1/nodes/{node}/uptime", "read", area="path"),
    Route("GET", "/api/v1/alerts", "read"),
    Route("GET", "/api/v1/announcements", "read"),
    Route("GET", "/api/v1/announcements/{ann}", "read"),
    Route("GET", "/api/v1/announcements/{ann}/audio.mp3", "read"),
    Route("GET", "/api/v1/broadcasts", "read"),
    Route("GET", "/api/v1/broadcasts/{broadcast}", "read", area="path"),
    Route("GET", "/api/v1/reports/plays", "read"),
    Route("GET", "/api/v1/reports/delivery", "read"),
    Route("GET", "/api/v1/reports/monthly", "read"),
    Route(
        "POST",
        "/api/v1/announcements",
        "announcement.write",
        lambda c: {"title": "t", "text": "x"},
        201,
    ),
    Route(
        "PUT",
        "/api/v1/announcements/{draft}",
        "announcement.write",
        lambda c: {"title": "Tin", "text": "Nội dung mới."},
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
        area="body",
    ),
    Route(
        "POST",
        "/api/v1/broadcasts/check",
        "broadcast.schedule",
        lambda c: {"announcement_id": c["ann"], "zone_ids": [c["zone"]], "starts_at": _later()},
        area="body",
    ),
    Route("POST", "/api/v1/broadcasts/{broadcast}/cancel", "broadcast.cancel", area="path"),
    Route(
        "POST",
        "/api/v1/emergency",
        "broadcast.emergency",
        lambda c: {"title": "Bão", "text": "Bão số 3.", "zone_ids": [c["zone"]]},
        201,
        area="body",
    ),
    Route("GET", "/api/v1/audit", "audit.read"),
    Route("GET", "/api/v1/users", "user.manage"),
    Route(
        "POST",
        "/api/v1/users",
        "user.manage",
        lambda c: {
            "username": f"can-bo-{next(_serial)}",
            "password": "mat-khau-dai-hon-10",
            "role": "viewer",
        },
        201,
    ),
    Route("PATCH", "/api/v1/users/{user}", "user.manage", lambda c: {"display_name": "Người xem"}),
    Route("GET", "/api/v1/tokens", "user.manage"),
    Route(
        "POST",
        "/api/v1/tokens",
        "user.manage",
        lambda c: {"name": "cổng thông tin", "role": "viewer"},
        201,
    ),
    Route("DELETE", "/api/v1/tokens/{token}", "user.manage", ok=204),
    Route(
        "POST",
        "/api/v1/nodes",
        ADMIN,
        lambda c: {"id": f"cum-moi-{next(_serial)}", "zone_id": c["zone"]},
        201,
    ),
    Route("POST", "/api/v1/nodes/{new_node}/revoke", ADMIN),
    Route("POST", "/api/v1/nodes/{new_node}/reissue", ADMIN),
    Route(
        "POST",
        "/api/v1/join-codes",
        ADMIN,
        lambda c: {"name": f"Cụm mới {next(_serial)}", "zone_id": c["zone"]},
        201,
    ),
    Route("GET", "/api/v1/join-codes", ADMIN),
    Route("POST", "/api/v1/join-codes/{join_code}/revoke", ADMIN),
    # --- cloud voices' accounts (controller/api/voices.py); no key is set, so no check calls out
    Route("GET", "/api/v1/voices", "voices.manage"),
    Route("PUT", "/api/v1/voices/{cloud_engine}", "voices.manage", lambda c: {"fpt_url": DEAD_URL}),
    # --- streams (controller/api/streams.py, docs/streams.md) ---
    Route("GET", "/api/v1/stream-sources", "read"),
    Route(
        "POST",
        "/api/v1/stream-sources",
        "stream.source.write",
        lambda c: {"name": "Đài tỉnh", "url": DEAD_URL, "accept_unhealthy": True},
        201,
    ),
    Route("GET", "/api/v1/stream-sources/{source}", "read"),
    Route(
        "PUT",
        "/api/v1/stream-sources/{source}",
        "stream.source.write",
        lambda c: {"name": "Đài huyện", "url": DEAD_URL, "accept_unhealthy": True},
    ),
    Route("DELETE", "/api/v1/stream-sources/{source}", "stream.source.write", ok=204),
    Route("POST", "/api/v1/stream-sources/{source}/check", "read"),
    Route(
        "POST",
        "/api/v1/relays",
        "broadcast.schedule",
        lambda c: {
            "stream_source_id": c["source"],
            "zone_ids": [c["zone"]],
            "window_s": 1800,
            "starts_at": _later(),
            "accept_conflicts": True,
            "accept_unhealthy": True,  # the source is off the air (DEAD_URL)
        },
        201,
        area="body",
    ),
    Route("POST", "/api/v1/relays/{relay}/approve", "relay.review", area="path"),
    Route(
        "POST",
        "/api/v1/live",
        "broadcast.live",
        lambda c: {"zone_ids": [c["zone"]], "title": "Họp khẩn"},
        201,
        area="body",
    ),
    Route("GET", "/api/v1/live/{live}", "read", area="path"),
    Route("POST", "/api/v1/live/{live}/stop", "broadcast.live", area="path"),
    Route("WS", "/api/v1/live/{live}/ws", "broadcast.live", ok=101, area="path"),
    # Nodes' streams: a node's token or any official's. Called with an official's token, they
    # get past the check; nothing plays (no such source; no audio from the live browser yet),
    # hence 404 — a refusal would be 401 or 403 (see test_streams_take_a_node_or_an_official).
    Route("GET", "/streams/relay/{missing}.mp3", "read", ok=404),
    Route("GET", "/streams/live/{live}.mp3", "read", ok=404),
    # --- CAP alerts in (controller/api/cap.py): an official's token is no push source's, so an
    # admin gets past the check and is told to name the source (404); a push source's own
    # token is tested in tests/controller/test_cap_sources.py
    Route("POST", "/api/v1/cap", "cap.push", ok=404),
    Route("GET", "/api/v1/cap/sources", "cap.manage"),
    Route(
        "POST",
        "/api/v1/cap/sources",
        "cap.manage",
        lambda c: {"name": f"Đài tỉnh {next(_serial)}", "url": DEAD_URL},
        201,
    ),
    Route("GET", "/api/v1/cap/sources/{cap_source}", "cap.manage"),
    Route(
        "PUT",
        "/api/v1/cap/sources/{cap_source}",
        "cap.manage",
        lambda c: {"name": "Đài huyện", "url": DEAD_URL},
    ),
    Route("DELETE", "/api/v1/cap/sources/{cap_source}", "cap.manage", ok=204),
    Route("GET", "/api/v1/cap/alerts", "read"),
    Route("GET", "/api/v1/cap/policy", "read"),
    Route("PUT", "/api/v1/cap/policy", "cap.manage", lambda c: {"rules": [{"action": "log"}]}),
    Route("PUT", "/api/v1/cap/zones/{zone}", "cap.manage", lambda c: {"admin_code": ""}),
]

#: Served under /api/v1 or /streams, but not an official's to call (no role row), and why.
NOT_ROLE_ROUTES = {
    ("GET", "/api/v1/openapi.json"): "public: the API's description",
    ("GET", "/api/v1/docs"): "public: the API's documentation page",
    ("POST", "/api/v1/join"): "public: a Pi redeems its join code (tests/test_node_join.py)",
    ("POST", streams.ICECAST_AUTH_PATH): "Icecast's own request: test_icecast_auth_is_icecasts",
}

#: Cases whose route answers wrongly today, (method, path, where) → why; strict xfails, so the
#: expectation stays what the route should answer and a fix is noticed. None at present.
KNOWN_WRONG: dict[tuple[str, str, str], str] = {}


def _context(client: TestClient, people: People, zone: int) -> Ctx:
    """Fresh objects in ``zone`` for one request, made when asked for: an approved, a pending
    and a draft announcement (by the editor of the whole commune), a broadcast, a stream source,
    a live broadcast, a node, a newly added node, a user and an API token."""
    db = client.app.state.runtime.store.db  # type: ignore[attr-defined]
    admin = people.headers("admin")
    ctx: Ctx

    def write(submit: bool) -> int:
        made = client.post(
            "/api/v1/announcements",
            json={"title": "Tin", "text": "Nội dung.", "submit": submit},
            headers=people.headers("editor"),
        )
        assert made.status_code == 201, made.text
        return int(made.json()["id"])

    def approved() -> int:
        ann = write(True)
        client.post(f"/api/v1/announcements/{ann}/approve", headers=people.headers("approver"))
        return ann

    def broadcast() -> int:
        made = client.post(
            "/api/v1/broadcasts",
            json={
                "announcement_id": ctx["ann"],
                "zone_ids": [zone],
                "starts_at": _later(3),
                "accept_conflicts": True,
            },
            headers=admin,
        )
        assert made.status_code == 201, made.text
        return int(made.json()["id"])

    def source() -> int:
        runtime = client.app.state.runtime  # type: ignore[attr-defined]
        source_id, _health = streams.save_source(
            runtime.store, None, "VOV1", DEAD_URL, accept_unhealthy=True
        )
        return source_id

    def relay() -> int:
        """A relay the commune's editor scheduled: pending until an approver approves it."""
        made = client.post(
            "/api/v1/relays",
            json={
                "stream_source_id": ctx["source"],
                "zone_ids": [zone],
                "window_s": 600,
                "starts_at": _later(4),
                "accept_conflicts": True,
                "accept_unhealthy": True,
            },
            headers=people.headers("editor"),
        )
        assert made.status_code == 201, made.text
        return int(made.json()["id"])

    def live() -> int:
        made = client.post("/api/v1/live", json={"zone_ids": [zone]}, headers=admin)
        assert made.status_code == 201, made.text
        return int(made.json()["broadcast_id"])

    def new_node() -> str:
        node_id = f"cum-moi-{next(_serial)}"
        made = client.post("/api/v1/nodes", json={"id": node_id, "zone_id": zone}, headers=admin)
        assert made.status_code == 201, made.text
        return node_id

    def join_code() -> int:
        made = client.post(
            "/api/v1/join-codes",
            json={"name": f"Cụm mới {next(_serial)}", "zone_id": zone},
            headers=admin,
        )
        assert made.status_code == 201, made.text
        return int(made.json()["id"])

    def cap_source() -> int:
        source_id, _token = cap_sources.create_source(
            db,
            Identity("token", "test", "admin"),
            {"name": f"Nguồn {next(_serial)}", "url": DEAD_URL},
        )
        return source_id

    def token() -> int:
        users.create_token(db, "tích hợp", role="viewer")
        return int(db.execute("SELECT MAX(id) FROM api_tokens").fetchone()[0])

    ctx = Ctx(
        {
            "ann": approved,
            "pending": lambda: write(True),
            "draft": lambda: write(False),
            "broadcast": broadcast,
            "source": source,
            "relay": relay,
            "live": live,
            "node": lambda: zones.nodes_under(db, [zone])[0],
            "new_node": new_node,
            "join_code": join_code,
            "user": lambda: people.ids["viewer"],
            "token": token,
            "cap_source": cap_source,
            "missing": lambda: MISSING,
            "cloud_engine": lambda: "fpt",
        }
    )
    ctx["zone"] = zone
    return ctx


def _status(client: TestClient, route: Route, ctx: Ctx, headers: dict[str, str]) -> tuple[int, str]:
    path = route.path.format_map(ctx)
    if route.method == "WS":
        return _speak(client, path, headers)
    body = route.body(ctx) if route.body else None
    response = client.request(route.method, path, json=body, headers=headers)
    return response.status_code, response.text[:300]


def _speak(client: TestClient, path: str, headers: dict[str, str]) -> tuple[int, str]:
    """Open the live microphone socket; when accepted, say stop and wait for the session to
    end (its encoder drained), so nothing runs on after the test."""
    try:
        with client.websocket_connect(path, headers=headers) as ws:
            ws.send_text("stop")
            ended = ws.receive_json()
    except WebSocketDisconnect as exc:
        return exc.code, str(exc.reason)
    broadcast_id = path.split("/")[-2]
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        status = client.get(f"/api/v1/live/{broadcast_id}").json()
        if status["ended_at"]:
            break
        time.sleep(0.05)
    return 101, str(ended)


def _call(client: TestClient, route: Route, ctx: Ctx, who: str, people: People) -> tuple[int, str]:
    return _status(client, route, ctx, people.headers(who))


def _case(route: Route, where: str) -> Any:
    reason = KNOWN_WRONG.get((route.method, route.path, where))
    marks = [pytest.mark.xfail(strict=True, reason=reason)] if reason else []
    return pytest.param(route, marks=marks, id=f"{route.method} {route.path}")


def _shape(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "{}", path)


def test_every_api_route_has_a_row(client: TestClient):
    served = set()
    for route in iter_route_contexts(client.app.routes):
        path = route.path or ""
        if not path.startswith(("/api/v1/", "/streams/")):
            continue
        methods = route.methods - {"HEAD"} if route.methods else {"WS"}
        served |= {(method, _shape(path)) for method in methods}
    rows = {(r.method, _shape(r.path)) for r in ROUTES}
    assert len(rows) == len(ROUTES), "a route has two rows"
    exempt = {(method, _shape(path)) for method, path in NOT_ROLE_ROUTES}
    assert not rows & exempt
    assert served - rows - exempt == set(), "routes without a row in ROUTES"
    assert (rows | exempt) - served == set(), "rows for routes the app does not serve"


@pytest.mark.parametrize("route", [_case(r, "roles") for r in ROUTES])
def test_every_role_gets_what_its_permission_allows(
    client: TestClient, people: People, commune: SeededCommune, route: Route
):
    ctx = _context(client, people, commune.commune_id)
    for role in People.ROLES:
        if route.method != "GET":  # each role gets objects of its own to act on
            ctx = _context(client, people, commune.commune_id)
        status, text = _call(client, route, ctx, role, people)
        expected = route.ok if role in ALLOWED[route.permission] else route.denied
        assert status == expected, (role, text)


AREA_ROUTES = [r for r in ROUTES if r.area]


def _village_official(route: Route) -> str | None:
    for who in ("village_approver", "village_editor"):
        if who.split("_")[1] in ALLOWED[route.permission]:
            return who
    return None


@pytest.mark.parametrize("route", [_case(r, "inside") for r in AREA_ROUTES])
def test_a_village_official_acts_inside_their_village(
    client: TestClient, people: People, commune: SeededCommune, route: Route
):
    who = _village_official(route)
    if who is None:
        pytest.skip("no village role holds this permission")
    status, text = _call(client, route, _context(client, people, people.village_zone), who, people)
    assert status == route.ok, text


@pytest.mark.parametrize("route", [_case(r, "outside") for r in AREA_ROUTES])
def test_a_village_official_does_not_act_outside_their_village(
    client: TestClient, people: People, commune: SeededCommune, route: Route
):
    who = _village_official(route)
    if who is None:
        pytest.skip("no village role holds this permission")
    status, text = _call(client, route, _context(client, people, people.other_zone), who, people)
    assert status == (route.hidden if route.area == "path" else route.denied), text


def test_a_live_broadcast_reaching_beyond_a_village_is_seen_but_not_run_by_its_official(
    client: TestClient, people: People, commune: SeededCommune
):
    """Started by the commune for two villages: the village approver sees it (one of the
    villages is theirs) but may neither speak into it nor stop it."""
    zones = [people.village_zone, people.other_zone]
    made = client.post("/api/v1/live", json={"zone_ids": zones}, headers=people.headers("admin"))
    assert made.status_code == 201, made.text
    live = made.json()["broadcast_id"]
    village = people.headers("village_approver")
    assert client.get(f"/api/v1/live/{live}", headers=village).status_code == 200
    stop = client.post(f"/api/v1/live/{live}/stop", headers=village)
    assert (stop.status_code, stop.json()["error"]["code"]) == (403, "outside_area")
    assert _speak(client, f"/api/v1/live/{live}/ws", village) == (4403, "outside_area")
    assert client.get(f"/api/v1/live/{live}").json()["ended_at"] is None, "still open"
    assert client.post(f"/api/v1/live/{live}/stop", headers=people.headers("admin")).is_success


def test_streams_take_a_node_or_an_official(
    client: TestClient, people: People, commune: SeededCommune
):
    """The streams nodes play: a node's token or an official's, nothing else."""
    ctx = _context(client, people, commune.commune_id)
    node = {"Authorization": f"Bearer {commune.nodes[0].secret}"}
    anonymous = TestClient(client.app)  # the fixture's client sends a token with every request
    for route in ROUTES:
        if not route.path.startswith("/streams/"):
            continue
        assert _status(anonymous, route, ctx, node)[0] == route.ok, route.path
        assert _status(anonymous, route, ctx, {})[0] == 401, route.path
        assert _status(anonymous, route, ctx, {"Authorization": "Bearer sai"})[0] == 401
    # a node's token is not an official's: it opens no API route
    assert client.get("/api/v1/stream-sources", headers=node).status_code == 401


def test_icecast_auth_is_icecasts(
    client: TestClient, people: People, commune: SeededCommune, monkeypatch: pytest.MonkeyPatch
):
    """Icecast asks whether a listener may have a mount, signed with its source password; an
    official's token or a node's does not make that request."""
    path = streams.ICECAST_AUTH_PATH
    listener = {"action": "listener_add", "mount": "/relay-1.mp3", "pass": commune.nodes[0].secret}
    monkeypatch.setattr(streams, "CONFIG", streams.StreamConfig("http://source:bi-mat@127.0.0.1:1"))
    for role in People.ROLES:
        assert client.post(path, data=listener, headers=people.headers(role)).status_code == 401
    anonymous = TestClient(client.app)  # the fixture's client sends a token with every request
    node = {"Authorization": f"Bearer {commune.nodes[0].secret}"}
    assert anonymous.post(path, data=listener, headers=node).status_code == 401
    assert anonymous.post(path, data=listener).status_code == 401
    icecast = anonymous.post(path, data=listener, auth=("icecast", "bi-mat"))
    assert icecast.status_code == 200 and icecast.headers.get("icecast-auth-user") == "1"
    stranger = anonymous.post(path, data={**listener, "pass": "sai"}, auth=("icecast", "bi-mat"))
    assert stranger.status_code == 200 and "icecast-auth-user" not in stranger.headers


def test_a_village_official_sees_only_their_village(
    client: TestClient, people: People, commune: SeededCommune
):
    nodes = client.get("/api/v1/nodes", headers=people.headers("village_editor")).json()
    assert [n["id"] for n in nodes] == [commune.nodes[0].node_id]
    zones_seen = client.get("/api/v1/zones", headers=people.headers("village_editor")).json()
    assert [z["id"] for z in zones_seen] == [people.village_zone]
    assert _context(client, people, people.other_zone)["broadcast"]
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
