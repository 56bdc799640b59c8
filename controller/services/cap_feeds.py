"""CAP alerts in: one use case for every alert (``apply_alert``, called by the feed poller and
by ``POST /api/v1/cap``) and the background thread that polls feeds and repeats emergencies.

The thread is this service's own (``cap-feeds``), not the runtime's scheduler tick nor its
ingest thread: a slow feed or speech for an emergency never delays node messages or
deliveries. Each feed is polled at its own interval with ``If-None-Match`` and
``If-Modified-Since``; its state (last checked, last OK, last error) is kept on the source.
"""

from __future__ import annotations

import logging
import re
import threading
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any

import httpx

from controller.core.errors import ApiError
from controller.domain import announcements, cap, cap_sources
from controller.domain.identity import Identity
from controller.services.runtime import Runtime
from loa.protocol import to_wire_time, utcnow

log = logging.getLogger("controller.cap")

#: Statuses that are never sounded, only logged and shown.
NOT_SOUNDED = frozenset({"Test", "Exercise", "Draft", "System"})
#: An index is read up to this size (it lists many documents).
MAX_INDEX_BYTES = 4 * cap.MAX_BYTES
#: How long one HTTP request to a feed may take.
HTTP_TIMEOUT_S = 10.0
#: How often the thread looks for due feeds and repeats.
LOOP_S = 1.0
#: How many times an emergency is said in a row each time it sounds.
EMERGENCY_REPEATS = 2
#: Alerts are applied, and emergencies repeated, one at a time (push requests and the
#: cap-feeds thread alike): a Cancel never races a repeat or the alert it cancels.
APPLYING = threading.RLock()


@dataclass
class Applied:
    """What one received document made (the API's answer to a push)."""

    outcome: str  # cap_sources.OUTCOMES, or "repeat" (ignored) or "refused"
    detail: str = ""
    alert_id: int | None = None
    identifier: str | None = None
    broadcast_id: int | None = None
    announcement_id: int | None = None
    node_count: int = 0
    stopped: list[int] = field(default_factory=list)
    code: str | None = None  # a refusal's code

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def refuse(runtime: Runtime, source: dict[str, Any], exc: cap.CapRefused, **where: Any) -> Applied:
    cap_sources.record_refusal(
        runtime.store.db,
        source["id"],
        exc.code,
        exc.reason,
        url=where.get("url"),
        size=where.get("size", 0),
    )
    log.warning("CAP from source %s refused (%s): %s", source["name"], exc.code, exc.reason)
    return Applied("refused", exc.reason, code=exc.code)


def apply_alert(
    runtime: Runtime, source: dict[str, Any], data: bytes, *, url: str | None = None
) -> Applied:
    """Take one CAP document from ``source``: refuse it (reason kept and audited, nothing else
    written), ignore it (a repeated sender+identifier), or log it with what it made: stop what
    its references made (Update, Cancel), then per the policy an emergency, a pending
    announcement or nothing (test status, expired, outside our area, log only)."""
    try:
        alert = cap.parse(data)
        if source.get("signed_only") and not alert.signed:
            raise cap.CapRefused(
                "cap_signature_missing",
                "Nguồn này chỉ nhận bản tin có chữ ký số; bản tin này không được ký.",
            )
        if source.get("cert_pem") and (alert.signed or source.get("signed_only")):
            cap.verify(data, source["cert_pem"])
    except cap.CapRefused as exc:
        return refuse(runtime, source, exc, url=url, size=len(data))
    info = cap.choose_info(alert)
    with APPLYING:  # one alert at a time: an Update or Cancel sees what the earlier one made
        return _apply(runtime, source, alert, info)


def _apply(
    runtime: Runtime, source: dict[str, Any], alert: cap.Alert, info: cap.Info | None
) -> Applied:
    db = runtime.store.db
    alert_id = cap_sources.claim_alert(db, source["id"], alert, info)
    if alert_id is None:
        return Applied("repeat", "Đã nhận bản tin này trước đó.", identifier=alert.identifier)
    who = cap_sources.source_identity(db, source)
    try:
        result = _decide(runtime, who, alert, info, alert_id)
    except Exception as exc:  # recorded, never lost: the row says it failed and why
        log.exception("CAP alert %s from %s failed", alert.identifier, source["name"])
        message = exc.message if isinstance(exc, ApiError) else str(exc)
        result = Applied("failed", f"Không thực hiện được: {message}")
    result.alert_id, result.identifier = alert_id, alert.identifier
    cap_sources.finish_alert(
        db,
        who,
        alert_id,
        result.outcome,
        result.detail,
        broadcast_id=result.broadcast_id,
        announcement_id=result.announcement_id,
    )
    log.info(
        "CAP alert %s from %s: %s %s",
        alert.identifier,
        source["name"],
        result.outcome,
        result.detail,
    )
    return result


def _decide(
    runtime: Runtime, who: Identity, alert: cap.Alert, info: cap.Info | None, alert_id: int
) -> Applied:
    db = runtime.store.db
    if alert.status in NOT_SOUNDED:
        return Applied("test", f"Trạng thái {alert.status}: chỉ ghi nhận, không phát.")
    stopped: list[int] = []
    notes: list[str] = []
    if alert.msg_type in ("Update", "Cancel"):
        for old in cap_sources.referenced(db, alert):
            if old["id"] == alert_id:
                continue
            note = stop_made(runtime, who, old, alert, alert_id)
            stopped.append(old["id"])
            notes.append(note)
        if alert.msg_type == "Cancel":
            if not stopped:
                return Applied("logged", "Bản tin hủy không khớp bản tin nào đã nhận.")
            return Applied("cancelled", " ".join(notes), stopped=stopped)
    elif alert.msg_type != "Alert":  # Ack, Error: nothing to sound
        return Applied("logged", f"Loại bản tin {alert.msg_type}: chỉ ghi nhận.")
    result = _sound(runtime, who, info, alert_id)
    result.stopped = stopped
    if notes:
        result.detail = " ".join([*notes, result.detail]).strip()
    return result


def _sound(runtime: Runtime, who: Identity, info: cap.Info | None, alert_id: int) -> Applied:
    db = runtime.store.db
    if info is None:
        return Applied("no_info", "Bản tin không có phần nội dung (info).")
    now = utcnow()
    if info.expires is not None and info.expires <= now:
        return Applied("expired", "Bản tin đã hết hiệu lực khi nhận được; không phát.")
    node_ids, zone_ids = cap_sources.target_nodes(db, info)
    if not node_ids:
        return Applied("outside_area", "Vùng cảnh báo ngoài địa bàn: không có cụm loa nào.")
    cap_sources.set_targets(db, alert_id, node_ids, zone_ids)
    rule = cap_sources.evaluate(cap_sources.list_policy(db), info)
    action = rule["action"] if rule else "log"
    if action == "log":
        return Applied("logged", "Chính sách: chỉ ghi nhận.", node_count=len(node_ids))
    title, text = cap_sources.words_of(info, runtime.settings.max_text_chars)
    if action == "emergency":
        detail = runtime.emergency(
            who,
            title,
            text,
            zone_ids,
            repeats=EMERGENCY_REPEATS,
            node_ids=cap_sources.narrowed(db, node_ids, zone_ids),
        )
        repeat_min = int(rule["repeat_min"] or 0) if rule else 0
        next_at = None
        if repeat_min and info.expires is not None:
            candidate = now + timedelta(minutes=repeat_min)
            next_at = to_wire_time(candidate) if candidate < info.expires else None
        cap_sources.set_emergency(
            db,
            alert_id,
            policy_id=rule["id"] if rule else None,
            repeat_min=repeat_min,
            next_repeat_at=next_at,
            announcement_id=detail.get("announcement_id"),
        )
        return Applied(
            "emergency",
            f"Phát khẩn cấp đến {len(node_ids)} cụm loa.",
            broadcast_id=detail.get("id"),
            announcement_id=detail.get("announcement_id"),
            node_count=len(node_ids),
        )
    announcement_id = _pending_announcement(runtime, who, title, text, alert_id)
    cap_sources.set_policy(db, alert_id, rule["id"] if rule else None)
    return Applied(
        "announcement",
        f"Bản tin số {announcement_id} chờ duyệt ({len(node_ids)} cụm loa trong vùng).",
        announcement_id=announcement_id,
        node_count=len(node_ids),
    )


def _pending_announcement(
    runtime: Runtime, who: Identity, title: str, text: str, alert_id: int
) -> int:
    """A pending announcement (waiting for an approver) with the alert's words, spoken so the
    approver can listen; if speech fails now, it is spoken when approved (``ensure_rendered``)."""
    try:
        rendered = announcements.render_speech(runtime.store, runtime.settings, text)
    except ApiError as exc:
        log.warning("CAP announcement not spoken yet: %s", exc.message)
        rendered = None
    announcement_id = announcements.save_with_audio(
        runtime.store,
        runtime.settings,
        who,
        None,
        title=title,
        text=text,
        category="thien_tai",
        priority="urgent",
        speech=announcements.Speech(),
        for_review=True,
        rendered=rendered,
    )
    cap_sources.link_announcement(runtime.store.db, announcement_id, alert_id)
    return announcement_id


def stop_made(
    runtime: Runtime, who: Identity, old: dict[str, Any], by: cap.Alert, by_id: int
) -> str:
    """Stop what an earlier alert made (an Update or Cancel names it): cancel its broadcast,
    withdraw its announcement while it still waits for approval; no more repeats."""
    db = runtime.store.db
    reason = f"CAP {by.msg_type} {by.identifier} ({by.sender})"
    said = f"Dừng bản tin {old['identifier']}"
    if old.get("broadcast_id") and old.get("broadcast_status") != "cancelled":
        try:
            runtime.cancel_broadcast(who, int(old["broadcast_id"]), reason=reason[:500])
            said += f": hủy lượt phát số {old['broadcast_id']}"
        except ApiError as exc:  # already finished, or not this source's to cancel
            said += f": lượt phát số {old['broadcast_id']} ({exc.message})"
    if old.get("announcement_id") and old.get("outcome") == "announcement":
        row = announcements.get_announcement(db, int(old["announcement_id"]))
        if row is not None and row["status"] in ("draft", "pending"):
            announcements.archive(db, who, int(old["announcement_id"]))
            said += f": rút bản tin số {old['announcement_id']} khỏi hàng chờ duyệt"
    if old.get("ended_at") is None:
        cap_sources.mark_ended(db, who, int(old["id"]), reason, by_id)
    return said + "."


def repeat_due(runtime: Runtime, now: datetime | None = None) -> int:
    """Sound again the emergencies whose next repeat is due; end those that expired. Returns
    how many were sounded."""
    now = now or utcnow()
    return sum(
        repeat_one(runtime, row, now) for row in cap_sources.repeats_due(runtime.store.db, now)
    )


def repeat_one(runtime: Runtime, row: dict[str, Any], now: datetime) -> bool:
    """Sound one due emergency again (or end it if it expired); whether it sounded. It holds
    the alerts' lock and reads the alert again first: an Update or Cancel applied since it was
    found due wins, and the repeat is not made."""
    db = runtime.store.db
    with APPLYING:
        current = cap_sources.get_alert(db, int(row["id"]))
        if current is None or current["ended_at"] is not None or not current["next_repeat_at"]:
            return False
        row = current
        source = cap_sources.get_source(db, row["source_id"]) or {"name": "?", "id": None}
        who = cap_sources.source_identity(db, source)
        expires = datetime.fromisoformat(row["expires"]) if row.get("expires") else None
        if expires is None or expires <= now:
            cap_sources.mark_ended(db, who, row["id"], "Hết hiệu lực (expires)", None)
            return False
        ann = announcements.get_announcement(db, int(row["announcement_id"] or 0))
        if ann is None:
            cap_sources.mark_ended(db, who, row["id"], "Không còn bản tin để phát lại", None)
            return False
        nodes = cap_sources.json_list(row["node_ids"])
        zones = cap_sources.json_list(row["zone_ids"])
        try:
            detail = runtime.emergency(
                who,
                ann["title"],
                ann["text"],
                zones,
                repeats=EMERGENCY_REPEATS,
                node_ids=cap_sources.narrowed(db, nodes, zones),
            )
        except ApiError as exc:
            log.warning("CAP alert %s not repeated: %s", row["identifier"], exc.message)
            cap_sources.mark_ended(db, who, row["id"], f"Không phát lại được: {exc.message}", None)
            return False
        following = now + timedelta(minutes=int(row["repeat_min"] or 0))
        cap_sources.repeated(
            db,
            who,
            row["id"],
            broadcast_id=int(detail["id"]),
            next_repeat_at=to_wire_time(following) if following < expires else None,
        )
        return True


_ROOT = re.compile(rb"<(?:[A-Za-z_][\w.-]*:)?(feed|rss|alert)[\s>/]")


def _kind_of(data: bytes) -> str:
    """``index`` (Atom or RSS) or ``alert``, from the document's first element."""
    match = _ROOT.search(data[:4096])
    return "alert" if match and match.group(1) == b"alert" else "index"


class CapFeeds:
    """The background poller: due feeds, then due repeats, once a second (its own thread)."""

    def __init__(self, runtime: Runtime, *, loop_s: float = LOOP_S):
        self.runtime = runtime
        self.loop_s = loop_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        #: Documents already fetched, by URL: (ETag, Last-Modified), so they are asked for
        #: conditionally and not parsed again when unchanged.
        self._seen: dict[str, tuple[str | None, str | None]] = {}
        self._lock = threading.Lock()

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="cap-feeds", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=HTTP_TIMEOUT_S + 5)

    def _loop(self) -> None:
        while not self._stop.wait(self.loop_s):
            self.run_once()

    def run_once(self, now: datetime | None = None) -> None:
        """One pass: poll every due feed, sound every due repeat (errors logged, never raised)."""
        now = now or utcnow()
        with self._lock:
            try:
                for source in cap_sources.feeds_due(self.runtime.store.db, now):
                    self.poll(source)
                repeat_due(self.runtime, now)
            except Exception:
                log.exception("CAP pass failed")

    def poll(self, source: dict[str, Any]) -> list[Applied]:
        """Fetch one feed (conditionally) and apply every new CAP document it lists."""
        db = self.runtime.store.db
        headers = {"Accept": "application/atom+xml, application/rss+xml, application/cap+xml"}
        if source.get("etag"):
            headers["If-None-Match"] = source["etag"]
        if source.get("last_modified"):
            headers["If-Modified-Since"] = source["last_modified"]
        results: list[Applied] = []
        try:
            with httpx.Client(timeout=HTTP_TIMEOUT_S, follow_redirects=True) as client:
                status, body, etag, modified = _get(client, source["url"], headers, MAX_INDEX_BYTES)
                if status == 304:
                    cap_sources.record_check(db, source["id"], ok=True)
                    return results
                if status != 200:
                    raise httpx.HTTPError(f"HTTP {status}")
                if body is None:
                    results.append(
                        refuse(
                            self.runtime,
                            source,
                            cap.CapRefused("cap_too_large", "Chỉ mục nguồn tin quá lớn."),
                            url=source["url"],
                        )
                    )
                    cap_sources.record_check(db, source["id"], ok=True)
                    return results
                if _kind_of(body) == "alert":
                    results.append(apply_alert(self.runtime, source, body, url=source["url"]))
                else:
                    try:
                        links = cap.feed_links(body, source["url"], max_bytes=MAX_INDEX_BYTES)
                    except cap.CapRefused as exc:
                        results.append(refuse(self.runtime, source, exc, url=source["url"]))
                        links = []
                    for link in links:
                        applied = self._document(client, source, link)
                        if applied is not None:
                            results.append(applied)
            cap_sources.record_check(db, source["id"], ok=True, etag=etag, last_modified=modified)
        except httpx.HTTPError as exc:
            cap_sources.record_check(
                db, source["id"], ok=False, error=str(exc) or type(exc).__name__
            )
            log.warning("CAP feed %s: %s", source["name"], exc)
        return results

    def _document(self, client: httpx.Client, source: dict[str, Any], url: str) -> Applied | None:
        headers = {"Accept": "application/cap+xml, application/xml"}
        etag, modified = self._seen.get(url, (None, None))
        if etag:
            headers["If-None-Match"] = etag
        if modified:
            headers["If-Modified-Since"] = modified
        status, body, etag, modified = _get(client, url, headers, cap.MAX_BYTES)
        if status == 304:
            return None
        if status != 200:
            raise httpx.HTTPError(f"HTTP {status} for {url}")
        if body is None:
            return refuse(
                self.runtime,
                source,
                cap.CapRefused(
                    "cap_too_large",
                    f"Bản tin CAP quá lớn (tối đa {cap.MAX_BYTES // 1024} KB).",
                ),
                url=url,
            )
        applied = apply_alert(self.runtime, source, body, url=url)
        if applied.outcome != "refused" and (etag or modified):
            self._seen[url] = (etag, modified)
        return applied


def _get(
    client: httpx.Client, url: str, headers: dict[str, str], limit: int
) -> tuple[int, bytes | None, str | None, str | None]:
    """(status, body or None when larger than ``limit``, ETag, Last-Modified)."""
    with client.stream("GET", url, headers=headers) as response:
        if response.status_code != 200:
            return response.status_code, b"", None, None
        chunks: list[bytes] = []
        size = 0
        for chunk in response.iter_bytes():
            size += len(chunk)
            if size > limit:
                return 200, None, None, None
            chunks.append(chunk)
        return (
            200,
            b"".join(chunks),
            response.headers.get("etag"),
            response.headers.get("last-modified"),
        )
