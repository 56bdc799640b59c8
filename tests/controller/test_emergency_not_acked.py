"""The emergency page names the clusters that have not acknowledged yet (issue 17)."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

from controller.domain.seed import SeededCommune
from tests.controller.conftest import People
from tests.controller.test_web_cancel import _db, _signed_in


def _not_acked(page: str) -> list[str]:
    section = re.search(r'<section id="not-acked"[^>]*>(.*?)</section>', page, re.S)
    assert section, page
    return re.findall(r'<li data-node="([^"]+)"', section.group(1))


def test_the_emergency_page_names_who_has_not_acked_yet(
    client: TestClient, people: People, commune: SeededCommune
):
    sent = client.post(
        "/api/v1/emergency",
        json={"title": "Lũ", "text": "Bà con lên vùng cao.", "zone_ids": [commune.commune_id]},
        headers=people.headers("approver"),
    )
    assert sent.status_code == 201, sent.text
    emergency_id = sent.json()["id"]
    first, second, third = (n.node_id for n in commune.nodes)
    db = _db(client)
    db.execute(
        "UPDATE dispatches SET state = 'sent', acked_at = NULL WHERE broadcast_id = ?",
        [emergency_id],
    )
    db.execute(
        "UPDATE dispatches SET state = 'playing', acked_at = sent_at "
        "WHERE broadcast_id = ? AND node_id = ?",
        [emergency_id, first],
    )
    db.conn.commit()
    approver, _ = _signed_in(client, "approver")
    page = approver.get(f"/emergency/{emergency_id}/live").text
    assert sorted(_not_acked(page)) == sorted([second, third])
    assert "Chưa nhận lệnh: 2" in page
    db.execute(
        "UPDATE dispatches SET state = 'acked', acked_at = sent_at WHERE broadcast_id = ?",
        [emergency_id],
    )
    db.conn.commit()
    page = approver.get(f"/emergency/{emergency_id}").text
    assert _not_acked(page) == []
    assert "Tất cả cụm loa đã nhận lệnh." in page
