"""A cluster's position, typed on its page (or pasted as one pair) by an operator or admin, saved
and audited; bad values refused in Vietnamese with nothing saved; and the map page's offline view:
every cluster under its village with its state, the ones without a position marked."""

from __future__ import annotations

import re
from typing import Any

import pytest
from fastapi.testclient import TestClient

from controller.domain.seed import SeededCommune
from tests.controller.conftest import People


def _csrf(html: str) -> str:
    match = re.search(r'name="csrf" value="([^"]+)"', html)
    assert match
    return match.group(1)


def _signed_in(client: TestClient, username: str) -> tuple[TestClient, str]:
    browser = TestClient(client.app, follow_redirects=False)
    page = browser.get("/login")
    signed = browser.post(
        "/login",
        data={"csrf": _csrf(page.text), "username": username, "password": People.PASSWORD},
    )
    assert signed.status_code == 303
    return browser, _csrf(browser.get("/").text)


def _db(client: TestClient) -> Any:
    return client.app.state.runtime.store.db  # type: ignore[attr-defined]


def _position(client: TestClient, node: str) -> tuple[Any, Any]:
    row = _db(client).execute("SELECT lat, lon FROM nodes WHERE id = ?", [node]).fetchone()
    return row[0], row[1]


def _audits(client: TestClient) -> list[tuple[str, str, int, str]]:
    return [
        tuple(r)
        for r in _db(client).execute(
            "SELECT action, entity_id, actor_id, after FROM audit_log "
            "WHERE action = 'node.position' ORDER BY id"
        )
    ]


@pytest.mark.parametrize(
    ("lat", "lon", "expected"),
    [
        ("21.0285", "105.8542", (21.0285, 105.8542)),
        ("21.0285, 105.8542", "", (21.0285, 105.8542)),  # a pair pasted from a map
        ("21.0285,105.8542", "", (21.0285, 105.8542)),
        ("21,0285", "105,8542", (21.0285, 105.8542)),  # decimal commas
        (" -33.5 ; 151.2 ", "", (-33.5, 151.2)),
    ],
)
def test_typed_position_is_saved_and_audited(
    client: TestClient,
    people: People,
    commune: SeededCommune,
    lat: str,
    lon: str,
    expected: tuple[float, float],
) -> None:
    node = commune.nodes[0].node_id
    operator, csrf = _signed_in(client, "operator")
    page = operator.get(f"/nodes/{node}")
    assert 'action="/nodes/position"' in page.text and "chưa có vị trí" in page.text
    saved = operator.post(
        "/nodes/position", data={"csrf": csrf, "node": node, "lat": lat, "lon": lon}
    )
    assert saved.status_code == 303
    assert saved.headers["location"].startswith(f"/nodes/{node}?saved=position")
    assert _position(client, node) == expected
    [(action, entity_id, actor, after)] = _audits(client)
    assert (action, entity_id, actor) == ("node.position", node, people.ids["operator"])
    assert str(expected[0]) in after and str(expected[1]) in after
    shown = operator.get(f"/nodes/{node}?saved=position").text
    assert "Đã lưu vị trí cụm loa." in shown and f"{expected[0]:.5f}" in shown


@pytest.mark.parametrize(
    ("lat", "lon", "message"),
    [
        ("", "", "Hãy nhập cả vĩ độ và kinh độ, ví dụ 21.0285, 105.8542."),
        ("21.0285", "", "Hãy nhập cả vĩ độ và kinh độ, ví dụ 21.0285, 105.8542."),
        ("91", "105", "Vĩ độ phải là một số từ −90 đến 90."),
        ("-90.5", "105", "Vĩ độ phải là một số từ −90 đến 90."),
        ("bắc", "105", "Vĩ độ phải là một số từ −90 đến 90."),
        ("21", "180.01", "Kinh độ phải là một số từ −180 đến 180."),
        ("21", "nan", "Kinh độ phải là một số từ −180 đến 180."),
        ("21, 106, 3", "", "Hãy nhập cả vĩ độ và kinh độ, ví dụ 21.0285, 105.8542."),
    ],
)
def test_bad_position_is_refused_in_vietnamese_and_nothing_saved(
    client: TestClient,
    people: People,
    commune: SeededCommune,
    lat: str,
    lon: str,
    message: str,
) -> None:
    node = commune.nodes[0].node_id
    admin, csrf = _signed_in(client, "admin")
    refused = admin.post(
        "/nodes/position", data={"csrf": csrf, "node": node, "lat": lat, "lon": lon}
    )
    assert refused.status_code == 422
    assert message in refused.text
    assert f'value="{lat}"' in refused.text, "what was typed is kept"
    assert _position(client, node) == (None, None)
    assert _audits(client) == []


def test_bad_position_from_the_map_page_answers_with_the_map_page(
    client: TestClient, people: People, commune: SeededCommune
) -> None:
    node = commune.nodes[1].node_id
    admin, csrf = _signed_in(client, "admin")
    refused = admin.post(
        "/nodes/position",
        data={"csrf": csrf, "node": node, "lat": "21", "lon": "200", "back": "map"},
    )
    assert refused.status_code == 422
    assert "Kinh độ phải là một số từ −180 đến 180." in refused.text
    assert "Cụm loa theo thôn" in refused.text
    assert _position(client, node) == (None, None)
    saved = admin.post(
        "/nodes/position",
        data={"csrf": csrf, "node": node, "lat": "21", "lon": "105.5", "back": "map"},
    )
    assert saved.status_code == 303 and saved.headers["location"] == "/nodes/map?saved=position"
    assert _position(client, node) == (21.0, 105.5)


def test_only_node_managers_in_their_area_set_a_position(
    client: TestClient, people: People, commune: SeededCommune
) -> None:
    node = commune.nodes[0].node_id
    for role in ("viewer", "editor", "approver"):
        browser, csrf = _signed_in(client, role)
        assert 'action="/nodes/position"' not in browser.get(f"/nodes/{node}").text
        refused = browser.post(
            "/nodes/position", data={"csrf": csrf, "node": node, "lat": "21", "lon": "105"}
        )
        assert refused.status_code == 403, role
    # a village editor does not see another village's cluster at all
    village, csrf = _signed_in(client, "village_editor")
    other = commune.nodes[1].node_id
    hidden = village.post(
        "/nodes/position", data={"csrf": csrf, "node": other, "lat": "21", "lon": "105"}
    )
    assert hidden.status_code == 404
    # no CSRF token, nothing saved either
    operator, _ = _signed_in(client, "operator")
    forged = operator.post("/nodes/position", data={"node": node, "lat": "21", "lon": "105"})
    assert forged.status_code == 403
    assert _position(client, node) == (None, None) and _position(client, other) == (None, None)
    assert _audits(client) == []


def test_map_page_lists_every_cluster_under_its_village_with_state(
    client: TestClient, people: People, commune: SeededCommune
) -> None:
    located, online = commune.nodes[0].node_id, commune.nodes[1].node_id
    db = _db(client)
    db.execute("UPDATE nodes SET lat = 21.03, lon = 105.85 WHERE id = ?", [located])
    db.execute(
        "UPDATE nodes SET online = 1, last_seen = strftime('%Y-%m-%dT%H:%M:%SZ', 'now'), "
        "heartbeat_s = 30 WHERE id = ?",
        [online],
    )
    viewer, _ = _signed_in(client, "viewer")
    page = viewer.get("/nodes/map").text
    # the commune, then each village with its cluster inside its <li>
    assert page.index("Xã Lạc Lâm") < page.index("Thôn Lạc Xuân")
    for village in commune.nodes:
        zone = re.search(rf'<li data-zone="{village.zone_id}">(.*?)</ul>', page, flags=re.DOTALL)
        assert zone, village
        item = re.search(rf'<li data-node="{village.node_id}">(.*?)</li>', zone.group(1), re.S)
        assert item, village.node_id
        text = item.group(1)
        assert village.name in text
        assert ("Trực tuyến" in text) == (village.node_id == online)
        assert ("Mất kết nối" in text) == (village.node_id != online)
        assert "Lần cuối hoạt động" in text
        assert ("chưa có vị trí" in text) == (village.node_id != located)
        assert "đặt vị trí" not in text, "a viewer may not set it"
    assert "Chưa từng" in page
    # the map itself waits for a tile (hidden without JavaScript), its message too
    assert re.search(r'<div id="map" class="map" hidden', page)
    assert "Không tải được bản đồ (cần Internet)" in page
    operator, _ = _signed_in(client, "operator")
    as_operator = operator.get("/nodes/map").text
    assert f'href="/nodes/{online}#vi-tri"' in as_operator
    assert f'href="/nodes/{located}#vi-tri"' not in as_operator
    assert 'id="map-position"' in as_operator and 'id="map-position"' not in page


def test_map_page_of_a_village_official_lists_only_their_village(
    client: TestClient, people: People, commune: SeededCommune
) -> None:
    village, _ = _signed_in(client, "village_editor")
    page = village.get("/nodes/map").text
    mine, *others = commune.nodes
    assert f'<li data-zone="{mine.zone_id}">' in page and f'data-node="{mine.node_id}"' in page
    for other in others:
        assert f'data-zone="{other.zone_id}"' not in page
        assert other.node_id not in page
    assert "Xã Lạc Lâm" not in page, "the commune above their area is not listed"
