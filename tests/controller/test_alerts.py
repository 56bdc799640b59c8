"""Alerts on a real SQLite file: when each kind opens and closes; the alert list in the API; the
webhook against a real local HTTP server (retries with backoff, never blocks)."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from controller.core.db import Store, insert
from controller.core.settings import Settings
from controller.domain import fleet
from controller.domain.seed import SeededCommune, seed_commune
from controller.services import alerts
from loa.protocol import State, Telemetry, to_wire_time
from tests.support.net import wait_until
from tests.support.webhook import WebhookServer

NOW = datetime(2026, 11, 27, 6, 0, tzinfo=UTC)
NODE = "lac-xuan-1"
OTHER = "lac-binh-1"


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path, alert_offline_minutes=10, alert_clock_offset_ms=500)


@pytest.fixture
def store(settings: Settings) -> Store:
    s = Store(settings.db_path)
    seed_commune(s)
    return s


def open_kinds(store: Store) -> set[tuple[str, str]]:
    return {(a["kind"], a["node_id"]) for a in alerts.list_alerts(store.db)}


def test_node_offline_longer_than_threshold_opens_an_alert_and_reconnecting_closes_it(
    store: Store, settings: Settings
) -> None:
    db = store.db
    fleet.record_status(db, NODE, False, "will", NOW - timedelta(minutes=11))
    fleet.record_status(db, OTHER, False, "will", NOW - timedelta(minutes=5))
    opened = alerts.evaluate(store, settings, NOW)
    assert [(e, a["kind"], a["node_id"]) for e, a in opened] == [("opened", "node_offline", NODE)]
    assert "mất kết nối" in opened[0][1]["message"]
    assert alerts.evaluate(store, settings, NOW + timedelta(seconds=10)) == []  # not twice
    # the other node crosses the threshold later
    later = alerts.evaluate(store, settings, NOW + timedelta(minutes=6))
    assert [(a["node_id"]) for _, a in later] == [OTHER]

    fleet.record_status(db, NODE, True, "connected", NOW + timedelta(minutes=7))
    closed = alerts.evaluate(store, settings, NOW + timedelta(minutes=7))
    assert [(e, a["node_id"]) for e, a in closed] == [("closed", NODE)]
    assert open_kinds(store) == {("node_offline", OTHER)}


def _failed_dispatch(store: Store, node_id: str, error: str, at: datetime, state: str) -> int:
    db = store.db
    ann = insert(db, "announcements", {"title": "Tin", "text": "x", "status": "approved"})
    bid = insert(
        db,
        "broadcasts",
        {
            "announcement_id": ann,
            "zone_ids": "[]",
            "starts_at": to_wire_time(at),
            "priority": "normal",
            "max_late_s": 30.0,
            "repeats": 1,
            "status": "active",
        },
    )
    insert(
        db,
        "dispatches",
        {
            "broadcast_id": bid,
            "occurrence": to_wire_time(at),
            "node_id": node_id,
            "play_at": to_wire_time(at),
            "state": state,
            "error": error,
            "updated_at": to_wire_time(at),
        },
    )
    return bid


def test_media_failure_opens_an_alert_and_a_later_successful_play_closes_it(
    store: Store, settings: Settings
) -> None:
    failed = _failed_dispatch(
        store, NODE, "media: sha256 mismatch", NOW - timedelta(minutes=2), "failed"
    )
    # a failure for another reason is no media alert
    _failed_dispatch(store, OTHER, "bad_signature: nope", NOW - timedelta(minutes=2), "failed")
    opened = alerts.evaluate(store, settings, NOW)
    assert [(a["kind"], a["node_id"], a["broadcast_id"]) for _, a in opened] == [
        ("media_failed", NODE, failed)
    ]
    assert "sha256 mismatch" in opened[0][1]["message"]
    _failed_dispatch(store, NODE, "", NOW + timedelta(minutes=1), "played")
    closed = alerts.evaluate(store, settings, NOW + timedelta(minutes=1))
    assert [(e, a["kind"]) for e, a in closed] == [("closed", "media_failed")]
    # the same old failure does not open it again
    assert alerts.evaluate(store, settings, NOW + timedelta(minutes=2)) == []
    # a new one does
    _failed_dispatch(
        store, NODE, "media unavailable: timeout", NOW + timedelta(minutes=3), "failed"
    )
    again = alerts.evaluate(store, settings, NOW + timedelta(minutes=3))
    assert [(e, a["kind"]) for e, a in again] == [("opened", "media_failed")]


def _heartbeat(store: Store, node_id: str, at: datetime, **clock: object) -> None:
    db = store.db
    fleet.apply_state(db, State(node=node_id, online=True, at=at), at)
    fleet.apply_telemetry(
        db,
        Telemetry(node=node_id, at=at, uptime_s=5, version="1", interval_s=30, **clock),  # type: ignore[arg-type]
        at,
    )


def test_clock_alert_opens_for_an_unsynchronised_or_offset_clock_and_closes_when_fine(
    store: Store, settings: Settings
) -> None:
    _heartbeat(store, NODE, NOW, clock_synced=False, clock_offset_ms=10)
    _heartbeat(store, OTHER, NOW, clock_synced=True, clock_offset_ms=-800)
    _heartbeat(store, "dong-thanh-1", NOW, clock_synced=True, clock_offset_ms=120)
    opened = alerts.evaluate(store, settings, NOW)
    assert {(a["kind"], a["node_id"]) for _, a in opened} == {
        ("clock_unsynced", NODE),
        ("clock_unsynced", OTHER),
    }
    _heartbeat(store, NODE, NOW + timedelta(seconds=30), clock_synced=True, clock_offset_ms=3)
    closed = alerts.evaluate(store, settings, NOW + timedelta(seconds=30))
    assert [(e, a["node_id"]) for e, a in closed] == [("closed", NODE)]
    assert open_kinds(store) == {("clock_unsynced", OTHER)}


def test_an_offline_node_with_a_bad_clock_in_its_last_heartbeat_gets_no_clock_alert(
    store: Store, settings: Settings
) -> None:
    _heartbeat(store, NODE, NOW - timedelta(hours=1), clock_synced=False)
    fleet.check_heartbeats(store.db, NOW, 3)
    assert [a["kind"] for _, a in alerts.evaluate(store, settings, NOW)] == ["node_offline"]


def test_alert_list_shows_open_alerts_and_with_all_the_closed_ones_too(
    app_client: tuple[TestClient, SeededCommune],
) -> None:
    client, _ = app_client
    rt = client.app.state.runtime  # type: ignore[attr-defined]
    fleet.record_status(rt.store.db, NODE, False, "will", NOW - timedelta(hours=1))
    fleet.record_status(rt.store.db, OTHER, False, "will", NOW - timedelta(hours=1))
    alerts.evaluate(rt.store, rt.settings, NOW)
    fleet.record_status(rt.store.db, OTHER, True, "connected", NOW)
    alerts.evaluate(rt.store, rt.settings, NOW + timedelta(seconds=1))

    open_now = client.get("/api/v1/alerts").json()
    assert [(a["kind"], a["node_id"], a["open"]) for a in open_now] == [
        ("node_offline", NODE, True)
    ]
    assert open_now[0]["node_name"] == "Cụm loa Thôn Lạc Xuân"
    every = client.get("/api/v1/alerts", params={"all": 1}).json()
    assert sorted((a["node_id"], a["open"]) for a in every) == [(OTHER, False), (NODE, True)]
    node = client.get(f"/api/v1/nodes/{NODE}").json()
    assert node["open_alerts"] == 1 and node["alerts"][0]["kind"] == "node_offline"
    assert client.get("/api/v1/alerts", headers={"Authorization": "Bearer nope"}).status_code == 401


def test_webhook_retries_with_growing_backoff_until_the_server_accepts(store: Store) -> None:
    fleet.record_status(store.db, NODE, False, "will", NOW - timedelta(hours=1))
    settings = Settings(data_dir=store.path.parent, alert_offline_minutes=10)
    [(event, alert)] = alerts.evaluate(store, settings, NOW)
    with WebhookServer(statuses=[500, 503]) as server:
        notifier = alerts.WebhookNotifier(server.url, store, backoff_s=0.2, attempts=5)
        notifier.start()
        try:
            notifier.notify(event, alert)
            wait_until(lambda: server.accepted(), timeout=10, what="webhook delivered")
        finally:
            notifier.stop()
    times = [t for t, _, _ in server.received]
    assert [s for _, s, _ in server.received] == [500, 503, 200]
    first_gap, second_gap = times[1] - times[0], times[2] - times[1]
    assert first_gap >= 0.18 and second_gap >= 0.38  # 0.2 s, then doubled
    body = server.accepted()[0]
    assert body["event"] == "alert.opened"
    assert body["alert"]["kind"] == "node_offline" and body["alert"]["node_id"] == NODE
    assert alerts.list_alerts(store.db)[0]["notified_at"] is not None


def test_webhook_gives_up_after_its_attempts_and_never_blocks_the_caller(store: Store) -> None:
    with WebhookServer(statuses=[500] * 10, delay_s=0.1) as server:
        notifier = alerts.WebhookNotifier(server.url, store, backoff_s=0.05, attempts=2)
        notifier.start()
        try:
            t0 = time.monotonic()
            for n in range(50):
                notifier.notify("opened", {"id": None, "kind": "node_offline", "message": str(n)})
            assert time.monotonic() - t0 < 0.1  # queued, not sent inline
            wait_until(lambda: notifier.dropped >= 1, timeout=10, what="first event given up")
        finally:
            notifier.stop(timeout=2)
    assert [s for _, s, _ in server.received[:2]] == [500, 500]
    assert server.received[0][2]["alert"]["message"] == "0"


def test_monitor_posts_opened_and_closed_alerts_to_the_webhook(tmp_path: Path) -> None:
    with WebhookServer() as server:
        settings = Settings(
            data_dir=tmp_path,
            alert_offline_minutes=0,
            alert_check_s=0,
            alert_webhook_url=server.url,
        )
        store = Store(settings.db_path)
        seed_commune(store)
        monitor = alerts.Monitor(store, settings)
        monitor.start()
        try:
            now = datetime.now(UTC)
            fleet.apply_state(store.db, State(node=NODE, online=True, at=now), now)
            fleet.apply_telemetry(
                store.db,
                Telemetry(node=NODE, at=now, uptime_s=1, version="1", interval_s=0.1),
                now,
            )
            time.sleep(0.4)  # three 0.1 s heartbeats missed
            monitor.tick()  # records offline (missed heartbeats) and opens the alert
            fleet.apply_state(
                store.db, State(node=NODE, online=True, at=datetime.now(UTC)), datetime.now(UTC)
            )
            monitor.tick()
            wait_until(lambda: len(server.accepted()) == 2, timeout=10, what="two webhook posts")
        finally:
            monitor.stop()
    assert [b["event"] for b in server.accepted()] == ["alert.opened", "alert.closed"]
    assert [h["reason"] for h in fleet.history(store.db, NODE)] == [
        "connected",
        "heartbeat",
        "connected",
    ]
