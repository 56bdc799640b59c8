"""The playback engine: turns the stored schedule into sound at the right moment.

One thread decides; each play runs on a play thread (``node_agent.realtime``). Waiting uses
the monotonic clock anchored to the wall clock and re-anchors at least every second, so a
wall-clock jump is seen.
Rules:

* an item starts at ``play_at``: the engine thread and the play threads ask for real-time
  scheduling (``node_agent.realtime``), a play is handed to a thread that already waits, and
  the last 2 ms before ``play_at`` are spun out on the clock rather than slept;
* later than ``max_late_s`` and not started → ``missed`` (or ``failed`` + ``media.failed`` when
  its media never arrived); a stream may join late, until its ``until``;
* a higher priority preempts what plays (that one ends ``interrupted``); equal or lower
  priority waits until the player is free (never overlapping), higher priority first;
* quiet hours and the hourly cap refuse non-emergency items (``cancelled``);
* an item that started is never started again, even if the clock is set back — except a
  stream preempted by a higher priority: it is suspended and resumes when the player is free,
  if its window is still open (one play, its interruptions counted in ``play.finished``).
"""

from __future__ import annotations

import logging
import threading
import time
import zlib
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urljoin

from loa.protocol import (
    MediaFailed,
    PlayFinished,
    Playing,
    PlayStarted,
    ReportType,
    StreamContent,
)
from node_agent.amplifier import Amplifier
from node_agent.media import Fetcher, MediaCache
from node_agent.mixer import set_volume
from node_agent.player import Player, PlayerError, Source
from node_agent.policy import Settings, in_quiet_hours, over_hourly_limit
from node_agent.realtime import play_threads, raise_priority
from node_agent.store import Store, StoredItem
from node_agent.stream import PREOPEN_S, StreamStats, preopen

log = logging.getLogger(__name__)

IDLE_WAKE_S = 1.0
FINE_WAIT_S = 0.015
#: The last stretch before a start is spun out (a sleep may overshoot by a scheduler tick).
SPIN_S = 0.002
CLOCK_JUMP_S = 1.0

Report = Callable[[ReportType, Any], None]


def dt(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


def iso(ts: float | None) -> str | None:
    if ts is None:
        return None
    return dt(ts).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def planned_seconds(item: StoredItem, now: float) -> float:
    """How long an item will sound: its repeats with gaps, or a stream's window."""
    content = item.item.content
    if isinstance(content, StreamContent):
        return max(0.0, (content.until.timestamp() - now) if content.until else 0.0)
    reps = item.item.repeats
    return content.duration_s * reps + item.item.repeat_gap_s * (reps - 1)


class Session:
    """One item playing: repeats with gaps; stoppable with a reason."""

    def __init__(self, engine: Engine, item: StoredItem, source: Source):
        self.engine = engine
        self.item = item
        self.source = source
        self.stop_event = threading.Event()
        self.stop_reason = "interrupted"
        self.stop_error: str | None = None
        self.released = threading.Event()
        self.started_at: float | None = None
        #: Set when a higher priority preempts a stream: suspend it rather than end it.
        self.suspend = False
        #: Set when the session has ended and reported.
        self.done = threading.Event()

    def start(self) -> None:
        """Run on one of the engine's play threads."""
        self.engine.play_threads.run(self._run)

    @property
    def rank(self) -> int:
        return self.item.rank

    def stop(self, reason: str, error: str | None = None) -> None:
        if not self.stop_event.is_set():
            self.stop_reason = reason
            self.stop_error = error
            self.stop_event.set()

    def _on_started(self, ts: float) -> None:
        if self.started_at is None:
            self.started_at = ts + (self.engine.clock() - time.time())
            self.engine._started(self)

    def _run(self) -> None:
        try:
            self._play()
        finally:
            self.done.set()

    def _play(self) -> None:
        eng = self.engine
        item = self.item.item
        result = "played"
        error: str | None = None
        try:
            for n in range(item.repeats):
                if n and self.stop_event.wait(item.repeat_gap_s):
                    break
                if not eng.player.play(self.source, self.stop_event, self._on_started):
                    break
                if self.source.is_stream:
                    break
        except PlayerError as exc:
            result, error = "failed", str(exc)
            log.error("play %s failed: %s", self.item.key, exc)
        except Exception as exc:  # never let a play take the engine down
            result, error = "failed", f"{type(exc).__name__}: {exc}"
            log.exception("play %s crashed", self.item.key)
        if self.stop_event.is_set() and result == "played":
            result, error = self.stop_reason, self.stop_error
        stats = self.source.stats
        if result == "failed" and self.source.live and stats and stats.first_audio_at:
            result = "interrupted"  # live speech that fell silent: the node closed it
        ended = eng.clock()
        self.released.set()
        eng.wake()
        try:
            eng._finished(self, result, ended, error)
        finally:
            eng.store.release()


class Engine:
    def __init__(
        self,
        *,
        node_id: str,
        store: Store,
        cache: MediaCache,
        fetcher: Fetcher,
        player: Player,
        amplifier: Amplifier,
        settings: Callable[[], Settings],
        tz: Any,
        report: Report,
        on_playing: Callable[[Playing | None], None],
        mixer_control: str = "",
        mixer_card: str = "",
        clock: Callable[[], float] = time.time,
        rt_priority: int = 0,
    ):
        self.clock = clock
        #: SCHED_FIFO priority asked for the engine and play threads (0: normal scheduling).
        self.rt_priority = rt_priority
        self.play_threads = play_threads(rt_priority)
        self.node_id = node_id
        self.store = store
        self.cache = cache
        self.fetcher = fetcher
        self.player = player
        self.amplifier = amplifier
        self.settings = settings
        self.tz = tz
        self.report = report
        self.on_playing = on_playing
        self.mixer_control = mixer_control
        self.mixer_card = mixer_card
        self._cond = threading.Condition()
        self._dirty = True
        self._woken = False
        self._stopping = False
        self._items: list[StoredItem] = []
        self._ready: dict[str, StoredItem] = {}
        self._current: Session | None = None
        self._sessions: set[Session] = set()
        self._started_keys: set[tuple[str, float]] = set()
        self._thread: threading.Thread | None = None
        self._last_offset = self._offset()
        self._last_purge = 0.0
        self._prepared: set[str] = set()
        #: Whether the time the last step asked for is a start (waited out finely) or only a
        #: time to look again (a plain wait: no spinning once a second while idle).
        self._precise = False
        #: Nodes open a relay's stream 0-2 s earlier than PREOPEN_S, by their id, so a
        #: province's nodes do not all connect in the same second.
        self._spread_s = (zlib.crc32(node_id.encode()) % 2000) / 1000
        #: Streams preempted by a higher priority, waiting to resume: key → (item, session).
        self._suspended: dict[str, tuple[StoredItem, Session]] = {}

    # --- control from other threads ------------------------------------------------------

    def start(self) -> None:
        self._recover()
        self.play_threads.warm()
        self._thread = threading.Thread(target=self._run, name="engine", daemon=True)
        self._thread.start()

    def wake(self, schedule_changed: bool = False) -> None:
        with self._cond:
            self._woken = True
            if schedule_changed:
                self._dirty = True
            self._cond.notify_all()

    def stop_playing(
        self,
        reason: str,
        broadcast: int | None = None,
        keys: set[str] | None = None,
        error: str | None = None,
    ) -> bool:
        dropped = []
        with self._cond:
            for key, (si, _prev) in list(self._suspended.items()):
                if (broadcast is None or si.item.broadcast == broadcast) and (
                    keys is None or key in keys
                ):
                    dropped.append(self._suspended.pop(key)[1])
        for prev in dropped:
            self._finish_suspended(prev, reason, error)
        with self._cond:
            cur = self._current
            if cur is None or cur.released.is_set():
                return bool(dropped)
            if broadcast is not None and cur.item.item.broadcast != broadcast:
                return False
            if keys is not None and cur.item.key not in keys:
                return False
            cur.stop(reason, error)
            return True

    def playing(self) -> Playing | None:
        cur = self._current
        if cur is None or cur.started_at is None or cur.released.is_set():
            return None
        return Playing(
            broadcast=cur.item.item.broadcast,
            occurrence=cur.item.item.occurrence,
            priority=cur.item.item.priority,
            started_at=dt(cur.started_at),
        )

    def shutdown(self, timeout: float = 5.0) -> None:
        with self._cond:
            self._stopping = True
            sessions = list(self._sessions)
            for s in sessions:
                s.stop("interrupted", "agent stopping")
            self._cond.notify_all()
        for s in sessions:
            s.done.wait(timeout)
        if self._thread:
            self._thread.join(timeout)

    # --- the loop ------------------------------------------------------------------------

    def _recover(self) -> None:
        """Items left 'playing' by a crash or power cut: they were interrupted."""
        now = self.clock()
        for si in self.store.active_items():
            if si.status == "playing":
                self._done(
                    si.key,
                    PlayFinished(
                        broadcast=si.item.broadcast,
                        occurrence=si.item.occurrence,
                        sha256=_sha(si),
                        play_at=dt(si.play_at),
                        started_at=dt(si.started_at) if si.started_at else None,
                        ended_at=dt(now),
                        result="interrupted",
                        error="agent restarted during the play",
                    ),
                )

    def _run(self) -> None:
        log.info("playback priority: %s", raise_priority(self.rt_priority))
        while True:
            with self._cond:
                if self._stopping:
                    return
                if self._dirty:
                    self._dirty = False
                    self._reload()
                self._woken = False
            try:
                target = self._step()
            except Exception:
                log.exception("engine step failed")
                target = self.clock() + IDLE_WAKE_S
                self._precise = False
            self._wait_until(target, self._precise)

    def _reload(self) -> None:
        self._items = self.store.active_items()
        pending = {si.key: si for si in self._items if si.status == "pending"}
        now = self.clock()
        self._ready = {
            k: pending[k] for k in self._ready if k in pending and pending[k].play_at <= now
        }
        needed: set[str] = set()
        for si in self._items:
            c = si.item.content
            if si.status == "pending" and c.kind == "file":
                needed.add(c.sha256)
                if not self.cache.has(c.sha256):
                    self.fetcher.want(c.sha256, c.url, c.bytes)
        self.fetcher.drop_except(needed)

    def _wait_until(self, target: float, precise: bool = True) -> None:
        """Wait until wall time ``target`` or a wake-up. For a ``precise`` target (a start) the
        last ms are waited finely and the last ``SPIN_S`` spun out."""
        margin = FINE_WAIT_S if precise else 0.0
        with self._cond:
            while not self._woken and not self._stopping:
                left = target - self.clock()
                if left <= margin:
                    break
                self._cond.wait(min(left - margin, IDLE_WAKE_S))
                if abs(self._offset() - self._last_offset) > CLOCK_JUMP_S:
                    break
            if self._woken or self._stopping or not precise:
                return
        while True:
            left = target - self.clock()
            if left <= 0:
                return
            if left > SPIN_S:
                time.sleep(min(left - SPIN_S, 0.0005))

    def _offset(self) -> float:
        """Wall minus monotonic, sampled so that a thread switch between the two readings
        (seconds, on a loaded machine) is not taken for a clock jump."""
        for _ in range(3):
            m1 = time.monotonic()
            wall = self.clock()
            m2 = time.monotonic()
            if m2 - m1 < 0.01:
                break
        return wall - (m1 + m2) / 2

    def _check_clock(self, now: float) -> None:
        offset = self._offset()
        jump = offset - self._last_offset
        if abs(jump) > CLOCK_JUMP_S:
            log.warning("wall clock jumped by %+.1f s", jump)
        self._last_offset = offset

    def _step(self) -> float:
        """Do what is due now; return the wall time to look again."""
        now = self.clock()
        self._check_clock(now)
        settings = self.settings()
        warmup = settings.warmup_s if self.amplifier.present else 0.0
        next_at = now + IDLE_WAKE_S
        starts: set[float] = set()  # times something must begin exactly (a play, a warm-up)
        need_amp = False
        cur = self._current
        if cur is not None and cur.released.is_set():
            self._current = cur = None
        for si in self._items:
            if si.status != "pending" or si.key in self._ready:
                continue
            if (si.key, si.play_at) in self._started_keys:
                continue
            content = si.item.content
            if now < si.play_at:
                warm_at = si.play_at - warmup
                starts.update((si.play_at, warm_at))
                # a stream is opened ahead of its window; the amplifier waits for its warm-up
                open_at = (
                    min(warm_at, si.play_at - PREOPEN_S - self._spread_s)
                    if isinstance(content, StreamContent)
                    else warm_at
                )
                if now >= warm_at:
                    need_amp = True
                if now >= open_at:
                    self._prepare(si)
                    next_at = min(next_at, si.play_at if now >= warm_at else warm_at)
                else:
                    next_at = min(next_at, open_at)
                continue
            if isinstance(content, StreamContent):
                if content.until is not None and now >= content.until.timestamp():
                    self._unplayed(si, "missed", "stream window over before it could start")
                    continue
            elif now - si.play_at > si.item.max_late_s:
                if not self.cache.has(content.sha256):
                    self._media_failed(si)
                else:
                    self._unplayed(si, "missed", f"{now - si.play_at:.1f}s late")
                continue
            elif not self.cache.has(content.sha256):
                self.fetcher.want(content.sha256, content.url, content.bytes)
                next_at = min(next_at, si.play_at + si.item.max_late_s + 0.001)
                continue
            refusal = self._refusal(si, now, settings)
            if refusal:
                self._unplayed(si, "cancelled", refusal)
                continue
            self._ready[si.key] = si
        for key, (_si, prev) in list(self._suspended.items()):
            until = prev.source.until
            if until is not None and now >= until - 0.3:
                with self._cond:
                    self._suspended.pop(key, None)
                self._finish_suspended(prev, "interrupted", "preempted until the window ended")
        candidates = [*self._ready.values(), *(si for si, _ in self._suspended.values())]
        if candidates:
            best = max(candidates, key=lambda s: (s.rank, -s.play_at))
            if cur is None:
                if best.key in self._suspended:
                    with self._cond:
                        _, prev = self._suspended.pop(best.key)
                    self._begin(best, resume=prev)
                else:
                    del self._ready[best.key]
                    self._begin(best)
            elif best.rank > cur.rank:
                if cur.source.is_stream:
                    cur.suspend = True
                cur.stop("interrupted", f"preempted by {best.item.priority} {best.key}")
            need_amp = True
        if self._current is not None or self._ready:
            need_amp = True
        if need_amp:
            self.amplifier.on()
        else:
            self.amplifier.release()
        if now - self._last_purge > 3600:
            self._last_purge = now
            self.store.purge_done(now - 86400)
            self.store.prune_seen(now - 86400)
        self._precise = next_at in starts
        return next_at

    def _refusal(self, si: StoredItem, now: float, settings: Settings) -> str | None:
        if si.item.priority == "emergency":
            return None
        if in_quiet_hours(settings.quiet_hours, now, self.tz):
            return "quiet_hours: only emergency plays now"
        played = self.store.non_emergency_seconds_since(now - 3600)
        if over_hourly_limit(settings.max_minutes_per_hour, played, planned_seconds(si, now)):
            return (
                f"hourly_limit: {played / 60:.1f} of {settings.max_minutes_per_hour:g} "
                "minutes of non-emergency audio already played this hour"
            )
        return None

    def _source(self, si: StoredItem) -> Source:
        c = si.item.content
        if isinstance(c, StreamContent):
            base = self.fetcher.base_url
            return Source(
                url=urljoin(base, c.url) if base else c.url,
                until=c.until.timestamp() if c.until else None,
                live=c.live,
                token=self.fetcher.token,
                label=f"{si.item.broadcast}-{si.item.occurrence}",
                stats=StreamStats(),
            )
        return Source(path=self.cache.path(c.sha256), duration_s=c.duration_s)

    def _prepare(self, si: StoredItem) -> None:
        c = si.item.content
        if isinstance(c, StreamContent):
            if si.key not in self._prepared and not c.live:
                self._prepared.add(si.key)
                source = self._source(si)
                assert source.url is not None
                preopen(source.url, source.token)
            return
        if si.key in self._prepared or not self.cache.has(c.sha256):
            return
        self._prepared.add(si.key)
        try:
            self.player.prepare(self._source(si))
        except PlayerError as exc:
            log.warning("could not prepare %s: %s", si.key, exc)

    def _begin(self, si: StoredItem, resume: Session | None = None) -> None:
        self._started_keys.add((si.key, si.play_at))
        self._prepared.discard(si.key)
        volume = si.item.volume if si.item.volume is not None else self.settings().volume
        if volume is not None and self.mixer_control:
            set_volume(volume, self.mixer_control, self.mixer_card)
        session = Session(self, si, resume.source if resume else self._source(si))
        if resume is not None:  # the same play goes on: no second play.started
            session.started_at = resume.started_at
            log.info("%s resumes after preemption", si.key)
        with self._cond:
            self._current = session
            self._sessions.add(session)
        session.start()

    # --- called from session threads -----------------------------------------------------

    def _started(self, s: Session) -> None:
        assert s.started_at is not None
        item = s.item.item
        c = item.content
        if c.kind == "file":
            self.cache.touch(c.sha256)
        self.store.mark_playing(s.item.key, s.started_at)
        self.report(
            "play.started",
            PlayStarted(
                broadcast=item.broadcast,
                occurrence=item.occurrence,
                sha256=_sha(s.item),
                play_at=dt(s.item.play_at),
                started_at=dt(s.started_at),
            ),
        )
        self.on_playing(self.playing())

    def _finished(self, s: Session, result: str, ended: float, error: str | None) -> None:
        until = s.source.until
        if (
            s.suspend
            and result == "interrupted"
            and s.source.stats is not None
            and (until is None or until - ended > 0.3)
            and not self._stopping
        ):
            s.source.stats.interruptions += 1
            s.source.stats.notes.append(f"preempted: {error}")
            log.info("%s suspended: %s", s.item.key, error)
            with self._cond:
                self._suspended[s.item.key] = (s.item, s)
                self._sessions.discard(s)
                self._dirty = True
                self._woken = True
                self._cond.notify_all()
            self.on_playing(self.playing())
            return
        self._report_finished(s, result, ended, error)
        with self._cond:
            self._sessions.discard(s)
            self._dirty = True
            self._woken = True
            self._cond.notify_all()
        self.on_playing(self.playing())

    def _finish_suspended(self, s: Session, result: str, error: str | None) -> None:
        self._report_finished(s, result, self.clock(), error)
        self.wake(schedule_changed=True)

    def _report_finished(self, s: Session, result: str, ended: float, error: str | None) -> None:
        item = s.item.item
        stats = s.source.stats
        if stats is not None:
            if result == "played" and stats.bytes == 0:
                result = "failed"
                error = error or f"no audio received: {stats.last_error or 'stream silent'}"
            if stats.interruptions and not error:
                error = "; ".join(stats.notes)[-500:]
        if s.started_at is not None:
            self.store.log_play(s.started_at, ended - s.started_at, item.priority == "emergency")
        self.player.record(
            {
                "node": self.node_id,
                "broadcast": item.broadcast,
                "occurrence": item.occurrence,
                "sha256": _sha(s.item),
                "play_at": iso(s.item.play_at),
                "started_at": iso(s.started_at),
                "finished_at": iso(ended),
                "result": result,
                **(
                    {
                        "stream": {
                            "bytes": stats.bytes,
                            "played_s": round(stats.played_s, 3),
                            "interruptions": stats.interruptions,
                            "notes": stats.notes,
                            "live": s.source.live,
                        }
                    }
                    if stats is not None
                    else {}
                ),
            }
        )
        self._done(
            s.item.key,
            PlayFinished(
                broadcast=item.broadcast,
                occurrence=item.occurrence,
                sha256=_sha(s.item),
                play_at=dt(s.item.play_at),
                started_at=dt(s.started_at) if s.started_at else None,
                ended_at=dt(ended),
                result=result,  # type: ignore[arg-type]
                error=error,
                played_s=round(stats.played_s, 3) if stats is not None else None,
                interruptions=stats.interruptions if stats is not None else None,
            ),
        )

    def _done(self, key: str, finished: PlayFinished) -> None:
        """An item is done, and its ``play.finished`` is in the outbox, in one transaction:
        killed between the two, the item would be done with no report ever to be sent (or
        reported twice, once as interrupted by ``_recover``)."""
        with self.store.transaction():
            self.store.mark_done(key, finished.result)
            self.report("play.finished", finished)

    # --- outcomes without a play ---------------------------------------------------------

    def _unplayed(self, si: StoredItem, result: str, error: str) -> None:
        log.warning("%s %s: %s", si.key, result, error)
        self._started_keys.add((si.key, si.play_at))
        self._done(
            si.key,
            PlayFinished(
                broadcast=si.item.broadcast,
                occurrence=si.item.occurrence,
                sha256=_sha(si),
                play_at=dt(si.play_at),
                ended_at=dt(self.clock()),
                result=result,  # type: ignore[arg-type]
                error=error,
            ),
        )

    def _media_failed(self, si: StoredItem) -> None:
        sha = _sha(si) or ""
        error = self.fetcher.last_error(sha) or "media not downloaded by play time"
        self.report(
            "media.failed",
            MediaFailed(
                broadcast=si.item.broadcast, occurrence=si.item.occurrence, sha256=sha, error=error
            ),
        )
        self._unplayed(si, "failed", f"media unavailable: {error}")


def _sha(si: StoredItem) -> str | None:
    c = si.item.content
    return c.sha256 if c.kind == "file" else None
