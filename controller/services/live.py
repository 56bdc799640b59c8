"""Live speech (phát trực tiếp): an official speaks into the browser, the villages hear it.

1. ``POST /api/v1/live`` creates a ``live`` broadcast for the chosen zones and a session;
2. the browser opens the WebSocket and sends MediaRecorder's WebM/Opus chunks;
3. the controller encodes them once (ffmpeg → MP3 32 kb/s mono, a hub in
   ``controller.services.hubs``); as soon as audio comes out it writes one dispatch per node and
   sends ``play.now`` with a live ``StreamContent``; nodes fetch
   ``/streams/live/{broadcast_id}.mp3`` with their token;
4. the official stops (button, ``stop`` message, ``POST …/stop``) or the browser goes away: the
   encoder drains, the stream ends cleanly, nodes stop; the recording goes into the media store
   (by sha256) and is linked to the broadcast, so the play log can be listened to afterwards;
   it is queued for transcription (``controller.domain.listening.transcribe``) for the pages.

A session whose browser sends nothing for ``IDLE_S`` is ended too, and a controller that restarts
ends every session it had (nodes get 404 on reconnect and close).
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from controller.core.db import insert, table
from controller.core.errors import ApiError
from controller.domain import audit, authz, listening, zones
from controller.domain.identity import Identity
from controller.services.hubs import StreamService, store_recording
from controller.services.runtime import Runtime
from loa.protocol import PRIORITY_RANK, to_wire_time, utcnow

log = logging.getLogger("controller.live")  # its flat name

#: No chunk from the browser for this long ends the session.
IDLE_S = 10.0
#: The longest a live broadcast may run.
MAX_S = 3 * 3600.0
#: How long a node may still join a live broadcast after it started.
LIVE_MAX_LATE_S = 30.0
#: How long to wait for the encoder's first audio before telling nodes to play anyway.
FIRST_AUDIO_WAIT_S = 5.0


@dataclass
class LiveSession:
    broadcast_id: int
    session_id: str
    dispatched: bool = False
    stop_requested: threading.Event = field(default_factory=threading.Event)
    ended: threading.Event = field(default_factory=threading.Event)
    end_reason: str | None = None


class LiveManager:
    def __init__(self, runtime: Runtime, service: StreamService):
        self.runtime = runtime
        self.service = service
        self.sessions: dict[int, LiveSession] = {}
        self._lock = threading.Lock()

    def recover(self) -> int:
        """At start: sessions left open by a stopped controller are over."""
        with self.runtime.store.transaction() as db:
            rows = list(db.query("SELECT id FROM live_sessions WHERE ended_at IS NULL"))
            db.execute(
                "UPDATE live_sessions SET ended_at = ?, end_reason = ? WHERE ended_at IS NULL",
                [to_wire_time(utcnow()), "controller restarted during the live broadcast"],
            )
        return len(rows)

    def create(
        self, who: Identity, zone_ids: list[int], title: str, priority: str
    ) -> dict[str, Any]:
        authz.require(who, "broadcast.live")
        if priority not in PRIORITY_RANK:
            raise ApiError(422, "invalid_request", field="priority")
        if priority == "emergency":
            authz.require(who, "broadcast.emergency")
        store = self.runtime.store
        db = store.db
        zones.check_targets(db, who, zone_ids)
        now = utcnow()
        title = (title or "").strip()[:200] or "Phát trực tiếp"
        session_id = uuid.uuid4().hex
        row = {
            "kind": "live",
            "title": title,
            "zone_ids": json.dumps(sorted(set(zone_ids))),
            "starts_at": to_wire_time(now),
            "priority": priority,
            "max_late_s": LIVE_MAX_LATE_S,
            "repeats": 1,
            "repeat_gap_s": 0.0,
            "status": "active",
            "emergency": int(priority == "emergency"),
            "duration_s": MAX_S,
            "created_by": who.user_id,
            "created_at": to_wire_time(now),
            # live dispatch rows are written when audio flows, never by the scheduler
            "planned_until": to_wire_time(now + timedelta(days=3650)),
        }
        with store.transaction() as tx:
            broadcast_id = insert(tx, "broadcasts", row)
            table(tx, "live_sessions").insert(
                {
                    "id": session_id,
                    "broadcast_id": broadcast_id,
                    "started_by": who.user_id,
                    "started_at": to_wire_time(now),
                    "bytes_in": 0,
                }
            )
            audit.record(tx, who, "broadcast.live", "broadcast", broadcast_id, after=row)
        with self._lock:
            self.sessions[broadcast_id] = LiveSession(broadcast_id, session_id)
        return {
            "broadcast_id": broadcast_id,
            "session_id": session_id,
            "ws_path": f"/api/v1/live/{broadcast_id}/ws",
            "stream_path": f"/streams/live/{broadcast_id}.mp3",
            "title": title,
            "priority": priority,
        }

    def cancelled(self, broadcast_id: int) -> None:
        """The broadcast was cancelled: an open session on it ends (the official's page is told
        when its socket closes), so no one speaks on into speakers that were stopped."""
        with self._lock:
            s = self.sessions.get(broadcast_id)
        if s is not None and not s.ended.is_set():
            s.stop_requested.set()
            self.end(s, "cancelled")

    def session(self, broadcast_id: int) -> LiveSession:
        with self._lock:
            s = self.sessions.get(broadcast_id)
        if s is None or s.ended.is_set():
            raise ApiError(404, "live_not_found")
        return s

    def status(self, broadcast_id: int) -> dict[str, Any]:
        rows = list(
            self.runtime.store.db.query(
                "SELECT l.*, b.title, b.priority, b.recording_sha256 FROM live_sessions l "
                "JOIN broadcasts b ON b.id = l.broadcast_id WHERE l.broadcast_id = ?",
                [broadcast_id],
            )
        )
        if not rows:
            raise ApiError(404, "live_not_found")
        r = rows[0]
        hub = self.service.live_hub(broadcast_id)
        return {
            "broadcast_id": broadcast_id,
            "title": r["title"],
            "priority": r["priority"],
            "started_at": r["started_at"],
            "first_audio_at": r["first_audio_at"],
            "ended_at": r["ended_at"],
            "end_reason": r["end_reason"],
            "bytes_in": hub.bytes_in if hub else r["bytes_in"],
            "listeners": hub.listeners if hub else 0,
            "recording_sha256": r["recording_sha256"],
            "recording_url": (
                f"/media/{r['recording_sha256']}.mp3" if r["recording_sha256"] else None
            ),
        }

    # --- while the browser sends ------------------------------------------------------------

    def connect(self, broadcast_id: int) -> LiveSession:
        s = self.session(broadcast_id)
        self.service.start_live(broadcast_id)
        return s

    def audio(self, s: LiveSession, data: bytes) -> None:
        hub = self.service.live_hub(s.broadcast_id)
        if hub is None:
            return
        hub.feed(data)
        if not s.dispatched:
            s.dispatched = True
            threading.Thread(
                target=self._dispatch, args=(s,), name=f"live-{s.broadcast_id}", daemon=True
            ).start()

    def _dispatch(self, s: LiveSession) -> None:
        """Once the encoder has audio: one dispatch per node, and play.now to each."""
        hub = self.service.live_hub(s.broadcast_id)
        deadline = time.monotonic() + FIRST_AUDIO_WAIT_S
        while hub is not None and hub.first_output_at is None and time.monotonic() < deadline:
            if hub.ended.is_set():
                return
            time.sleep(0.01)
        store = self.runtime.store
        now = utcnow()
        with store.transaction() as db:
            b = list(db.query("SELECT zone_ids FROM broadcasts WHERE id = ?", [s.broadcast_id]))
            node_ids = zones.nodes_under(db, json.loads(b[0]["zone_ids"]))
            stamp = to_wire_time(now)
            table(db, "dispatches").insert_all(
                [
                    {
                        "broadcast_id": s.broadcast_id,
                        "occurrence": stamp.replace(":", "").replace("-", "")[:15],
                        "node_id": node_id,
                        "play_at": stamp,
                        "state": "queued",
                        "updated_at": stamp,
                    }
                    for node_id in node_ids
                ],
                ignore=True,
            )
            db.execute(
                "UPDATE live_sessions SET first_audio_at = ? WHERE broadcast_id = ?",
                [stamp, s.broadcast_id],
            )
        sent = self.runtime.dispatcher.play_now(s.broadcast_id, now=now)
        log.info("live %s: play.now to %d nodes", s.broadcast_id, sent)

    def end(self, s: LiveSession, reason: str) -> None:
        """Stop taking audio; the encoder drains, the stream ends, the recording is stored."""
        if s.ended.is_set():
            return
        s.ended.set()
        s.end_reason = reason
        hub = self.service.live_hub(s.broadcast_id)
        threading.Thread(
            target=self._finish, args=(s, reason, hub), name="live-end", daemon=True
        ).start()

    def _finish(self, s: LiveSession, reason: str, hub: Any) -> None:
        bytes_in = 0
        sha = None
        if hub is not None:
            hub.end_input()
            if not hub.ended.wait(10):
                hub.stop()
                hub.ended.wait(5)
            bytes_in = hub.bytes_in
            if hub.record_path is not None:
                sha = store_recording(self.runtime.store, self.runtime.settings, hub.record_path)
        self.service.forget_live(s.broadcast_id)
        now = utcnow()
        with self.runtime.store.transaction() as db:
            db.execute(
                "UPDATE live_sessions SET ended_at = ?, end_reason = ?, bytes_in = ?, "
                "recording_sha256 = ? WHERE broadcast_id = ?",
                [to_wire_time(now), reason, bytes_in, sha, s.broadcast_id],
            )
            started = next(
                iter(db.query("SELECT starts_at FROM broadcasts WHERE id = ?", [s.broadcast_id]))
            )["starts_at"]
            table(db, "broadcasts").update(
                s.broadcast_id,
                {
                    "recording_sha256": sha,
                    "duration_s": round((now - datetime.fromisoformat(started)).total_seconds(), 3),
                },
            )
            # nodes never told (no audio came): nothing to play any more
            db.execute(
                "UPDATE dispatches SET state = 'cancelled', error = ?, updated_at = ? "
                "WHERE broadcast_id = ? AND state = 'queued'",
                [f"live ended: {reason}", to_wire_time(now), s.broadcast_id],
            )
        if sha is not None:  # what was said, transcribed in the background queue
            listening.transcribe(self.runtime.store, sha)
        with self._lock:
            self.sessions.pop(s.broadcast_id, None)
        log.info("live %s ended (%s); recording %s", s.broadcast_id, reason, sha)
