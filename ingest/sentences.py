"""Sentence boundaries with exact character offsets, from BlingFire's finite-state splitter."""

from __future__ import annotations

import blingfire

# A "sentence" longer than this is usually a list or a run-on caption without full stops; it is
# cut at line breaks so that a citation stays a readable, checkable span.
MAX_SENTENCE_CHARS = 1200


def _trimmed(text: str, start: int, end: int) -> tuple[int, int] | None:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return (start, end) if end > start else None


def _cut_long(text: str, start: int, end: int) -> list[tuple[int, int]]:
    if end - start <= MAX_SENTENCE_CHARS:
        return [(start, end)]
    spans: list[tuple[int, int]] = []
    piece_start = start
    while end - piece_start > MAX_SENTENCE_CHARS:
        window_end = piece_start + MAX_SENTENCE_CHARS
        cut = text.rfind("\n", piece_start + 1, window_end)
        if cut <= piece_start:
            cut = text.rfind(" ", piece_start + 1, window_end)
        if cut <= piece_start:
            cut = window_end
        trimmed = _trimmed(text, piece_start, cut)
        if trimmed:
            spans.append(trimmed)
        piece_start = cut
    trimmed = _trimmed(text, piece_start, end)
    if trimmed:
        spans.append(trimmed)
    return spans


def split_sentences(text: str, start: int = 0, end: int | None = None) -> list[tuple[int, int]]:
    """Sentence spans of ``text[start:end]`` as absolute offsets into ``text``.

    Line breaks inside the segment are read as spaces (a PDF line break is layout, not a
    sentence end); callers split separately at block boundaries, which are real breaks.
    """
    end = len(text) if end is None else end
    segment = text[start:end]
    if not segment.strip():
        return []
    flat = segment.replace("\n", " ").replace("\r", " ").replace("\t", " ")
    _, offsets = blingfire.text_to_sentences_and_offsets(flat)
    spans: list[tuple[int, int]] = []
    for rel_start, rel_end in offsets:
        trimmed = _trimmed(text, start + rel_start, start + rel_end)
        if trimmed:
            spans.extend(_cut_long(text, *trimmed))
    return spans
