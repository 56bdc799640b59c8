"""The whole provisioning path with real parts: ``loa node add`` and the API make bundles,
``loa node provision`` installs them, agent processes connect over TLS to a real Mosquitto that
uses the generated password and ACL files, and ack the real controller's signed commands;
revoking a node drops it from the broker."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import httpx

from controller.core.db import Store
from controller.domain import zones
from tests.node_agent.test_tls import make_ca, make_server_cert
from tests.support.broker import Mosquitto
from tests.support.mqtt_auth import Client, auth_config
from tests.support.net import free_port, wait_for_port, wait_until
from tests.support.system import Process

TOKEN = "round-trip-token-" + "r" * 20


def loa(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "loa", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )


def install(bundle: Path, root: Path, env: dict[str, str]) -> Path:
    """``loa node provision`` as on the Pi, then the Pi's own local settings (a file sink)."""
    conf = root / "etc" / "node.toml"
    done = loa(
        "node",
        "provision",
        str(bundle),
        "--config",
        str(conf),
        "--data-dir",
        str(root / "var"),
        env=env,
    )
    assert done.returncode == 0, done.stderr
    conf.write_text(conf.read_text() + '\n[player]\nbackend = "file"\nmixer_control = ""\n')
    return conf


def test_bundles_from_cli_and_api_bring_real_agents_onto_a_secured_broker(tmp_path: Path) -> None:
    import os

    data = tmp_path / "controller"
    store = Store(data / "loa.db")
    with store.transaction() as db:
        zone = zones.add_zone(db, "Thôn Lạc Xuân", "village")
    certs = tmp_path / "certs"
    certs.mkdir()
    ca, ca_key, ca_cert = make_ca(certs, "loa-test-ca")
    crt, key = make_server_cert(certs, ca_key, ca_cert)
    files = data / "broker"
    broker = Mosquitto(tmp_path / "mosquitto")
    tls_port = free_port()
    broker.extra_config = auth_config(files) + (
        f"listener {tls_port} 127.0.0.1\ncafile {ca}\ncertfile {crt}\nkeyfile {key}\n"
        "use_username_as_clientid true\n"  # the nodes' listener, as in docs/operations.md
    )
    port = free_port()
    env = {
        **os.environ,
        "LOA_DATA_DIR": str(data),
        "LOA_PUBLIC_URL": f"http://127.0.0.1:{port}",
        "LOA_NODE_MQTT_URL": f"mqtts://127.0.0.1:{tls_port}",
        "LOA_NODE_CA_FILE": str(ca),
        "LOA_BROKER_PID_FILE": str(files / "mosquitto.pid"),
    }
    env.pop("LOA_MQTT_PASSWORD", None)

    # 1. the first node from the command line, before the broker ever ran
    made = loa(
        "node",
        "add",
        "lac-xuan-1",
        "--zone",
        "Thôn Lạc Xuân",
        "--out",
        str(tmp_path / "b1.json"),
        env=env,
    )
    assert made.returncode == 0, made.stderr
    controller_password = (data / "mqtt_password").read_text().strip()
    broker.start()
    wait_for_port(tls_port)
    procs: list[Process] = []
    spy = Client(broker.port, "loa-controller", controller_password, "spy")
    try:
        # 2. the controller finds its generated MQTT password on its own
        ctl = Process(
            "controller",
            [
                sys.executable,
                "-m",
                "loa",
                "controller",
                "--port",
                str(port),
                "--mqtt-url",
                broker.url,
                "--api-token",
                TOKEN,
                "--tick",
                "0.5",
            ],
            tmp_path / "controller.log",
            env={k: v for k, v in env.items() if k.startswith("LOA_")},
        )
        ctl.start()
        procs.append(ctl)
        wait_for_port(port, timeout=30)
        api = httpx.Client(
            base_url=f"http://127.0.0.1:{port}",
            timeout=30,
            headers={"Authorization": f"Bearer {TOKEN}"},
        )

        # 3. the second node through the API; the controller makes Mosquitto reload
        r = api.post("/api/v1/nodes", json={"id": "lac-xuan-2", "zone_id": zone})
        assert r.status_code == 201, r.text
        (tmp_path / "b2.json").write_text(r.text)

        assert spy.connect()
        spy.subscribe("loa/v1/node/+/+")
        for n in (1, 2):
            bundle = json.loads((tmp_path / f"b{n}.json").read_text())
            assert bundle["ca_pem"] == ca.read_text()
            conf = install(tmp_path / f"b{n}.json", tmp_path / f"pi{n}", env)
            agent = Process(
                f"lac-xuan-{n}",
                [sys.executable, "-m", "loa", "node", "--config", str(conf)],
                tmp_path / f"pi{n}.log",
            )
            agent.start()
            procs.append(agent)

        def acked(node: str) -> bool:
            """An ok ack from the node for a command the controller signed and sent it."""
            sent = {json.loads(p)["id"] for t, p in spy.messages if t == f"loa/v1/node/{node}/cmd"}
            for t, p in spy.messages:
                if t == f"loa/v1/node/{node}/report":
                    report = json.loads(p)
                    if report["type"] == "ack" and report["body"]["cmd_id"] in sent:
                        assert report["body"]["ok"], report
                        return True
            return False

        wait_until(
            lambda: acked("lac-xuan-1") and acked("lac-xuan-2"),
            timeout=30,
            what="both agents to ack the controller's schedule.sync",
        )
        wait_until(
            lambda: (
                {n["id"] for n in api.get("/api/v1/nodes").json() if n["online"]}
                == {"lac-xuan-1", "lac-xuan-2"}
            ),
            timeout=15,
            what="both nodes online",
        )

        # 4. revoke through the API: the broker drops the node and keeps it out
        secret2 = json.loads((tmp_path / "b2.json").read_text())["mqtt"]["password"]
        seen_before = len(spy.messages)
        assert api.post("/api/v1/nodes/lac-xuan-2/revoke").status_code == 200

        def emptied() -> bool:
            """An empty, signed schedule.sync went to the node before the broker dropped it."""
            return any(
                t == "loa/v1/node/lac-xuan-2/cmd"
                and json.loads(p)["type"] == "schedule.sync"
                and json.loads(p)["body"]["items"] == []
                and json.loads(p)["sig"]
                for t, p in spy.messages[seen_before:]
            )

        wait_until(emptied, timeout=10, what="an empty schedule.sync to the revoked node")
        wait_until(
            lambda: (
                "Client lac-xuan-2 disconnected" in broker.log_path.read_text()
                or "Client lac-xuan-2 closed" in broker.log_path.read_text()
            ),
            timeout=10,
            what="the broker to drop the revoked node",
        )
        probe = Client(broker.port, "lac-xuan-2", secret2, "lac-xuan-2")
        assert not probe.connect()
        probe.close()
        assert procs[1].running, "the first node is unaffected"
        ids = {n["id"] for n in api.get("/api/v1/nodes").json()}
        assert ids == {"lac-xuan-1"}
    except BaseException:
        for p in procs:
            print(f"==== {p.name}\n{p.log()[-3000:]}")
        print(broker.log_path.read_text()[-3000:])
        raise
    finally:
        spy.close()
        for p in reversed(procs):
            p.stop()
        broker.stop()
