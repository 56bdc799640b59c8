"""``giong-xa``: the commune announcer's own voice, assembled from recorded syllables.

A voice of this engine is a bank (:mod:`audio.voicebank.bank`), named by the bank's name. For
one chunk of normalized text the engine:

1. splits it into phrases and syllables (:func:`audio.voicebank.syllables.phrases`);
2. refuses the whole chunk with ``missing_syllables`` when the bank lacks any syllable, naming
   them, so ``auto`` gives the *whole* announcement to the next engine (never two voices in one
   sentence; ``render_text`` retries the whole text, not the chunk);
3. brings every unit to one level (:data:`UNIT_LEVEL_DBFS` RMS of its speech, gain limited to
   ±:data:`MAX_GAIN_DB`), joins the units of a phrase with :data:`CROSSFADE_S` crossfades and
   puts a pause after each phrase (:data:`PAUSES_S`: comma-like marks, sentence ends, line
   breaks).

The units keep the announcer's own pace: ``rate`` (words per minute, default
:data:`DEFAULT_RATE`) only scales the pauses. Loudness, chime, MP3 and the render cache are the
same as for every engine (``audio.render``). The cache key holds the bank's id, version and the
hash of its units, so a re-recorded syllable is heard at the next rendering; the WAV this engine
returns carries the bank's id in a ``lbnk`` chunk, which is how :func:`purge_cache` finds the
cached chunks made from a bank when it is deleted.

Before rendering, a page calls :func:`missing_syllables` on the whole text to show
"cần ghi thêm 4 tiếng: …" and offer a sheet of just those.
"""

from __future__ import annotations

import json
import os
import struct
import threading
from collections.abc import Mapping, Sequence
from functools import lru_cache
from pathlib import Path

import numpy as np

from audio import dsp
from audio.errors import AudioError
from audio.ffmpeg import SAMPLE_RATE, Samples
from audio.messages import message_for as audio_message
from audio.voicebank import bank as banks
from audio.voicebank.messages import error, missing_summary
from audio.voicebank.syllables import Phrase, phrases, words_of
from audio.voicebank.takes import frame_levels, wav_bytes

NAME = "giong-xa"
ONLINE = False
DEFAULT_RATE = 150
CROSSFADE_S = 0.015
UNIT_LEVEL_DBFS = -20.0
MAX_GAIN_DB = 18.0
#: Each unit's duration in the assembled speech, as a share of its recorded duration (pitch
#: kept, WSOLA). A syllable read alone lasts about twice as long as in running speech.
TEMPO = 0.85
#: The same for the last syllable of a phrase. Speakers lengthen phrase ends, but keeping them
#: at 1.0 gained nothing the listening check resolves (+0.6 and -0.8 points on two banks).
FINAL_TEMPO = 0.85
#: Pause after a phrase, by what ends it (the pauses between chunks are render.py's).
PAUSES_S = {"clause": 0.22, "sentence": 0.4, "paragraph": 0.6, "end": 0.0}
_MARKER = b"lbnk"
_manifests: dict[str, tuple[tuple[int, int], banks.Bank]] = {}
_manifests_lock = threading.Lock()


def _bank(name: str) -> banks.Bank:
    """The bank, re-read only when its manifest changed on disk."""
    banks.check_name(name)
    path = banks.banks_dir() / name
    try:
        stat = (path / banks.MANIFEST).stat()
    except OSError:
        raise error("bank_not_found", name=name) from None
    stamp = (stat.st_mtime_ns, stat.st_size)
    key = str(path)
    with _manifests_lock:
        hit = _manifests.get(key)
        if hit is not None and hit[0] == stamp:
            return hit[1]
    loaded = banks.open_bank(name)
    with _manifests_lock:
        _manifests[key] = (stamp, loaded)
    return loaded


def available() -> bool:
    return bool(voices())


def voices() -> list[str]:
    """Every bank on this machine with at least one recorded syllable."""
    return [b.name for b in banks.list_banks() if b.manifest["units"]]


def default_voice() -> str:
    """``$LOA_GIONG_XA_VOICE`` when it names a bank here, else the first bank by name."""
    names = voices()
    wanted = os.environ.get("LOA_GIONG_XA_VOICE", "")
    if wanted in names:
        return wanted
    return names[0] if names else ""


def default_rate() -> int:
    return DEFAULT_RATE


def fingerprint(voice: str) -> str:
    try:
        b = _bank(voice)
    except AudioError:
        return "missing"
    pauses = ",".join(f"{k}={v}" for k, v in sorted(PAUSES_S.items()))
    return (
        f"bank={b.id} v={b.version} units={b.content_digest()} xf={CROSSFADE_S} "
        f"level={UNIT_LEVEL_DBFS} tempo={TEMPO},{FINAL_TEMPO} pauses={pauses}"
    )


def missing_syllables(
    text: str, voice: str | None = None, lexicon: Mapping[str, str] | None = None
) -> list[str]:
    """The syllables of ``text`` (raw announcement text, normalized here) the bank lacks, each
    once, in order of first use. An empty list: giọng xã can read the whole text."""
    from audio.normalize import normalize

    name = voice or default_voice()
    if not name:
        raise error("no_bank")
    b = _bank(name)
    have = b.syllables()
    seen: dict[str, None] = {}
    for s in words_of(normalize(text, lexicon)):
        if s not in have:
            seen.setdefault(s, None)
    return list(seen)


def missing_message(missing: Sequence[str], lang: str = "vi") -> str:
    """``cần ghi thêm 4 tiếng: a, b, c, d`` (English: ``4 syllables to record: …``)."""
    if lang == "en":
        return missing_summary(list(missing), lang="en") + " to record"
    return "cần ghi thêm " + missing_summary(list(missing))


def time_scale(samples: Samples, factor: float, frame_s: float = 0.02) -> Samples:
    """``samples`` lasting ``factor`` times as long, pitch kept (WSOLA: 20 ms Hann frames at
    50 % overlap, each taken within ±5 ms of its nominal place where it best continues the
    previous one)."""
    frame = round(frame_s * SAMPLE_RATE)
    if abs(factor - 1.0) < 1e-3 or samples.size < 2 * frame:
        return samples
    hop, tolerance = frame // 2, frame // 4
    window = (0.5 - 0.5 * np.cos(2 * np.pi * np.arange(frame) / frame)).astype(np.float32)
    length = int(samples.size * factor)
    out = np.zeros(length + frame, dtype=np.float32)
    out[:frame] += samples[:frame] * window
    previous, k = 0, 1
    while (k + 1) * hop + frame <= out.size:
        natural = previous + hop
        if natural + frame > samples.size:
            break
        nominal = round(k * hop / factor)
        lo, hi = max(0, nominal - tolerance), min(samples.size - frame, nominal + tolerance)
        if hi < lo:
            break
        fit = np.correlate(
            samples[lo : hi + frame], samples[natural : natural + frame], mode="valid"
        )
        best = lo + int(np.argmax(fit))
        out[k * hop : k * hop + frame] += samples[best : best + frame] * window
        previous, k = best, k + 1
    return dsp.fade(out[:length])


@lru_cache(maxsize=4096)  # about 100 MB at most; a full bank is about 1,500 units
def _matched_unit(path: str, level_db: float | None, tempo: float = 1.0) -> Samples:
    """A unit file at the common level (and tempo). Unit files are named by their content, so
    the path is a safe cache key."""
    data = Path(path).read_bytes()
    wav = dsp.read_wav(data)
    if wav is None or wav[1] != SAMPLE_RATE:
        raise AudioError("engine_failed", audio_message("engine_failed", engine=NAME))
    samples = wav[0]
    if level_db is None:
        levels = frame_levels(samples)
        loud = levels[levels > levels.max() - 30] if levels.size else levels
        level_db = float(10 * np.log10(np.mean(10 ** (loud / 10)))) if loud.size else -20.0
    gain_db = max(-MAX_GAIN_DB, min(MAX_GAIN_DB, UNIT_LEVEL_DBFS - level_db))
    out = (samples * np.float32(10 ** (gain_db / 20))).astype(np.float32)
    out = time_scale(out, tempo)
    out.setflags(write=False)
    return out


def units_for(b: banks.Bank, syllables: Sequence[str], phrase: bool = False) -> list[Samples]:
    """The units of ``syllables``, level-matched and shortened (``phrase``: the last one is a
    phrase end, at :data:`FINAL_TEMPO`)."""
    table = b.manifest["units"]
    out = []
    for i, s in enumerate(syllables):
        unit = table[s]
        level = unit.get("level_db")
        tempo = FINAL_TEMPO if phrase and i == len(syllables) - 1 else TEMPO
        out.append(
            _matched_unit(
                str(b.path / unit["file"]), float(level) if level is not None else None, tempo
            )
        )
    return out


def join_units(units: Sequence[Samples], crossfade_s: float = CROSSFADE_S) -> Samples:
    """Units one after another, each overlapping the next by ``crossfade_s`` (linear ramps;
    shorter for a unit too short to hold two)."""
    if not units:
        return np.zeros(0, dtype=np.float32)
    xf = min([round(crossfade_s * SAMPLE_RATE)] + [u.size // 2 for u in units])
    out = np.zeros(sum(u.size for u in units) - xf * (len(units) - 1), dtype=np.float32)
    ramp = np.linspace(0.0, 1.0, xf, dtype=np.float32)
    pos = 0
    for i, unit in enumerate(units):
        piece = unit.copy()
        if xf:
            if i:
                piece[:xf] *= ramp
            if i + 1 < len(units):
                piece[-xf:] *= ramp[::-1]
        out[pos : pos + piece.size] += piece
        pos += piece.size - xf
    return out


def assemble(b: banks.Bank, said: Sequence[Phrase], rate: int = DEFAULT_RATE) -> Samples:
    """Phrases → samples: units joined per phrase, pauses between phrases. All syllables must
    be in the bank (check with :func:`missing_syllables` first)."""
    scale = DEFAULT_RATE / max(60, min(400, int(rate)))
    parts: list[Samples] = []
    for phrase in said:
        parts.append(join_units(units_for(b, phrase.syllables, phrase=True)))
        pause = round(PAUSES_S[phrase.boundary] * scale * SAMPLE_RATE)
        if pause:
            parts.append(np.zeros(pause, dtype=np.float32))
    return np.concatenate(parts).astype(np.float32) if parts else np.zeros(0, np.float32)


def _with_marker(wav: bytes, bank_id: str) -> bytes:
    """The WAV with a ``lbnk`` chunk (the bank's id) before ``fmt ``."""
    tag = bank_id.encode("ascii")
    chunk = _MARKER + struct.pack("<I", len(tag)) + tag + (b"\0" if len(tag) % 2 else b"")
    body = wav[12:]
    riff_size = 4 + len(chunk) + len(body)
    return b"RIFF" + struct.pack("<I", riff_size) + b"WAVE" + chunk + body


def bank_id_of(data: bytes) -> str | None:
    """The bank id in a WAV this engine made (``None`` for any other audio)."""
    if len(data) < 20 or data[:4] != b"RIFF" or data[12:16] != _MARKER:
        return None
    size = struct.unpack("<I", data[16:20])[0]
    try:
        return data[20 : 20 + size].decode("ascii")
    except UnicodeDecodeError:
        return None


def synthesize(text: str, voice: str, rate: int) -> bytes:
    """One chunk of normalized text in the bank's voice (a WAV), or ``missing_syllables``."""
    try:
        b = _bank(voice)
    except AudioError as exc:
        if exc.code in {"bank_not_found", "bad_bank_name"}:
            raise AudioError(
                "unknown_voice", audio_message("unknown_voice", voice=voice, engine=NAME)
            ) from exc
        raise
    said = phrases(text)
    have = b.manifest["units"]
    missing = list(dict.fromkeys(s for p in said for s in p.syllables if s not in have))
    if missing:
        raise error("missing_syllables", name=b.name, summary=missing_summary(missing))
    if not said:
        raise AudioError("empty_text", audio_message("empty_text"))
    return _with_marker(wav_bytes(assemble(b, said, rate)), b.id)


def purge_cache(
    bank_id: str, bank_name: str, cache_dir: Path | None, media_dir: Path | None = None
) -> tuple[int, int, list[str]]:
    """Remove what the render cache holds from one bank: chunks carrying its id and
    renderings this engine made with it (their delivered files too, given ``media_dir``).
    Returns (chunks removed, renderings removed, sha256 of the delivered files)."""
    chunks = renders = 0
    media: list[str] = []
    if cache_dir is None:
        return 0, 0, []
    still_used: set[str] = set()
    for path in sorted((cache_dir / "chunks").glob("*.audio")):
        try:
            with path.open("rb") as f:
                head = f.read(64)
        except OSError:
            continue
        if bank_id_of(head) == bank_id:
            path.unlink(missing_ok=True)
            chunks += 1
    for path in sorted((cache_dir / "renders").glob("*.json")):
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if not isinstance(raw, dict):
            continue
        sha = str(raw.get("sha256", ""))
        if raw.get("engine") == NAME and raw.get("voice") == bank_name:
            path.unlink(missing_ok=True)
            renders += 1
            if sha:
                media.append(sha)
        else:
            still_used.add(sha)
    if media_dir is not None:
        for sha in media:
            # A file another rendering also points to (the same bytes) is not this bank's alone.
            if sha not in still_used and len(sha) == 64 and sha.isalnum():
                (media_dir / f"{sha}.mp3").unlink(missing_ok=True)
    return chunks, renders, media
