"""Red-team findings on approval (issue 12): what is approved is what nodes hear, and archiving an
announcement never changes what is scheduled. Real controller app, real SQLite, real Mosquitto
(the node side is a subscriber on the node's command topic), real speech rendering."""

from __future__ import annotations

import json
import queue
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from fastapi.testclient import TestClient

from controller.core.db import insert
from controller.domain.seed import SeededCommune
from controller.services.dispatch import Dispatcher
from controller.services.mqtt_link import MqttLink
from loa import protocol
from tests.controller.conftest import People
from tests.controller.test_web import _signed_in
from tests.support.broker import Mosquitto

TEXT = "Mời bà con đến nhà văn hóa thôn họp dân lúc tám giờ sáng."


class NodeSide:
    """The controller's dispatcher on a real broker, and what reaches the nodes' command topics."""

    def __init__(self, client: TestClient, broker: Mosquitto):
        runtime = client.app.state.runtime  # type: ignore[attr-defined]
        self.store = runtime.store
        self.link = MqttLink(broker.url, lambda t, p: None, client_id=f"ctl-{uuid.uuid4()}")
        self.link.start()
        assert self.link.connected.wait(5)
        self.dispatcher = Dispatcher(
            runtime.store, runtime.settings, runtime.key, self.link.publish
        )
        self.commands: queue.Queue[dict[str, Any]] = queue.Queue()
        self.spy = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"spy-{uuid.uuid4()}")
        self.spy.username_pw_set("spy")
        self.spy.on_message = lambda c, u, m: self.commands.put(json.loads(m.payload))
        self.spy.connect(broker.host, broker.port)
        self.spy.subscribe("loa/v1/node/+/cmd", qos=1)
        self.spy.loop_start()
        self.spy.publish("loa/v1/probe", b"x", qos=1).wait_for_publish(5)

    def received(self, count: int) -> list[dict[str, Any]]:
        return [self.commands.get(timeout=5) for _ in range(count)]

    def ack(self, node_id: str, cmd_id: str) -> None:
        report = protocol.new_report("ack", node_id, protocol.Ack(cmd_id=cmd_id, ok=True))
        self.dispatcher.handle_batch(
            [(protocol.node_topic(node_id, "report"), protocol.dumps(report))]
        )

    def reconnect(self, node_id: str) -> None:
        state = protocol.State(node=node_id, online=True, at=datetime.now(UTC), version="t")
        self.dispatcher.handle_batch(
            [(protocol.node_topic(node_id, "state"), protocol.dumps(state))]
        )

    def close(self) -> None:
        self.spy.disconnect()
        self.spy.loop_stop()
        self.link.stop()


@pytest.fixture
def nodes(client: TestClient, mosquitto: Mosquitto) -> Iterator[NodeSide]:
    side = NodeSide(client, mosquitto)
    yield side
    side.close()


def _submitted(client: TestClient, people: People, text: str = TEXT) -> int:
    made = client.post(
        "/api/v1/announcements",
        json={"title": "Họp dân", "text": text, "submit": True},
        headers=people.headers("editor"),
    )
    assert made.status_code == 201, made.text
    return int(made.json()["id"])


def _approve(client: TestClient, people: People, announcement_id: int) -> dict[str, Any]:
    approved = client.post(
        f"/api/v1/announcements/{announcement_id}/approve", headers=people.headers("approver")
    )
    assert approved.status_code == 200, approved.text
    return dict(approved.json())


def _schedule(client: TestClient, who: dict[str, str], announcement_id: int, zone: int) -> int:
    made = client.post(
        "/api/v1/broadcasts",
        json={
            "announcement_id": announcement_id,
            "zone_ids": [zone],
            "starts_at": (datetime.now(UTC) + timedelta(minutes=2)).isoformat(),
        },
        headers=who,
    )
    assert made.status_code == 201, made.text
    return int(made.json()["id"])


def test_a_lexicon_entry_added_after_approval_does_not_change_what_nodes_play(
    client: TestClient, people: People, commune: SeededCommune, nodes: NodeSide
):
    announcement_id = _submitted(client, people)
    approved = _approve(client, people, announcement_id)
    pinned = approved["approved_sha256"]
    assert pinned, "approval records the audio that was approved"
    # The attack: a pronunciation that turns part of the approved text into other words.
    db = client.app.state.runtime.store.db  # type: ignore[attr-defined]
    insert(db, "lexicon", {"term": "nhà văn hóa", "reading": "bãi đất trống ngoài đê"})
    node = commune.nodes[0]
    broadcast_id = _schedule(client, people.headers("editor"), announcement_id, node.zone_id)
    nodes.dispatcher.deliver()
    put = nodes.received(1)[0]
    assert put["type"] == "schedule.put" and put["node"] == node.node_id
    items = put["body"]["items"]
    assert [i["broadcast"] for i in items] == [broadcast_id]
    assert items[0]["content"]["sha256"] == pinned
    after = client.get(f"/api/v1/announcements/{announcement_id}").json()
    assert "bãi đất" not in (after["normalized_text"] or "")
    assert after["approved_sha256"] == pinned


def test_an_approved_announcement_whose_audio_is_gone_is_refused_not_spoken_again(
    client: TestClient, people: People, commune: SeededCommune
):
    announcement_id = _submitted(client, people)
    pinned = _approve(client, people, announcement_id)["approved_sha256"]
    settings = client.app.state.runtime.settings  # type: ignore[attr-defined]
    (settings.media_dir / f"{pinned}.mp3").unlink()
    refused = client.post(
        "/api/v1/broadcasts",
        json={
            "announcement_id": announcement_id,
            "zone_ids": [commune.nodes[0].zone_id],
            "starts_at": (datetime.now(UTC) + timedelta(minutes=2)).isoformat(),
        },
        headers=people.headers("editor"),
    )
    assert (
        refused.status_code == 409 and refused.json()["error"]["code"] == "approved_audio_missing"
    )
    row = client.get(f"/api/v1/announcements/{announcement_id}").json()
    assert row["approved_sha256"] == pinned and row["media_sha256"] == pinned


def test_only_an_admin_writes_the_lexicon_and_each_change_is_audited(
    client: TestClient, people: People
):
    for role in ("editor", "approver", "admin"):
        browser, csrf = _signed_in(client, role)
        saved = browser.post(
            "/lexicon", data={"csrf": csrf, "term": f"UB{role}", "reading": "ủy ban"}
        )
        assert saved.status_code == (303 if role == "admin" else 403), (role, saved.status_code)
    db = client.app.state.runtime.store.db  # type: ignore[attr-defined]
    assert [r["term"] for r in db.query("SELECT term FROM lexicon")] == ["UBadmin"]
    audited = list(db.query("SELECT action FROM audit_log WHERE action LIKE 'lexicon.%'"))
    assert [a["action"] for a in audited] == ["lexicon.save"]


def test_archiving_an_approved_announcement_keeps_its_broadcast_in_the_nodes_sync(
    client: TestClient, people: People, commune: SeededCommune, nodes: NodeSide
):
    announcement_id = _submitted(client, people)
    _approve(client, people, announcement_id)
    far = commune.nodes[1]  # another village than the village editor's
    broadcast_id = _schedule(client, people.headers("approver"), announcement_id, far.zone_id)
    nodes.dispatcher.deliver()
    put = nodes.received(1)[0]
    nodes.ack(far.node_id, put["id"])
    archived = client.post(
        f"/api/v1/announcements/{announcement_id}/archive",
        headers=people.headers("village_editor"),
    )
    assert archived.status_code == 200, archived.text
    nodes.reconnect(far.node_id)
    sync = nodes.received(1)[0]
    assert sync["type"] == "schedule.sync" and sync["node"] == far.node_id
    assert [i["broadcast"] for i in sync["body"]["items"]] == [broadcast_id]
    detail = client.get(f"/api/v1/broadcasts/{broadcast_id}").json()
    assert detail["status"] == "active"
    assert {d["state"] for d in detail["dispatches"]} <= {"sent", "acked"}


# --- the same, end to end: three node-agent processes ------------------------------------------


@pytest.fixture
def villages(tmp_path, mosquitto: Mosquitto):  # type: ignore[no-untyped-def]
    from tests.support.system import Commune

    c = Commune(tmp_path, mosquitto.url)
    try:
        yield c
    finally:
        c.stop()
        print(c.logs())


@pytest.mark.slow
def test_nodes_play_the_approved_audio_after_a_lexicon_entry_an_archive_and_a_reconnect(
    villages,  # type: ignore[no-untyped-def]
):
    from tests.support.net import wait_until
    from tests.support.system import EDITOR_TOKEN

    c = villages
    c.start_controller()
    c.start_nodes()
    c.wait_nodes_online()
    announcement_id = c.approved_announcement("Họp dân", TEXT)
    with c.api(EDITOR_TOKEN) as editor:
        pinned = editor.get(f"/api/v1/announcements/{announcement_id}").json()["approved_sha256"]
        assert pinned
        # after approval: a pronunciation that changes the approved words
        insert(c.store.db, "lexicon", {"term": "nhà văn hóa", "reading": "bãi đất trống"})
        made = editor.post(
            "/api/v1/broadcasts",
            json={
                "announcement_id": announcement_id,
                "zone_ids": [c.seeded.commune_id],
                "starts_at": (datetime.now(UTC) + timedelta(seconds=14)).isoformat(),
            },
        )
        assert made.status_code == 201, made.text
        broadcast_id = made.json()["id"]

        def states() -> set[str]:
            got = editor.get(f"/api/v1/broadcasts/{broadcast_id}").json()
            return {d["state"] for d in got["dispatches"]}

        wait_until(lambda: states() == {"acked"}, timeout=10, what="every node acked")
        # archived once it is scheduled; then a node reconnects and gets a schedule.sync
        archived = editor.post(f"/api/v1/announcements/{announcement_id}/archive")
        assert archived.status_code == 200, archived.text
    restarted = c.seeded.nodes[0].node_id
    for proc in c.processes:
        if proc.name == restarted:
            proc.stop()
    c.start_node(restarted)
    wait_until(
        lambda: all(c.plays(n.node_id) for n in c.seeded.nodes),
        timeout=40,
        what="every node played",
    )
    for node in c.seeded.nodes:
        assert [p["sha256"] for p in c.plays(node.node_id)] == [pinned], node.node_id
