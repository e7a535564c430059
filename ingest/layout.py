"""Layout analysis shared by the PDF reader: lines → visual rows → tables kept whole.

Financial statements in PDFs are laid out as rows of a label followed by number columns; a
plain text dump keeps those pieces on separate lines, so a sentence splitter would shred them.
Here consecutive lines on one baseline are grouped into a row, runs of numeric rows become a
``Table`` with the header rows (fiscal years, "(in millions)") found just above, and each row
becomes one citable unit.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace

from ingest.types import BBox, ParsedPage, Table

_NUMBER = re.compile(
    r"""^[\$€£¥]?\s*\(?\s*[\$€£¥]?\s*[-−+]?\s*
        (\d{1,3}(,\d{3})+|\d+)(\.\d+)?\s*\)?\s*%?\s*\)?\s*(pts?\.?|bps|x)?$""",
    re.VERBOSE | re.IGNORECASE,
)
_NIL = re.compile(r"^[\$]?\s*[—–\-−]+\s*%?$|^(n/?m|n/?a|nm|\*)$", re.IGNORECASE)
_CURRENCY_OR_PAREN = re.compile(r"^[\$€£¥%)(]+$")
_YEAR = re.compile(r"^(FY\s?)?(19|20)\d{2}$", re.IGNORECASE)
_SCALE = re.compile(
    r"\b(?:in|dollars in|amounts in|\$ in|US\$ in|expressed in)?\s*"
    r"\(?\s*(thousands|millions|billions)\b",
    re.IGNORECASE,
)
_BARE_SCALE = re.compile(r"^\(?\s*(thousands|millions|billions)\b", re.IGNORECASE)
_MONTH_DAY = re.compile(
    r"^(?:january|february|march|april|may|june|july|august|september|october|november|"
    r"december)\s+\d{1,2},?$",
    re.IGNORECASE,
)
_PERIOD_HEADER = re.compile(
    r"(year|years|months|weeks|quarter|quarters|fiscal|ended|ending|as of|at\s+\w+\s+\d|"
    r"december|january|february|march|april|may|june|july|august|september|october|november|"
    r"change|%|percent|total)",
    re.IGNORECASE,
)

# A row whose text runs longer than this is prose wrapped across the page, not a table row.
_MAX_TABLE_LABEL_CHARS = 160
# How many rows above a table are searched for its column headers, scale and title.
_HEADER_LOOKBACK_ROWS = 5
# How far above a table's headers a unit declaration is still the table's own: "(in millions)"
# above a column header that wraps over several lines, or closing the lead-in sentence
# ("... were as follows (in thousands):").
_SCALE_LOOKBACK_ROWS = 10
# Stricter than _SCALE: so far from the numbers, only a stated unit counts, never "millions"
# somewhere in a sentence.
_DECLARED_SCALE_IN_PARENS = re.compile(
    r"\((?:[^()]*[;,]\s*)?(?:\$|us\$|dollars|dollar amounts|amounts)?\s*in\s+"
    r"(thousands|millions|billions)\b[^()]*\)",
    re.IGNORECASE,
)
_DECLARED_SCALE_LINE = re.compile(
    r"^\(?\s*(?:\$|us\$|dollars|amounts)?\s*(?:in\s+)?(thousands|millions|billions)"
    r"(?:\s+of\s+(?:u\.s\.\s+)?dollars)?\s*\)?\s*[:.]?$",
    re.IGNORECASE,
)
# "Unless otherwise noted, tabular dollars are presented in millions": one declaration in the
# notes that holds for every money table of the filing that states no unit of its own.
_TABULAR_SCALE = re.compile(
    r"\btabular\s+(?:dollars|dollar\s+amounts|amounts)\s+(?:are\s+)?"
    r"(?:presented\s+|stated\s+|shown\s+|expressed\s+|reported\s+)?in\s+"
    r"(thousands|millions|billions)\b",
    re.IGNORECASE,
)


@dataclass(slots=True)
class Line:
    """One text line as laid out on the page, with its span in the page text."""

    text: str
    bbox: BBox
    block: int
    start: int = 0
    end: int = 0


@dataclass(slots=True)
class Row:
    lines: list[Line] = field(default_factory=list)

    @property
    def cells(self) -> list[str]:
        return _merge_split_cells([line.text.strip() for line in self.lines if line.text.strip()])

    @property
    def start(self) -> int:
        return self.lines[0].start

    @property
    def end(self) -> int:
        return self.lines[-1].end

    @property
    def bbox(self) -> BBox:
        return union_bbox(line.bbox for line in self.lines)


@dataclass(slots=True)
class TableRegion:
    """Rows [first_header, first_data … last) of ``rows`` form one table."""

    header_rows: list[Row]
    data_rows: list[Row]
    title: str | None
    scale: str | None


def union_bbox(boxes: object) -> BBox:
    x0 = y0 = float("inf")
    x1 = y1 = float("-inf")
    for bx0, by0, bx1, by1 in boxes:  # type: ignore[attr-defined]
        x0, y0, x1, y1 = min(x0, bx0), min(y0, by0), max(x1, bx1), max(y1, by1)
    return (x0, y0, x1, y1)


def is_numeric_cell(text: str) -> bool:
    text = text.strip()
    return bool(text) and (bool(_NUMBER.match(text)) or bool(_NIL.match(text)))


def _merge_split_cells(cells: list[str]) -> list[str]:
    """Join a lone "$" with the number after it and a lone ")" or "%" with the one before. A
    "$" that PyMuPDF ends a cell with ("3,991  $") opens the next column's figure."""
    merged: list[str] = []
    pending_prefix = ""
    for cell in cells:
        if cell in {"$", "€", "£", "(", "$(", "($"}:
            pending_prefix += cell
            continue
        if cell in {")", "%", ")%", "%)"} and merged:
            merged[-1] += cell
            continue
        carried = _TRAILING_CURRENCY.match(cell)
        if carried:
            cell = carried.group("cell")
        merged.append(f"{pending_prefix} {cell}".strip() if pending_prefix else cell)
        pending_prefix = carried.group("currency") if carried else ""
    if pending_prefix:
        merged.append(pending_prefix)
    return merged


# A figure, then the next column's currency sign on the same line: "3,991  $", "(660) $".
_TRAILING_CURRENCY = re.compile(r"^(?P<cell>.*?[\d)%—–-])\s+(?P<currency>[\$€£])$")


def _same_row(row: Row, line: Line) -> bool:
    last = row.lines[-1]
    _, ly0, _, ly1 = last.bbox
    lx0, y0, _, y1 = line.bbox
    overlap = min(ly1, y1) - max(ly0, y0)
    height = max(min(ly1 - ly0, y1 - y0), 1e-6)
    # PyMuPDF emits a statement row as consecutive lines left to right on one baseline.
    return overlap / height > 0.5 and lx0 >= last.bbox[0]


def group_rows(lines: list[Line]) -> list[Row]:
    rows: list[Row] = []
    for line in lines:
        if rows and _same_row(rows[-1], line):
            rows[-1].lines.append(line)
        else:
            rows.append(Row([line]))
    return rows


def _is_column_header_piece(cells: list[str]) -> bool:
    """One cell of a wrapped column header on a row of its own: a year, or a date's month and
    day ("December 2,")."""
    return len(cells) == 1 and bool(_YEAR.match(cells[0]) or _MONTH_DAY.match(cells[0]))


def _on_one_line(first: BBox, second: BBox) -> bool:
    overlap = min(first[3], second[3]) - max(first[1], second[1])
    height = max(min(first[3] - first[1], second[3] - second[1]), 1e-6)
    return overlap / height > 0.5


def header_cells(rows: list[Row]) -> list[list[str]]:
    """A table's column headers as rows of cells, read line by line across the page, left to
    right: a wrapped header that PyMuPDF emits column by column ("December 2," "2016"
    "November 27," "2015") reads "December 2, | November 27," then "2016 | 2015"."""
    bands: list[list[Line]] = []
    for line in sorted(
        (line for row in rows for line in row.lines if line.text.strip()),
        key=lambda line: (line.bbox[1], line.bbox[0]),
    ):
        band = next(
            (b for b in bands if _on_one_line(union_bbox(x.bbox for x in b), line.bbox)), None
        )
        if band is None:
            bands.append([line])
        else:
            band.append(line)
    return [
        _merge_split_cells([line.text.strip() for line in sorted(band, key=lambda x: x.bbox[0])])
        for band in bands
    ]


def _is_data_row(cells: list[str]) -> bool:
    if not cells:
        return False
    numeric = [is_numeric_cell(cell) for cell in cells]
    if sum(numeric) == 0:
        return False
    label_chars = sum(len(cell) for cell, is_num in zip(cells, numeric, strict=True) if not is_num)
    if label_chars > _MAX_TABLE_LABEL_CHARS:
        return False
    if numeric[0]:
        # A row of numbers alone (a continuation or a totals line) counts when it has columns.
        return sum(numeric) >= 2
    # label followed by values; a lone trailing number after a long label is a footnote mark
    return all(numeric[1:]) or sum(numeric) >= 2


def _is_header_row(cells: list[str]) -> bool:
    if not cells or sum(len(cell) for cell in cells) > _MAX_TABLE_LABEL_CHARS:
        return False
    if any(_SCALE.search(cell) for cell in cells):
        return True
    years = sum(bool(_YEAR.match(cell)) for cell in cells)
    if years >= 2 or (years == 1 and len(cells) <= 3):
        return True
    return (
        len(cells) >= 2
        and all(_PERIOD_HEADER.search(cell) or len(cell) <= 24 for cell in cells)
        and not any(cell.endswith(".") and len(cell) > 40 for cell in cells)
    )


def _is_label_row(cells: list[str]) -> bool:
    """A caption line inside a statement ("Current assets"), not a prose sentence. One that
    introduces the rows below it may run long: "Adjustments to reconcile consolidated net
    income to net cash provided by operating activities:"."""
    if len(cells) != 1:
        return False
    caption = cells[0].rstrip()
    if _LEAD_IN.search(caption):
        return False  # "… is as follows:" opens the next table
    limit = _MAX_TABLE_LABEL_CHARS if caption.endswith(":") else 90
    return len(caption) <= limit and not caption.endswith(".")


_LEAD_IN = re.compile(r"\b(?:as follows|the following|following table)\b", re.IGNORECASE)


def _is_years_only_row(cells: list[str]) -> bool:
    """ "At December 31, 2022 2021": a column-header row, although its cells look numeric."""
    values = [cell for cell in cells if is_numeric_cell(cell)]
    return bool(values) and all(_YEAR.match(cell) for cell in values)


def find_table_regions(rows: list[Row], min_data_rows: int = 3) -> list[tuple[int, int, int]]:
    """(header_start, data_start, end) row-index triples of the tables among ``rows``.

    Rows [header_start, data_start) are column headers; [data_start, end) are the body,
    including caption rows such as "Current assets" that sit between headers and numbers.
    """
    regions: list[tuple[int, int, int]] = []
    index = 0
    taken_until = 0
    while index < len(rows):
        if not _is_body_row(rows[index].cells):
            index += 1
            continue
        end = index
        data_count = 0
        gap = 0
        cursor = index
        while cursor < len(rows):
            cells = rows[cursor].cells
            if _is_body_row(cells):
                data_count += 1
                gap = 0
                end = cursor + 1
            elif (_is_label_row(cells) or _is_header_row(cells)) and gap < 2:
                gap += 1
            else:
                break
            cursor += 1
        if data_count < min_data_rows:
            index = max(end, index + 1)
            continue
        # Walk up through caption and header rows; the topmost header row starts the table.
        # A wrapped column header can come out column by column ("December 2," "2016"
        # "November 27," "2015"), one row per cell: such pieces do not use up the lookback.
        header_start = data_start = index
        cursor = index - 1
        looked = 0
        while cursor >= taken_until:
            cells = rows[cursor].cells
            if not _is_column_header_piece(cells):
                looked += 1
            if looked > _HEADER_LOOKBACK_ROWS:
                break
            if _is_header_row(cells) or _is_years_only_row(cells) or _is_column_header_piece(cells):
                if header_start == index:
                    data_start = cursor + 1  # the lowest header row ends the headers
                header_start = cursor
            elif not _is_label_row(cells):
                break
            cursor -= 1
        regions.append((header_start, data_start, end))
        taken_until = end
        index = end
    return regions


def _is_body_row(cells: list[str]) -> bool:
    return _is_data_row(cells) and not _is_years_only_row(cells)


# How a column header or a row label states its unit: "(in thousands)", "$'000", "000's",
# "RMB'Million", "US$ million", "€m", "£bn". Currency-bound forms only: a bare "m" is not a unit.
_STATED_SCALE = re.compile(r"\bin\s+(thousands?|millions?|billions?)\b", re.IGNORECASE)
_APOSTROPHE_UNIT = re.compile(
    r"(?:^|[\s(])(?:[a-z]{0,3}\$|[€£¥]|rmb|eur|usd|gbp|aud|cad|hkd)?\s?'\s?"
    r"(000|thousand|million|billion)s?\b",
    re.IGNORECASE,
)
_THOUSANDS_MARK = re.compile(r"(?:^|[\s($])000'?s\b", re.IGNORECASE)
_CURRENCY_UNIT = re.compile(
    r"(?:[a-z]{0,3}\$|[€£¥]|\brmb|\beur|\busd|\bgbp|\baud|\bcad|\bhkd)\s?"
    r"(000|m|mn|bn|thousands?|millions?|billions?)(?![\w])",
    re.IGNORECASE,
)
_UNIT_NAMES = {
    "000": "thousands",
    "thousand": "thousands",
    "thousands": "thousands",
    "m": "millions",
    "mn": "millions",
    "million": "millions",
    "millions": "millions",
    "bn": "billions",
    "billion": "billions",
    "billions": "billions",
}


def stated_unit(text: str) -> str | None:
    """The unit a header cell or a row label states for its figures ("thousands",
    "millions", "billions"), or None."""
    plain = text.replace("\u2019", "'").replace("\u2018", "'")
    for pattern in (_STATED_SCALE, _APOSTROPHE_UNIT, _CURRENCY_UNIT):
        match = pattern.search(plain)
        if match:
            return _UNIT_NAMES[match.group(1).lower()]
    return "thousands" if _THOUSANDS_MARK.search(plain) else None


def table_scale(texts: list[str]) -> str | None:
    for text in texts:
        match = _SCALE.search(text) if "in" in text.lower() else _BARE_SCALE.search(text)
        if match is None:
            match = _BARE_SCALE.search(text.strip())
        if match:
            return match.group(1).lower()
    return None


def declared_scale(rows: list[Row], first: int, stop: int) -> str | None:
    """The unit a line in ``rows[first:stop]`` declares for the table below it, nearest first.

    The search ends at a row of figures: a unit above that belongs to something else.
    """
    for row in reversed(rows[first:stop]):
        cells = row.cells
        if _is_data_row(cells) and not _is_years_only_row(cells):
            return None
        text = " ".join(cells)
        match = _DECLARED_SCALE_IN_PARENS.search(text) or _DECLARED_SCALE_LINE.match(text.strip())
        if match:
            return match.group(1).lower()
    return None


def scale_above(rows: list[Row], header_start: int, data_start: int, floor: int) -> str | None:
    """A table's unit: in its header rows or the few rows above them, else a declaration
    further up (never above ``floor``, the end of the table before it on the page)."""
    near = max(floor, header_start - 3)
    scale = table_scale([" ".join(row.cells) for row in rows[near:data_start]])
    if scale is None:
        scale = declared_scale(rows, max(floor, header_start - _SCALE_LOOKBACK_ROWS), near)
    return scale


def filing_tabular_scale(page_texts: Iterable[str]) -> str | None:
    """The unit a filing declares once for all its tables, if it does."""
    for text in page_texts:
        match = _TABULAR_SCALE.search(" ".join(text.split()))
        if match:
            return match.group(1).lower()
    return None


def _states_money(table: Table) -> bool:
    """Whether a table's figures are amounts of money (a "$" in its cells), not counts or rates:
    only those take a filing-wide unit."""
    return any("$" in cell for row in table.rows for cell in row)


# A page that says once what all its amounts are in, as statement and note pages do in their
# running head: "(All amounts expressed in thousands of U.S. Dollars, except share data)",
# "(United States Dollars in thousands, except per share data)", or "(In thousands)" alone
# on its line.
_PAGE_SCALE_IN_PARENS = re.compile(
    r"\((?:all\s+)?(?:amounts|figures|[\w.\s]{0,30}?dollars|\$|us\$)"
    r"(?:\s+(?:are\s+)?(?:expressed|presented|stated|shown|reported))?\s+in\s+"
    r"(thousands|millions|billions)\b[^()]*\)",
    re.IGNORECASE,
)


_PARENTHESES = re.compile(r"\(([^()]{1,80})\)")


def page_declared_scale(page: ParsedPage) -> str | None:
    """The unit a page declares for all its amounts: a line of it that says so, or, when
    every unit the page states in parentheses ("... as follows (in thousands):", "(in 000's)")
    is the same one, that unit."""
    parenthesised: set[str] = set()
    for line in page.text.splitlines():
        match = _PAGE_SCALE_IN_PARENS.search(line) or _DECLARED_SCALE_LINE.match(line.strip())
        if match:
            return match.group(1).lower()
        for inner in _PARENTHESES.findall(line):
            if unit := stated_unit(inner):
                parenthesised.add(unit)
    return parenthesised.pop() if len(parenthesised) == 1 else None


def _all_rates(table: Table) -> bool:
    cells = [cell for row in table.rows for cell in row[1:] if cell.strip()]
    return bool(cells) and all(cell.strip().endswith("%") for cell in cells)


def apply_page_scale(pages: list[ParsedPage]) -> None:
    """Give a page's declared unit to its tables that state none (not to tables of rates)."""
    for page in pages:
        if not any(table.scale is None for table in page.tables):
            continue
        scale = page_declared_scale(page)
        if scale is None:
            continue
        page.tables = [
            replace(table, scale=scale) if table.scale is None and not _all_rates(table) else table
            for table in page.tables
        ]


# "net cash provided by operations was $45.0 million": an amount the prose states with its unit.
_PROSE_AMOUNT = re.compile(
    r"(?<![\d.,])(\d{1,3}(?:,\d{3})*(?:\.\d+)?|\d+(?:\.\d+)?)\s?(million|billion)\b",
    re.IGNORECASE,
)
_CELL_AMOUNT = re.compile(r"^[\s$€£(−-]*(\d{1,3}(?:,\d{3})+|\d+)(\.\d+)?[\s)]*$")
# The table units a prose unit implies, by how many places the table's figure is shifted.
_SHIFTED_UNITS = {
    "million": ((1e3, "thousands"), (1.0, "millions")),
    "billion": (
        (1e6, "thousands"),
        (1e3, "millions"),
        (1.0, "billions"),
    ),
}
_MIN_RESTATED_DIGITS = 3  # "45.0 million" for 45,007: enough digits that a match is no chance


def _prose_amounts(text: str) -> list[tuple[float, int, str]]:
    """The amounts a page's text states with a unit word, as (number, decimals, word), those
    with enough digits to restate a table figure."""
    stated = []
    for match in _PROSE_AMOUNT.finditer(text):
        digits = match.group(1).replace(",", "")
        if len(digits.replace(".", "").lstrip("0")) < _MIN_RESTATED_DIGITS:
            continue
        decimals = len(digits.split(".")[1]) if "." in digits else 0
        stated.append((float(digits), decimals, match.group(2).lower()))
    return stated


def restated_scale(stated: Sequence[tuple[float, int, str]], table: Table) -> str | None:
    """The unit of a table that states none, read from its page's prose amounts (``stated``,
    from ``_prose_amounts``) where one restates a table figure with its unit ("$45.0 million"
    for a cell of 45,007 is a table in thousands). Every restatement found must agree."""
    if not stated:
        return None
    units: set[str] = set()
    for row in table.rows:
        for cell in row[1:]:
            found = _CELL_AMOUNT.match(cell.strip())
            if not found:
                continue
            value = float(found.group(1).replace(",", "") + (found.group(2) or ""))
            if value < 100:
                continue
            for number, decimals, word in stated:
                for divisor, unit in _SHIFTED_UNITS[word]:
                    if round(value / divisor, decimals) == number:
                        units.add(unit)
    return units.pop() if len(units) == 1 else None


def apply_restated_scale(pages: list[ParsedPage]) -> None:
    """Give a table that states no unit the one its page's prose implies by restating one of
    its figures with a unit (HTML excerpts whose unit line was lost)."""
    for page in pages:
        if not any(table.scale is None for table in page.tables):
            continue
        stated = _prose_amounts(page.text)
        page.tables = [
            replace(table, scale=restated_scale(stated, table))
            if table.scale is None and not _all_rates(table)
            else table
            for table in page.tables
        ]


def apply_filing_scale(pages: list[ParsedPage]) -> str | None:
    """Give the filing's declared tabular unit to its money tables that state none; returns
    the unit (None when the filing declares none)."""
    scale = filing_tabular_scale(page.text for page in pages)
    if scale is None:
        return None
    for page in pages:
        page.tables = [
            replace(table, scale=scale) if table.scale is None and _states_money(table) else table
            for table in page.tables
        ]
    return scale


def table_title(rows: list[Row], header_start: int) -> str | None:
    """The short caption lines just above the headers, top to bottom, up to three: a statement
    is often titled by its name, its company and its period, one line each ("Consolidated
    Statement of Cash Flows — Acme, Inc. and Subsidiaries — Fiscal years ended …"), and the
    name is what says which statement a row is on."""
    captions: list[str] = []
    for candidate in reversed(rows[max(0, header_start - _TITLE_LINES) : header_start]):
        cells = candidate.cells
        if len(cells) != 1 or not 3 <= len(cells[0]) <= 120 or is_numeric_cell(cells[0]):
            break
        captions.insert(0, cells[0])
    return " — ".join(captions) or None


_TITLE_LINES = 3
