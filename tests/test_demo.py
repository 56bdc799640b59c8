"""`loa demo` comes up on embedded defaults (amqtt broker, controller, three node processes), and
an announcement typed into the web form plays on all three demo nodes."""

from __future__ import annotations

import json
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import pytest

from tests.support.net import free_port, wait_for_port, wait_until

pytestmark = pytest.mark.slow

TOKEN = "demo-test-token-" + "d" * 16


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    port, mqtt_port = free_port(), free_port()
    log = (tmp_path / "demo.log").open("wb")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "loa",
            "demo",
            "--data-dir",
            str(tmp_path / "demo"),
            "--port",
            str(port),
            "--mqtt-port",
            str(mqtt_port),
            "--token",
            TOKEN,
            "--tick",
            "0.5",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        wait_for_port(port, timeout=30)
        yield f"http://127.0.0.1:{port}", tmp_path / "demo"
    finally:
        proc.terminate()
        try:
            rc = proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            rc = proc.wait()
        print((tmp_path / "demo.log").read_text(errors="replace")[-6000:])
    assert rc == 0, "the demo stops cleanly"


def _csrf(html: str) -> str:
    match = re.search(r'name="csrf" value="([^"]+)"', html)
    assert match, html
    return match.group(1)


def test_a_broadcast_typed_into_the_web_form_plays_on_the_three_demo_nodes(demo):
    url, data_dir = demo
    login = json.loads((data_dir / "login.json").read_text())
    editor = next(a for a in login["accounts"] if a["role"] == "editor")
    with httpx.Client(base_url=url, timeout=30, follow_redirects=False) as web:
        wait_until(
            lambda: all(
                n["online"]
                for n in web.get(
                    "/api/v1/nodes", headers={"Authorization": f"Bearer {TOKEN}"}
                ).json()
            ),
            timeout=30,
            what="three demo nodes online",
        )
        page = web.get("/login")
        response = web.post(
            "/login",
            data={
                "csrf": _csrf(page.text),
                "username": editor["username"],
                "password": editor["password"],
            },
        )
        assert response.status_code == 303, response.text
        # The editor writes the announcement and submits it for approval.
        form = web.get("/announcements/new")
        assert "Bản tin" in form.text
        response = web.post(
            "/announcements/new",
            data={
                "csrf": _csrf(form.text),
                "title": "Họp dân",
                "text": "Mời bà con thôn Lạc Xuân họp lúc 19h00 tối nay tại nhà văn hóa.",
                "category": "thong_bao",
                "priority": "normal",
                "voice": "auto|",
                "action": "submit",
            },
        )
        assert response.status_code == 303, response.text
        announcement_id = int(response.headers["location"].split("/")[2].split("?")[0])
        # Someone else approves it (the demo's admin, through the API).
        approved = web.post(
            f"/api/v1/announcements/{announcement_id}/approve",
            headers={"Authorization": f"Bearer {TOKEN}"},
        )
        assert approved.status_code == 200, approved.text
        # The editor schedules it for the whole commune a few seconds ahead.
        form = web.get(f"/schedule/new?announcement_id={announcement_id}")
        commune = re.search(r'name="zone_ids" value="(\d+)"', form.text)
        assert commune, form.text
        play_at = (datetime.now(UTC) + timedelta(seconds=8)).astimezone(
            ZoneInfo("Asia/Ho_Chi_Minh")
        )
        response = web.post(
            "/schedule/new",
            data={
                "csrf": _csrf(form.text),
                "announcement_id": str(announcement_id),
                "zone_ids": commune.group(1),
                "kind": "once",
                "play_at": play_at.strftime("%Y-%m-%dT%H:%M:%S"),
                "repeats": "1",
                "priority": "",
            },
        )
        assert response.status_code == 303, response.text
        broadcast_id = int(response.headers["location"].split("/")[2].split("?")[0])

    wait_until(
        lambda: len(list((data_dir / "nodes").glob("*/plays.jsonl"))) == 3,
        timeout=40,
        what="three demo sinks",
    )
    sinks = sorted((data_dir / "nodes").glob("*/plays.jsonl"))
    plays = [json.loads(s.read_text().splitlines()[0]) for s in sinks]
    assert {p["node"] for p in plays} == {"lac-xuan-1", "lac-binh-1", "dong-thanh-1"}
    assert {p["broadcast"] for p in plays} == {broadcast_id}
    assert len({p["sha256"] for p in plays}) == 1


def test_the_demo_output_is_what_a_newcomer_needs(demo, tmp_path: Path) -> None:
    """The first screen names the web address, the logins and how to hear a play; the broker's
    and the scheduler's routine lines stay out of it (they need ``-v``)."""
    url, _ = demo
    with httpx.Client(base_url=url, timeout=30) as api:
        wait_until(
            lambda: all(
                n["online"]
                for n in api.get(
                    "/api/v1/nodes", headers={"Authorization": f"Bearer {TOKEN}"}
                ).json()
            ),
            timeout=30,
            what="three demo nodes online",
        )
    time.sleep(2)  # a few scheduler ticks (0.5 s) and broker sessions
    text = (tmp_path / "demo.log").read_text(errors="replace")
    assert url in text and "bientap" in text and "duyet" in text
    welcome = text.index("Loa demo đang chạy")
    assert welcome > text.index("Application startup complete"), "shown once the page answers"
    assert "plays.jsonl" in text and "--speakers" in text
    assert "transitions.core" not in text, "the embedded broker's internals"
    assert "amqtt" not in text
    assert "Running job" not in text and "executed successfully" not in text


def test_a_port_in_use_gives_one_line_naming_the_flag(tmp_path: Path) -> None:
    port = free_port()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", port))
        taken.listen()
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "loa",
                "demo",
                "--data-dir",
                str(tmp_path / "demo"),
                "--port",
                str(free_port()),
                "--mqtt-port",
                str(port),
            ],
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert str(port) in lines[0] and "--mqtt-port" in lines[0]
    assert not (tmp_path / "demo").exists(), "nothing is prepared for a demo that cannot start"


def test_speakers_switch_the_demo_nodes_player_and_back(tmp_path: Path) -> None:
    from controller.demo import node_config, set_player

    config = tmp_path / "node.toml"
    config.write_text(node_config("n1", "s3cret", tmp_path, "mqtt://127.0.0.1:1", "pk"))
    config.chmod(0o644)
    set_player(config, speakers=True)
    assert 'backend = "auto"' in config.read_text() and "s3cret" in config.read_text()
    assert config.stat().st_mode & 0o777 == 0o600, "the rewritten config keeps its secret private"
    set_player(config, speakers=False)
    assert 'backend = "file"' in config.read_text()


def test_a_port_left_in_time_wait_is_free_for_the_demo() -> None:
    """A port whose last connection is closing (TIME_WAIT, after a previous run) is not in use:
    the servers bind it with SO_REUSEADDR, and so does the check."""
    from controller.demo import busy_port

    port = free_port()
    server = socket.socket()
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(("127.0.0.1", port))
    server.listen()
    client = socket.create_connection(("127.0.0.1", port))
    accepted, _ = server.accept()
    accepted.close()  # the server's side closes first: its port goes to TIME_WAIT
    client.close()
    server.close()
    assert busy_port({port: "--port"}) is None
    with socket.socket() as listening:
        listening.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listening.bind(("127.0.0.1", port))
        listening.listen()
        assert "--port" in (busy_port({port: "--port"}) or ""), "a listening port is in use"
