"""CAP 1.2 (OASIS Common Alerting Protocol, ITU-T X.1303) in and out, pure: no database, no web.

Reading: ``parse`` checks the size, parses with no DTD, no entities and no network (a
``DOCTYPE`` is refused outright: XXE and entity expansion have nothing to work with), validates
against the OASIS CAP 1.2 schema shipped in ``cap_schema/`` and builds frozen dataclasses.
``verify`` checks an enveloped XML Signature against a source's certificate; ``sign`` makes one.
``choose_info`` picks the Vietnamese ``info`` block; ``Area.contains`` / ``Info.contains`` say
whether a position is inside (shapely for polygons, great-circle distance for circles).

Writing: ``write`` makes a CAP document that ``parse`` accepts, ``atom_index`` an Atom 1.0
index of CAP documents; ``feed_links`` reads such an index (Atom or RSS 2.0) from a source.

Every refusal is a ``CapRefused`` with a stable ``code`` (for the API and the audit log) and a
short Vietnamese ``reason`` (for the people on the source's page).
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache, cached_property, lru_cache
from importlib import resources
from typing import Any
from urllib.parse import urljoin, urlsplit

import defusedxml.ElementTree as safe_et
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import load_pem_private_key
from defusedxml import DefusedXmlException
from lxml import etree
from shapely import make_valid, prepare
from shapely.geometry import Point, Polygon
from shapely.geometry.base import BaseGeometry
from signxml import (
    DigestAlgorithm,
    InvalidCertificate,
    InvalidDigest,
    InvalidInput,
    InvalidSignature,
    SignatureConfiguration,
    SignatureMethod,
    XMLSigner,
    XMLVerifier,
)

CAP_NS = "urn:oasis:names:tc:emergency:cap:1.2"
DS_NS = "http://www.w3.org/2000/09/xmldsig#"
ATOM_NS = "http://www.w3.org/2005/Atom"
CAP_MIME = "application/cap+xml"

#: Largest CAP document (or feed index) read, in bytes. Real alerts are a few KiB: the
#: typhoon warnings of national services with several languages and long polygons stay under
#: 100 KiB, and resources (maps, audio) are links, not inline. 256 KiB leaves room for a
#: province-wide polygon with thousands of points while keeping one hostile document from
#: costing more than a few milliseconds and a few MiB of memory to refuse.
MAX_BYTES = 256 * 1024

#: Mean Earth radius (IUGG), km: a circle's radius in CAP is in kilometres.
EARTH_RADIUS_KM = 6371.0088

_CODES = (
    "cap_too_large",
    "cap_malformed",
    "cap_entities",
    "cap_schema",
    "cap_signature_missing",
    "cap_signature_invalid",
)


class CapRefused(Exception):
    """A CAP document (or feed index) refused: ``code`` is stable, ``reason`` is for people."""

    def __init__(self, code: str, reason: str):
        assert code in _CODES, code
        super().__init__(f"{code}: {reason}")
        self.code = code
        self.reason = reason


# --- the data ---------------------------------------------------------------------------------

Ring = tuple[tuple[float, float], ...]


@dataclass(frozen=True)
class Area:
    """One ``<area>``: points are (lat, lon) as CAP writes them, radii in km."""

    description: str
    polygons: tuple[Ring, ...] = ()
    circles: tuple[tuple[float, float, float], ...] = ()
    geocodes: tuple[tuple[str, str], ...] = ()

    @cached_property
    def _shapes(self) -> tuple[BaseGeometry, ...]:
        shapes: list[BaseGeometry] = []
        for ring in self.polygons:
            # shapely works in (x, y) = (lon, lat); a self-crossing ring is repaired, not lost
            shape: BaseGeometry = Polygon([(lon, lat) for lat, lon in ring])
            if not shape.is_valid:
                shape = make_valid(shape)
            prepare(shape)  # many clusters are asked against one area: index it once
            shapes.append(shape)
        return tuple(shapes)

    def contains(self, lat: float, lon: float) -> bool:
        """Inside one of the polygons (the boundary counts) or circles (great-circle km)."""
        point = Point(lon, lat)
        if any(shape.covers(point) for shape in self._shapes):
            return True
        return any(
            distance_km(lat, lon, clat, clon) <= radius for clat, clon, radius in self.circles
        )

    def has_geometry(self) -> bool:
        return bool(self.polygons or self.circles)


@dataclass(frozen=True)
class Info:
    """One ``<info>`` block: what happens, how bad, where, in one language."""

    language: str
    categories: tuple[str, ...]
    event: str
    urgency: str
    severity: str
    certainty: str
    headline: str = ""
    description: str = ""
    instruction: str = ""
    sender_name: str = ""
    effective: datetime | None = None
    onset: datetime | None = None
    expires: datetime | None = None
    areas: tuple[Area, ...] = ()

    def contains(self, lat: float, lon: float) -> bool:
        return any(area.contains(lat, lon) for area in self.areas)

    def geocode_values(self) -> set[str]:
        return {value for area in self.areas for _name, value in area.geocodes}


@dataclass(frozen=True)
class Reference:
    """One entry of ``<references>``: an earlier alert by its sender, identifier and sent."""

    sender: str
    identifier: str
    sent: datetime


@dataclass(frozen=True)
class Alert:
    identifier: str
    sender: str
    sent: datetime
    status: str
    msg_type: str
    scope: str
    references: tuple[Reference, ...] = ()
    infos: tuple[Info, ...] = ()
    signed: bool = False
    raw: bytes = field(default=b"", repr=False, compare=False)
    note: str = ""


def distance_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle (haversine) distance in km."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(h)))


def choose_info(alert: Alert) -> Info | None:
    """The Vietnamese block (``vi``, ``vi-VN``, any ``vi-*``, any case), else the first."""
    for info in alert.infos:
        lang = info.language.strip().lower()
        if lang == "vi" or lang.startswith("vi-"):
            return info
    return alert.infos[0] if alert.infos else None


# --- safe parsing ---------------------------------------------------------------------------

_DOCTYPE = re.compile(rb"<!\s*(DOCTYPE|ENTITY)", re.IGNORECASE)


def _parser() -> etree.XMLParser:
    # no DTD loaded, no entity resolved, never the network, libxml2's size limits kept
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=False,
        remove_comments=False,
    )


def _entities_refused() -> CapRefused:
    return CapRefused(
        "cap_entities",
        "Tài liệu có khai báo DOCTYPE/ENTITY hoặc tham chiếu ra ngoài; "
        "bị từ chối để chống tấn công XXE và bom thực thể.",
    )


def _safe_tree(data: bytes, max_bytes: int, what: str = "Bản tin CAP") -> etree._Element:
    """Size first, then a DTD-free parse; returns the root element or raises CapRefused."""
    if not isinstance(data, bytes | bytearray):
        raise TypeError("CAP data must be bytes")
    if len(data) > max_bytes:
        raise CapRefused(
            "cap_too_large",
            f"{what} quá lớn ({len(data):,} byte, tối đa {max_bytes:,} byte).".replace(",", "."),
        )
    data = bytes(data)
    # expat via defusedxml first: it names DTDs, entities and external references as such
    # (whatever the document's encoding), before lxml builds anything
    try:
        safe_et.fromstring(data, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except DefusedXmlException:
        raise _entities_refused() from None
    except safe_et.ParseError as exc:
        if _DOCTYPE.search(data):
            raise _entities_refused() from None
        line = getattr(exc, "position", (None, None))[0]
        where = f" (dòng {line})" if line else ""
        raise CapRefused("cap_malformed", f"{what} không phải XML hợp lệ{where}.") from None
    except (ValueError, LookupError):
        raise CapRefused("cap_malformed", f"{what} không phải XML hợp lệ.") from None
    try:
        root = etree.fromstring(data, parser=_parser())
    except etree.XMLSyntaxError as exc:
        raise CapRefused(
            "cap_malformed", f"{what} không phải XML hợp lệ (dòng {exc.lineno})."
        ) from None
    tree = root.getroottree()
    if tree.docinfo.doctype or tree.docinfo.internalDTD is not None:
        raise _entities_refused()
    if any(isinstance(node, etree._Entity) for node in root.iter()):
        raise _entities_refused()
    return root


@cache
def _schema() -> etree.XMLSchema:
    xsd = resources.files("controller.domain.cap_schema").joinpath("CAP-v1.2.xsd").read_bytes()
    return etree.XMLSchema(etree.fromstring(xsd, parser=_parser()))


_SCHEMA_WORDS = (
    (r"This element is not expected\. Expected is \( (.+?) \)\.", r"không đúng chỗ, cần <\1>."),
    (
        r"This element is not expected\. Expected is one of \( (.+?) \)\.",
        r"không đúng chỗ, cần một trong ( \1 ).",
    ),
    (r"This element is not expected\.", "không đúng chỗ."),
    (r"Missing child element\(s\)\. Expected is \( (.+?) \)\.", r"thiếu phần tử con <\1>."),
    (
        r"\[facet 'enumeration'\] The value '(.*?)' is not an element of the set (\{.*\})\.",
        r"giá trị '\1' không thuộc \2.",
    ),
    (
        r"\[facet 'pattern'\] The value '(.*?)' is not accepted by the pattern '.*'\.",
        r"giá trị '\1' sai dạng thời điểm (cần YYYY-MM-DDThh:mm:ss+07:00).",
    ),
)


def _schema_reason(error: Any) -> str:
    message = str(error.message).replace("{" + CAP_NS + "}", "").replace("{" + DS_NS + "}", "ds:")
    match = re.match(r"Element '([^']+)'", message)
    element = match.group(1) if match else "alert"
    message = re.sub(r"^Element '[^']+':\s*", "", message)
    # libxml2's commonest sentences, in Vietnamese; anything else is kept as it says it
    for pattern, words in _SCHEMA_WORDS:
        message = re.sub(pattern, words, message)
    return f"Không đúng lược đồ CAP 1.2 tại phần tử <{element}>, dòng {error.line}: {message}"


def _validate(root: etree._Element) -> None:
    if root.tag != f"{{{CAP_NS}}}alert":
        qname = etree.QName(root)
        raise CapRefused(
            "cap_schema",
            f"Không phải bản tin CAP 1.2: phần tử gốc <{qname.localname}> "
            f"(không gian tên {qname.namespace or 'trống'}), cần <alert> của {CAP_NS}.",
        )
    schema = _schema()
    if not schema.validate(root):
        error = schema.error_log[0] if schema.error_log else None
        reason = _schema_reason(error) if error is not None else "Không đúng lược đồ CAP 1.2."
        raise CapRefused("cap_schema", reason)


# --- building the dataclasses ---------------------------------------------------------------


def _text(parent: etree._Element, name: str) -> str:
    node = parent.find(f"{{{CAP_NS}}}{name}")
    return (node.text or "").strip() if node is not None else ""


def _texts(parent: etree._Element, name: str) -> list[str]:
    return [(node.text or "").strip() for node in parent.findall(f"{{{CAP_NS}}}{name}")]


def _datetime(value: str, element: str) -> datetime:
    try:
        # the schema allows only YYYY-MM-DDThh:mm:ss±hh:mm; -00:00 means UTC
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise CapRefused("cap_schema", f"Thời điểm <{element}> không hợp lệ: {value!r}.") from None
    if moment.tzinfo is None:
        raise CapRefused("cap_schema", f"Thời điểm <{element}> thiếu múi giờ: {value!r}.")
    return moment


def _optional_datetime(parent: etree._Element, name: str) -> datetime | None:
    value = _text(parent, name)
    return _datetime(value, name) if value else None


def _coordinate(pair: str, element: str) -> tuple[float, float]:
    try:
        lat_s, lon_s = pair.split(",")
        lat, lon = float(lat_s), float(lon_s)
    except ValueError:
        raise CapRefused(
            "cap_schema",
            f"Tọa độ trong <{element}> không hợp lệ: {pair[:40]!r} (cần 'vĩ độ,kinh độ').",
        ) from None
    if not (-90 <= lat <= 90 and -180 <= lon <= 180) or not (
        math.isfinite(lat) and math.isfinite(lon)
    ):
        raise CapRefused("cap_schema", f"Tọa độ trong <{element}> ngoài phạm vi: {pair[:40]!r}.")
    return lat, lon


def _polygon(value: str) -> Ring:
    ring = tuple(_coordinate(pair, "polygon") for pair in value.split())
    if len(ring) < 4 or ring[0] != ring[-1]:
        raise CapRefused(
            "cap_schema",
            "Vùng <polygon> cần ít nhất 4 điểm và điểm cuối trùng điểm đầu.",
        )
    return ring


def _circle(value: str) -> tuple[float, float, float]:
    parts = value.split()
    if len(parts) != 2:
        raise CapRefused(
            "cap_schema", f"Vùng <circle> không hợp lệ: {value[:40]!r} (cần 'vĩ,kinh bán_kính')."
        )
    lat, lon = _coordinate(parts[0], "circle")
    try:
        radius = float(parts[1])
    except ValueError:
        radius = -1.0
    if not (math.isfinite(radius) and radius >= 0):
        raise CapRefused("cap_schema", f"Bán kính trong <circle> không hợp lệ: {parts[1][:20]!r}.")
    return lat, lon, radius


def _pairs(parent: etree._Element, name: str) -> tuple[tuple[str, str], ...]:
    return tuple(
        (_text(node, "valueName"), _text(node, "value"))
        for node in parent.findall(f"{{{CAP_NS}}}{name}")
    )


def _area(node: etree._Element) -> Area:
    return Area(
        description=_text(node, "areaDesc"),
        polygons=tuple(_polygon(p) for p in _texts(node, "polygon")),
        circles=tuple(_circle(c) for c in _texts(node, "circle")),
        geocodes=_pairs(node, "geocode"),
    )


def _info(node: etree._Element) -> Info:
    return Info(
        language=_text(node, "language") or "en-US",
        categories=tuple(_texts(node, "category")),
        event=_text(node, "event"),
        urgency=_text(node, "urgency"),
        severity=_text(node, "severity"),
        certainty=_text(node, "certainty"),
        headline=_text(node, "headline"),
        description=_text(node, "description"),
        instruction=_text(node, "instruction"),
        sender_name=_text(node, "senderName"),
        effective=_optional_datetime(node, "effective"),
        onset=_optional_datetime(node, "onset"),
        expires=_optional_datetime(node, "expires"),
        areas=tuple(_area(a) for a in node.findall(f"{{{CAP_NS}}}area")),
    )


def _references(value: str) -> tuple[Reference, ...]:
    refs = []
    for triple in value.split():
        parts = triple.split(",")
        if len(parts) != 3 or not parts[0] or not parts[1]:
            raise CapRefused(
                "cap_schema",
                f"Mục <references> không hợp lệ: {triple[:60]!r} (cần 'sender,identifier,sent').",
            )
        refs.append(Reference(parts[0], parts[1], _datetime(parts[2], "references")))
    return tuple(refs)


def parse(data: bytes, *, max_bytes: int = MAX_BYTES) -> Alert:
    """A CAP 1.2 document, checked (size, no DTD/entities, the schema) and read."""
    root = _safe_tree(data, max_bytes)
    _validate(root)
    return Alert(
        identifier=_text(root, "identifier"),
        sender=_text(root, "sender"),
        sent=_datetime(_text(root, "sent"), "sent"),
        status=_text(root, "status"),
        msg_type=_text(root, "msgType"),
        scope=_text(root, "scope"),
        references=_references(_text(root, "references")),
        infos=tuple(_info(n) for n in root.findall(f"{{{CAP_NS}}}info")),
        signed=root.find(f"{{{DS_NS}}}Signature") is not None,
        raw=bytes(data),
        note=_text(root, "note"),
    )


# --- XML Signature --------------------------------------------------------------------------

_SIGNATURE_METHODS = frozenset(
    {
        SignatureMethod.RSA_SHA256,
        SignatureMethod.RSA_SHA384,
        SignatureMethod.RSA_SHA512,
        SignatureMethod.ECDSA_SHA256,
        SignatureMethod.ECDSA_SHA384,
        SignatureMethod.ECDSA_SHA512,
    }
)
_DIGESTS = frozenset({DigestAlgorithm.SHA256, DigestAlgorithm.SHA384, DigestAlgorithm.SHA512})


def _invalid(detail: str = "") -> CapRefused:
    return CapRefused(
        "cap_signature_invalid",
        "Chữ ký số của bản tin không hợp lệ hoặc không do chứng thư của nguồn này ký"
        + detail
        + ".",
    )


def verify(data: bytes, cert_pem: str, *, max_bytes: int = MAX_BYTES) -> None:
    """The document carries an enveloped XML Signature over the whole alert by this certificate."""
    root = _safe_tree(data, max_bytes)
    signatures = root.findall(f"{{{DS_NS}}}Signature")
    if not signatures:
        raise CapRefused(
            "cap_signature_missing",
            "Bản tin không có chữ ký số, mà nguồn này chỉ nhận bản tin có ký.",
        )
    if len(signatures) != 1 or len(root.findall(f".//{{{DS_NS}}}Signature")) != 1:
        raise _invalid(" (có nhiều hơn một chữ ký)")
    references = signatures[0].findall(f"{{{DS_NS}}}SignedInfo/{{{DS_NS}}}Reference")
    # only a signature over the whole document counts: no signature wrapping by ID
    if len(references) != 1 or references[0].get("URI") != "":
        raise _invalid(" (chữ ký không phủ toàn bộ bản tin)")
    try:
        cert = x509.load_pem_x509_certificate(cert_pem.encode())
    except ValueError:
        raise _invalid(" (chứng thư cấu hình cho nguồn không đọc được)") from None
    config = SignatureConfiguration(
        signature_methods=_SIGNATURE_METHODS,
        digest_algorithms=_DIGESTS,
        expect_references=1,
        location="./",
    )
    try:
        result = XMLVerifier().verify(
            bytes(data), x509_cert=cert, expect_config=config, parser=_parser()
        )
    except (InvalidSignature, InvalidDigest, InvalidCertificate, InvalidInput):
        raise _invalid() from None
    except Exception:  # a malformed Signature element makes signxml fail in many ways
        raise _invalid() from None
    signed = result[0] if isinstance(result, list) else result
    if signed.signed_xml is None or signed.signed_xml.tag != f"{{{CAP_NS}}}alert":
        raise _invalid(" (phần được ký không phải bản tin CAP)")


@lru_cache(maxsize=4)
def _private_key(key_pem: str) -> Any:
    # loading an RSA key checks it (~40 ms): a deployment signs every document with one key
    return load_pem_private_key(key_pem.encode(), password=None)


def sign(data: bytes, key_pem: str, cert_pem: str) -> bytes:
    """An enveloped XML Signature (RSA-SHA256 or ECDSA-SHA256, by the key) over the document."""
    root = _safe_tree(data, MAX_BYTES * 4)
    key = _private_key(key_pem)
    if isinstance(key, rsa.RSAPrivateKey):
        method = SignatureMethod.RSA_SHA256
    elif isinstance(key, ec.EllipticCurvePrivateKey):
        method = SignatureMethod.ECDSA_SHA256
    else:
        raise ValueError("CAP signing key must be RSA or EC")
    for old in root.findall(f"{{{DS_NS}}}Signature"):
        root.remove(old)
    signer = XMLSigner(signature_algorithm=method, digest_algorithm=DigestAlgorithm.SHA256)
    signed = signer.sign(root, key=key, cert=cert_pem)
    return bytes(etree.tostring(signed, xml_declaration=True, encoding="UTF-8"))


# --- CAP out --------------------------------------------------------------------------------


def format_datetime(moment: datetime) -> str:
    """CAP's form ``YYYY-MM-DDThh:mm:ss±hh:mm``: no fraction, UTC as ``-00:00`` (CAP 1.2)."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError("CAP times must be aware datetimes")
    text = moment.replace(microsecond=0).isoformat()
    return text[:-6] + "-00:00" if text.endswith("+00:00") else text


def _number(value: float) -> str:
    text = f"{value:.6f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def _sub(parent: etree._Element, name: str, text: str | None) -> etree._Element:
    node = etree.SubElement(parent, f"{{{CAP_NS}}}{name}")
    if text is not None:
        node.text = text
    return node


def _check_token(value: str, what: str) -> str:
    # identifier and sender: no spaces, commas or '<' / '&' (CAP 1.2 §3.2.1)
    if not value or re.search(r"[\s,<&]", value):
        raise ValueError(
            f"CAP {what} must be non-empty without spaces, commas, '<' or '&': {value!r}"
        )
    return value


def write(
    *,
    identifier: str,
    sender: str,
    sent: datetime,
    status: str,
    msg_type: str,
    scope: str = "Public",
    references: Sequence[Reference] = (),
    infos: Sequence[Info] = (),
    note: str = "",
    source: str = "",
) -> bytes:
    """A CAP 1.2 document (UTF-8, schema-valid) that ``parse`` reads back to the same values."""
    root = etree.Element(f"{{{CAP_NS}}}alert", nsmap={None: CAP_NS})
    _sub(root, "identifier", _check_token(identifier, "identifier"))
    _sub(root, "sender", _check_token(sender, "sender"))
    _sub(root, "sent", format_datetime(sent))
    _sub(root, "status", status)
    _sub(root, "msgType", msg_type)
    if source:
        _sub(root, "source", source)
    _sub(root, "scope", scope)
    if note:
        _sub(root, "note", note)
    if references:
        _sub(
            root,
            "references",
            " ".join(
                f"{_check_token(r.sender, 'sender')},{_check_token(r.identifier, 'identifier')},"
                f"{format_datetime(r.sent)}"
                for r in references
            ),
        )
    for info in infos:
        node = _sub(root, "info", None)
        _sub(node, "language", info.language)
        for category in info.categories:
            _sub(node, "category", category)
        _sub(node, "event", info.event)
        _sub(node, "urgency", info.urgency)
        _sub(node, "severity", info.severity)
        _sub(node, "certainty", info.certainty)
        for name, moment in (
            ("effective", info.effective),
            ("onset", info.onset),
            ("expires", info.expires),
        ):
            if moment is not None:
                _sub(node, name, format_datetime(moment))
        for name, text in (
            ("senderName", info.sender_name),
            ("headline", info.headline),
            ("description", info.description),
            ("instruction", info.instruction),
        ):
            if text:
                _sub(node, name, text)
        for area in info.areas:
            area_node = _sub(node, "area", None)
            _sub(area_node, "areaDesc", area.description)
            for ring in area.polygons:
                _sub(area_node, "polygon", " ".join(f"{_number(a)},{_number(o)}" for a, o in ring))
            for lat, lon, radius in area.circles:
                _sub(area_node, "circle", f"{_number(lat)},{_number(lon)} {_number(radius)}")
            for value_name, value in area.geocodes:
                geocode = _sub(area_node, "geocode", None)
                _sub(geocode, "valueName", value_name)
                _sub(geocode, "value", value)
    document = bytes(
        etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)
    )
    _validate(root)  # what Loa publishes is schema-valid, or nothing is published
    return document


def atom_index(
    *,
    feed_id: str,
    title: str,
    self_url: str,
    updated: datetime,
    entries: Sequence[tuple[str, str, datetime, str, str]],
    author: str = "Loa",
) -> bytes:
    """An Atom 1.0 index: entries are (id, title, updated, link to the CAP XML, summary)."""
    feed = etree.Element(f"{{{ATOM_NS}}}feed", nsmap={None: ATOM_NS})

    def sub(parent: etree._Element, name: str, text: str | None = None, **attrs: str) -> None:
        node = etree.SubElement(parent, f"{{{ATOM_NS}}}{name}", attrs)
        if text is not None:
            node.text = text

    sub(feed, "id", feed_id)
    sub(feed, "title", title)
    sub(feed, "updated", updated.astimezone(UTC).replace(microsecond=0).isoformat())
    sub(feed, "link", rel="self", href=self_url, type="application/atom+xml")
    author_node = etree.SubElement(feed, f"{{{ATOM_NS}}}author")
    sub(author_node, "name", author)
    for entry_id, entry_title, entry_updated, link, summary in entries:
        entry = etree.SubElement(feed, f"{{{ATOM_NS}}}entry")
        sub(entry, "id", entry_id)
        sub(entry, "title", entry_title)
        sub(entry, "updated", entry_updated.astimezone(UTC).replace(microsecond=0).isoformat())
        sub(entry, "link", rel="alternate", type=CAP_MIME, href=link)
        if summary:
            sub(entry, "summary", summary)
    return bytes(etree.tostring(feed, xml_declaration=True, encoding="UTF-8", pretty_print=True))


def _usable(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme in ("http", "https") and bool(parts.netloc)


def feed_links(data: bytes, base_url: str, *, max_bytes: int = MAX_BYTES) -> list[str]:
    """Links to CAP documents in an Atom or RSS 2.0 index, absolute, http(s) only, in order.

    Atom: each entry's ``link`` typed ``application/cap+xml`` (any rel), else its
    ``rel="alternate"`` (or rel-less) link. RSS 2.0: each item's ``enclosure`` typed CAP, else
    its ``link``. Relative links are resolved against ``base_url``; ``xml:base`` is not honoured.
    """
    root = _safe_tree(data, max_bytes, "Chỉ mục nguồn tin")
    links: list[str] = []
    if root.tag == f"{{{ATOM_NS}}}feed":
        for entry in root.findall(f"{{{ATOM_NS}}}entry"):
            candidates = entry.findall(f"{{{ATOM_NS}}}link")
            typed = [n for n in candidates if (n.get("type") or "").strip().lower() == CAP_MIME]
            plain = [n for n in candidates if (n.get("rel") or "alternate") == "alternate"]
            chosen = (typed or plain or [None])[0]
            if chosen is not None and chosen.get("href"):
                links.append(urljoin(base_url, chosen.get("href", "").strip()))
    elif root.tag == "rss":
        channel = root.find("channel")
        if channel is None:
            raise CapRefused("cap_malformed", "Chỉ mục RSS không có <channel>.")
        for item in channel.findall("item"):
            enclosures = [
                n.get("url", "").strip()
                for n in item.findall("enclosure")
                if (n.get("type") or "").strip().lower() == CAP_MIME and n.get("url")
            ]
            link = (item.findtext("link") or "").strip()
            href = enclosures[0] if enclosures else link
            if href:
                links.append(urljoin(base_url, href))
    else:
        name = etree.QName(root).localname if isinstance(root.tag, str) else "?"
        raise CapRefused(
            "cap_malformed",
            f"Chỉ mục nguồn tin không phải Atom hay RSS 2.0 (phần tử gốc <{name}>).",
        )
    seen: set[str] = set()
    result = []
    for link in links:
        if _usable(link) and link not in seen:
            seen.add(link)
            result.append(link)
    return result
