"""A node whose disk fills up (issue 12, finding 10), with a real agent process whose data
directory is a real 2 MB tmpfs.

It used to go silent: ``database or disk is full`` in its log, no ack, still online, no alert.
Now it evicts cached media no schedule needs and tries again, refuses what it still cannot store
with ``disk_full`` and the reason (the controller fails the dispatch with it), and its heartbeat
says how much disk is free (the controller's ``disk_low`` alert).
"""

from __future__ import annotations

import contextlib
import errno
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from loa.protocol import SchedulePut, to_wire_time, utcnow
from tests.node_agent.harness import item, media_blob, soon, wait_online
from tests.support.net import wait_until

FAR = time.time() + 3 * 86400


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 2 MB tmpfs (needs root, as the test machines run)."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    mount = tmp_path / "small-disk"
    mount.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mount)], check=True)
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def _fill(directory: Path) -> Path:
    """Write a file until the disk is full; return it."""
    filler = directory / "filler"
    block = b"\0" * 4096
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        with contextlib.suppress(OSError):
            while True:
                os.write(fd, block)
    finally:
        os.close(fd)
    with pytest.raises(OSError) as exc:
        fd = os.open(directory / "probe", os.O_WRONLY | os.O_CREAT, 0o600)
        try:
            os.write(fd, block)
        finally:
            os.close(fd)
    assert exc.value.errno == errno.ENOSPC
    (directory / "probe").unlink(missing_ok=True)
    return filler


def _big_put(media, count: int = 300) -> SchedulePut:
    content = media.content(media_blob("disk"), duration_s=0.3)
    return SchedulePut(
        items=[item(b, content, FAR + b, title="t" * 200) for b in range(1, count + 1)]
    )


def _node_on(node_factory, small_disk: Path):
    node = node_factory(heartbeat_s=1)
    node.write_config()
    os.symlink(small_disk, node.data_dir)  # the agent's data directory is the small disk
    return node.start_written()


def test_a_full_disk_refuses_with_a_reason_and_reports_free_space(
    node_factory, controller, media, small_disk
):
    node = _node_on(node_factory, small_disk)
    wait_online(controller, node.node_id)
    filler = _fill(small_disk)
    env = controller.send("schedule.put", node.node_id, _big_put(media))
    ack = controller.ack(env["id"], timeout=15)
    assert not ack["ok"] and ack["code"] == "disk_full", ack
    assert "full" in ack["error"]
    assert node.alive
    # the heartbeat says the disk is full (the controller's disk_low alert reads it)
    refused_at = to_wire_time(utcnow())
    beat = wait_until(
        lambda: next(
            (t for t in reversed(controller.telemetry(node.node_id)) if t["at"] > refused_at),
            None,
        ),
        10,
        what="a heartbeat after the refusal",
    )
    assert beat["disk_free_mb"] is not None and beat["disk_free_mb"] < 0.5, beat
    # space freed: the node takes the schedule again
    filler.unlink()
    env = controller.send("schedule.put", node.node_id, _big_put(media))
    assert controller.ack(env["id"], timeout=15)["ok"]


def test_a_full_disk_evicts_cached_media_no_schedule_needs(
    node_factory, controller, media, small_disk
):
    node = _node_on(node_factory, small_disk)
    wait_online(controller, node.node_id)
    played = media.content(media_blob("played", size=600_000), duration_s=0.3)
    env = controller.send(
        "schedule.put", node.node_id, SchedulePut(items=[item(500, played, soon(1.5))])
    )
    assert controller.ack(env["id"])["ok"]
    assert controller.finished(node.node_id, 500)["result"] == "played"
    cached = small_disk / "media" / played.sha256
    assert cached.exists()
    _fill(small_disk)
    env = controller.send("schedule.put", node.node_id, _big_put(media))
    ack = controller.ack(env["id"], timeout=15)
    assert ack["ok"], ack
    assert not cached.exists(), "the played file no schedule needs was evicted"


def test_a_download_that_fills_the_disk_evicts_unneeded_media_and_still_plays(
    node_factory, controller, media, small_disk
):
    node = _node_on(node_factory, small_disk)
    wait_online(controller, node.node_id)
    played = media.content(media_blob("old", size=700_000), duration_s=0.3)
    env = controller.send(
        "schedule.put", node.node_id, SchedulePut(items=[item(600, played, soon(1.5))])
    )
    assert controller.ack(env["id"])["ok"]
    assert controller.finished(node.node_id, 600)["result"] == "played"
    filler = _fill(small_disk)
    os.truncate(filler, filler.stat().st_size - 200_000)  # room for the schedule, not the file
    new = media.content(media_blob("new", size=700_000), duration_s=0.3)
    env = controller.send(
        "schedule.put", node.node_id, SchedulePut(items=[item(601, new, soon(6), max_late_s=20)])
    )
    assert controller.ack(env["id"])["ok"]
    assert controller.finished(node.node_id, 601, timeout=30)["result"] == "played"
    assert not (small_disk / "media" / played.sha256).exists()
    assert "No space left on device" in node.log()
