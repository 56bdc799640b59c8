"""A speaker cluster joins with one command (docs/node.md), on real parts.

A real controller process makes a join code; the real install script, fetched from that
controller with ``curl -fsSL …/node/install.sh | sh -s -- CODE`` exactly as a technician types
it, runs against a temporary root (``LOA_ROOT``, for tests only) with stand-ins on PATH for what
would change this machine — ``apt-get``, ``apt-cache`` (answers "no python3-lgpio", as on plain
Debian), ``systemctl``, ``useradd``, ``chown`` — which record their calls. Everything else is
real: the venv (``python -m venv --system-site-packages``), the ``loa`` wheel the controller built
from this tree and served, ``pip``, the redeemed bundle, ``loa node provision``, the systemd
unit's text. What the Pi's registry would give it — only the distributions ``loa[node]``
declares and what they need, taken from this checkout's venv — is offered to the new venv
through a ``.pth`` file by the stand-in Python's ``-m venv`` (pip runs with ``PIP_NO_INDEX=1``:
nothing is downloaded; loa is not among them, so the only loa the node has is the served wheel,
and a dependency the wheel forgot to declare would fail the agent here). Then the agent is
started as the unit's ``ExecStart`` says (with the file sink, as the demo's nodes use), comes
online, and plays a broadcast.
"""

from __future__ import annotations

import json
import os
import shlex
import sqlite3
import subprocess
import sys
import sysconfig
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from importlib import metadata
from pathlib import Path

import httpx
import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

import loa
from controller.core.messages import error_message
from controller.domain import zones
from tests.support.broker import Mosquitto
from tests.support.net import wait_until
from tests.support.system import EDITOR_TOKEN, Commune, Process

pytestmark = pytest.mark.slow

RECORDED = ("apt-get", "apt-cache", "systemctl", "useradd", "chown")
OS_RELEASE = 'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nID=debian\nVERSION_ID="12"\n'
#: The venv has its own (and loa is the served wheel).
_NOT_SYSTEM = {"loa", "pip", "setuptools"}


@pytest.fixture
def commune(tmp_path: Path, mosquitto: Mosquitto) -> Iterator[Commune]:
    c = Commune(tmp_path / "commune", mosquitto.url)
    try:
        yield c
    finally:
        c.stop()
        print(c.logs())


def node_dependencies() -> set[str]:
    """What ``loa[node]`` needs, all the way down (the distributions pip would fetch)."""
    todo = [Requirement(r) for r in metadata.requires("loa") or []]
    todo = [r for r in todo if r.marker is None or r.marker.evaluate({"extra": "node"})]
    needed: set[str] = set()
    while todo:
        requirement = todo.pop()
        name = canonicalize_name(requirement.name)
        if name in needed or name in _NOT_SYSTEM:
            continue
        needed.add(name)
        for text in metadata.requires(name) or []:
            more = Requirement(text)
            if more.marker is None or more.marker.evaluate({"extra": ""}):
                todo.append(more)
    return needed


@pytest.fixture(scope="module")
def system_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The node's third-party packages — only those ``loa[node]`` declares, and what they need
    — taken from this checkout's venv, as a Pi's registry would give them."""
    farm = tmp_path_factory.mktemp("system-site")
    site = Path(sysconfig.get_paths()["purelib"])
    for name in node_dependencies():
        files = metadata.distribution(name).files or []
        for top in {f.parts[0] for f in files} - {"..", "__pycache__"}:
            if not (farm / top).exists():
                (farm / top).symlink_to(site / top)
    return farm


@pytest.fixture
def stand_ins(tmp_path: Path, system_site: Path) -> Path:
    """A bin folder of recording stand-ins, and a ``python3`` whose ``-m venv`` links the
    system site packages."""
    bin_dir = tmp_path / "stand-ins"
    bin_dir.mkdir()
    calls = tmp_path / "calls.log"
    for name in RECORDED:
        status = 1 if name == "apt-cache" else 0
        script = bin_dir / name
        script.write_text(f'#!/bin/sh\necho "{name} $*" >> "{calls}"\nexit {status}\n')
        script.chmod(0o755)
    python = bin_dir / "python3"
    python.write_text(
        f"""#!/bin/sh
if [ "$1" = "-m" ] && [ "$2" = "venv" ]; then
    "{sys.executable}" "$@" || exit $?
    for target; do :; done
    site=$("$target/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
    echo "{system_site}" > "$site/system-site-packages.pth"
    exit 0
fi
exec "{sys.executable}" "$@"
"""
    )
    python.chmod(0o755)
    return bin_dir


def _calls(tmp_path: Path) -> list[str]:
    log = tmp_path / "calls.log"
    return log.read_text().splitlines() if log.exists() else []


def _fresh_root(tmp_path: Path, name: str) -> Path:
    root = tmp_path / name
    (root / "etc").mkdir(parents=True)
    (root / "etc" / "os-release").write_text(OS_RELEASE)
    return root


def _type_on_the_pi(command: str, root: Path, stand_ins: Path) -> subprocess.CompletedProcess[str]:
    """The one line, as typed (without ``sudo``: the test runs as its own user)."""
    assert command.startswith("curl -fsSL ") and " | sudo sh -s -- " in command
    line = command.replace("| sudo sh", "| sh")
    env = {
        **os.environ,
        "PATH": f"{stand_ins}:/usr/local/bin:/usr/bin:/bin",
        "LOA_ROOT": str(root),
        "LOA_PYTHON": str(stand_ins / "python3"),
        "PIP_NO_INDEX": "1",
    }
    for key in ("VIRTUAL_ENV", "PYTHONPATH"):
        env.pop(key, None)
    return subprocess.run(["sh", "-c", line], capture_output=True, text=True, env=env, timeout=300)


def _files(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


def _code(api: httpx.Client, code_id: int) -> dict:
    return next(c for c in api.get("/api/v1/join-codes").json() if c["id"] == code_id)


def _code_status(api: httpx.Client, code_id: int) -> str:
    return str(_code(api, code_id)["status"])


def test_a_cluster_joins_with_one_command_and_plays(
    commune: Commune, stand_ins: Path, tmp_path: Path
) -> None:
    with commune.store.transaction() as db:
        zone = zones.add_zone(db, "Thôn Đồng Mới", "village", parent_id=commune.seeded.commune_id)
    commune.start_controller()
    api = commune.api()

    made = api.post("/api/v1/join-codes", json={"name": "Cụm loa Đồng Mới", "zone_id": zone})
    assert made.status_code == 201, made.text
    joining = made.json()
    assert joining["node_id"] == "cum-loa-dong-moi"
    assert joining["command"] == (
        f"curl -fsSL {commune.url}/node/install.sh | sudo sh -s -- {joining['code']}"
    )
    assert _code_status(api, joining["id"]) == "waiting"
    stored = sqlite3.connect(commune.settings.db_path)
    assert joining["code"] not in json.dumps(stored.execute("SELECT * FROM join_codes").fetchall())

    root = _fresh_root(tmp_path, "pi")
    done = _type_on_the_pi(joining["command"], root, stand_ins)
    assert done.returncode == 0, done.stderr
    calls = _calls(tmp_path)
    assert "apt-cache show python3-lgpio" in calls
    assert "apt-get install -y -q python3-venv mpg123 alsa-utils chrony" in calls
    assert any(c.startswith("useradd --system ") and c.endswith(" loa") for c in calls)
    assert calls[-3:] == [
        "systemctl daemon-reload",
        "systemctl enable loa-node",
        "systemctl restart loa-node",
    ]
    conf = root / "etc/loa-node/node.toml"
    assert 'node_id = "cum-loa-dong-moi"' in conf.read_text()
    assert conf.stat().st_mode & 0o777 == 0o600
    assert not (root / "etc/loa-node/join-bundle.json").exists()
    assert _code_status(api, joining["id"]) == "joined"
    assert _code(api, joining["id"])["first_online"] is None
    # the node's loa is the served wheel, not this checkout
    where = subprocess.run(
        [str(root / "opt/loa/bin/python"), "-c", "import loa; print(loa.__file__)"],
        capture_output=True,
        text=True,
        check=True,
        cwd=tmp_path,  # not this checkout's folder
        env={k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")},
    ).stdout
    assert where.startswith(str(root / "opt/loa/lib/"))

    # the file sink, as the demo's nodes use (a Pi's own local setting: kept by re-runs)
    conf.write_text(conf.read_text() + '\n[player]\nbackend = "file"\nmixer_control = ""\n')
    before = conf.read_text()
    rerun = _type_on_the_pi(
        f"curl -fsSL {commune.url}/node/install.sh | sudo sh -s -- ", root, stand_ins
    )
    assert rerun.returncode == 0, rerun.stderr
    assert "giữ nguyên danh tính" in rerun.stderr
    assert conf.read_text() == before
    assert _calls(tmp_path)[-1] == "systemctl restart loa-node"

    unit = (root / "etc/systemd/system/loa-node.service").read_text()
    exec_start = next(line for line in unit.splitlines() if line.startswith("ExecStart="))
    argv = shlex.split(exec_start.removeprefix("ExecStart="))
    assert argv == [str(root / "opt/loa/bin/loa"), "node", "--config", str(conf)]
    agent = Process("cum-loa-dong-moi", argv, tmp_path / "agent.log")
    agent.start()
    commune.processes.append(agent)
    wait_until(
        lambda: _code_status(api, joining["id"]) == "online", timeout=30, what="the node online"
    )

    assert _code(api, joining["id"])["first_online"] is not None
    reported = api.get("/api/v1/nodes/cum-loa-dong-moi").json()
    assert reported["version"] == loa.__version__ and reported["zone_id"] == zone

    announcement_id = commune.approved_announcement("Họp thôn", "Tối nay họp thôn lúc bảy giờ.")
    with commune.api(EDITOR_TOKEN) as editor:
        made = editor.post(
            "/api/v1/broadcasts",
            json={
                "announcement_id": announcement_id,
                "zone_ids": [zone],
                "starts_at": (datetime.now(UTC) + timedelta(seconds=4)).isoformat(),
            },
        )
        assert made.status_code == 201, made.text
        broadcast = made.json()
    sink = root / "var/lib/loa-node/plays.jsonl"

    def played() -> bool:
        lines = sink.read_text().splitlines() if sink.exists() else []
        return any(json.loads(line)["result"] == "played" for line in lines)

    wait_until(played, timeout=40, interval=0.25, what="the broadcast played on the joined node")
    play = json.loads(sink.read_text().splitlines()[-1])
    assert play["broadcast"] == broadcast["id"]
    assert play["node"] == "cum-loa-dong-moi"


def test_a_bad_code_says_so_in_one_line_and_installs_nothing(
    commune: Commune, stand_ins: Path, tmp_path: Path
) -> None:
    with commune.store.transaction() as db:
        zone = zones.add_zone(db, "Thôn Bãi Bồi", "village", parent_id=commune.seeded.commune_id)
    commune.start_controller()
    api = commune.api()

    def code(name: str) -> dict:
        made = api.post("/api/v1/join-codes", json={"name": name, "zone_id": zone})
        assert made.status_code == 201, made.text
        return made.json()

    used = code("Bãi Bồi 1")
    assert httpx.post(f"{commune.url}/api/v1/join", json={"code": used["code"]}).status_code == 200
    revoked = code("Bãi Bồi 2")
    assert api.post(f"/api/v1/join-codes/{revoked['id']}/revoke").status_code == 200
    expired = code("Bãi Bồi 3")
    with sqlite3.connect(commune.settings.db_path) as db:
        db.execute(
            "UPDATE join_codes SET expires_at = '2026-01-01T00:00:00.000Z' WHERE id = ?",
            [expired["id"]],
        )
    waiting = code("Bãi Bồi 4")
    last = waiting["code"][-1]
    mistyped = waiting["command"][:-1] + ("A" if last != "A" else "B")

    cases = [
        ("used", used["command"], "join_code_used"),
        ("revoked", revoked["command"], "join_code_revoked"),
        ("expired", expired["command"], "join_code_expired"),
        ("mistyped", mistyped, "join_code_invalid"),
    ]
    for name, command, error in cases:
        root = _fresh_root(tmp_path, name)
        done = _type_on_the_pi(command, root, stand_ins)
        assert done.returncode != 0, name
        assert done.stderr.splitlines() == [f"loa: {error_message(error)}"], name
        assert _calls(tmp_path) == [], name
        assert _files(root) == {"etc", "etc/os-release"}, name
    # Not Debian: refused before the code is spent.
    root = _fresh_root(tmp_path, "fedora")
    (root / "etc" / "os-release").write_text('ID=fedora\nVERSION_ID="41"\n')
    done = _type_on_the_pi(waiting["command"], root, stand_ins)
    assert done.returncode != 0
    assert len(done.stderr.splitlines()) == 1 and "Debian 12" in done.stderr
    assert _calls(tmp_path) == [] and _files(root) == {"etc", "etc/os-release"}
    assert _code_status(api, waiting["id"]) == "waiting"
