"""Content-addressed cache: a key made of everything that changes the output.

``cache_dir/chunks/{key}.audio`` holds an engine's raw output for one chunk (so editing one
sentence re-synthesizes only that sentence), ``cache_dir/renders/{key}.json`` maps a whole
request to the delivered file in the media directory.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import asdict
from pathlib import Path

from audio.settings import RenderedAudio

#: Bump when post-processing changes in a way that changes the delivered bytes.
PIPELINE_VERSION = "1"


def make_key(*parts: object) -> str:
    raw = json.dumps([PIPELINE_VERSION, *parts], ensure_ascii=False, sort_keys=True)
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()


def write_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def get_chunk(cache_dir: Path | None, key: str) -> bytes | None:
    if cache_dir is None:
        return None
    try:
        return (cache_dir / "chunks" / f"{key}.audio").read_bytes()
    except OSError:
        return None


def put_chunk(cache_dir: Path | None, key: str, data: bytes) -> None:
    if cache_dir is not None:
        write_atomic(cache_dir / "chunks" / f"{key}.audio", data)


def get_render(cache_dir: Path | None, key: str, media_dir: Path) -> RenderedAudio | None:
    """The cached result, if its media file is still in ``media_dir`` with the right size."""
    if cache_dir is None:
        return None
    try:
        raw = json.loads((cache_dir / "renders" / f"{key}.json").read_text(encoding="utf-8"))
        path = media_dir / f"{raw['sha256']}.mp3"
        if path.stat().st_size != raw["bytes"]:
            return None
        return RenderedAudio(
            sha256=raw["sha256"],
            path=path,
            bytes=int(raw["bytes"]),
            duration_s=float(raw["duration_s"]),
            engine=raw["engine"],
            voice=raw["voice"],
            normalized_text=raw["normalized_text"],
        )
    except (OSError, KeyError, ValueError, TypeError):
        return None


def put_render(cache_dir: Path | None, key: str, result: RenderedAudio) -> None:
    if cache_dir is None:
        return
    raw = asdict(result)
    raw["path"] = result.path.name
    data = json.dumps(raw, ensure_ascii=False, sort_keys=True).encode("utf-8")
    write_atomic(cache_dir / "renders" / f"{key}.json", data)
