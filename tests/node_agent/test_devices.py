"""The amplifier relay (gpiozero mock pins) and the real ALSA player backends."""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

import pytest

from loa.protocol import SchedulePut
from node_agent.amplifier import Amplifier
from node_agent.mixer import amixer_command
from node_agent.player import player_command
from node_agent.policy import Settings
from tests.node_agent.harness import item, parse_time, soon, wait_online, wav_bytes
from tests.node_agent.rig import Rig
from tests.support.net import wait_until


@pytest.fixture
def mock_pins(monkeypatch):
    monkeypatch.setenv("GPIOZERO_PIN_FACTORY", "mock")
    from gpiozero import Device
    from gpiozero.pins.mock import MockFactory

    Device.pin_factory = MockFactory()
    yield Device.pin_factory
    Device.pin_factory.reset()


def test_amplifier_warms_up_before_play_and_holds_after(tmp_path: Path, mock_pins):
    amp = Amplifier(17, hold_s=0.4)
    pin = mock_pins.pin(17)
    rig = Rig(tmp_path, Settings(warmup_s=0.5, hold_s=0.4), amp=amp)
    rig.engine.start()
    try:
        content = rig.media("amp", duration_s=0.3)
        play_at = rig.clock() + 1.0
        rig.put(item(1, content, play_at))
        on_at = wait_until(lambda: pin.state and time.time(), 5, interval=0.01, what="relay on")
        assert 0.35 < play_at - on_at < 0.65, "on a warm-up time before play"
        rig.finished(1)
        [play] = rig.plays()
        end = parse_time(play["finished_at"])
        assert pin.state, "held on after the play"
        off_at = wait_until(lambda: (not pin.state) and time.time(), 5, interval=0.01)
        assert 0.3 < off_at - end < 0.6, "off a hold time after"
    finally:
        rig.close()


def test_amplifier_stays_on_between_close_plays(mock_pins):
    amp = Amplifier(18, hold_s=0.3)
    pin = mock_pins.pin(18)
    amp.on()
    amp.release()
    time.sleep(0.1)
    amp.on()
    time.sleep(0.4)
    assert pin.state
    amp.release()
    wait_until(lambda: not pin.state, 2)
    amp.close()


def test_player_and_mixer_command_lines():
    assert player_command("aplay", "/m/x.wav", "hw:1") == ["aplay", "-q", "-D", "hw:1", "/m/x.wav"]
    assert player_command("mpg123", "/m/x")[:2] == ["mpg123", "-q"]
    assert player_command("ffplay", "http://radio/vov1")[-1] == "http://radio/vov1"
    assert amixer_command(150, "PCM", "1") == ["amixer", "-q", "-c", "1", "sset", "PCM", "100%"]


@pytest.mark.skipif(
    not (shutil.which("aplay") and shutil.which("ffmpeg")), reason="needs aplay and ffmpeg"
)
def test_agent_plays_mp3_through_aplay(node_factory, controller, media, tmp_path):
    wav = tmp_path / "tone.wav"
    wav.write_bytes(wav_bytes(0.3))
    mp3 = tmp_path / "tone.mp3"
    subprocess.run(["ffmpeg", "-loglevel", "error", "-i", str(wav), str(mp3)], check=True)
    node = node_factory(extra='backend = "aplay"\ndevice = "null"\n').start()
    wait_online(controller, node.node_id)
    content = media.content(mp3.read_bytes(), duration_s=0.3)
    play_at = soon(2.5)
    controller.send("schedule.put", node.node_id, SchedulePut(items=[item(1, content, play_at)]))
    done = controller.finished(node.node_id, 1)
    assert done["result"] == "played", done
    assert abs(parse_time(done["started_at"]) - play_at) < 0.1
    assert (node.data_dir / "media" / f"{content.sha256}.wav").exists(), "decoded ahead for aplay"
