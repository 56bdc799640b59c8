"""Issue 12, requests: bodies are limited before they are parsed (finding 8), and the sign-in
limits count the connection's own address unless a configured proxy forwarded it (finding 7).

Where body streaming and forwarded headers matter, the controller is a real ``python -m loa
controller`` process (uvicorn) on a real SQLite file; the rest uses the app in process.
"""

from __future__ import annotations

import os
import re
import socket
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from controller.core.db import Store
from controller.core.settings import Settings
from controller.domain.seed import seed_commune
from controller.domain.users import create_user
from tests.controller.conftest import People
from tests.controller.test_web import _browser, _csrf, _login, _signed_in
from tests.support.net import free_port, wait_for_port
from tests.support.system import Process

PASSWORD = "mat-khau-can-bo-1"
#: Each running controller's process id, by its temporary directory.
spool_of: dict[str, int] = {}


def _controller(tmp_path: Path, **env: str) -> Iterator[tuple[str, Path, Store]]:
    """A real controller process (no broker: it keeps retrying, the web side serves)."""
    settings = Settings(data_dir=tmp_path / "controller")
    store = Store(settings.db_path)
    seed_commune(store)
    create_user(store.db, "can-bo", PASSWORD, "editor")
    spool = tmp_path / "tmp"
    spool.mkdir()
    port = free_port()
    proc = Process(
        "controller",
        [
            sys.executable,
            "-m",
            "loa",
            "controller",
            "--data-dir",
            str(settings.data_dir),
            "--port",
            str(port),
            "--mqtt-url",
            f"mqtt://127.0.0.1:{free_port()}",
        ],
        tmp_path / "controller.log",
        env={"TMPDIR": str(spool), **env},
    )
    proc.start()
    try:
        wait_for_port(port, timeout=30)
        assert proc.popen is not None
        spool_of[str(spool)] = proc.popen.pid
        yield f"http://127.0.0.1:{port}", spool, store
    finally:
        proc.stop()


@pytest.fixture
def controller(tmp_path: Path) -> Iterator[tuple[str, Path, Store]]:
    yield from _controller(tmp_path)


def _spooled(pid: int, spool: Path) -> int:
    """Bytes in the files the process holds open in ``spool`` (Python's temporary files there
    are unnamed, O_TMPFILE: only the process's descriptors show them)."""
    total = 0
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            if os.readlink(fd).startswith(str(spool)):
                total += fd.stat().st_size
        except OSError:
            continue
    return total


# --- finding 8: bodies are limited before parsing -----------------------------------------------


def test_a_huge_anonymous_sign_in_body_is_refused_before_it_is_spooled(controller):
    base, spool, _ = controller
    port = int(base.rsplit(":", 1)[1])
    peak = 0
    sending = True

    def watch() -> None:
        nonlocal peak
        while sending:
            peak = max(peak, _spooled(spool_of[str(spool)], spool))
            time.sleep(0.01)

    watcher = threading.Thread(target=watch)
    watcher.start()
    boundary = "loa-boundary"
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="x.bin"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n"
    ).encode()
    chunk = b"\0" * (256 * 1024)
    sent = 0
    answer = b""
    with socket.create_connection(("127.0.0.1", port), timeout=20) as conn:
        conn.sendall(
            b"POST /login HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n"
            + f"Content-Type: multipart/form-data; boundary={boundary}\r\n\r\n".encode()
        )
        try:
            conn.sendall(b"%x\r\n%s\r\n" % (len(head), head))
            while sent < 40 * 1024 * 1024:  # 40 MB, the old code spooled all of it
                conn.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                sent += len(chunk)
            conn.sendall(b"0\r\n\r\n")
        except OSError:
            pass  # the server answered and closed while we were still sending
        try:
            while data := conn.recv(65536):
                answer += data
                if b"\r\n\r\n" in answer and b"}" in answer:
                    break
        except OSError:
            pass
    sending = False
    watcher.join()
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert b'"body_too_large"' in answer
    assert peak < 2 * 1024 * 1024, f"{peak} bytes spooled"


def test_a_declared_huge_body_is_refused_without_waiting_for_it(controller):
    base, _, _ = controller
    port = int(base.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=5) as conn:
        conn.sendall(
            b"POST /logout HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 524288000\r\n"
            b"Content-Type: application/x-www-form-urlencoded\r\n\r\n"
        )
        answer = conn.recv(65536)  # no body sent at all: the answer must not wait for it
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]


def test_api_json_bodies_are_small(client: TestClient):
    text = "a" * (2 * 1024 * 1024)
    response = client.post("/api/v1/announcements", json={"title": "t", "text": text})
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "body_too_large"


def test_only_a_signed_in_official_may_send_an_upload_sized_body(
    client: TestClient, people: People
):
    audio = ("loi-noi.wav", b"RIFF" + b"\0" * (3 * 1024 * 1024), "audio/wav")
    anonymous = _browser(client).post(
        "/announcements/new", data={"title": "t"}, files={"audio": audio}
    )
    assert anonymous.status_code == 413
    browser, csrf = _signed_in(client, "editor")
    fields = {"csrf": csrf, "title": "Tin", "text": "", "category": "thong_bao"}
    signed = browser.post("/announcements/new", data=fields, files={"audio": audio})
    assert signed.status_code != 413, signed.text  # checked as audio (not audio: 422)
    assert signed.status_code == 422


# --- finding 7: whose address the sign-in limits count ------------------------------------------


def _fail_login(base: str, username: str, forwarded: str | None) -> int:
    with httpx.Client(base_url=base, follow_redirects=False) as http:
        page = http.get("/login")
        csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)
        assert csrf
        headers = {"X-Forwarded-For": forwarded} if forwarded else {}
        data = {"csrf": csrf.group(1), "username": username, "password": "sai-mat-khau-00"}
        return http.post("/login", data=data, headers=headers).status_code


def test_forwarded_for_from_an_untrusted_peer_is_ignored(controller):
    base, _, store = controller
    for i in range(20):  # a guesser rotating X-Forwarded-For over 20 user names
        assert _fail_login(base, f"nguoi-{i}", f"203.0.113.{i}") == 401
    addresses = {r[0] for r in store.db.execute("SELECT ip FROM login_attempts")}
    assert addresses == {"127.0.0.1"}
    assert _fail_login(base, "nguoi-0", "203.0.113.99") == 429


def test_forwarded_for_from_a_trusted_proxy_is_believed(tmp_path: Path):
    for base, _, store in _controller(tmp_path, LOA_TRUSTED_PROXIES="127.0.0.1"):
        assert _fail_login(base, "nguoi", "203.0.113.7") == 401
        addresses = [r[0] for r in store.db.execute("SELECT ip FROM login_attempts")]
        assert addresses == ["203.0.113.7"]


def test_others_failures_from_the_same_address_do_not_lock_out_a_correct_password(
    client: TestClient, people: People
):
    for i in range(25):  # another official (or a guesser) behind the commune office's NAT
        response = _login(_browser(client), f"khong-co-{i % 7}", "sai-mat-khau-000")
        assert response.status_code in (401, 429)
    assert _login(_browser(client), "editor").status_code == 303
    # the address's limit still holds for the names that failed from it
    assert _login(_browser(client), "khong-co-1", "sai-mat-khau-000").status_code == 429
    assert _csrf
