"""Stored tables as grids of cells: every figure with its row-label path, its column-header
path, its periods, its scale and sign, and where it is printed (the row's sentence id and the
character span of the cell in that sentence), so a plan can cite it and a reviewer find it.

Which grid column a figure sits in and the header path above it are ``ingest.grid``'s (the
verifier reads the same columns). A row that holds a label and
no figure opens a group ("Current assets:"): the rows under it carry its label in their path
until a total closes the group or another such label opens the next.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

from engine.text import content_stems, vocabulary, words
from ingest.grid import body_spans as grid_body_spans
from ingest.grid import column_paths as grid_column_paths
from ingest.grid import figure_columns as grid_figure_columns
from ingest.layout import stated_unit
from ingest.store import StoredTable
from verifier.numbers import normalise_text, periods, quantities

# A row or column whose label says its figures are percentages: "Gross margin (%)".
_PERCENT_LABEL = re.compile(r"%|\bper\s?cent(?:age)?\b", re.IGNORECASE)
_DASH_CELL = re.compile(r"^[\s$€£]*[-\u2010-\u2015\u2212]+\s*$")


@dataclass(frozen=True, slots=True)
class Cell:
    """One body cell of a table that prints a figure (or a dash)."""

    table_id: str
    row: int
    column: int  # grid column
    row_path: tuple[str, ...]  # group labels, then the row's own label
    column_path: tuple[str, ...]  # header cells above it, top to bottom
    text: str  # as printed
    value: float | None  # signed, as printed (no scale applied); None for a dash
    percent: bool
    scale: str | None  # the table's scale; None on percentage and per-share cells
    sentence_id: str
    start: int  # span of the cell's text in the row sentence
    end: int
    row_text: str = ""  # the row sentence as stored (tab-separated cells)
    group_sentence_id: str | None = None  # the row that prints the group label, if any
    group_text: str = ""

    @property
    def years(self) -> tuple[int, ...]:
        return column_years(self.column_path)


# "2 0 1 8": a year printed letter-spaced (a PDF's tracking, kept by the excerpt).
_SPACED_YEAR = re.compile(r"\b((?:19|20)\d)\s(\d)\b|\b(\d)\s(\d)\s(\d)\s(\d)\b")


def column_years(path: tuple[str, ...]) -> tuple[int, ...]:
    """The years a column-header path names, in order ("FY19", "December 31, 2019",
    "2 0 1 8")."""
    found: list[int] = []
    for part in path:
        joined = _SPACED_YEAR.sub(lambda m: "".join(g for g in m.groups() if g), part)
        found.extend(p.year for p in periods(joined) if p.year is not None)
    return tuple(found)


@dataclass(slots=True)
class CellGrid:
    table: StoredTable
    row_paths: list[tuple[str, ...]]
    column_paths: dict[int, tuple[str, ...]]  # grid column → header path
    cells: list[Cell] = field(default_factory=list)
    _at: dict[tuple[int, int], Cell] = field(default_factory=dict, repr=False)
    _row_stem_idf: dict[str, float] | None = field(default=None, repr=False)

    def add(self, cell: Cell) -> None:
        self.cells.append(cell)
        self._at[(cell.row, cell.column)] = cell

    @property
    def figure_columns(self) -> list[int]:
        return sorted(self.column_paths)

    def row_cells(self, row: int) -> list[Cell]:
        return [cell for column in self.figure_columns if (cell := self._at.get((row, column)))]

    def column_cells(self, column: int) -> list[Cell]:
        return [cell for row in range(len(self.row_paths)) if (cell := self._at.get((row, column)))]

    def cell(self, row: int, column: int) -> Cell | None:
        return self._at.get((row, column))

    def row_stem_idf(self) -> dict[str, float]:
        """How rare each stem is among the table's row paths (log(1 + rows / rows with it)):
        a stem printed on many rows tells rows apart less than a rare one. Read once."""
        if self._row_stem_idf is None:
            rows_with: dict[str, int] = {}
            for path in self.row_paths:
                for stem in set(content_stems(" ".join(path))):
                    rows_with[stem] = rows_with.get(stem, 0) + 1
            count = max(len(self.row_paths), 1)
            self._row_stem_idf = {s: math.log(1 + count / n) for s, n in rows_with.items()}
        return self._row_stem_idf


def cell_value(text: str) -> tuple[float | None, bool] | None:
    """The signed figure a cell prints and whether it is a percentage; (None, False) for a
    dash (nothing to report); None when the cell is not a figure (a label, a note)."""
    cleaned = normalise_text(text)
    if _DASH_CELL.match(cleaned):
        return (None, False)
    found = quantities(cleaned)
    if len(found) != 1:
        return None
    figure = found[0]
    rest = cleaned.replace(figure.text, "", 1)
    if re.search(r"[A-Za-z]{2,}", rest):
        return None  # "Note 4", "3 years": words around a number are not a figure
    bare = cleaned.replace("$", "").replace("€", "").replace("£", "").replace(" ", "")
    negative = (bare.startswith("(") and bare.rstrip("%").endswith(")")) or bare.startswith("-")
    value = -figure.number if negative else figure.number
    return (value, figure.percent)


def is_total(label: str) -> bool:
    """Whether a row label names a total ("Total current assets", "Totals"): it closes the
    group above it and is no item of it."""
    stems = content_stems(label)
    return bool(stems) and stems[0] == "total"


def _unscaled(label: str) -> bool:
    """Whether a label names a rate or a price ("per share", "selling price"), not a total.
    "per cent" is a percentage (``_PERCENT_LABEL``), read before this."""
    found = words(label)
    unscaled = vocabulary()["cells"]["unscaled_words"]
    return any(
        word in unscaled and not (word == "per" and following in {"cent", "centage"})
        for word, following in zip(found, [*found[1:], ""], strict=False)
    )


def cell_scale(
    row_path: tuple[str, ...], column_path: tuple[str, ...], table: str | None
) -> str | None:
    """A figure's scale, the nearest statement first: the unit its row states ("Revenue (in
    thousands)"), none for a row that is a rate or a price ("Earnings per share"), then the
    same of its column ("Appropriation (in thousand NT dollars)", "Dividend per share"),
    then the table's."""
    for labels in (" ".join(row_path), " ".join(column_path)):
        if stated := stated_unit(labels):
            return answer_scale(stated)
        if _unscaled(labels):
            return None
    return table


def answer_scale(unit: str | None) -> str | None:
    """A unit as ingest stores it ("thousands") named as an answer names it ("thousand")."""
    return unit[:-1] if unit and unit.endswith("s") else unit


def _locate(sentence: str, texts: list[str]) -> list[tuple[int, int]]:
    """Character spans of the row's cells in its stored sentence, left to right."""
    spans = []
    offset = 0
    for text in texts:
        if not text:
            spans.append((offset, offset))
            continue
        found = sentence.find(text, offset)
        if found < 0:
            spans.append((-1, -1))
            continue
        spans.append((found, found + len(text)))
        offset = found + len(text)
    return spans


def read_grid(table: StoredTable, sentences: dict[str, str]) -> CellGrid:
    """The table's cell grid; ``sentences`` maps the table's row sentence ids to their text."""
    body_spans = grid_body_spans(table)
    parsed = [[cell_value(text) for text in row] for row in table.rows]
    figures = {
        text
        for row, values in zip(table.rows, parsed, strict=True)
        for text, value in zip(row, values, strict=True)
        if value is not None
    }
    column_paths = grid_column_paths(
        table, grid_figure_columns(table, figures.__contains__, body_spans)
    )
    scale = answer_scale(table.scale)
    row_paths: list[tuple[str, ...]] = []
    group: str | None = None
    group_sentence: str | None = None
    grid = CellGrid(table=table, row_paths=row_paths, column_paths=column_paths)
    for index, (row, spans, values) in enumerate(zip(table.rows, body_spans, parsed, strict=True)):
        label = row[0] if row and spans and spans[0][0] == 0 and values[0] is None else ""
        has_figures = any(value is not None for value in values[1:]) or (
            not label and any(value is not None for value in values)
        )
        if label and not has_figures:
            group = label.rstrip(":").strip()
            row_paths.append((group,))
            group_sentence = (
                table.row_sentence_ids[index] if index < len(table.row_sentence_ids) else None
            )
            continue
        path = (group, label) if group and label else (label,)
        row_paths.append(tuple(part for part in path if part))
        if index >= len(table.row_sentence_ids):
            continue
        sentence_id = table.row_sentence_ids[index]
        sentence = sentences.get(sentence_id, "")
        located = _locate(sentence, [text for text in row if text])
        cell_spans = iter(located)
        for text, span, value in zip(row, spans, values, strict=False):
            start, end = next(cell_spans) if text else (-1, -1)
            if value is None or span[0] == 0 or span[0] not in column_paths or start < 0:
                continue
            number, percent = value
            percent = percent or bool(
                _PERCENT_LABEL.search(label)
                or _PERCENT_LABEL.search(" ".join(column_paths[span[0]]))
            )
            grid.add(
                Cell(
                    table_id=table.id,
                    row=index,
                    column=span[0],
                    row_path=row_paths[-1],
                    column_path=column_paths[span[0]],
                    text=text,
                    value=number,
                    percent=percent,
                    scale=None
                    if percent
                    else cell_scale(row_paths[-1], column_paths[span[0]], scale),
                    sentence_id=sentence_id,
                    start=start,
                    end=end,
                    row_text=sentence,
                    group_sentence_id=group_sentence if group else None,
                    group_text=sentences.get(group_sentence or "", "") if group else "",
                )
            )
        if group and is_total(label):
            group = None
            group_sentence = None
    return grid
