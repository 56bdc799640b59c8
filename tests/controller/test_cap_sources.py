"""CAP alerts in (controller/domain/cap_sources.py, controller/services/cap_feeds.py,
controller/api/cap.py): push with a source's token, refusals, the policy, update and cancel,
repeated identifiers, expired and test alerts, polygon and geocode targeting, on real SQLite;
and a feed polled from a real HTTP server on 127.0.0.1 with ETags."""

from __future__ import annotations

import http.server
import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from fastapi.testclient import TestClient

from controller.domain import cap, cap_sources, fleet
from controller.domain.cap import Area, Info, Reference
from controller.domain.seed import SeededCommune
from controller.services import cap_feeds
from controller.services.cap_feeds import CapFeeds
from tests.controller.conftest import TOKEN, People
from tests.controller.test_web import _signed_in

SENDER = "canhbao@kttvttb.vn"
#: A polygon over the coast of Hội An (lat,lon): Lạc Xuân and Lạc Bình inside, Đồng Thạnh not.
COAST = ((15.80, 108.25), (15.80, 108.45), (16.00, 108.45), (16.00, 108.25), (15.80, 108.25))
POSITIONS = {
    "lac-xuan-1": (15.88, 108.33),
    "lac-binh-1": (15.93, 108.40),
    "dong-thanh-1": (16.20, 108.05),
}
XML = {"Content-Type": "application/cap+xml"}


def info(
    *,
    severity: str = "Extreme",
    urgency: str = "Immediate",
    certainty: str = "Observed",
    event: str = "Bão",
    expires: datetime | None = None,
    polygons: tuple[Any, ...] = (COAST,),
    geocodes: tuple[tuple[str, str], ...] = (),
    language: str = "vi-VN",
    headline: str = "Bão số 6 đổ bộ vùng ven biển Hội An",
) -> Info:
    return Info(
        language=language,
        categories=("Met",),
        event=event,
        urgency=urgency,
        severity=severity,
        certainty=certainty,
        headline=headline,
        description="Gió mạnh cấp 12, giật cấp 14; nước dâng 2 mét.",
        instruction="Người dân ven biển di chuyển đến nơi trú ẩn an toàn ngay",
        expires=expires or datetime.now(UTC) + timedelta(hours=6),
        areas=(Area("Ven biển Hội An", polygons=polygons, geocodes=geocodes),),
    )


def document(
    identifier: str,
    *infos: Info,
    status: str = "Actual",
    msg_type: str = "Alert",
    references: tuple[Reference, ...] = (),
    sender: str = SENDER,
) -> bytes:
    return cap.write(
        identifier=identifier,
        sender=sender,
        sent=datetime.now(UTC).replace(microsecond=0),
        status=status,
        msg_type=msg_type,
        references=references,
        infos=infos or (info(),),
    )


def ref(identifier: str) -> Reference:
    return Reference(SENDER, identifier, datetime.now(UTC).replace(microsecond=0))


@pytest.fixture
def placed(client: TestClient, commune: SeededCommune) -> TestClient:
    db = client.app.state.runtime.store.db  # type: ignore[attr-defined]
    for node_id, (lat, lon) in POSITIONS.items():
        db.execute("UPDATE nodes SET lat = ?, lon = ? WHERE id = ?", [lat, lon, node_id])
    return client


def _db(client: TestClient) -> Any:
    return client.app.state.runtime.store.db  # type: ignore[attr-defined]


def push_source(client: TestClient, **fields: Any) -> tuple[int, dict[str, str]]:
    made = client.post("/api/v1/cap/sources", json={"name": "Đài KTTV", "kind": "push", **fields})
    assert made.status_code == 201, made.text
    body = made.json()
    assert "cert_pem" not in body and "token_id" not in body
    return body["id"], {"Authorization": f"Bearer {body['token']}", **XML}


def push(client: TestClient, headers: dict[str, str], data: bytes) -> Any:
    return client.post("/api/v1/cap", content=data, headers=headers)


def dispatched_nodes(client: TestClient, broadcast_id: int) -> set[str]:
    rows = _db(client).query(
        "SELECT node_id FROM dispatches WHERE broadcast_id = ?", [broadcast_id]
    )
    return {r["node_id"] for r in rows}


def alert_rows(client: TestClient) -> list[dict[str, Any]]:
    return list(_db(client).query("SELECT * FROM cap_alerts ORDER BY id"))


def audit_actions(client: TestClient) -> list[str]:
    return [r["action"] for r in _db(client).query("SELECT action FROM audit_log ORDER BY id")]


def test_pushed_typhoon_sounds_on_the_clusters_inside_the_polygon_only(placed: TestClient) -> None:
    source_id, headers = push_source(placed)
    answer = push(placed, headers, document("BAO06-001"))
    assert answer.status_code == 200, answer.text
    made = answer.json()
    assert made["outcome"] == "emergency" and made["node_count"] == 2, made
    assert dispatched_nodes(placed, made["broadcast_id"]) == {"lac-xuan-1", "lac-binh-1"}
    narrowed = "SELECT node_ids FROM broadcasts WHERE id = ?"
    assert _db(placed).execute(narrowed, [made["broadcast_id"]]).fetchone()[0] is None
    broadcast = placed.get(f"/api/v1/broadcasts/{made['broadcast_id']}").json()
    assert broadcast["priority"] == "emergency" and broadcast["status"] == "active"
    row = alert_rows(placed)[0]
    assert (row["source_id"], row["outcome"], row["identifier"]) == (
        source_id,
        "emergency",
        "BAO06-001",
    )
    assert json.loads(row["node_ids"]) == ["lac-binh-1", "lac-xuan-1"]
    assert row["repeat_min"] == 30 and row["next_repeat_at"] is not None
    ann = (
        _db(placed)
        .execute(
            "SELECT title, text, cap_alert_id, author FROM announcements WHERE id = ?",
            [made["announcement_id"]],
        )
        .fetchone()
    )
    assert ann[0] == "Bão số 6 đổ bộ vùng ven biển Hội An"
    assert "Gió mạnh cấp 12" in ann[1] and ann[1].endswith("an toàn ngay.")
    assert ann[2] == row["id"] and ann[3] == "token:cap:Đài KTTV"
    assert {"cap_source.create", "broadcast.emergency", "cap.receive"} <= set(audit_actions(placed))
    # the list shows it with its source and what it made
    listed = placed.get("/api/v1/cap/alerts").json()[0]
    assert listed["source_name"] == "Đài KTTV" and listed["outcome"] == "emergency"
    assert listed["approved_by"] == "cap:Đài KTTV"  # sounded at once by the source itself
    # the same identifier again: ignored, nothing new written
    again = push(placed, headers, document("BAO06-001"))
    assert again.status_code == 200 and again.json()["outcome"] == "repeat"
    assert len(alert_rows(placed)) == 1
    assert _db(placed).execute("SELECT COUNT(*) FROM broadcasts").fetchone()[0] == 1


def test_the_push_token_pushes_and_does_nothing_else(placed: TestClient) -> None:
    _source_id, headers = push_source(placed)
    auth = {"Authorization": headers["Authorization"]}
    written = placed.post("/api/v1/announcements", json={"title": "t", "text": "x"}, headers=auth)
    assert written.status_code == 403
    assert placed.put("/api/v1/cap/policy", json={"rules": []}, headers=auth).status_code == 403
    assert placed.get("/api/v1/cap/sources", headers=auth).status_code == 403
    # an official's token that is no source's: admin names the source, others may not push
    listed = placed.get("/api/v1/cap/sources").json()
    assert push(placed, {**XML}, document("X-1")).status_code == 404  # admin, no source named
    named = placed.post(
        f"/api/v1/cap?source_id={listed[0]['id']}", content=document("X-1"), headers=XML
    )
    assert named.status_code == 200, named.text


def test_update_replaces_and_cancel_stops(placed: TestClient) -> None:
    _source_id, headers = push_source(placed)
    first = push(placed, headers, document("BAO06-001")).json()
    update = push(
        placed,
        headers,
        document(
            "BAO06-002",
            info(headline="Bão số 6 mạnh lên cấp 13"),
            msg_type="Update",
            references=(ref("BAO06-001"),),
        ),
    ).json()
    assert update["outcome"] == "emergency" and update["stopped"] == [first["alert_id"]]
    old = placed.get(f"/api/v1/broadcasts/{first['broadcast_id']}").json()
    assert old["status"] == "cancelled"
    reason = (
        _db(placed)
        .execute("SELECT after FROM audit_log WHERE action = 'broadcast.cancel' ORDER BY id DESC")
        .fetchone()[0]
    )
    assert "CAP Update BAO06-002" in reason
    cancel = push(
        placed,
        headers,
        document("BAO06-003", msg_type="Cancel", references=(ref("BAO06-002"),)),
    ).json()
    assert cancel["outcome"] == "cancelled" and cancel["stopped"] == [update["alert_id"]]
    newer = placed.get(f"/api/v1/broadcasts/{update['broadcast_id']}").json()
    assert newer["status"] == "cancelled"
    rows = {r["identifier"]: r for r in alert_rows(placed)}
    assert rows["BAO06-001"]["ended_at"] and rows["BAO06-002"]["ended_at"]
    assert rows["BAO06-002"]["next_repeat_at"] is None  # no more repeats
    # nothing repeats after the cancel
    runtime = placed.app.state.runtime  # type: ignore[attr-defined]
    assert cap_feeds.repeat_due(runtime, datetime.now(UTC) + timedelta(hours=1)) == 0
    # a cancel naming nothing we received is only logged
    stray = push(
        placed, headers, document("BAO06-009", msg_type="Cancel", references=(ref("NONE"),))
    )
    assert stray.json()["outcome"] == "logged"


def test_policy_pending_announcement_log_only_test_and_expired(
    placed: TestClient, people: People
) -> None:
    _source_id, headers = push_source(placed)
    moderate = push(
        placed, headers, document("LU-1", info(severity="Moderate", urgency="Expected"))
    ).json()
    assert moderate["outcome"] == "announcement" and moderate["broadcast_id"] is None
    ann = placed.get(f"/api/v1/announcements/{moderate['announcement_id']}").json()
    assert ann["status"] == "pending" and ann["category"] == "thien_tai"
    assert ann["text"].startswith("Bão số 6 đổ bộ vùng ven biển Hội An.\nGió mạnh")
    assert "di chuyển đến nơi trú ẩn" in ann["text"]
    minor = push(placed, headers, document("LU-2", info(severity="Minor"))).json()
    assert minor["outcome"] == "logged" and minor["announcement_id"] is None
    test = push(placed, headers, document("TEST-1", status="Test")).json()
    assert test["outcome"] == "test" and test["broadcast_id"] is None
    exercise = push(placed, headers, document("EX-1", status="Exercise")).json()
    assert exercise["outcome"] == "test"
    expired = push(
        placed,
        headers,
        document("OLD-1", info(expires=datetime.now(UTC) - timedelta(minutes=1))),
    ).json()
    assert expired["outcome"] == "expired"
    assert _db(placed).execute("SELECT COUNT(*) FROM broadcasts").fetchone()[0] == 0
    # an Update of the pending one withdraws it from the approval queue
    update = push(
        placed,
        headers,
        document(
            "LU-3",
            info(severity="Moderate", urgency="Expected", headline="Lũ lên nhanh"),
            msg_type="Update",
            references=(ref("LU-1"),),
        ),
    ).json()
    assert update["outcome"] == "announcement" and update["stopped"]
    withdrawn = placed.get(f"/api/v1/announcements/{moderate['announcement_id']}").json()
    assert withdrawn["status"] == "archived"
    # an approver approves the new one; the list says who approved what each alert made
    listed = {a["identifier"]: a for a in placed.get("/api/v1/cap/alerts").json()}
    assert listed["LU-3"]["approved_by"] is None  # waiting
    approved = placed.post(
        f"/api/v1/announcements/{update['announcement_id']}/approve",
        headers=people.headers("approver"),
    )
    assert approved.status_code == 200, approved.text
    listed = {a["identifier"]: a for a in placed.get("/api/v1/cap/alerts").json()}
    assert listed["LU-3"]["approved_by"] == "approver"
    # an area with no cluster inside
    far = ((10.0, 106.0), (10.0, 106.1), (10.1, 106.1), (10.0, 106.0))
    outside = push(placed, headers, document("FAR-1", info(polygons=(far,)))).json()
    assert outside["outcome"] == "outside_area"
    outcomes = {r["identifier"]: r["outcome"] for r in alert_rows(placed)}
    assert outcomes["TEST-1"] == "test" and outcomes["FAR-1"] == "outside_area"


def test_vietnamese_info_is_chosen_else_the_first(placed: TestClient) -> None:
    _source_id, headers = push_source(placed)
    english = info(language="en-US", headline="Typhoon", severity="Minor")
    vietnamese = info(language="vi-VN", headline="Bão khẩn cấp")
    made = push(placed, headers, document("LANG-1", english, vietnamese)).json()
    assert made["outcome"] == "emergency"
    row = alert_rows(placed)[0]
    assert row["language"] == "vi-VN" and row["headline"] == "Bão khẩn cấp"


def test_geocodes_reach_a_zone_and_the_zones_below_it(
    placed: TestClient, commune: SeededCommune
) -> None:
    _source_id, headers = push_source(placed)
    village = commune.nodes[2].zone_id  # Đồng Thạnh, outside the coastal polygon
    assert (
        placed.put(f"/api/v1/cap/zones/{village}", json={"admin_code": "20335"}).json()[
            "admin_code"
        ]
        == "20335"
    )
    taken = placed.put(f"/api/v1/cap/zones/{commune.commune_id}", json={"admin_code": "20335"})
    assert taken.status_code == 409 and taken.json()["error"]["code"] == "admin_code_taken"
    bad = placed.put(f"/api/v1/cap/zones/{commune.commune_id}", json={"admin_code": "a b"})
    assert bad.status_code == 422 and bad.json()["error"]["code"] == "bad_admin_code"
    flood = info(event="Lũ", polygons=(), geocodes=(("MA_XA", "20335"),))
    made = push(placed, headers, document("LU-XA", flood)).json()
    assert made["outcome"] == "emergency", made
    assert dispatched_nodes(placed, made["broadcast_id"]) == {"dong-thanh-1"}
    # the commune's code reaches the commune and every village beneath it
    assert (
        placed.put(
            f"/api/v1/cap/zones/{commune.commune_id}", json={"admin_code": "503"}
        ).status_code
        == 200
    )
    whole = info(event="Lũ", polygons=(), geocodes=(("MA_XA", "503"),))
    made = push(placed, headers, document("LU-TINH", whole)).json()
    assert dispatched_nodes(placed, made["broadcast_id"]) == set(POSITIONS)
    # whole zones: the broadcast targets them whole (one zone command each), not narrowed
    narrowed = "SELECT node_ids FROM broadcasts WHERE id = ?"
    assert _db(placed).execute(narrowed, [made["broadcast_id"]]).fetchone()[0] is None
    # polygon and geocode together: the union, each cluster once
    both = info(geocodes=(("MA_XA", "20335"),))
    made = push(placed, headers, document("BOTH", both)).json()
    assert made["node_count"] == 3
    assert "zone.admin_code" in audit_actions(placed)


def _cert() -> tuple[str, str]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Đài KTTV")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=30))
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    return key_pem, cert.public_bytes(serialization.Encoding.PEM).decode()


def test_refused_input_keeps_its_reason_and_writes_nothing_else(placed: TestClient) -> None:
    key, cert = _cert()
    _other_key, other_cert = _cert()
    source_id, headers = push_source(placed, signed_only=True, cert_pem=cert)
    unsigned = push(placed, headers, document("S-1"))
    assert unsigned.status_code == 422
    assert unsigned.json()["error"]["code"] == "cap_signature_missing"
    # signed by another key
    wrong = placed.put(
        f"/api/v1/cap/sources/{source_id}",
        json={"name": "Đài KTTV", "kind": "push", "signed_only": True, "cert_pem": other_cert},
    )
    assert wrong.status_code == 200, wrong.text
    signed = cap.sign(document("S-2"), key, cert)
    assert push(placed, headers, signed).json()["error"]["code"] == "cap_signature_invalid"
    # tampered after signing
    placed.put(
        f"/api/v1/cap/sources/{source_id}",
        json={"name": "Đài KTTV", "kind": "push", "signed_only": True, "cert_pem": cert},
    )
    tampered = signed.replace(b"Gi\xc3\xb3 m\xe1\xba\xa1nh", b"Gi\xc3\xb3 nh\xe1\xba\xb9")
    assert tampered != signed
    assert push(placed, headers, tampered).json()["error"]["code"] == "cap_signature_invalid"
    malformed = push(placed, headers, b"<alert><identifier>x</identifier>")
    assert malformed.json()["error"]["code"] == "cap_malformed"
    xxe = (
        b'<?xml version="1.0"?><!DOCTYPE alert [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
        b'<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2"><identifier>&x;</identifier>'
        b"</alert>"
    )
    assert push(placed, headers, xxe).json()["error"]["code"] == "cap_entities"
    invalid = document("S-3").replace(b"<urgency>Immediate</urgency>", b"<urgency>Soon</urgency>")
    assert push(placed, headers, invalid).json()["error"]["code"] == "cap_schema"
    huge = push(placed, headers, b"<alert>" + b" " * (cap.MAX_BYTES + 10) + b"</alert>")
    assert huge.status_code == 413 and huge.json()["error"]["code"] == "cap_too_large"
    text = push(placed, {**headers, "Content-Type": "text/plain"}, document("S-4"))
    assert text.status_code == 415 and text.json()["error"]["code"] == "cap_content_type"
    assert alert_rows(placed) == []  # nothing but the refusals was written
    page = placed.get(f"/api/v1/cap/sources/{source_id}").json()
    codes = [r["code"] for r in page["refusals"]]
    assert codes == [
        "cap_too_large",
        "cap_schema",
        "cap_entities",
        "cap_malformed",
        "cap_signature_invalid",
        "cap_signature_invalid",
        "cap_signature_missing",
    ]
    assert all(r["reason"] for r in page["refusals"])
    assert audit_actions(placed).count("cap.refuse") == 7
    # correctly signed: taken
    good = push(placed, headers, signed)
    assert good.status_code == 200 and good.json()["outcome"] == "emergency", good.text
    assert alert_rows(placed)[0]["signed"] == 1


def test_sources_are_checked_and_admin_only(placed: TestClient) -> None:
    bad = placed.post("/api/v1/cap/sources", json={"name": "Tỉnh", "url": "ftp://x"})
    assert bad.status_code == 422 and bad.json()["error"]["code"] == "cap_source_bad_url"
    cert = placed.post(
        "/api/v1/cap/sources",
        json={"name": "Tỉnh", "url": "http://127.0.0.1/x", "signed_only": True},
    )
    assert cert.json()["error"]["code"] == "cap_source_cert_required"
    made = placed.post(
        "/api/v1/cap/sources", json={"name": "Tỉnh", "url": "http://127.0.0.1/feed.atom"}
    )
    assert made.status_code == 201 and "token" not in made.json()
    assert placed.get("/api/v1/cap/sources").json()[0]["interval_s"] == 60
    assert placed.delete(f"/api/v1/cap/sources/{made.json()['id']}").status_code == 204
    assert placed.get("/api/v1/cap/sources").json() == []


def test_policy_table_is_edited_in_order_and_checked(placed: TestClient) -> None:
    defaults = placed.get("/api/v1/cap/policy").json()
    assert [r["action"] for r in defaults] == ["emergency", "announcement", "log"]
    assert defaults[0]["severity"] == ["Extreme", "Severe"] and defaults[0]["repeat_min"] == 30
    bad = placed.put(
        "/api/v1/cap/policy", json={"rules": [{"severity": ["Huge"], "action": "log"}]}
    )
    assert bad.status_code == 422 and bad.json()["error"]["code"] == "cap_policy_bad_value"
    assert placed.get("/api/v1/cap/policy").json() == defaults  # nothing written
    saved = placed.put(
        "/api/v1/cap/policy",
        json={
            "rules": [
                {"event": "Động đất", "action": "log"},
                {"severity": ["Extreme"], "action": "emergency", "repeat_min": 10},
                {"action": "announcement"},
            ]
        },
    )
    assert saved.status_code == 200, saved.text
    _source_id, headers = push_source(placed)
    quake = push(placed, headers, document("DD-1", info(event="động đất"))).json()
    assert quake["outcome"] == "logged"  # the event's row comes first
    storm = push(placed, headers, document("BAO-1")).json()
    assert storm["outcome"] == "emergency"
    assert alert_rows(placed)[-1]["repeat_min"] == 10
    assert "cap_policy.save" in audit_actions(placed)


def test_an_emergency_repeats_until_it_expires(placed: TestClient) -> None:
    _source_id, headers = push_source(placed)
    expires = datetime.now(UTC) + timedelta(minutes=70)
    made = push(placed, headers, document("BAO-R", info(expires=expires))).json()
    runtime = placed.app.state.runtime  # type: ignore[attr-defined]
    now = datetime.now(UTC)
    assert cap_feeds.repeat_due(runtime, now) == 0  # not yet
    assert cap_feeds.repeat_due(runtime, now + timedelta(minutes=31)) == 1
    row = alert_rows(placed)[0]
    assert row["broadcast_id"] != made["broadcast_id"]
    assert dispatched_nodes(placed, row["broadcast_id"]) == {"lac-xuan-1", "lac-binh-1"}
    assert cap_feeds.repeat_due(runtime, now + timedelta(minutes=61)) == 1
    assert alert_rows(placed)[0]["next_repeat_at"] is None  # the next would be past expires
    assert cap_feeds.repeat_due(runtime, now + timedelta(minutes=95)) == 0
    assert "cap.repeat" in audit_actions(placed)


# --- a feed polled from a real HTTP server --------------------------------------------------


class FeedServer:
    """An Atom index and its CAP documents on 127.0.0.1, with ETags (304 when unchanged)."""

    def __init__(self) -> None:
        self.files: dict[str, tuple[str, bytes]] = {}
        self.hits: list[tuple[str, int]] = []
        self.fail = False
        owner = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if owner.fail:
                    owner.hits.append((self.path, 500))
                    self.send_error(500)
                    return
                found = owner.files.get(self.path)
                if found is None:
                    owner.hits.append((self.path, 404))
                    self.send_error(404)
                    return
                etag = f'"{abs(hash(found[1]))}"'
                if self.headers.get("If-None-Match") == etag:
                    owner.hits.append((self.path, 304))
                    self.send_response(304)
                    self.end_headers()
                    return
                owner.hits.append((self.path, 200))
                self.send_response(200)
                self.send_header("Content-Type", found[0])
                self.send_header("ETag", etag)
                self.send_header("Content-Length", str(len(found[1])))
                self.end_headers()
                self.wfile.write(found[1])

            def log_message(self, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def index(self, names: list[str]) -> None:
        entries = "".join(
            f"<entry><id>urn:{n}</id><title>{n}</title><updated>2026-12-05T00:00:00Z</updated>"
            f'<link rel="alternate" type="application/cap+xml" href="/cap/{n}.xml"/></entry>'
            for n in names
        )
        self.files["/feed.atom"] = (
            "application/atom+xml",
            (
                '<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom">'
                "<id>urn:kttv</id><title>KTTV</title><updated>2026-12-05T00:00:00Z</updated>"
                f"{entries}</feed>"
            ).encode(),
        )


@pytest.fixture
def feed_server() -> Iterator[FeedServer]:
    server = FeedServer()
    yield server
    server.server.shutdown()
    server.server.server_close()


def test_a_feed_is_polled_with_etags_and_its_state_kept(
    placed: TestClient, feed_server: FeedServer
) -> None:
    runtime = placed.app.state.runtime  # type: ignore[attr-defined]
    feed_server.files["/cap/BAO-F1.xml"] = ("application/cap+xml", document("BAO-F1"))
    feed_server.files["/cap/BAD.xml"] = ("application/cap+xml", b"<alert>")
    feed_server.index(["BAO-F1", "BAD"])
    made = placed.post(
        "/api/v1/cap/sources",
        json={"name": "Đài tỉnh", "url": f"{feed_server.url}/feed.atom", "interval_s": 30},
    ).json()
    feeds = CapFeeds(runtime)
    start = datetime.now(UTC)
    feeds.run_once(start)
    rows = alert_rows(placed)
    assert [(r["identifier"], r["outcome"]) for r in rows] == [("BAO-F1", "emergency")]
    source = placed.get(f"/api/v1/cap/sources/{made['id']}").json()
    assert source["last_ok_at"] and source["last_error"] is None and source["etag"]
    assert [r["code"] for r in source["refusals"]] == ["cap_malformed"]
    assert source["refusals"][0]["url"].endswith("/cap/BAD.xml")
    # not due yet: nothing fetched
    count = len(feed_server.hits)
    feeds.run_once(start + timedelta(seconds=5))
    assert len(feed_server.hits) == count
    # due: the unchanged index answers 304, nothing fetched again
    feeds.run_once(start + timedelta(seconds=120))
    assert feed_server.hits[count:] == [("/feed.atom", 304)]
    # a new document in the index: only it is fetched (the known one is 304 by its ETag)
    feed_server.files["/cap/BAO-F2.xml"] = (
        "application/cap+xml",
        document("BAO-F2", msg_type="Cancel", references=(ref("BAO-F1"),)),
    )
    feed_server.index(["BAO-F2", "BAO-F1", "BAD"])
    count = len(feed_server.hits)
    feeds.run_once(start + timedelta(seconds=240))
    assert ("/cap/BAO-F2.xml", 200) in feed_server.hits[count:]
    assert ("/cap/BAO-F1.xml", 304) in feed_server.hits[count:]
    outcomes = {r["identifier"]: r["outcome"] for r in alert_rows(placed)}
    assert outcomes == {"BAO-F1": "emergency", "BAO-F2": "cancelled"}
    # the server fails: the error is kept, the last OK stays
    feed_server.fail = True
    feeds.run_once(start + timedelta(seconds=360))
    source = placed.get(f"/api/v1/cap/sources/{made['id']}").json()
    assert "500" in source["last_error"] and source["last_ok_at"]
    assert source["last_checked_at"] >= source["last_ok_at"]


def test_a_single_cap_url_is_a_feed_too(placed: TestClient, feed_server: FeedServer) -> None:
    runtime = placed.app.state.runtime  # type: ignore[attr-defined]
    feed_server.files["/now.xml"] = ("application/cap+xml", document("ONE-1"))
    made = placed.post(
        "/api/v1/cap/sources", json={"name": "Một bản tin", "url": f"{feed_server.url}/now.xml"}
    ).json()
    source = cap_sources.must_get_source(_db(placed), made["id"])
    results = CapFeeds(runtime).poll(source)
    assert [r.outcome for r in results] == ["emergency"]
    assert TOKEN  # the app's admin token pushed nothing here


# --- the pages ------------------------------------------------------------------------------


def test_cap_pages_show_alerts_sources_and_edit_the_policy(
    placed: TestClient, people: People, commune: SeededCommune
) -> None:
    source_id, headers = push_source(placed)
    push(placed, headers, document("BAO-W1"))
    push(placed, headers, b"<alert>")  # refused: shown on the source's card
    push(placed, headers, document("LU-W2", info(severity="Moderate", urgency="Expected")))
    admin, csrf = _signed_in(placed, "admin")
    page = admin.get("/cap").text
    assert 'href="/cap"' in page  # in the menu
    assert 'data-outcome="emergency"' in page and 'data-outcome="announcement"' in page
    pending = cap_sources.list_alerts(_db(placed))[0]["announcement_id"]
    assert 'href="/cap#alert-' in admin.get(f"/announcements/{pending}").text
    assert f'id="source-{source_id}"' in page and 'data-code="cap_malformed"' in page
    # a new feed source from the form, refused then saved
    bad = admin.post("/cap/sources", data={"csrf": csrf, "name": "Tỉnh", "url": "ftp://x"})
    assert bad.status_code == 422 and "http://" in bad.text
    made = admin.post(
        "/cap/sources",
        data={"csrf": csrf, "name": "Loa tỉnh", "kind": "feed", "url": "http://127.0.0.1:9/f"},
        follow_redirects=False,
    )
    assert made.status_code == 303
    push_made = admin.post("/cap/sources", data={"csrf": csrf, "name": "Đài 2", "kind": "push"})
    assert 'id="new-token"' in push_made.text  # the token, shown once
    # a zone's code
    saved = admin.post(
        "/cap/zones",
        data={"csrf": csrf, f"code-{commune.commune_id}": "503"},
        follow_redirects=False,
    )
    assert saved.status_code == 303
    assert cap_sources.zone_codes(_db(placed))[commune.commune_id] == "503"
    # the policy page: defaults shown, one row changed and one added
    policy = admin.get("/cap/policy").text
    assert policy.count('name="action-') == 4  # three defaults and the blank row
    form: dict[str, Any] = {"csrf": csrf}
    for i, rule in enumerate(cap_sources.list_policy(_db(placed)), start=1):
        form |= {f"position-{i}": str(i + 1), f"action-{i}": rule["action"]}
        form |= {f"severity-{i}": [v for v in rule["severity"].split(",") if v]}
        form |= {f"repeat-{i}": str(rule["repeat_min"])}
    form |= {"position-4": "1", "action-4": "log", "event-4": "Diễn tập", "repeat-4": "0"}
    form |= {"delete-3": "1"}
    changed = admin.post("/cap/policy", data=form, follow_redirects=False)
    assert changed.status_code == 303, changed.text[:500]
    rules = cap_sources.list_policy(_db(placed))
    assert [(r["event"], r["action"]) for r in rules] == [
        ("Diễn tập", "log"),
        ("", "emergency"),
        ("", "announcement"),
    ]
    wrong = admin.post("/cap/policy", data={**form, "repeat-1": "5000"})
    assert wrong.status_code == 422
    # an editor sees the alerts and the policy, not the sources, and cannot change them
    editor, editor_csrf = _signed_in(placed, "editor")
    seen = editor.get("/cap").text
    assert 'data-outcome="emergency"' in seen and 'id="sources"' not in seen
    assert 'name="delete-1"' not in editor.get("/cap/policy").text
    denied = editor.post("/cap/policy", data={**form, "csrf": editor_csrf})
    assert denied.status_code == 403
    # the dashboard shows the latest alerts
    home = admin.get("/").text
    assert 'id="cap-alerts"' in home and "Bão số 6 đổ bộ" in home


def test_the_document_declares_the_cap_routes_own_refusals(client: TestClient) -> None:
    doc = client.get("/api/v1/openapi.json").json()
    create = doc["paths"]["/api/v1/cap/sources"]["post"]["responses"]["422"]
    assert "cap_source_bad_cert" in create["x-data-refusals"]
    assert "stream_unreachable" not in create["x-data-refusals"]  # the stream sources' own
    # a feed's URL: the body's kind says it on POST (its schema), the stored source's on PUT
    update = doc["paths"]["/api/v1/cap/sources/{source_id}"]["put"]["responses"]["422"]
    assert "cap_source_bad_url" in update["x-data-refusals"]
    push_answers = doc["paths"]["/api/v1/cap"]["post"]["responses"]
    assert {"404", "409", "413", "415", "422"} <= set(push_answers)
    assert "cap_signature_invalid" in push_answers["422"]["x-data-refusals"]


def test_a_source_acts_as_the_official_it_names(placed: TestClient, people: People) -> None:
    editor = placed.post(
        "/api/v1/cap/sources", json={"name": "X", "kind": "push", "user_id": people.ids["editor"]}
    )
    assert editor.status_code == 422 and editor.json()["error"]["code"] == "cap_source_user_role"
    _source_id, headers = push_source(placed, user_id=people.ids["approver"])
    made = push(placed, headers, document("BAO-U1")).json()
    assert made["outcome"] == "emergency"
    assert placed.get("/api/v1/cap/alerts").json()[0]["approved_by"] == "approver"
    actor = (
        _db(placed)
        .execute("SELECT actor FROM audit_log WHERE action = 'broadcast.emergency'")
        .fetchone()[0]
    )
    assert actor == f"user:{people.ids['approver']}"


def test_a_polygon_across_a_village_reaches_only_its_clusters_inside(
    placed: TestClient, commune: SeededCommune
) -> None:
    db = _db(placed)
    fleet.add_node(db, "lac-xuan-2", commune.nodes[0].zone_id, "Cụm loa Lạc Xuân 2")
    db.execute("UPDATE nodes SET lat = 16.10, lon = 108.20 WHERE id = 'lac-xuan-2'")  # inland
    _source_id, headers = push_source(placed)
    made = push(placed, headers, document("BAO-V1")).json()
    assert dispatched_nodes(placed, made["broadcast_id"]) == {"lac-xuan-1", "lac-binh-1"}
    narrowed = db.execute(
        "SELECT node_ids FROM broadcasts WHERE id = ?", [made["broadcast_id"]]
    ).fetchone()[0]
    assert json.loads(narrowed) == ["lac-binh-1", "lac-xuan-1"]
    # its repeat stays narrowed too
    runtime = placed.app.state.runtime  # type: ignore[attr-defined]
    assert cap_feeds.repeat_due(runtime, datetime.now(UTC) + timedelta(minutes=31)) == 1
    again = alert_rows(placed)[0]["broadcast_id"]
    assert dispatched_nodes(placed, again) == {"lac-xuan-1", "lac-binh-1"}


def test_a_circle_reaches_the_clusters_within_its_radius(placed: TestClient) -> None:
    _source_id, headers = push_source(placed)
    near = Info(
        language="vi",
        categories=("Geo",),
        event="Sạt lở đất",
        urgency="Immediate",
        severity="Severe",
        certainty="Likely",
        headline="Nguy cơ sạt lở đất",
        expires=datetime.now(UTC) + timedelta(hours=2),
        # 2 km around Lạc Bình's cluster; Lạc Xuân's is about 9 km away
        areas=(Area("Đồi Lạc Bình", circles=((15.93, 108.40, 2.0),)),),
    )
    made = push(placed, headers, document("SL-1", near)).json()
    assert made["outcome"] == "emergency"
    assert dispatched_nodes(placed, made["broadcast_id"]) == {"lac-binh-1"}


def test_a_disabled_source_takes_nothing(placed: TestClient) -> None:
    source_id, headers = push_source(placed)
    off = placed.put(
        f"/api/v1/cap/sources/{source_id}",
        json={"name": "Đài KTTV", "kind": "push", "enabled": False},
    )
    assert off.status_code == 200 and off.json()["enabled"] is False
    refused = push(placed, headers, document("OFF-1"))
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "cap_source_disabled"
    assert alert_rows(placed) == []
    # deleting it revokes its token; one that received alerts is kept
    assert placed.delete(f"/api/v1/cap/sources/{source_id}").status_code == 204
    assert push(placed, headers, document("OFF-2")).status_code == 401
    kept_id, kept_headers = push_source(placed)
    push(placed, kept_headers, document("KEEP-1"))
    kept = placed.delete(f"/api/v1/cap/sources/{kept_id}")
    assert kept.status_code == 409 and kept.json()["error"]["code"] == "cap_source_has_alerts"


def test_a_repeat_taken_up_before_a_cancel_never_sounds_after_it(placed: TestClient) -> None:
    """The cap-feeds thread read an emergency as due; a Cancel is pushed before it sounds it:
    the repeat must not leave the cancelled alert sounding."""
    _source_id, headers = push_source(placed)
    push(placed, headers, document("BAO-RACE"))
    runtime = placed.app.state.runtime  # type: ignore[attr-defined]
    later = datetime.now(UTC) + timedelta(minutes=31)
    (due,) = cap_sources.repeats_due(_db(placed), later)  # taken up by the thread …
    cancel = push(
        placed, headers, document("BAO-RACE-X", msg_type="Cancel", references=(ref("BAO-RACE"),))
    )
    assert cancel.json()["outcome"] == "cancelled"  # … the Cancel arrives meanwhile …
    assert cap_feeds.repeat_one(runtime, due, later) is False  # … and the repeat holds off
    active = (
        _db(placed).execute("SELECT COUNT(*) FROM broadcasts WHERE status = 'active'").fetchone()[0]
    )
    assert active == 0


# --- the document's rules are the API's (issue 19: found by schemathesis) ------------------


def _verdict(client: TestClient, schema: str) -> Any:
    """Whether the published document calls a body valid for the request model ``schema``."""
    import jsonschema_rs  # schemathesis's validator

    doc = client.get("/api/v1/openapi.json").json()
    validator = jsonschema_rs.Draft202012Validator(
        {"$ref": f"#/components/schemas/{schema}", "components": doc["components"]}
    )
    return validator.is_valid


def test_the_alert_list_keeps_the_limits_its_schema_says(client: TestClient) -> None:
    # found by schemathesis: limit=9223372036854775808 (and 0, 5000) answered 200
    for limit in ("9223372036854775808", "0", "1001", "-1"):
        answer = client.get(f"/api/v1/cap/alerts?limit={limit}")
        assert answer.status_code == 422, (limit, answer.text)
        assert answer.json()["error"]["code"] == "invalid_request"
    assert client.get("/api/v1/cap/alerts?limit=1000").status_code == 200


def test_a_source_is_refused_exactly_when_its_schema_says_so(client: TestClient) -> None:
    # found by schemathesis: {"name": "0", "url": ""} (a feed without a URL) was refused while
    # the schema allowed it; a name with a bidirectional override, or 101 characters before
    # stripping, was taken while the schema forbade it; one of 100 that NFC makes longer was
    # refused while the schema allowed it
    valid = _verdict(client, "CapSourceIn")
    cases = [
        {"name": "Tỉnh", "url": "http://127.0.0.1/feed.atom"},
        {"name": "Tỉnh", "url": " https://127.0.0.1/x \n"},
        {"name": "Đài", "kind": "push"},
        {"name": "\u0958" * 100, "kind": "push"},  # NFC makes it 200 characters: still taken
        {"name": "Tỉnh", "url": ""},
        {"name": "Tỉnh"},
        {"name": "Tỉnh", "url": "ftp://x"},
        {"name": "Tỉnh", "url": "http://a b/"},
        {"name": "Tỉnh", "url": "http://a\u00a0b/"},
        {"name": "Đài\u202e", "kind": "push"},
        {"name": " " + "a" * 100, "kind": "push"},
        {"name": "\u200b", "kind": "push"},
        {"name": "Đài", "kind": "push", "interval_s": True},
        {"name": "Đài", "kind": "push", "enabled": 1},
        {"name": "Tỉnh", "url": "http://127.0.0.1/x", "signed_only": True},
        {"name": "Đài", "kind": "push", "signed_only": True, "cert_pem": " \n"},
        {"name": "Đài", "kind": "push", "signed_only": False, "cert_pem": None},
    ]
    for body in cases:
        answer = client.post("/api/v1/cap/sources", json=body)
        assert (answer.status_code == 201) == valid(body), (body, answer.text)
        if answer.status_code == 201:
            assert client.delete(f"/api/v1/cap/sources/{answer.json()['id']}").status_code == 204
        else:
            assert answer.status_code == 422
            assert answer.json()["error"]["code"] in (
                "cap_source_bad_name",
                "cap_source_bad_url",
                "cap_source_cert_required",
                "invalid_request",
            )
    assert client.get("/api/v1/cap/sources").json() == []
    create = client.get("/api/v1/openapi.json").json()["paths"]["/api/v1/cap/sources"]["post"]
    said_by_data = create["responses"]["422"]["x-data-refusals"]
    assert "cap_source_bad_url" not in said_by_data
    assert "cap_source_cert_required" not in said_by_data


def test_a_policy_is_refused_exactly_when_its_schema_says_so(client: TestClient) -> None:
    # found by schemathesis: {"repeat_min": false} was taken as 0; a value list "Extreme,Minor"
    # or " Extreme", an event with a bidirectional override or 201 characters before stripping
    # were taken while the schema forbade them
    valid = _verdict(client, "PolicyIn")
    before = client.get("/api/v1/cap/policy").json()
    cases = [
        {"action": "log", "severity": ["Extreme", "Minor"], "event": " Bão "},
        {"action": "emergency", "repeat_min": 30.0},
        {"action": "log", "event": "x" * 200},
        {"action": "log", "repeat_min": False},
        {"action": "log", "severity": ["Extreme,Minor"]},
        {"action": "log", "severity": [" Extreme"]},
        {"action": "log", "urgency": [""]},
        {"action": "log", "event": "Bão\u202e"},
        {"action": "log", "event": " " + "x" * 200},
        {"action": "sound"},
    ]
    for rule in cases:
        answer = client.put("/api/v1/cap/policy", json={"rules": [rule]})
        assert (answer.status_code == 200) == valid({"rules": [rule]}), (rule, answer.text)
        assert answer.status_code in (200, 422), answer.text
    assert not valid({"rules": []})
    empty = client.put("/api/v1/cap/policy", json={"rules": []})
    assert empty.status_code == 422 and empty.json()["error"]["code"] == "cap_policy_empty"
    client.put("/api/v1/cap/policy", json={"rules": before})


def test_a_zone_code_is_refused_exactly_when_its_schema_says_so(
    client: TestClient, commune: SeededCommune
) -> None:
    # found by schemathesis: " 20335" (a space the pattern forbids) was stripped and taken
    valid = _verdict(client, "AdminCodeIn")
    zone = commune.commune_id
    for code in ("20335", "", " 20335", "2033 5", "x" * 33, "20335\u00a0"):
        answer = client.put(f"/api/v1/cap/zones/{zone}", json={"admin_code": code})
        assert (answer.status_code == 200) == valid({"admin_code": code}), (code, answer.text)
        if answer.status_code != 200:
            assert answer.json()["error"]["code"] == "bad_admin_code"


def test_the_push_declares_its_xml_body(client: TestClient) -> None:
    push = client.get("/api/v1/openapi.json").json()["paths"]["/api/v1/cap"]["post"]
    assert set(push["requestBody"]["content"]) == set(cap_sources_api_types())
    assert push["requestBody"]["required"] is True
    assert {"413", "415", "422"} <= set(push["responses"])


def cap_sources_api_types() -> tuple[str, ...]:
    from controller.api.cap import CAP_TYPES

    return CAP_TYPES
