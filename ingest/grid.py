"""Tables as grids: which grid columns a stored table's figures sit in, and the column-header
path above each of them, for every reader of tables (the answer engine's cell grids, the
verifier's period checks).

Header rows are laid over the body by the grid columns the reader recorded (HTML colspans);
a header cell on an upper row heads the columns up to the next header cell on its row (a
period over its "Amount" and "%" columns), and an upper row with one cell heads them all.
Tables stored without columns (PDF text lines) have their header rows aligned to the
rightmost figure columns.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol

from ingest.types import ColumnSpan


class GridTable(Protocol):
    """What a grid is read from: ``ingest.types.Table`` and ``ingest.store.StoredTable``."""

    @property
    def header_rows(self) -> list[list[str]]: ...

    @property
    def rows(self) -> list[list[str]]: ...

    @property
    def header_spans(self) -> list[list[ColumnSpan]] | None: ...

    @property
    def row_spans(self) -> list[list[ColumnSpan]] | None: ...


def body_spans(table: GridTable) -> list[list[ColumnSpan]]:
    if table.row_spans is not None and len(table.row_spans) == len(table.rows):
        return table.row_spans
    # Without recorded columns: the label in column 0, figures right-aligned to the widest row.
    width = max((len(row) for row in table.rows), default=0)
    spans = []
    for row in table.rows:
        offset = width - len(row)
        spans.append([(0, 1)] + [(offset + i, offset + i + 1) for i in range(1, len(row))])
    return spans


def _header_spans(table: GridTable, figure_columns: list[int]) -> list[list[ColumnSpan]]:
    if table.header_spans is not None and len(table.header_spans) == len(table.header_rows):
        return table.header_spans
    spans = []
    for row in table.header_rows:
        count = len(row)
        columns = figure_columns
        if count == len(columns) + 1:
            spans.append([(0, 1)] + [(c, c + 1) for c in columns])
        elif count and len(columns) % count == 0 and count < len(columns):
            width = len(columns) // count
            spans.append(
                [(columns[i * width], columns[i * width + width - 1] + 1) for i in range(count)]
            )
        else:
            tail = columns[-count:] if count <= len(columns) else columns
            lead = count - len(tail)
            spans.append([(0, 1)] * lead + [(c, c + 1) for c in tail])
    return spans


def column_paths(table: GridTable, figure_columns: list[int]) -> dict[int, tuple[str, ...]]:
    paths: dict[int, list[str]] = {column: [] for column in figure_columns}
    header_spans = _header_spans(table, figure_columns)
    last = len(table.header_rows) - 1
    for index, (row, spans) in enumerate(zip(table.header_rows, header_spans, strict=True)):
        placed = sorted(
            ((span, text) for span, text in zip(spans, row, strict=False) if span[0] > 0),
            key=lambda item: item[0],
        )
        for position, ((first, end), text) in enumerate(placed):
            if index < last and len(placed) == 1:
                first, end = 0, max(figure_columns, default=0) + 1  # a caption over them all
            elif index < last and end - first == 1:
                # An upper header cell heads its group: up to the next cell on its row.
                following = placed[position + 1][0][0] if position + 1 < len(placed) else None
                end = following if following is not None else max(figure_columns, default=0) + 1
            for column in figure_columns:
                if first <= column < end:
                    paths[column].append(text)
    return {column: tuple(path) for column, path in paths.items()}


def figure_columns(
    table: GridTable, is_figure: Callable[[str], bool], spans: Sequence[Sequence[ColumnSpan]]
) -> list[int]:
    """Grid columns (after the label column) where some body row prints a figure."""
    return sorted(
        {
            row_spans[i][0]
            for row, row_spans in zip(table.rows, spans, strict=True)
            for i in range(1, min(len(row), len(row_spans)))
            if row_spans[i][0] > 0 and is_figure(row[i])
        }
    )


def row_cell_columns(
    table: GridTable, is_figure: Callable[[str], bool]
) -> list[list[tuple[str, tuple[str, ...]]]]:
    """Per body row, its figure cells with the column-header path above each."""
    spans = body_spans(table)
    columns = figure_columns(table, is_figure, spans)
    paths = column_paths(table, columns)
    return [
        [
            (text, paths[span[0]])
            for text, span in zip(row, row_spans, strict=False)
            if span[0] in paths and is_figure(text)
        ]
        for row, row_spans in zip(table.rows, spans, strict=True)
    ]
