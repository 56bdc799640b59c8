"""Join codes (controller/domain/join.py) on a real SQLite file: stored hashed, used once, expiring
after 24 h, revocable, audited; the *Thêm cụm loa* page; and versions (``loa --version``, the
footer, a node older than the controller flagged). The whole join on real processes:
tests/test_node_join.py.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from fastapi.testclient import TestClient

import loa
from controller.core.messages import error_message
from controller.domain import fleet, join
from controller.domain.seed import SeededCommune
from controller.services import node_dist
from tests.controller.conftest import People
from tests.controller.test_web import _signed_in


def _db(client: TestClient):  # type: ignore[no-untyped-def]
    return client.app.state.runtime.store.db  # type: ignore[attr-defined]


def _anonymous(client: TestClient) -> TestClient:
    """No token, no session: what a Pi's install script is."""
    return TestClient(client.app)


def _make(client: TestClient, zone: int, name: str = "Cụm loa Lạc Xuân 2", **extra) -> dict:  # type: ignore[no-untyped-def]
    made = client.post("/api/v1/join-codes", json={"name": name, "zone_id": zone, **extra})
    assert made.status_code == 201, made.text
    return made.json()


def test_a_code_is_hashed_used_once_and_its_bundle_works(
    client: TestClient, commune: SeededCommune
) -> None:
    zone = commune.nodes[0].zone_id
    made = _make(client, zone)
    assert made["node_id"] == "cum-loa-lac-xuan-2"
    assert made["command"].endswith(f"/node/install.sh | sudo sh -s -- {made['code']}")
    rows = list(_db(client).query("SELECT * FROM join_codes"))
    assert len(rows) == 1 and made["code"] not in json.dumps(rows)
    assert "code" not in client.get("/api/v1/join-codes").json()[0]
    # Typing is forgiving: lower case, no hyphens, O for 0.
    typed = made["code"].lower().replace("-", " ").replace("0", "o")
    redeemed = _anonymous(client).post("/api/v1/join", json={"code": typed})
    assert redeemed.status_code == 200, redeemed.text
    bundle = redeemed.json()
    assert bundle["node_id"] == "cum-loa-lac-xuan-2" and bundle["mqtt"]["password"]
    node = fleet.node_for_token(_db(client), bundle["http"]["token"])
    assert node is not None and node["zone_id"] == zone and node["name"] == "Cụm loa Lạc Xuân 2"
    again = _anonymous(client).post("/api/v1/join", json={"code": made["code"]})
    assert again.status_code == 410 and again.json()["error"]["code"] == "join_code_used"
    actions = [r["action"] for r in _db(client).query("SELECT action FROM audit_log ORDER BY id")]
    assert actions[-3:] == ["join_code.create", "join_code.redeem", "node.add"]
    assert made["code"] not in json.dumps(list(_db(client).query("SELECT * FROM audit_log")))
    assert client.get("/api/v1/join-codes").json()[0]["status"] == "joined"


def test_refusals_change_nothing(client: TestClient, commune: SeededCommune) -> None:
    zone = commune.nodes[0].zone_id
    db = _db(client)
    nodes_before = db.execute("SELECT COUNT(*) FROM nodes").fetchone()[0]
    expired = _make(client, zone, "Cụm hết hạn")
    db.execute(
        "UPDATE join_codes SET expires_at = '2026-01-01T00:00:00.000Z' WHERE id = ?",
        [expired["id"]],
    )
    db.conn.commit()
    revoked = _make(client, zone, "Cụm thu hồi")
    assert client.post(f"/api/v1/join-codes/{revoked['id']}/revoke").json()["status"] == "revoked"
    cases = [
        (expired["code"], 410, "join_code_expired"),
        (revoked["code"], 410, "join_code_revoked"),
        ("7KQ2-M9XD-4HPA-R3TE", 404, "join_code_invalid"),
        ("not a code", 404, "join_code_invalid"),
    ]
    for code, status, error in cases:
        answer = _anonymous(client).post("/api/v1/join", json={"code": code})
        assert answer.status_code == status, answer.text
        assert answer.json()["error"] == {
            "code": error,
            "message": error_message(error),
            "field": None,
        }
    assert db.execute("SELECT COUNT(*) FROM nodes").fetchone()[0] == nodes_before
    assert {c["status"] for c in client.get("/api/v1/join-codes").json()} == {
        "expired",
        "revoked",
    }


def test_a_waiting_code_reserves_its_node_id(client: TestClient, commune: SeededCommune) -> None:
    zone = commune.nodes[0].zone_id
    first = _make(client, zone, "Thôn Đông")
    second = _make(client, zone, "Thôn Đông")
    assert (first["node_id"], second["node_id"]) == ("thon-dong", "thon-dong-2")
    taken = client.post(
        "/api/v1/join-codes", json={"name": "Khác", "zone_id": zone, "id": "thon-dong"}
    )
    assert taken.status_code == 409 and taken.json()["error"]["code"] == "node_exists"
    # ... and from a node added by hand (POST /nodes), else the code could never be redeemed
    added = client.post("/api/v1/nodes", json={"id": "thon-dong-2", "zone_id": zone})
    assert added.status_code == 409 and added.json()["error"]["code"] == "node_exists"
    seeded = commune.nodes[0].node_id
    taken = client.post("/api/v1/join-codes", json={"name": "X", "zone_id": zone, "id": seeded})
    assert taken.status_code == 409
    assert client.post("/api/v1/join-codes", json={"name": "X", "zone_id": 999}).status_code == 404


def test_the_add_cluster_page_shows_the_line_once_and_follows_the_code(
    client: TestClient, commune: SeededCommune, people: People
) -> None:
    admin, csrf = _signed_in(client, "admin")
    nodes = admin.get("/nodes")
    assert 'href="/nodes/join"' in nodes.text
    page = admin.get("/nodes/join")
    assert page.status_code == 200 and "Tạo mã tham gia" in page.text
    zone = commune.nodes[1].zone_id
    made = admin.post("/nodes/join", data={"csrf": csrf, "name": "Cụm loa Bến Đò", "zone_id": zone})
    assert made.status_code == 201, made.text
    assert "sudo sh -s -- " in made.text and "no-store" in made.headers["cache-control"]
    row = join.list_codes(_db(client))[0]
    assert row["node_id"] == "cum-loa-ben-do" and row["status"] == "waiting"
    live = admin.get("/nodes/join/live").text
    assert 'data-status="waiting"' in live and "Đang chờ" in live
    # The code is shown in that one answer only.
    code = made.text.split('id="join-code">')[1].split("<")[0]
    assert code not in admin.get("/nodes/join").text
    # Bad input: one Vietnamese line, what was typed kept, nothing saved.
    bad = admin.post("/nodes/join", data={"csrf": csrf, "name": "Cụm X", "zone_id": "999"})
    assert bad.status_code == 422 and error_message("zone_not_found", zone_ids=999) in bad.text
    assert 'value="Cụm X"' in bad.text and len(join.list_codes(_db(client))) == 1
    revoked = admin.post(
        "/nodes/join", data={"csrf": csrf, "action": "revoke", "code_id": str(row["id"])}
    )
    assert revoked.status_code == 303
    assert 'data-status="revoked"' in admin.get("/nodes/join/live").text
    # Not an administrator: no page, no button.
    operator, ocsrf = _signed_in(client, "operator")
    assert 'href="/nodes/join"' not in operator.get("/nodes").text
    assert operator.get("/nodes/join").status_code == 404
    denied = operator.post("/nodes/join", data={"csrf": ocsrf, "name": "Y", "zone_id": zone})
    assert denied.status_code == 404 and len(join.list_codes(_db(client))) == 1


def test_versions_command_line_footer_and_an_older_node_flagged(
    client: TestClient, commune: SeededCommune, people: People
) -> None:
    shown = subprocess.run(
        [sys.executable, "-m", "loa", "--version"], capture_output=True, text=True, check=True
    )
    assert shown.stdout.strip() == f"loa {loa.__version__}"
    assert loa.older_than("0.9.9", "0.10.0") and not loa.older_than("0.10.0", "0.9.9")
    assert not loa.older_than(None) and not loa.older_than(loa.__version__)
    old, current = commune.nodes[0].node_id, commune.nodes[1].node_id
    db = _db(client)
    db.execute("UPDATE nodes SET version = '0.0.9' WHERE id = ?", [old])
    db.execute("UPDATE nodes SET version = ? WHERE id = ?", [loa.__version__, current])
    db.conn.commit()
    admin, _ = _signed_in(client, "admin")
    page = admin.get("/nodes").text
    assert f"loa {loa.__version__}" in page  # the footer
    rows = page.split("<tr data-node=")
    flagged = {r.split('"')[1] for r in rows[1:] if "cũ hơn bộ điều khiển" in r}
    assert flagged == {old}
    assert "cũ hơn bộ điều khiển" in admin.get(f"/nodes/{old}").text
    assert "cũ hơn bộ điều khiển" not in admin.get(f"/nodes/{current}").text


def test_the_node_files_an_installed_controller_serves(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Installed from a wheel (no source tree to build from): the wheel copied into
    ``{data_dir}/node-dist/`` is served, else ``wheel_unavailable``; the script names this
    controller and that wheel."""
    settings = client.app.state.runtime.settings  # type: ignore[attr-defined]
    script = _anonymous(client).get("/node/install.sh")
    assert script.status_code == 200
    assert f'CONTROLLER_URL="{settings.base_url}"' in script.text
    assert (
        f'WHEEL="{node_dist.wheel_name()}"' in script.text and "@" + "VERSION@" not in script.text
    )
    monkeypatch.setattr(node_dist, "source_root", lambda: None)
    path = f"/node/{node_dist.wheel_name()}"
    missing = _anonymous(client).get(path)
    assert missing.status_code == 503
    assert missing.json()["error"]["code"] == "wheel_unavailable"
    copied = settings.data_dir / "node-dist" / node_dist.wheel_name()
    copied.parent.mkdir()
    copied.write_bytes(b"PK wheel bytes")
    served = _anonymous(client).get(path)
    assert served.status_code == 200 and served.content == b"PK wheel bytes"
    assert _anonymous(client).get("/node/loa-0.0.1-py3-none-any.whl").status_code == 404


def test_an_admin_of_one_village_sees_and_makes_codes_for_it_only(
    client: TestClient, commune: SeededCommune, people: People
) -> None:
    db = _db(client)
    people._add(db, "village_admin", "admin", people.village_zone)
    mine = _make(client, people.village_zone, "Cụm trong thôn")
    theirs = _make(client, people.other_zone, "Cụm thôn khác")
    village = people.headers("village_admin")
    listed = client.get("/api/v1/join-codes", headers=village).json()
    assert [c["id"] for c in listed] == [mine["id"]]
    refused = client.post(f"/api/v1/join-codes/{theirs['id']}/revoke", headers=village)
    assert refused.status_code == 404
    assert refused.json()["error"]["code"] == "join_code_not_found"
    outside = client.post(
        "/api/v1/join-codes", json={"name": "X", "zone_id": people.other_zone}, headers=village
    )
    assert outside.status_code == 403 and outside.json()["error"]["code"] == "outside_area"
    browser, csrf = _signed_in(client, "village_admin")
    page = browser.get("/nodes/join").text
    assert f'value="{people.village_zone}"' in page
    assert f'<option value="{people.other_zone}"' not in page
    assert "Cụm thôn khác" not in page and "Cụm trong thôn" in page
    made = browser.post(
        "/nodes/join", data={"csrf": csrf, "name": "Y", "zone_id": str(people.other_zone)}
    )
    assert made.status_code == 422 and error_message("outside_area") in made.text
    browser.post(
        "/nodes/join", data={"csrf": csrf, "action": "revoke", "code_id": str(theirs["id"])}
    )
    assert {c["status"] for c in join.list_codes(db)} == {"waiting"}
