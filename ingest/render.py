"""Where a quote sits on a filing's page, and the page rendered with it highlighted.

A citation stores the sentence's box from ingest (the union of the lines it touches). A reviewer
needs the quote itself: the words it spans, one box per printed line, so a highlight covers
exactly the quoted text. The words come from the same PyMuPDF text layer the reader parsed, and
are matched with whitespace removed on both sides: the reader joins spans and lines with its
own spacing, so a token-by-token match would fail where the characters agree.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ingest.errors import UnreadableFilingError
from ingest.ids import file_sha256
from ingest.layout import union_bbox
from ingest.pdf import text_flags
from ingest.types import BBox

# Page images at this many pixels per PDF point (1.5 → 918 × 1188 for a US Letter page).
DEFAULT_ZOOM = 1.5
_HIGHLIGHT = (1.0, 0.83, 0.0)
_HIGHLIGHT_OPACITY = 0.38
_OUTLINE = (0.85, 0.4, 0.0)


@dataclass(frozen=True, slots=True)
class QuoteBoxes:
    """The quote's place on its page: one box per printed line, in PDF points with the origin
    at the page's top left (PyMuPDF's page space). ``exact`` is False when the quote's words
    were not found on the page and the boxes are the stored sentence box instead."""

    boxes: tuple[BBox, ...]
    exact: bool


@dataclass(frozen=True, slots=True)
class HighlightedPage:
    png: bytes
    width: int  # pixels
    height: int
    zoom: float  # pixels per PDF point
    quote: QuoteBoxes


def _pymupdf() -> Any:
    """PyMuPDF, imported when first used (it is heavy) and typed loosely: its API is untyped."""
    import pymupdf

    return pymupdf


def visible_characters(text: str) -> str:
    """The characters a match compares: no whitespace, no invisible format marks (a
    left-to-right mark glued to a word in the text layer is not in the stored quote)."""
    return "".join(c for c in text if not c.isspace() and unicodedata.category(c) != "Cf")


def _squeezed(words: list[tuple[Any, ...]]) -> tuple[str, list[int], set[int], set[int]]:
    """The words' visible characters run together; for each character the word it came from;
    and the offsets where words start and end, so a match can be held to whole words."""
    characters: list[str] = []
    owner: list[int] = []
    starts: set[int] = set()
    ends: set[int] = set()
    for index, word in enumerate(words):
        visible = visible_characters(str(word[4]))
        if not visible:
            continue
        starts.add(len(characters))
        characters.extend(visible)
        owner.extend([index] * len(visible))
        ends.add(len(characters))
    return "".join(characters), owner, starts, ends


def _splits(text: str, cut: int) -> bool:
    """Whether cutting ``text`` at ``cut`` splits a word or a number: two letters or digits
    either side, or a digit, a separator and a digit ("1,2|00", "1|,200", "3|.5")."""
    if cut <= 0 or cut >= len(text):
        return False
    before, after = text[cut - 1], text[cut]
    if before.isalnum() and after.isalnum():
        return True
    number_separator = ",."
    if before in number_separator and after.isdigit() and cut >= 2 and text[cut - 2].isdigit():
        return True
    return (
        after in number_separator
        and before.isdigit()
        and cut + 1 < len(text)
        and text[cut + 1].isdigit()
    )


def _whole(text: str, start: int, end: int, starts: set[int], ends: set[int]) -> bool:
    """A match that begins and ends on word boundaries, or next to punctuation that is not
    inside a number: "1,200" is found in "(1,200)." but not in "11,200" or "1,200,000"."""
    return (start in starts or not _splits(text, start)) and (end in ends or not _splits(text, end))


def _line_boxes(words: list[tuple[Any, ...]]) -> tuple[BBox, ...]:
    lines: dict[tuple[int, int], list[BBox]] = {}
    for word in words:
        lines.setdefault((int(word[5]), int(word[6])), []).append(
            (float(word[0]), float(word[1]), float(word[2]), float(word[3]))
        )
    return tuple(union_bbox(boxes) for boxes in lines.values())


def _distance(box: BBox, near: BBox) -> float:
    return abs(box[1] - near[1]) + abs(box[0] - near[0])


def locate_quote(page: Any, quote: str, near: BBox | None) -> QuoteBoxes:
    """The quote's line boxes on a PyMuPDF page, in its unrotated space (the space the reader
    stored sentence boxes in); the occurrence nearest ``near`` (the stored sentence box) when
    the page repeats it. A match must begin and end on word boundaries: "1,200" is not found
    inside "11,200"."""
    pymupdf = _pymupdf()
    target = visible_characters(quote)
    # The reader's own flags: text outside the media box is not on the page a reviewer sees.
    flags = (
        pymupdf.TEXT_PRESERVE_LIGATURES
        | pymupdf.TEXT_PRESERVE_WHITESPACE
        | pymupdf.TEXT_MEDIABOX_CLIP
    )
    words = page.get_text("words", flags=flags)
    words.sort(key=lambda w: (w[5], w[6], w[7]))
    squeezed, owner, starts, ends = _squeezed(words)
    candidates: list[tuple[BBox, ...]] = []
    start = squeezed.find(target) if target else -1
    while start != -1:
        end = start + len(target)
        if _whole(squeezed, start, end, starts, ends):
            candidates.append(_line_boxes(words[owner[start] : owner[end - 1] + 1]))
        start = squeezed.find(target, start + 1)
    if candidates:
        if near is not None:
            candidates.sort(key=lambda boxes: _distance(boxes[0], near))
        return QuoteBoxes(candidates[0], exact=True)
    return QuoteBoxes((near,) if near is not None else (), exact=False)


def words_in_boxes(page: Any, boxes: list[BBox] | tuple[BBox, ...]) -> str:
    """The visible characters of the page's words whose centres lie in the boxes (unrotated
    space), in reading order: what a highlight covers, to compare with its quote."""
    words = sorted(page.get_text("words", flags=text_flags()), key=lambda w: (w[5], w[6], w[7]))
    return visible_characters(
        "".join(
            str(w[4])
            for w in words
            if any(
                b[0] <= (w[0] + w[2]) / 2 <= b[2] and b[1] <= (w[1] + w[3]) / 2 <= b[3]
                for b in boxes
            )
        )
    )


def displayed_boxes(page: Any, boxes: tuple[BBox, ...]) -> list[BBox]:
    """Boxes in the page as it is displayed and rendered (its /Rotate applied): what a box
    drawn over the page image, scaled by the zoom, must use."""
    pymupdf = _pymupdf()
    shown = []
    for box in boxes:
        rect = pymupdf.Rect(box) * page.rotation_matrix
        shown.append((float(rect.x0), float(rect.y0), float(rect.x1), float(rect.y1)))
    return shown


def open_filing_pdf(path: Path, sha256: str) -> Any:
    """The PDF a filing was ingested from, refusing a file that changed since: a highlight
    drawn on other bytes would show a reviewer something the citation never quoted."""
    pymupdf = _pymupdf()
    if not path.is_file():
        raise UnreadableFilingError(
            path, "the filing's file is gone; restore it (or re-ingest) to render its pages"
        )
    if file_sha256(path) != sha256:
        raise UnreadableFilingError(
            path,
            "the file changed since it was ingested (its sha256 differs); "
            "re-ingest it to render its pages",
        )
    return pymupdf.open(path, filetype="pdf")


def render_boxes(
    document: Any, page_number: int, boxes: tuple[BBox, ...], zoom: float = DEFAULT_ZOOM
) -> tuple[bytes, int, int]:
    """The page as a PNG (and its pixel size) with ``boxes`` (unrotated page space) tinted and
    outlined. Drawn on an in-memory copy of the page: the filing's file is never written."""
    pymupdf = _pymupdf()
    with pymupdf.open() as single:
        single.insert_pdf(document, from_page=page_number, to_page=page_number)
        drawn = single[0]
        for box in boxes:
            # Drawing takes the unrotated space the boxes are in; the render applies /Rotate.
            drawn.draw_rect(
                pymupdf.Rect(box),
                # An outline too: a tint alone fades into banded table rows.
                color=_OUTLINE,
                width=0.8,
                fill=_HIGHLIGHT,
                fill_opacity=_HIGHLIGHT_OPACITY,
                overlay=True,
            )
        pixmap = drawn.get_pixmap(matrix=pymupdf.Matrix(zoom, zoom), alpha=False)
        return pixmap.tobytes("png"), pixmap.width, pixmap.height


def render_highlight(
    document: Any,
    page_number: int,
    quote: str,
    near: BBox | None,
    zoom: float = DEFAULT_ZOOM,
) -> HighlightedPage:
    """The page as a PNG with the quote located and highlighted."""
    located = locate_quote(document[page_number], quote, near)
    png, width, height = render_boxes(document, page_number, located.boxes, zoom)
    return HighlightedPage(png, width, height, zoom, located)
