"""CAP 1.2 in and out (controller.domain.cap): realistic documents under tests/data/cap/."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from controller.domain import cap
from controller.domain.cap import Area, CapRefused, Info, Reference

DATA = Path(__file__).resolve().parents[1] / "data" / "cap"
ICT = timezone(timedelta(hours=7))


def load(name: str) -> bytes:
    return (DATA / name).read_bytes()


def refused(data: bytes, code: str, **kwargs: int) -> CapRefused:
    with pytest.raises(CapRefused) as caught:
        cap.parse(data, **kwargs)
    assert caught.value.code == code, caught.value.reason
    assert caught.value.reason and caught.value.reason[-1] in ".)", caught.value.reason
    return caught.value


def key_and_cert(kind: str = "rsa", name: str = "Đài KTTV Trung Trung Bộ") -> tuple[str, str]:
    key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey
    if kind == "rsa":
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    else:
        key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=365))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    return key_pem, cert.public_bytes(serialization.Encoding.PEM).decode()


@pytest.fixture(scope="module")
def rsa_pair() -> tuple[str, str]:
    return key_and_cert("rsa")


# --- reading --------------------------------------------------------------------------------


def test_typhoon_with_two_languages_reads_and_chooses_vietnamese() -> None:
    data = load("typhoon_hoian.xml")
    alert = cap.parse(data)
    assert alert.identifier == "KTTV-TTB-2026-BAO06-001"
    assert alert.sender == "canhbao@kttvttb.vn"
    assert alert.sent == datetime(2026, 10, 20, 1, 0, tzinfo=UTC)
    assert alert.sent.utcoffset() == timedelta(hours=7)
    assert (alert.status, alert.msg_type, alert.scope) == ("Actual", "Alert", "Public")
    assert alert.references == () and not alert.signed and alert.raw == data
    assert [i.language for i in alert.infos] == ["en-US", "vi-VN"]
    info = cap.choose_info(alert)
    assert info is alert.infos[1]
    assert info.event == "Bão" and info.categories == ("Met",)
    assert (info.urgency, info.severity, info.certainty) == ("Immediate", "Extreme", "Observed")
    assert info.sender_name == "Đài Khí tượng Thủy văn khu vực Trung Trung Bộ"
    assert info.headline == "Bão số 6 đang tiến vào bờ biển Quảng Nam"
    assert info.instruction.startswith("Người dân vùng ven biển")
    assert info.onset == datetime(2026, 10, 20, 14, 0, tzinfo=ICT)
    assert info.expires == datetime(2030, 10, 21, 8, 0, tzinfo=ICT)
    (area,) = info.areas
    assert area.polygons[0][0] == (15.80, 108.30) and len(area.polygons[0]) == 5
    assert area.circles == ((15.88, 108.50, 5.0),)
    # a cluster in Hội An's old town, one in Cửa Đại, one inland in Điện Bàn, one in Đà Nẵng
    assert info.contains(15.877, 108.330)
    assert info.contains(15.895, 108.385)
    assert not info.contains(15.870, 108.200)
    assert not info.contains(16.054, 108.202)
    # inside the circle only (east of the polygon's edge at 108.45)
    assert info.contains(15.88, 108.52)


def test_contains_boundary_vertex_and_circles() -> None:
    square = Area(
        "ô vuông",
        polygons=(((15.8, 108.3), (15.9, 108.3), (15.9, 108.4), (15.8, 108.4), (15.8, 108.3)),),
    )
    assert square.contains(15.85, 108.35)
    assert square.contains(15.8, 108.35)  # on an edge: inside
    assert square.contains(15.9, 108.4)  # a vertex: inside
    assert not square.contains(15.79999, 108.35)
    assert not square.contains(15.85, 108.40001)
    # a circle of 5 km around Hội An: 0.04° of latitude is 4.45 km, 0.05° is 5.56 km
    circle = Area("5 km", circles=((15.88, 108.33, 5.0),))
    assert circle.contains(15.88, 108.33)
    assert circle.contains(15.92, 108.33)
    assert not circle.contains(15.93, 108.33)
    assert cap.distance_km(15.88, 108.33, 15.93, 108.33) == pytest.approx(5.56, abs=0.01)
    # radius 0 is the centre itself; no geometry contains nothing (geocodes are matched apart)
    assert Area("điểm", circles=((15.88, 108.33, 0.0),)).contains(15.88, 108.33)
    assert not Area("mã", geocodes=(("MA_DVHC", "20335"),)).contains(15.88, 108.33)
    # a self-crossing ring (a bow tie) is repaired, not refused: both lobes count
    bowtie = Area(
        "nơ",
        polygons=(((15.0, 108.0), (16.0, 109.0), (16.0, 108.0), (15.0, 109.0), (15.0, 108.0)),),
    )
    assert bowtie.contains(15.2, 108.5) and bowtie.contains(15.8, 108.5)
    assert not bowtie.contains(15.5, 108.2)


def test_flood_by_geocodes() -> None:
    alert = cap.parse(load("flood_geocodes.xml"))
    info = cap.choose_info(alert)
    assert info is not None and info.language == "vi"
    assert info.categories == ("Met", "Safety")
    assert info.geocode_values() == {"20587", "20590", "20335"}
    assert info.areas[0].geocodes[0] == ("MA_DVHC", "20587")
    assert not info.areas[0].has_geometry()
    assert not info.contains(15.85, 108.3)


def test_update_and_cancel_reference_the_alert() -> None:
    update = cap.parse(load("typhoon_update.xml"))
    assert update.msg_type == "Update"
    assert update.references == (
        Reference(
            "canhbao@kttvttb.vn",
            "KTTV-TTB-2026-BAO06-001",
            datetime(2026, 10, 20, 8, 0, tzinfo=ICT),
        ),
    )
    info = cap.choose_info(update)
    assert info is not None and info.language == "VI-vn"  # any case is Vietnamese
    cancel = cap.parse(load("typhoon_cancel.xml"))
    assert cancel.msg_type == "Cancel" and cancel.infos == ()
    assert cap.choose_info(cancel) is None
    assert [r.identifier for r in cancel.references] == [
        "KTTV-TTB-2026-BAO06-001",
        "KTTV-TTB-2026-BAO06-002",
    ]
    assert cancel.note.startswith("Bão số 6 đã suy yếu")


def test_test_status_and_expired_are_read_as_they_are() -> None:
    test = cap.parse(load("test_status.xml"))
    assert test.status == "Test"
    expired = cap.parse(load("expired.xml"))
    info = cap.choose_info(expired)
    assert info is not None and info.expires is not None
    assert info.expires < datetime.now(UTC)


def test_choose_info_falls_back_to_the_first() -> None:
    english = Info("en-US", ("Met",), "Typhoon", "Immediate", "Extreme", "Observed")
    french = Info("fr", ("Met",), "Typhon", "Immediate", "Extreme", "Observed")
    alert = cap.Alert(
        "a", "s", datetime.now(UTC), "Actual", "Alert", "Public", infos=(english, french)
    )
    assert cap.choose_info(alert) is english
    vietnamese = Info("vi-Latn-VN", ("Met",), "Bão", "Immediate", "Extreme", "Observed")
    assert (
        cap.choose_info(
            cap.Alert(
                "a", "s", alert.sent, "Actual", "Alert", "Public", infos=(english, vietnamese)
            )
        )
        is vietnamese
    )
    # "vie" or "vietnam" are not the vi language tag
    odd = Info("vie", ("Met",), "Bão", "Immediate", "Extreme", "Observed")
    assert (
        cap.choose_info(
            cap.Alert("a", "s", alert.sent, "Actual", "Alert", "Public", infos=(english, odd))
        )
        is english
    )


# --- refusals -------------------------------------------------------------------------------


def test_malformed_xml() -> None:
    error = refused(load("malformed.xml"), "cap_malformed")
    assert "dòng" in error.reason
    refused(b"", "cap_malformed")
    refused(b"\xff\xfe\x00garbage", "cap_malformed")
    refused("<alert>Bão</alert>".encode("utf-16"), "cap_schema")  # well-formed UTF-16, not CAP


def test_schema_errors_name_the_element_and_line() -> None:
    missing = refused(load("missing_sender.xml"), "cap_schema")
    assert "<sent>" in missing.reason and "dòng 4" in missing.reason and "sender" in missing.reason
    bad = refused(load("bad_urgency.xml"), "cap_schema")
    assert "<urgency>" in bad.reason and "dòng 13" in bad.reason
    # CAP 1.1 is another namespace: not a CAP 1.2 alert
    old = load("typhoon_hoian.xml").replace(b"cap:1.2", b"cap:1.1")
    assert "<alert>" in refused(old, "cap_schema").reason
    # times without an offset, or with Z, are not CAP 1.2
    zulu = load("typhoon_hoian.xml").replace(
        b"2026-10-20T08:00:00+07:00</sent>", b"2026-10-20T01:00:00Z</sent>"
    )
    assert "<sent>" in refused(zulu, "cap_schema").reason


def test_geometry_the_schema_cannot_check_is_refused() -> None:
    base = load("typhoon_hoian.xml")
    ring = b"15.80,108.30 15.95,108.30 15.95,108.45 15.80,108.45"
    open_ring = base.replace(
        ring + b" 15.80,108.30</polygon>\n      <circle>", ring + b"</polygon>\n      <circle>"
    )
    assert "<polygon>" in refused(open_ring, "cap_schema").reason
    bad_point = base.replace(b"<circle>15.88,108.50 5</circle>", b"<circle>95.0,108.50 5</circle>")
    assert "<circle>" in refused(bad_point, "cap_schema").reason
    bad_radius = base.replace(
        b"<circle>15.88,108.50 5</circle>", b"<circle>15.88,108.50 -5</circle>"
    )
    assert "<circle>" in refused(bad_radius, "cap_schema").reason
    bad_refs = load("typhoon_update.xml").replace(
        b",2026-10-20T08:00:00+07:00</references>", b"</references>"
    )
    assert "<references>" in refused(bad_refs, "cap_schema").reason


def test_xxe_is_refused_and_nothing_is_read() -> None:
    error = refused(load("xxe.xml"), "cap_entities")
    assert "XXE" in error.reason
    # a parameter entity to the network, and a DOCTYPE naming an external DTD
    refused(
        b'<?xml version="1.0"?><!DOCTYPE a [<!ENTITY % p SYSTEM "http://203.0.113.9/x.dtd"> %p;]>'
        b'<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2"/>',
        "cap_entities",
    )
    refused(
        b'<!DOCTYPE alert SYSTEM "http://203.0.113.9/cap.dtd">'
        b'<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2"/>',
        "cap_entities",
    )
    # the same in UTF-16, where a byte search for "<!DOCTYPE" would miss it
    refused(
        load("xxe.xml").decode().replace('encoding="UTF-8"', 'encoding="UTF-16"').encode("utf-16"),
        "cap_entities",
    )


def test_billion_laughs_is_refused_quickly() -> None:
    started = time.perf_counter()
    refused(load("billion_laughs.xml"), "cap_entities")
    assert time.perf_counter() - started < 1.0


def test_huge_document_is_refused_before_parsing() -> None:
    base = load("typhoon_hoian.xml")
    padding = b"<!-- " + b"x" * cap.MAX_BYTES + b" -->"
    huge = base.replace(b"<alert ", padding + b"<alert ", 1)
    error = refused(huge, "cap_too_large")
    assert "262.144" in error.reason
    # the limit is the caller's to choose; exactly at the limit is read
    refused(base, "cap_too_large", max_bytes=len(base) - 1)
    assert cap.parse(base, max_bytes=len(base)).identifier == "KTTV-TTB-2026-BAO06-001"
    # deep nesting stays within libxml2's limits (no huge_tree): refused, not a crash
    deep = b"<a>" * 5000 + b"</a>" * 5000
    refused(deep, "cap_malformed")


# --- signatures -----------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["rsa", "ec"])
def test_signed_alert_verifies_and_parses(kind: str) -> None:
    key_pem, cert_pem = key_and_cert(kind)
    signed = cap.sign(load("typhoon_hoian.xml"), key_pem, cert_pem)
    cap.verify(signed, cert_pem)
    alert = cap.parse(signed)  # the ds:Signature is allowed by the schema
    assert alert.signed
    assert cap.choose_info(alert) is not None


def test_signature_refusals(rsa_pair: tuple[str, str]) -> None:
    key_pem, cert_pem = rsa_pair
    _other_key, other_cert = key_and_cert("rsa", "Kẻ mạo danh")
    unsigned = load("typhoon_hoian.xml")
    with pytest.raises(CapRefused) as caught:
        cap.verify(unsigned, cert_pem)
    assert caught.value.code == "cap_signature_missing" and caught.value.reason
    signed = cap.sign(unsigned, key_pem, cert_pem)
    # signed by another key than the source's certificate
    with pytest.raises(CapRefused) as caught:
        cap.verify(signed, other_cert)
    assert caught.value.code == "cap_signature_invalid" and caught.value.reason
    # one word changed after signing
    tampered = signed.replace("giật cấp 14".encode(), "giật cấp 10".encode())
    assert tampered != signed
    with pytest.raises(CapRefused) as caught:
        cap.verify(tampered, cert_pem)
    assert caught.value.code == "cap_signature_invalid"
    # the signature value itself broken
    start = signed.index(b"<ds:SignatureValue>") + len(b"<ds:SignatureValue>")
    broken = (
        signed[:start] + (b"A" if signed[start : start + 1] != b"A" else b"B") + signed[start + 1 :]
    )
    with pytest.raises(CapRefused) as caught:
        cap.verify(broken, cert_pem)
    assert caught.value.code == "cap_signature_invalid"
    # verify refuses entity tricks before any signature work
    with pytest.raises(CapRefused) as caught:
        cap.verify(load("xxe.xml"), cert_pem)
    assert caught.value.code == "cap_entities"


def test_signature_over_part_of_the_document_is_refused(rsa_pair: tuple[str, str]) -> None:
    key_pem, cert_pem = rsa_pair
    signed = cap.sign(load("typhoon_hoian.xml"), key_pem, cert_pem)
    # a Reference pointing at an element by ID instead of the whole document
    rewired = signed.replace(b'<ds:Reference URI="">', b'<ds:Reference URI="#x">')
    assert rewired != signed
    with pytest.raises(CapRefused) as caught:
        cap.verify(rewired, cert_pem)
    assert caught.value.code == "cap_signature_invalid"


# --- writing --------------------------------------------------------------------------------


def test_write_round_trips_through_parse_and_the_schema() -> None:
    info = Info(
        language="vi-VN",
        categories=("Safety",),
        event="Báo động khẩn cấp",
        urgency="Immediate",
        severity="Extreme",
        certainty="Observed",
        headline="Sơ tán khẩn cấp thôn Thanh Nam",
        description="Nước lũ dâng nhanh & <nguy hiểm>",
        instruction="Di chuyển lên nhà văn hóa xã.",
        sender_name="UBND xã Cẩm Thanh",
        effective=datetime(2026, 10, 20, 9, 0, tzinfo=ICT),
        expires=datetime(2026, 10, 20, 21, 0, tzinfo=ICT),
        areas=(
            Area(
                "Thôn Thanh Nam",
                polygons=(((15.87, 108.36), (15.88, 108.37), (15.86, 108.37), (15.87, 108.36)),),
                circles=((15.875, 108.365, 1.5),),
                geocodes=(("MA_DVHC", "20350"),),
            ),
        ),
    )
    ref = Reference("loa@camthanh", "loa-7", datetime(2026, 10, 20, 2, 0, tzinfo=UTC))
    data = cap.write(
        identifier="loa-8",
        sender="loa@camthanh",
        sent=datetime(2026, 10, 20, 2, 30, 15, 123456, tzinfo=UTC),
        status="Actual",
        msg_type="Update",
        references=(ref,),
        infos=(info,),
    )
    assert b"<sent>2026-10-20T02:30:15-00:00</sent>" in data
    alert = cap.parse(data)
    assert alert.infos == (info,)
    assert alert.references == (ref,)
    assert alert.sent == datetime(2026, 10, 20, 2, 30, 15, tzinfo=UTC)
    cancel = cap.write(
        identifier="loa-9",
        sender="loa@camthanh",
        sent=alert.sent,
        status="Actual",
        msg_type="Cancel",
        references=(ref,),
    )
    assert cap.parse(cancel).infos == ()
    with pytest.raises(ValueError):
        cap.write(
            identifier="có dấu cách", sender="s", sent=alert.sent, status="Actual", msg_type="Alert"
        )
    with pytest.raises(ValueError):
        cap.write(
            identifier="x", sender="s", sent=datetime(2026, 1, 1), status="Actual", msg_type="Alert"
        )
    with pytest.raises(CapRefused) as caught:  # nothing schema-invalid leaves Loa
        cap.write(identifier="x", sender="s", sent=alert.sent, status="Khẩn", msg_type="Alert")
    assert caught.value.code == "cap_schema"


def test_atom_index_and_feed_links_read_each_other() -> None:
    updated = datetime(2026, 10, 20, 2, 0, tzinfo=UTC)
    index = cap.atom_index(
        feed_id="urn:loa:camthanh:cap",
        title="Cảnh báo của xã Cẩm Thanh",
        self_url="https://loa.camthanh.example/cap/feed.atom",
        updated=updated,
        entries=[
            (
                "urn:loa:camthanh:loa-8",
                "Sơ tán",
                updated,
                "https://loa.camthanh.example/cap/alerts/loa-8.xml",
                "Nước lũ",
            ),
            ("urn:loa:camthanh:loa-7", "Báo động", updated, "/cap/alerts/loa-7.xml", ""),
        ],
    )
    assert b'type="application/cap+xml"' in index and b'rel="alternate"' in index
    assert cap.feed_links(index, "https://loa.camthanh.example/cap/feed.atom") == [
        "https://loa.camthanh.example/cap/alerts/loa-8.xml",
        "https://loa.camthanh.example/cap/alerts/loa-7.xml",
    ]


def test_feed_links_atom_and_rss() -> None:
    atom = cap.feed_links(load("feed_atom.xml"), "https://kttvttb.example/cap/feed.atom")
    assert atom == [
        "https://kttvttb.example/cap/alerts/BAO06-002.xml",
        "https://cdn.kttvttb.example/cap/BAO06-001.xml",
    ]  # the file:// link is dropped
    rss = cap.feed_links(load("feed_rss.xml"), "https://pctt.quangnam.example/rss.xml")
    assert rss == [
        "https://pctt.quangnam.example/cap/LU-014.xml",
        "https://pctt.quangnam.example/cap/SL-003.xml",
    ]


def test_feed_links_refusals() -> None:
    for data, code in (
        (b"<feed", "cap_malformed"),
        (load("typhoon_hoian.xml"), "cap_malformed"),  # a CAP document is not an index
        (b"<rss version='2.0'/>", "cap_malformed"),
        (
            load("xxe.xml").replace(b"<alert", b"<feed").replace(b"</alert>", b"</feed>"),
            "cap_entities",
        ),
    ):
        with pytest.raises(CapRefused) as caught:
            cap.feed_links(data, "https://x.example/")
        assert caught.value.code == code and caught.value.reason
    with pytest.raises(CapRefused) as caught:
        cap.feed_links(load("feed_rss.xml"), "https://x.example/", max_bytes=100)
    assert caught.value.code == "cap_too_large"


def test_the_schema_ships_with_the_package() -> None:
    from importlib import resources

    xsd = resources.files("controller.domain.cap_schema").joinpath("CAP-v1.2.xsd")
    assert b'targetNamespace="urn:oasis:names:tc:emergency:cap:1.2"' in xsd.read_bytes()
    import tomllib

    project = tomllib.loads((Path(__file__).resolve().parents[2] / "pyproject.toml").read_text())
    assert "*.xsd" in project["tool"]["setuptools"]["package-data"]["*"]
