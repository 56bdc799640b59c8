"""Loa's own warnings as CAP 1.2 (issue 16, "Out"): what is published, and each document.

Published: every emergency (``broadcasts.emergency = 1``) and, when the deployment chooses
categories (``Settings.cap_publish_categories``), the approved bulletins of those categories.
A broadcast written from a received CAP alert (``announcements.cap_alert_id``) is not
published again: two Loas that subscribe to each other would otherwise pass one warning back
and forth under new identifiers.

Each published broadcast is one ``Alert`` (identifier ``loa-b{id}-{created, UTC}``, sent when
it was made); a cancelled one is also a ``Cancel`` (``…-cancel``, sent when it was cancelled)
that references the Alert, so a subscriber stops it. The area is one ``<area>`` per target
zone: its mã đơn vị hành chính as ``<geocode>`` (valueName ``MA_DVHC``) when the admin set one,
and the convex hull of its clusters' positions buffered by ~1 km as a ``<polygon>`` when they
have positions. Documents are made when asked for, from the database, and signed with the
deployment's own key when one is configured (``cap_signing_key_file``/``cap_signing_cert_file``).
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import unicodedata
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlite_utils
from shapely.geometry import MultiPoint

from controller.core.settings import Settings
from controller.domain import cap, fleet, zones

#: The feed holds this many documents (Alerts and Cancels), newest first.
FEED_SIZE = 50
#: valueName of a zone's administrative code in ``<geocode>`` (mã đơn vị hành chính).
ADMIN_CODE_NAME = "MA_DVHC"
#: Margin around the clusters' hull: a loudspeaker is heard some hundreds of metres away.
BUFFER_KM = 1.0
KM_PER_DEGREE_LAT = 110.574
KM_PER_DEGREE_LON_AT_EQUATOR = 111.320

#: Loa's announcement categories in CAP's (bulletins; an emergency is always ``Safety``).
CAP_CATEGORIES = {
    "thien_tai": "Safety",
    "y_te": "Health",
    "thong_bao": "Other",
    "tin_tuc": "Other",
    "phap_luat": "Other",
    "khac": "Other",
}
#: The ``<event>`` of a bulletin, by category (Vietnamese, as the rest of the document).
EVENTS = {
    "thong_bao": "Thông báo",
    "tin_tuc": "Tin tức",
    "phap_luat": "Pháp luật",
    "thien_tai": "Phòng chống thiên tai",
    "y_te": "Y tế",
    "khac": "Khác",
}
EMERGENCY_EVENT = "Báo động khẩn cấp"

_IDENTIFIER = re.compile(r"^loa-b(\d{1,18})-(\d{8}T\d{6}Z)(-cancel)?$")


@dataclass(frozen=True)
class Entry:
    """One published document: an Alert, or the Cancel of a cancelled broadcast."""

    identifier: str
    msg_type: str
    sent: datetime
    title: str
    summary: str
    broadcast_id: int


def _when(stamp: str) -> datetime:
    moment = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def alert_identifier(broadcast_id: int, created_at: str) -> str:
    return f"loa-b{broadcast_id}-{_stamp(_when(created_at))}"


def _ascii(name: str) -> str:
    plain = unicodedata.normalize("NFKD", name.replace("đ", "d").replace("Đ", "D"))
    plain = "".join(c for c in plain if not unicodedata.combining(c)).lower()
    return re.sub(r"[^a-z0-9]+", "-", plain).strip("-") or "loa"


def commune_name(db: sqlite_utils.Database) -> str:
    for row in db.query("SELECT name FROM zones WHERE parent_id IS NULL ORDER BY id LIMIT 1"):
        return str(row["name"])
    return "Loa"


def sender(db: sqlite_utils.Database, settings: Settings) -> str:
    """``Settings.cap_sender``, else ``loa@<the commune's name in ascii>`` (``loa@xa-lac-lam``)."""
    return settings.cap_sender or f"loa@{_ascii(commune_name(db))}"


_SELECT = """
    SELECT b.id, b.zone_ids, b.node_ids, b.starts_at, b.created_at, b.status, b.cancelled_at,
           b.emergency, a.title, a.text, a.category
    FROM broadcasts b JOIN announcements a ON a.id = b.announcement_id
    WHERE COALESCE(b.kind, 'file') = 'file' AND a.cap_alert_id IS NULL
      AND (b.emergency = 1
           OR (a.category IN ({categories}) AND a.status IN ('approved', 'archived')))
"""


def _query(settings: Settings, extra: str) -> tuple[str, list[Any]]:
    categories = list(settings.cap_publish_categories)
    marks = ",".join("?" * len(categories)) or "NULL"
    return _SELECT.format(categories=marks) + extra, categories


def _summary(text: str, limit: int = 200) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1].rstrip() + "…"


def published(db: sqlite_utils.Database, settings: Settings, limit: int = FEED_SIZE) -> list[Entry]:
    """The newest ``limit`` documents, newest first."""
    sql, params = _query(
        settings,
        " ORDER BY MAX(b.created_at, COALESCE(b.cancelled_at, '')) DESC, b.id DESC LIMIT ?",
    )
    entries: list[Entry] = []
    for row in db.query(sql, [*params, limit]):
        identifier = alert_identifier(row["id"], row["created_at"])
        title = row["title"] or ""
        entries.append(
            Entry(
                identifier,
                "Alert",
                _when(row["created_at"]),
                title,
                _summary(row["text"] or ""),
                row["id"],
            )
        )
        if row["status"] == "cancelled" and row["cancelled_at"]:
            entries.append(
                Entry(
                    identifier + "-cancel",
                    "Cancel",
                    _when(row["cancelled_at"]),
                    f"Hủy: {title}",
                    "Cảnh báo đã được hủy.",
                    row["id"],
                )
            )
    entries.sort(key=lambda e: (e.sent, e.msg_type == "Cancel"), reverse=True)
    return entries[:limit]


def _row(db: sqlite_utils.Database, settings: Settings, broadcast_id: int) -> dict[str, Any] | None:
    sql, params = _query(settings, " AND b.id = ?")
    rows = list(db.query(sql, [*params, broadcast_id]))
    return rows[0] if rows else None


def _hull_ring(points: list[tuple[float, float]]) -> cap.Ring | None:
    """The clusters' (lat, lon) convex hull buffered by BUFFER_KM, as a closed CAP ring."""
    if not points:
        return None
    lat0 = sum(lat for lat, _ in points) / len(points)
    kx = KM_PER_DEGREE_LON_AT_EQUATOR * math.cos(math.radians(lat0))
    ky = KM_PER_DEGREE_LAT
    # in local kilometres (equirectangular about the clusters' mean latitude), then back
    shape = MultiPoint([(lon * kx, lat * ky) for lat, lon in points]).convex_hull
    area = shape.buffer(BUFFER_KM, quad_segs=4)
    ring = tuple((round(y / ky, 6), round(x / kx, 6)) for x, y in area.exterior.coords)
    return ring if len(ring) >= 4 and ring[0] == ring[-1] else None


def areas(
    db: sqlite_utils.Database, zone_ids: list[int], node_ids: list[str] | None
) -> tuple[cap.Area, ...]:
    """One area per target zone: its code as a geocode, its clusters' hull as a polygon."""
    positions = fleet.node_positions(db)
    result = []
    for zone_id in zone_ids:
        rows = list(db.query("SELECT name, admin_code FROM zones WHERE id = ?", [zone_id]))
        if not rows:
            continue
        nodes = zones.nodes_under(db, [zone_id])
        if node_ids is not None:
            nodes = [n for n in nodes if n in set(node_ids)]
        ring = _hull_ring([positions[n] for n in nodes if n in positions])
        code = (rows[0]["admin_code"] or "").strip()
        result.append(
            cap.Area(
                description=rows[0]["name"],
                polygons=(ring,) if ring else (),
                geocodes=((ADMIN_CODE_NAME, code),) if code else (),
            )
        )
    return tuple(result)


def _info(db: sqlite_utils.Database, settings: Settings, row: dict[str, Any]) -> cap.Info:
    starts = _when(row["starts_at"])
    node_ids = json.loads(row["node_ids"]) if row["node_ids"] else None
    category = row["category"] or "khac"
    emergency = bool(row["emergency"])
    if emergency:
        categories, event = ("Safety",), EMERGENCY_EVENT
        urgency, severity, certainty = "Immediate", "Extreme", "Observed"
    else:
        categories, event = (CAP_CATEGORIES.get(category, "Other"),), EVENTS.get(category, "Khác")
        severe = category == "thien_tai"
        urgency, severity, certainty = (
            ("Expected", "Moderate", "Likely") if severe else ("Future", "Minor", "Likely")
        )
    return cap.Info(
        language="vi-VN",
        categories=categories,
        event=event,
        urgency=urgency,
        severity=severity,
        certainty=certainty,
        headline=row["title"] or "",
        description=row["text"] or "",
        sender_name=commune_name(db),
        effective=starts,
        onset=None if emergency else starts,
        expires=starts + timedelta(minutes=settings.cap_expires_minutes),
        areas=areas(db, json.loads(row["zone_ids"] or "[]"), node_ids),
    )


class SigningUnavailable(Exception):
    """Signing is configured but its key or certificate cannot be read or used."""


def signing_pair(settings: Settings) -> tuple[str, str] | None:
    """(key PEM, certificate PEM) when both files are configured; OSError if unreadable."""
    if not (settings.cap_signing_key_file and settings.cap_signing_cert_file):
        return None
    return (
        Path(settings.cap_signing_key_file).read_text(),
        Path(settings.cap_signing_cert_file).read_text(),
    )


def etag(identifier: str, settings: Settings) -> str:
    """A document's ETag: its identifier and the certificate that signs it (a document never
    changes under its identifier; an ECDSA signature differs at each signing, so it is not the
    bytes' hash)."""
    cert = ""
    if settings.cap_signing_cert_file:
        try:
            cert = Path(settings.cap_signing_cert_file).read_text()
        except OSError:
            cert = "unreadable"
    return '"' + hashlib.sha256(f"{identifier}\n{cert}".encode()).hexdigest()[:32] + '"'


def document(db: sqlite_utils.Database, settings: Settings, identifier: str) -> bytes | None:
    """The CAP document of a published identifier (signed when configured), or None."""
    match = _IDENTIFIER.match(identifier)
    if not match:
        return None
    row = _row(db, settings, int(match.group(1)))
    if row is None or alert_identifier(row["id"], row["created_at"]) != identifier.removesuffix(
        "-cancel"
    ):
        return None
    who = sender(db, settings)
    sent = _when(row["created_at"])
    alert_id = alert_identifier(row["id"], row["created_at"])
    if match.group(3):
        if row["status"] != "cancelled" or not row["cancelled_at"]:
            return None
        data = cap.write(
            identifier=identifier,
            sender=who,
            sent=_when(row["cancelled_at"]),
            status="Actual",
            msg_type="Cancel",
            references=(cap.Reference(who, alert_id, sent),),
            note=f"Đã hủy: {row['title'] or ''}",
        )
    else:
        data = cap.write(
            identifier=alert_id,
            sender=who,
            sent=sent,
            status="Actual",
            msg_type="Alert",
            infos=(_info(db, settings, row),),
        )
    try:
        pair = signing_pair(settings)
        return cap.sign(data, *pair) if pair else data
    except (OSError, ValueError, TypeError) as exc:  # unreadable, not PEM, not RSA/EC
        raise SigningUnavailable(str(exc)) from exc


def feed(db: sqlite_utils.Database, settings: Settings, base_url: str) -> bytes:
    """The Atom index of the newest documents; links are ``{base_url}/cap/alerts/{id}.xml``."""
    base = base_url.rstrip("/")
    entries = published(db, settings)
    who = sender(db, settings)
    # the same documents give the same bytes (and ETag): an empty feed is dated at the epoch
    updated = entries[0].sent if entries else datetime(1970, 1, 1, tzinfo=UTC)
    return cap.atom_index(
        feed_id=f"{base}/cap/feed.atom",
        title=f"Cảnh báo của {commune_name(db)} (Loa, CAP 1.2)",
        self_url=f"{base}/cap/feed.atom",
        updated=updated,
        author=who,
        entries=[
            (
                f"{base}/cap/alerts/{e.identifier}.xml",
                e.title,
                e.sent,
                f"{base}/cap/alerts/{e.identifier}.xml",
                e.summary,
            )
            for e in entries
        ],
    )
