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
            "player": {"backend": "file", "mixer_control": ""},
        }
    )


def raise_fd_limit() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


class Simulation:
    """Agents are built and started one after another; their stores skip fsync (a simulation
    need not survive a power cut, and a thousand fsyncs per command would only time the disk)."""

    def __init__(self, configs: list[Config]):
        raise_fd_limit()
        self.configs = configs
        self.agents: list[Agent] = []
        self.reactor = Reactor("mqtt-simulation")  # one network thread for every agent

    def start(self, progress: bool = False) -> None:
        for n, cfg in enumerate(self.configs, 1):
            agent = Agent(cfg, durable=False, reactor=self.reactor)
            agent.start()
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
