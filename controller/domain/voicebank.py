"""Giọng xã in the controller: the commune announcer's voice bank, its consent, the recording
studio's rules, the coverage meter, and withdrawing the voice with everything made from it.

The bank itself lives on disk (:mod:`audio.voicebank.bank`); this module adds what the commune
must know and keep:

- **Consent first.** A bank is made only from the consent form: the announcer's name and their
  explicit agreement to :data:`CONSENT_WORDS` (stored in the bank's manifest with the date, and in
  the audit log as ``voicebank.create``). Without a bank there is nothing to record into.
- **Takes.** A take is cut and checked by :func:`audio.voicebank.takes.cut_take`; a good take's
  syllables are stored (replacing earlier recordings of them) and audited as
  ``voicebank.record``; a bad take is refused with the Vietnamese reason and nothing is stored.
- **The coverage meter** reads the commune's own announcements of the last
  :data:`COVERAGE_DAYS` days (their text, with the lexicon, as the engine would read them).
  Sheets follow the coverage gain over those announcements and Loa's corpus of commune
  announcements together, so a commune with few announcements of its own still gets sensible
  sheets.
- **Deleting a bank** (consent withdrawn) removes the voice and everything made from it. In the
  database, in one transaction with its audit entries (``voicebank.delete`` and one
  ``announcement.voice_withdrawn`` per announcement): every announcement whose audio this bank
  spoke loses that audio; one that was *approved* with it goes back to *pending* (what was
  approved can no longer be heard, so it must be approved again, and its broadcasts wait
  queued, as for any pending announcement; those already sent to nodes are queued again); an
  archived one keeps its status without audio; a voice choice naming the bank becomes *auto*.
  Then the files go: the bank's folder, the engine's cached chunks and renderings, and the
  delivered MP3 files spoken by it (:func:`audio.voicebank.bank.delete_bank`, plus the files the
  database names). The caller tells the nodes (``services.voicebank``).
"""

from __future__ import annotations

import re
import shutil
import unicodedata
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any

import sqlite_utils

from audio.engines import giong_xa
from audio.voicebank import archive, coverage, sheets
from audio.voicebank import bank as banks
from audio.voicebank.corpus import builtin_announcements
from audio.voicebank.messages import error
from audio.voicebank.syllables import spoken_syllables_many
from audio.voicebank.takes import cut_take
from controller.core.db import Store, transaction
from controller.domain import audit
from controller.domain.announcements import lexicon
from controller.domain.identity import Identity
from loa.protocol import to_wire_time, utcnow

ENGINE = "giong-xa"
#: The coverage meter's period: the commune's announcements of the last three months.
COVERAGE_DAYS = 90
#: What the announcer agrees to (shown beside the checkbox; stored in the manifest and audit).
CONSENT_WORDS = (
    "Tôi đồng ý để xã ghi giọng đọc của tôi theo từng tiếng và dùng giọng đó để đọc các bản "
    "tin của xã trên hệ thống loa. Tôi biết tôi có thể rút lại sự đồng ý bất cứ lúc nào; khi "
    "đó giọng xã và mọi âm thanh làm từ giọng đó sẽ bị xóa."
)
#: Statuses whose audio was approved with the bank's voice (archived ones may have been).
_APPROVED = "approved"


def slug(speaker: str) -> str:
    """A bank name from the announcer's name: ``Nguyễn Thị Hạnh`` → ``nguyen-thi-hanh``."""
    text = speaker.replace("đ", "d").replace("Đ", "D")
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii").lower()
    text = re.sub(r"[^a-z0-9]+", "-", text).strip("-")[:36].strip("-")
    return text or "giong-xa"


def free_name(speaker: str, directory: Path | None = None) -> str:
    """The announcer's slug, with ``-2``, ``-3`` … when a bank of that name exists."""
    base = slug(speaker)
    root = directory or banks.banks_dir()
    name, n = base, 1
    while (root / name).exists():
        n += 1
        name = f"{base}-{n}"
    return name


def create(
    store: Store,
    who: Identity,
    speaker: str,
    agreed: bool,
    ip: str | None = None,
    day: str | None = None,
) -> banks.Bank:
    """The consent form: a new, empty bank for ``speaker``, who agreed to
    :data:`CONSENT_WORDS` on ``day`` (the commune's local date; default today in UTC).
    ``consent_required`` (a ``VoicebankError``) without a name or without the agreement;
    nothing is written then."""
    speaker = unicodedata.normalize("NFC", speaker).strip()
    if not speaker or not agreed:
        raise error(
            "consent_required",
            detail="thiếu tên người đọc" if not speaker else "chưa đánh dấu đồng ý",
        )
    day = day or utcnow().date().isoformat()
    consent = banks.Consent(
        speaker=speaker,
        given_by=speaker,
        given_at=day,
        note=f"đồng ý trên trang Giọng xã, ghi nhận bởi {who.key}",
        words=CONSENT_WORDS,
    )
    consent.check()
    made = banks.create_bank(free_name(speaker), consent)
    try:
        _audit_created(store, who, made, speaker, day, ip)
    except BaseException:
        shutil.rmtree(made.path, ignore_errors=True)  # no bank without its audit entry
        raise
    return made


def _audit_created(
    store: Store, who: Identity, made: banks.Bank, speaker: str, day: str, ip: str | None
) -> None:
    with transaction(store.db):
        audit.record(
            store.db,
            who,
            "voicebank.create",
            "voicebank",
            made.name,
            after={"speaker": speaker, "given_at": day, "words": CONSENT_WORDS, "id": made.id},
            ip=ip,
        )


def record_take(
    store: Store,
    who: Identity,
    name: str,
    syllables: Sequence[str],
    audio: Path | bytes,
    ip: str | None = None,
) -> tuple[str, ...]:
    """Cut and check a take of ``syllables`` and keep each syllable in the bank; returns the
    syllables stored. A bad take raises its ``VoicebankError`` and stores nothing."""
    bank = banks.open_bank(name)
    take = cut_take(audio, list(syllables))
    with transaction(store.db):
        version = bank.save_take(take, recorded_by=who.key)
        audit.record(
            store.db,
            who,
            "voicebank.record",
            "voicebank",
            bank.name,
            after={
                "syllables": [u.syllable for u in take.units],
                "version": version,
                "level_db": take.level_db,
                "noise_db": take.noise_db,
            },
            ip=ip,
        )
    return tuple(u.syllable for u in take.units)


def recent_texts(db: sqlite_utils.Database, days: int = COVERAGE_DAYS) -> list[str]:
    """The text of every announcement created in the last ``days`` days."""
    cutoff = to_wire_time(utcnow() - timedelta(days=days))
    rows = db.query(
        "SELECT text FROM announcements WHERE created_at >= ? AND text IS NOT NULL ORDER BY id",
        [cutoff],
    )
    return [str(r["text"]) for r in rows if str(r["text"]).strip()]


@lru_cache(maxsize=1)
def builtin_counts() -> Counter[str]:
    """Syllable counts of Loa's corpus of commune announcements (counted once)."""
    return coverage.count_syllables(builtin_announcements())


@dataclass(frozen=True)
class Meter:
    """The coverage meter of one bank over the commune's recent announcements."""

    coverage: coverage.BankCoverage
    days: int

    @property
    def percent(self) -> int:
        return round(self.coverage.share * 100)

    @property
    def has_texts(self) -> bool:
        return self.coverage.tokens > 0


@lru_cache(maxsize=8)
def _spoken(
    texts: tuple[str, ...], lexicon_items: tuple[tuple[str, str], ...]
) -> tuple[tuple[str, ...], ...]:
    """Each text's spoken syllables (normalizing takes ~5 ms a text): kept for the same texts
    and lexicon, so the studio's page after a take does not normalize them again."""
    said = spoken_syllables_many(list(texts), dict(lexicon_items) or None)
    return tuple(tuple(s) for s in said)


def recent_said(
    db: sqlite_utils.Database, days: int = COVERAGE_DAYS
) -> tuple[tuple[str, ...], ...]:
    """The spoken syllables of each announcement of the last ``days`` days, with the lexicon."""
    return _spoken(tuple(recent_texts(db, days)), tuple(sorted(lexicon(db).items())))


def meter(db: sqlite_utils.Database, bank: banks.Bank, days: int = COVERAGE_DAYS) -> Meter:
    return Meter(coverage.coverage_of_said(bank.syllables(), recent_said(db, days)), days)


def next_sheets(
    db: sqlite_utils.Database, bank: banks.Bank, limit: int = 3, days: int = COVERAGE_DAYS
) -> list[sheets.Sheet]:
    """The next sheets to record, best coverage gain first, over the commune's recent
    announcements and Loa's corpus together."""
    counts: Counter[str] = Counter()
    for said in recent_said(db, days):
        counts.update(said)
    counts.update(builtin_counts())
    return sheets.make_sheets(counts, bank.syllables(), limit=limit)


@dataclass(frozen=True)
class Gaps:
    """What the commune's voice lacks to read one text (the announcement page's note)."""

    bank: str
    speaker: str
    missing: tuple[str, ...]  # each once, in order of first use


def gaps(db: sqlite_utils.Database, text: str) -> Gaps | None:
    """The syllables of ``text`` the default bank (``giong_xa.default_voice``) has not recorded;
    None when no bank is recorded here or the text is empty. Until they are recorded the whole
    text is read by the next engine (never two voices in one sentence)."""
    name = giong_xa.default_voice()
    if not name or not text.strip():
        return None
    missing = giong_xa.missing_syllables(text, name, lexicon(db) or None)
    return Gaps(name, banks.open_bank(name).speaker, tuple(missing))


# -- withdrawal ---------------------------------------------------------------------------------


def uses(db: sqlite_utils.Database, name: str) -> list[dict[str, Any]]:
    """The announcements whose audio this bank spoke (now, or when approved)."""
    return list(
        db.query(
            "SELECT id, title, status, media_sha256, approved_sha256 FROM announcements "
            "WHERE engine = ? AND voice = ? ORDER BY id",
            [ENGINE, name],
        )
    )


def _announcement(db: sqlite_utils.Database, announcement_id: int) -> dict[str, Any]:
    return dict(next(db.query("SELECT * FROM announcements WHERE id = ?", [announcement_id])))


@dataclass(frozen=True)
class Withdrawal:
    """What deleting a bank changed."""

    bank: str
    announcements: int  # whose audio the bank spoke
    back_to_pending: int  # approved with it: to be approved again
    requeued_nodes: tuple[str, ...]  # nodes that held a dispatch of theirs (to sync)
    media_sha256: tuple[str, ...]  # delivered files spoken by the bank
    files: int = 0
    cached_chunks: int = 0
    cached_renders: int = 0


def delete(
    store: Store,
    who: Identity,
    name: str,
    *,
    cache_dir: Path,
    media_dir: Path,
    ip: str | None = None,
) -> Withdrawal:
    """Delete bank ``name`` and everything made from it (see the module's rules). The database
    changes and their audit entries are one transaction, written before the files go."""
    bank = banks.open_bank(name)  # bank_not_found before anything changes
    now = to_wire_time(utcnow())
    db = store.db
    with transaction(db):
        rows = uses(db, bank.name)
        shas = {r[k] for r in rows for k in ("media_sha256", "approved_sha256") if r[k]}
        back = [r["id"] for r in rows if r["status"] == _APPROVED]
        nodes: set[str] = set()
        for r in rows:
            before = _announcement(db, r["id"])
            changes: dict[str, Any] = {
                "media_sha256": None,
                "approved_sha256": None,
                "engine": None,
                "voice": None,
                "normalized_text": None,
                "updated_at": now,
            }
            if r["status"] == _APPROVED:
                changes.update(status="pending", reviewed_by=None, reviewed_at=None)
                held = db.query(
                    "SELECT DISTINCT d.node_id FROM dispatches d JOIN broadcasts b "
                    "ON b.id = d.broadcast_id WHERE b.announcement_id = ? "
                    "AND d.state IN ('sent', 'acked')",
                    [r["id"]],
                )
                nodes.update(str(h["node_id"]) for h in held)
                db.execute(
                    "UPDATE dispatches SET state = 'queued', cmd_id = NULL, sent_at = NULL, "
                    "acked_at = NULL, updated_at = ? WHERE state IN ('sent', 'acked') AND "
                    "broadcast_id IN (SELECT id FROM broadcasts WHERE announcement_id = ?)",
                    [now, r["id"]],
                )
            sets = ", ".join(f"{k} = ?" for k in changes)
            db.execute(
                f"UPDATE announcements SET {sets} WHERE id = ?", [*changes.values(), r["id"]]
            )
            after = _announcement(db, r["id"])
            audit.record(
                db, who, "announcement.voice_withdrawn", "announcement", r["id"], before, after, ip
            )
        db.execute(
            "UPDATE announcements SET speech_engine = NULL, speech_voice = NULL "
            "WHERE speech_engine = ? AND speech_voice = ?",
            [ENGINE, bank.name],
        )
        audit.record(
            db,
            who,
            "voicebank.delete",
            "voicebank",
            bank.name,
            before={
                "speaker": bank.speaker,
                "consent": bank.consent,
                "syllables": len(bank.syllables()),
                "id": bank.id,
            },
            after={"announcements": [r["id"] for r in rows], "back_to_pending": back},
            ip=ip,
        )
    removed = banks.delete_bank(bank.name, cache_dir=cache_dir, media_dir=media_dir)
    for sha in shas:
        if re.fullmatch(r"[0-9a-f]{64}", str(sha)):
            (media_dir / f"{sha}.mp3").unlink(missing_ok=True)
    return Withdrawal(
        bank=bank.name,
        announcements=len(rows),
        back_to_pending=len(back),
        requeued_nodes=tuple(sorted(nodes)),
        media_sha256=tuple(sorted(shas | set(removed.media_sha256))),
        files=removed.files,
        cached_chunks=removed.cached_chunks,
        cached_renders=removed.cached_renders,
    )


# -- export / import ----------------------------------------------------------------------------


def export(store: Store, who: Identity, name: str, dest: Path, ip: str | None = None) -> Path:
    """Write the bank to one ``.loavoice`` file in ``dest`` (a folder); audited."""
    path = archive.export_bank(name, dest)
    with transaction(store.db):
        audit.record(
            store.db, who, "voicebank.export", "voicebank", name, after={"file": path.name}, ip=ip
        )
    return path


def import_file(
    store: Store, who: Identity, data: bytes, replace: bool = False, ip: str | None = None
) -> banks.Bank:
    """Install a bank file (checked whole first; ``bank_exists`` unless ``replace``); audited
    with the speaker and consent it carries."""
    with transaction(store.db):
        made = archive.import_bank(data, replace=replace)
        audit.record(
            store.db,
            who,
            "voicebank.import",
            "voicebank",
            made.name,
            after={
                "speaker": made.speaker,
                "consent": made.consent,
                "syllables": len(made.syllables()),
                "replace": replace,
            },
            ip=ip,
        )
    return made
