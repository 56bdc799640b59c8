"""``/metrics`` in Prometheus text format: gauges read from the database, counters kept by the
running controller (real Mosquitto), render time, and the optional scrape token."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import paho.mqtt.client as mqtt
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from controller.app import create_app
from controller.core.db import insert
from controller.core.settings import Settings
from controller.domain import announcements, fleet
from controller.domain.seed import SeededCommune, seed_commune
from controller.domain.users import create_token
from controller.services import alerts
from loa.protocol import State, Telemetry, to_wire_time, utcnow
from tests.support.broker import Mosquitto
from tests.support.net import wait_until

TOKEN = "metrics-test-" + "y" * 20


def scrape(
    client: TestClient, **headers: str
) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = client.get("/metrics", headers=headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    samples = {}
    for family in text_string_to_metric_families(response.text):
        for s in family.samples:
            samples[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return samples


def value(samples: dict, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def test_metrics_show_nodes_dispatches_and_open_alerts_as_the_database_has_them(
    app_client: tuple[TestClient, SeededCommune],
) -> None:
    client, commune = app_client
    rt = client.app.state.runtime  # type: ignore[attr-defined]
    db = rt.store.db
    now = utcnow()
    node = commune.nodes[0].node_id
    fleet.apply_state(db, State(node=node, online=True, at=now), now)
    ann = insert(db, "announcements", {"title": "Tin", "text": "x", "status": "approved"})
    bid = insert(
        db,
        "broadcasts",
        {"announcement_id": ann, "zone_ids": "[]", "priority": "normal", "status": "active"},
    )
    for n, (state, target) in enumerate(
        [("played", node), ("played", "lac-binh-1"), ("failed", "dong-thanh-1")]
    ):
        insert(
            db,
            "dispatches",
            {
                "broadcast_id": bid,
                "occurrence": str(n),
                "node_id": target,
                "play_at": to_wire_time(now),
                "state": state,
            },
        )
    fleet.record_status(db, "lac-binh-1", False, "will", now - timedelta(hours=1))
    alerts.evaluate(rt.store, rt.settings, now)

    samples = scrape(client)
    assert value(samples, "loa_nodes", status="online") == 1
    assert value(samples, "loa_nodes", status="offline") == 2
    assert value(samples, "loa_dispatches", state="played") == 2
    assert value(samples, "loa_dispatches", state="failed") == 1
    assert value(samples, "loa_alerts_open", kind="node_offline") == 1
    assert value(samples, "loa_ingest_queue_depth") == 0


def test_metrics_ask_for_the_scrape_token_when_one_is_set(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, metrics_token="scrape-secret")
    with TestClient(create_app(settings, start_services=False)) as client:
        assert client.get("/metrics").status_code == 401
        assert client.get("/metrics", headers={"Authorization": "Bearer nope"}).status_code == 401
        scrape(client, Authorization="Bearer scrape-secret")


def test_render_time_is_observed(app_client: tuple[TestClient, SeededCommune]) -> None:
    client, _ = app_client
    rt = client.app.state.runtime  # type: ignore[attr-defined]
    before = scrape(client)
    ann = insert(rt.store.db, "announcements", {"title": "Tin", "text": "Xin chào bà con."})
    # the stored row, as every caller passes it (its status says whether it may be spoken)
    row = rt.store.db["announcements"].get(ann)
    sha = announcements.ensure_rendered(rt.store, rt.settings, row)
    assert len(sha) == 64
    after = scrape(client)
    assert value(after, "loa_render_seconds_count") == value(before, "loa_render_seconds_count") + 1
    assert value(after, "loa_render_seconds_sum") > value(before, "loa_render_seconds_sum")


def test_running_controller_counts_messages_by_kind_batches_and_commands(
    tmp_path: Path, own_mosquitto: Mosquitto
) -> None:
    settings = Settings(data_dir=tmp_path, mqtt_url=own_mosquitto.url, tick_s=0.5)
    app = create_app(settings)
    rt = app.state.runtime
    create_token(rt.store.db, "test", token=TOKEN)
    commune = seed_commune(rt.store)
    node = commune.nodes[0].node_id
    with TestClient(app, headers={"Authorization": f"Bearer {TOKEN}"}) as client:
        wait_until(rt.link.connected.is_set, timeout=10, what="controller connected")
        before = scrape(client)
        pub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"pub-{uuid.uuid4()}")
        pub.username_pw_set(node)
        pub.connect(own_mosquitto.host, own_mosquitto.port)
        pub.loop_start()
        try:
            now = datetime.now(UTC)
            state = State(node=node, online=True, at=now).model_dump_json()
            pub.publish(f"loa/v1/node/{node}/state", state, qos=1).wait_for_publish(5)
            for n in range(40):
                beat = Telemetry(
                    node=node, at=now, uptime_s=n, version="1", interval_s=1
                ).model_dump_json()
                pub.publish(f"loa/v1/node/{node}/telemetry", beat, qos=1)
            # one message that is no protocol at all still counts as received
            pub.publish(f"loa/v1/node/{node}/report", json.dumps({"x": 1}), qos=1)

            def applied() -> bool:
                s = scrape(client)
                return (
                    value(s, "loa_mqtt_messages_received_total", kind="telemetry")
                    - value(before, "loa_mqtt_messages_received_total", kind="telemetry")
                    >= 40
                    and value(s, "loa_ingest_queue_depth") == 0
                    and value(
                        s, "loa_commands_published_total", type="schedule.sync", result="published"
                    )
                    > value(
                        before,
                        "loa_commands_published_total",
                        type="schedule.sync",
                        result="published",
                    )
                )

            wait_until(applied, timeout=15, what="messages counted and applied")
        finally:
            pub.loop_stop()
            pub.disconnect()
        after = scrape(client)
    got = {
        kind: value(after, "loa_mqtt_messages_received_total", kind=kind)
        - value(before, "loa_mqtt_messages_received_total", kind=kind)
        for kind in ("state", "telemetry", "report")
    }
    assert got == {"state": 1, "telemetry": 40, "report": 1}
    batches = value(after, "loa_ingest_batch_size_count") - value(
        before, "loa_ingest_batch_size_count"
    )
    messages = value(after, "loa_ingest_batch_size_sum") - value(
        before, "loa_ingest_batch_size_sum"
    )
    assert 1 <= batches <= 42 and messages == 42
    nodes = {n["id"]: n for n in fleet.list_nodes(rt.store.db, utcnow(), 3)}
    assert nodes[node]["online"] is True and nodes[node]["telemetry"]["uptime_s"] == 39
