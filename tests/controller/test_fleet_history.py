"""Node status history on a real SQLite file: which messages write a status change, which do
not, and the uptime computed from the history."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from controller.core.db import Store
from controller.domain import fleet
from controller.domain.seed import SeededCommune, seed_commune
from loa.protocol import State, Telemetry, to_wire_time

T0 = datetime(2026, 11, 27, 6, 0, tzinfo=UTC)
NODE = "lac-xuan-1"


@pytest.fixture
def store(tmp_path: Path) -> Store:
    s = Store(tmp_path / "loa.db")
    seed_commune(s)
    return s


def state(online: bool, at: datetime, reason: str | None = None) -> State:
    return State(node=NODE, online=online, at=at, version="1.0", reason=reason)


def heartbeat(at: datetime, interval_s: float = 30.0, **extra: object) -> Telemetry:
    return Telemetry(
        node=NODE, at=at, uptime_s=100.0, version="1.0", interval_s=interval_s, **extra
    )


def events(store: Store) -> list[tuple[str, bool, str]]:
    return [(e["at"], e["online"], e["reason"]) for e in reversed(fleet.history(store.db, NODE))]


def test_online_state_then_last_will_write_two_status_changes(store: Store) -> None:
    db = store.db
    connected = T0
    fleet.apply_state(db, state(True, connected + timedelta(seconds=1)), T0)
    # later states during the same connection (playing changed) are no status change
    fleet.apply_state(db, state(True, connected + timedelta(minutes=5)), T0 + timedelta(minutes=5))
    # the will carries the connection time: older than the states above, still applied
    fleet.apply_state(db, state(False, connected, reason="will"), T0 + timedelta(minutes=9))
    assert events(store) == [
        (to_wire_time(T0), True, "connected"),
        (to_wire_time(T0 + timedelta(minutes=9)), False, "will"),
    ]
    node = next(n for n in fleet.list_nodes(db, T0 + timedelta(minutes=9), 3) if n["id"] == NODE)
    assert node["online"] is False and node["status"] == "offline"


def test_retained_will_seen_again_after_restart_changes_nothing(store: Store) -> None:
    db = store.db
    fleet.apply_state(db, state(True, T0 + timedelta(seconds=1)), T0)
    fleet.apply_state(db, state(False, T0, reason="will"), T0 + timedelta(minutes=1))
    fleet.apply_state(db, state(False, T0, reason="will"), T0 + timedelta(minutes=2))
    assert [e[1] for e in events(store)] == [True, False]


def test_stale_retained_online_state_is_not_trusted(store: Store) -> None:
    db = store.db
    fleet.apply_state(db, state(True, T0 + timedelta(minutes=10)), T0 + timedelta(minutes=10))
    # an older "online" copy arriving later (retained, seen again) changes nothing; an online
    # state after an offline one is a reconnect whatever its time (tests/controller/
    # test_redteam_clock.py)
    assert (
        fleet.apply_state(db, state(True, T0 + timedelta(minutes=1)), T0 + timedelta(minutes=11))
        is False
    )
    assert events(store) == [(to_wire_time(T0 + timedelta(minutes=10)), True, "connected")]


def test_missed_heartbeats_mark_offline_dated_at_the_limit_and_heartbeat_brings_it_back(
    store: Store,
) -> None:
    db = store.db
    fleet.apply_state(db, state(True, T0), T0)
    fleet.apply_telemetry(db, heartbeat(T0, interval_s=30), T0)
    # within 3 intervals: nothing
    assert fleet.check_heartbeats(db, T0 + timedelta(seconds=89), 3) == []
    assert fleet.check_heartbeats(db, T0 + timedelta(seconds=95), 3) == [NODE]
    # the next tick does not write it again
    assert fleet.check_heartbeats(db, T0 + timedelta(seconds=97), 3) == []
    back = T0 + timedelta(minutes=5)
    fleet.apply_telemetry(db, heartbeat(back), back)
    fleet.apply_telemetry(db, heartbeat(back), back + timedelta(seconds=30))
    assert events(store) == [
        (to_wire_time(T0), True, "connected"),
        (to_wire_time(T0 + timedelta(seconds=90)), False, "heartbeat"),
        (to_wire_time(back), True, "heartbeat"),
    ]


def test_a_controller_restart_is_not_a_node_outage(store: Store) -> None:
    db = store.db
    fleet.apply_state(db, state(True, T0), T0)
    fleet.apply_telemetry(db, heartbeat(T0, interval_s=30), T0)
    # the controller was down for an hour and has just started listening again
    restarted = T0 + timedelta(hours=1)
    assert fleet.check_heartbeats(db, restarted + timedelta(seconds=5), 3, restarted) == []
    fleet.apply_telemetry(db, heartbeat(restarted), restarted + timedelta(seconds=20))
    assert fleet.check_heartbeats(db, restarted + timedelta(seconds=60), 3, restarted) == []
    assert [e[1] for e in events(store)] == [True]
    # a node that stays silent after the restart: offline, dated 3 intervals after it
    assert fleet.check_heartbeats(db, restarted + timedelta(seconds=200), 3, restarted) == [NODE]
    assert events(store)[-1] == (
        to_wire_time(restarted + timedelta(seconds=110)),
        False,
        "heartbeat",
    )


def test_heartbeat_from_a_node_whose_state_says_offline_does_not_make_it_online(
    store: Store,
) -> None:
    db = store.db
    fleet.apply_state(db, state(True, T0), T0)
    fleet.apply_state(db, state(False, T0 + timedelta(seconds=5), reason="shutdown"), T0)
    fleet.apply_telemetry(db, heartbeat(T0 + timedelta(seconds=6)), T0 + timedelta(seconds=6))
    assert [e[1] for e in events(store)] == [True, False]


def test_uptime_counts_only_the_time_the_history_covers(store: Store) -> None:
    db = store.db
    # online at 00:00, offline 06:00–12:00, online again until the end of the day
    day = datetime(2026, 11, 20, tzinfo=UTC)
    fleet.record_status(db, NODE, True, "connected", day)
    fleet.record_status(db, NODE, False, "will", day + timedelta(hours=6))
    fleet.record_status(db, NODE, True, "connected", day + timedelta(hours=12))
    got = fleet.uptime(db, day, day + timedelta(hours=24))
    assert got[NODE] == 75.0
    # a period starting mid-outage takes the status from the last event before it
    assert fleet.uptime(db, day + timedelta(hours=9), day + timedelta(hours=15))[NODE] == 50.0
    # before the first event nothing is known: 18 h known of which 12 h online
    half = fleet.uptime(
        db, day - timedelta(hours=6), day + timedelta(hours=18), [NODE, "lac-binh-1"]
    )
    assert half == {NODE: round(100 * 12 / 18, 2), "lac-binh-1": None}


def test_uptime_when_the_status_never_changed_in_the_period(store: Store) -> None:
    db = store.db
    fleet.record_status(db, NODE, False, "will", T0 - timedelta(days=3))
    assert fleet.uptime(db, T0 - timedelta(hours=24), T0)[NODE] == 0.0


def test_nodes_api_lists_status_uptime_and_detail_with_history(
    app_client: tuple[TestClient, SeededCommune],
) -> None:
    client, _ = app_client
    store = client.app.state.runtime.store  # type: ignore[attr-defined]
    now = datetime.now(UTC)
    fleet.apply_state(store.db, state(True, now - timedelta(hours=2)), now - timedelta(hours=2))
    fleet.apply_telemetry(store.db, heartbeat(now, clock_synced=True), now)

    listed = {n["id"]: n for n in client.get("/api/v1/nodes").json()}
    mine = listed[NODE]
    assert mine["online"] is True and mine["status"] == "online"
    assert mine["uptime_pct"] == {"24h": 100.0, "7d": 100.0}
    assert mine["status_since"] is not None and mine["open_alerts"] == 0
    assert listed["lac-binh-1"]["uptime_pct"] == {"24h": None, "7d": None}
    assert listed["lac-binh-1"]["status"] == "offline"

    detail = client.get(f"/api/v1/nodes/{NODE}", params={"history": 5}).json()
    assert detail["telemetry"]["clock_synced"] is True
    assert [h["reason"] for h in detail["history"]] == ["connected"]
    assert detail["uptime_pct"]["24h"] == 100.0 and detail["alerts"] == []

    assert client.get("/api/v1/nodes/no-such-node").status_code == 404
    period = client.get(
        f"/api/v1/nodes/{NODE}/uptime",
        params={"since": to_wire_time(now - timedelta(hours=4)), "until": to_wire_time(now)},
    ).json()
    assert period["uptime_pct"] == 100.0  # 2 h unknown, 2 h online
    assert (
        client.get(
            f"/api/v1/nodes/{NODE}/uptime", params={"since": "2026-11-27T06:00:00"}
        ).status_code
        == 422
    )
