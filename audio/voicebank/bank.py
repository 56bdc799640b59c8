"""Bank storage: one folder per commune voice, a manifest and one WAV file per syllable.

Layout (``banks_dir()/NAME/``)::

    manifest.json        whose voice, consent (given by whom, when), version, the units
    units/HASH.wav       one syllable: 16-bit mono PCM at 22 050 Hz, named by its content

``banks_dir()`` is ``$LOA_VOICEBANK_DIR`` when set, else ``giong-xa/`` beside the Piper voices
(:func:`audio.voices.voices_dir`). Rules:

- A bank cannot be made without the speaker's name and who gave consent and when.
- Every change (a take saved, a syllable re-recorded or removed) writes the unit files first,
  then the manifest (temporary file + ``os.replace``), then removes files no longer referenced,
  under the bank's lock: a reader sees the old bank or the new one, never half of a take.
- ``version`` goes up by one with every change; with the bank's ``id`` it is part of the engine's
  cache key, so a re-recorded syllable is heard at the next rendering.
- :func:`delete_bank` removes the folder and everything made from the bank: the engine's cached
  chunks and renderings (and, given the media directory, the delivered files).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import re
import shutil
import tempfile
import threading
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from audio import dsp
from audio.ffmpeg import SAMPLE_RATE, Samples
from audio.voicebank.messages import error
from audio.voicebank.syllables import canonical, is_syllable
from audio.voicebank.takes import CutUnit, Take, wav_bytes

FORMAT = "loa-voicebank"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
UNITS = "units"
_NAME = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,38}[a-z0-9])?")
_thread_lock = threading.Lock()


def banks_dir() -> Path:
    env = os.environ.get("LOA_VOICEBANK_DIR")
    if env:
        return Path(env).expanduser()
    from audio.voices import voices_dir

    return voices_dir() / "giong-xa"


def check_name(name: str) -> str:
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise error("bad_bank_name", name=name)
    return name


def now_iso() -> str:
    return datetime.now(UTC).replace(microsecond=0).isoformat()


def _write_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def manifest_bytes(manifest: dict[str, Any]) -> bytes:
    return json.dumps(manifest, ensure_ascii=False, indent=1, sort_keys=True).encode("utf-8")


@dataclass(frozen=True)
class Consent:
    """Whose voice the bank is and their agreement: required to make a bank."""

    speaker: str  # the announcer whose voice it is
    given_by: str  # who gave consent (the speaker, or who signed for them)
    given_at: str  # ISO date or time of the agreement
    note: str = ""  # e.g. where the signed paper is kept
    words: str = ""  # the words they agreed to, as shown to them (the web consent form)

    def check(self) -> None:
        missing = [
            label
            for label, value in (
                ("giọng của ai", self.speaker),
                ("ai đồng ý", self.given_by),
                ("đồng ý ngày nào", self.given_at),
            )
            if not str(value or "").strip()
        ]
        if missing:
            raise error("consent_required", detail="thiếu " + ", ".join(missing))
        try:
            datetime.fromisoformat(self.given_at)
        except ValueError:
            raise error("consent_required", detail="ngày đồng ý không đúng dạng") from None


def check_manifest(manifest: Any, name: str) -> dict[str, Any]:
    """A manifest's shape; raises ``bank_damaged`` (the caller may re-raise as a file error)."""

    def bad(detail: str) -> Exception:
        return error("bank_damaged", name=name, detail=detail)

    if not isinstance(manifest, dict):
        raise bad("manifest không phải đối tượng JSON")
    if manifest.get("format") != FORMAT:
        raise bad("không phải manifest giọng xã")
    for key, kind in (
        ("id", str),
        ("name", str),
        ("version", int),
        ("speaker", str),
        ("consent", dict),
        ("units", dict),
        ("sample_rate", int),
    ):
        if not isinstance(manifest.get(key), kind):
            raise bad(f"thiếu hoặc sai trường '{key}'")
    if manifest["sample_rate"] != SAMPLE_RATE:
        raise bad(f"tần số lấy mẫu {manifest['sample_rate']} (cần {SAMPLE_RATE})")
    consent = manifest["consent"]
    Consent(
        manifest["speaker"],
        str(consent.get("given_by", "")),
        str(consent.get("given_at", "")),
        str(consent.get("note", "")),
    ).check()
    for syllable, unit in manifest["units"].items():
        if not is_syllable(syllable):
            raise bad(f"tiếng không hợp lệ '{syllable}'")
        if not isinstance(unit, dict) or not isinstance(unit.get("file"), str):
            raise bad(f"thiếu tệp của tiếng '{syllable}'")
        if not re.fullmatch(r"units/[0-9a-f]{16,64}\.wav", unit["file"]):
            raise bad(f"tên tệp lạ '{unit['file']}'")
        if not isinstance(unit.get("sha256"), str):
            raise bad(f"thiếu mã kiểm tra của tiếng '{syllable}'")
    return manifest


@dataclass
class Bank:
    """One commune voice on disk. Get it with :func:`open_bank` or :func:`create_bank`."""

    path: Path
    manifest: dict[str, Any]

    @property
    def name(self) -> str:
        return str(self.manifest["name"])

    @property
    def id(self) -> str:
        return str(self.manifest["id"])

    @property
    def version(self) -> int:
        return int(self.manifest["version"])

    @property
    def speaker(self) -> str:
        return str(self.manifest["speaker"])

    @property
    def consent(self) -> dict[str, str]:
        return dict(self.manifest["consent"])

    def syllables(self) -> set[str]:
        return set(self.manifest["units"])

    def unit_path(self, syllable: str) -> Path:
        unit = self.manifest["units"].get(canonical(syllable))
        if unit is None:
            raise error("unit_not_found", name=self.name, syllable=syllable)
        return self.path / unit["file"]

    def unit_wav(self, syllable: str) -> bytes:
        """The recorded syllable as WAV bytes (for the page's replay button)."""
        return self.unit_path(syllable).read_bytes()

    def load_unit(self, syllable: str) -> Samples:
        data = self.unit_wav(syllable)
        wav = dsp.read_wav(data)
        if wav is None or wav[1] != SAMPLE_RATE:
            raise error("bank_damaged", name=self.name, detail=f"tệp của tiếng '{syllable}'")
        return wav[0]

    def content_digest(self) -> str:
        """Changes whenever any unit changes: part of the engine's cache key."""
        units = self.manifest["units"]
        raw = json.dumps(
            [self.id, self.version, sorted((s, u["sha256"]) for s, u in units.items())],
            ensure_ascii=False,
        )
        return hashlib.sha256(raw.encode("utf-8")).hexdigest()[:24]

    # -- changes ------------------------------------------------------------------------------

    def save_take(self, take: Take, recorded_by: str = "") -> int:
        """Keep every syllable of a checked take (replacing earlier recordings of them);
        returns the bank's new version."""
        return self.save_units(take.units, recorded_by=recorded_by)

    def save_units(self, units: Iterable[CutUnit], recorded_by: str = "") -> int:
        items = list(units)
        for unit in items:
            if not is_syllable(unit.syllable):
                raise error("bad_syllable", syllable=unit.syllable)
        with _bank_lock(self.path):
            manifest = _read_manifest(self.path, self.name)
            old_files = {u["file"] for u in manifest["units"].values()}
            stamp = now_iso()
            for unit in items:
                data = wav_bytes(unit.samples)
                digest = hashlib.sha256(data).hexdigest()
                rel = f"{UNITS}/{digest[:32]}.wav"
                _write_atomic(self.path / rel, data)
                manifest["units"][unit.syllable] = {
                    "file": rel,
                    "sha256": digest,
                    "duration_s": unit.duration_s,
                    "level_db": unit.level_db,
                    "peak_db": unit.peak_db,
                    "recorded_at": stamp,
                    "recorded_by": recorded_by,
                }
            return self._commit(manifest, old_files)

    def remove_units(self, syllables: Iterable[str]) -> int:
        """Forget recordings (to record them again later); returns the new version."""
        with _bank_lock(self.path):
            manifest = _read_manifest(self.path, self.name)
            old_files = {u["file"] for u in manifest["units"].values()}
            for s in syllables:
                if manifest["units"].pop(canonical(s), None) is None:
                    raise error("unit_not_found", name=self.name, syllable=s)
            return self._commit(manifest, old_files)

    def _commit(self, manifest: dict[str, Any], old_files: set[str]) -> int:
        manifest["version"] = int(manifest["version"]) + 1
        manifest["updated_at"] = now_iso()
        _write_atomic(self.path / MANIFEST, manifest_bytes(manifest))
        self.manifest = manifest
        kept = {u["file"] for u in manifest["units"].values()}
        for rel in old_files - kept:
            (self.path / rel).unlink(missing_ok=True)
        return self.version


@contextlib.contextmanager
def _bank_lock(path: Path) -> Iterator[None]:
    """One writer per bank, across threads and processes."""
    with _thread_lock:
        path.mkdir(parents=True, exist_ok=True)
        with (path / ".lock").open("a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)


def _read_manifest(path: Path, name: str) -> dict[str, Any]:
    try:
        raw = json.loads((path / MANIFEST).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise error("bank_not_found", name=name) from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise error("bank_damaged", name=name, detail=str(exc)) from exc
    return check_manifest(raw, name)


def new_manifest(name: str, consent: Consent) -> dict[str, Any]:
    consent.check()
    stamp = now_iso()
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "id": uuid.uuid4().hex,
        "name": name,
        "speaker": consent.speaker.strip(),
        "consent": {
            "given_by": consent.given_by.strip(),
            "given_at": consent.given_at.strip(),
            "note": consent.note.strip(),
            **({"words": consent.words.strip()} if consent.words.strip() else {}),
        },
        "created_at": stamp,
        "updated_at": stamp,
        "version": 1,
        "sample_rate": SAMPLE_RATE,
        "units": {},
    }


def create_bank(name: str, consent: Consent, directory: Path | None = None) -> Bank:
    """A new, empty bank. Refuses a bad name, missing consent, or a name already taken."""
    check_name(name)
    manifest = new_manifest(name, consent)
    root = directory or banks_dir()
    path = root / name
    with _thread_lock:
        root.mkdir(parents=True, exist_ok=True)
        try:
            path.mkdir()
        except FileExistsError:
            raise error("bank_exists", name=name) from None
        (path / UNITS).mkdir()
        _write_atomic(path / MANIFEST, manifest_bytes(manifest))
    return Bank(path, manifest)


def open_bank(name: str, directory: Path | None = None) -> Bank:
    check_name(name)
    path = (directory or banks_dir()) / name
    return Bank(path, _read_manifest(path, name))


def list_banks(directory: Path | None = None) -> list[Bank]:
    """Every readable bank, by name (damaged or half-imported folders are skipped)."""
    root = directory or banks_dir()
    if not root.is_dir():
        return []
    out = []
    for entry in sorted(root.iterdir()):
        if entry.is_dir() and _NAME.fullmatch(entry.name) and (entry / MANIFEST).is_file():
            try:
                out.append(Bank(entry, _read_manifest(entry, entry.name)))
            except Exception:  # a damaged bank is not offered; open_bank says why
                continue
    return out


@dataclass(frozen=True)
class Deletion:
    """What :func:`delete_bank` removed."""

    bank: str
    files: int  # unit files and manifest
    cached_chunks: int
    cached_renders: int
    media_sha256: tuple[str, ...]  # delivered files spoken by this bank (removed if media_dir)


def delete_bank(
    name: str,
    directory: Path | None = None,
    *,
    cache_dir: Path | None = None,
    media_dir: Path | None = None,
) -> Deletion:
    """Delete a bank and everything made from it: its folder, the ``giong-xa`` engine's cached
    chunks and renderings in ``cache_dir``, and (with ``media_dir``) the delivered MP3 files
    those renderings point to. The controller must also clear the announcements whose audio is
    in ``media_sha256`` (they are spoken again by the next engine)."""
    bank = open_bank(name, directory)
    from audio.engines.giong_xa import purge_cache

    chunks, renders, media = purge_cache(bank.id, bank.name, cache_dir, media_dir)
    files = sum(1 for p in bank.path.rglob("*") if p.is_file())
    with _thread_lock:
        trash = bank.path.with_name(f".deleted-{bank.name}-{uuid.uuid4().hex[:8]}")
        os.replace(bank.path, trash)  # the bank disappears at once for every reader
        shutil.rmtree(trash, ignore_errors=True)
    return Deletion(bank.name, files, chunks, renders, tuple(media))
