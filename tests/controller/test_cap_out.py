"""Loa's own CAP feed (controller/domain/cap_out.py, controller/api/cap_feed.py): an emergency
made through the API is published, read back with controller.domain.cap, then cancelled."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from lxml import etree

from controller.app import create_app
from controller.core.settings import Settings
from controller.domain import cap
from controller.domain.seed import SeededCommune, seed_commune
from controller.domain.users import create_token
from tests.controller.conftest import TOKEN, People
from tests.controller.test_cap import key_and_cert

BASE = "http://testserver"
ATOM = "{http://www.w3.org/2005/Atom}"
# Hội An's coast: Thôn Lạc Xuân has two clusters' worth of positions, Lạc Bình one
POSITIONS = {
    "lac-xuan-1": (15.8790, 108.3350),
    "lac-binh-1": (15.8900, 108.3800),
    "dong-thanh-1": (15.9300, 108.2900),
}
CODES = {0: "20335", 1: "20350"}


def _db(client: TestClient) -> Any:
    return client.app.state.runtime.store.db  # type: ignore[attr-defined]


def _place(client: TestClient, commune: SeededCommune) -> None:
    db = _db(client)
    for node in commune.nodes:
        lat, lon = POSITIONS[node.node_id]
        db.execute("UPDATE nodes SET lat = ?, lon = ? WHERE id = ?", [lat, lon, node.node_id])
    for index, code in CODES.items():
        db.execute(
            "UPDATE zones SET admin_code = ? WHERE id = ?", [code, commune.nodes[index].zone_id]
        )


def _public(client: TestClient) -> TestClient:
    """The same app, asked by someone who never signed in."""
    return TestClient(client.app)


def _emergency(client: TestClient, people: People, zone_ids: list[int]) -> int:
    sent = client.post(
        "/api/v1/emergency",
        json={"title": "Lũ quét", "text": "Nước lũ dâng nhanh, sơ tán ngay.", "zone_ids": zone_ids},
        headers=people.headers("approver"),
    )
    assert sent.status_code == 201, sent.text
    return int(sent.json()["id"])


def _feed(public: TestClient) -> tuple[list[str], etree._Element]:
    got = public.get("/cap/feed.atom")
    assert got.status_code == 200, got.text
    assert got.headers["content-type"].startswith("application/atom+xml")
    return cap.feed_links(got.content, f"{BASE}/cap/feed.atom"), etree.fromstring(got.content)


def _document(public: TestClient, link: str) -> cap.Alert:
    got = public.get(link.removeprefix(BASE))
    assert got.status_code == 200, got.text
    assert got.headers["content-type"].startswith("application/cap+xml")
    return cap.parse(got.content)  # schema-valid, or this raises


def test_an_emergency_is_published_and_its_cancel_too(
    client: TestClient, people: People, commune: SeededCommune
) -> None:
    _place(client, commune)
    public = _public(client)
    links, _ = _feed(public)
    assert links == []  # nothing yet
    villages = [commune.nodes[0].zone_id, commune.nodes[1].zone_id]
    broadcast_id = _emergency(client, people, villages)
    links, root = _feed(public)
    assert len(links) == 1 and f"/cap/alerts/loa-b{broadcast_id}-" in links[0]
    entry = root.find(f"{ATOM}entry")
    assert entry is not None and entry.findtext(f"{ATOM}title") == "Lũ quét"
    link = entry.find(f"{ATOM}link")
    assert link is not None and link.get("rel") == "alternate"
    assert link.get("type") == "application/cap+xml"

    alert = _document(public, links[0])
    assert alert.sender == "loa@xa-lac-lam" and not alert.signed
    assert (alert.status, alert.msg_type, alert.scope) == ("Actual", "Alert", "Public")
    info = cap.choose_info(alert)
    assert info is not None and info.language == "vi-VN"
    assert (info.severity, info.urgency, info.certainty) == ("Extreme", "Immediate", "Observed")
    assert info.headline == "Lũ quét" and info.description.startswith("Nước lũ dâng nhanh")
    assert info.expires is not None and info.effective is not None
    assert info.expires - info.effective == timedelta(minutes=60)
    assert info.expires > datetime.now(UTC)
    assert info.geocode_values() == {"20335", "20350"}
    assert [a.description for a in info.areas] == ["Thôn Lạc Xuân", "Thôn Lạc Bình"]
    # each village's cluster lies inside its polygon, ~1 km around it too; Đồng Thạnh does not
    assert info.contains(*POSITIONS["lac-xuan-1"]) and info.contains(*POSITIONS["lac-binh-1"])
    assert info.contains(15.8790 + 0.008, 108.3350)  # 0.9 km north
    assert not info.contains(15.8790 + 0.012, 108.3350)  # 1.3 km north
    assert not info.contains(*POSITIONS["dong-thanh-1"])

    cancelled = client.post(
        f"/api/v1/broadcasts/{broadcast_id}/cancel",
        json={"reason": "Nước đã rút"},
        headers=people.headers("approver"),
    )
    assert cancelled.status_code == 200, cancelled.text
    links, root = _feed(public)
    assert (
        len(links) == 2
        and links[0].endswith("-cancel.xml")
        and links[1] == links[0].replace("-cancel.xml", ".xml")
    )
    cancel = _document(public, links[0])
    assert cancel.msg_type == "Cancel" and cancel.infos == ()
    assert cancel.references == (cap.Reference(alert.sender, alert.identifier, alert.sent),)
    assert cancel.sent >= alert.sent
    # the Alert is still served as it was
    assert _document(public, links[1]).identifier == alert.identifier


def test_a_subscriber_polling_gets_304_until_something_changes(
    client: TestClient, people: People, commune: SeededCommune
) -> None:
    public = _public(client)
    empty = public.get("/cap/feed.atom")
    tag = empty.headers["etag"]
    assert public.get("/cap/feed.atom").content == empty.content  # same bytes, same tag
    unchanged = public.get("/cap/feed.atom", headers={"If-None-Match": tag})
    assert unchanged.status_code == 304 and unchanged.content == b""
    broadcast_id = _emergency(client, people, [commune.commune_id])
    changed = public.get("/cap/feed.atom", headers={"If-None-Match": tag})
    assert changed.status_code == 200 and changed.headers["etag"] != tag
    (link,) = cap.feed_links(changed.content, f"{BASE}/cap/feed.atom")
    path = link.removeprefix(BASE)
    first = public.get(path)
    again = public.get(path, headers={"If-None-Match": f'"x", {first.headers["etag"]}'})
    assert again.status_code == 304
    client.post(f"/api/v1/broadcasts/{broadcast_id}/cancel", headers=people.headers("approver"))
    # the Alert document is the same; the feed is not
    assert public.get(path, headers={"If-None-Match": first.headers["etag"]}).status_code == 304
    fresh = public.get("/cap/feed.atom", headers={"If-None-Match": changed.headers["etag"]})
    assert fresh.status_code == 200


def test_a_whole_commune_emergency_without_positions_or_codes(
    client: TestClient, people: People, commune: SeededCommune
) -> None:
    _emergency(client, people, [commune.commune_id])
    links, _ = _feed(_public(client))
    info = cap.choose_info(_document(_public(client), links[0]))
    assert info is not None
    (area,) = info.areas
    assert area.description == "Xã Lạc Lâm"
    assert area.polygons == () and area.geocodes == ()


def test_unknown_documents_are_404_with_the_error_model(
    client: TestClient, people: People, commune: SeededCommune
) -> None:
    public = _public(client)
    broadcast_id = _emergency(client, people, [commune.commune_id])
    (link,) = _feed(public)[0]
    path = link.removeprefix(BASE)
    for wrong in (
        "/cap/alerts/nope.xml",
        "/cap/alerts/loa-b999-20260101T000000Z.xml",
        # the right broadcast with another time: not its identifier
        f"/cap/alerts/loa-b{broadcast_id}-20200101T000000Z.xml",
        # not cancelled: no Cancel document
        path.replace(".xml", "-cancel.xml"),
    ):
        got = public.get(wrong)
        assert got.status_code == 404, wrong
        assert got.json()["error"]["code"] == "cap_alert_not_found"
        assert got.json()["error"]["message"]


def test_bulletins_are_published_only_for_chosen_categories(
    client: TestClient, people: People, commune: SeededCommune
) -> None:
    made = client.post(
        "/api/v1/announcements",
        json={
            "title": "Tiêm chủng",
            "text": "Tiêm vắc xin sởi sáng thứ Bảy.",
            "category": "y_te",
            "submit": True,
        },
        headers=people.headers("editor"),
    )
    assert made.status_code == 201, made.text
    announcement_id = made.json()["id"]
    approved = client.post(
        f"/api/v1/announcements/{announcement_id}/approve", headers=people.headers("approver")
    )
    assert approved.status_code == 200, approved.text
    planned = client.post(
        "/api/v1/broadcasts",
        json={
            "announcement_id": announcement_id,
            "zone_ids": [commune.commune_id],
            "starts_at": (datetime.now(UTC) + timedelta(hours=2)).isoformat(),
        },
        headers=people.headers("editor"),
    )
    assert planned.status_code == 201, planned.text
    assert _feed(_public(client))[0] == []  # emergencies only, by default
    runtime = client.app.state.runtime  # type: ignore[attr-defined]
    runtime.settings = dataclasses.replace(runtime.settings, cap_publish_categories=("y_te",))
    (link,) = _feed(_public(client))[0]
    alert = _document(_public(client), link)
    info = cap.choose_info(alert)
    assert info is not None and info.categories == ("Health",) and info.event == "Y tế"
    assert (info.severity, info.urgency) == ("Minor", "Future")
    assert info.onset is not None and info.onset > datetime.now(UTC) + timedelta(hours=1)


@pytest.fixture
def signed_app(tmp_path: Path) -> Iterator[tuple[TestClient, SeededCommune, str]]:
    key_pem, cert_pem = key_and_cert("ec", "Loa xã Lạc Lâm")
    (tmp_path / "cap.key").write_text(key_pem)
    (tmp_path / "cap.crt").write_text(cert_pem)
    settings = Settings(
        data_dir=tmp_path / "controller",
        api_token=TOKEN,
        cap_sender="canhbao@laclam.example",
        cap_signing_key_file=str(tmp_path / "cap.key"),
        cap_signing_cert_file=str(tmp_path / "cap.crt"),
    )
    app = create_app(settings, start_services=False)
    create_token(app.state.runtime.store.db, "test", token=TOKEN)
    commune = seed_commune(app.state.runtime.store)
    with TestClient(app, headers={"Authorization": f"Bearer {TOKEN}"}) as client:
        yield client, commune, cert_pem


def test_signed_when_configured(signed_app: tuple[TestClient, SeededCommune, str]) -> None:
    client, commune, cert_pem = signed_app
    people = People(client, commune)
    broadcast_id = _emergency(client, people, [commune.nodes[2].zone_id])
    public = _public(client)
    (link,) = _feed(public)[0]
    got = public.get(link.removeprefix(BASE))
    cap.verify(got.content, cert_pem)  # raises unless it verifies
    alert = cap.parse(got.content)
    assert alert.signed and alert.sender == "canhbao@laclam.example"
    _other_key, other_cert = key_and_cert("ec", "Ai đó khác")
    with pytest.raises(cap.CapRefused) as caught:
        cap.verify(got.content, other_cert)
    assert caught.value.code == "cap_signature_invalid"
    # the key file gone: 503 with the error model, never an unsigned document
    Path(client.app.state.runtime.settings.cap_signing_key_file).unlink()  # type: ignore[attr-defined]
    gone = public.get(link.removeprefix(BASE))
    assert gone.status_code == 503 and gone.json()["error"]["code"] == "cap_signing_unavailable"
    # a key file that is not a key: the same
    Path(client.app.state.runtime.settings.cap_signing_key_file).write_text("không phải khóa")  # type: ignore[attr-defined]
    garbled = public.get(link.removeprefix(BASE))
    assert (
        garbled.status_code == 503 and garbled.json()["error"]["code"] == "cap_signing_unavailable"
    )
    assert broadcast_id
