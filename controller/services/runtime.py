"""The controller's running services: database, signing key, MQTT link, dispatcher, scheduler.

APScheduler runs one job, ``tick``, that derives all work from the database (expire, deliver):
after a restart nothing is lost because nothing lived only in the scheduler. Coalescing and a
misfire grace are explicit: a controller that was stopped runs one tick when it returns, never
a burst, and the dispatcher itself refuses to deliver anything past its lateness limit.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC
from typing import Any

from apscheduler.schedulers.background import BackgroundScheduler

from controller.core import metrics
from controller.core.db import Store
from controller.core.settings import Settings
from controller.domain import announcements, authz, broadcasts, zones
from controller.domain.identity import Identity
from controller.domain.users import create_token
from controller.services import emergency_speech
from controller.services.alerts import Monitor
from controller.services.dispatch import Dispatcher
from controller.services.mqtt_link import MqttLink
from loa.protocol import utcnow
from loa.signing import load_or_create_private_key

log = logging.getLogger("controller.runtime")  # its flat name

INGEST_BATCH = 500


@dataclass(frozen=True)
class Cancelled:
    """What cancelling a broadcast did: ``held`` nodes had it (delivered or playing), ``told``
    of them were sent the commands to drop and stop it."""

    broadcast_id: int
    held: int
    told: int


class Runtime:
    def __init__(self, settings: Settings):
        self.settings = settings
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        settings.media_dir.mkdir(parents=True, exist_ok=True)
        self.store = Store(settings.db_path)
        self.key = load_or_create_private_key(settings.key_path)
        self.link = MqttLink(
            settings.mqtt_url,
            self._enqueue,
            username=settings.mqtt_username,
            password=settings.mqtt_password,
            on_connected=self.kick,
        )
        publish = metrics.counting_publisher(self.link.publish)
        self.dispatcher = Dispatcher(self.store, settings, self.key, publish)
        self.monitor = Monitor(self.store, settings)
        self.scheduler = BackgroundScheduler(
            timezone=UTC,
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 60},
        )
        self._inbox: queue.Queue[tuple[str, bytes] | None] = queue.Queue()
        self._tick_idle = threading.Event()
        self._tick_idle.set()
        self._ingest = threading.Thread(target=self._ingest_loop, name="ingest", daemon=True)
        #: Called with a broadcast's id once it is cancelled (the live manager ends its session).
        self.on_cancelled: list[Callable[[int], None]] = []

    def start(self) -> None:
        if self.settings.api_token:
            create_token(self.store.db, "bootstrap", role="admin", token=self.settings.api_token)
        self._ingest.start()
        self.monitor.start()
        self.scheduler.add_job(
            self.tick, "interval", seconds=self.settings.tick_s, id="tick", next_run_time=utcnow()
        )
        self.scheduler.start()
        self.link.start()

    def stop(self) -> None:
        self.scheduler.shutdown(wait=True)
        self.link.stop()
        self._inbox.put(None)
        self._ingest.join(timeout=5)
        self.monitor.stop()

    def tick(self) -> None:
        self._tick_idle.clear()  # ingest steps aside, so a heartbeat flood never starves the tick
        try:
            broadcasts.materialize(self.store, self.settings)
            self.dispatcher.expire()
            self.dispatcher.deliver()
            self.dispatcher.resend(backlog=self.ingest_depth())  # a play.now not acked
            self.dispatcher.send_zones_now_and_then()  # nodes whose zone chain changed
        except Exception:
            log.exception("scheduler tick failed")
        finally:
            self.monitor.tick()  # missed heartbeats → node history; alerts
            self._tick_idle.set()

    def cancel_broadcast(
        self, who: Identity, broadcast_id: int, reason: str | None = None
    ) -> Cancelled:
        """Cancel it (see ``broadcasts.cancel_broadcast``; ``reason`` goes in the audit entry),
        tell the nodes that hold it to drop it and stop it, and end whatever else carries it
        (a live session). Returns how many nodes held it and how many were told: one the
        broker could not reach now drops it when it reconnects (its ``schedule.sync`` holds
        active broadcasts only)."""
        holders = broadcasts.cancel_broadcast(self.store, who, broadcast_id, reason=reason)
        # an emergency: one zone command per target zone for the nodes of protocol 2
        grouped = self.dispatcher.cancel_group(broadcast_id, list(holders))
        told = len(grouped) + sum(
            self.dispatcher.cancel({node: ids}) > 0
            for node, ids in holders.items()
            if node not in grouped
        )
        for listener in self.on_cancelled:
            listener(broadcast_id)
        return Cancelled(broadcast_id, held=len(holders), told=told)

    def emergency(
        self,
        who: Identity,
        title: str,
        text: str,
        zone_ids: list[int],
        repeats: int = 2,
        node_ids: list[str] | None = None,
    ) -> dict[str, Any]:
        """Khẩn cấp: write, approve and play now on every node of the zones (only ``node_ids``
        of them when given: a CAP alert's area), in one step (audited); the broadcast's
        detail, with ``speech``: which engine spoke, whether the audio was already made, and
        in how many seconds (``services.emergency_speech``)."""
        authz.require(who, "broadcast.emergency")
        db = self.store.db
        zones.check_targets(db, who, zone_ids)
        _, text = announcements.clean_title_and_text(title, text, self.settings.max_text_chars)
        # the audio already made for the text, or the fastest engine within the budget
        speech = emergency_speech.speak(self.store, self.settings, text)
        rendered = speech.rendered
        # The announcement, the broadcast and its audit entry are durable before anything is
        # published; its dispatch rows are written after its zone commands went out (play_now's
        # planned_from), from this same time.
        now = utcnow()
        with self.store.transaction():
            announcement_id = announcements.create_announcement(
                db,
                who,
                title,
                text,
                max_text_chars=self.settings.max_text_chars,
                category="thien_tai",
                priority="emergency",
                status="approved",
            )
            announcements.attach_spoken_audio(db, announcement_id, rendered)
            db.execute(
                "UPDATE announcements SET emergency = 1, reviewed_by = ?, reviewed_at = "
                "created_at, approved_sha256 = ? WHERE id = ?",
                [who.user_id, rendered.sha256, announcement_id],
            )
            broadcast_id = broadcasts.create_broadcast(
                self.store,
                self.settings,
                who,
                broadcasts.BroadcastRequest(
                    announcement_id=announcement_id,
                    zone_ids=zone_ids,
                    starts_at=now + broadcasts.EMERGENCY_LEAD,
                    priority="emergency",
                    repeats=repeats,
                    accept_conflicts=True,
                    node_ids=node_ids,
                ),
                now=now,
                emergency=True,
                dispatches_later=True,
            )
        self.dispatcher.play_now(broadcast_id, group=True, planned_from=now)
        return {**(broadcasts.broadcast_detail(db, broadcast_id) or {}), "speech": speech.facts()}

    def kick(self) -> None:
        """Run a tick now (a new broadcast, or the broker connection is back)."""
        if self.scheduler.running:
            self.scheduler.modify_job("tick", next_run_time=utcnow())

    def ingest_depth(self) -> int:
        """Node messages received and not yet applied."""
        return self._inbox.qsize()

    def _enqueue(self, topic: str, payload: bytes) -> None:
        metrics.count_message(topic)
        self._inbox.put((topic, payload))

    def _ingest_loop(self) -> None:
        while True:
            first = self._inbox.get()
            if first is None:
                return
            batch = [first]
            while len(batch) < INGEST_BATCH:
                try:
                    more = self._inbox.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    self._inbox.put(None)
                    break
                batch.append(more)
            self._tick_idle.wait(timeout=self.settings.tick_s)
            metrics.INGEST_BATCH.observe(len(batch))
            try:
                with metrics.INGEST_SECONDS.time():
                    self.dispatcher.handle_batch(batch)
            except Exception:
                log.exception("ingesting %d messages failed", len(batch))
