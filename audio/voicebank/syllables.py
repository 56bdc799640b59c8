"""Normalized text → the syllables an announcer says, and the phrases they fall into.

The text is first normalized by :func:`audio.normalize.normalize` (numbers, dates, units and
abbreviations become words), so "7h30" counts as "bảy giờ ba mươi phút". A syllable is a run of
letters (Vietnamese letters with their tone marks, NFC, lower case); a foreign word that survives
normalization ("zalo") is one unit too, recorded as the announcer says it. Punctuation ends a
phrase; a line break ends a paragraph.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

#: A unit: letters only (any script's letters, so a foreign word left by normalization counts).
_WORD = re.compile(r"[^\W\d_]+")
#: Where a phrase ends inside a sentence, and where a sentence ends.
_CLAUSE = frozenset(',;:()"“”–—-')
_SENTENCE = frozenset(".!?…")

#: Longest unit accepted as a syllable (Vietnamese syllables have at most 7 letters:
#: "nghiêng"; foreign words kept by normalization can be longer).
MAX_SYLLABLE_CHARS = 16

TONES = ("ngang", "huyền", "sắc", "hỏi", "ngã", "nặng")
_TONE_MARKS = {
    "\u0300": "huyền",
    "\u0301": "sắc",
    "\u0309": "hỏi",
    "\u0303": "ngã",
    "\u0323": "nặng",
}


def canonical(syllable: str) -> str:
    """The form units are stored under: NFC, lower case, stripped."""
    return unicodedata.normalize("NFC", syllable.strip().lower())


def is_syllable(unit: str) -> bool:
    """A unit that can be recorded: letters only, 1 to :data:`MAX_SYLLABLE_CHARS` of them, in
    canonical form."""
    return (
        0 < len(unit) <= MAX_SYLLABLE_CHARS
        and unit == canonical(unit)
        and _WORD.fullmatch(unit) is not None
    )


def tone(syllable: str) -> str:
    """The syllable's tone by its mark: ngang (none), huyền, sắc, hỏi, ngã or nặng."""
    for ch in unicodedata.normalize("NFD", syllable):
        if ch in _TONE_MARKS:
            return _TONE_MARKS[ch]
    return "ngang"


def words_of(normalized: str) -> list[str]:
    """Every syllable of already-normalized text, in order."""
    return [canonical(m.group(0)) for m in _WORD.finditer(normalized)]


def spoken_syllables(text: str, lexicon: Mapping[str, str] | None = None) -> list[str]:
    """Raw announcement text → the syllables said, in order (normalizing first)."""
    from audio.normalize import normalize

    return words_of(normalize(text, lexicon))


def spoken_syllables_many(
    texts: Iterable[str], lexicon: Mapping[str, str] | None = None
) -> list[list[str]]:
    """Like :func:`spoken_syllables` for many texts, normalized in one batch (much faster)."""
    from audio.normalize import normalize

    items = [t for t in texts]
    if not items:
        return []
    # One call: normalize() keeps one output line per input line; texts never contain the
    # separator, so the batch splits back exactly.
    joined = "\n\u2029\n".join(t.replace("\u2029", " ") for t in items)
    said = normalize(joined, lexicon).split("\n\u2029\n")
    if len(said) != len(items):  # a rule ate the separator: fall back to one at a time
        said = [normalize(t, lexicon) for t in items]
    return [words_of(s) for s in said]


@dataclass(frozen=True)
class Phrase:
    """Syllables said without a pause, and what ends them."""

    syllables: tuple[str, ...]
    #: "clause" (comma-like), "sentence" (. ! ? …), "paragraph" (line break) or "end".
    boundary: str


def phrases(normalized: str) -> list[Phrase]:
    """Normalized text → phrases: a new phrase after each punctuation mark or line break."""
    out: list[Phrase] = []
    current: list[str] = []
    pos = 0

    def close(boundary: str) -> None:
        nonlocal current
        if current:
            out.append(Phrase(tuple(current), boundary))
            current = []
        elif out and boundary != "clause":
            # "a, b." : the stronger boundary wins on the phrase already closed.
            rank = {"clause": 0, "sentence": 1, "paragraph": 2, "end": 3}
            last = out[-1]
            if rank[boundary] > rank[last.boundary]:
                out[-1] = Phrase(last.syllables, boundary)

    for match in _WORD.finditer(normalized):
        gap = normalized[pos : match.start()]
        _close_on_gap(gap, close)
        current.append(canonical(match.group(0)))
        pos = match.end()
    _close_on_gap(normalized[pos:], close)
    close("end")
    if out:
        out[-1] = Phrase(out[-1].syllables, "end")
    return out


def _close_on_gap(gap: str, close: Callable[[str], None]) -> None:
    boundary = None
    if "\n" in gap:
        boundary = "paragraph"
    elif any(ch in _SENTENCE for ch in gap):
        boundary = "sentence"
    elif any(ch in _CLAUSE for ch in gap):
        boundary = "clause"
    if boundary is not None:
        close(boundary)
