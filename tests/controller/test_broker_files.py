"""The generated Mosquitto password and ACL files, checked by a real Mosquitto 2.0."""

from __future__ import annotations

import stat
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from controller.core import broker_files
from controller.core.broker_files import mosquitto_hash, mosquitto_verify, write_broker_files
from controller.core.db import Store
from controller.domain import fleet, zones
from tests.support.broker import Mosquitto
from tests.support.mqtt_auth import Client, auth_config
from tests.support.net import free_port, wait_until

CONTROLLER = "loa-controller"


@pytest.fixture
def fleet_db(tmp_path: Path) -> Iterator[Store]:
    store = Store(tmp_path / "loa.db")
    yield store


def add(store: Store, *node_ids: str) -> dict[str, str]:
    with store.transaction() as db:
        zone = zones.add_zone(db, "Thôn Lạc Xuân", "village")
        return {n: fleet.add_node(db, n, zone) for n in node_ids}


def test_hash_is_mosquitto_passwd_format_both_ways(tmp_path: Path) -> None:
    ours = mosquitto_hash("mật khẩu 1")
    assert ours.startswith("$7$101$") and len(ours.split("$")) == 5
    assert mosquitto_verify(ours, "mật khẩu 1")
    assert not mosquitto_verify(ours, "mật khẩu 2")
    # a line written by the real mosquitto_passwd verifies with our code
    pw = tmp_path / "pw"
    subprocess.run(["mosquitto_passwd", "-c", "-b", str(pw), "alice", "s3cret"], check=True)
    theirs = pw.read_text().strip().split(":", 1)[1]
    assert theirs.split("$")[1:3] == ours.split("$")[1:3], "same scheme and iterations"
    assert mosquitto_verify(theirs, "s3cret") and not mosquitto_verify(theirs, "s3cre")


def test_add_node_stores_a_broker_hash_of_the_same_secret(fleet_db: Store) -> None:
    secret = add(fleet_db, "lac-xuan-1")["lac-xuan-1"]
    row = next(fleet_db.db.query("SELECT * FROM nodes WHERE id = 'lac-xuan-1'"))
    assert mosquitto_verify(row["mqtt_password_hash"], secret)
    assert fleet.node_for_token(fleet_db.db, secret)["id"] == "lac-xuan-1"


def test_files_are_private_to_the_broker_group_and_name_every_active_node(
    fleet_db: Store, tmp_path: Path
) -> None:
    add(fleet_db, "a-1", "b-1", "c-1")
    fleet_db.db.execute("UPDATE nodes SET revoked = 1 WHERE id = 'c-1'")
    files = write_broker_files(fleet_db.db, tmp_path / "broker", CONTROLLER, "ctl-pass")
    users = [line.split(":")[0] for line in files.password_file.read_text().splitlines()]
    assert users == [CONTROLLER, "a-1", "b-1"], "revoked nodes are left out"
    for path in (files.password_file, files.acl_file):
        assert stat.S_IMODE(path.stat().st_mode) == 0o640
    acl = files.acl_file.read_text()
    assert "pattern read loa/v1/node/%u/cmd\n" in acl
    assert "pattern write loa/v1/node/%u/state\n" in acl
    assert f"user {CONTROLLER}\ntopic readwrite loa/v1/#\n" in acl
    assert "readwrite loa/v1/node/%u" not in acl


def test_controller_password_is_generated_once_private_and_never_empty(tmp_path: Path) -> None:
    assert broker_files.stored_controller_password(tmp_path) is None
    first = broker_files.controller_password(tmp_path)
    assert len(first) >= 30
    assert broker_files.controller_password(tmp_path) == first
    path = broker_files.controller_password_path(tmp_path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert broker_files.controller_password(tmp_path / "other") != first


@pytest.fixture
def secured(fleet_db: Store, tmp_path: Path) -> Iterator[tuple[Mosquitto, dict[str, str], Path]]:
    secrets = add(fleet_db, "node-a", "node-b")
    files_dir = tmp_path / "broker"
    write_broker_files(fleet_db.db, files_dir, CONTROLLER, "ctl-pass")
    broker = Mosquitto(tmp_path / "mosquitto", extra_config=auth_config(files_dir))
    broker.start()
    yield broker, secrets, files_dir
    broker.stop()


def test_real_mosquitto_takes_the_right_password_and_refuses_others(secured) -> None:
    broker, secrets, _ = secured
    ok = Client(broker.port, "node-a", secrets["node-a"], "node-a")
    assert ok.connect()
    ok.close()
    for username, password in [
        ("node-a", secrets["node-b"]),  # another node's secret
        ("node-a", "wrong"),
        ("node-c", secrets["node-a"]),  # not provisioned
        (CONTROLLER, "wrong"),
        (None, None),  # anonymous
    ]:
        c = Client(broker.port, username, password, f"probe-{username}")
        assert not c.connect(), f"{username} with a wrong password got in"
        c.close()
    ctl = Client(broker.port, CONTROLLER, "ctl-pass", "ctl")
    assert ctl.connect()
    ctl.close()


def test_acl_keeps_each_node_to_its_own_topics(secured) -> None:
    broker, secrets, _ = secured
    ctl = Client(broker.port, CONTROLLER, "ctl-pass", "ctl")
    a = Client(broker.port, "node-a", secrets["node-a"], "node-a")
    b = Client(broker.port, "node-b", secrets["node-b"], "node-b")
    try:
        for c in (ctl, a, b):
            assert c.connect()
        ctl.subscribe("loa/v1/node/+/+")
        a.subscribe("loa/v1/node/node-b/cmd")  # eavesdrop on B's commands
        a.subscribe("loa/v1/node/node-a/cmd")
        b.subscribe("loa/v1/node/node-b/cmd")
        ctl.publish("loa/v1/node/node-b/cmd", b"for-b")
        ctl.publish("loa/v1/node/node-a/cmd", b"for-a")
        a.publish("loa/v1/node/node-b/state", b"a-posing-as-b")
        a.publish("loa/v1/node/node-b/cmd", b"a-commanding-b")
        a.publish("loa/v1/node/node-a/state", b"a-own-state")
        a.publish("loa/v1/node/node-a/report", b"a-own-report")
        wait_until(
            lambda: len(ctl.messages) >= 4 and b.messages and a.messages,
            timeout=5,
            what="the allowed messages",
        )
        time.sleep(0.3)  # room for anything that should not arrive
        assert a.messages == [("loa/v1/node/node-a/cmd", b"for-a")]
        assert b.messages == [("loa/v1/node/node-b/cmd", b"for-b")]
        seen = {(t, p) for t, p in ctl.messages}
        assert ("loa/v1/node/node-a/state", b"a-own-state") in seen
        assert ("loa/v1/node/node-a/report", b"a-own-report") in seen
        assert all(p not in (b"a-posing-as-b", b"a-commanding-b") for _, p in ctl.messages)
    finally:
        for c in (ctl, a, b):
            c.close()


def test_a_node_cannot_push_another_off_by_borrowing_its_client_id(
    fleet_db: Store, tmp_path: Path
) -> None:
    """Without ``use_username_as_clientid`` on the nodes' listener, node A connecting with client
    id "node-b" would close B's connection (Mosquitto's session takeover)."""
    secrets = add(fleet_db, "node-a", "node-b")
    files_dir = tmp_path / "broker"
    write_broker_files(fleet_db.db, files_dir, CONTROLLER, "ctl-pass")
    nodes_port = free_port()
    broker = Mosquitto(
        tmp_path / "mosquitto",
        extra_config=auth_config(files_dir)
        + f"listener {nodes_port} 127.0.0.1\nuse_username_as_clientid true\n",
    )
    broker.start()
    b = Client(nodes_port, "node-b", secrets["node-b"], "node-b")
    a = Client(nodes_port, "node-a", secrets["node-a"], "node-b")
    try:
        assert b.connect() and a.connect()
        time.sleep(0.3)
        assert not b.disconnected.is_set()
        assert "as node-a (" in broker.log_path.read_text(), "A is known by its own name"
    finally:
        a.close()
        b.close()
        broker.stop()


def test_revoked_node_is_dropped_and_locked_out_after_sighup(fleet_db: Store, secured) -> None:
    broker, secrets, files_dir = secured
    a = Client(broker.port, "node-a", secrets["node-a"], "node-a")
    b = Client(broker.port, "node-b", secrets["node-b"], "node-b")
    assert a.connect() and b.connect()
    fleet_db.db.execute("UPDATE nodes SET revoked = 1 WHERE id = 'node-a'")
    write_broker_files(fleet_db.db, files_dir, CONTROLLER, "ctl-pass")
    assert broker_files.reload_broker(files_dir / "mosquitto.pid")
    wait_until(a.disconnected.is_set, timeout=5, what="the revoked node to be dropped")
    a.close()
    again = Client(broker.port, "node-a", secrets["node-a"], "node-a-again")
    assert not again.connect()
    again.close()
    assert not b.disconnected.is_set(), "other nodes stay connected"
    b.close()


def test_reload_without_a_pid_file_reports_it_did_nothing(tmp_path: Path) -> None:
    assert not broker_files.reload_broker(None)
    assert not broker_files.reload_broker(tmp_path / "missing.pid")
    (tmp_path / "stale.pid").write_text(str(2**22 + 12345))
    assert not broker_files.reload_broker(tmp_path / "stale.pid")
