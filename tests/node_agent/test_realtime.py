"""Punctual starts: plays run on threads that already wait, and those threads (and the engine's)
ask for real-time scheduling, falling back to a nice value, without ever failing."""

from __future__ import annotations

import os
import subprocess
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from node_agent.config import ConfigError, config_from_dict
from node_agent.player import FileSink
from node_agent.realtime import PlayThreads, raise_priority
from tests.node_agent.rig import Rig
from tests.support.net import wait_until

SCHED_OTHER = 0


def in_thread(fn: Callable[[], Any]) -> Any:
    """Run ``fn`` in a throwaway thread (its scheduling changes end with it)."""
    out: list[Any] = []
    t = threading.Thread(target=lambda: out.append(fn()))
    t.start()
    t.join(10)
    return out[0]


def policy_of(tid: int) -> int:
    """The scheduling policy of a thread or process, from /proc (field 41 of stat)."""
    stat = Path(f"/proc/{os.getpid()}/task/{tid}/stat")
    if not stat.exists():
        stat = Path(f"/proc/{tid}/stat")
    return int(stat.read_text().rsplit(")", 1)[1].split()[38])


def test_a_play_runs_on_a_thread_that_was_waiting_before_it_was_scheduled(tmp_path: Path):
    rig = Rig(tmp_path)
    played_on: list[threading.Thread] = []
    real_play = FileSink.play

    def play(self: FileSink, *args: Any) -> bool:
        played_on.append(threading.current_thread())
        return real_play(self, *args)

    rig.sink.play = play.__get__(rig.sink)  # type: ignore[method-assign]
    rig.engine.start()
    try:
        before = set(threading.enumerate())
        content = rig.media("pre", duration_s=0.1)
        rig.put(rig.item(1, content, 0.3), rig.item(2, content, 0.6))
        assert rig.finished(1)["result"] == "played"
        assert rig.finished(2)["result"] == "played"
        assert len(played_on) == 2
        for thread in played_on:
            assert thread in before, "a thread was started at play time"
            assert thread.name == "play"
    finally:
        rig.close()


def test_play_threads_are_reused_grow_for_overlaps_and_shrink_when_idle():
    pool = PlayThreads(0, idle_s=0.3)
    pool.warm()
    seen: list[int] = []
    for _ in range(3):
        done = threading.Event()
        pool.run(lambda d=done: (seen.append(threading.get_ident()), d.set()))
        assert done.wait(5)
        wait_until(lambda: pool.idle == 1, 5)
    assert pool.size == 1 and len(set(seen)) == 1

    release = threading.Event()
    running = threading.Semaphore(0)

    def block() -> None:
        running.release()
        release.wait(10)

    for _ in range(3):
        pool.run(block)
    for _ in range(3):
        assert running.acquire(timeout=5)
    assert pool.size == 3, "overlapping plays each get a thread"
    release.set()
    wait_until(lambda: pool.size == 1, 5, what="idle threads beyond the first end")

    def boom() -> None:
        raise RuntimeError("a broken play")

    pool.run(boom)
    wait_until(lambda: pool.idle == 1, 5, what="the thread back after a failing task")
    done = threading.Event()
    pool.run(done.set)
    assert done.wait(5), "a failing task does not take the thread down"
    assert pool.size == 1


def test_rt_priority_zero_leaves_scheduling_alone():
    def check() -> tuple[str, int]:
        return raise_priority(0), os.sched_getscheduler(0)

    said, policy = in_thread(check)
    assert said.startswith("normal") and policy == SCHED_OTHER


def test_real_time_for_the_thread_only_and_not_for_what_it_starts():
    def check() -> tuple[str, int, int, int]:
        said = raise_priority(10)
        if not said.startswith("SCHED_FIFO"):
            return said, -1, -1, -1
        own = os.sched_getscheduler(0) & ~os.SCHED_RESET_ON_FORK
        child_thread: list[int] = []
        t = threading.Thread(target=lambda: child_thread.append(os.sched_getscheduler(0)))
        t.start()
        t.join()
        proc = subprocess.Popen(["sleep", "2"])
        try:
            child_proc = policy_of(proc.pid)
        finally:
            proc.kill()
            proc.wait()
        return said, own, child_thread[0], child_proc

    said, own, thread_policy, proc_policy = in_thread(check)
    if own == -1:
        pytest.skip(f"real-time scheduling not permitted here: {said}")
    assert said == "SCHED_FIFO 10"
    assert own == os.SCHED_FIFO
    assert thread_policy == SCHED_OTHER, "threads it starts get normal scheduling"
    assert proc_policy == SCHED_OTHER, "a player process it starts gets normal scheduling"


def test_refused_real_time_falls_back_to_a_nice_value(monkeypatch: pytest.MonkeyPatch):
    def refuse(*_a: Any) -> None:
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(os, "sched_setscheduler", refuse)

    def check() -> tuple[str, int, int]:
        said = raise_priority(10)
        tid = threading.get_native_id()
        return said, os.getpriority(os.PRIO_PROCESS, tid), policy_of(tid)

    said, nice, policy = in_thread(check)
    assert "real-time refused" in said and "Operation not permitted" in said
    assert policy == SCHED_OTHER
    if os.geteuid() == 0:
        assert said.startswith("nice -5") and nice == -5
    else:  # an unprivileged user may not lower its nice value: left as it was
        assert said.startswith(("normal", "nice"))


def test_rt_priority_in_the_config():
    base = {"node_id": "n1", "data_dir": "/tmp/x", "controller_public_key": "k"}
    assert config_from_dict(dict(base)).player.rt_priority == 10
    assert config_from_dict({**base, "player": {"rt_priority": 0}}).player.rt_priority == 0
    for bad in (-1, 100, "high"):
        with pytest.raises(ConfigError, match="rt_priority"):
            config_from_dict({**base, "player": {"rt_priority": bad}})


def test_engine_thread_logs_the_priority_it_got(tmp_path: Path, caplog: pytest.LogCaptureFixture):
    caplog.set_level("INFO", logger="node_agent.engine")
    rig = Rig(tmp_path)
    rig.engine.start()
    try:
        wait_until(lambda: "playback priority" in caplog.text, 5)
        assert "playback priority: normal (rt_priority 0)" in caplog.text
    finally:
        rig.close()


def test_only_a_start_is_waited_out_finely(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """An idle engine looks again once a second: that wait is a plain one (no fine sleeps, no
    spinning on the clock); the time a play starts is waited out finely."""
    from node_agent import engine as engine_mod

    rig = Rig(tmp_path)
    try:
        sleeps: list[float] = []
        monkeypatch.setattr(engine_mod.time, "sleep", lambda s: sleeps.append(s))
        clock_reads = [0]
        real_clock = rig.engine.clock

        def clock() -> float:
            clock_reads[0] += 1
            return real_clock()

        rig.engine.clock = clock  # type: ignore[method-assign]
        rig.engine._woken = False
        rig.engine._wait_until(real_clock() + 0.05, precise=False)
        assert sleeps == [] and clock_reads[0] < 10, "a plain wait"

        target = real_clock() + 0.05
        rig.engine._wait_until(target, precise=True)
        assert real_clock() >= target
        assert sleeps, "the last ms before a start are slept finely"

        idle_target = rig.engine._step()  # nothing scheduled: look again in a second
        assert rig.engine._precise is False and idle_target > real_clock() + 0.5
        content = rig.media("fine", duration_s=0.1)
        rig.store.put_items([rig.item(1, content, 0.5)], real_clock())
        rig.engine._reload()
        play_at = rig.engine._step()
        assert rig.engine._precise is True
        assert abs(play_at - rig.engine._items[0].play_at) < 1e-9
    finally:
        rig.close()
