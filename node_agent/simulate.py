"""``loa node simulate --count N``: N complete agents in one process, each with its own node
id, credentials, data directory and file sink; for demos and benchmarks."""

from __future__ import annotations

import argparse
import json
import logging
import resource
import signal
import threading
import time
from pathlib import Path
from typing import Any

from node_agent.agent import Agent
from node_agent.config import Config, config_from_dict
from node_agent.engine import Engine
from node_agent.reactor import Reactor

log = logging.getLogger(__name__)


def node_ids(prefix: str, count: int) -> list[str]:
    return [f"{prefix}-{n:04d}" for n in range(1, count + 1)]


def simulated_config(
    node_id: str,
    password: str,
    data_dir: Path,
    broker: str,
    public_key: str,
    heartbeat_s: float = 30.0,
    **mqtt: Any,
) -> Config:
    return config_from_dict(
        {
            "node_id": node_id,
            "data_dir": str(data_dir / node_id),
            "controller_public_key": public_key,
            "heartbeat_s": heartbeat_s,
            "mqtt": {"url": broker, "username": node_id, "password": password, **mqtt},
            "http": {"token": password},
            # a thousand simulated plays must not run at real-time priority
            "player": {"backend": "file", "mixer_control": "", "rt_priority": 0},
        }
    )


#: Open files a simulated agent holds: its broker socket and its store's database, WAL and
#: shared-memory files for each of the two threads that use it, with room for a download.
FILES_PER_AGENT = 10


def raise_fd_limit(agents: int = 0) -> None:
    """As many open files as the agents need: up to the hard limit, and beyond it when allowed
    (root may raise the hard limit; 5,000 agents need about 50,000)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = max(soft, agents * FILES_PER_AGENT + 256)
    if want > hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (want, want))
            return
        except (ValueError, OSError):
            pass  # not allowed: as many as the hard limit gives
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


class EngineDriver:
    """Runs the engines of many simulated agents in one thread.

    A thread per engine would make a thousand threads wake for the same ``play_at`` and fight
    over the GIL for seconds. Here every engine shares one condition (so ``wake()`` from any
    thread reaches the driver) and the driver steps each engine when its time comes, exactly as
    the engine's own thread would: reload if the schedule changed, step, sleep until the time
    it asks for.
    """

    def __init__(self) -> None:
        self.cond = threading.Condition()
        self._engines: list[Engine] = []
        self._due: dict[int, float] = {}
        self._stopped = False
        self._thread = threading.Thread(target=self._run, name="engines", daemon=True)
        self._thread.start()

    def add(self, eng: Engine) -> None:
        eng._cond = self.cond
        eng._recover()
        with self.cond:
            self._engines.append(eng)
            self._due[id(eng)] = 0.0
            self.cond.notify_all()

    def stop(self) -> None:
        with self.cond:
            self._stopped = True
            self.cond.notify_all()
        self._thread.join(5)

    def _run(self) -> None:
        while True:
            with self.cond:
                while True:
                    if self._stopped:
                        return
                    now = time.time()
                    due = [
                        e
                        for e in self._engines
                        if not e._stopping and (e._woken or e._dirty or self._due[id(e)] <= now)
                    ]
                    if due:
                        break
                    nxt = min((self._due[id(e)] for e in self._engines), default=now + 1.0)
                    self.cond.wait(min(1.0, max(0.0, nxt - now)))
                stale = {id(e) for e in due if e._dirty}
                for e in due:
                    e._woken = False
                    e._dirty = False
            # Reload outside the shared condition: every agent's wake() (the network thread,
            # acking commands) takes it, and reading a schedule from disk takes a while. A
            # change committed meanwhile sets _dirty again, and the next round reloads.
            for e in due:
                try:
                    if id(e) in stale:
                        e._reload()
                    target = e._step()
                except Exception:
                    log.exception("engine %s step failed", e.node_id)
                    target = time.time() + 1.0
                self._due[id(e)] = target


#: Media downloads running at once in a simulation (every node still fetches and verifies its
#: own copy; the others wait their turn instead of a thousand threads fighting over the GIL).
DOWNLOAD_SLOTS = 8


class Simulation:
    """Agents are built and started one after another; their stores skip fsync (a simulation
    need not survive a power cut, and a thousand fsyncs per command would only time the disk)."""

    def __init__(self, configs: list[Config], download_slots: int = DOWNLOAD_SLOTS):
        raise_fd_limit(len(configs))
        self.configs = configs
        self.agents: list[Agent] = []
        self.reactor = Reactor("mqtt-simulation")  # one network thread for every agent
        self.driver = EngineDriver()  # one thread for every engine
        self.download_slots = threading.BoundedSemaphore(download_slots)

    def start(self, progress: bool = False) -> None:
        for n, cfg in enumerate(self.configs, 1):
            agent = Agent(
                cfg, durable=False, reactor=self.reactor, download_slots=self.download_slots
            )
            self.driver.add(agent.engine)
            agent.start(engine_thread=False)
            self.agents.append(agent)
            if progress and n % 100 == 0:
                print(f"{n} agents started", flush=True)

    def connected(self) -> int:
        return sum(a.connection.connected.is_set() for a in self.agents)

    def stop(self) -> None:
        threads = [threading.Thread(target=a.stop) for a in self.agents]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.driver.stop()
        self.reactor.stop()


def simulate_main(args: argparse.Namespace) -> int:
    if args.credentials:
        creds: dict[str, str] = json.loads(Path(args.credentials).read_text(encoding="utf-8"))
    else:
        creds = {nid: nid for nid in node_ids(args.prefix, args.count)}
    configs = [
        simulated_config(
            nid,
            pw,
            args.data_dir.resolve(),
            args.broker,
            args.controller_public_key,
            args.heartbeat_s,
        )
        for nid, pw in creds.items()
    ]
    sim = Simulation(configs)
    logging.getLogger("node_agent").setLevel(logging.WARNING)
    t0 = time.monotonic()
    sim.start(progress=True)
    done = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: done.set())
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    reported = -1
    while not done.wait(0.5):
        n = sim.connected()
        if n != reported:
            print(f"{time.monotonic() - t0:7.2f}s  {n}/{len(configs)} connected", flush=True)
            reported = n
    sim.stop()
    return 0
