"""One node agent: wires the store, media cache, player, amplifier, engine and connection."""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from datetime import UTC, datetime
from typing import Any

from loa.protocol import (
    PROTOCOL_VERSION,
    STATE_REASON_CONFIG,
    STATE_REASON_PLAYING,
    Ack,
    Playing,
    ReportType,
    Telemetry,
    dumps,
    new_report,
    node_topic,
    utcnow,
)
from loa.signing import load_public_key_b64
from node_agent import __version__, telemetry
from node_agent.amplifier import Amplifier
from node_agent.commands import CommandContext, handle
from node_agent.config import Config
from node_agent.connection import Connection
from node_agent.engine import Engine
from node_agent.media import Fetcher, MediaCache
from node_agent.mixer import set_volume
from node_agent.player import Player, make_player
from node_agent.policy import Settings, load_tz
from node_agent.reactor import Reactor
from node_agent.store import Store, is_damage

log = logging.getLogger(__name__)


class Agent:
    def __init__(
        self,
        cfg: Config,
        player: Player | None = None,
        durable: bool = True,
        reactor: Reactor | None = None,
        download_slots: threading.Semaphore | None = None,
    ):
        self.cfg = cfg
        self.started_mono = time.monotonic()
        cfg.data_dir.mkdir(parents=True, exist_ok=True)
        self.public_key = load_public_key_b64(cfg.controller_public_key)
        self.store = Store(cfg.db_file, durable=durable)
        self._settings = Settings.from_config(cfg, self.store.settings())
        self.cache = MediaCache(
            cfg.media_dir, self.store, int(cfg.cache.max_mb * 2**20), durable=durable
        )
        self.player = player or make_player(cfg.player.backend, cfg.sink_file, cfg.player.device)
        self.amplifier = Amplifier(
            cfg.amplifier.gpio_pin, self._settings.hold_s, cfg.amplifier.active_high
        )
        self.fetcher = Fetcher(
            self.cache,
            cfg.http.token,
            base_url=cfg.http.base_url,
            timeout=cfg.http.timeout_s,
            retry_min_s=cfg.http.retry_min_s,
            retry_max_s=cfg.http.retry_max_s,
            on_ready=lambda _sha: self.engine.wake(),
            slots=download_slots,
        )
        self.engine = Engine(
            node_id=cfg.node_id,
            store=self.store,
            cache=self.cache,
            fetcher=self.fetcher,
            player=self.player,
            amplifier=self.amplifier,
            settings=lambda: self._settings,
            tz=load_tz(cfg.timezone),
            report=self.report,
            on_playing=self._on_playing,
            mixer_control=cfg.player.mixer_control,
            mixer_card=cfg.player.mixer_card,
            rt_priority=cfg.player.rt_priority,
        )
        self.connection = Connection(
            cfg.mqtt,
            cfg.node_id,
            cfg.username,
            self.store,
            on_command=self._on_command,
            state=self._state,
            on_tick=self._tick,
            reactor=reactor,
        )
        self.commands = CommandContext(
            node_id=cfg.node_id,
            public_key=self.public_key,
            store=self.store,
            engine=self.engine,
            ack=lambda ack: self.report("ack", ack),
            apply_config=self.apply_config,
            warmup_for_now=lambda: self._settings.warmup_s if self.amplifier.present else 0.0,
            on_store_damaged=self._store_damaged,
            make_room=lambda: self.cache.evict_unneeded(self.store.scheduled_media()),
            zones=lambda: self.connection.zones,
        )
        # the zones the controller last told it to obey (node.config), listened to from the start
        stored_zones = self.store.settings().get("zones")
        if isinstance(stored_zones, list):
            self.connection.set_zones([int(z) for z in stored_zones])
        self._next_heartbeat = 0.0
        self._stopped = threading.Event()
        #: Set when the database turned out damaged while running: ``run_forever`` stops and
        #: the process exits non-zero, so systemd restarts it and the store moves the file aside.
        self.store_damaged = threading.Event()
        #: The first online state after a fresh database asks the controller for a full sync.
        self._announce_reset = self.store.reset is not None

    @property
    def settings(self) -> Settings:
        return self._settings

    def start(self, engine_thread: bool = True) -> None:
        """Start; with ``engine_thread=False`` the caller drives the engine (a simulation)."""
        log.info(
            "node %s starting (agent %s, player %s, data %s)",
            self.cfg.node_id,
            __version__,
            self.player.name,
            self.cfg.data_dir,
        )
        if self._settings.volume is not None and self.cfg.player.mixer_control:
            set_volume(
                self._settings.volume, self.cfg.player.mixer_control, self.cfg.player.mixer_card
            )
        if engine_thread:
            self.engine.start()
        self.connection.start()

    def stop(self) -> None:
        if self._stopped.is_set():
            return
        self._stopped.set()
        self.engine.shutdown()
        self.fetcher.stop()
        self.connection.stop()
        self.amplifier.close()
        self.store.close()

    # --- reports and state ---------------------------------------------------------------

    def report(self, type_: ReportType, body: Any) -> None:
        envelope = new_report(type_, self.cfg.node_id, body)
        self.connection.send_report(
            envelope["id"], node_topic(self.cfg.node_id, "report"), dumps(envelope)
        )

    def _state(self) -> dict[str, Any]:
        state = {
            "node": self.cfg.node_id,
            "version": __version__,
            "playing": self.engine.playing(),
            "volume": self._settings.volume,
            "protocol": PROTOCOL_VERSION,
        }
        if self._announce_reset:
            self._announce_reset = False
            state["reason"] = "store_reset"  # the controller answers with a schedule.sync
        return state

    def _store_damaged(self, why: str) -> None:
        log.critical("the database is damaged (%s): stopping so a restart can recover", why)
        self.store_damaged.set()

    def _on_playing(self, _playing: Playing | None) -> None:
        if self.connection.connected.is_set():
            # ``playing``: not a new connection, so the controller sends no schedule.sync
            self.connection.publish_state(reason=STATE_REASON_PLAYING)

    def _on_command(self, payload: bytes, topic: str = "") -> None:
        handle(payload, self.commands, own_topic=topic in ("", self.connection.cmd_topic))

    def apply_config(self, values: dict[str, Any]) -> None:
        """Apply settings from node.config (already saved in the store)."""
        self._settings = self._settings.updated(values)
        if values.get("zones") is not None:
            self.connection.set_zones(list(values["zones"]))
        self.amplifier.hold_s = self._settings.hold_s
        if "heartbeat_s" in values:
            self._next_heartbeat = 0.0
        if values.get("volume") is not None and self.cfg.player.mixer_control:
            set_volume(values["volume"], self.cfg.player.mixer_control, self.cfg.player.mixer_card)
        if self.connection.connected.is_set():
            # ``config``: not a new connection (a sync for it would answer node.config with
            # node.config for ever)
            self.connection.publish_state(reason=STATE_REASON_CONFIG)

    # --- heartbeat -----------------------------------------------------------------------

    def _tick(self) -> None:
        now = time.monotonic()
        if now < self._next_heartbeat:
            return
        self._next_heartbeat = now + self._settings.heartbeat_s
        try:
            beat = self.telemetry()
        except sqlite3.DatabaseError as exc:
            if is_damage(exc):
                self._store_damaged(str(exc))
            raise
        self.connection.publish(node_topic(self.cfg.node_id, "telemetry"), dumps(beat), qos=0)

    def telemetry(self) -> Telemetry:
        synced, offset = telemetry.clock_status()
        used = self.cache.used_bytes()
        free = self.cfg.cache.max_mb - used / 2**20
        disk = telemetry.disk_free_mb(self.cfg.data_dir)
        if disk is not None:
            free = min(free, disk)
        try:
            reset = self.store.last_reset()
        except sqlite3.Error:
            reset = None
        return Telemetry(
            node=self.cfg.node_id,
            at=utcnow(),
            uptime_s=round(time.monotonic() - self.started_mono, 1),
            version=__version__,
            interval_s=self._settings.heartbeat_s,
            temperature_c=telemetry.cpu_temperature_c(),
            load1=telemetry.load1(),
            disk_free_mb=disk,
            cache_free_mb=round(max(0.0, free), 1),
            clock_synced=synced,
            clock_offset_ms=offset,
            signal_dbm=telemetry.signal_dbm(),
            cellular=telemetry.cellular(),
            scheduled=self.store.scheduled_count(),
            store_reset_at=datetime.fromtimestamp(reset.at, UTC) if reset else None,
            store_reset_kept=reset.kept[:200] if reset else None,
            protocol=PROTOCOL_VERSION,
        )


#: The exit status when the database turned out damaged while running (systemd restarts it).
EXIT_STORE_DAMAGED = 3


def run_forever(agent: Agent) -> None:
    """Start, then block until SIGTERM or SIGINT; stop cleanly. Exits with
    ``EXIT_STORE_DAMAGED`` when the database turned out damaged while running."""
    import signal

    done = threading.Event()

    def _quit(signum: int, _frame: Any) -> None:
        log.info("signal %d: stopping", signum)
        done.set()

    signal.signal(signal.SIGTERM, _quit)
    signal.signal(signal.SIGINT, _quit)
    agent.start()
    while not done.wait(1.0) and not agent.store_damaged.is_set():
        pass
    agent.stop()
    if agent.store_damaged.is_set():
        raise SystemExit(EXIT_STORE_DAMAGED)


__all__ = ["Ack", "Agent", "run_forever"]
