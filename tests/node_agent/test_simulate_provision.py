"""``loa node simulate`` (many agents, each with its own credentials, in one process) and
``loa node provision`` (installing the controller's bundle)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest

from loa.protocol import NodePing, SchedulePut
from node_agent.config import load_config
from node_agent.provision import ProvisionError, provision
from tests.node_agent.harness import (
    LOA,
    TOKEN,
    Controller,
    item,
    media_blob,
    parse_time,
    soon,
    wait_online,
)
from tests.support.broker import Mosquitto


@pytest.fixture
def password_broker() -> Iterator[tuple[Mosquitto, dict[str, str]]]:
    """A broker that lets in only the listed users with their own passwords."""
    directory = Path(tempfile.mkdtemp(prefix="loa-node-pw-"))
    os.chmod(directory, 0o777)
    users = {f"sim-{n:04d}": f"secret-{n}" for n in range(1, 4)} | {"controller": "ctl-pw"}
    pwfile = directory / "passwd"
    pwfile.write_text("".join(f"{u}:{p}\n" for u, p in users.items()))
    subprocess.run(["mosquitto_passwd", "-U", str(pwfile)], check=True)
    os.chmod(pwfile, 0o644)
    broker = Mosquitto(directory, extra_config=f"allow_anonymous false\npassword_file {pwfile}\n")
    broker.start()
    yield broker, users
    broker.stop()
    shutil.rmtree(directory, ignore_errors=True)


@pytest.mark.skipif(shutil.which("mosquitto_passwd") is None, reason="needs mosquitto_passwd")
def test_simulated_nodes_each_log_in_with_their_own_credentials_and_play(
    password_broker, media, tmp_path
):
    broker, users = password_broker
    ctl = Controller(broker.port)
    ctl.client.username_pw_set("controller", "ctl-pw")
    ctl.start()
    creds = {u: p for u, p in users.items() if u.startswith("sim-")}
    creds["sim-0004"] = "wrong-password"
    (tmp_path / "creds.json").write_text(json.dumps(creds))
    media.tokens = set(creds.values())  # each node fetches media with its own secret
    proc = subprocess.Popen(
        [
            LOA,
            "node",
            "simulate",
            "--broker",
            broker.url,
            "--data-dir",
            str(tmp_path / "sim"),
            "--controller-public-key",
            ctl.public_b64,
            "--credentials",
            str(tmp_path / "creds.json"),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        for nid in ("sim-0001", "sim-0002", "sim-0003"):
            wait_online(ctl, nid)
        content = media.content(media_blob("sim"), duration_s=0.2)
        play_at = soon(2)
        for nid in ("sim-0001", "sim-0002", "sim-0003"):
            ctl.send("schedule.put", nid, SchedulePut(items=[item(1, content, play_at)]))
        for nid in ("sim-0001", "sim-0002", "sim-0003"):
            done = ctl.finished(nid, 1)
            assert done["result"] == "played"
            assert abs(parse_time(done["started_at"]) - play_at) < 0.1
            sink = tmp_path / "sim" / nid / "plays.jsonl"
            assert json.loads(sink.read_text())["node"] == nid
        assert not ctl.states("sim-0004"), "the node with a wrong password stays out"
    finally:
        proc.terminate()
        out = proc.communicate(timeout=20)[0].decode()
        ctl.stop()
    assert "3/4 connected" in out


def bundle(public_key: str, url: str, **extra) -> dict:
    return {
        "version": 1,
        "node_id": "lac-xuan-1",
        "controller_public_key": public_key,
        "mqtt": {"url": url, "password": "s3cret"},
        **extra,
    }


def test_provision_writes_a_private_config_that_the_agent_runs_with(
    tmp_path, mosquitto, controller, media
):
    path = tmp_path / "bundle.json"
    path.write_text(json.dumps(bundle(controller.public_b64, mosquitto.url, http={"token": TOKEN})))
    cfg_path = provision(path, tmp_path / "etc" / "node.toml", tmp_path / "var")
    assert oct(cfg_path.stat().st_mode & 0o777) == "0o600"
    cfg = load_config(cfg_path)
    assert cfg.node_id == "lac-xuan-1" and cfg.username == "lac-xuan-1"
    assert cfg.mqtt.password == "s3cret" and cfg.http.token == TOKEN
    assert cfg.data_dir == tmp_path / "var"
    # run the agent exactly as systemd would
    cfg_path.write_text(cfg_path.read_text() + '\n[player]\nbackend = "file"\nmixer_control = ""\n')
    proc = subprocess.Popen(
        [LOA, "node", "--config", str(cfg_path)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_online(controller, "lac-xuan-1")
        env = controller.send("node.ping", "lac-xuan-1", NodePing())
        assert controller.ack(env["id"])["ok"]
    finally:
        proc.terminate()
        proc.wait(10)


def test_provision_installs_the_ca_keeps_local_settings_and_reads_toml(tmp_path):
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from loa.signing import public_key_b64

    pub = public_key_b64(Ed25519PrivateKey.generate())
    conf = tmp_path / "node.toml"
    conf.write_text(
        'node_id = "old"\ndata_dir = "/x"\ncontroller_public_key = "k"\n'
        "[amplifier]\ngpio_pin = 17\nwarmup_s = 3.0\n"
    )
    toml_bundle = tmp_path / "b.toml"
    toml_bundle.write_text(
        f'version = 1\nnode_id = "dong-thanh-2"\ncontroller_public_key = "{pub}"\n'
        'ca_pem = """-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"""\n'
        '[mqtt]\nurl = "mqtts://loa.example.vn:8883"\npassword = "p"\n'
    )
    with pytest.raises(ProvisionError, match="exists"):
        provision(toml_bundle, conf, tmp_path / "data")
    provision(toml_bundle, conf, tmp_path / "data", force=True)
    written = tomllib.loads(conf.read_text())
    assert written["node_id"] == "dong-thanh-2"
    assert written["amplifier"] == {"gpio_pin": 17, "warmup_s": 3.0}
    assert written["mqtt"]["ca_file"] == str(tmp_path / "ca.crt")
    assert written["http"]["token"] == "p", "the media token defaults to the MQTT password"
    assert (tmp_path / "ca.crt").read_text().startswith("-----BEGIN CERTIFICATE-----")
    cfg = load_config(conf)
    assert cfg.mqtt.tls and cfg.mqtt.port == 8883


@pytest.mark.parametrize(
    "broken, message",
    [
        ({"node_id": ""}, "node_id"),
        ({"mqtt": {"url": "mqtt://x"}}, "password"),
        ({"controller_public_key": "not-base64!"}, "invalid"),
        ({"version": 2}, "version"),
        ({"node_id": "Bad Id"}, "invalid"),
    ],
)
def test_provision_refuses_a_bad_bundle(tmp_path, broken, message):
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from loa.signing import public_key_b64

    data = bundle(public_key_b64(Ed25519PrivateKey.generate()), "mqtt://127.0.0.1:1883")
    data.update(broken)
    path = tmp_path / "bundle.json"
    path.write_text(json.dumps(data))
    with pytest.raises(ProvisionError, match=message):
        provision(path, tmp_path / "node.toml", tmp_path / "data")
    assert not (tmp_path / "node.toml").exists()
