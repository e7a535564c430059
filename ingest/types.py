"""Data types shared by every layer: what a parsed filing looks like once it is addressable.

Offsets are character offsets into ``ParsedPage.text``; for every sentence
``page.text[sentence.start:sentence.end] == sentence.text`` holds, so a citation can always be
re-located on its page.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

BBox = tuple[float, float, float, float]
# The grid columns a table cell covers: its first column and one past its last (colspans
# counted), so header cells can be laid over the figures beneath them.
ColumnSpan = tuple[int, int]


class SentenceKind(StrEnum):
    PROSE = "prose"
    HEADING = "heading"
    TABLE_ROW = "table_row"
    TABLE_HEADER = "table_header"


class FormType(StrEnum):
    FORM_10K = "10-K"
    FORM_10Q = "10-Q"
    FORM_8K = "8-K"
    EARNINGS = "earnings release"
    # A company's own annual report (IFRS, UK or any report to shareholders that is not an
    # SEC form), whole or an excerpt of it.
    ANNUAL_REPORT = "annual report"
    OTHER = "other"


@dataclass(frozen=True, slots=True)
class FilingMetadata:
    """What a filing is. Every field may be unknown; later sources override earlier ones."""

    name: str
    company: str | None = None
    form_type: FormType | None = None
    fiscal_year: int | None = None
    fiscal_period: str | None = None  # "FY", "Q1" … "Q4"
    period_end: str | None = None  # ISO date of the period the filing reports on
    filed: str | None = None  # ISO date the filing was made
    ticker: str | None = None


@dataclass(frozen=True, slots=True)
class Sentence:
    """An addressable unit of a page: a prose sentence, a heading, or one whole table row."""

    start: int
    end: int
    text: str
    kind: SentenceKind = SentenceKind.PROSE
    section: str | None = None
    bbox: BBox | None = None
    table_index: int | None = None  # index into ParsedPage.tables for table rows/headers


@dataclass(frozen=True, slots=True)
class Table:
    """A table kept whole: every row keeps its label, the column headers and the scale."""

    title: str | None
    header_rows: list[list[str]]
    rows: list[list[str]]  # first cell is the row label where the table has one
    scale: str | None  # "thousands", "millions", "billions" when the table states it
    start: int  # span of the whole table in the page text
    end: int
    bbox: BBox | None = None
    # Per cell of ``header_rows`` and ``rows``, the grid columns it covers, where the reader
    # knows them (HTML); None where it does not (PDF text lines), and readers then align the
    # header rows to the rightmost figure columns.
    header_spans: list[list[ColumnSpan]] | None = None
    row_spans: list[list[ColumnSpan]] | None = None

    def render(self) -> str:
        """The table as text that keeps every number beside its row label and the headers."""
        lines: list[str] = []
        if self.title:
            lines.append(self.title)
        if self.scale:
            lines.append(f"(in {self.scale})")
        lines.extend(" | ".join(cell for cell in row if cell) for row in self.header_rows)
        lines.extend(" | ".join(cell for cell in row if cell) for row in self.rows)
        return "\n".join(lines)


@dataclass(slots=True)
class ParsedPage:
    number: int  # zero-indexed, equal to PyMuPDF's page number for PDFs
    text: str
    sentences: list[Sentence] = field(default_factory=list)
    tables: list[Table] = field(default_factory=list)
    width: float | None = None
    height: float | None = None


@dataclass(slots=True)
class ParsedDocument:
    """A reader's output, before metadata is resolved and sections are assigned."""

    path: Path
    sha256: str
    pages: list[ParsedPage]
    parser: str
    parser_version: str
    title: str | None = None  # the document's own title metadata, if any


@dataclass(slots=True)
class Chunk:
    """A retrieval unit built from consecutive sentences of one page and one section.

    ``text`` is the filing's own text (quotable); ``embed_text`` is what the embedding model
    sees (a context header plus the text, with table headers repeated).
    """

    id: str
    filing_id: str
    page: int
    section: str | None
    sentence_ids: list[str]
    text: str
    embed_text: str
    table_index: int | None = None
