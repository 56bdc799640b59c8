"""Small pure pieces: reconnect backoff, config validation, telemetry parsing, quiet hours."""

from __future__ import annotations

import random
from datetime import UTC, datetime
from pathlib import Path

import pytest

from node_agent.config import ConfigError, load_config
from node_agent.connection import Backoff
from node_agent.policy import in_quiet_hours, load_tz, over_hourly_limit
from node_agent.telemetry import parse_chronyc_tracking, signal_dbm


def test_backoff_grows_to_its_cap_with_jitter_and_resets():
    b = Backoff(1.0, 8.0, random.Random(1))
    delays = [b.next() for _ in range(6)]
    for n, d in enumerate(delays):
        base = min(8.0, 2**n)
        assert base <= d <= base * 1.5
    assert len({round(d, 6) for d in delays[3:]}) > 1, "jittered, not lockstep"
    b.reset()
    assert 1.0 <= b.next() <= 1.5


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "node.toml"
    p.write_text(text)
    return p


BASE = 'node_id = "lac-xuan-1"\ndata_dir = "data"\ncontroller_public_key = "k"\n'


def test_config_defaults_and_relative_data_dir(tmp_path):
    cfg = load_config(write(tmp_path, BASE + '[mqtt]\nurl = "mqtts://loa.example.vn"\n'))
    assert cfg.data_dir == tmp_path / "data"
    assert cfg.username == "lac-xuan-1" and cfg.mqtt.tls and cfg.mqtt.port == 8883
    assert cfg.player.backend == "auto" and cfg.sink_file == tmp_path / "data" / "plays.jsonl"
    assert cfg.amplifier.gpio_pin is None and cfg.heartbeat_s == 30


@pytest.mark.parametrize(
    "extra, message",
    [
        ("[mqtt]\nurl = 'http://x'\n", "scheme"),
        ("[player]\nbackend = 'alsa'\n", "backend"),
        ("[mqtt]\npasword = 'typo'\n", "unknown"),
        ("colour = 'red'\n", "unknown"),
    ],
)
def test_config_refuses_mistakes(tmp_path, extra, message):
    with pytest.raises(ConfigError, match=message):
        load_config(write(tmp_path, BASE + extra))


def test_config_needs_identity(tmp_path):
    with pytest.raises(ConfigError, match="controller_public_key"):
        load_config(write(tmp_path, 'node_id = "a"\ndata_dir = "d"\n'))


def test_chronyc_tracking_is_read():
    text = (
        "Reference ID    : C0A80001 (router)\n"
        "System time     : 0.000123456 seconds slow of NTP time\n"
        "Leap status     : Normal\n"
    )
    assert parse_chronyc_tracking(text) == (True, -0.123)
    assert parse_chronyc_tracking("Leap status : Not synchronised\n") == (False, None)


def test_wifi_signal_is_read(tmp_path):
    f = tmp_path / "wireless"
    f.write_text(
        "Inter-| sta-|   Quality        |   Discarded packets\n"
        " face | tus | link level noise |  nwid  crypt   frag\n"
        " wlan0: 0000   54.  -56.  -256        0      0      0\n"
    )
    assert signal_dbm(f) == -56.0
    assert signal_dbm(tmp_path / "absent") is None


def test_quiet_hours_cross_midnight_in_local_time():
    tz = load_tz("Asia/Ho_Chi_Minh")
    at = lambda h, m: datetime(2026, 11, 27, h, m, tzinfo=UTC).timestamp()  # noqa: E731
    night = ("22:00", "05:00")
    assert in_quiet_hours(night, at(15, 30), tz)  # 22:30 in Vietnam
    assert in_quiet_hours(night, at(21, 0), tz)  # 04:00
    assert not in_quiet_hours(night, at(22, 0), tz)  # 05:00: over
    assert not in_quiet_hours(night, at(1, 0), tz)  # 08:00
    assert not in_quiet_hours(None, at(15, 30), tz)


def test_hourly_limit():
    assert not over_hourly_limit(0, 10_000, 60), "0 means no limit"
    assert not over_hourly_limit(10, 540, 60)
    assert over_hourly_limit(10, 541, 60)


def test_volume_is_set_with_amixer_only_when_it_changes(tmp_path, monkeypatch):
    from node_agent import mixer

    calls = tmp_path / "calls"
    fake = tmp_path / "bin" / "amixer"
    fake.parent.mkdir()
    fake.write_text(f'#!/bin/sh\necho "$@" >> {calls}\n')
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{fake.parent}:/usr/bin:/bin")
    monkeypatch.setattr(mixer, "_last", {})
    assert mixer.set_volume(70, "Master")
    assert mixer.set_volume(70, "Master")
    assert mixer.set_volume(40, "Master", "1")
    assert calls.read_text().splitlines() == ["-q sset Master 70%", "-q -c 1 sset Master 40%"]
    assert not mixer.set_volume(50, "")
