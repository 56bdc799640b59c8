"""The wire protocol: envelopes, signatures, and the refusals a node makes."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from loa import protocol, schemas
from loa.protocol import FileContent, ProtocolError, ScheduleItem, SchedulePut
from loa.signing import (
    canonical_json,
    load_public_key_b64,
    public_key_b64,
    sign,
    signature_ok,
    verify_command,
)

NOW = datetime(2026, 11, 27, 6, 0, tzinfo=UTC)
SHA = "a" * 64


def _put(node: str = "lac-xuan-1", ttl: float = 60) -> dict:
    item = ScheduleItem(
        broadcast=7,
        occurrence="2026-11-27T06:05:00Z",
        play_at=NOW + timedelta(minutes=5),
        content=FileContent(url=f"http://c/media/{SHA}.mp3", sha256=SHA, bytes=10, duration_s=1.5),
        title="Thông báo tiêm chủng",
    )
    return protocol.new_command(
        "schedule.put", node, SchedulePut(items=[item]), ttl=timedelta(seconds=ttl), now=NOW
    )


@pytest.fixture
def key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


def test_canonical_json_sorts_keys_and_keeps_vietnamese():
    assert canonical_json({"b": 1, "a": "Lạc"}) == '{"a":"Lạc","b":1}'.encode()


def test_signed_command_verifies_and_parses(key):
    env = sign(_put(), key)
    cmd = verify_command(env, key.public_key(), "lac-xuan-1", NOW)
    body = cmd.parsed_body()
    assert isinstance(body, SchedulePut)
    assert body.items[0].key == "7/2026-11-27T06:05:00Z"
    assert body.items[0].play_at == NOW + timedelta(minutes=5)


def test_signature_survives_a_json_round_trip(key):
    env = sign(_put(), key)
    received = json.loads(protocol.dumps(env))
    assert signature_ok(received, load_public_key_b64(public_key_b64(key)))


@pytest.mark.parametrize(
    ("mutate", "code"),
    [
        (lambda e: {**e, "sig": ""}, "bad_signature"),
        (lambda e: {**e, "body": {"items": []}}, "bad_signature"),  # tampered after signing
        (lambda e: {k: v for k, v in e.items() if k != "sig"}, "bad_signature"),
    ],
)
def test_tampered_or_unsigned_commands_are_refused(key, mutate, code):
    env = mutate(sign(_put(), key))
    with pytest.raises(ProtocolError) as err:
        verify_command(env, key.public_key(), "lac-xuan-1", NOW)
    assert err.value.code == code


def test_another_controllers_key_is_refused(key):
    env = sign(_put(), Ed25519PrivateKey.generate())
    with pytest.raises(ProtocolError, match="signature") as err:
        verify_command(env, key.public_key(), "lac-xuan-1", NOW)
    assert err.value.code == "bad_signature"


def test_command_for_another_node_is_refused(key):
    env = sign(_put(node="lac-binh-1"), key)
    with pytest.raises(ProtocolError) as err:
        verify_command(env, key.public_key(), "lac-xuan-1", NOW)
    assert err.value.code == "wrong_node"


def test_expired_command_is_refused(key):
    env = sign(_put(ttl=60), key)
    with pytest.raises(ProtocolError) as err:
        verify_command(env, key.public_key(), "lac-xuan-1", NOW + timedelta(seconds=61))
    assert err.value.code == "expired"


def test_replayed_command_is_refused(key):
    env = sign(_put(), key)
    with pytest.raises(ProtocolError) as err:
        verify_command(env, key.public_key(), "lac-xuan-1", NOW, seen={env["id"]})
    assert err.value.code == "replayed"


def test_signed_but_malformed_body_is_refused(key):
    env = _put()
    env["body"] = {"items": [{"broadcast": "x"}]}
    with pytest.raises(ProtocolError) as err:
        verify_command(sign(env, key), key.public_key(), "lac-xuan-1", NOW)
    assert err.value.code == "malformed"


@pytest.mark.parametrize(
    ("payload", "code"),
    [
        (b"{not json", "malformed"),
        (b"[1,2]", "malformed"),
        (b"\xff\xfe", "malformed"),
        (b"{" + b" " * protocol.MAX_PAYLOAD_BYTES + b"}", "too_large"),
    ],
)
def test_bad_payloads_raise_stable_codes(payload, code):
    with pytest.raises(ProtocolError) as err:
        protocol.parse_json(payload)
    assert err.value.code == code


def test_wire_times_are_utc_with_z():
    assert protocol.to_wire_time(NOW + timedelta(hours=7)) == "2026-11-27T13:00:00.000Z"


def test_topics_round_trip():
    topic = protocol.node_topic("lac-xuan-1", "report")
    assert topic == "loa/v1/node/lac-xuan-1/report"
    assert protocol.node_id_from_topic(topic) == ("lac-xuan-1", "report")
    assert protocol.node_id_from_topic("loa/v2/node/x/report") is None


def test_committed_json_schemas_are_current():
    for filename, schema in schemas.all_schemas().items():
        path = schemas.SCHEMA_DIR / filename
        assert path.exists(), f"run `make schemas`: {filename} missing"
        assert path.read_text(encoding="utf-8") == schemas.render(schema), (
            f"run `make schemas`: {filename} is stale"
        )
