"""Red-team low finding (issue 12): stream-source checks could probe internal addresses and
ports, and answered with the library's raw error text. Targets in the controller's own network
are refused unless the deployment allows them (``stream_allowed_hosts``); failures read as kinds.
Real controller app, real SQLite, real HTTP servers on loopback."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from controller.app import create_app
from controller.core.db import insert
from controller.core.settings import Settings
from controller.domain.seed import seed_commune
from controller.domain.users import create_token
from tests.support.net import free_port

ADMIN = "redteam-admin-" + "s" * 20


def _app(tmp_path: Path, allowed: tuple[str, ...]) -> Iterator[TestClient]:
    # the default settings allow no internal target (nothing passed for the strict case)
    extra = {"stream_allowed_hosts": allowed} if allowed else {}
    settings = Settings(data_dir=tmp_path / "controller", **extra)  # type: ignore[arg-type]
    app = create_app(settings, start_services=False)
    db = app.state.runtime.store.db
    create_token(db, "admin", role="admin", token=ADMIN)
    seed_commune(app.state.runtime.store)
    with TestClient(app, headers={"Authorization": f"Bearer {ADMIN}"}) as client:
        yield client


@pytest.fixture
def strict(tmp_path: Path) -> Iterator[TestClient]:
    """The default: no internal target allowed."""
    yield from _app(tmp_path, ())


@pytest.fixture
def only_one_loopback(tmp_path: Path) -> Iterator[TestClient]:
    yield from _app(tmp_path, ("127.0.0.1",))


class _Redirect(http.server.BaseHTTPRequestHandler):
    target = ""

    def do_GET(self) -> None:
        self.send_response(302)
        self.send_header("Location", self.target)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def redirector() -> Iterator[str]:
    """A server on 127.0.0.1 that redirects to another loopback address's port."""
    handler = type("Redirect", (_Redirect,), {"target": f"http://127.0.0.2:{free_port()}/x"})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/radio.mp3"
    server.shutdown()


def _add(client: TestClient, url: str) -> tuple[int, dict]:
    made = client.post(
        "/api/v1/stream-sources", json={"name": "Đài", "url": url, "accept_unhealthy": True}
    )
    return made.status_code, made.json()


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:6379/admin",  # a fixed id: xdist workers collect the same tests
        "http://localhost:22/",
        "http://169.254.169.254/latest/meta-data/",
        "http://10.0.0.1:8080/",
        "http://192.168.1.1/",
        "http://[::1]:1883/",
        "http://0.0.0.0:8080/",
    ],
)
def test_an_internal_target_is_refused_by_default(strict: TestClient, url: str):
    status, body = _add(strict, url)
    assert status == 422, body
    assert body["error"]["code"] == "stream_target_forbidden" and body["error"]["field"] == "url"
    db = strict.app.state.runtime.store.db  # type: ignore[attr-defined]
    assert db.execute("SELECT COUNT(*) FROM stream_sources").fetchone()[0] == 0


def test_a_saved_internal_source_is_not_probed_again_by_any_role(strict: TestClient):
    db = strict.app.state.runtime.store.db  # type: ignore[attr-defined]
    viewer = create_token(db, "viewer", role="viewer")
    source_id = insert(
        db, "stream_sources", {"name": "Cũ", "url": f"http://127.0.0.1:{free_port()}/"}
    )
    checked = strict.post(
        f"/api/v1/stream-sources/{source_id}/check",
        headers={"Authorization": f"Bearer {viewer}"},
    )
    assert checked.status_code == 422
    assert checked.json()["error"]["code"] == "stream_target_forbidden"


def test_a_redirect_into_the_network_is_refused_too(only_one_loopback: TestClient, redirector):
    status, body = _add(only_one_loopback, redirector)
    assert status == 422 and body["error"]["code"] == "stream_target_forbidden", body


def test_an_allowed_host_is_checked_and_the_answer_names_the_kind_of_failure_only(
    only_one_loopback: TestClient,
):
    status, body = _add(only_one_loopback, f"http://127.0.0.1:{free_port()}/vov1.mp3")
    assert status == 201, body
    assert body["health"]["reachable"] is False
    assert body["health"]["error"] == "ConnectError: Connection refused"
