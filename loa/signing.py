"""Ed25519 signatures on commands, and the checks a node makes before it obeys one.

The signature covers the canonical JSON of the envelope without ``sig``: keys sorted, no spaces,
UTF-8 (``canonical_json``). It is computed over the JSON object as received, so any
implementation that can sort keys can check it.

Signing and key files use ``cryptography`` (the controller). A node only verifies, with
``PublicKey``: the same OpenSSL Ed25519 verification, called in the libcrypto that Python's own
``hashlib`` already loaded, which spares the node the 7 MB that importing ``cryptography`` (its
bundled OpenSSL) costs in RSS. Where that libcrypto cannot be reached, ``PublicKey`` verifies
with ``cryptography`` instead.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import threading
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from loa.protocol import Command, ProtocolError, ZoneCommand, parse_model

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import (
        Ed25519PrivateKey,
        Ed25519PublicKey,
    )

#: OpenSSL's NID_ED25519 (= EVP_PKEY_ED25519), stable since OpenSSL 1.1.1.
_NID_ED25519 = 1087


class _LibCrypto:
    """The few libcrypto (OpenSSL >= 1.1.1) functions an Ed25519 verification needs."""

    def __init__(self, lib: Any):
        import ctypes

        vp, sz = ctypes.c_void_p, ctypes.c_size_t
        self.new_raw_public_key = lib.EVP_PKEY_new_raw_public_key
        self.new_raw_public_key.argtypes = [ctypes.c_int, vp, ctypes.c_char_p, sz]
        self.new_raw_public_key.restype = vp
        self.pkey_free = lib.EVP_PKEY_free
        self.pkey_free.argtypes = [vp]
        self.pkey_free.restype = None
        self.md_ctx_new = lib.EVP_MD_CTX_new
        self.md_ctx_new.argtypes = []
        self.md_ctx_new.restype = vp
        self.md_ctx_free = lib.EVP_MD_CTX_free
        self.md_ctx_free.argtypes = [vp]
        self.md_ctx_free.restype = None
        self.verify_init = lib.EVP_DigestVerifyInit
        self.verify_init.argtypes = [vp, vp, vp, vp, vp]
        self.verify_init.restype = ctypes.c_int
        self.verify = lib.EVP_DigestVerify
        self.verify.argtypes = [vp, ctypes.c_char_p, sz, ctypes.c_char_p, sz]
        self.verify.restype = ctypes.c_int
        # OpenSSL's error queue is per thread and shared with the ssl module: leave it empty
        self.clear_errors = lib.ERR_clear_error
        self.clear_errors.argtypes = []
        self.clear_errors.restype = None


_libcrypto: _LibCrypto | None = None
_libcrypto_tried = False
_libcrypto_lock = threading.Lock()


def _find_libcrypto() -> _LibCrypto | None:
    """The libcrypto Python's ``_hashlib`` is linked with (dlsym on a library handle searches its
    dependencies too), else the system's; None when neither offers Ed25519 verification."""
    global _libcrypto, _libcrypto_tried
    if _libcrypto_tried:
        return _libcrypto
    with _libcrypto_lock:
        if _libcrypto_tried:
            return _libcrypto
        _libcrypto_tried = True
        try:
            import ctypes
        except ImportError:
            return None
        candidates: list[str] = []
        try:
            import _hashlib

            if getattr(_hashlib, "__file__", None):
                candidates.append(_hashlib.__file__)
        except ImportError:
            pass
        candidates += ["libcrypto.so.3", "libcrypto.so.1.1"]
        for name in candidates:
            try:
                lib = _LibCrypto(ctypes.CDLL(name))
            except (OSError, AttributeError):
                continue
            if _self_test(lib):
                _libcrypto = lib
                break
        return _libcrypto


#: RFC 8032, section 7.1, TEST 2: public key, message, signature.
_RFC8032_KEY = bytes.fromhex("3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c")
_RFC8032_MSG = bytes.fromhex("72")
_RFC8032_SIG = bytes.fromhex(
    "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da"
    "085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00"
)


def _self_test(lib: _LibCrypto) -> bool:
    """The library accepts the RFC's signature and refuses it with one bit changed."""
    tampered = bytes([_RFC8032_SIG[0] ^ 1]) + _RFC8032_SIG[1:]
    try:
        return _openssl_verify(lib, _RFC8032_KEY, _RFC8032_SIG, _RFC8032_MSG) and not (
            _openssl_verify(lib, _RFC8032_KEY, tampered, _RFC8032_MSG)
        )
    except OSError:
        return False


def _openssl_verify(lib: _LibCrypto, raw_key: bytes, signature: bytes, data: bytes) -> bool:
    pkey = lib.new_raw_public_key(_NID_ED25519, None, raw_key, len(raw_key))
    if not pkey:
        lib.clear_errors()
        raise OSError("libcrypto refused the Ed25519 public key")
    ctx = lib.md_ctx_new()
    try:
        if not ctx or lib.verify_init(ctx, None, None, None, pkey) != 1:
            raise OSError("libcrypto could not start an Ed25519 verification")
        return lib.verify(ctx, signature, len(signature), data, len(data)) == 1
    finally:
        lib.clear_errors()
        if ctx:
            lib.md_ctx_free(ctx)
        lib.pkey_free(pkey)


class PublicKey:
    """A verify-only Ed25519 public key (the 32 raw bytes a node is provisioned with)."""

    def __init__(self, raw: bytes):
        if len(raw) != 32:
            raise ValueError(f"an Ed25519 public key is 32 bytes, not {len(raw)}")
        self.raw = bytes(raw)
        self._fallback: Ed25519PublicKey | None = None

    @property
    def backend(self) -> str:
        return "libcrypto" if _find_libcrypto() is not None else "cryptography"

    def verify(self, signature: bytes, data: bytes) -> bool:
        """True only for a valid signature of ``data`` by this key."""
        if len(signature) != 64:
            return False
        lib = _find_libcrypto()
        if lib is not None:
            try:
                return _openssl_verify(lib, self.raw, signature, data)
            except OSError:
                return False  # e.g. a key that is not a curve point
        if self._fallback is None:
            from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

            self._fallback = Ed25519PublicKey.from_public_bytes(self.raw)
        from cryptography.exceptions import InvalidSignature

        try:
            self._fallback.verify(signature, data)
        except InvalidSignature:
            return False
        return True


def canonical_json(obj: dict[str, Any]) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def _signed_part(envelope: dict[str, Any]) -> bytes:
    return canonical_json({k: v for k, v in envelope.items() if k != "sig"})


def sign(envelope: dict[str, Any], key: Ed25519PrivateKey) -> dict[str, Any]:
    """The envelope with ``sig`` set."""
    sig = key.sign(_signed_part(envelope))
    return {**envelope, "sig": base64.b64encode(sig).decode()}


def signature_ok(envelope: dict[str, Any], public_key: PublicKey | Ed25519PublicKey) -> bool:
    sig = envelope.get("sig")
    if not isinstance(sig, str):
        return False
    try:
        raw_sig = base64.b64decode(sig, validate=True)
    except (binascii.Error, ValueError):
        return False
    if isinstance(public_key, PublicKey):
        return public_key.verify(raw_sig, _signed_part(envelope))
    from cryptography.exceptions import InvalidSignature

    try:
        public_key.verify(raw_sig, _signed_part(envelope))
    except (InvalidSignature, ValueError):
        return False
    return True


def verify_command(
    envelope: dict[str, Any],
    public_key: PublicKey | Ed25519PublicKey,
    node_id: str,
    now: datetime,
    seen: Any = None,
) -> Command:
    """Check a received command; raise ProtocolError with a stable code when it must be refused.

    Order: signature first (nothing unsigned is even parsed further), then the node id, expiry and
    replay. ``seen`` is any container of command ids already obeyed (``id in seen``).
    """
    cmd = _signed(envelope, public_key, Command)
    if cmd.node != node_id:
        raise ProtocolError("wrong_node", f"command is for node {cmd.node!r}")
    return _current(cmd, now, seen)


def verify_zone_command(
    envelope: dict[str, Any],
    public_key: PublicKey | Ed25519PublicKey,
    zones: Sequence[int],
    now: datetime,
    seen: Any = None,
    own_topic: bool = False,
) -> ZoneCommand:
    """Check a zone command (protocol 2) as ``verify_command`` checks the node's own: signature
    first, then the zone (one of ``zones``, unless it came on the node's own topic: the
    controller's re-send), expiry, replay, body."""
    cmd = _signed(envelope, public_key, ZoneCommand)
    if not own_topic and cmd.zone not in zones:
        raise ProtocolError("wrong_zone", f"command is for zone {cmd.zone}, not one of ours")
    return _current(cmd, now, seen)


_Envelope = TypeVar("_Envelope", Command, ZoneCommand)


def _signed(
    envelope: dict[str, Any], public_key: PublicKey | Ed25519PublicKey, model: type[_Envelope]
) -> _Envelope:
    if not signature_ok(envelope, public_key):
        raise ProtocolError("bad_signature", "signature missing or not valid")
    return parse_model(model, envelope)


def _current(cmd: _Envelope, now: datetime, seen: Any) -> _Envelope:
    """Not expired, never received before, and a body its type takes."""
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
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

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
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    if not path.exists():
        return generate_private_key(path)
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise ValueError(f"{path} is not an Ed25519 private key")
    return key


def public_key_b64(key: Ed25519PrivateKey | Ed25519PublicKey | PublicKey) -> str:
    """The raw 32-byte public key in base64: what a node is provisioned with."""
    if isinstance(key, PublicKey):
        return base64.b64encode(key.raw).decode()
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    pub = key.public_key() if isinstance(key, Ed25519PrivateKey) else key
    raw = pub.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return base64.b64encode(raw).decode()


def load_public_key_b64(text: str) -> PublicKey:
    """A node's copy of the controller's key (base64 of the 32 raw bytes); ValueError if not."""
    return PublicKey(base64.b64decode(text.strip(), validate=True))
