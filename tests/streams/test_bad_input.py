"""Bad stream input gets a clear Vietnamese error before anything is saved (controller app on a
real SQLite file; a real tone station, a real dead port, real ffprobe)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest
from fastapi.testclient import TestClient

from controller.domain import sources as streams
from controller.domain.seed import SeededCommune
from tests.controller.conftest import app_client, settings  # noqa: F401 - fixtures
from tests.streams.tone import ToneStation
from tests.support.net import free_port


def _source(client: TestClient, url: str, **extra: object) -> object:
    return client.post("/api/v1/stream-sources", json={"name": "VOV1", "url": url, **extra})


def _relay(client: TestClient, commune: SeededCommune, source_id: int, **extra: object) -> object:
    body = {
        "stream_source_id": source_id,
        "zone_ids": [commune.commune_id],
        "starts_at": (datetime.now(UTC) + timedelta(hours=1)).isoformat(),
        "window_s": 1800,
        **extra,
    }
    return client.post("/api/v1/relays", json=body)


def test_stream_sources_are_checked_before_they_are_saved(
    app_client: tuple[TestClient, SeededCommune],  # noqa: F811
    station: ToneStation,
):
    client, _ = app_client
    off_air = f"http://127.0.0.1:{free_port()}/vov1.mp3"
    dead = _source(client, off_air)
    assert dead.status_code == 422
    assert dead.json()["error"]["code"] == "stream_unreachable"
    assert "Không kết nối được" in dead.json()["error"]["message"]

    html = _source(client, station.path_url("/page.html"))
    assert html.status_code == 422
    assert html.json()["error"]["code"] == "stream_wrong_type"
    assert "text/html" in html.json()["error"]["message"]

    stalled = _source(client, station.path_url("/stall.mp3"))
    assert stalled.status_code == 422
    assert stalled.json()["error"]["code"] == "stream_stalled"

    not_http = _source(client, "file:///etc/passwd")
    assert not_http.json()["error"]["code"] == "stream_bad_url"
    assert client.get("/api/v1/stream-sources").json() == []

    # the station is off the air today, but the operator knows it and saves it anyway
    kept = _source(client, off_air, accept_unhealthy=True)
    assert kept.status_code == 201
    assert kept.json()["health"]["reachable"] is False
    assert kept.json()["health"]["error"]

    good = _source(client, station.url)
    assert good.status_code == 201, good.text
    health = good.json()["health"]
    assert health == {**health, "reachable": True, "codec": "mp3", "content_type": "audio/mpeg"}
    assert 60_000 <= health["bitrate"] <= 70_000
    rechecked = client.post(f"/api/v1/stream-sources/{good.json()['id']}/check").json()
    assert rechecked["health"]["reachable"] is True
    assert rechecked["health"]["checked_at"] >= health["checked_at"]


def test_relay_windows_are_checked_like_broadcasts(
    app_client: tuple[TestClient, SeededCommune],  # noqa: F811
    station: ToneStation,
):
    client, commune = app_client
    source_id = _source(client, station.url).json()["id"]

    past = _relay(
        client,
        commune,
        source_id,
        starts_at=(datetime.now(UTC) - timedelta(minutes=5)).isoformat(),
    )
    assert past.status_code == 422 and past.json()["error"]["code"] == "in_past"

    too_short = _relay(client, commune, source_id, window_s=1)
    assert too_short.json()["error"]["code"] == "bad_window"
    missing = _relay(client, commune, 999)
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "stream_source_not_found"

    first = _relay(client, commune, source_id)
    assert first.status_code == 201, first.text
    assert first.json()["kind"] == "relay" and first.json()["window_s"] == 1800
    assert len(first.json()["dispatches"]) == len(commune.nodes)

    # 20 minutes into the first window, at the same priority: refused, with the clash named
    starts = datetime.fromisoformat(first.json()["starts_at"]) + timedelta(minutes=20)
    clash = _relay(client, commune, source_id, starts_at=starts.isoformat())
    assert clash.status_code == 409
    assert clash.json()["error"]["code"] == "schedule_conflict"
    assert clash.json()["error"]["details"][0]["broadcast_id"] == first.json()["id"]

    # right after the window: no clash; urgent over it: allowed (it preempts on the node)
    after = _relay(
        client,
        commune,
        source_id,
        starts_at=(starts + timedelta(minutes=10, seconds=1)).isoformat(),
    )
    assert after.status_code == 201, after.text
    urgent = _relay(client, commune, source_id, starts_at=starts.isoformat(), priority="urgent")
    assert urgent.status_code == 201, urgent.text

    listed = {b["id"]: b for b in client.get("/api/v1/broadcasts").json()}
    assert listed[first.json()["id"]]["kind"] == "relay"
    assert listed[first.json()["id"]]["title"] == "Tiếp sóng VOV1"


def test_live_needs_the_live_permission_and_a_session(
    app_client: tuple[TestClient, SeededCommune],  # noqa: F811
):
    from tests.controller.conftest import People

    client, commune = app_client
    people = People(client, commune)
    body = {"zone_ids": [commune.commune_id], "title": "Họp khẩn"}
    for role, expected in [("editor", 403), ("operator", 403), ("viewer", 403), ("approver", 201)]:
        r = client.post("/api/v1/live", json=body, headers=people.headers(role))
        assert r.status_code == expected, (role, r.text)
    assert client.get("/api/v1/live/999").status_code == 404
    assert client.get("/streams/live/999.mp3").status_code == 404
    bad_token = {"Authorization": "Bearer nope"}
    assert client.get("/streams/live/1.mp3", headers=bad_token).status_code == 401


def test_a_daily_relay_gets_a_window_on_every_node_each_morning(
    app_client: tuple[TestClient, SeededCommune],  # noqa: F811
    station: ToneStation,
):
    client, commune = app_client
    source_id = _source(client, station.url).json()["id"]
    today = datetime.now(UTC).date()
    made = client.post(
        "/api/v1/relays",
        json={
            "stream_source_id": source_id,
            "zone_ids": [commune.commune_id],
            "window_s": 1800,
            "rule": {
                "frequency": "daily",
                "times": ["06:00"],
                "valid_from": today.isoformat(),
                "valid_until": (today + timedelta(days=10)).isoformat(),
            },
        },
    )
    assert made.status_code == 201, made.text
    relay = made.json()
    assert relay["rrule"] and relay["kind"] == "relay"
    # the delivery horizon (24 h) holds one 06:00 local window per node
    assert len(relay["dispatches"]) == len(commune.nodes)
    assert {d["play_at"][11:16] for d in relay["dispatches"]} == {"23:00"}  # 06:00 +07:00
    # a second relay at 06:15 every day clashes with that window
    clash = client.post(
        "/api/v1/relays",
        json={
            "stream_source_id": source_id,
            "zone_ids": [commune.commune_id],
            "window_s": 600,
            "rule": {"frequency": "daily", "times": ["06:15"], "valid_from": today.isoformat()},
        },
    )
    assert clash.status_code == 409, clash.text


def test_icecast_asks_with_its_own_password_and_gets_an_answer_per_token(
    app_client: tuple[TestClient, SeededCommune],  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
):
    """What Icecast's URL authentication posts (the Icecast end of it: test_icecast)."""
    client, commune = app_client
    monkeypatch.setattr(
        streams, "CONFIG", streams.StreamConfig(icecast_url="http://source:p%40ss@ice:8000")
    )
    node = commune.nodes[0]
    form = {
        "action": "listener_add",
        "mount": "/relay-1.mp3",
        "user": "",
        "pass": "",
        "ip": "10.8.0.7",
        "ClientHeader.authorization": f"Bearer {node.secret}",
    }

    def ask(auth: tuple[str, str] | None, **fields: str) -> httpx.Response:
        return client.post(streams.ICECAST_AUTH_PATH, data={**form, **fields}, auth=auth)

    icecast = ("icecast", "p@ss")
    # only Icecast, with the source password, may ask
    assert ask(None).status_code == 401
    assert ask(("icecast", "wrong")).status_code == 401
    assert ask(("icécast", "p@ss")).status_code == 401
    assert "icecast-auth-user" not in ask(("source", "p@ss")).headers
    allowed = ask(icecast)
    assert allowed.status_code == 200 and allowed.headers["icecast-auth-user"] == "1"
    # a Basic password is taken as the token (players that cannot send a bearer token)
    basic = ask(icecast, **{"ClientHeader.authorization": "", "pass": node.secret})
    assert basic.headers.get("icecast-auth-user") == "1"
    for refused in (
        ask(icecast, **{"ClientHeader.authorization": ""}),
        ask(icecast, **{"ClientHeader.authorization": "Bearer not-a-token"}),
        ask(icecast, mount="/live-3.mp3?x=1", **{"ClientHeader.authorization": ""}),
    ):
        assert refused.status_code == 200
        assert "icecast-auth-user" not in refused.headers
        assert refused.headers["icecast-auth-message"] in ("no token", "unknown or revoked token")
    # Icecast's own pages are open
    page = ask(icecast, mount="/status-json.xsl", **{"ClientHeader.authorization": ""})
    assert page.headers.get("icecast-auth-user") == "1"
