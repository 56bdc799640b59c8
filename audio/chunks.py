"""Long text → chunks an engine speaks one at a time, with the pause that follows each."""

from __future__ import annotations

import re

#: Pause after a sentence, and after a paragraph (a line break in the text), in seconds.
SENTENCE_PAUSE_S = 0.45
PARAGRAPH_PAUSE_S = 0.9
#: Pause where an over-long sentence is cut at a comma.
CLAUSE_PAUSE_S = 0.25
#: Sentences longer than this are cut at commas (engines and listeners both want short ones).
MAX_CHUNK_CHARS = 300

_SENTENCE_END = re.compile(r"(?<=[.!?;:…])\s+")
_HAS_WORD = re.compile(r"[^\W\d_]")


def _split_long(sentence: str) -> list[str]:
    if len(sentence) <= MAX_CHUNK_CHARS:
        return [sentence]
    pieces: list[str] = []
    current = ""
    for part in re.split(r"(?<=,)\s+", sentence):
        if current and len(current) + 1 + len(part) > MAX_CHUNK_CHARS:
            pieces.append(current)
            current = part
        else:
            current = f"{current} {part}".strip()
    if current:
        pieces.append(current)
    out: list[str] = []
    for piece in pieces:  # a clause with no comma at all: cut between words
        while len(piece) > MAX_CHUNK_CHARS:
            cut = piece.rfind(" ", 0, MAX_CHUNK_CHARS)
            cut = cut if cut > 0 else MAX_CHUNK_CHARS
            out.append(piece[:cut].strip())
            piece = piece[cut:].strip()
        if piece:
            out.append(piece)
    return out


def split(text: str) -> list[tuple[str, float]]:
    """``[(chunk, pause_after_s), …]``; chunks without a word to say are dropped."""
    chunks: list[tuple[str, float]] = []
    for paragraph in text.split("\n"):
        if not paragraph.strip():
            continue
        sentences = [s.strip() for s in _SENTENCE_END.split(paragraph.strip()) if s.strip()]
        for sentence in sentences:
            pieces = [p for p in _split_long(sentence) if _HAS_WORD.search(p)]
            chunks.extend((piece, CLAUSE_PAUSE_S) for piece in pieces)
            if chunks and pieces:
                chunks[-1] = (chunks[-1][0], SENTENCE_PAUSE_S)
        if chunks:
            chunks[-1] = (chunks[-1][0], PARAGRAPH_PAUSE_S)
    if chunks:
        chunks[-1] = (chunks[-1][0], 0.0)
    return chunks
