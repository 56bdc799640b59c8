"""Link quality of a 3G/4G modem, read from ModemManager's ``mmcli``. By contract: recorded
``mmcli -J`` outputs of real modems (a Telit LE910C4 on LTE, Huawei sticks on 3G) are printed
by a stand-in ``mmcli`` on PATH; plus no modem, ModemManager not running, and no mmcli at all."""

from __future__ import annotations

import json
import os
import shutil
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from loa.protocol import CellularLink, Telemetry, parse_model
from node_agent import telemetry
from tests.node_agent.harness import wait_online
from tests.support.net import wait_until

SAMPLES = Path(__file__).parent / "mmcli"


def install_fake_mmcli(
    tmp_path: Path, list_: str | None, modem: str | None = None, signal: str | None = None
) -> tuple[dict[str, str], Path]:
    """A bin directory with an ``mmcli`` answering from the named sample files; the
    environment to run with it, and the log of its calls."""
    samples = tmp_path / "samples"
    samples.mkdir(parents=True, exist_ok=True)
    for part, name in (("list", list_), ("modem", modem), ("signal", signal)):
        if name is not None:
            shutil.copy(SAMPLES / name, samples / f"s.{part}.json")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    script = bin_dir / "mmcli"
    script.write_text(f"#!{sys.executable}\n" + (SAMPLES / "fake_mmcli.py").read_text())
    script.chmod(0o755)
    log = tmp_path / "mmcli.log"
    env = {
        "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
        "MMCLI_SAMPLES": str(samples),
        "MMCLI_SAMPLE": "s",
        "MMCLI_LOG": str(log),
    }
    return env, log


@pytest.fixture
def fake_mmcli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[..., Path]:
    def install(list_: str | None, modem: str | None = None, signal: str | None = None) -> Path:
        env, log = install_fake_mmcli(tmp_path, list_, modem, signal)
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        return log

    return install


def calls(log: Path) -> list[dict]:
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


def test_lte_modem_with_extended_signal(fake_mmcli):
    log = fake_mmcli("telit-lte.list.json", "telit-lte.modem.json", "telit-lte.signal.json")
    link = telemetry.cellular(max_age_s=0)
    assert link == CellularLink(
        quality_pct=75,
        access_tech="lte",
        operator="vodafone.de",
        state="connected",
        rsrp_dbm=-104.0,
        snr_db=2.0,
    ), "the LTE block only: not the 5G rsrq nor the GSM rssi"
    made = calls(log)
    modem = "/org/freedesktop/ModemManager1/Modem/0"
    assert [c["args"] for c in made] == [
        ["-L", "-J"],
        ["-m", modem, "-J"],
        ["-m", modem, "--signal-get", "-J"],
    ]
    assert {c["lc_all"] for c in made} == {"C"}


def test_3g_modem_whose_rssi_sits_in_another_block_and_a_comma_locale(fake_mmcli):
    fake_mmcli("huawei-3g.list.json", "huawei-3g.modem.json", "huawei-3g.signal.json")
    link = telemetry.cellular(max_age_s=0)
    assert link == CellularLink(
        quality_pct=67, access_tech="umts", operator="UNITEL", state="registered", rssi_dbm=-67.0
    )


def test_extended_signal_not_set_up_leaves_the_figures_null(fake_mmcli):
    fake_mmcli("huawei-3g.list.json", "huawei-3g.modem.json", "signal-not-set-up.signal.json")
    link = telemetry.cellular(max_age_s=0)
    assert link is not None
    assert (link.quality_pct, link.access_tech, link.operator) == (67, "umts", "UNITEL")
    assert link.rssi_dbm is link.rsrp_dbm is link.rsrq_db is link.snr_db is None


def test_signal_get_failing_still_reports_the_modem(fake_mmcli):
    fake_mmcli("telit-lte.list.json", "telit-lte.modem.json", None)
    link = telemetry.cellular(max_age_s=0)
    assert link is not None and link.quality_pct == 75 and link.rsrp_dbm is None


def test_a_quality_that_is_not_recent_is_not_reported():
    sample = json.loads((SAMPLES / "telit-lte.modem.json").read_text())
    sample["modem"]["generic"]["signal-quality"] = {"recent": "no", "value": "0"}
    sample["modem"]["generic"]["access-technologies"] = ["--"]
    sample["modem"]["3gpp"]["operator-name"] = "--"
    sample["modem"]["generic"]["state"] = "searching"
    assert telemetry.parse_mmcli_modem(json.dumps(sample)) == {"state": "searching"}


def test_no_modem(fake_mmcli):
    log = fake_mmcli("none.list.json")
    assert telemetry.cellular(max_age_s=0) is None
    assert [c["args"] for c in calls(log)] == [["-L", "-J"]]


def test_modem_manager_not_running(fake_mmcli):
    log = fake_mmcli(None)  # mmcli exits 1
    assert telemetry.cellular(max_age_s=0) is None
    assert len(calls(log)) == 1


def test_no_mmcli_installed(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    monkeypatch.setenv("PATH", str(tmp_path))
    assert telemetry.cellular(max_age_s=0) is None


def test_garbage_is_not_a_reading():
    assert telemetry.parse_mmcli_list("error: no modems") == []
    assert telemetry.parse_mmcli_list('{"modem-list": "x"}') == []
    assert telemetry.parse_mmcli_modem("not json") == {}
    assert telemetry.parse_mmcli_modem('{"modem": {"generic": []}}') == {}
    assert (
        telemetry.parse_mmcli_signal('{"modem": {"signal": {"lte": {"rsrp": "x"}}}}', "lte") == {}
    )
    long_name = json.dumps({"modem": {"3gpp": {"operator-name": "V" * 200}, "generic": {}}})
    assert len(telemetry.parse_mmcli_modem(long_name)["operator"]) == 64


def test_the_agent_heartbeat_carries_the_cellular_link(node_factory, controller, tmp_path):
    env, _log = install_fake_mmcli(
        tmp_path / "mm", "telit-lte.list.json", "telit-lte.modem.json", "telit-lte.signal.json"
    )
    node = node_factory().start(env=env)
    wait_online(controller, node.node_id)
    beat = wait_until(lambda: controller.telemetry(node.node_id), 10, what="a heartbeat")[-1]
    assert beat["cellular"] == {
        "quality_pct": 75,
        "access_tech": "lte",
        "operator": "vodafone.de",
        "state": "connected",
        "rssi_dbm": None,
        "rsrp_dbm": -104.0,
        "rsrq_db": None,
        "snr_db": 2.0,
    }
    parsed = parse_model(Telemetry, beat)  # what the controller validates
    assert parsed.cellular is not None and parsed.cellular.quality_pct == 75


def test_without_a_modem_the_heartbeat_says_null(node_factory, controller, tmp_path):
    env, _log = install_fake_mmcli(tmp_path / "mm", "none.list.json")
    node = node_factory().start(env=env)
    wait_online(controller, node.node_id)
    beat = wait_until(lambda: controller.telemetry(node.node_id), 10, what="a heartbeat")[-1]
    assert beat["cellular"] is None
