"""Adding and revoking nodes through the API: bundle, credentials, broker files, lock-out."""

from __future__ import annotations

import json
import stat
import tomllib
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from controller.core.broker_files import mosquitto_verify, stored_controller_password
from controller.core.db import insert
from controller.core.settings import Settings
from controller.domain import zones
from controller.domain.seed import SeededCommune
from controller.domain.users import create_token
from loa.protocol import to_wire_time, utcnow
from loa.signing import load_or_create_private_key, public_key_b64
from node_agent.config import load_config
from node_agent.provision import provision

SHA = "c" * 64


def broker_users(settings: Settings) -> dict[str, str]:
    path = settings.data_dir / "broker" / "passwd"
    return dict(line.split(":", 1) for line in path.read_text().splitlines())


def add(client: TestClient, **body: object) -> tuple[int, dict]:
    r = client.post("/api/v1/nodes", json=body)
    return r.status_code, r.json()


def media(client: TestClient, settings: Settings, token: str) -> int:
    settings.media_dir.mkdir(parents=True, exist_ok=True)
    (settings.media_dir / f"{SHA}.mp3").write_bytes(b"ID3 fake mp3")
    r = client.get(f"/media/{SHA}.mp3", headers={"Authorization": f"Bearer {token}"})
    return r.status_code


def test_admin_adds_a_node_and_gets_a_bundle_the_pi_can_install(
    client: TestClient, commune: SeededCommune, settings: Settings, tmp_path: Path
) -> None:
    zone = commune.nodes[0].zone_id
    r = client.post(
        "/api/v1/nodes",
        json={
            "id": "lac-xuan-2",
            "zone_id": zone,
            "name": "Cụm loa chợ",
            "lat": 21.03,
            "lon": 105.8,
        },
    )
    assert r.status_code == 201, r.text
    assert r.headers["cache-control"] == "no-store"
    bundle = r.json()
    secret = bundle["mqtt"]["password"]
    assert bundle["version"] == 1 and bundle["node_id"] == "lac-xuan-2"
    assert bundle["mqtt"] == {
        "url": settings.mqtt_url,
        "username": "lac-xuan-2",
        "password": secret,
    }
    assert bundle["http"] == {"base_url": settings.base_url, "token": secret}
    key = load_or_create_private_key(settings.key_path)
    assert bundle["controller_public_key"] == public_key_b64(key)
    assert "ca_pem" not in bundle, "no CA configured: the node trusts the system store"

    # the broker's files now let it in, with the bundle's password
    users = broker_users(settings)
    assert mosquitto_verify(users["lac-xuan-2"], secret)
    assert mosquitto_verify(users["loa-controller"], stored_controller_password(settings.data_dir))
    row = next(
        client.app.state.runtime.store.db.query("SELECT * FROM nodes WHERE id = ?", ["lac-xuan-2"])
    )
    assert (row["lat"], row["lon"], row["name"], row["zone_id"]) == (
        21.03,
        105.8,
        "Cụm loa chợ",
        zone,
    )
    assert secret not in json.dumps(row), "only hashes are stored"
    assert media(client, settings, secret) == 200
    listed = {n["id"] for n in client.get("/api/v1/nodes").json()}
    assert "lac-xuan-2" in listed

    # the Pi side: `loa node provision` accepts it as it is
    path = tmp_path / "bundle.json"
    path.write_text(r.text)
    cfg_path = provision(path, tmp_path / "etc" / "node.toml", tmp_path / "var")
    cfg = load_config(cfg_path)
    assert (cfg.node_id, cfg.username, cfg.mqtt.password) == ("lac-xuan-2", "lac-xuan-2", secret)
    assert cfg.http.token == secret and cfg.http.base_url == settings.base_url
    assert tomllib.loads(cfg_path.read_text())["controller_public_key"] == public_key_b64(key)


def test_bundle_pins_the_configured_ca_and_names_the_broker_nodes_use(
    settings: Settings, commune: SeededCommune, client: TestClient, tmp_path: Path
) -> None:
    ca = tmp_path / "ca.crt"
    ca.write_text("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n")
    settings.extra.update(node_ca_file=str(ca), node_mqtt_url="mqtts://loa.example.vn:8883")
    code, bundle = add(client, id="dong-thanh-2", zone_id=commune.nodes[2].zone_id)
    assert code == 201
    assert bundle["ca_pem"] == ca.read_text()
    assert bundle["mqtt"]["url"] == "mqtts://loa.example.vn:8883"


@pytest.mark.parametrize(
    "node_id",
    [
        "Bad Id",
        "LAC-XUAN",
        "a/b",
        "a+b",
        "a#",
        "-x",
        "x-",
        "",
        "a" * 64,
        "lạc-xuân",
        "loa-controller",
    ],
)
def test_bad_node_ids_are_refused_and_nothing_is_written(
    client: TestClient, commune: SeededCommune, settings: Settings, node_id: str
) -> None:
    code, body = add(client, id=node_id, zone_id=commune.commune_id)
    assert (code, body["error"]["code"], body["error"]["field"]) == (422, "bad_node_id", "id")
    assert "lac-xuan-1" in body["error"]["message"], "the message shows a good id"
    db = client.app.state.runtime.store.db
    assert db.execute("SELECT COUNT(*) FROM nodes").fetchone()[0] == len(commune.nodes)


def test_refusals_have_stable_codes_and_vietnamese_messages(
    client: TestClient, commune: SeededCommune, settings: Settings
) -> None:
    zone = commune.commune_id
    cases = [
        (
            {"id": "lac-xuan-1", "zone_id": zone},
            409,
            "node_exists",
            "Đã có cụm loa mang mã lac-xuan-1.",
        ),
        ({"id": "moi-1", "zone_id": 9999}, 404, "zone_not_found", "Không tìm thấy địa bàn: 9999."),
        ({"id": "moi-1", "zone_id": 2**70}, 404, "zone_not_found", None),
        ({"id": "moi-1", "zone_id": zone, "lat": 21.0}, 422, "bad_coordinates", None),
        ({"id": "moi-1", "zone_id": zone, "lat": 91.0, "lon": 105.0}, 422, "bad_coordinates", None),
        ({"id": "moi-1", "zone_id": zone, "lat": 21.0, "lon": 181.0}, 422, "bad_coordinates", None),
        ({"id": "moi-1", "zone_id": zone, "secret": "mine"}, 422, "invalid_request", None),
        ({"id": "moi-1"}, 422, "invalid_request", None),
    ]
    for body, status, code, message in cases:
        got_status, got = add(client, **body)
        assert (got_status, got["error"]["code"]) == (status, code), body
        if message:
            assert got["error"]["message"] == message
    db = client.app.state.runtime.store.db
    assert db.execute("SELECT COUNT(*) FROM nodes").fetchone()[0] == len(commune.nodes)
    assert not (settings.data_dir / "broker" / "passwd").exists(), "no broker files on refusal"


def test_only_administrators_provision_and_revoke(
    client: TestClient, commune: SeededCommune
) -> None:
    db = client.app.state.runtime.store.db
    for role in ("editor", "approver", "operator", "viewer"):
        token = create_token(db, f"{role}-token", role=role)
        headers = {"Authorization": f"Bearer {token}"}
        r = client.post("/api/v1/nodes", json={"id": f"n-{role}", "zone_id": 1}, headers=headers)
        assert (r.status_code, r.json()["error"]["code"]) == (403, "forbidden"), role
        r = client.post("/api/v1/nodes/lac-xuan-1/revoke", headers=headers)
        assert r.status_code == 403, role
    anon = TestClient(client.app)
    assert anon.post("/api/v1/nodes", json={"id": "x-1", "zone_id": 1}).status_code == 401
    assert anon.post("/api/v1/nodes/lac-xuan-1/revoke").status_code == 401
    assert db.execute("SELECT COUNT(*) FROM nodes WHERE revoked = 1").fetchone()[0] == 0


def test_revoking_locks_the_node_out_of_media_broker_and_dispatch(
    client: TestClient, commune: SeededCommune, settings: Settings
) -> None:
    node = commune.nodes[0]
    db = client.app.state.runtime.store.db
    assert media(client, settings, node.secret) == 200
    # a broadcast already planned for it, one in the past
    ann = insert(db, "announcements", {"title": "Tin", "text": "x", "status": "approved"})
    bid = insert(
        db,
        "broadcasts",
        {
            "announcement_id": ann,
            "zone_ids": "[]",
            "status": "active",
            "priority": "normal",
            "max_late_s": 30.0,
            "repeats": 1,
        },
    )
    soon, past = utcnow() + timedelta(hours=1), utcnow() - timedelta(hours=1)
    for occurrence, at, state in [
        ("a", soon, "queued"),
        ("b", soon, "acked"),
        ("c", past, "played"),
    ]:
        insert(
            db,
            "dispatches",
            {
                "broadcast_id": bid,
                "occurrence": occurrence,
                "node_id": node.node_id,
                "play_at": to_wire_time(at),
                "state": state,
            },
        )

    r = client.post(f"/api/v1/nodes/{node.node_id}/revoke")
    assert r.status_code == 200, r.text
    assert r.json()["revoked"] == 1 and r.json()["revoked_at"]
    assert "token_hash" not in r.json()

    assert media(client, settings, node.secret) == 401, "its media token stops working"
    assert node.node_id not in broker_users(settings), "the broker no longer knows it"
    assert node.node_id not in {n["id"] for n in client.get("/api/v1/nodes").json()}
    assert node.node_id not in zones.nodes_under(db, [commune.commune_id]), "no new dispatches"
    states = dict(db.execute("SELECT occurrence, state FROM dispatches").fetchall())
    assert states == {"a": "cancelled", "b": "cancelled", "c": "played"}, "the play log is kept"
    # the other nodes are untouched
    assert set(broker_users(settings)) == {
        "loa-controller",
        *(n.node_id for n in commune.nodes[1:]),
    }
    assert media(client, settings, commune.nodes[1].secret) == 200

    again = client.post(f"/api/v1/nodes/{node.node_id}/revoke")
    assert again.status_code == 200 and again.json()["revoked_at"] == r.json()["revoked_at"]
    code = client.post("/api/v1/nodes/no-such-node/revoke").json()["error"]["code"]
    assert code == "node_not_found"
    readd = add(client, id=node.node_id, zone_id=node.zone_id)
    assert (readd[0], readd[1]["error"]["code"]) == (409, "node_exists"), "ids are never reused"


def test_every_change_is_audited_without_the_secret(
    client: TestClient, commune: SeededCommune
) -> None:
    code, bundle = add(client, id="binh-2", zone_id=commune.nodes[1].zone_id)
    assert code == 201
    client.post("/api/v1/nodes/binh-2/revoke")
    db = client.app.state.runtime.store.db
    rows = list(db.query("SELECT * FROM audit_log WHERE entity = 'node' ORDER BY id"))
    assert [(r["action"], r["entity_id"]) for r in rows] == [
        ("node.add", "binh-2"),
        ("node.revoke", "binh-2"),
    ]
    assert json.loads(rows[1]["after"])["revoked"] == 1
    assert all(bundle["mqtt"]["password"] not in json.dumps(r) for r in rows)


def test_broker_files_are_written_private_with_a_generated_controller_password(
    client: TestClient, commune: SeededCommune, settings: Settings
) -> None:
    assert add(client, id="moi-2", zone_id=commune.commune_id)[0] == 201
    password_file = settings.data_dir / "mqtt_password"
    assert stat.S_IMODE(password_file.stat().st_mode) == 0o600
    assert len(password_file.read_text().strip()) >= 30
    first = stored_controller_password(settings.data_dir)
    assert add(client, id="moi-3", zone_id=commune.commune_id)[0] == 201
    assert stored_controller_password(settings.data_dir) == first, "made once, then kept"
    acl = (settings.data_dir / "broker" / "acl").read_text()
    assert "pattern read loa/v1/node/%u/cmd" in acl


def test_a_broker_file_failure_never_loses_the_new_node_or_its_bundle(
    client: TestClient, commune: SeededCommune, settings: Settings, tmp_path: Path, caplog
) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    settings.extra["broker_dir"] = str(blocker)  # mkdir fails, even for root
    code, bundle = add(client, id="moi-9", zone_id=commune.commune_id)
    assert code == 201 and bundle["mqtt"]["password"]
    assert "loa controller broker-files" in caplog.text
    db = client.app.state.runtime.store.db
    assert db.execute("SELECT COUNT(*) FROM nodes WHERE id = 'moi-9'").fetchone()[0] == 1


def test_reissue_gives_a_new_secret_and_the_old_one_stops_working(
    client: TestClient, commune: SeededCommune, settings: Settings
) -> None:
    node = commune.nodes[1]
    r = client.post(f"/api/v1/nodes/{node.node_id}/reissue")
    assert r.status_code == 200, r.text
    assert r.headers["cache-control"] == "no-store"
    secret = r.json()["mqtt"]["password"]
    assert secret != node.secret and r.json()["http"]["token"] == secret
    assert media(client, settings, node.secret) == 401
    assert media(client, settings, secret) == 200
    assert mosquitto_verify(broker_users(settings)[node.node_id], secret)
    assert not mosquitto_verify(broker_users(settings)[node.node_id], node.secret)

    client.post(f"/api/v1/nodes/{node.node_id}/revoke")
    gone = client.post(f"/api/v1/nodes/{node.node_id}/reissue")
    assert (gone.status_code, gone.json()["error"]["code"]) == (409, "node_revoked")
    assert client.post("/api/v1/nodes/khong-co/reissue").status_code == 404
    viewer = create_token(client.app.state.runtime.store.db, "v", role="viewer")
    denied = client.post(
        f"/api/v1/nodes/{commune.nodes[0].node_id}/reissue",
        headers={"Authorization": f"Bearer {viewer}"},
    )
    assert denied.status_code == 403
