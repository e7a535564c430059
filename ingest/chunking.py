"""Chunks for retrieval: consecutive sentences of one page and one section, tables kept whole.

The quotable ``text`` is the filing's own text. The ``embed_text`` adds a context header
(company, form, fiscal year, section) and, for table chunks, the table's title, scale and
column headers, so a row like "Purchases of property, plant and equipment (1,577)" is embedded
together with what its numbers mean.
"""

from __future__ import annotations

from collections.abc import Iterator

from ingest.ids import chunk_id, sentence_id
from ingest.layout import is_numeric_cell
from ingest.sections import Section
from ingest.types import Chunk, FilingMetadata, ParsedPage, Sentence, SentenceKind, Table

# Section titles in the embedding header are cut to this length: the label carries the
# meaning, and every header token is paid for in every chunk.
_HEADER_TITLE_CHARS = 40


def flatten(text: str) -> str:
    return " ".join(text.split())


def row_label(row_text: str) -> str:
    """A table row's words without its numbers: what a dense model can use.

    The numbers stay in the quotable text and the lexical index; to an embedding model they
    are tokens that cost time and carry no meaning.
    """
    cells = [line.strip() for line in row_text.splitlines()]
    return " ".join(
        cell
        for cell in cells
        if cell and not is_numeric_cell(cell) and cell not in {"$", "%", "(", ")"}
    )


def context_header(metadata: FilingMetadata, section: Section | None) -> str:
    parts = [metadata.company or metadata.name]
    if metadata.form_type:
        parts.append(metadata.form_type.value)
    if metadata.fiscal_year:
        period = metadata.fiscal_period if metadata.fiscal_period not in (None, "FY") else ""
        parts.append(f"FY{metadata.fiscal_year} {period}".strip())
    header = " ".join(parts)
    if section:
        title = section.title
        if len(title) > _HEADER_TITLE_CHARS:
            title = title[:_HEADER_TITLE_CHARS].rsplit(" ", 1)[0]
        header += f" | {section.label} {title}".rstrip()
    return header


# A table's title, scale and column headers are repeated in every chunk of the table; past
# this length (multi-level equity-statement headers) they would crowd out the rows.
_TABLE_CONTEXT_CHARS = 300


def _table_context(table: Table) -> str:
    lines = []
    if table.title:
        lines.append(table.title)
    if table.scale:
        lines.append(f"(in {table.scale})")
    lines.extend(" ".join(row) for row in table.header_rows)
    return flatten(" ".join(lines))[:_TABLE_CONTEXT_CHARS]


def _runs(page: ParsedPage, max_chars: int) -> Iterator[list[Sentence]]:
    """Group a page's sentences: same section, same table (or prose), within the size bound."""
    run: list[Sentence] = []
    size = 0
    for sentence in page.sentences:
        if sentence.kind is SentenceKind.TABLE_HEADER:
            continue  # headers travel in every chunk of their table's embed text instead
        length = len(sentence.text)
        breaks = bool(run) and (
            sentence.section != run[-1].section
            or sentence.table_index != run[-1].table_index
            or size + length > max_chars
        )
        if breaks:
            yield run
            run, size = [], 0
        run.append(sentence)
        size += length + 1
    if run:
        yield run


def build_chunks(
    filing: str,
    metadata: FilingMetadata,
    pages: list[ParsedPage],
    sections: list[Section],
    max_chars: int,
) -> list[Chunk]:
    by_label = {section.label: section for section in sections}
    chunks: list[Chunk] = []
    for page in pages:
        for run in _runs(page, max_chars):
            ids = [sentence_id(filing, page.number, s.start, s.text) for s in run]
            text = page.text[run[0].start : run[-1].end]
            section = by_label.get(run[0].section) if run[0].section else None
            header = context_header(metadata, section)
            table_index = run[0].table_index
            if table_index is not None:
                table_context = _table_context(page.tables[table_index])
                body = "\n".join(label for s in run if (label := row_label(s.text)))
                embed_text = f"{header}\n{table_context}\n{body}"
            else:
                embed_text = f"{header}\n{flatten(text)}"
            chunks.append(
                Chunk(
                    id=chunk_id(filing, page.number, ids),
                    filing_id=filing,
                    page=page.number,
                    section=run[0].section,
                    sentence_ids=ids,
                    text=text,
                    embed_text=embed_text,
                    table_index=table_index,
                )
            )
    return chunks
