"""CAP 1.2 alerts in (issue 16): the sources an admin trusts, what each alert made, the
policy table that decides it, and which clusters an alert's area reaches.

- **Sources**: a *feed* polled (an Atom or RSS index of CAP documents, or one CAP URL; its
  interval, ETag and Last-Modified, and its state: last checked, last OK, last error) or a
  *push* source (``POST /api/v1/cap`` with the integration token made for it). A source may be
  *signed-only*: an alert without a valid XML Signature by its configured certificate is
  refused. A source acts as the official it names, or else as itself (``cap:<name>``, with the
  approver's role: it may sound an emergency and cancel what it started, nothing more).
- **Refusals** keep their reason (``cap.CapRefused``'s code and Vietnamese words), are audited
  and shown on the source's page; nothing else is written for refused input.
- **The received-alerts log** has one row per (sender, identifier): a repeated identifier is
  ignored. Each row says what the alert made (``outcome``): an emergency, a pending
  announcement, nothing (logged: test status, expired, outside our area, …), and for an update
  or a cancel, what it stopped.
- **The policy**: rows in order, the first that matches wins; a row matches when the info's
  severity, urgency and certainty are among its values ("" = any) and, when it names an event,
  the info's event is that event (case-insensitive). Actions: ``emergency`` (at once, then
  again every ``repeat_min`` minutes until the alert expires), ``announcement`` (pending,
  waiting for an approver) or ``log``.
- **Targeting**: a cluster is reached when its position lies in one of the info's polygons or
  circles, or its zone (or a zone above it) has an administrative code (mã đơn vị hành chính,
  ``zones.admin_code``) among the info's geocodes; exactly those clusters, no others.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Iterable
from datetime import datetime
from typing import Any

import sqlite_utils
from cryptography import x509

from controller.core.db import insert, table, transaction
from controller.core.errors import ApiError
from controller.domain import audit, authz, cap, fleet, users, zones
from controller.domain.identity import Identity
from loa.protocol import to_wire_time, utcnow

KINDS = ("feed", "push")
ACTIONS = ("emergency", "announcement", "log")
SEVERITIES = ("Extreme", "Severe", "Moderate", "Minor", "Unknown")
URGENCIES = ("Immediate", "Expected", "Future", "Past", "Unknown")
CERTAINTIES = ("Observed", "Likely", "Possible", "Unlikely", "Unknown")
#: What an alert made (``cap_alerts.outcome``).
OUTCOMES = (
    "received",  # claimed, being applied
    "emergency",  # sounded at once (and repeated until it expires)
    "announcement",  # a pending announcement waits for approval
    "logged",  # the policy says log only
    "test",  # status Test/Exercise/Draft/System: never sounded
    "expired",  # its info had expired when it arrived
    "outside_area",  # no cluster inside its area
    "no_info",  # nothing to say (no info block)
    "cancelled",  # a Cancel: it stopped what the referenced alerts made
    "failed",  # applying it failed (the detail says why)
)
#: The role a source acts with when it names no official (emergency and cancel, nothing else).
SOURCE_ROLE = "approver"
#: The role of a push source's integration token: it may push CAP alerts and nothing else.
PUSH_ROLE = "cap"
MIN_INTERVAL_S = 30
MAX_INTERVAL_S = 86_400
MAX_NAME_CHARS = 100
MAX_EVENT_CHARS = 200
MAX_REPEAT_MIN = 24 * 60
#: The rules of a source's name, a feed's URL and a rule's event as the OpenAPI document says
#: them (JSON Schema patterns, searched as JSON Schema validators do; lengths are of the text
#: as given, before it is normalized and stripped): a name holds no control character or
#: bidirectional override and something visible (as controller/api/models.py's WORDS); a URL is
#: http(s)://host… with no control character or space inside, blanks around it allowed; an event
#: holds no control character or bidirectional override.
_BAD = r"\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069"
_INVISIBLE = r"\s\u00ad\u200b-\u200f\u2060-\u2065\ufeff"
NAME_PATTERN = f"^[^{_BAD}]*[^{_BAD}{_INVISIBLE}][^{_BAD}]*$"
_NOT_URL = r"\x00-\x20\x7f-\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff"
URL_PATTERN = f"^[ \\t\\n\\r]*https?://[^{_NOT_URL}/?#]+[^{_NOT_URL}]*[ \\t\\n\\r]*$"
EVENT_PATTERN = f"^[^{_BAD}]*$"
#: Refusals kept per source on its page (all are kept; the page shows the latest).
SHOWN_REFUSALS = 20


# --- sources -------------------------------------------------------------------------------


def _source_view(row: dict[str, Any]) -> dict[str, Any]:
    """A source as the API and pages show it (never its token)."""
    view = dict(row)
    view["signed_only"] = bool(row.get("signed_only"))
    view["enabled"] = bool(row.get("enabled"))
    view["has_cert"] = bool(row.get("cert_pem"))
    return view


def list_sources(db: sqlite_utils.Database) -> list[dict[str, Any]]:
    return [_source_view(r) for r in db.query("SELECT * FROM cap_sources ORDER BY id")]


def get_source(db: sqlite_utils.Database, source_id: int) -> dict[str, Any] | None:
    rows = list(db.query("SELECT * FROM cap_sources WHERE id = ?", [source_id]))
    return _source_view(rows[0]) if rows else None


def must_get_source(db: sqlite_utils.Database, source_id: int) -> dict[str, Any]:
    source = get_source(db, source_id)
    if source is None:
        raise ApiError(404, "cap_source_not_found")
    return source


def source_for_token(db: sqlite_utils.Database, token: str) -> dict[str, Any] | None:
    """The push source whose integration token this is (None: not a source's token)."""
    row = users.token_identity(db, token)
    if row is None:
        return None
    rows = list(db.query("SELECT id FROM cap_sources WHERE token_id = ?", [row["id"]]))
    return get_source(db, rows[0]["id"]) if rows else None


def _clean_source(db: sqlite_utils.Database, fields: dict[str, Any]) -> dict[str, Any]:
    """The checked columns of a source; ApiError naming the field otherwise."""
    given = str(fields.get("name") or "")
    if len(given) > MAX_NAME_CHARS or not re.search(NAME_PATTERN, given):
        raise ApiError(422, "cap_source_bad_name", field="name")
    name = unicodedata.normalize("NFC", given).strip()
    kind = fields.get("kind") or "feed"
    if kind not in KINDS:
        raise ApiError(422, "invalid_request", field="kind")
    url = str(fields.get("url") or "")
    if kind == "feed" and not re.search(URL_PATTERN, url):
        raise ApiError(422, "cap_source_bad_url", field="url")
    url = url.strip(" \t\n\r")
    if kind == "push":
        url = ""
    interval = 60 if fields.get("interval_s") is None else int(fields["interval_s"])
    if not MIN_INTERVAL_S <= interval <= MAX_INTERVAL_S:
        raise ApiError(
            422, "cap_source_bad_interval", field="interval_s", low=MIN_INTERVAL_S, high=86400
        )
    cert_pem = str(fields.get("cert_pem") or "").strip()
    if cert_pem:
        try:
            x509.load_pem_x509_certificate(cert_pem.encode())
        except ValueError:
            raise ApiError(422, "cap_source_bad_cert", field="cert_pem") from None
    signed_only = bool(fields.get("signed_only"))
    if signed_only and not cert_pem:
        raise ApiError(422, "cap_source_cert_required", field="cert_pem")
    user_id = fields.get("user_id")
    if user_id is not None:
        user = users.get_user(db, int(user_id))
        if user is None or user.get("disabled"):
            raise ApiError(404, "user_not_found", field="user_id")
        if user["role"] not in authz.PERMISSIONS["broadcast.emergency"]:
            raise ApiError(422, "cap_source_user_role", field="user_id")
    return {
        "name": name,
        "kind": kind,
        "url": url,
        "interval_s": interval,
        "signed_only": int(signed_only),
        "cert_pem": cert_pem or None,
        "user_id": int(user_id) if user_id is not None else None,
        "enabled": int(fields.get("enabled", True) is not False),
    }


def _audited(row: dict[str, Any]) -> dict[str, Any]:
    """A source's columns for the audit log: the certificate by whether it is set."""
    return {k: v for k, v in row.items() if k != "cert_pem"} | {"cert": bool(row.get("cert_pem"))}


def create_source(
    db: sqlite_utils.Database, who: Identity, fields: dict[str, Any]
) -> tuple[int, str | None]:
    """A new source (``cap.manage``); a push source gets its integration token, returned once
    (only its hash is kept). Audited ``cap_source.create``."""
    authz.require(who, "cap.manage")
    row = _clean_source(db, fields)
    now = to_wire_time(utcnow())
    row |= {"created_at": now, "updated_at": now}
    token = None
    with transaction(db):
        if row["kind"] == "push":
            token = users.create_token(db, f"cap:{row['name']}", role=PUSH_ROLE)
            token_row = users.token_identity(db, token)
            row["token_id"] = token_row["id"] if token_row else None
        source_id = insert(db, "cap_sources", row)
        audit.record(db, who, "cap_source.create", "cap_source", source_id, after=_audited(row))
    return source_id, token


def update_source(
    db: sqlite_utils.Database, who: Identity, source_id: int, fields: dict[str, Any]
) -> dict[str, Any]:
    """Change a source's settings (its kind stays); audited ``cap_source.update``."""
    authz.require(who, "cap.manage")
    with transaction(db):
        before = must_get_source(db, source_id)
        row = _clean_source(db, {**fields, "kind": before["kind"]})
        if fields.get("cert_pem") is None and before.get("cert_pem"):
            row["cert_pem"] = before["cert_pem"]  # not given: kept (never shown back)
            if row["signed_only"] and not row["cert_pem"]:
                raise ApiError(422, "cap_source_cert_required", field="cert_pem")
        if row["url"] != before["url"]:  # another feed: its validators no longer apply
            row |= {"etag": None, "last_modified": None}
        row["updated_at"] = to_wire_time(utcnow())
        table(db, "cap_sources").update(source_id, row)
        audit.record(
            db,
            who,
            "cap_source.update",
            "cap_source",
            source_id,
            before=_audited({k: before.get(k) for k in row}),
            after=_audited(row),
        )
    return must_get_source(db, source_id)


def delete_source(db: sqlite_utils.Database, who: Identity, source_id: int) -> None:
    """Remove a source that has received nothing (its token revoked, its refusals kept in the
    audit log); one with alerts stays for the record: ``cap_source_has_alerts`` (409),
    disable it instead."""
    authz.require(who, "cap.manage")
    with transaction(db):
        before = must_get_source(db, source_id)
        if list(db.query("SELECT 1 FROM cap_alerts WHERE source_id = ? LIMIT 1", [source_id])):
            raise ApiError(409, "cap_source_has_alerts")
        if before.get("token_id"):
            db.execute(
                "UPDATE api_tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL",
                [to_wire_time(utcnow()), before["token_id"]],
            )
        db.execute("DELETE FROM cap_refusals WHERE source_id = ?", [source_id])
        db.execute("DELETE FROM cap_sources WHERE id = ?", [source_id])
        audit.record(db, who, "cap_source.delete", "cap_source", source_id, before=_audited(before))


def source_identity(db: sqlite_utils.Database, source: dict[str, Any]) -> Identity:
    """Who a source acts as: the official it names (while enabled), else itself."""
    if source.get("user_id") is not None:
        user = users.get_user(db, int(source["user_id"]))
        if user is not None and not user.get("disabled"):
            return Identity("user", user["display_name"], user["role"], user["id"], user["zone_id"])
    return Identity("token", f"cap:{source['name']}", SOURCE_ROLE)


def feeds_due(db: sqlite_utils.Database, now: datetime) -> list[dict[str, Any]]:
    """Enabled feed sources whose interval has passed since they were last checked."""
    due = []
    for source in list_sources(db):
        if source["kind"] != "feed" or not source["enabled"]:
            continue
        last = source.get("last_checked_at")
        if (
            last is None
            or (now - datetime.fromisoformat(last)).total_seconds() >= source["interval_s"]
        ):
            due.append(source)
    return due


def record_check(
    db: sqlite_utils.Database,
    source_id: int,
    *,
    ok: bool,
    error: str | None = None,
    etag: str | None = None,
    last_modified: str | None = None,
) -> None:
    """A feed's state after one poll: last checked, last OK (and its validators) or the error."""
    now = to_wire_time(utcnow())
    changes: dict[str, Any] = {"last_checked_at": now}
    if ok:
        changes |= {"last_ok_at": now, "last_error": None}
        if etag is not None or last_modified is not None:
            changes |= {"etag": etag, "last_modified": last_modified}
    else:
        changes["last_error"] = (error or "")[:500]
    table(db, "cap_sources").update(source_id, changes)


# --- refusals ------------------------------------------------------------------------------


def record_refusal(
    db: sqlite_utils.Database,
    source_id: int | None,
    code: str,
    reason: str,
    *,
    url: str | None = None,
    size: int = 0,
) -> int:
    """Keep a refused document's reason (audited ``cap.refuse``); nothing else is written."""
    row = {
        "source_id": source_id,
        "at": to_wire_time(utcnow()),
        "code": code,
        "reason": reason[:1000],
        "url": url,
        "bytes": size,
    }
    with transaction(db):
        refusal_id = insert(db, "cap_refusals", row)
        audit.append(db, "system", None, "cap.refuse", "cap_source", source_id, after=row)
    return refusal_id


def refusals(
    db: sqlite_utils.Database, source_id: int | None = None, limit: int = SHOWN_REFUSALS
) -> list[dict[str, Any]]:
    if source_id is None:
        return list(db.query("SELECT * FROM cap_refusals ORDER BY id DESC LIMIT ?", [limit]))
    return list(
        db.query(
            "SELECT * FROM cap_refusals WHERE source_id = ? ORDER BY id DESC LIMIT ?",
            [source_id, limit],
        )
    )


# --- policy --------------------------------------------------------------------------------


def _values(text: str | None) -> set[str]:
    return {v.strip() for v in (text or "").split(",") if v.strip()}


def list_policy(db: sqlite_utils.Database) -> list[dict[str, Any]]:
    return list(db.query("SELECT * FROM cap_policy ORDER BY position, id"))


def _clean_rule(position: int, rule: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"position": position}
    for column, allowed in (
        ("severity", SEVERITIES),
        ("urgency", URGENCIES),
        ("certainty", CERTAINTIES),
    ):
        raw = rule.get(column) or ""
        # a list (the API's, the form's) holds the values themselves; a text, comma-separated
        values = set(raw) if isinstance(raw, list) else _values(str(raw))
        unknown = values - set(allowed)
        if unknown:
            raise ApiError(
                422, "cap_policy_bad_value", field=f"rules.{position}.{column}", value=min(unknown)
            )
        out[column] = ",".join(v for v in allowed if v in values)
    event = str(rule.get("event") or "")
    if len(event) > MAX_EVENT_CHARS or not re.search(EVENT_PATTERN, event):
        raise ApiError(422, "invalid_request", field=f"rules.{position}.event")
    out["event"] = unicodedata.normalize("NFC", event).strip()
    action = rule.get("action")
    if action not in ACTIONS:
        raise ApiError(422, "cap_policy_bad_action", field=f"rules.{position}.action")
    out["action"] = action
    repeat = int(rule.get("repeat_min") or 0)
    if not 0 <= repeat <= MAX_REPEAT_MIN:
        raise ApiError(
            422, "cap_policy_bad_repeat", field=f"rules.{position}.repeat_min", limit=1440
        )
    out["repeat_min"] = repeat if action == "emergency" else 0
    return out


def save_policy(
    db: sqlite_utils.Database, who: Identity, rules: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """Replace the policy table with these rules, in this order (``cap.manage``; all checked
    before anything is written; audited ``cap_policy.save`` with before and after)."""
    authz.require(who, "cap.manage")
    if not rules:
        raise ApiError(422, "cap_policy_empty", field="rules")
    cleaned = [_clean_rule(i, r) for i, r in enumerate(rules, start=1)]
    now = to_wire_time(utcnow())
    with transaction(db):
        before = list_policy(db)
        db.execute("DELETE FROM cap_policy")
        table(db, "cap_policy").insert_all([r | {"updated_at": now} for r in cleaned])
        audit.record(
            db,
            who,
            "cap_policy.save",
            "cap_policy",
            "",
            before={"rules": before},
            after={"rules": cleaned},
        )
    return list_policy(db)


def rule_matches(rule: dict[str, Any], info: cap.Info) -> bool:
    for column, value in (
        ("severity", info.severity),
        ("urgency", info.urgency),
        ("certainty", info.certainty),
    ):
        allowed = _values(rule.get(column))
        if allowed and value not in allowed:
            return False
    event = (rule.get("event") or "").strip()
    return not event or event.casefold() == (info.event or "").strip().casefold()


def evaluate(rules: Iterable[dict[str, Any]], info: cap.Info) -> dict[str, Any] | None:
    """The first rule (in order) that matches the info; None when none does (log only)."""
    for rule in rules:
        if rule_matches(rule, info):
            return rule
    return None


# --- targeting -----------------------------------------------------------------------------


#: A zone's administrative code as the OpenAPI document says it (searched as JSON Schema does).
ADMIN_CODE_PATTERN = r"^[0-9A-Za-z._:-]*$"
MAX_ADMIN_CODE_CHARS = 32


def clean_admin_code(code: str | None) -> str | None:
    """A zone's administrative code as stored; "" means none. Checked as given (the page
    strips its form's field first)."""
    code = code or ""
    if len(code) > MAX_ADMIN_CODE_CHARS or not re.search(ADMIN_CODE_PATTERN, code):
        raise ApiError(422, "bad_admin_code", field="admin_code")
    return code.strip() or None


def set_admin_code(
    db: sqlite_utils.Database, who: Identity, zone_id: int, code: str | None
) -> dict[str, Any]:
    """Set a zone's mã đơn vị hành chính (``cap.manage``, in the official's area); "" clears it.
    Two zones cannot share a code (``admin_code_taken``, 409). Audited ``zone.admin_code``."""
    authz.require(who, "cap.manage")
    code = clean_admin_code(code)
    with transaction(db):
        rows = list(db.query("SELECT id, name, admin_code FROM zones WHERE id = ?", [zone_id]))
        if not rows or not authz.node_visible(db, who, zone_id):
            raise ApiError(404, "zone_not_found", zone_ids=str(zone_id))
        if code is not None and list(
            db.query("SELECT 1 FROM zones WHERE admin_code = ? AND id != ?", [code, zone_id])
        ):
            raise ApiError(409, "admin_code_taken", field="admin_code", value=code)
        table(db, "zones").update(zone_id, {"admin_code": code})
        audit.record(
            db,
            who,
            "zone.admin_code",
            "zone",
            zone_id,
            before={"admin_code": rows[0]["admin_code"]},
            after={"admin_code": code},
        )
    return {"id": zone_id, "name": rows[0]["name"], "admin_code": code}


def zone_codes(db: sqlite_utils.Database) -> dict[int, str | None]:
    return {r["id"]: r["admin_code"] for r in db.query("SELECT id, admin_code FROM zones")}


def _zones_under_codes(db: sqlite_utils.Database, codes: set[str]) -> set[int]:
    """The zones whose code is among ``codes``, and every zone beneath them."""
    if not codes:
        return set()
    marks = ",".join("?" * len(codes))
    rows = db.query(
        f"""
        WITH RECURSIVE sub(id) AS (
          SELECT id FROM zones WHERE admin_code IN ({marks})
          UNION SELECT z.id FROM zones z JOIN sub ON z.parent_id = sub.id
        ) SELECT id FROM sub
        """,
        sorted(codes),
    )
    return {r["id"] for r in rows}


def target_nodes(db: sqlite_utils.Database, info: cap.Info) -> tuple[list[str], list[int]]:
    """The clusters an info's area reaches (ids, in order) and their zones: a cluster whose
    position lies in a polygon or circle of the info, or whose zone lies under a zone whose
    administrative code is one of the info's geocodes. Revoked clusters are never reached."""
    in_service = {r["id"] for r in fleet.nodes_in_service(db)}
    zone_of = fleet.zones_of_nodes(db)
    reached = {
        node_id
        for node_id, (lat, lon) in fleet.node_positions(db).items()
        if node_id in in_service and info.contains(lat, lon)
    }
    coded = _zones_under_codes(db, {str(v) for v in info.geocode_values()})
    reached |= {n for n in in_service if zone_of.get(n) in coded}
    nodes = sorted(reached)
    return nodes, sorted({zone_of[n] for n in nodes})


def narrowed(
    db: sqlite_utils.Database, node_ids: list[str], zone_ids: list[int]
) -> list[str] | None:
    """The nodes a broadcast to ``zone_ids`` must be narrowed to, or None when they are every
    node of those zones (a geocode's zones, a polygon over whole villages): then the broadcast
    targets the zones whole and an emergency goes out as one zone command per zone."""
    return None if set(zones.nodes_under(db, zone_ids)) == set(node_ids) else node_ids


# --- the received-alerts log ---------------------------------------------------------------


def claim_alert(
    db: sqlite_utils.Database,
    source_id: int,
    alert: cap.Alert,
    info: cap.Info | None,
) -> int | None:
    """Write the alert's row (outcome ``received``) unless its sender and identifier were
    received before: then None (a repeated identifier is ignored)."""
    row = {
        "source_id": source_id,
        "sender": alert.sender,
        "identifier": alert.identifier,
        "sent": _wire(alert.sent),
        "status": alert.status,
        "msg_type": alert.msg_type,
        "refs": json.dumps(
            [[r.sender, r.identifier, _wire(r.sent)] for r in alert.references],
            ensure_ascii=False,
        ),
        "language": info.language if info else None,
        "event": info.event if info else None,
        "severity": info.severity if info else None,
        "urgency": info.urgency if info else None,
        "certainty": info.certainty if info else None,
        "headline": info.headline if info else None,
        "expires": _wire(info.expires) if info and info.expires else None,
        "signed": int(bool(alert.signed)),
        "outcome": "received",
        "received_at": to_wire_time(utcnow()),
    }
    with transaction(db):
        seen = list(
            db.query(
                "SELECT 1 FROM cap_alerts WHERE sender = ? AND identifier = ?",
                [alert.sender, alert.identifier],
            )
        )
        if seen:
            return None
        return insert(db, "cap_alerts", row)


def _wire(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return to_wire_time(value)
    return str(value)


def finish_alert(
    db: sqlite_utils.Database,
    who: Identity,
    alert_id: int,
    outcome: str,
    detail: str = "",
    **changes: Any,
) -> None:
    """Record what the alert made, with its audit entry ``cap.receive``."""
    if outcome not in OUTCOMES:
        raise ValueError(outcome)
    values = {"outcome": outcome, "detail": detail[:1000] or None, **changes}
    for key in ("node_ids", "zone_ids"):
        if isinstance(values.get(key), list):
            values[key] = json.dumps(values[key])
    with transaction(db):
        table(db, "cap_alerts").update(alert_id, values)
        row = get_alert(db, alert_id) or {}
        audit.record(
            db,
            who,
            "cap.receive",
            "cap_alert",
            alert_id,
            after={
                k: row.get(k)
                for k in (
                    "source_id",
                    "sender",
                    "identifier",
                    "msg_type",
                    "status",
                    "event",
                    "outcome",
                    "detail",
                    "broadcast_id",
                    "announcement_id",
                )
            },
        )


def get_alert(db: sqlite_utils.Database, alert_id: int) -> dict[str, Any] | None:
    rows = list(db.query("SELECT * FROM cap_alerts WHERE id = ?", [alert_id]))
    return rows[0] if rows else None


def referenced(db: sqlite_utils.Database, alert: cap.Alert) -> list[dict[str, Any]]:
    """The received alerts this one's ``references`` name (by sender and identifier)."""
    found = []
    for ref in alert.references:
        rows = list(
            db.query(
                "SELECT a.*, b.status AS broadcast_status FROM cap_alerts a "
                "LEFT JOIN broadcasts b ON b.id = a.broadcast_id "
                "WHERE a.sender = ? AND a.identifier = ?",
                [ref.sender, ref.identifier],
            )
        )
        found.extend(rows)
    return found


def json_list(text: str | None) -> list[Any]:
    return list(json.loads(text)) if text else []


def set_targets(
    db: sqlite_utils.Database, alert_id: int, node_ids: list[str], zone_ids: list[int]
) -> None:
    """The clusters (and their zones) the alert's area reaches."""
    table(db, "cap_alerts").update(
        alert_id, {"node_ids": json.dumps(node_ids), "zone_ids": json.dumps(zone_ids)}
    )


def set_policy(db: sqlite_utils.Database, alert_id: int, policy_id: int | None) -> None:
    table(db, "cap_alerts").update(alert_id, {"policy_id": policy_id})


def set_emergency(
    db: sqlite_utils.Database,
    alert_id: int,
    *,
    policy_id: int | None,
    repeat_min: int,
    next_repeat_at: str | None,
    announcement_id: int | None,
) -> None:
    """An emergency sounded: its rule, its repeat interval and when it sounds next."""
    table(db, "cap_alerts").update(
        alert_id,
        {
            "policy_id": policy_id,
            "repeat_min": repeat_min,
            "next_repeat_at": next_repeat_at,
            "announcement_id": announcement_id,
        },
    )
    if announcement_id is not None:
        link_announcement(db, announcement_id, alert_id)


def link_announcement(db: sqlite_utils.Database, announcement_id: int, alert_id: int) -> None:
    """The announcement points to the alert it was written from."""
    table(db, "announcements").update(announcement_id, {"cap_alert_id": alert_id})


def repeated(
    db: sqlite_utils.Database,
    who: Identity,
    alert_id: int,
    *,
    broadcast_id: int,
    next_repeat_at: str | None,
) -> None:
    """An emergency sounded again: its new broadcast and the next time (None: no more)."""
    with transaction(db):
        table(db, "cap_alerts").update(
            alert_id, {"broadcast_id": broadcast_id, "next_repeat_at": next_repeat_at}
        )
        audit.record(
            db,
            who,
            "cap.repeat",
            "cap_alert",
            alert_id,
            after={"broadcast_id": broadcast_id, "next_repeat_at": next_repeat_at},
        )


def mark_ended(
    db: sqlite_utils.Database, who: Identity, alert_id: int, reason: str, by_alert: int | None
) -> None:
    """What an alert made has been stopped (cancelled, updated, expired): no more repeats."""
    with transaction(db):
        table(db, "cap_alerts").update(
            alert_id,
            {"ended_at": to_wire_time(utcnow()), "end_reason": reason, "next_repeat_at": None},
        )
        audit.record(
            db,
            who,
            "cap.end",
            "cap_alert",
            alert_id,
            after={"reason": reason, "by_alert": by_alert},
        )


def repeats_due(db: sqlite_utils.Database, now: datetime) -> list[dict[str, Any]]:
    """Emergencies whose next repeat is due (or whose alert has expired since)."""
    return list(
        db.query(
            "SELECT * FROM cap_alerts WHERE next_repeat_at IS NOT NULL AND ended_at IS NULL "
            "AND next_repeat_at <= ? ORDER BY next_repeat_at",
            [to_wire_time(now)],
        )
    )


def list_alerts(db: sqlite_utils.Database, limit: int = 100) -> list[dict[str, Any]]:
    """Received alerts, newest first, with their source's name and who approved what each
    made (the announcement's reviewer; an emergency is approved by its source or official)."""
    rows = list(
        db.query(
            """
            SELECT a.*, s.name AS source_name, an.status AS announcement_status,
                   an.reviewed_by AS reviewed_by, an.author AS author, u.display_name AS
                   reviewer_name, b.status AS broadcast_status
              FROM cap_alerts a
              LEFT JOIN cap_sources s ON s.id = a.source_id
              LEFT JOIN announcements an ON an.id = a.announcement_id
              LEFT JOIN users u ON u.id = an.reviewed_by
              LEFT JOIN broadcasts b ON b.id = a.broadcast_id
             ORDER BY a.id DESC LIMIT ?
            """,
            [limit],
        )
    )
    for row in rows:
        row["node_ids"] = json.loads(row["node_ids"]) if row.get("node_ids") else []
        row["zone_ids"] = json.loads(row["zone_ids"]) if row.get("zone_ids") else []
        row["refs"] = json.loads(row["refs"]) if row.get("refs") else []
        # an emergency is approved as it is made, by the source (or the official it acts as);
        # a pending announcement by whoever approves it
        author = row.get("author") or ""
        source_itself = author.removeprefix("token:") if author.startswith("token:") else None
        row["approved_by"] = row.get("reviewer_name") or (
            source_itself if row["outcome"] == "emergency" else None
        )
    return rows


# --- the words spoken ----------------------------------------------------------------------


def _speakable(text: str | None) -> str:
    """An alert's words as an announcement stores them: NFC, no control characters or
    direction overrides, runs of spaces and blank lines collapsed."""
    text = unicodedata.normalize("NFC", text or "")
    kept = []
    for ch in text:
        if ch in "\n\t":
            kept.append(" " if ch == "\t" else ch)
        elif ch == "\r" or unicodedata.category(ch) in ("Cc", "Cf"):
            continue
        else:
            kept.append(ch)
    lines = [re.sub(r"\s+", " ", line).strip() for line in "".join(kept).split("\n")]
    return "\n".join(line for line in lines if line)


def _sentence(text: str) -> str:
    text = text.strip()
    return text if not text or text[-1] in ".!?…:;" else text + "."


def words_of(info: cap.Info, max_chars: int) -> tuple[str, str]:
    """(title, text) of an info: the headline (else the event) as title; the text is the
    headline, the description and the instruction, each a sentence, cut at a sentence within
    ``max_chars``."""
    headline = _speakable(info.headline)
    title = (headline or _speakable(info.event) or "Cảnh báo").replace("\n", " ")[:200]
    parts = [_sentence(p) for p in (headline, _speakable(info.description)) if p]
    instruction = _speakable(info.instruction)
    if instruction:
        parts.append(_sentence(instruction))
    text = "\n".join(parts) or _sentence(title)
    if len(text) > max_chars:
        cut = text[:max_chars]
        end = max(cut.rfind(". "), cut.rfind(".\n"), cut.rfind("\n"))
        text = cut[: end + 1] if end > max_chars // 2 else cut
        text = text.strip()
    return title, text
