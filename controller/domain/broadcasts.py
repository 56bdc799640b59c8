"""Broadcasts (lượt phát): an announcement, target zones, and when — once or on a recurrence.

The database is the source of truth. A broadcast's occurrences become dispatch rows (one per
occurrence and node) as they enter the delivery horizon (``materialize``), so a recurring
broadcast reaches nodes added to its zones later, and nothing depends on in-memory jobs.
Only approved announcements are delivered: a broadcast may be scheduled while its announcement
waits for approval, and goes out only once it is approved.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from typing import Any, Literal

import sqlite_utils

import schedules
from controller.core.db import Store, insert, table
from controller.core.errors import ApiError
from controller.core.settings import Settings
from controller.domain import announcements, audit, authz, zones
from controller.domain import sources as streams
from controller.domain.identity import Identity
from loa.protocol import PRIORITY_RANK, to_wire_time, utcnow

#: How far ahead a broadcast may first play.
MAX_AHEAD = timedelta(days=366)
#: How far ahead conflicts are looked for.
CONFLICT_WINDOW = timedelta(days=92)
SCHEDULABLE = ("pending", "approved")
#: An emergency may start this late on a node that was briefly unreachable.
EMERGENCY_MAX_LATE_S = 300.0
#: The nominal start of an emergency: ``play.now`` is sent at once, nodes start on receipt.
EMERGENCY_LEAD = timedelta(seconds=1)


@dataclass(frozen=True)
class BroadcastRequest:
    announcement_id: int
    zone_ids: list[int]
    starts_at: datetime | None = None
    rrule: str | None = None
    rule: schedules.RuleSpec | None = None
    priority: str | None = None
    repeats: int = 1
    repeat_gap_s: float = 3.0
    accept_conflicts: bool = False
    #: Only these nodes of the zones (a CAP alert's area: the clusters inside it); None: all.
    node_ids: list[str] | None = None


def _schedule_error(exc: schedules.ScheduleError, field: str) -> ApiError:
    return ApiError(422, exc.code, field=field, message=exc.message_vi)


def occurrence_key(at: datetime) -> str:
    return schedules.occurrence_key(at)


def schedule_of(row: dict[str, Any]) -> schedules.Schedule:
    """The stored broadcast's Schedule (form checked only: stored rows always load)."""
    at = None if row["rrule"] else datetime.fromisoformat(row["starts_at"])
    return schedules.Schedule(
        at=at,
        rrule=row["rrule"] or None,
        repeats=row["repeats"] or 1,
        repeat_gap_s=row["repeat_gap_s"] if row["repeat_gap_s"] is not None else 3.0,
    )


def check_when(starts_at: datetime, now: datetime) -> None:
    if starts_at.tzinfo is None or starts_at.utcoffset() is None:
        raise ApiError(422, "time_without_offset", field="starts_at")
    if starts_at <= now:
        raise ApiError(422, "in_past", field="starts_at")
    if starts_at - now > MAX_AHEAD:
        raise ApiError(422, "too_far_ahead", field="starts_at", days=MAX_AHEAD.days)


def _build_schedule(req: BroadcastRequest, now: datetime, duration_s: float | None) -> Any:
    try:
        if req.starts_at is not None and (req.rrule or req.rule):
            raise ApiError(422, "invalid_request", field="starts_at")
        if req.starts_at is not None:
            check_when(req.starts_at, now)
            return schedules.one_off(
                req.starts_at, now=now, repeats=req.repeats, repeat_gap_s=req.repeat_gap_s
            )
        rule = req.rule or req.rrule
        if rule is None:
            raise ApiError(422, "invalid_request", field="starts_at")
        return schedules.recurring(
            rule,
            now=now,
            repeats=req.repeats,
            repeat_gap_s=req.repeat_gap_s,
            duration_s=duration_s,
        )
    except schedules.ScheduleError as exc:
        raise _schedule_error(exc, "starts_at" if req.starts_at else "rrule") from None


def _duration(db: sqlite_utils.Database, sha: str | None) -> float:
    if not sha:
        return 1.0
    rows = list(db.query("SELECT duration_s FROM media WHERE sha256 = ?", [sha]))
    return float(rows[0]["duration_s"]) if rows else 1.0


def _plan_of(
    db: sqlite_utils.Database, row: dict[str, Any], nodes: frozenset[str] | None = None
) -> schedules.BroadcastPlan:
    """``nodes``: these instead of the ones under the row's zones (not read)."""
    streamed = (row.get("kind") or "file") != "file"
    return schedules.BroadcastPlan(
        id=row["id"],
        title=row["title"] or "",
        schedule=schedule_of(row),
        duration_s=(row["duration_s"] or 1.0) if streamed else _duration(db, row["media_sha256"]),
        nodes=(
            nodes
            if nodes is not None
            else frozenset(zones.nodes_under(db, json.loads(row["zone_ids"])))
        ),
        priority=row["priority"],
    )


def conflicts_for(
    db: sqlite_utils.Database,
    plan: schedules.BroadcastPlan,
    now: datetime,
) -> list[schedules.Conflict]:
    """Equal-priority overlaps of ``plan`` with active broadcasts on shared nodes."""
    rows = list(
        db.query(
            "SELECT b.*, COALESCE(a.title, b.title) AS title, a.media_sha256 FROM broadcasts b "
            "LEFT JOIN announcements a ON a.id = b.announcement_id "
            "WHERE b.status = 'active' AND b.priority = ? AND COALESCE(b.kind, '') != 'live'",
            [plan.priority],
        )
    )
    end = now + CONFLICT_WINDOW
    existing = []
    for row in rows:
        # On air at the same time as ``plan`` if it had all of plan's nodes? Its own nodes are
        # read only then: a province's past emergencies (10,000 nodes each, still ``active``)
        # made every new emergency's call slower by 10 ms each.
        timing = _plan_of(db, row, nodes=plan.nodes)
        if not schedules.find_conflicts(plan, [timing], start=now, end=end, limit=1):
            continue
        other = _plan_of(db, row)
        if other.nodes & plan.nodes:
            existing.append(other)
    return schedules.find_conflicts(plan, existing, start=now, end=end, limit=20)


#: The nearest free start times are looked for in steps of this much.
FREE_STEP = timedelta(minutes=15)


def free_starts(
    db: sqlite_utils.Database,
    plan: schedules.BroadcastPlan,
    now: datetime,
    count: int = 3,
) -> list[datetime]:
    """After a clash, the nearest ``count`` later start times on the same local day(s), in
    ``FREE_STEP`` steps, at which ``plan`` clashes with no equal-priority broadcast on its
    clusters (the check of :func:`conflicts_for`). A one-off moves its time; a recurring plan
    moves every time of day of its rule by the same amount (its next occurrence is
    returned). A shift that crosses midnight or makes the rule invalid is not offered."""
    spec = plan.schedule.spec
    first = plan.schedule.at
    if first is None and spec is not None:
        first = datetime.combine(date(2000, 1, 1), min(spec.times), schedules.LOCAL_TZ)
    if first is None:
        return []
    local = first.astimezone(schedules.LOCAL_TZ)
    found: list[datetime] = []
    shift = FREE_STEP
    while len(found) < count and (local + shift).date() == local.date():
        schedule = _shifted(plan.schedule, shift, now)
        if schedule is not None and not conflicts_for(db, replace(plan, schedule=schedule), now):
            upcoming = schedules.next_occurrence(schedule, now)
            if upcoming is not None:
                found.append(upcoming.at)
        shift += FREE_STEP
    return found


def _shifted(
    schedule: schedules.Schedule, shift: timedelta, now: datetime
) -> schedules.Schedule | None:
    """``schedule`` later by ``shift`` on the same day(s); None if that is not a valid one."""
    if schedule.at is not None:
        return replace(schedule, at=schedule.at + shift)
    spec = schedule.spec
    assert spec is not None
    day = date(2000, 1, 1)
    moved = [datetime.combine(day, t) + shift for t in spec.times]
    if any(m.date() != day for m in moved):
        return None
    try:
        return schedules.recurring(
            replace(spec, times=tuple(m.time() for m in moved)),
            now=now,
            repeats=schedule.repeats,
            repeat_gap_s=schedule.repeat_gap_s,
        )
    except schedules.ScheduleError:
        return None


def conflict_details(db: sqlite_utils.Database, found: list[schedules.Conflict]) -> list[dict]:
    if not found:  # no need to read every node's name (30 ms at 10,000: an emergency's call)
        return []
    names = {r["id"]: r["name"] for r in db.query("SELECT id, name FROM nodes")}
    villages = {
        r["id"]: r["zone"]
        for r in db.query(
            "SELECT n.id, z.name AS zone FROM nodes n JOIN zones z ON z.id = n.zone_id"
        )
    }
    return [
        {
            "broadcast_id": c.other_id,
            "title": c.other_title,
            "occurrence": c.occurrence,
            "start": to_wire_time(c.start),
            "overlap_start": to_wire_time(c.overlap_start),
            "nodes": list(c.nodes),
            # the villages (zones) of the shared clusters, for the form's sentence
            "zones": sorted({villages[n] for n in c.nodes if n in villages}),
            "message": schedules.describe_conflict(c, names),
        }
        for c in found
    ]


@dataclass(frozen=True)
class Plan:
    """A checked request: what would be saved, and what it clashes with."""

    announcement: dict[str, Any]
    schedule: schedules.Schedule
    node_ids: list[str]
    priority: str
    conflicts: list[dict[str, Any]]
    summary: str
    #: after a clash, the nearest start times that clash with nothing (``free_starts``)
    free_starts: list[datetime] = field(default_factory=list)


def plan_broadcast(
    store: Store,
    settings: Settings,
    who: Identity,
    req: BroadcastRequest,
    now: datetime,
    *,
    render: bool = True,
) -> Plan:
    """Every check a new broadcast must pass, without writing anything but rendered audio."""
    db = store.db
    authz.require(who, "broadcast.schedule")
    node_ids = zones.check_targets(db, who, req.zone_ids)
    if req.node_ids is not None:
        node_ids = [n for n in node_ids if n in set(req.node_ids)]
        if not node_ids:
            raise ApiError(422, "no_nodes", field="zone_ids")
    announcement = announcements.get_announcement(db, req.announcement_id)
    if announcement is None:
        raise ApiError(404, "announcement_not_found", field="announcement_id")
    if announcement["status"] not in SCHEDULABLE:
        raise ApiError(409, "announcement_not_approved", field="announcement_id")
    priority = req.priority or announcement["priority"] or "normal"
    if priority not in PRIORITY_RANK:
        raise ApiError(422, "invalid_request", field="priority")
    if priority == "emergency":
        authz.require(who, "broadcast.emergency")
    schedule = _build_schedule(req, now, None)
    sha = announcements.ensure_rendered(store, settings, announcement) if render else None
    duration = _duration(db, sha)
    if schedule.rrule:
        try:
            schedules.check_schedule(schedule, now=now, duration_s=duration)
        except schedules.ScheduleError as exc:
            raise _schedule_error(exc, "rrule") from None
    plan = schedules.BroadcastPlan(
        id=None,
        title=announcement["title"],
        schedule=schedule,
        duration_s=duration,
        nodes=frozenset(node_ids),
        priority=priority,  # type: ignore[arg-type]
    )
    found = conflict_details(db, conflicts_for(db, plan, now))
    return Plan(
        announcement=announcements.get_announcement(db, req.announcement_id) or announcement,
        schedule=schedule,
        node_ids=node_ids,
        priority=priority,
        conflicts=found,
        summary=schedules.summarize(schedule, today=now.astimezone(schedules.LOCAL_TZ).date()),
        free_starts=free_starts(db, plan, now) if found else [],
    )


def create_broadcast(
    store: Store,
    settings: Settings,
    who: Identity,
    req: BroadcastRequest,
    *,
    now: datetime | None = None,
    emergency: bool = False,
    dispatches_later: bool = False,
) -> int:
    """Check, render, then write the broadcast, its first dispatches and the audit entry at once.

    Equal-priority overlaps are refused (409 with the clashes) unless ``accept_conflicts``: the
    node would queue them, and the official should know before saving.

    ``dispatches_later`` (an emergency): the broadcast and its audit entry only, already planned
    to the delivery horizon (the tick's ``materialize`` leaves the window alone); the caller
    writes its first dispatches from the same ``now`` once its command is out
    (``first_dispatches``, ``dispatch_rows``, ``insert_dispatches``).
    """
    now = now or utcnow()
    plan = plan_broadcast(store, settings, who, req, now)
    _refuse_conflicts(plan.conflicts, req.accept_conflicts)
    schedule = plan.schedule
    row = {
        "announcement_id": req.announcement_id,
        "zone_ids": json.dumps(sorted(set(req.zone_ids))),
        "starts_at": to_wire_time(schedule.at) if schedule.at else None,
        "rrule": schedule.rrule,
        "priority": plan.priority,
        "max_late_s": EMERGENCY_MAX_LATE_S if emergency else settings.max_late_s,
        "repeats": schedule.repeats,
        "repeat_gap_s": schedule.repeat_gap_s,
        "status": "active",
        "emergency": int(emergency),
        "created_by": who.user_id,
        "created_at": to_wire_time(now),
    }
    if req.node_ids is not None:
        row["node_ids"] = json.dumps(plan.node_ids)
    action = "broadcast.emergency" if emergency else "broadcast.create"
    return _save(store, settings, who, row, schedule, action, plan.conflicts, now, dispatches_later)


def _refuse_conflicts(conflicts: list[dict[str, Any]], accepted: bool) -> None:
    """Equal-priority overlaps: 409 with the clashes named, unless the official accepted them."""
    if conflicts and not accepted:
        raise ApiError(
            409,
            "schedule_conflict",
            field="starts_at",
            message=conflicts[0]["message"],
            details=conflicts,
        )


def _save(
    store: Store,
    settings: Settings,
    who: Identity,
    row: dict[str, Any],
    schedule: schedules.Schedule,
    action: str,
    conflicts: list[dict[str, Any]],
    now: datetime,
    dispatches_later: bool = False,
) -> int:
    """Write a checked broadcast, its audit entry and its first dispatches in one transaction
    (not the dispatches with ``dispatches_later``); a recurring one starts at its next
    occurrence."""
    if schedule.rrule:
        first = schedules.next_occurrence(schedule, now)
        row["starts_at"] = to_wire_time(first.at) if first else None
    until = now + settings.delivery_horizon
    with store.transaction() as db:
        if dispatches_later:
            broadcast_id = insert(db, "broadcasts", {**row, "planned_until": to_wire_time(until)})
        else:
            broadcast_id = insert(db, "broadcasts", row)
        audit.record(
            db, who, action, "broadcast", broadcast_id, after={**row, "conflicts": conflicts}
        )
        if not dispatches_later:
            _materialize_one(db, {**row, "id": broadcast_id}, now, until)
    return broadcast_id


def _target_nodes(db: sqlite_utils.Database, row: dict[str, Any]) -> list[str]:
    """The (not revoked) nodes a broadcast row reaches: every node under its zones, or only
    the ones it was narrowed to (a CAP alert's area)."""
    node_ids = zones.nodes_under(db, json.loads(row["zone_ids"]))
    if row.get("node_ids"):  # narrowed to the clusters inside a CAP alert's area
        only = set(json.loads(row["node_ids"]))
        node_ids = [n for n in node_ids if n in only]
    return node_ids


def dispatch_rows(
    broadcast_id: int,
    occurrences: list[schedules.Occurrence],
    node_ids: list[str],
    now: datetime,
) -> list[dict[str, Any]]:
    """One ``queued`` dispatch row (not written) per occurrence and node."""
    stamp = to_wire_time(now)
    return [
        {
            "broadcast_id": broadcast_id,
            "occurrence": occ.key,
            "node_id": node_id,
            "play_at": play_at,
            "state": "queued",
            "updated_at": stamp,
        }
        for occ, play_at in ((o, to_wire_time(o.at)) for o in occurrences)
        for node_id in node_ids
    ]


#: The columns ``insert_dispatches`` writes; a row leaves out the ones it does not set.
DISPATCH_COLUMNS = (
    "broadcast_id",
    "occurrence",
    "node_id",
    "play_at",
    "state",
    "updated_at",
    "cmd_id",
    "sent_at",
)


def insert_dispatches(db: sqlite_utils.Database, rows: list[dict[str, Any]]) -> None:
    """``INSERT OR IGNORE`` dispatch rows in one prepared statement (sqlite-utils' ``insert_all``
    spent 0.3 s building 10,000 rows' SQL: a province's emergency)."""
    if rows:
        db.conn.executemany(
            f"INSERT OR IGNORE INTO dispatches ({', '.join(DISPATCH_COLUMNS)}) "
            f"VALUES ({', '.join('?' * len(DISPATCH_COLUMNS))})",
            [tuple(r.get(c) for c in DISPATCH_COLUMNS) for r in rows],
        )


def first_dispatches(
    db: sqlite_utils.Database, broadcast_id: int, now: datetime
) -> tuple[list[schedules.Occurrence], list[str]]:
    """What the first dispatch rows of a broadcast saved with ``dispatches_later`` at ``now``
    are made of (``dispatch_rows``): its occurrences in [now, planned_until), and its nodes."""
    found = list(db.query("SELECT * FROM broadcasts WHERE id = ?", [broadcast_id]))
    if not found or not found[0]["planned_until"]:
        return [], []
    row = found[0]
    until = datetime.fromisoformat(row["planned_until"])
    occurrences = schedules.occurrences(schedule_of(row), now, until)
    if not occurrences:
        return [], []
    return occurrences, _target_nodes(db, row)


def _materialize_one(
    db: sqlite_utils.Database, row: dict[str, Any], now: datetime, until: datetime
) -> int:
    """Dispatch rows for the broadcast's occurrences in [planned_until or now, until).

    ``planned_until`` moves only when occurrences were planned: the window is recomputed from
    ``now`` otherwise, which gives the same occurrences (it never reaches back before ``now``).
    """
    start = (
        max(datetime.fromisoformat(row["planned_until"]), now) if row.get("planned_until") else now
    )
    if start >= until:
        return 0
    occurrences = schedules.occurrences(schedule_of(row), start, until)
    if not occurrences:
        # Nothing new inside the horizon (a one-off already planned, a recurring broadcast
        # between occurrences): no write, so a tick over many broadcasts costs little.
        return 0
    rows = dispatch_rows(row["id"], occurrences, _target_nodes(db, row), now)
    insert_dispatches(db, rows)
    table(db, "broadcasts").update(row["id"], {"planned_until": to_wire_time(until)})
    return len(rows)


def materialize(store: Store, settings: Settings, now: datetime | None = None) -> int:
    """Extend every active broadcast's dispatch rows to the delivery horizon (scheduler tick)."""
    now = now or utcnow()
    until = now + settings.delivery_horizon
    horizon = to_wire_time(until)
    created = 0
    with store.transaction() as db:
        for row in list(
            db.query(
                "SELECT * FROM broadcasts WHERE status = 'active' "
                "AND (planned_until IS NULL OR planned_until < ?)",
                [horizon],
            )
        ):
            created += _materialize_one(db, row, now, until)
    return created


#: Dispatch states with something still to do: deliver, play, or report how it played.
OPEN_STATES = ("queued", "sent", "acked", "playing")
#: Longest reason an official may give for cancelling or stopping a broadcast.
MAX_REASON_CHARS = 500

StateCode = Literal["scheduled", "playing", "active", "due", "finished", "cancelled"]
#: The states in which a broadcast still has something to stop (cancel is offered).
STOPPABLE: frozenset[str] = frozenset({"scheduled", "playing", "active", "due"})


@dataclass(frozen=True)
class BroadcastState:
    """What an official reads about a broadcast, derived from its row, its dispatches and the
    clock (``derive_state``); ``status`` stays the stored ``active``/``cancelled``.

    - ``scheduled``: nothing has come yet; ``next_at`` is its first time (``first``).
    - ``playing``: some cluster plays it now, or it is due on one that has it (sent or acked
      at or after its time), or a relay's window is open, or a live session is open.
    - ``active``: a recurring broadcast between occurrences; ``next_at`` is its next one.
    - ``due``: its time has come but clusters have not got it yet (queued: an announcement
      still waiting for approval, the broker unreachable); it becomes missed at its lateness
      limit.
    - ``finished``: nothing left — no occurrence ahead (its validity window ended) and no
      dispatch still open; ``played_any`` says whether any cluster played it.
    - ``cancelled``: cancelled (an emergency: stopped), ``cancelled_at`` by ``cancelled_by``.
    """

    code: StateCode
    emergency: bool = False
    recurring: bool = False
    next_at: datetime | None = None
    first: bool = False
    played_any: bool = False
    cancelled_at: datetime | None = None
    cancelled_by: str | None = None

    @property
    def stoppable(self) -> bool:
        """Something is left to stop: cancel is offered, and allowed, only then."""
        return self.code in STOPPABLE


def derive_state(
    row: dict[str, Any],
    now: datetime,
    *,
    on_air: int = 0,
    queued: int = 0,
    played: int = 0,
    live_open: bool = False,
    cancelled_by: str | None = None,
) -> BroadcastState:
    """The one rule for a broadcast's state (see :class:`BroadcastState`). ``row`` is the stored
    broadcast; ``on_air``, ``queued`` and ``played`` count its dispatches that are playing (or
    sent/acked with their time come), queued, and played; ``live_open``: a live session on it
    is open."""
    emergency, recurring = bool(row.get("emergency")), bool(row.get("rrule"))
    if row["status"] == "cancelled":
        at = row.get("cancelled_at")
        return BroadcastState(
            "cancelled",
            cancelled_at=datetime.fromisoformat(at) if at else None,
            cancelled_by=cancelled_by,
            emergency=emergency,
            recurring=recurring,
        )
    kind = row.get("kind") or "file"
    schedule = schedule_of(row)
    upcoming = None if kind == "live" else schedules.next_occurrence(schedule, now)
    window_open = False
    if kind == "relay" and row.get("approved_at"):
        window = timedelta(seconds=row.get("duration_s") or 0)
        window_open = bool(
            schedules.occurrences_overlapping(schedule, now, now + timedelta(seconds=1), window)
        )
    next_at = upcoming.at if upcoming else None
    if on_air or window_open or live_open:
        return BroadcastState("playing", next_at=next_at, emergency=emergency, recurring=recurring)
    if next_at is not None:
        first_at = row.get("starts_at")
        first = not row.get("rrule") or not first_at or datetime.fromisoformat(first_at) >= next_at
        return BroadcastState(
            "scheduled" if first else "active",
            next_at=next_at,
            first=first,
            emergency=emergency,
            recurring=recurring,
        )
    if queued:
        return BroadcastState("due", emergency=emergency, recurring=recurring)
    return BroadcastState(
        "finished", played_any=played > 0, emergency=emergency, recurring=recurring
    )


def _state_facts(
    db: sqlite_utils.Database, broadcast_ids: list[int], now: datetime
) -> dict[int, dict[str, Any]]:
    """Per broadcast: its dispatches ``on_air``, ``queued`` and ``played`` (every node's, the
    broadcast's own state), ``live_open``, and ``cancelled_by`` (the official's name)."""
    if not broadcast_ids:
        return {}
    marks = ",".join("?" * len(broadcast_ids))
    facts: dict[int, dict[str, Any]] = {
        i: {"on_air": 0, "queued": 0, "played": 0, "live_open": False, "cancelled_by": None}
        for i in broadcast_ids
    }
    for r in db.query(
        "SELECT broadcast_id, "
        "SUM(state = 'playing' OR (state IN ('sent', 'acked') AND play_at <= ?)) AS on_air, "
        "SUM(state = 'queued') AS queued, SUM(state = 'played') AS played "
        f"FROM dispatches WHERE broadcast_id IN ({marks}) GROUP BY broadcast_id",
        [to_wire_time(now), *broadcast_ids],
    ):
        facts[r["broadcast_id"]].update(
            on_air=r["on_air"] or 0, queued=r["queued"] or 0, played=r["played"] or 0
        )
    for r in db.query(
        "SELECT DISTINCT broadcast_id FROM live_sessions WHERE ended_at IS NULL "
        f"AND broadcast_id IN ({marks})",
        broadcast_ids,
    ):
        facts[r["broadcast_id"]]["live_open"] = True
    for r in db.query(
        "SELECT b.id, COALESCE(NULLIF(u.display_name, ''), u.username) AS name FROM broadcasts b "
        f"JOIN users u ON u.id = b.cancelled_by WHERE b.id IN ({marks})",
        broadcast_ids,
    ):
        facts[r["id"]]["cancelled_by"] = r["name"]
    return facts


def states_of(
    db: sqlite_utils.Database, rows: list[dict[str, Any]], now: datetime | None = None
) -> dict[int, BroadcastState]:
    """:func:`derive_state` of each stored broadcast row, by id."""
    now = now or utcnow()
    facts = _state_facts(db, [r["id"] for r in rows], now)
    return {r["id"]: derive_state(r, now, **facts[r["id"]]) for r in rows}


def state_fields(state: BroadcastState) -> dict[str, Any]:
    """The state as the API reads it, beside the stored ``status``: ``state`` (a code of
    :class:`BroadcastState`), ``next_at`` (wire time or null) and ``stoppable``."""
    return {
        "state": state.code,
        "next_at": to_wire_time(state.next_at) if state.next_at else None,
        "stoppable": state.stoppable,
    }


def clean_reason(reason: str | None) -> str | None:
    """Why an official cancels or stops a broadcast, as stored in the audit entry: people's
    words (``announcements.clean_words``), at most ``MAX_REASON_CHARS``; empty: None."""
    text = announcements.clean_words(reason or "", "reason", multiline=True)
    if len(text) > MAX_REASON_CHARS:
        raise ApiError(422, "reason_too_long", field="reason", limit=MAX_REASON_CHARS)
    return text or None


def _stoppable(
    db: sqlite_utils.Database, who: Identity, broadcast_id: int, now: datetime
) -> tuple[dict[str, Any], BroadcastState]:
    """The checks before cancelling: the permission, visible (404), every target zone inside
    the area (``outside_area``), and something left to stop (``broadcast_finished``, 409)."""
    authz.require(who, "broadcast.cancel")
    row = visible_broadcast(db, who, broadcast_id)
    authz.require_whole_broadcast(db, who, json.loads(row["zone_ids"]))
    state = states_of(db, [row], now)[broadcast_id]
    if not state.stoppable:
        raise ApiError(409, "broadcast_finished")
    return row, state


@dataclass(frozen=True)
class CancelPreview:
    """What cancelling a broadcast would stop, for the official to confirm first."""

    state: BroadcastState
    #: the clusters its zones reach: none of them plays it again
    node_ids: list[str]
    #: the clusters playing it now (or due to start at once): they stop at once
    on_air: list[str]
    #: its next occurrences, which will not play (at most the ``limit`` asked for)
    upcoming: list[datetime]
    #: more occurrences follow those
    more: bool


def cancel_preview(
    db: sqlite_utils.Database,
    who: Identity,
    broadcast_id: int,
    now: datetime | None = None,
    limit: int = 5,
) -> CancelPreview:
    """What :func:`cancel_broadcast` would stop, checked as it checks (same errors), nothing
    written."""
    now = now or utcnow()
    row, state = _stoppable(db, who, broadcast_id, now)
    schedule = schedule_of(row)
    ahead = (
        []
        if row.get("kind") == "live"
        else schedules.occurrences(schedule, now, now + CONFLICT_WINDOW)
    )
    more = len(ahead) > limit or (
        bool(row["rrule"])
        and schedules.next_occurrence(schedule, now + CONFLICT_WINDOW) is not None
    )
    on_air = [
        r["node_id"]
        for r in db.query(
            "SELECT DISTINCT node_id FROM dispatches WHERE broadcast_id = ? AND (state = "
            "'playing' OR (state IN ('sent', 'acked') AND play_at <= ?)) ORDER BY node_id",
            [broadcast_id, to_wire_time(now)],
        )
    ]
    return CancelPreview(
        state=state,
        node_ids=zones.nodes_under(db, json.loads(row["zone_ids"])),
        on_air=on_air,
        upcoming=[o.at for o in ahead[:limit]],
        more=more,
    )


def cancel_broadcast(
    store: Store,
    who: Identity,
    broadcast_id: int,
    now: datetime | None = None,
    *,
    reason: str | None = None,
) -> dict[str, list[int]]:
    """Cancel a broadcast; return {node_id: [broadcast_id]} of nodes that hold its items.

    Only an official whose area holds every target zone may (``outside_area`` otherwise): a
    village's official never cancels what another village hears. Only while something is left
    to stop (:attr:`BroadcastState.stoppable`; ``broadcast_finished`` otherwise): a broadcast
    that played stays played. ``reason`` (optional, see :func:`clean_reason`) is kept in the
    audit entry.

    Dispatches not yet played become ``cancelled``; the caller sends ``schedule.cancel`` (and
    ``play.stop`` where it plays) to the nodes returned.
    """
    now = now or utcnow()
    reason = clean_reason(reason)
    with store.transaction() as db:
        before, _ = _stoppable(db, who, broadcast_id, now)
        holders = [
            r["node_id"]
            for r in db.query(
                "SELECT DISTINCT node_id FROM dispatches WHERE broadcast_id = ? "
                "AND state IN ('sent', 'acked', 'playing')",
                [broadcast_id],
            )
        ]
        stamp = to_wire_time(now)
        db.execute(
            "UPDATE dispatches SET state = 'cancelled', updated_at = ? WHERE broadcast_id = ? "
            "AND state IN ('queued', 'sent', 'acked', 'playing')",
            [stamp, broadcast_id],
        )
        table(db, "broadcasts").update(
            broadcast_id,
            {"status": "cancelled", "cancelled_at": stamp, "cancelled_by": who.user_id},
        )
        audit.record(
            db,
            who,
            "broadcast.cancel",
            "broadcast",
            broadcast_id,
            before,
            {"status": "cancelled", "nodes": holders, "reason": reason},
        )
    return {node_id: [broadcast_id] for node_id in holders}


def cancel_reason(db: sqlite_utils.Database, broadcast_id: int) -> str | None:
    """The reason given when the broadcast was cancelled (its audit entry), if any."""
    for r in db.query(
        "SELECT after FROM audit_log WHERE action = 'broadcast.cancel' AND entity = 'broadcast' "
        "AND entity_id = ? ORDER BY id DESC LIMIT 1",
        [str(broadcast_id)],
    ):
        after = json.loads(r["after"] or "{}")
        return after.get("reason") or None
    return None


def visible_broadcast(db: sqlite_utils.Database, who: Identity, broadcast_id: int) -> dict:
    """The broadcast row, or 404 when it does not exist or targets nothing in the user's area."""
    rows = list(db.query("SELECT * FROM broadcasts WHERE id = ?", [broadcast_id]))
    if not rows:
        raise ApiError(404, "broadcast_not_found")
    allowed = authz.area(db, who)
    if allowed is not None and not set(json.loads(rows[0]["zone_ids"])) & allowed:
        raise ApiError(404, "broadcast_not_found")
    return rows[0]


def broadcast_detail(
    db: sqlite_utils.Database, broadcast_id: int, who: Identity | None = None
) -> dict[str, Any] | None:
    """The broadcast with its dispatches; with ``who``: None outside their area, and only the
    dispatches of nodes inside it (counts included)."""
    if who is not None:
        try:
            visible_broadcast(db, who, broadcast_id)
        except ApiError:
            return None
    rows = list(
        db.query(
            "SELECT b.*, COALESCE(a.title, b.title) AS title, a.text, "
            "COALESCE(a.media_sha256, b.recording_sha256) AS media_sha256, "
            "a.status AS announcement_status, s.name AS stream_source_name "
            "FROM broadcasts b LEFT JOIN announcements a ON a.id = b.announcement_id "
            "LEFT JOIN stream_sources s ON s.id = b.stream_source_id WHERE b.id = ?",
            [broadcast_id],
        )
    )
    if not rows:
        return None
    b = rows[0]
    inside = authz.nodes_in_area(db, who) if who is not None else None
    dispatches = [
        d
        for d in db.query(
            "SELECT node_id, occurrence, state, play_at, sent_at, acked_at, started_at, "
            "finished_at, error, played_s, interruptions FROM dispatches WHERE broadcast_id = ? "
            "ORDER BY play_at, node_id",
            [broadcast_id],
        )
        if inside is None or d["node_id"] in inside
    ]
    schedule = schedule_of(b)
    state = states_of(db, [b])[b["id"]]
    return {
        "id": b["id"],
        "announcement_id": b["announcement_id"],
        "announcement_status": b["announcement_status"],
        "title": b["title"],
        "zone_ids": json.loads(b["zone_ids"]),
        "starts_at": b["starts_at"],
        "rrule": b["rrule"],
        "summary": schedules.summarize(schedule),
        "repeats": b["repeats"],
        "priority": b["priority"],
        "emergency": bool(b["emergency"]),
        "status": b["status"],
        **state_fields(state),
        "cancelled_at": b["cancelled_at"],
        "cancel_reason": cancel_reason(db, b["id"]) if b["status"] == "cancelled" else None,
        "media_sha256": b["media_sha256"],
        "created_at": b["created_at"],
        "kind": b["kind"] or "file",
        "stream_source_id": b["stream_source_id"],
        "stream_source_name": b["stream_source_name"],
        "window_s": b["duration_s"] if b["kind"] == "relay" else None,
        # relays: "pending" until an approver approves (then delivered), else "approved"
        "approval": (
            ("approved" if b["approved_at"] else "pending") if b["kind"] == "relay" else None
        ),
        "recording_sha256": b["recording_sha256"],
        "played": sum(d["state"] == "played" for d in dispatches),
        # occurrences that played on at least one cluster (a recurring broadcast's "N lần")
        "times_played": len({d["occurrence"] for d in dispatches if d["state"] == "played"}),
        # nodes that acknowledged it, including those that stopped or lost it since
        "acked": sum(
            d["state"] in ("acked", "playing", "played") or d["acked_at"] is not None
            for d in dispatches
        ),
        "dispatches": dispatches,
    }


def recent_broadcasts(
    db: sqlite_utils.Database, who: Identity | None = None, limit: int = 50
) -> list[dict[str, Any]]:
    """:func:`recent_with_states` as the API reads them: each with :func:`state_fields`."""
    return [{**r, **state_fields(state)} for r, state in recent_with_states(db, who, limit)]


def recent_with_states(
    db: sqlite_utils.Database, who: Identity | None = None, limit: int = 50
) -> list[tuple[dict[str, Any], BroadcastState]]:
    """The newest broadcasts in the official's area with their state, each with its
    dispatches counted inside the area: ``total``, ``played``, and ``times_played``
    (occurrences played on at least one cluster)."""
    rows = list(
        db.query(
            "SELECT b.id, b.starts_at, b.rrule, b.priority, b.status, b.zone_ids, b.emergency, "
            "COALESCE(b.kind, 'file') AS kind, COALESCE(a.title, b.title) AS title, "
            "COUNT(d.id) AS total, COALESCE(SUM(d.state = 'played'), 0) AS played, "
            "COUNT(DISTINCT CASE WHEN d.state = 'played' THEN d.occurrence END) AS times_played "
            "FROM broadcasts b LEFT JOIN announcements a ON a.id = b.announcement_id "
            "LEFT JOIN dispatches d ON d.broadcast_id = b.id "
            "GROUP BY b.id ORDER BY b.id DESC LIMIT ?",
            [limit],
        )
    )
    allowed = authz.area(db, who) if who else None
    inside = authz.nodes_in_area(db, who) if who else None
    out = []
    for r in rows:
        zone_ids = json.loads(r.pop("zone_ids"))
        if allowed is None or set(zone_ids) & allowed:
            if inside is not None:  # counts over the dispatches inside the area only
                mine = [
                    d
                    for d in db.query(
                        "SELECT node_id, occurrence, state FROM dispatches WHERE broadcast_id = ?",
                        [r["id"]],
                    )
                    if d["node_id"] in inside
                ]
                r["total"] = len(mine)
                r["played"] = sum(d["state"] == "played" for d in mine)
                r["times_played"] = len({d["occurrence"] for d in mine if d["state"] == "played"})
            out.append({**r, "zone_ids": zone_ids})
    ids = [r["id"] for r in out]
    stored = list(
        db.query(f"SELECT * FROM broadcasts WHERE id IN ({','.join('?' * len(ids))})", ids)
    )
    states = states_of(db, stored)
    return [(r, states[r["id"]]) for r in out]


def broadcast_state(
    db: sqlite_utils.Database, broadcast_id: int, now: datetime | None = None
) -> BroadcastState | None:
    """The broadcast's state (:func:`derive_state`); None when there is no such broadcast."""
    rows = list(db.query("SELECT * FROM broadcasts WHERE id = ?", [broadcast_id]))
    return states_of(db, rows, now)[broadcast_id] if rows else None


def occurrence_progress(dispatches: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per occurrence of the dispatches given (oldest first): its ``occurrence`` key, its
    ``play_at`` (wire time), how many clusters ``played`` it of ``total``."""
    by: dict[str, dict[str, Any]] = {}
    for d in dispatches:
        o = by.setdefault(
            d["occurrence"],
            {"occurrence": d["occurrence"], "play_at": d["play_at"], "played": 0, "total": 0},
        )
        o["total"] += 1
        o["played"] += d["state"] == "played"
    return sorted(by.values(), key=lambda o: str(o["play_at"]))


# --- relays (tiếp sóng) -----------------------------------------------------------------------

#: Shortest and longest relay window.
MIN_WINDOW_S = 5.0
MAX_WINDOW_S = 12 * 3600.0


@dataclass(frozen=True)
class RelayRequest:
    stream_source_id: int
    zone_ids: list[int]
    window_s: float
    starts_at: datetime | None = None
    rrule: str | None = None
    rule: schedules.RuleSpec | None = None
    priority: str = "normal"
    title: str = ""
    accept_conflicts: bool = False
    #: Schedule it even when the source fails its health check now (a station off the air).
    accept_unhealthy: bool = False


def create_relay(
    store: Store,
    settings: Settings,
    who: Identity,
    req: RelayRequest,
    *,
    now: datetime | None = None,
) -> int:
    """A relay of a saved stream source for a window, once or on a recurrence.

    Relays go through approval like announcements: one made by an official who may review
    (``relay.review``: admin, approver) is approved as it is made; an editor's waits, its
    dispatches queued and delivered to no node, until an approver approves it
    (:func:`approve_relay`), or ends ``missed`` if approval comes too late.

    Checked like any broadcast (area, zones, time, and equal-priority overlaps with the window
    as its duration); nodes may join late, until the window ends. A source whose health check
    fails, now as well as last time, is ``stream_source_unhealthy`` unless accepted.
    """
    now = now or utcnow()
    db = store.db
    authz.require(who, "broadcast.schedule")
    node_ids = zones.check_targets(db, who, req.zone_ids)
    source = streams.get_source(db, req.stream_source_id)
    if source is None:
        raise ApiError(404, "stream_source_not_found", field="stream_source_id")
    if not MIN_WINDOW_S <= req.window_s <= MAX_WINDOW_S:
        raise ApiError(
            422, "bad_window", field="window_s", low=int(MIN_WINDOW_S), high=int(MAX_WINDOW_S)
        )
    if req.priority not in PRIORITY_RANK:
        raise ApiError(422, "invalid_request", field="priority")
    if req.priority == "emergency":
        authz.require(who, "broadcast.emergency")
    schedule = _build_schedule(
        BroadcastRequest(
            announcement_id=0,
            zone_ids=req.zone_ids,
            starts_at=req.starts_at,
            rrule=req.rrule,
            rule=req.rule,
        ),
        now,
        req.window_s,
    )
    if schedule.rrule:
        try:
            schedules.check_schedule(schedule, now=now, duration_s=req.window_s)
        except schedules.ScheduleError as exc:
            raise _schedule_error(exc, "rrule") from None
    if not req.accept_unhealthy:
        streams.require_healthy(store, source, settings.stream_allowed_hosts)
    title = announcements.clean_words(req.title or "", "title")[:200]
    title = title or f"Tiếp sóng {source['name']}"
    plan = schedules.BroadcastPlan(
        id=None,
        title=title,
        schedule=schedule,
        duration_s=req.window_s,
        nodes=frozenset(node_ids),
        priority=req.priority,  # type: ignore[arg-type]
    )
    found = conflict_details(db, conflicts_for(db, plan, now))
    _refuse_conflicts(found, req.accept_conflicts)
    row = {
        "kind": "relay",
        "title": title,
        "stream_source_id": req.stream_source_id,
        "duration_s": req.window_s,
        "zone_ids": json.dumps(sorted(set(req.zone_ids))),
        "starts_at": to_wire_time(schedule.at) if schedule.at else None,
        "rrule": schedule.rrule,
        "priority": req.priority,
        # a node that comes online inside the window still joins it
        "max_late_s": req.window_s,
        "repeats": 1,
        "repeat_gap_s": 0.0,
        "status": "active",
        "emergency": 0,
        "created_by": who.user_id,
        "created_at": to_wire_time(now),
    }
    if authz.can(who, "relay.review"):
        row |= {"approved_by": who.user_id, "approved_at": to_wire_time(now)}
    return _save(store, settings, who, row, schedule, "broadcast.relay", found, now)


def approve_relay(
    store: Store, who: Identity, broadcast_id: int, now: datetime | None = None
) -> None:
    """An approver (or admin) whose area holds every zone of a pending relay approves it; its
    dispatches go out on the next tick. Not a pending relay: ``relay_not_pending`` (409)."""
    now = now or utcnow()
    authz.require(who, "relay.review")
    with store.transaction() as db:
        before = visible_broadcast(db, who, broadcast_id)
        authz.require_whole_broadcast(db, who, json.loads(before["zone_ids"]))
        if before["kind"] != "relay" or before["approved_at"] or before["status"] != "active":
            raise ApiError(409, "relay_not_pending")
        changes = {"approved_by": who.user_id, "approved_at": to_wire_time(now)}
        table(db, "broadcasts").update(broadcast_id, changes)
        audit.record(db, who, "broadcast.relay_approve", "broadcast", broadcast_id, before, changes)


def active_with_titles(db: sqlite_utils.Database) -> list[dict[str, Any]]:
    """Every active broadcast, with the title shown for it (``shown_title``: its
    announcement's, or its own for a relay or live broadcast), its kind (``shown_kind``,
    ``file`` when not set) and its announcement's status (``announcement_status``)."""
    return list(
        db.query(
            "SELECT b.*, COALESCE(a.title, b.title) AS shown_title, COALESCE(b.kind, 'file') AS "
            "shown_kind, a.status AS announcement_status FROM broadcasts b "
            "LEFT JOIN announcements a ON a.id = b.announcement_id WHERE b.status = 'active'"
        )
    )


def recent_relays(db: sqlite_utils.Database) -> list[dict[str, Any]]:
    """The 100 newest relay broadcasts, newest first, each with its source's name
    (``source_name``), how many dispatches it has (``total``) and have ``played``, how many
    occurrences played on at least one cluster (``times_played``), and its ``state``
    (:class:`BroadcastState`)."""
    rows = list(
        db.query(
            "SELECT b.*, s.name AS source_name, COUNT(d.id) AS total, "
            "COALESCE(SUM(d.state = 'played'), 0) AS played, "
            "COUNT(DISTINCT CASE WHEN d.state = 'played' THEN d.occurrence END) AS times_played "
            "FROM broadcasts b LEFT JOIN stream_sources s ON s.id = b.stream_source_id "
            "LEFT JOIN dispatches d ON d.broadcast_id = b.id "
            "WHERE b.kind = 'relay' GROUP BY b.id ORDER BY b.id DESC LIMIT 100"
        )
    )
    states = states_of(db, rows)
    return [{**r, "state": states[r["id"]]} for r in rows]


def dispatch_states(db: sqlite_utils.Database, broadcast_id: int) -> list[dict[str, Any]]:
    """Each of a broadcast's dispatches: its ``node_id`` and ``state``."""
    return list(
        db.query("SELECT node_id, state FROM dispatches WHERE broadcast_id = ?", [broadcast_id])
    )


def schedule_summary(
    db: sqlite_utils.Database, broadcast_id: int, locale: str = "vi", today: date | None = None
) -> str | None:
    """A stored broadcast's schedule in words, in ``locale`` (``schedules.summarize``: the web
    page's English locale reads it in English); None when there is no such broadcast."""
    rows = list(
        db.query(
            "SELECT starts_at, rrule, repeats, repeat_gap_s FROM broadcasts WHERE id = ?",
            [broadcast_id],
        )
    )
    if not rows:
        return None
    return schedules.summarize(schedule_of(rows[0]), today=today, locale=locale)
