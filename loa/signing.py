"""Ed25519 signatures on commands, and the checks a node makes before it obeys one.

The signature covers the canonical JSON of the envelope without ``sig``: keys sorted, no spaces,
UTF-8 (``canonical_json``). It is computed over the JSON object as received, so any
implementation that can sort keys can check it.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
from datetime import datetime
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from loa.protocol import Command, ProtocolError, parse_model


def canonical_json(obj: dict[str, Any]) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def _signed_part(envelope: dict[str, Any]) -> bytes:
    return canonical_json({k: v for k, v in envelope.items() if k != "sig"})


def sign(envelope: dict[str, Any], key: Ed25519PrivateKey) -> dict[str, Any]:
    """The envelope with ``sig`` set."""
    sig = key.sign(_signed_part(envelope))
    return {**envelope, "sig": base64.b64encode(sig).decode()}


def signature_ok(envelope: dict[str, Any], public_key: Ed25519PublicKey) -> bool:
    sig = envelope.get("sig")
    if not isinstance(sig, str):
        return False
    try:
        public_key.verify(base64.b64decode(sig, validate=True), _signed_part(envelope))
    except (InvalidSignature, binascii.Error, ValueError):
        return False
    return True


def verify_command(
    envelope: dict[str, Any],
    public_key: Ed25519PublicKey,
    node_id: str,
    now: datetime,
    seen: Any = None,
) -> Command:
    """Check a received command; raise ProtocolError with a stable code when it must be refused.

    Order: signature first (nothing unsigned is even parsed further), then the node id, expiry and
    replay. ``seen`` is any container of command ids already obeyed (``id in seen``).
    """
    if not signature_ok(envelope, public_key):
        raise ProtocolError("bad_signature", "signature missing or not valid")
    cmd = parse_model(Command, envelope)
    if cmd.node != node_id:
        raise ProtocolError("wrong_node", f"command is for node {cmd.node!r}")
    if cmd.expires_at <= now:
        raise ProtocolError("expired", f"expired at {cmd.expires_at.isoformat()}")
    if seen is not None and cmd.id in seen:
        raise ProtocolError("replayed", f"command {cmd.id} was already received")
    try:
        cmd.parsed_body()
    except ValueError as exc:
        raise ProtocolError("malformed", f"body of {cmd.type}: {exc}") from exc
    return cmd


# --- keys ---------------------------------------------------------------------------------------


def generate_private_key(path: Path) -> Ed25519PrivateKey:
    """Write a new key as PEM, readable by the owner only (0600)."""
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(pem)
    os.replace(tmp, path)
    return key


def load_or_create_private_key(path: Path) -> Ed25519PrivateKey:
    if not path.exists():
        return generate_private_key(path)
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise ValueError(f"{path} is not an Ed25519 private key")
    return key


def public_key_b64(key: Ed25519PrivateKey | Ed25519PublicKey) -> str:
    """The raw 32-byte public key in base64: what a node is provisioned with."""
    pub = key.public_key() if isinstance(key, Ed25519PrivateKey) else key
    raw = pub.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return base64.b64encode(raw).decode()


def load_public_key_b64(text: str) -> Ed25519PublicKey:
    return Ed25519PublicKey.from_public_bytes(base64.b64decode(text.strip(), validate=True))
