"""The node's verify-only Ed25519 key (loa.signing.PublicKey): it must accept and refuse exactly
what ``cryptography`` accepts and refuses, and the agent must not need ``cryptography`` loaded."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from loa import signing
from loa.signing import PublicKey, load_public_key_b64, public_key_b64, sign, signature_ok

ROOT = Path(__file__).resolve().parents[2]
#: The order of the Ed25519 group: S + L is the same signature, non-canonically encoded.
L = 2**252 + 27742317777372353535851937790883648493


def raw_public(key: Ed25519PrivateKey) -> bytes:
    return key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def cryptography_accepts(key: Ed25519PrivateKey, sig: bytes, data: bytes) -> bool:
    try:
        key.public_key().verify(sig, data)
    except (InvalidSignature, ValueError):
        return False
    return True


@pytest.fixture(params=["libcrypto", "cryptography"])
def backend(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    if request.param == "cryptography":
        monkeypatch.setattr(signing, "_find_libcrypto", lambda: None)
    return request.param


def test_the_light_path_is_used_here():
    assert PublicKey(bytes(32)).backend == "libcrypto"


def test_rfc8032_vector(backend):
    # RFC 8032 section 7.1 TEST 1 (empty message); the key pair is derived, not trusted
    secret = bytes.fromhex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
    sig = bytes.fromhex(
        "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555"
        "fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"
    )
    key = Ed25519PrivateKey.from_private_bytes(secret)
    assert key.sign(b"") == sig
    pub = PublicKey(raw_public(key))
    assert pub.raw.hex() == "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"
    assert pub.verify(sig, b"")
    assert not pub.verify(sig, b"\x00")


def test_agrees_with_cryptography_on_good_and_bad_signatures(backend):
    keys = [Ed25519PrivateKey.generate() for _ in range(3)]
    for n in range(40):
        key, other = keys[n % 3], keys[(n + 1) % 3]
        data = os.urandom(n * 7)
        sig = key.sign(data)
        flipped = bytearray(sig)
        flipped[n % 64] ^= 1 << (n % 8)
        s = int.from_bytes(sig[32:], "little")
        non_canonical = sig[:32] + (s + L).to_bytes(32, "little")
        cases = [
            (key, sig, data, True),
            (key, bytes(flipped), data, False),
            (key, sig, data + b"x", False),
            (other, sig, data, False),
            (key, non_canonical, data, False),
            (key, sig[:63], data, False),
            (key, sig + b"\x00", data, False),
            (key, bytes(64), data, False),
        ]
        for k, candidate, message, expected in cases:
            assert cryptography_accepts(k, candidate, message) is expected
            assert PublicKey(raw_public(k)).verify(candidate, message) is expected


def test_a_key_that_is_not_a_curve_point_verifies_nothing(backend):
    key = Ed25519PrivateKey.generate()
    sig = key.sign(b"hello")
    for raw in (bytes([2]) + bytes(31), b"\xff" * 32):
        assert PublicKey(raw).verify(sig, b"hello") is False


def test_key_length_and_base64_round_trip():
    key = Ed25519PrivateKey.generate()
    text = public_key_b64(key)
    pub = load_public_key_b64(text)
    assert pub.raw == raw_public(key)
    assert public_key_b64(pub) == text
    with pytest.raises(ValueError):
        PublicKey(b"\x01" * 31)
    with pytest.raises(ValueError):
        load_public_key_b64(base64.b64encode(b"\x01" * 33).decode())


def test_signed_envelope_checks_with_either_key_type(backend):
    key = Ed25519PrivateKey.generate()
    env = sign({"id": "c1", "type": "node.ping", "body": {"note": "Lạc Xuân"}}, key)
    assert signature_ok(env, load_public_key_b64(public_key_b64(key)))
    assert signature_ok(env, key.public_key())
    forged = {**env, "body": {"note": "Lạc Bình"}}
    assert not signature_ok(forged, load_public_key_b64(public_key_b64(key)))
    assert not signature_ok({**env, "sig": "not base64!"}, load_public_key_b64(public_key_b64(key)))


def test_agent_runs_its_command_path_without_importing_cryptography(tmp_path):
    key = Ed25519PrivateKey.generate()
    env = sign({"id": "c1", "type": "node.ping", "node": "n1", "body": {}}, key)
    code = f"""
import json, sys
import loa.cli, node_agent.cli, node_agent.agent, node_agent.commands
from loa.signing import load_public_key_b64, signature_ok
env = json.loads({json.dumps(env)!r})
assert signature_ok(env, load_public_key_b64({public_key_b64(key)!r}))
env["id"] = "c2"
assert not signature_ok(env, load_public_key_b64({public_key_b64(key)!r}))
loaded = sorted(m for m in sys.modules if m.split(".")[0] == "cryptography")
assert not loaded, loaded
"""
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
