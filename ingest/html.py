"""Reader for EDGAR inline-XBRL HTML filings: visible text, pages, sentences and whole tables.

EDGAR documents have no page numbers, so pages are cut where the filing asks the printer to
break (``page-break-before/after`` or ``break-before/after`` in a style attribute). A filing
without any page break is cut into synthetic pages of about ``SYNTHETIC_PAGE_WORDS`` words, at
block boundaries, so that one page never holds a whole 10-K.

Each block-level element becomes one line of page text. A table with at least one row
holding a figure becomes a ``Table``, written as one line per row (cells joined by a tab);
a table without figures, or whose long prose cells rival its rows of figures, is layout
(bullet lists, cover-page check boxes, Item headings set in a grid, footnotes, biographies)
and is read as prose, one line per row where no cell holds two paragraphs.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Final

from lxml import etree

from ingest.errors import UnreadableFilingError
from ingest.layout import (
    apply_filing_scale,
    apply_page_scale,
    apply_restated_scale,
    stated_unit,
)
from ingest.sentences import split_sentences
from ingest.types import ParsedDocument, ParsedPage, Sentence, SentenceKind, Table

PARSER_NAME: Final = "edgar-html"
# 3: tables keep the grid columns of every cell; 4: a page's declared unit for its tables
PARSER_VERSION: Final = "5"

# Synthetic page size for filings without page breaks: a printed 10-K page holds 500-800
# words, so this is a handful of printed pages — small enough for a citation's page to be a
# useful locator, large enough that a section is not shredded.
SYNTHETIC_PAGE_WORDS: Final = 4000

_XHTML_NS: Final = "http://www.w3.org/1999/xhtml"
_IX_NS: Final = "http://www.xbrl.org/2013/inlineXBRL"

# Never rendered: the inline XBRL header holds the hidden facts and contexts, the rest is
# metadata or code.
_SKIP_TAGS: Final = frozenset(
    {"head", "title", "script", "style", "noscript", "template", "meta", "link", "ix:header"}
)
_BLOCK_TAGS: Final = frozenset(
    {
        "address", "article", "aside", "blockquote", "body", "caption", "center", "dd", "div",
        "dl", "dt", "fieldset", "figcaption", "figure", "footer", "form", "h1", "h2", "h3",
        "h4", "h5", "h6", "header", "hr", "html", "li", "main", "nav", "ol", "p", "pre",
        "section", "table", "tbody", "tfoot", "thead", "tr", "ul",
    }
)  # fmt: skip
_CELL_TAGS: Final = frozenset({"td", "th"})
_BOLD_TAGS: Final = frozenset({"b", "strong", "th", "h1", "h2", "h3", "h4", "h5", "h6"})
_BREAK_VALUES: Final = frozenset({"always", "page", "left", "right", "recto", "verso"})

# A line that is only a list marker is the first cell of a bullet list laid out as a table
# (or a marker span in its own div); it reads as part of the line after it.
_BULLETS: Final = frozenset({"•", "●", "◦", "▪", "■", "□", "·", "–", "—", "-", "*", "o"})

# A list marker set apart by CSS padding alone, which the text runs into: "•brand",
# "(1)All financial statements". The space keeps the marker a word of its own.
_GLUED_MARKER = re.compile(r"^(?:[•●◦▪■□·](?=\S)|\([0-9a-zA-Z]{1,3}\)(?=[A-Za-z]))")

# Workiva and most EDGAR converters put the currency sign, the closing parenthesis of a
# negative and the percent sign in cells of their own so that the digits line up.
_CURRENCY_CELLS: Final = frozenset({"$", "US$", "€", "£", "¥", "$(", "("})
_SUFFIX_CELL = re.compile(r"[)%]+|\)?\s?%|pts?|bps|x")
_AMOUNT = re.compile(
    r"[(\-−–]?\s?(?:US)?[$€£¥]?\s?[(\-−–]?\s?(?:\d[\d,]*(?:\.\d+)?|\.\d+)\s?[)%]*"
    r"(?:\s?(?:years?|months?|days?|x|bps|pts?))?"
)
_DASHES: Final = frozenset({"—", "–", "-", "$—", "$–", "$-"})  # nil amounts
# Neither a year nor an identifier: EDGAR writes amounts of 10,000 and up with separators, so
# a bare run of five or more digits is a zip code, file number or CIK.
_NOT_FIGURE = re.compile(r"(?:19|20)\d\d|\d{5,}")

# A cell this long is prose. A grid where such cells are common next to the rows holding
# figures (footnotes "(1) | The Company ...", officer biographies beside their ages) reads
# better as text; a financial table with one long footnote row stays a table.
_PROSE_CELL_CHARS: Final = 200

_SCALE_WORDS = r"(thousands|millions|billions)"
_SCALE_ANYWHERE = re.compile(rf"\bin\s+{_SCALE_WORDS}\b", re.IGNORECASE)
_SCALE_IN_PARENS = re.compile(rf"\([^()]*\bin\s+{_SCALE_WORDS}\b[^()]*\)", re.IGNORECASE)
_SHORT_CAPTION_CHARS: Final = 250
# The navigation link some filers repeat at the top of every page; never a table's title.
_RUNNING_HEADS: Final = frozenset({"table of contents", "back to contents", "return to index"})
_CONTEXT_LINES: Final = 3  # lines above a table searched for its scale and title

_ITEM_HEADING = re.compile(
    r"(?:item\s*\d{1,2}[a-z]?\s*[.:\-–—]|part\s+[ivx]+\b\s*(?:[.:\-–—,]|$))", re.IGNORECASE
)
_MAX_ITEM_HEADING_CHARS: Final = 200
_MAX_HEADING_CHARS: Final = 150
_MAX_PLAIN_HEADING_WORDS: Final = 10
_SENTENCE_END: Final = frozenset(".!?;:,")

_XML_HINT = re.compile(rb"^(?:\xef\xbb\xbf)?\s*(?:<\?xml|<html[^>]*xmlns=)", re.IGNORECASE)
# PDF, zip/Office, OLE and image signatures: the usual wrong downloads saved as ".htm".
_BINARY_MAGIC: Final = (
    b"%PDF",
    b"PK\x03\x04",
    b"\xd0\xcf\x11\xe0",
    b"\x89PNG",
    b"GIF8",
    b"\xff\xd8",
)
_HTML_HINT = re.compile(
    rb"<(?:!doctype\s+html|html|body|div|p|table|span|font|br|td)\b", re.IGNORECASE
)

# lxml ships without type information; elements are handled as opaque objects.
_Element = Any


@dataclass(frozen=True, slots=True)
class _Style:
    hidden: bool = False
    break_before: bool = False
    break_after: bool = False
    bold: bool | None = None  # None: inherited from the parent


_PLAIN_STYLE: Final = _Style()


@lru_cache(maxsize=8192)
def _parse_style(style: str) -> _Style:
    # Workiva repeats a few hundred distinct style strings tens of thousands of times, so
    # the cache turns CSS parsing into a dictionary lookup.
    hidden = break_before = break_after = False
    bold: bool | None = None
    for declaration in style.lower().split(";"):
        prop, _, raw_value = declaration.partition(":")
        prop = prop.strip()
        value = raw_value.replace("!important", "").strip()
        if (prop == "display" and value == "none") or (
            prop == "visibility" and value in {"hidden", "collapse"}
        ):
            hidden = True
        elif prop in {"page-break-before", "break-before"} and value in _BREAK_VALUES:
            break_before = True
        elif prop in {"page-break-after", "break-after"} and value in _BREAK_VALUES:
            break_after = True
        elif prop == "font-weight":
            bold = value in {"bold", "bolder"} or (value.isdigit() and int(value) >= 600)
    return _Style(hidden, break_before, break_after, bold)


def _style_of(element: _Element) -> _Style:
    style = element.get("style")
    return _parse_style(style) if style else _PLAIN_STYLE


_TAG_NAMES: dict[str, str] = {}


def _tag_name(tag: object) -> str | None:
    """The element's HTML name ("div"), or "ix:<name>" for inline XBRL; None for non-elements.

    The XML parser yields "{namespace}local" tags and the HTML parser "prefix:local" ones;
    both are mapped to the same names so the rest of the reader sees one vocabulary.
    """
    if not isinstance(tag, str):
        return None
    name = _TAG_NAMES.get(tag)
    if name is None:
        if tag.startswith("{"):
            namespace, _, local = tag[1:].partition("}")
            if namespace == _XHTML_NS:
                name = local.lower()
            elif namespace == _IX_NS:
                name = "ix:" + local.lower()
            else:
                name = tag
        else:
            name = tag.lower()
        _TAG_NAMES[tag] = name
    return name


def _collapse(text: str) -> str:
    # str.split() without arguments splits on every Unicode space, so non-breaking spaces
    # (EDGAR's favourite padding) become ordinary spaces here too.
    return " ".join(text.split())


@dataclass(slots=True)
class _Text:
    text: str
    bold: bool  # every visible character of the line is bold


@dataclass(slots=True)
class _Cell:
    column: int  # grid column the cell starts in (colspans counted)
    text: str
    span: int = 1  # grid columns it covers

    @property
    def columns(self) -> tuple[int, int]:
        return (self.column, self.column + self.span)


@dataclass(slots=True)
class _Grid:
    """A data table as read from the HTML: non-empty rows of merged, non-empty cells."""

    rows: list[list[_Cell]]


class _PageBreak:
    pass


_BREAK: Final = _PageBreak()
_Block = _Text | _Grid | _PageBreak


def _cell_text(cell: _Element) -> str:
    parts: list[str] = []
    walker = etree.iterwalk(cell, events=("start", "end"))
    for event, node in walker:
        if event == "start":
            tag = _tag_name(node.tag)
            if node is not cell and (tag is None or tag in _SKIP_TAGS or _style_of(node).hidden):
                walker.skip_subtree()
                continue
            if tag == "br" or tag in _BLOCK_TAGS:
                parts.append(" ")
            if node.text:
                parts.append(node.text)
        else:
            if node is cell:
                break
            if _tag_name(node.tag) in _BLOCK_TAGS:
                parts.append(" ")
            if node.tail:
                parts.append(node.tail)
    return _collapse("".join(parts))


def _merge_cells(cells: list[_Cell]) -> list[_Cell]:
    merged: list[_Cell] = []
    prefix: _Cell | None = None
    for cell in cells:
        if cell.text in _CURRENCY_CELLS:
            prefix = cell if prefix is None else _joined(prefix, cell)
            continue
        if prefix is not None:
            cell = _joined(prefix, cell)
            prefix = None
        elif (
            merged
            and _SUFFIX_CELL.fullmatch(cell.text)
            and (_is_amount(merged[-1].text) or merged[-1].text in _DASHES)
        ):
            merged[-1] = _joined(merged[-1], cell)
            continue
        merged.append(cell)
    if prefix is not None:
        merged.append(prefix)
    return merged


def _joined(first: _Cell, second: _Cell) -> _Cell:
    """One cell of two adjacent ones ("$" and "1,452"), covering both."""
    end = max(first.column + first.span, second.column + second.span)
    return _Cell(first.column, first.text + second.text, end - first.column)


def _is_amount(text: str) -> bool:
    return _AMOUNT.fullmatch(text) is not None


def _is_figure(text: str) -> bool:
    """A reported number; a bare year is a column header, not a figure."""
    return _is_amount(text) and _NOT_FIGURE.fullmatch(text) is None


def _child_elements(element: _Element, names: frozenset[str]) -> list[_Element]:
    return [child for child in element if _tag_name(child.tag) in names]


def _read_grid(table: _Element) -> _Grid | None:
    """The table's rows if it holds data, None if it is layout to be read as prose."""
    row_elements: list[_Element] = []
    for child in table:
        name = _tag_name(child.tag)
        if name == "tr":
            row_elements.append(child)
        elif name in {"thead", "tbody", "tfoot"} and not _style_of(child).hidden:
            row_elements.extend(_child_elements(child, frozenset({"tr"})))
    rows: list[list[_Cell]] = []
    figure_rows = 0
    prose_cells = 0
    for row in row_elements:
        if _style_of(row).hidden:
            continue
        cells: list[_Cell] = []
        column = 0
        for cell in _child_elements(row, _CELL_TAGS):
            if _style_of(cell).hidden:
                continue
            text = _cell_text(cell)
            span = _colspan(cell)
            if text:
                cells.append(_Cell(column, text, span))
            column += span
        merged = _merge_cells(cells)
        if merged:
            rows.append(merged)
            figure_rows += any(_is_figure(cell.text) for cell in merged)
            prose_cells += sum(len(cell.text) > _PROSE_CELL_CHARS for cell in merged)
    if figure_rows == 0 or 2 * prose_cells >= figure_rows:
        return None
    return _Grid(rows)


def _colspan(cell: _Element) -> int:
    try:
        return max(1, int(cell.get("colspan", "1")))
    except ValueError:
        return 1


def _is_one_line_row(row: _Element) -> bool:
    """Whether a layout-table row reads as one line: no cell holds two paragraphs.

    "Item 10." | "<div>Directors, ...</div>" and "•" | "<div>bullet text</div>" are one line
    each; a cell wrapping several paragraphs (some filers put whole sections in a one-cell
    table) keeps its paragraphs as lines.
    """
    for cell in _child_elements(row, _CELL_TAGS):
        paragraphs = 0
        for element in cell.iterdescendants():
            name = _tag_name(element.tag)
            if name == "table":
                return False
            if name == "br" or (name in _BLOCK_TAGS and _is_innermost_block(element)):
                paragraphs += 1
            if paragraphs > 1:
                return False
    return True


def _is_innermost_block(element: _Element) -> bool:
    return not any(_tag_name(inner.tag) in _BLOCK_TAGS for inner in element.iterdescendants())


@dataclass(slots=True)
class _Frame:
    kind: int
    bold: bool
    break_after: bool
    pre: bool
    flat: bool  # inside a layout-table row read as one line: blocks are word breaks


_INLINE, _BLOCK, _SPACED, _SKIPPED = range(4)


class _BlockWalker:
    """Turns the element tree into a flat stream of lines, data tables and page breaks."""

    def __init__(self) -> None:
        self.blocks: list[_Block] = []
        self._parts: list[str] = []
        self._has_plain = False  # a visible non-bold character is in the pending line
        self._bullet: str | None = None

    def walk(self, root: _Element) -> list[_Block]:
        frames: list[_Frame] = [_Frame(_BLOCK, False, False, False, False)]
        # iterwalk instead of recursion: old filings nest unclosed <font> tags hundreds deep.
        walker = etree.iterwalk(root, events=("start", "end"))
        for event, element in walker:
            if event == "end":
                frame = frames.pop()
                if frame.kind == _BLOCK:
                    self._flush()
                elif frame.kind == _SPACED:
                    self._add(" ", frame.bold, pre=False)
                if frame.break_after:
                    self._page_break()
                if element.tail:
                    parent = frames[-1]
                    self._add(element.tail, parent.bold, parent.pre)
                continue
            parent = frames[-1]
            tag = _tag_name(element.tag)
            style = _style_of(element)
            if tag is None or tag in _SKIP_TAGS or style.hidden:
                walker.skip_subtree()
                frames.append(_Frame(_SKIPPED, parent.bold, False, parent.pre, parent.flat))
                continue
            if style.break_before:
                self._page_break()
            bold = style.bold if style.bold is not None else (tag in _BOLD_TAGS or parent.bold)
            pre = parent.pre or tag == "pre"
            kind = _INLINE
            flat = parent.flat
            if flat and (tag in _BLOCK_TAGS or tag in _CELL_TAGS or tag == "br"):
                self._add(" ", bold, pre=False)
                kind = _SPACED
            elif tag == "table":
                self._flush()
                grid = _read_grid(element)
                if grid is not None:
                    self.blocks.append(grid)
                    walker.skip_subtree()
                    kind = _SKIPPED
                else:
                    kind = _BLOCK
            elif tag == "br":
                self._flush()
            elif tag in _BLOCK_TAGS:
                self._flush()
                kind = _BLOCK
                # Only layout tables reach here (data tables were skipped above).
                flat = tag == "tr" and _is_one_line_row(element)
            elif tag in _CELL_TAGS:
                self._add(" ", bold, pre=False)
                kind = _SPACED
            frames.append(_Frame(kind, bold, style.break_after, pre, flat))
            if element.text and kind != _SKIPPED:
                self._add(element.text, bold, pre)
        self._flush()
        if self._bullet is not None:
            self.blocks.append(_Text(self._bullet, False))
        return self.blocks

    def _add(self, text: str, bold: bool, pre: bool) -> None:
        if pre and "\n" in text:
            *lines, text = text.split("\n")
            for line in lines:
                self._add(line, bold, pre=False)
                self._flush()
        self._parts.append(text)
        if not bold and text and not text.isspace():
            self._has_plain = True

    def _flush(self) -> None:
        if not self._parts:
            return
        text = _collapse("".join(self._parts))
        bold = not self._has_plain
        self._parts.clear()
        self._has_plain = False
        if not text:
            return
        if text in _BULLETS:
            self._bullet = text
            return
        if self._bullet is not None:
            text = f"{self._bullet} {text}"
            self._bullet = None
        text = _GLUED_MARKER.sub(r"\g<0> ", text, count=1)
        self.blocks.append(_Text(text, bold))

    def _page_break(self) -> None:
        self._flush()
        if self._bullet is not None:
            self.blocks.append(_Text(self._bullet, False))
            self._bullet = None
        self.blocks.append(_BREAK)


def _is_heading(text: str, bold: bool) -> bool:
    if _ITEM_HEADING.match(text):
        return len(text) <= _MAX_ITEM_HEADING_CHARS
    if len(text) > _MAX_HEADING_CHARS or text[-1] in _SENTENCE_END:
        return False
    if not any(char.isalpha() for char in text):
        return False
    if bold:
        return True
    return text[0].isupper() and text.count(" ") < _MAX_PLAIN_HEADING_WORDS


def _is_parenthetical(text: str) -> bool:
    return text.startswith("(") and text.endswith(")")


def _find_scale(header_rows: list[list[str]], above: list[str]) -> str | None:
    for row in header_rows:
        for cell in row:
            if unit := stated_unit(cell):
                return unit
    for line in reversed(above):
        pattern = _SCALE_ANYWHERE if len(line) <= _SHORT_CAPTION_CHARS else _SCALE_IN_PARENS
        match = pattern.search(line)
        if match:
            return match.group(1).lower()
    return None


def _find_title(above: list[_Text]) -> str | None:
    for block in reversed(above):
        text = block.text
        # Skip the "(In millions, except per share amounts)" caption and the "... as
        # follows (in millions):" lead-in that sit between a table and its heading.
        if _is_parenthetical(text) or text.endswith(":"):
            continue
        return text if _is_heading(text, block.bold) else None
    return None


def _split_header(grid: _Grid) -> int:
    """How many leading rows are column headers: the rows above the first row with a figure.

    A row holding nothing but a label in the first column ends the headers too when a header
    was already seen or it ends with a colon ("Net sales:", "ASSETS"), while a leading
    "Year Ended December 31," or "(in millions)" in that position is still a header.
    """
    for index, row in enumerate(grid.rows):
        if any(_is_figure(cell.text) for cell in row):
            return index
        if len(row) == 1 and row[0].column == 0:
            text = row[0].text
            if not _is_parenthetical(text) and (index > 0 or text.endswith(":")):
                return index
    return len(grid.rows)


class _PageBuilder:
    def __init__(self, number: int) -> None:
        self.number = number
        self._lines: list[str] = []
        self._offset = 0
        self._sentences: list[Sentence] = []
        self._tables: list[Table] = []
        self._above: list[_Text] = []  # lines since the last table, for titles and scales
        # "The following tables show ... (in millions):" announces the scale once for a run
        # of tables separated only by their headings; it holds until prose intervenes.
        self._running_scale: str | None = None

    def _append_line(self, text: str) -> int:
        start = self._offset
        self._lines.append(text)
        self._offset += len(text) + 1
        return start

    def add_text(self, block: _Text) -> None:
        start = self._append_line(block.text)
        if _is_heading(block.text, block.bold):
            self._sentences.append(
                Sentence(start, start + len(block.text), block.text, SentenceKind.HEADING)
            )
        else:
            self._running_scale = None
            for begin, end in split_sentences(block.text):
                self._sentences.append(
                    Sentence(start + begin, start + end, block.text[begin:end], SentenceKind.PROSE)
                )
        if start > 0 or block.text.lower() not in _RUNNING_HEADS:
            self._above.append(block)
            del self._above[:-_CONTEXT_LINES]

    def add_table(self, grid: _Grid) -> None:
        header_count = _split_header(grid)
        has_labels = any(row[0].column == 0 for row in grid.rows[header_count:])
        header_rows = [[cell.text for cell in row] for row in grid.rows[:header_count]]
        header_spans = [[cell.columns for cell in row] for row in grid.rows[:header_count]]
        body_rows: list[list[str]] = []
        row_spans: list[list[tuple[int, int]]] = []
        table_index = len(self._tables)
        table_start = self._offset
        table_end = self._offset
        for index, row in enumerate(grid.rows):
            line = "\t".join(cell.text for cell in row)
            start = self._append_line(line)
            end = start + len(line)
            table_end = end
            is_header = index < header_count
            kind = SentenceKind.TABLE_HEADER if is_header else SentenceKind.TABLE_ROW
            self._sentences.append(Sentence(start, end, line, kind, table_index=table_index))
            if not is_header:
                cells = [cell.text for cell in row]
                spans = [cell.columns for cell in row]
                # Keep the label column aligned: a total row with no label gets an empty one.
                if has_labels and row[0].column != 0:
                    cells.insert(0, "")
                    spans.insert(0, (0, row[0].column))
                body_rows.append(cells)
                row_spans.append(spans)
        scale = _find_scale(header_rows, [block.text for block in self._above])
        if scale is None:
            scale = self._running_scale
        else:
            self._running_scale = scale
        self._tables.append(
            Table(
                title=_find_title(self._above),
                header_rows=header_rows,
                rows=body_rows,
                scale=scale,
                start=table_start,
                end=table_end,
                header_spans=header_spans,
                row_spans=row_spans,
            )
        )
        self._above.clear()

    def build(self) -> ParsedPage | None:
        if not self._lines:
            return None
        return ParsedPage(
            number=self.number,
            text="\n".join(self._lines),
            sentences=self._sentences,
            tables=self._tables,
        )


def _block_words(block: _Block) -> int:
    if isinstance(block, _Text):
        return block.text.count(" ") + 1
    if isinstance(block, _Grid):
        return sum(cell.text.count(" ") + 1 for row in block.rows for cell in row)
    return 0


def _paginate(blocks: list[_Block]) -> list[list[_Block]]:
    pages: list[list[_Block]] = [[]]
    if any(block is _BREAK for block in blocks):
        for block in blocks:
            if block is _BREAK:
                pages.append([])
            else:
                pages[-1].append(block)
    else:
        words = 0
        for block in blocks:
            if words >= SYNTHETIC_PAGE_WORDS:
                pages.append([])
                words = 0
            pages[-1].append(block)
            words += _block_words(block)
    return [page for page in pages if page]


def _build_pages(blocks: list[_Block]) -> list[ParsedPage]:
    pages: list[ParsedPage] = []
    for page_blocks in _paginate(blocks):
        builder = _PageBuilder(len(pages))
        for block in page_blocks:
            if isinstance(block, _Text):
                builder.add_text(block)
            elif isinstance(block, _Grid):
                builder.add_table(block)
        page = builder.build()
        if page is not None:
            pages.append(page)
    return pages


def _decode(data: bytes) -> str:
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        # EDGAR predates UTF-8 everywhere: old filings are Windows-1252 (curly quotes at 0x92).
        return data.decode("cp1252", errors="replace")


def _parse(path: Path, data: bytes) -> _Element:
    if not data.strip():
        raise UnreadableFilingError(
            path, "the file is empty; download the filing's primary document again from EDGAR"
        )
    if (
        data.lstrip().startswith(_BINARY_MAGIC)
        or b"\x00" in data[:4096]
        or _HTML_HINT.search(data) is None
    ):
        raise UnreadableFilingError(
            path,
            "the file is not HTML (no HTML tags found); pass the filing's primary .htm "
            "document, or use the PDF reader for PDFs",
        )
    root = None
    if _XML_HINT.match(data):
        # Inline XBRL is XHTML: the XML parser reads it exactly (self-closing tags, namespaces)
        # where the HTML parser would guess. Entities stay unresolved and nothing is fetched.
        parser = etree.XMLParser(
            resolve_entities=False,
            no_network=True,
            huge_tree=True,
            remove_comments=True,
            remove_pis=True,
        )
        try:
            root = etree.fromstring(data, parser)
        except etree.XMLSyntaxError:
            root = None  # not well-formed after all (e.g. &nbsp;): read it as HTML instead
    if root is None:
        parser = etree.HTMLParser(
            encoding="utf-8", remove_comments=True, remove_pis=True, huge_tree=True
        )
        try:
            root = etree.fromstring(_decode(data).encode("utf-8"), parser)
        except (etree.LxmlError, ValueError) as exc:
            raise UnreadableFilingError(
                path, f"the HTML cannot be parsed ({exc}); download the filing again from EDGAR"
            ) from exc
    if root is None:
        raise UnreadableFilingError(
            path, "the HTML parser found no document; download the filing again from EDGAR"
        )
    return root


def _document_title(root: _Element) -> str | None:
    for element in root.iter():
        if _tag_name(element.tag) == "title":
            title = _collapse("".join(element.itertext()))
            return title or None
        if _tag_name(element.tag) == "body":
            return None
    return None


class EdgarHtmlReader:
    """Reads one EDGAR HTML filing (inline XBRL or plain HTML) into pages of sentences."""

    name = PARSER_NAME

    @property
    def version(self) -> str:
        return PARSER_VERSION

    def read(self, path: Path) -> ParsedDocument:
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise UnreadableFilingError(
                path, f"the file cannot be read ({exc.strerror}); check the path and permissions"
            ) from exc
        root = _parse(path, data)
        pages = _build_pages(_BlockWalker().walk(root))
        apply_page_scale(pages)
        apply_filing_scale(pages)
        apply_restated_scale(pages)
        if not pages:
            raise UnreadableFilingError(
                path,
                "the HTML has no visible text (only hidden inline XBRL, scripts or styles); "
                "pass the filing's primary document rather than an XBRL instance or exhibit index",
            )
        return ParsedDocument(
            path=path,
            # The digest of the bytes actually parsed; equal to ids.file_sha256(path).
            sha256=hashlib.sha256(data).hexdigest(),
            pages=pages,
            parser=PARSER_NAME,
            parser_version=PARSER_VERSION,
            title=_document_title(root),
        )
