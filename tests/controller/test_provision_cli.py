"""``loa node add|revoke`` and ``loa controller rotate-key | broker-files`` (run through the real
``loa`` argument parser, in-process)."""

from __future__ import annotations

import json
import stat
from datetime import timedelta
from pathlib import Path

import pytest

from controller.core.broker_files import mosquitto_verify
from controller.core.db import Store
from controller.domain.fleet import node_for_token
from controller.domain.seed import SeededCommune, seed_commune
from loa.cli import main
from loa.protocol import NodePing, new_command, utcnow
from loa.signing import (
    load_or_create_private_key,
    load_public_key_b64,
    public_key_b64,
    sign,
    verify_command,
)


@pytest.fixture
def data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, SeededCommune]:
    data_dir = tmp_path / "data"
    monkeypatch.setenv("LOA_DATA_DIR", str(data_dir))
    for name in ("LOA_MQTT_PASSWORD", "LOA_BROKER_DIR", "LOA_NODE_MQTT_URL", "LOA_NODE_CA_FILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("LOA_BROKER_PID_FILE", raising=False)
    monkeypatch.chdir(tmp_path)
    commune = seed_commune(Store(data_dir / "loa.db"))
    return data_dir, commune


def users(data_dir: Path) -> dict[str, str]:
    text = (data_dir / "broker" / "passwd").read_text()
    return dict(line.split(":", 1) for line in text.splitlines())


def test_node_add_writes_a_private_bundle_and_revoke_locks_it_out(data, capsys) -> None:
    data_dir, _ = data
    assert main(["node", "add", "lac-xuan-9", "--zone", "Thôn Lạc Xuân", "--lat", "21"]) == 2
    assert "bad_coordinates" in capsys.readouterr().err
    assert main(["node", "add", "lac-xuan-9", "--zone", "Thôn Lạc Xuân", "--name", "Chợ"]) == 0
    bundle_path = Path("lac-xuan-9.bundle.json")
    assert stat.S_IMODE(bundle_path.stat().st_mode) == 0o600
    bundle = json.loads(bundle_path.read_text())
    secret = bundle["mqtt"]["password"]
    assert bundle["name"] == "Chợ"
    assert mosquitto_verify(users(data_dir)["lac-xuan-9"], secret)
    err = capsys.readouterr().err
    assert "loa node provision lac-xuan-9.bundle.json" in err
    assert "systemctl reload mosquitto" in err, "no pid file: the operator is told to reload"

    assert main(["node", "add", "lac-xuan-9", "--zone", "1", "--out", "-"]) == 2
    assert "node_exists" in capsys.readouterr().err
    assert main(["node", "add", "x-1", "--zone", "Không có"]) == 2
    assert "zone_not_found" in capsys.readouterr().err

    assert main(["node", "revoke", "lac-xuan-9"]) == 0
    assert "lac-xuan-9" not in users(data_dir)
    assert node_for_token(Store(data_dir / "loa.db").db, secret) is None
    assert main(["node", "revoke", "khong-co"]) == 2
    assert "node_not_found" in capsys.readouterr().err


def test_node_add_refuses_a_wrong_data_dir_without_creating_a_database(
    tmp_path: Path, data
) -> None:
    with pytest.raises(SystemExit, match="--data-dir"):
        main(["node", "add", "a-1", "--zone", "1", "--data-dir", str(tmp_path / "nope")])
    assert not (tmp_path / "nope").exists()


def test_rotate_key_signs_with_a_new_key_and_reissues_every_active_bundle(data, capsys) -> None:
    data_dir, commune = data
    old_key = load_or_create_private_key(data_dir / "controller_ed25519.pem")
    store = Store(data_dir / "loa.db")
    store.db.execute("UPDATE nodes SET revoked = 1 WHERE id = 'dong-thanh-1'")

    assert main(["controller", "rotate-key", "--bundles", "new-bundles"]) == 0
    new_key = load_or_create_private_key(data_dir / "controller_ed25519.pem")
    assert public_key_b64(new_key) != public_key_b64(old_key)
    kept = list(data_dir.glob("controller_ed25519.pem.*.old"))
    assert len(kept) == 1 and stat.S_IMODE(kept[0].stat().st_mode) == 0o600
    folder = Path("new-bundles")
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert sorted(p.name for p in folder.iterdir()) == [
        "lac-binh-1.bundle.json",
        "lac-xuan-1.bundle.json",
    ], "revoked nodes get none"
    for node in commune.nodes[:2]:
        bundle = json.loads((folder / f"{node.node_id}.bundle.json").read_text())
        secret = bundle["mqtt"]["password"]
        # a command the new key signs passes the check the node makes with its new bundle
        envelope = sign(
            new_command("node.ping", node.node_id, NodePing(), ttl=timedelta(minutes=1)), new_key
        )
        pub = load_public_key_b64(bundle["controller_public_key"])
        assert verify_command(envelope, pub, node.node_id, utcnow()).type == "node.ping"
        # the old secret is worthless, the new one works
        assert node_for_token(store.db, node.secret) is None
        assert node_for_token(store.db, secret)["id"] == node.node_id
        assert mosquitto_verify(users(data_dir)[node.node_id], secret)
    assert "khởi động lại bộ điều khiển ngay" in capsys.readouterr().err
    # a second rotation into the same folder refuses before touching the key
    assert main(["controller", "rotate-key", "--bundles", "new-bundles"]) == 2
    again = load_or_create_private_key(data_dir / "controller_ed25519.pem")
    assert public_key_b64(again) == public_key_b64(new_key)


def test_broker_files_command_writes_the_files_for_a_first_broker_start(data, capsys) -> None:
    data_dir, commune = data
    assert main(["controller", "broker-files"]) == 0
    assert set(users(data_dir)) == {"loa-controller", *(n.node_id for n in commune.nodes)}
    assert (data_dir / "broker" / "acl").exists()
    assert stat.S_IMODE((data_dir / "mqtt_password").stat().st_mode) == 0o600


def test_reissue_and_add_refuse_to_overwrite_a_bundle_before_changing_anything(
    data, capsys
) -> None:
    data_dir, commune = data
    node = commune.nodes[0]
    Path(f"{node.node_id}.bundle.json").write_text("an older bundle")
    assert main(["node", "reissue", node.node_id]) == 2
    store = Store(data_dir / "loa.db")
    assert node_for_token(store.db, node.secret)["id"] == node.node_id, "secret unchanged"
    Path("moi-1.bundle.json").write_text("x")
    assert main(["node", "add", "moi-1", "--zone", "1"]) == 2
    assert not list(store.db.query("SELECT 1 FROM nodes WHERE id = 'moi-1'"))

    assert main(["node", "reissue", node.node_id, "--out", "new.json"]) == 0
    secret = json.loads(Path("new.json").read_text())["mqtt"]["password"]
    assert node_for_token(store.db, node.secret) is None
    assert node_for_token(store.db, secret)["id"] == node.node_id
    assert "loa node provision --force new.json" in capsys.readouterr().err
