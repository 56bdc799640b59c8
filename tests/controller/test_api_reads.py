"""Zones, nodes and media as the API shows them."""

from __future__ import annotations

import hashlib

from fastapi.testclient import TestClient

from controller.domain.seed import SeededCommune


def test_zones_are_listed_as_a_tree(client: TestClient, commune: SeededCommune):
    zones = client.get("/api/v1/zones").json()
    assert [z["name"] for z in zones] == [
        "Xã Lạc Lâm",
        "Thôn Lạc Xuân",
        "Thôn Lạc Bình",
        "Thôn Đồng Thạnh",
    ]
    assert [z["depth"] for z in zones] == [0, 1, 1, 1]
    assert zones[1]["path"] == "Xã Lạc Lâm › Thôn Lạc Xuân"


def test_nodes_start_offline_and_never_seen(client: TestClient, commune: SeededCommune):
    nodes = client.get("/api/v1/nodes").json()
    assert {n["id"] for n in nodes} == {n.node_id for n in commune.nodes}
    assert all(n["online"] is False and n["last_seen"] is None for n in nodes)


def test_media_is_served_to_nodes_with_their_token_only(client: TestClient, commune):
    data = b"ID3 not really an mp3 but bytes are bytes"
    sha = hashlib.sha256(data).hexdigest()
    media_dir = client.app.state.runtime.settings.media_dir  # type: ignore[attr-defined]
    (media_dir / f"{sha}.mp3").write_bytes(data)
    url = f"/media/{sha}.mp3"
    assert client.get(url, headers={"Authorization": "Bearer wrong"}).status_code == 401
    node = commune.nodes[0]
    response = client.get(url, headers={"Authorization": f"Bearer {node.secret}"})
    assert response.status_code == 200
    assert response.content == data
    assert response.headers["content-type"] == "audio/mpeg"
    ranged = client.get(
        url, headers={"Authorization": f"Bearer {node.secret}", "Range": "bytes=4-"}
    )
    assert ranged.status_code == 206 and ranged.content == data[4:]


def test_missing_media_is_a_404(client: TestClient, commune):
    node = commune.nodes[0]
    response = client.get(
        f"/media/{'0' * 64}.mp3", headers={"Authorization": f"Bearer {node.secret}"}
    )
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "media_not_found"


def test_openapi_is_published_under_api_v1(client: TestClient):
    spec = client.get("/api/v1/openapi.json").json()
    assert "/api/v1/broadcasts" in spec["paths"]
