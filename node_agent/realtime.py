"""Punctual starts on a busy Pi: the threads on the play path ask for real-time scheduling, and
plays run on threads that already exist, so none is created at ``play_at``.

``raise_priority`` puts the calling thread in SCHED_FIFO (with SCHED_RESET_ON_FORK, so player
processes and threads it starts get normal scheduling), else lowers its nice value, else leaves
it as it is — whatever the system permits; it never fails. On the Pi the systemd unit grants
it with ``LimitRTPRIO=`` (see docs/node.md).
"""

from __future__ import annotations

import logging
import os
import queue
import threading
from collections.abc import Callable

log = logging.getLogger(__name__)

#: The nice value asked for when real-time scheduling is refused.
FALLBACK_NICE = -5


def raise_priority(rt_priority: int) -> str:
    """Raise the calling thread's scheduling priority; say what is in effect."""
    if rt_priority <= 0:
        return "normal (rt_priority 0)"
    try:
        os.sched_setscheduler(
            0,  # the calling thread
            os.SCHED_FIFO | os.SCHED_RESET_ON_FORK,
            os.sched_param(rt_priority),
        )
        return f"SCHED_FIFO {rt_priority}"
    except (OSError, AttributeError) as exc:
        refused = f"real-time refused ({exc.__class__.__name__}: {exc})"
    try:
        tid = threading.get_native_id()
        if os.getpriority(os.PRIO_PROCESS, tid) > FALLBACK_NICE:
            os.setpriority(os.PRIO_PROCESS, tid, FALLBACK_NICE)
        return f"nice {os.getpriority(os.PRIO_PROCESS, tid)}; {refused}"
    except (OSError, AttributeError):
        nice = os.getpriority(os.PRIO_PROCESS, 0)
        return f"normal (nice {nice}); {refused}"


class _Worker:
    def __init__(self, pool: PlayThreads):
        self.tasks: queue.SimpleQueue[Callable[[], None]] = queue.SimpleQueue()
        self.thread = threading.Thread(target=pool._loop, args=(self,), name="play", daemon=True)


class PlayThreads:
    """Threads that run plays. An idle one is handed each play (no thread start at play time,
    which on a loaded machine waits for the new thread to be scheduled); more are made when
    plays overlap (a preemption), and an idle one beyond the first ends after ``idle_s``."""

    def __init__(self, rt_priority: int, idle_s: float = 60.0):
        self.rt_priority = rt_priority
        self.idle_s = idle_s
        self._lock = threading.Lock()
        self._idle: list[_Worker] = []
        self._workers = 0

    def warm(self) -> None:
        """Make sure a thread is waiting for the first play."""
        with self._lock:
            if self._workers:
                return
            worker = _Worker(self)
            self._idle.append(worker)
            self._workers += 1
        worker.thread.start()

    def run(self, task: Callable[[], None]) -> None:
        with self._lock:
            worker = self._idle.pop() if self._idle else None
            if worker is None:
                worker = _Worker(self)
                self._workers += 1
                fresh = True
            else:
                fresh = False
        worker.tasks.put(task)
        if fresh:
            worker.thread.start()

    @property
    def size(self) -> int:
        with self._lock:
            return self._workers

    @property
    def idle(self) -> int:
        with self._lock:
            return len(self._idle)

    def _loop(self, worker: _Worker) -> None:
        raise_priority(self.rt_priority)
        while True:
            try:
                task = worker.tasks.get(timeout=self.idle_s)
            except queue.Empty:
                with self._lock:
                    if worker in self._idle and self._workers > 1:
                        self._idle.remove(worker)
                        self._workers -= 1
                        return
                continue  # handed a task meanwhile, or the last thread: stay
            try:
                task()
            except Exception:  # a play handles its own errors; the thread goes on
                log.exception("play task failed")
            with self._lock:
                self._idle.append(worker)


_pools: dict[int, PlayThreads] = {}
_pools_lock = threading.Lock()


def play_threads(rt_priority: int) -> PlayThreads:
    """The process's play threads at this priority (a simulation's engines share them)."""
    with _pools_lock:
        pool = _pools.get(rt_priority)
        if pool is None:
            pool = _pools[rt_priority] = PlayThreads(rt_priority)
        return pool
