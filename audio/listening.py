"""Machine listening check (nghe kiểm tra): what an offline recognizer hears in a delivered file,
word by word against the text that was spoken.

Rules:

- The recognizer is viet-asr (Apache-2.0, its model inside its wheel, works offline). It is an
  optional extra: :func:`available` says whether it is installed, and :func:`listen` raises
  ``AudioError("listening_unavailable")`` when it is not, so a controller without it still
  renders and says why there is no check.
- :func:`listen` runs the recognizer in a child process (``python -m audio.listening FILE``) in
  Linux's idle scheduling class (``SCHED_IDLE``: it gets a core only when nothing else wants
  it; elsewhere nice :data:`NICENESS`), so a 2-core controller keeps serving pages and
  emergencies while it transcribes; the child decodes the file with ffmpeg to 16 kHz mono and
  reports the text and its own CPU seconds. It gives up after :func:`time_limit_s`.
- The recognizer hears a long file better in pieces: :func:`segments` cuts the audio half way
  into every pause once it has lasted :data:`PAUSE_S` (Loa's sentence pauses are 0.45 s), and
  anywhere after :data:`MAX_SEGMENT_S`; each piece is transcribed alone and the texts joined
  (measured on 12 sentences of espeak-ng speech: 40 % of words heard in pieces, 28 % whole).
- :func:`compare` aligns the expected words (the normalized text the engine was given: lower
  case, punctuation removed) with the heard words by edit distance. An expected word is heard
  when the alignment matches it exactly; substituted or missing words are misheard (with what
  was heard in their place, if anything). ``heard_share`` = heard words / expected words: the
  figure to show ("máy nghe đúng 82 % số từ"), unaffected by words the recognizer invents on
  the chimes. ``word_error_rate`` = edits (substitutions, deletions, insertions) / expected
  words, as the intelligibility bench counts it.
"""

from __future__ import annotations

import itertools
import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from importlib import metadata, util
from pathlib import Path
from typing import Any

from audio.errors import AudioError

#: The recognizer's Python module and distribution.
RECOGNIZER = "vietasr"
RECOGNIZER_DIST = "viet-asr"
#: CPU priority of the child process where SCHED_IDLE is missing (0 = normal, 19 = lowest).
NICENESS = 19
SAMPLE_RATE = 16000
#: A pause at least this long separates two pieces the recognizer hears on their own.
PAUSE_S = 0.3
#: No piece is longer than this.
MAX_SEGMENT_S = 25.0
#: Quieter than this, relative to the loudest 10 ms frame, is a pause (-40 dB).
QUIET = 0.01


@dataclass(frozen=True)
class HeardWord:
    word: str  # an expected word
    heard: bool  # the recognizer heard exactly this word here
    as_heard: str | None  # what it heard in its place (None: nothing)


@dataclass(frozen=True)
class ListeningResult:
    expected: str
    heard_text: str
    words: tuple[HeardWord, ...]
    heard_share: float
    word_error_rate: float
    speech_s: float
    cpu_s: float
    recognizer: str

    @property
    def misheard(self) -> list[str]:
        return [w.word for w in self.words if not w.heard]


def words(text: str) -> list[str]:
    """Lower-case words without punctuation (Vietnamese letters kept)."""
    return re.sub(r"[^\w\s]", " ", text.lower()).split()


def compare(expected: str, heard: str) -> tuple[tuple[HeardWord, ...], float, float]:
    """(each expected word heard or not, heard share, word error rate): see the module rules."""
    ref, hyp = words(expected), words(heard)
    n, m = len(ref), len(hyp)
    cost = [[0] * (m + 1) for _ in range(n + 1)]
    for i in range(n + 1):
        cost[i][0] = i
    for j in range(m + 1):
        cost[0][j] = j
    for i in range(1, n + 1):
        for j in range(1, m + 1):
            same = ref[i - 1] == hyp[j - 1]
            cost[i][j] = min(
                cost[i - 1][j - 1] + (0 if same else 1), cost[i - 1][j] + 1, cost[i][j - 1] + 1
            )
    marks: list[HeardWord] = []
    i, j = n, m
    while i > 0:
        if j > 0 and cost[i][j] == cost[i - 1][j - 1] + (0 if ref[i - 1] == hyp[j - 1] else 1):
            marks.append(HeardWord(ref[i - 1], ref[i - 1] == hyp[j - 1], hyp[j - 1]))
            i, j = i - 1, j - 1
        elif cost[i][j] == cost[i - 1][j] + 1:
            marks.append(HeardWord(ref[i - 1], False, None))
            i -= 1
        else:
            j -= 1
    marks.reverse()
    if n == 0:
        return (), 0.0, 0.0
    heard_count = sum(w.heard for w in marks)
    return tuple(marks), heard_count / n, cost[n][m] / n


def segments(samples: Any, rate: int = SAMPLE_RATE) -> list[Any]:
    """Split int16 ``samples`` at pauses (see the module rules); pieces shorter than 0.1 s
    (a click) are dropped."""
    import numpy as np

    frame = rate // 100
    count = samples.size // frame
    if count == 0:
        return []
    frames = samples[: count * frame].astype(np.float32).reshape(count, frame)
    energy = np.sqrt((frames**2).mean(axis=1))
    quiet = energy < energy.max() * QUIET
    pause_frames = round(PAUSE_S * 100)
    longest = int(MAX_SEGMENT_S * 100)
    cuts = [0]
    run = 0
    for i, is_quiet in enumerate(quiet):
        run = run + 1 if is_quiet else 0
        if run == pause_frames or (i - cuts[-1] // frame) >= longest:
            cuts.append((i - run // 2) * frame if run == pause_frames else i * frame)
    cuts.append(samples.size)
    return [samples[a:b] for a, b in itertools.pairwise(cuts) if b - a >= rate // 10]


def available() -> bool:
    """Whether the recognizer is installed (the ``bench`` extra, or ``pip install viet-asr``)."""
    return util.find_spec(RECOGNIZER) is not None


def recognizer_version() -> str:
    try:
        return f"{RECOGNIZER_DIST} {metadata.version(RECOGNIZER_DIST)}"
    except metadata.PackageNotFoundError:
        return RECOGNIZER_DIST


def time_limit_s(speech_s: float) -> float:
    """How long the child may take: four times the speech, and a minute to load the model."""
    return 60.0 + 4.0 * speech_s


def _duration_s(path: Path) -> float:
    """The file's duration by ffprobe; AudioError when it is not audio it can read."""
    from audio.ffmpeg import probe

    info = probe(path)
    fmt = info.get("format") if info else None
    try:
        return float(fmt["duration"])  # type: ignore[index]
    except (KeyError, TypeError, ValueError):
        raise AudioError("not_audio") from None


def listen(path: Path, expected: str) -> ListeningResult:
    """Transcribe ``path`` offline and compare it with ``expected`` (see the module rules).

    Raises AudioError ``listening_unavailable`` (no recognizer here) or ``listening_failed``
    (the file could not be read, the recognizer failed or ran out of time).
    """
    from audio.messages import message_for

    if not available():
        raise AudioError("listening_unavailable", message_for("listening_unavailable"))
    try:
        speech_s = _duration_s(path)
    except AudioError:
        raise AudioError("listening_failed", message_for("listening_failed")) from None
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "audio.listening", str(path)],
            capture_output=True,
            text=True,
            timeout=time_limit_s(speech_s),
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise AudioError("listening_failed", message_for("listening_failed")) from None
    if proc.returncode != 0:
        raise AudioError("listening_failed", message_for("listening_failed"))
    report = json.loads(proc.stdout)
    marks, share, wer = compare(expected, report["text"])
    return ListeningResult(
        expected=expected,
        heard_text=report["text"],
        words=marks,
        heard_share=share,
        word_error_rate=wer,
        speech_s=speech_s,
        cpu_s=report["cpu_s"],
        recognizer=recognizer_version(),
    )


def _child(path: str) -> int:
    """In the child: lower priority, decode, recognize, print JSON {text, cpu_s}."""
    import resource

    import numpy as np

    if hasattr(os, "sched_setscheduler") and hasattr(os, "SCHED_IDLE"):
        os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
    else:
        os.nice(NICENESS)
    import vietasr

    raw = subprocess.run(
        [
            *("ffmpeg", "-loglevel", "error", "-i", path),
            *("-ar", str(SAMPLE_RATE), "-ac", "1", "-f", "s16le", "pipe:1"),
        ],
        capture_output=True,
        check=True,
    ).stdout
    samples = np.frombuffer(raw, dtype=np.int16)
    asr = vietasr.Pipeline.new().add("vietasr").build()
    pieces = [asr.transcribe(piece, float(SAMPLE_RATE)).text for piece in segments(samples)]
    text = " ".join(p.strip() for p in pieces if p.strip())
    used = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = used.ru_utime + used.ru_stime + children.ru_utime + children.ru_stime
    print(json.dumps({"text": text, "cpu_s": cpu}, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(_child(sys.argv[1]))
