"""The audit log page in words (issue 14, should fix): each entry is a sentence naming the
official by role and name, the filter names kinds of entity in Vietnamese, and the address column
is filled for whatever was done through a request (web page or API)."""

from __future__ import annotations

import ast
from pathlib import Path

from fastapi.testclient import TestClient

from controller.web import audit_words
from tests.controller.conftest import People
from tests.controller.test_web import _db, _signed_in, _write

CONTROLLER = Path(__file__).resolve().parents[2] / "controller"


def _literal(node: ast.AST | None) -> list[str]:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [node.value]
    if isinstance(node, ast.IfExp):
        return _literal(node.body) + _literal(node.orelse)
    return []


def _actions_written() -> set[str]:
    """Every audit action the controller's code writes, read from the code: the literal
    actions of audit.record/append, the broadcast kinds _save writes, the announcement
    workflow's transitions and the node page's actions."""
    found: set[str] = set()
    for path in CONTROLLER.rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
                owner = node.func.value
                if isinstance(owner, ast.Name) and owner.id == "audit":
                    index = {"record": 2, "append": 3}.get(node.func.attr)
                    if index is not None and len(node.args) > index:
                        found.update(_literal(node.args[index]))
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
                if node.func.id == "_save" and len(node.args) > 5:
                    found.update(_literal(node.args[5]))
                if node.func.id == "_transition" and len(node.args) > 3:
                    found.update(f"announcement.{a}" for a in _literal(node.args[3]))
            if isinstance(node, ast.Assign) and any(
                isinstance(t, ast.Name) and t.id == "action" for t in node.targets
            ):
                found.update(a for a in _literal(node.value) if "." in a)
    fleet = ast.parse((CONTROLLER / "web" / "fleet.py").read_text(encoding="utf-8"))
    for node in ast.walk(fleet):
        if (
            isinstance(node, ast.Compare)
            and isinstance(node.left, ast.Name)
            and node.left.id == "action"
        ):
            for value in node.comparators:
                found.update(f"node.{a}" for a in _literal(value))
    return found


def test_every_action_the_code_writes_has_its_sentence():
    written = _actions_written()
    assert {"announcement.approve", "broadcast.create", "node.tone", "login_failed"} <= written
    assert not written - set(audit_words.ACTIONS), "give these actions words in audit_words.py"


def test_the_log_reads_as_sentences_with_the_address(client: TestClient, people: People):
    db = _db(client)
    db.execute("UPDATE users SET display_name = 'Nguyễn Văn A' WHERE username = 'editor'")
    editor, csrf = _signed_in(client, "editor")
    _write(editor, csrf, "Họp dân", "Mời bà con dự họp.")
    announcement_id = db.execute("SELECT id FROM announcements").fetchone()[0]
    # one through the API with a personal token, too
    api = client.post(
        f"/api/v1/announcements/{announcement_id}/approve", headers=people.headers("approver")
    )
    assert api.status_code == 200, api.text
    rows = db.execute("SELECT action, ip FROM audit_log ORDER BY id").fetchall()
    assert ("announcement.create", "testclient") in rows
    assert ("announcement.approve", "testclient") in rows

    admin, _ = _signed_in(client, "admin")
    page = admin.get("/audit").text
    assert f"Biên tập viên Nguyễn Văn A soạn bản tin số {announcement_id}" in page
    assert f"Người duyệt approver duyệt bản tin số {announcement_id}" in page
    assert '<option value="announcement">Bản tin</option>' in page
    assert "<td>testclient</td>" in page
    english = admin.get("/lang/en?next=/audit", follow_redirects=True).text
    assert f"Editor Nguyễn Văn A wrote announcement {announcement_id}" in english


def test_entries_without_an_official_say_who_acted():
    def _(message: str, **params: object) -> str:
        return message % params if params else message

    system = {"action": "login_failed", "actor": "system", "actor_id": None, "entity_id": "bob"}
    assert audit_words.sentence(_, system) == "Đăng nhập sai với tên «bob»"
    node = {"action": "join_code.redeem", "actor": "node:loa-01", "entity_id": "3"}
    assert audit_words.sentence(_, node) == "Cụm loa loa-01 dùng mã tham gia số 3 để thêm cụm loa"
    unknown = {"action": "x.y", "actor": "cli", "entity": "z", "entity_id": "1"}
    assert audit_words.sentence(_, unknown) == "cli: x.y z #1"
