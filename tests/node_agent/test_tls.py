"""TLS with a pinned CA: the agent connects to a broker whose certificate that CA signed, and
refuses one signed by anybody else."""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from loa.protocol import NodePing
from tests.node_agent.harness import Controller, wait_online
from tests.support.broker import Mosquitto
from tests.support.net import free_port, wait_for_port, wait_until


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def make_ca(directory: Path, cn: str) -> tuple[Path, ec.EllipticCurvePrivateKey, x509.Certificate]:
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(cn))
        .issuer_name(_name(cn))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    path = directory / f"{cn}.crt"
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return path, key, cert


def make_server_cert(directory: Path, ca_key, ca_cert) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name("localhost"))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    crt, pem = directory / "server.crt", directory / "server.key"
    crt.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    pem.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    for p in (crt, pem):
        os.chmod(p, 0o644)
    return crt, pem


@pytest.fixture
def tls_broker() -> Iterator[tuple[Mosquitto, int, Path, Path]]:
    directory = Path(tempfile.mkdtemp(prefix="loa-node-tls-"))
    os.chmod(directory, 0o777)
    ca, ca_key, ca_cert = make_ca(directory, "loa-test-ca")
    other_ca, _, _ = make_ca(directory, "someone-else-ca")
    crt, key = make_server_cert(directory, ca_key, ca_cert)
    tls_port = free_port()
    broker = Mosquitto(
        directory,
        extra_config=(
            f"listener {tls_port} 127.0.0.1\ncafile {ca}\ncertfile {crt}\nkeyfile {key}\n"
        ),
    )
    broker.start()
    wait_for_port(tls_port)
    yield broker, tls_port, ca, other_ca
    broker.stop()
    shutil.rmtree(directory, ignore_errors=True)


def test_agent_connects_over_tls_with_its_pinned_ca(node_factory, tls_broker):
    broker, tls_port, ca, other_ca = tls_broker
    ctl = Controller(broker.port)  # the test controller uses the plain listener
    ctl.start()
    try:
        good = node_factory(mqtt_extra=f'ca_file = "{ca}"\n')
        good.broker_url = f"mqtts://localhost:{tls_port}"
        good.public_key = ctl.public_b64
        good.start()
        wait_online(ctl, good.node_id)
        env = ctl.send("node.ping", good.node_id, NodePing())
        assert ctl.ack(env["id"])["ok"]

        bad = node_factory(mqtt_extra=f'ca_file = "{other_ca}"\n')
        bad.broker_url = f"mqtts://localhost:{tls_port}"
        bad.public_key = ctl.public_b64
        bad.start()
        wait_until(lambda: "certificate verify failed" in bad.log(), 10, what="TLS refusal")
        assert not ctl.states(bad.node_id)
    finally:
        ctl.stop()
