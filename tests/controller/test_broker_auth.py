"""``/broker/…``: the HTTP authentication and authorization an MQTT cluster asks the controller
(issue 17, part 4), called exactly as EMQX 5's HTTP authenticator/authorizer and
mosquitto-go-auth's HTTP backend call them, and checked against the generated Mosquitto ACL
file and a real Mosquitto running with it.

The brokers' contracts, as their documentation and code say:

- EMQX 5 renders the body the operator configured (placeholders ``${username}`` …) as JSON (or
  a form) and POSTs it; it reads 200 + ``{"result": "allow"|"deny"|"ignore",
  "is_superuser": bool}`` (authn) or ``{"result": …}`` (authz), 204 as allow (authz), and any
  other status as "ignore". ``${action}`` is ``publish`` or ``subscribe``.
- mosquitto-go-auth's HTTP backend (backends/http.go) POSTs ``{"username", "password",
  "clientid"}`` to the user URI, ``{"username"}`` to the superuser URI and ``{"username",
  "clientid", "topic", "acc"}`` (acc an integer) to the ACL URI, as JSON or as a form (acc a
  string); its ``status`` response mode allows any 2xx, its ``json`` mode a 2xx whose body has
  ``"ok": true``. ``go_auth_reads`` below is that reading rule.
"""

from __future__ import annotations

import base64
import itertools
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from controller.app import create_app
from controller.core import broker_files, broker_rules
from controller.core.broker_rules import Access, Action, Rule
from controller.core.settings import Settings
from controller.domain import fleet, provisioning, zones
from controller.domain.broker_access import BrokerAuth
from tests.support.broker import Mosquitto
from tests.support.mqtt_auth import Client, auth_config
from tests.support.net import wait_until

SECRET = "broker-secret-" + "s" * 30
BEARER = {"Authorization": f"Bearer {SECRET}"}
CONTROLLER_PASSWORD = "controller-mqtt-password-1234"
EMQX_JSON = {**BEARER, "Content-Type": "application/json"}


@dataclass
class Province:
    client: TestClient
    settings: Settings
    secrets: dict[str, str]
    zones: dict[str, int]
    clock: list[float]

    @property
    def auth(self) -> BrokerAuth:
        return self.client.app.state.broker_auth  # type: ignore[attr-defined]


@pytest.fixture
def province(tmp_path: Path) -> Iterator[Province]:
    settings = Settings(
        data_dir=tmp_path / "controller",
        mqtt_password=CONTROLLER_PASSWORD,
        broker_auth_secret=SECRET,
        broker_auth_max_failures=3,
        extra={"broker_dir": str(tmp_path / "broker")},
    )
    app = create_app(settings, start_services=False)
    store = app.state.runtime.store
    clock = [1000.0]
    app.state.broker_auth = BrokerAuth(cache_s=300, max_failures=3, clock=lambda: clock[0])
    with store.transaction() as db:
        tinh = zones.add_zone(db, "Tỉnh Thanh Hóa", "province")
        xa = zones.add_zone(db, "Xã Lạc Lâm", "commune", tinh)
        thon_a = zones.add_zone(db, "Thôn Lạc Xuân", "village", xa)
        thon_b = zones.add_zone(db, "Thôn Lạc Thịnh", "village", xa)
        xa_khac = zones.add_zone(db, "Xã Đông Sơn", "commune", tinh)
        secrets = {
            "node-a": fleet.add_node(db, "node-a", thon_a),
            "node-b": fleet.add_node(db, "node-b", thon_b),
            "node-x": fleet.add_node(db, "node-x", xa_khac),
            "node-r": fleet.add_node(db, "node-r", thon_a),
        }
    cfg = provisioning.ProvisioningConfig.from_settings(settings, env={})
    provisioning.revoke_node(store, cfg, "node-r")
    ids = {"tinh": tinh, "xa": xa, "thon_a": thon_a, "thon_b": thon_b, "xa_khac": xa_khac}
    with TestClient(app) as client:
        yield Province(client, settings, secrets, ids, clock)


def emqx_authn(p: Province, username: str, password: str, **extra: Any) -> dict[str, Any]:
    """EMQX's HTTP authenticator: POST, JSON body from the configured template."""
    body = {"username": username, "password": password, "clientid": username, **extra}
    answer = p.client.post("/broker/emqx/authn", content=json.dumps(body), headers=EMQX_JSON)
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == "application/json"
    return answer.json()


def emqx_authz(p: Province, username: str, topic: str, action: str) -> str:
    """EMQX's HTTP authorizer: ``${action}`` is publish or subscribe."""
    body = {
        "username": username,
        "clientid": username,
        "peerhost": "10.0.0.7",
        "topic": topic,
        "action": action,
        "qos": "1",
        "retain": "false",
    }
    answer = p.client.post("/broker/emqx/authz", content=json.dumps(body), headers=EMQX_JSON)
    assert answer.status_code == 200, answer.text
    result = answer.json()["result"]
    assert result in ("allow", "deny")
    return result


def go_auth_reads(answer: Any, mode: str) -> bool:
    """How mosquitto-go-auth's HTTP backend reads an answer (backends/http.go)."""
    if answer.status_code < 200 or answer.status_code >= 300:
        assert answer.status_code < 500, "a 5xx is an error to it, not a refusal"
        return False
    if mode == "status":
        return True
    assert mode == "json"
    body = answer.json()
    assert set(body) == {"ok", "error"}
    return bool(body["ok"])


def go_auth(p: Province, uri: str, params: dict[str, Any], form: bool) -> Any:
    """A request as mosquitto-go-auth makes it: JSON (acc an integer) or a form (PostForm)."""
    if form:
        data = {k: str(v) for k, v in params.items()}
        return p.client.post(f"/broker/mosquitto/{uri}", data=data, headers=BEARER)
    return p.client.post(
        f"/broker/mosquitto/{uri}",
        content=json.dumps(params),
        headers={**BEARER, "Content-Type": "application/json", "User-Agent": "mosquitto-2.0.0"},
    )


def go_auth_answers(p: Province, uri: str, params: dict[str, Any]) -> bool:
    """The same request in both parameter modes, read in both response modes: one answer."""
    seen = set()
    for form in (False, True):
        answer = go_auth(p, uri, params, form)
        for mode in ("status", "json"):
            seen.add(go_auth_reads(answer, mode))
    assert len(seen) == 1, (uri, params, seen)
    return seen.pop()


# --- authentication -----------------------------------------------------------------------------


def test_emqx_authn_allows_the_node_secret_and_the_controller_and_nobody_else(
    province: Province,
) -> None:
    p = province
    assert emqx_authn(p, "node-a", p.secrets["node-a"], peerhost="10.0.0.7") == {
        "result": "allow",
        "is_superuser": False,
    }
    assert emqx_authn(p, "loa-controller", CONTROLLER_PASSWORD) == {
        "result": "allow",
        "is_superuser": False,
    }
    for username, password in [
        ("node-a", p.secrets["node-b"]),  # another node's secret
        ("node-a", ""),
        ("node-r", p.secrets["node-r"]),  # revoked
        ("node-z", p.secrets["node-a"]),  # not provisioned
        ("loa-controller", "wrong"),
        ("", ""),
    ]:
        assert emqx_authn(p, username, password) == {"result": "deny", "is_superuser": False}


def test_a_node_must_use_its_own_id_as_client_id(province: Province) -> None:
    """The cluster's ``use_username_as_clientid``: node A with client id node-b (or the
    controller's) would push that session off the broker."""
    p = province
    secret = p.secrets["node-a"]
    for client_id in ("node-b", "loa-controller", ""):
        assert emqx_authn(p, "node-a", secret, clientid=client_id)["result"] == "deny"
        params = {"username": "node-a", "password": secret, "clientid": client_id}
        assert not go_auth_answers(p, "user", params)
        p.clock[0] += 61  # each refusal counts as a failure: keep under the rate limit
    assert emqx_authn(p, "node-a", secret, clientid="node-a")["result"] == "allow"
    # a template without ${clientid}: nothing to compare
    body = json.dumps({"username": "node-a", "password": secret})
    answer = p.client.post("/broker/emqx/authn", content=body, headers=EMQX_JSON)
    assert answer.json()["result"] == "allow"
    # the controller's client id is its own business (the link always says loa-controller)
    assert (
        emqx_authn(p, "loa-controller", CONTROLLER_PASSWORD, clientid="ctl-2")["result"] == "allow"
    )


def test_the_controller_with_its_generated_password_and_never_an_empty_one(
    tmp_path: Path,
) -> None:
    """``LOA_MQTT_PASSWORD`` unset: the generated ``mqtt_password`` file is the password; before
    it exists, the controller's user gets in with nothing."""
    settings = Settings(data_dir=tmp_path / "controller", broker_auth_secret=SECRET)
    app = create_app(settings, start_services=False)
    with TestClient(app) as client:

        def result(password: str) -> str:
            body = {"username": "loa-controller", "password": password, "clientid": "x"}
            answer = client.post("/broker/emqx/authn", json=body, headers=BEARER)
            return answer.json()["result"]

        assert result("") == "deny" and result("None") == "deny"
        generated = broker_files.controller_password(settings.data_dir)
        assert result(generated) == "allow"
        assert result(generated[:-1]) == "deny" and result("") == "deny"


def test_emqx_authn_with_a_form_body(province: Province) -> None:
    p = province
    for password, result in [(p.secrets["node-b"], "allow"), ("nope", "deny")]:
        answer = p.client.post(
            "/broker/emqx/authn",
            data={"username": "node-b", "password": password, "clientid": "node-b"},
            headers=BEARER,
        )
        assert answer.status_code == 200
        assert answer.json() == {"result": result, "is_superuser": False}


def test_go_auth_user_and_superuser_in_both_param_and_response_modes(province: Province) -> None:
    p = province
    user = {"username": "node-a", "password": p.secrets["node-a"], "clientid": "node-a"}
    assert go_auth_answers(p, "user", user)
    assert go_auth_answers(
        p, "user", {**user, "username": "loa-controller", "password": CONTROLLER_PASSWORD}
    )
    assert not go_auth_answers(p, "user", {**user, "password": p.secrets["node-b"]})
    assert not go_auth_answers(
        p, "user", {**user, "username": "node-r", "password": p.secrets["node-r"]}
    )
    for username in ("node-a", "loa-controller", "node-z"):
        assert not go_auth_answers(p, "superuser", {"username": username})
    refused = go_auth(p, "user", {**user, "password": "x"}, form=False)
    assert refused.status_code == 403 and refused.json()["ok"] is False and refused.json()["error"]


# --- the endpoints' own protection --------------------------------------------------------------


def test_without_the_shared_secret_every_endpoint_refuses(
    province: Province, tmp_path: Path
) -> None:
    p = province
    body = json.dumps(
        {"username": "node-a", "password": p.secrets["node-a"], "topic": "x", "acc": 1}
    )
    paths = [
        "/broker/emqx/authn",
        "/broker/emqx/authz",
        "/broker/mosquitto/user",
        "/broker/mosquitto/superuser",
        "/broker/mosquitto/acl",
    ]
    basic = base64.b64encode(f"loa-broker:{SECRET}".encode()).decode()
    wrong_user = base64.b64encode(f"admin:{SECRET}".encode()).decode()
    for path in paths:
        for headers in [
            {},
            {"Authorization": "Bearer wrong"},
            {"Authorization": f"Bearer {SECRET}x"},
            {"Authorization": f"Basic {wrong_user}"},
            {"Authorization": "Basic !!!"},
            {"Authorization": SECRET},
        ]:
            answer = p.client.post(path, content=body, headers=headers)
            assert answer.status_code == 401, (path, headers)
            assert answer.json()["error"]["code"] == "unauthorized"
        # HTTP Basic as mosquitto-go-auth sends it (http_host loa-broker:<secret>@host)
        ok = p.client.post(path, content=body, headers={"Authorization": f"Basic {basic}"})
        assert ok.status_code in (200, 403), path
        assert set(ok.json()) in ({"ok", "error"}, {"result"}, {"result", "is_superuser"}), path
    # no secret configured: refused even with an empty bearer
    app = create_app(Settings(data_dir=tmp_path / "other"), start_services=False)
    with TestClient(app) as client:
        for headers in [{}, {"Authorization": "Bearer "}, {"Authorization": "Bearer"}]:
            answer = client.post("/broker/emqx/authn", content=body, headers=headers)
            assert answer.status_code == 401


def test_bad_requests_are_refused_and_change_nothing(province: Province) -> None:
    """A broken template or body: never a 5xx (mosquitto-go-auth logs a 5xx as an error), never
    an allow; a megabyte password is refused without being hashed."""
    p = province
    for path in ("/broker/emqx/authn", "/broker/mosquitto/user", "/broker/mosquitto/acl"):
        answer = p.client.post(path, content=b"{not json", headers=EMQX_JSON)
        assert answer.status_code == 400 and answer.json()["error"]["code"] == "malformed_json"
        answer = p.client.post(path, content=b'["node-a"]', headers=EMQX_JSON)
        assert answer.status_code == 422
    slow = p.auth.verifications
    huge = {"username": "node-a", "password": "x" * 100_000, "clientid": "node-a"}
    assert emqx_authn(p, **huge)["result"] == "deny"
    assert p.auth.verifications == slow
    # fields of the wrong type are read as text, and refused
    body = {"username": ["node-a"], "password": 12, "clientid": None}
    answer = p.client.post("/broker/emqx/authn", content=json.dumps(body), headers=EMQX_JSON)
    assert answer.json()["result"] == "deny"
    assert not go_auth_answers(
        p, "acl", {"username": "node-a", "clientid": "node-a", "topic": "", "acc": 1}
    )
    assert not go_auth_answers(
        p,
        "acl",
        {
            "username": "node-a",
            "clientid": "node-a",
            "topic": "loa/v1/node/node-a/cmd",
            "acc": "read",
        },
    )
    assert emqx_authz(p, "node-a", "loa/v1/node/node-a/cmd\u0000", "subscribe") == "deny"
    assert emqx_authz(p, "node-a", "loa/v1/node/node-a/cmd", "") == "deny"


def test_the_endpoints_are_not_in_the_public_api_document(province: Province) -> None:
    paths = province.client.get("/api/v1/openapi.json").json()["paths"]
    assert not [path for path in paths if path.startswith("/broker")]


# --- cache and rate limit -----------------------------------------------------------------------


def test_a_verified_password_is_cached_until_the_secret_changes_or_the_node_is_revoked(
    province: Province,
) -> None:
    p = province
    assert emqx_authn(p, "node-a", p.secrets["node-a"])["result"] == "allow"
    slow = p.auth.verifications
    for _ in range(5):
        assert emqx_authn(p, "node-a", p.secrets["node-a"])["result"] == "allow"
    assert p.auth.verifications == slow, "served from the cache"
    assert emqx_authn(p, "node-a", p.secrets["node-a"] + "x")["result"] == "deny"
    p.clock[0] += 301  # the cache's time is up: verified again
    assert emqx_authn(p, "node-a", p.secrets["node-a"])["result"] == "allow"
    assert p.auth.verifications == slow + 2

    store = p.client.app.state.runtime.store  # type: ignore[attr-defined]
    cfg = provisioning.ProvisioningConfig.from_settings(p.settings, env={})
    bundle = provisioning.reissue_node(store, cfg, provisioning.load_key(cfg), "node-a")
    assert emqx_authn(p, "node-a", p.secrets["node-a"])["result"] == "deny", "old secret"
    new_secret = bundle["mqtt"]["password"]
    assert emqx_authn(p, "node-a", new_secret)["result"] == "allow"
    assert emqx_authn(p, "node-a", new_secret)["result"] == "allow"
    provisioning.revoke_node(store, cfg, "node-a")
    assert emqx_authn(p, "node-a", new_secret)["result"] == "deny", "revoked, though cached"
    assert emqx_authz(p, "node-a", "loa/v1/node/node-a/state", "publish") == "deny"


def test_failures_are_limited_per_user_and_address_without_locking_out_the_node(
    province: Province,
) -> None:
    p = province
    secret = p.secrets["node-b"]
    for _ in range(3):  # max_failures = 3
        assert emqx_authn(p, "node-b", "guess", peerhost="203.0.113.9")["result"] == "deny"
    slow = p.auth.verifications
    # that bucket now waits: even the right password is refused there, unchecked
    assert emqx_authn(p, "node-b", secret, peerhost="203.0.113.9")["result"] == "deny"
    assert p.auth.verifications == slow
    # the node from its own address is not slowed by someone else's failures
    assert emqx_authn(p, "node-b", secret, peerhost="10.0.0.8")["result"] == "allow"
    # and once verified, it is let in from anywhere (the cache comes before the limit)
    assert emqx_authn(p, "node-b", secret, peerhost="203.0.113.9")["result"] == "allow"
    # mosquitto-go-auth sends no address: its bucket is the user name
    for _ in range(3):
        assert not go_auth_answers(
            p, "user", {"username": "node-x", "password": "g", "clientid": "node-x"}
        )
    limited = go_auth(p, "user", {"username": "node-x", "password": p.secrets["node-x"]}, False)
    assert limited.status_code == 403 and "wait" in limited.json()["error"]
    p.clock[0] += 61  # the minute has passed
    assert go_auth_answers(
        p, "user", {"username": "node-x", "password": p.secrets["node-x"], "clientid": "node-x"}
    )


def test_an_address_spraying_names_waits(province: Province) -> None:
    p = province
    for i in range(15):  # 5 × max_failures over many names from one address
        assert emqx_authn(p, f"name-{i}", "x", peerhost="198.51.100.1")["result"] == "deny"
    slow = p.auth.verifications
    answer = emqx_authn(p, "node-a", p.secrets["node-a"], peerhost="198.51.100.1")
    assert answer["result"] == "deny" and p.auth.verifications == slow
    assert emqx_authn(p, "node-a", p.secrets["node-a"], peerhost="10.0.0.9")["result"] == "allow"


def test_a_slow_hash_is_checked_once_per_ttl(province: Province) -> None:
    """What the cache saves: mosquitto_passwd's 101 iterations here, but an imported hash may be
    slow on purpose (100,000 iterations, mosquitto-go-auth's default)."""
    p = province
    store = p.client.app.state.runtime.store  # type: ignore[attr-defined]
    slow_hash = broker_files.mosquitto_hash(p.secrets["node-x"], iterations=100_000)
    store.db.execute("UPDATE nodes SET mqtt_password_hash = ? WHERE id = 'node-x'", [slow_hash])
    started = time.perf_counter()
    assert emqx_authn(p, "node-x", p.secrets["node-x"])["result"] == "allow"
    first = time.perf_counter() - started
    started = time.perf_counter()
    for _ in range(20):
        assert emqx_authn(p, "node-x", p.secrets["node-x"])["result"] == "allow"
    cached = (time.perf_counter() - started) / 20
    print(f"100k-iteration hash: first check {first * 1000:.1f} ms, cached {cached * 1000:.2f} ms")
    assert cached < first


# --- authorization ------------------------------------------------------------------------------


def topics(p: Province) -> list[str]:
    z = p.zones
    return [
        "loa/v1/node/node-a/cmd",
        "loa/v1/node/node-a/state",
        "loa/v1/node/node-a/telemetry",
        "loa/v1/node/node-a/report",
        "loa/v1/node/node-b/cmd",
        "loa/v1/node/node-b/state",
        "loa/v1/node/node-r/cmd",
        f"loa/v1/zone/{z['thon_a']}/cmd",
        f"loa/v1/zone/{z['xa']}/cmd",
        f"loa/v1/zone/{z['tinh']}/cmd",
        f"loa/v1/zone/{z['thon_b']}/cmd",
        f"loa/v1/zone/{z['xa_khac']}/cmd",
        "loa/v1/other",
        "elsewhere/topic",
    ]


USERS = ("loa-controller", "node-a", "node-b", "node-x", "node-r", "node-z")


def test_emqx_authz_by_the_rules(province: Province) -> None:
    p = province
    z = p.zones
    assert emqx_authz(p, "node-a", "loa/v1/node/node-a/cmd", "subscribe") == "allow"
    assert emqx_authz(p, "node-a", "loa/v1/node/node-a/state", "publish") == "allow"
    assert emqx_authz(p, "node-a", "loa/v1/node/node-a/cmd", "publish") == "deny"
    assert emqx_authz(p, "node-a", "loa/v1/node/node-b/cmd", "subscribe") == "deny"
    assert emqx_authz(p, "node-a", "loa/v1/node/node-b/state", "publish") == "deny"
    # its zone and the zones above it, not a sibling's or another commune's
    for zone in ("thon_a", "xa", "tinh"):
        assert emqx_authz(p, "node-a", f"loa/v1/zone/{z[zone]}/cmd", "subscribe") == "allow"
    for zone in ("thon_b", "xa_khac"):
        assert emqx_authz(p, "node-a", f"loa/v1/zone/{z[zone]}/cmd", "subscribe") == "deny"
    # EMQX checks only the subscription: a wildcard that reaches others' topics is refused
    for wildcard in (
        "loa/v1/node/+/cmd",
        "loa/v1/#",
        "#",
        "loa/v1/zone/+/cmd",
        "+/v1/node/node-a/cmd",
    ):
        assert emqx_authz(p, "node-a", wildcard, "subscribe") == "deny", wildcard
    assert emqx_authz(p, "loa-controller", "loa/v1/node/+/+", "subscribe") == "allow"
    assert emqx_authz(p, "loa-controller", "loa/v1/#", "subscribe") == "allow"
    assert emqx_authz(p, "loa-controller", "#", "subscribe") == "deny"
    assert emqx_authz(p, "loa-controller", "loa/v1/node/node-a/cmd", "publish") == "allow"
    assert emqx_authz(p, "loa-controller", "$SYS/broker/uptime", "subscribe") == "deny"
    assert emqx_authz(p, "loa-controller", "loa/v1/node/node-a/cmd", "all") == "allow"
    assert emqx_authz(p, "node-a", "loa/v1/node/node-a/cmd", "all") == "deny"
    assert emqx_authz(p, "node-r", "loa/v1/node/node-r/cmd", "subscribe") == "deny", "revoked"
    assert emqx_authz(p, "node-z", "loa/v1/node/node-z/cmd", "subscribe") == "deny", "unknown"
    assert emqx_authz(p, "node-a", "loa/v1/node/node-a/state", "retain") == "deny"
    # a malformed publish topic (wildcards) is refused, never matched
    assert emqx_authz(p, "loa-controller", "loa/v1/node/+/cmd", "publish") == "deny"


def test_go_auth_acl_each_access_value(province: Province) -> None:
    p = province

    def acl(username: str, topic: str, acc: int) -> bool:
        return go_auth_answers(
            p, "acl", {"username": username, "clientid": username, "topic": topic, "acc": acc}
        )

    own_cmd, own_state = "loa/v1/node/node-a/cmd", "loa/v1/node/node-a/state"
    assert acl("node-a", own_cmd, 1) and acl("node-a", own_cmd, 4)
    assert not acl("node-a", own_cmd, 2) and not acl("node-a", own_cmd, 3)
    assert acl("node-a", own_state, 2)
    assert not acl("node-a", own_state, 1) and not acl("node-a", own_state, 3)
    assert not acl("node-a", own_state, 4)
    assert acl("loa-controller", own_cmd, 3) and acl("loa-controller", "loa/v1/node/+/state", 4)
    assert not acl("node-a", "loa/v1/node/+/cmd", 4)
    for bad in (0, 5, 8, 16, -1):
        assert not acl("loa-controller", own_cmd, bad), bad
    assert not acl("node-r", "loa/v1/node/node-r/cmd", 1)


# --- the HTTP answers and the generated ACL file agree ------------------------------------------


def mosquitto_file_allows(acl: str, username: str, topic: str, access: Access) -> bool:
    """Mosquitto 2.0's reading of an ACL file (mosquitto.conf(5)): ``pattern`` lines for every
    user with ``%u`` replaced, ``topic`` lines of the ``user`` section; read or write checked per
    message with MQTT topic matching. Written here from the manual, not from Loa's code."""
    rules: list[tuple[str, str]] = []
    current: str | None = None
    for line in acl.splitlines():
        words = line.split()
        if not words or words[0].startswith("#"):
            continue
        if words[0] == "user":
            current = " ".join(words[1:])
        elif words[0] == "pattern":
            rules.append((words[1], " ".join(words[2:]).replace("%u", username)))
        elif words[0] == "topic" and current == username:
            rules.append((words[1], " ".join(words[2:])))
    want = {Access.READ: {"read", "readwrite"}, Access.WRITE: {"write", "readwrite"}}[access]

    def matches(filter_: str, topic: str) -> bool:
        f, t = filter_.split("/"), topic.split("/")
        for i, level in enumerate(f):
            if level == "#":
                return True
            if i >= len(t) or (level != "+" and level != t[i]):
                return False
        return len(f) == len(t)

    return any(kind in want and matches(f, topic) for kind, f in rules)


def test_http_answers_agree_with_the_generated_acl_file(province: Province, tmp_path: Path) -> None:
    p = province
    files = broker_files.write_broker_files(
        p.client.app.state.runtime.store.db,  # type: ignore[attr-defined]
        tmp_path / "files",
        "loa-controller",
        CONTROLLER_PASSWORD,
    )
    acl = files.acl_file.read_text()
    users_in_file = {line.split(":")[0] for line in files.password_file.read_text().splitlines()}
    checked = 0
    for username, topic in itertools.product(USERS, topics(p)):
        known = username in users_in_file  # revoked and unknown users cannot connect at all
        reads = known and mosquitto_file_allows(acl, username, topic, Access.READ)
        writes = known and mosquitto_file_allows(acl, username, topic, Access.WRITE)
        base = {"username": username, "clientid": username, "topic": topic}
        assert go_auth_answers(p, "acl", {**base, "acc": 1}) == reads, (username, topic)
        assert go_auth_answers(p, "acl", {**base, "acc": 2}) == writes, (username, topic)
        assert go_auth_answers(p, "acl", {**base, "acc": 3}) == (reads and writes)
        # a subscription to the exact topic: what the file lets through to the reader
        assert go_auth_answers(p, "acl", {**base, "acc": 4}) == reads, (username, topic)
        assert (emqx_authz(p, username, topic, "publish") == "allow") == writes
        assert (emqx_authz(p, username, topic, "subscribe") == "allow") == reads
        checked += 1
    assert checked == len(USERS) * len(topics(p))
    print(f"{checked} user × topic pairs, 6 answers each, agree with {files.acl_file.name}")


def test_a_rule_added_to_the_table_reaches_the_file_and_the_http_check() -> None:
    """The extension point: one more rule, both renderings follow."""
    rules = (*broker_rules.RULES, Rule("node", Access.WRITE, "loa/v1/zone/{zone}/ack"))
    node = broker_rules.Account("node", "node-a", (3, 1))
    lines = broker_rules.acl_lines("ctl", {"node-a": (3, 1)}, rules)
    assert "topic write loa/v1/zone/3/ack" in lines and "topic write loa/v1/zone/1/ack" in lines
    assert broker_rules.allowed(node, Action.PUBLISH, "loa/v1/zone/1/ack", rules)
    assert not broker_rules.allowed(node, Action.PUBLISH, "loa/v1/zone/2/ack", rules)
    assert not broker_rules.allowed(node, Action.PUBLISH, "loa/v1/zone/1/ack")


@pytest.mark.parametrize(
    ("filter_", "pattern", "within"),
    [
        ("a/b", "a/b", True),
        ("a/b", "a/+", True),
        ("a/+", "a/+", True),
        ("a/+", "a/b", False),
        ("a", "a/#", True),
        ("a/b/c", "a/#", True),
        ("a/#", "a/#", True),
        ("a/#", "a/+", False),
        ("#", "a/#", False),
        ("a/b/c", "a/+", False),
        ("a/b", "a/b/c", False),
        ("$SYS/x", "#", False),
    ],
)
def test_a_subscription_is_within_a_rule_only_when_all_it_matches_is(
    filter_: str, pattern: str, within: bool
) -> None:
    assert broker_rules.filter_within(filter_, pattern) is within


# --- the same matrix on a real Mosquitto with the generated files -------------------------------


def test_real_mosquitto_with_the_generated_files_agrees_with_the_http_answers(
    province: Province, tmp_path: Path
) -> None:
    p = province
    files_dir = tmp_path / "files"
    broker_files.write_broker_files(
        p.client.app.state.runtime.store.db,  # type: ignore[attr-defined]
        files_dir,
        "loa-controller",
        CONTROLLER_PASSWORD,
    )
    broker = Mosquitto(tmp_path / "mosquitto", extra_config=auth_config(files_dir))
    broker.start()
    clients: dict[str, Client] = {}
    try:
        # who may connect: the same as the HTTP authentication
        for username in USERS:
            password = (
                CONTROLLER_PASSWORD
                if username == "loa-controller"
                else p.secrets.get(username, "x")
            )
            c = Client(broker.port, username, password, f"{username}-probe")
            connected = c.connect()
            c.close()
            assert connected == (emqx_authn(p, username, password)["result"] == "allow"), username
        for username in ("loa-controller", "node-a", "node-b", "node-x"):
            password = CONTROLLER_PASSWORD if username == "loa-controller" else p.secrets[username]
            clients[username] = Client(broker.port, username, password, username)
            assert clients[username].connect()
        ctl = clients["loa-controller"]
        ctl.subscribe("loa/v1/#")
        # read: every node subscribes to every topic (exact filters); the controller publishes
        for name, c in clients.items():
            if name != "loa-controller":
                for topic in topics(p):
                    c.subscribe(topic)
        for topic in topics(p):
            ctl.publish(topic, b"ctl:" + topic.encode())
        # write: every node publishes on every topic; the controller sees what got through
        for name, c in clients.items():
            if name != "loa-controller":
                for topic in topics(p):
                    c.publish(topic, f"{name}:{topic}".encode())
        marker = "loa/v1/node/node-a/state"
        clients["node-a"].publish(marker, b"end")
        wait_until(lambda: (marker, b"end") in ctl.messages, timeout=10, what="the last publish")
        # every node has what the HTTP check says it may read (then a moment for anything more)
        readable = {
            name: sum(
                go_auth_answers(
                    p, "acl", {"username": name, "clientid": name, "topic": topic, "acc": 1}
                )
                for topic in topics(p)
            )
            for name in clients
            if name != "loa-controller"
        }
        assert all(readable.values()), readable
        wait_until(
            lambda: all(
                sum(payload.startswith(b"ctl:") for _, payload in clients[name].messages) >= count
                for name, count in readable.items()
            ),
            timeout=10,
            what="the controller's messages at the nodes",
        )
        time.sleep(0.3)
        for name, c in clients.items():
            if name == "loa-controller":
                continue
            received = {t for t, payload in c.messages if payload.startswith(b"ctl:")}
            for topic in topics(p):
                http = go_auth_answers(
                    p, "acl", {"username": name, "clientid": name, "topic": topic, "acc": 1}
                )
                assert (topic in received) == http, ("read", name, topic)
            got_through = {
                t for t, payload in ctl.messages if payload.startswith(f"{name}:".encode())
            }
            for topic in topics(p):
                if not topic.startswith("loa/v1/"):
                    continue  # outside what the controller subscribed to
                http = emqx_authz(p, name, topic, "publish") == "allow"
                assert (topic in got_through) == http, ("write", name, topic)
    finally:
        for c in clients.values():
            c.close()
        broker.stop()
