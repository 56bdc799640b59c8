"""A bank as one file, to share an announcer's voice with a neighbouring commune.

The file is a ZIP (``.loavoice``) holding::

    loa-voicebank.json   {"format": "loa-voicebank", "format_version": 1, "exported_at": …,
                          "manifest": the bank's manifest (speaker, consent, version, units)}
    units/HASH.wav       every syllable, as in the bank's folder

Import checks everything before the bank appears: the ZIP, the header and its format version
(a newer one is refused with ``bank_file_version``), the manifest (consent included), every
entry's name (no paths outside ``units/``), size (:data:`MAX_TOTAL_BYTES`), SHA-256 and that each
is a mono 16-bit WAV at 22 050 Hz; entries not listed are refused. The bank is unpacked into a
hidden folder beside the others and renamed into place in one step; any failure removes it, so
a bad file never leaves half a bank. A bank keeps its id (the same voice, the same cache keys)
unless imported under a new name.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import tempfile
import uuid
import zipfile
from pathlib import Path
from typing import Any

from audio import dsp
from audio.ffmpeg import SAMPLE_RATE
from audio.voicebank import bank as banks
from audio.voicebank.messages import VoicebankError, error

HEADER = "loa-voicebank.json"
SUFFIX = ".loavoice"
MAX_TOTAL_BYTES = 400 * 1024 * 1024
MAX_UNIT_BYTES = 2 * 1024 * 1024
MAX_ENTRIES = 20_000


def export_bank(name: str, dest: Path, directory: Path | None = None) -> Path:
    """Write bank ``name`` to ``dest`` (a file, or a folder to name it in:
    ``giong-xa-NAME-vVERSION.loavoice``), atomically. Returns the file written."""
    bank = banks.open_bank(name, directory)
    if dest.is_dir():
        dest = dest / f"giong-xa-{bank.name}-v{bank.version}{SUFFIX}"
    header = {
        "format": banks.FORMAT,
        "format_version": banks.FORMAT_VERSION,
        "exported_at": banks.now_iso(),
        "manifest": bank.manifest,
    }
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=".export-", suffix=SUFFIX)
    os.close(fd)
    try:
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as zf:
            zf.writestr(HEADER, json.dumps(header, ensure_ascii=False, indent=1, sort_keys=True))
            for unit in sorted(bank.manifest["units"].values(), key=lambda u: u["file"]):
                zf.write(bank.path / unit["file"], unit["file"])
        os.replace(tmp, dest)
    finally:
        Path(tmp).unlink(missing_ok=True)
    return dest


def _bad(detail: str) -> VoicebankError:
    return error("bad_bank_file", detail=detail)


def read_header(zf: zipfile.ZipFile) -> dict[str, Any]:
    try:
        raw = json.loads(zf.read(HEADER).decode("utf-8"))
    except KeyError:
        raise _bad(f"thiếu {HEADER}") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise _bad(f"{HEADER} hỏng ({exc})") from exc
    if not isinstance(raw, dict) or raw.get("format") != banks.FORMAT:
        raise _bad("không phải tệp giọng xã của Loa")
    version = raw.get("format_version")
    if not isinstance(version, int) or version < 1:
        raise _bad("thiếu phiên bản định dạng")
    if version > banks.FORMAT_VERSION:
        raise error("bank_file_version", found=version, supported=banks.FORMAT_VERSION)
    return raw


def _check_entries(zf: zipfile.ZipFile, manifest: dict[str, Any]) -> None:
    infos = zf.infolist()
    if len(infos) > MAX_ENTRIES:
        raise _bad("quá nhiều tệp")
    if sum(i.file_size for i in infos) > MAX_TOTAL_BYTES:
        raise _bad("quá lớn")
    listed = {u["file"] for u in manifest["units"].values()}
    names = {i.filename for i in infos}
    extra = names - listed - {HEADER}
    if extra:
        raise _bad(f"có tệp không thuộc giọng xã: {sorted(extra)[0]}")
    missing = listed - names
    if missing:
        raise _bad(f"thiếu tệp {sorted(missing)[0]}")
    for info in infos:
        if info.filename != HEADER and info.file_size > MAX_UNIT_BYTES:
            raise _bad(f"tệp {info.filename} quá lớn")


def _check_unit(syllable: str, unit: dict[str, Any], data: bytes) -> None:
    if hashlib.sha256(data).hexdigest() != unit["sha256"]:
        raise _bad(f"tệp của tiếng '{syllable}' không khớp mã kiểm tra")
    wav = dsp.read_wav(data)
    if wav is None or wav[1] != SAMPLE_RATE or wav[0].size == 0:
        raise _bad(f"tệp của tiếng '{syllable}' không phải WAV {SAMPLE_RATE} Hz")


def import_bank(
    source: Path | bytes,
    directory: Path | None = None,
    *,
    name: str | None = None,
    replace: bool = False,
) -> banks.Bank:
    """Check and install a bank file; returns the bank. ``name`` installs it under another
    name (a new id); ``replace`` swaps out an existing bank of that name (refused otherwise
    with ``bank_exists``). Nothing is written unless everything checks out."""
    root = directory or banks.banks_dir()
    try:
        zf = zipfile.ZipFile(io.BytesIO(source) if isinstance(source, bytes) else source)
    except (zipfile.BadZipFile, OSError) as exc:
        raise _bad("không phải tệp ZIP") from exc
    with zf:
        header = read_header(zf)
        manifest = header.get("manifest")
        original = manifest.get("name") if isinstance(manifest, dict) else None
        try:
            manifest = banks.check_manifest(manifest, str(original))
            banks.check_name(str(original))
        except VoicebankError as exc:
            raise _bad(exc.message) from exc
        target = banks.check_name(name or str(original))
        if name and name != original:
            manifest = dict(manifest, id=uuid.uuid4().hex, name=target)
        _check_entries(zf, manifest)
        root.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(dir=root, prefix=".import-"))
        try:
            (staging / banks.UNITS).mkdir()
            for syllable, unit in manifest["units"].items():
                data = zf.read(unit["file"])
                _check_unit(syllable, unit, data)
                (staging / unit["file"]).write_bytes(data)
            manifest = dict(manifest, imported_at=banks.now_iso())
            (staging / banks.MANIFEST).write_bytes(banks.manifest_bytes(manifest))
            final = root / target
            if final.exists():
                if not replace:
                    raise error("bank_exists", name=target)
                old = root / f".replaced-{target}-{uuid.uuid4().hex[:8]}"
                os.replace(final, old)
                os.replace(staging, final)
                shutil.rmtree(old, ignore_errors=True)
            else:
                os.replace(staging, final)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
    return banks.open_bank(target, root)
