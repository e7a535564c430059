"""The EDGAR HTML reader: pages, sentences, whole tables and hidden inline XBRL.

Unit tests write small EDGAR-style documents of their own; the integration tests read the three
real 10-Ks in ``../shared/edgar_html`` and are skipped, with the reason, where it is absent.
"""

from __future__ import annotations

import random
import re
import time
from pathlib import Path

import pytest
from lxml import etree

from ingest.errors import UnreadableFilingError
from ingest.html import PARSER_NAME, PARSER_VERSION, SYNTHETIC_PAGE_WORDS, EdgarHtmlReader
from ingest.ids import file_sha256
from ingest.types import ParsedDocument, SentenceKind, Table

IX_NS = "http://www.xbrl.org/2013/inlineXBRL"

EDGAR_STYLE_10K = """<?xml version='1.0' encoding='ASCII'?>
<html xmlns="http://www.w3.org/1999/xhtml" xmlns:ix="http://www.xbrl.org/2013/inlineXBRL"
      xmlns:dei="http://xbrl.sec.gov/dei/2024" xmlns:us-gaap="http://fasb.org/us-gaap/2024"
      xmlns:xbrli="http://www.xbrl.org/2003/instance" xml:lang="en-US">
<head><meta http-equiv="Content-Type" content="text/html"/><title>acme-20241231</title>
<style>.never-shown { color: red; }</style><script>var neverShown = 1;</script></head>
<body>
<div style="display:none"><ix:header><ix:hidden>
<ix:nonNumeric contextRef="c-1" name="dei:AmendmentFlag" id="f-1">HIDDENFACT</ix:nonNumeric>
</ix:hidden><ix:resources><xbrli:context id="c-1"><xbrli:entity>HIDDENCONTEXT</xbrli:entity>
</xbrli:context></ix:resources></ix:header></div>
<div style="text-align:center"><span style="font-weight:700">ACME CORPORATION</span></div>
<div><span>Annual report for the fiscal year ended December&#160;31, 2024.</span></div>
<div id="page-end-1"></div><hr style="page-break-after:always"/>
<div><span style="font-weight:700">Item 7.&#160;&#160;&#160;&#160;Management&#8217;s Discussion
and Analysis of Financial Condition and Results of Operations</span></div>
<div><span>Total net sales were $</span><ix:nonFraction unitRef="usd" contextRef="c-1"
 decimals="-6" name="us-gaap:Revenues" scale="6" format="ixt:num-dot-decimal"
 id="f-2">391,035</ix:nonFraction><span>&#160;million in 2024.    The increase was driven
by higher Services net sales.</span></div>
<div style="text-align:center"><span style="font-weight:700">CONSOLIDATED STATEMENTS OF
OPERATIONS</span></div>
<div style="text-align:center"><span>(In millions, except per-share amounts)</span></div>
<div style="text-align:center"><span><br/></span></div>
<table style="border-collapse:collapse">
<tr><td style="width:60%"/><td/><td/><td/><td/></tr>
<tr><td/><td colspan="4"><span style="font-weight:700">Years ended</span></td></tr>
<tr><td/><td colspan="2"><span>December 31,<br/>2024</span></td>
<td colspan="2"><span>December 31,<br/>2023</span></td></tr>
<tr><td><span>Net sales:</span></td><td colspan="4"/></tr>
<tr><td><span>&#160;&#160;&#160;Products</span></td><td><span>$</span></td>
<td><span><ix:nonFraction unitRef="usd" contextRef="c-1" decimals="-6"
 name="us-gaap:Revenues" scale="6" id="f-3">294,866</ix:nonFraction>&#160;</span></td>
<td><span>$</span></td><td><span>298,085&#160;</span></td></tr>
<tr><td><span>Other income/(expense), net</span></td><td colspan="2"><span>(269</span></td>
<td><span>)</span></td><td><span>(565</span></td><td><span>)</span></td></tr>
<tr><td><span>Gross margin percentage</span></td><td><span>46.2</span></td><td><span>%</span></td>
<td><span>44.1</span></td><td><span>%</span></td></tr>
<tr><td/><td/><td/><td/><td/></tr>
</table>
<div style="page-break-before:always"><span>Item 8. Financial Statements and
Supplementary Data</span></div>
<table><tr><td><span>&#8226;</span></td><td><div><span>A bullet set in a layout
table.</span></div></td></tr></table>
</body></html>
"""


def assert_sentence_invariants(document: ParsedDocument) -> None:
    """Every sentence is its page's text at its offsets, in order and without overlap."""
    for page in document.pages:
        previous_end = 0
        for sentence in page.sentences:
            assert page.text[sentence.start : sentence.end] == sentence.text, (
                page.number,
                sentence,
            )
            assert sentence.start >= previous_end, (page.number, sentence)
            assert sentence.end > sentence.start
            assert sentence.bbox is None
            previous_end = sentence.end
        for table in page.tables:
            assert 0 <= table.start < table.end <= len(page.text)
            assert table.bbox is None


@pytest.fixture
def edgar_file(tmp_path: Path) -> Path:
    path = tmp_path / "acme-10-k-2024.htm"
    path.write_text(EDGAR_STYLE_10K, encoding="ascii")
    return path


@pytest.fixture
def edgar_doc(edgar_file: Path) -> ParsedDocument:
    return EdgarHtmlReader().read(edgar_file)


def _only_table(document: ParsedDocument) -> tuple[int, Table]:
    found = [(page.number, table) for page in document.pages for table in page.tables]
    assert len(found) == 1, found
    return found[0]


def test_document_identity(edgar_file: Path, edgar_doc: ParsedDocument) -> None:
    assert edgar_doc.parser == PARSER_NAME == "edgar-html"
    assert edgar_doc.parser_version == PARSER_VERSION
    assert edgar_doc.sha256 == file_sha256(edgar_file)
    assert edgar_doc.path == edgar_file
    assert edgar_doc.title == "acme-20241231"


def test_pages_split_at_css_page_breaks(edgar_doc: ParsedDocument) -> None:
    assert [page.number for page in edgar_doc.pages] == [0, 1, 2]
    cover, body, last = (page.text for page in edgar_doc.pages)
    assert cover.startswith("ACME CORPORATION\n")
    assert body.startswith("Item 7.")
    # page-break-before puts the element itself on the new page.
    assert last.startswith("Item 8. Financial Statements and Supplementary Data")
    assert_sentence_invariants(edgar_doc)


def test_hidden_header_scripts_and_styles_are_skipped(edgar_doc: ParsedDocument) -> None:
    everything = "\n".join(page.text for page in edgar_doc.pages)
    for invisible in ("HIDDENFACT", "HIDDENCONTEXT", "never-shown", "neverShown", "acme-2024"):
        assert invisible not in everything
    assert "\xa0" not in everything
    assert "  " not in everything


def test_item_heading_is_its_own_sentence(edgar_doc: ParsedDocument) -> None:
    body = edgar_doc.pages[1]
    first = body.sentences[0]
    assert first.kind is SentenceKind.HEADING
    assert first.start == 0
    assert first.text == (
        "Item 7. Management’s Discussion and Analysis of Financial Condition and Results of "
        "Operations"
    )
    assert first.section is None
    item8 = edgar_doc.pages[2].sentences[0]
    assert item8.kind is SentenceKind.HEADING
    assert item8.text.startswith("Item 8.")


def test_prose_paragraph_splits_into_sentences_with_inline_facts(
    edgar_doc: ParsedDocument,
) -> None:
    prose = [s.text for s in edgar_doc.pages[1].sentences if s.kind is SentenceKind.PROSE]
    assert prose[:2] == [
        "Total net sales were $391,035 million in 2024.",
        "The increase was driven by higher Services net sales.",
    ]
    assert "391,035" in edgar_doc.pages[1].text


def test_financial_table_is_kept_whole(edgar_doc: ParsedDocument) -> None:
    page_number, table = _only_table(edgar_doc)
    page = edgar_doc.pages[page_number]
    assert page_number == 1
    assert table.title == "CONSOLIDATED STATEMENTS OF OPERATIONS"
    assert table.scale == "millions"
    assert table.header_rows == [["Years ended"], ["December 31, 2024", "December 31, 2023"]]
    assert table.rows == [
        ["Net sales:"],
        ["Products", "$294,866", "$298,085"],
        ["Other income/(expense), net", "(269)", "(565)"],
        ["Gross margin percentage", "46.2%", "44.1%"],
    ]
    span = page.text[table.start : table.end]
    assert span.splitlines() == [
        "Years ended",
        "December 31, 2024\tDecember 31, 2023",
        "Net sales:",
        "Products\t$294,866\t$298,085",
        "Other income/(expense), net\t(269)\t(565)",
        "Gross margin percentage\t46.2%\t44.1%",
    ]
    rendered = table.render()
    assert "(in millions)" in rendered
    assert "Products | $294,866 | $298,085" in rendered


def test_table_rows_and_headers_are_sentences(edgar_doc: ParsedDocument) -> None:
    page = edgar_doc.pages[1]
    table_sentences = [s for s in page.sentences if s.table_index is not None]
    assert {s.table_index for s in table_sentences} == {0}
    kinds = [s.kind for s in table_sentences]
    assert kinds == [SentenceKind.TABLE_HEADER] * 2 + [SentenceKind.TABLE_ROW] * 4
    products = next(s for s in table_sentences if s.text.startswith("Products"))
    assert products.text == "Products\t$294,866\t$298,085"
    table = page.tables[0]
    assert all(table.start <= s.start and s.end <= table.end for s in table_sentences)
    assert all(
        s.table_index is None and s.kind in {SentenceKind.PROSE, SentenceKind.HEADING}
        for s in page.sentences
        if s not in table_sentences
    )


def test_layout_table_reads_as_prose(edgar_doc: ParsedDocument) -> None:
    last = edgar_doc.pages[2]
    assert last.tables == []
    assert "• A bullet set in a layout table." in last.text.splitlines()
    assert last.sentences[-1].text == "• A bullet set in a layout table."
    assert last.sentences[-1].kind is SentenceKind.PROSE


def test_plain_html_without_page_breaks_is_one_page(tmp_path: Path) -> None:
    # Not XHTML: named entities, unclosed <p>, upper-case tags; the HTML parser reads it.
    path = tmp_path / "plain.htm"
    path.write_text(
        "<HTML><BODY><P>First&nbsp;paragraph here.  It has two sentences.<P>PART II"
        "<TABLE><TR><TD>Revenue</TD><TD>$</TD><TD>1,234</TD></TR>"
        "<TR><TD>Costs</TD><TD>(56</TD><TD>)</TD></TR></TABLE></BODY></HTML>",
        encoding="cp1252",
    )
    document = EdgarHtmlReader().read(path)
    assert len(document.pages) == 1
    page = document.pages[0]
    assert page.text.splitlines() == [
        "First paragraph here. It has two sentences.",
        "PART II",
        "Revenue\t$1,234",
        "Costs\t(56)",
    ]
    assert [s.kind for s in page.sentences] == [
        SentenceKind.PROSE,
        SentenceKind.PROSE,
        SentenceKind.HEADING,
        SentenceKind.TABLE_ROW,
        SentenceKind.TABLE_ROW,
    ]
    assert page.tables[0].scale is None
    assert_sentence_invariants(document)


def test_malformed_xhtml_falls_back_to_html_and_windows_1252(tmp_path: Path) -> None:
    # Declared XML but not well-formed (<br>, &nbsp;) and Windows-1252 bytes (0x92 is "’"),
    # as in older EDGAR filings.
    path = tmp_path / "old.htm"
    path.write_bytes(
        b"<?xml version='1.0'?><html><body><p>It\x92s a filer&nbsp;note.<br>Second line"
        b"</p></body></html>"
    )
    document = EdgarHtmlReader().read(path)
    assert document.pages[0].text.splitlines() == ["It’s a filer note.", "Second line"]
    assert_sentence_invariants(document)


def test_long_document_without_breaks_gets_synthetic_pages(tmp_path: Path) -> None:
    paragraph = "<p>" + "The company sold many widgets this year. " * 50 + "</p>"
    paragraphs = SYNTHETIC_PAGE_WORDS * 3 // 350 + 1
    table = (
        "<table><tr><td>Widgets</td><td>1,000</td></tr>"
        "<tr><td>Gadgets</td><td>2,000</td></tr></table>"
    )
    path = tmp_path / "long.htm"
    path.write_text(f"<html><body>{paragraph * paragraphs}{table}</body></html>", encoding="utf-8")
    document = EdgarHtmlReader().read(path)
    assert len(document.pages) >= 3
    assert [page.number for page in document.pages] == list(range(len(document.pages)))
    for page in document.pages:
        assert len(page.text.split()) < SYNTHETIC_PAGE_WORDS + 400
    assert document.pages[-1].tables[0].rows == [["Widgets", "1,000"], ["Gadgets", "2,000"]]
    assert_sentence_invariants(document)


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"", "empty"),
        (b"   \n\t  ", "empty"),
        (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog >>\nendobj\n", "not HTML"),
        (bytes(range(256)) * 8, "not HTML"),
        (b"Just a plain text note, no markup at all.", "not HTML"),
        (
            b"<html><head><title>t</title><style>p{}</style></head><body>"
            b"<div style='display: none'><ix:header>facts</ix:header></div>"
            b"<script>x()</script><p>   </p></body></html>",
            "no visible text",
        ),
    ],
)
def test_bad_inputs_raise_unreadable(tmp_path: Path, content: bytes, reason: str) -> None:
    path = tmp_path / "bad.htm"
    path.write_bytes(content)
    with pytest.raises(UnreadableFilingError) as caught:
        EdgarHtmlReader().read(path)
    assert caught.value.path == path
    assert reason in caught.value.reason


def test_missing_file_raises_unreadable_from_os_error(tmp_path: Path) -> None:
    path = tmp_path / "missing.htm"
    with pytest.raises(UnreadableFilingError) as caught:
        EdgarHtmlReader().read(path)
    assert isinstance(caught.value.__cause__, OSError)
    assert "cannot be read" in caught.value.reason


# --- integration: the real filings in ../shared/edgar_html ------------------------------------

SHARED_EDGAR = Path(__file__).resolve().parents[2] / "shared" / "edgar_html"

# Per filing: the income statement's title and a row label with its fiscal-2024 figure.
REAL_FILINGS = {
    "aapl-10-k-2024-11-01.html": ("STATEMENTS OF OPERATIONS", "Total net sales", "391,035"),
    "amzn-10-k-2025-02-07.html": ("STATEMENTS OF OPERATIONS", "Total net sales", "637,959"),
    "adbe-10-k-2025-01-13.html": ("STATEMENTS OF INCOME", "Total revenue", "21,505"),
}

_parsed: dict[str, tuple[ParsedDocument, float]] = {}


def _real(name: str) -> tuple[ParsedDocument, float]:
    """The parsed filing and its parse time in seconds, parsed once per test session."""
    path = SHARED_EDGAR / name
    if not path.is_file():
        pytest.skip(
            f"real EDGAR filing {path} is absent (shared data not mounted next to the repo)"
        )
    if name not in _parsed:
        started = time.perf_counter()
        document = EdgarHtmlReader().read(path)
        _parsed[name] = (document, time.perf_counter() - started)
    return _parsed[name]


def _visible_nonfraction_values(path: Path) -> list[str]:
    """Displayed text of every ix:nonFraction outside the hidden header, read independently."""
    root = etree.parse(str(path)).getroot()
    values: list[str] = []
    for element in root.iter(f"{{{IX_NS}}}nonFraction"):
        hidden = any(
            ancestor.tag == f"{{{IX_NS}}}header"
            or "display:none" in (ancestor.get("style") or "").replace(" ", "")
            for ancestor in element.iterancestors()
        )
        text = " ".join("".join(element.itertext()).split())
        if not hidden and text:
            values.append(text)
    return values


real_names = pytest.mark.parametrize("name", sorted(REAL_FILINGS))


@pytest.mark.shared
@real_names
def test_real_filing_parses_fast_with_valid_sentences(name: str) -> None:
    document, seconds = _real(name)
    assert seconds < 10, f"{name} took {seconds:.2f}s"
    assert len(document.pages) > 40
    assert sum(len(page.tables) for page in document.pages) > 30
    assert sum(len(page.sentences) for page in document.pages) > 1000
    assert_sentence_invariants(document)
    everything = "\n".join(page.text for page in document.pages)
    assert "xbrli:" not in everything and "\xa0" not in everything


@pytest.mark.shared
@real_names
@pytest.mark.parametrize("item", ["1", "1A", "7", "8"])
def test_real_filing_item_headings_are_sentences(name: str, item: str) -> None:
    document, _ = _real(name)
    pattern = re.compile(rf"item\s+{item}\.", re.IGNORECASE)
    headings = [
        (page.number, sentence)
        for page in document.pages
        for sentence in page.sentences
        if sentence.kind is SentenceKind.HEADING and pattern.match(sentence.text)
    ]
    assert headings, f"no heading sentence for Item {item} in {name}"
    # The body heading, not the table of contents: the TOC rows are table rows, and the
    # heading sits on a page after the TOC's.
    toc_pages = [
        page.number
        for page in document.pages
        for sentence in page.sentences
        if sentence.kind is SentenceKind.TABLE_ROW and pattern.match(sentence.text)
    ]
    assert toc_pages, "the table of contents should list the Item"
    assert headings[0][0] > min(toc_pages)


@pytest.mark.shared
@pytest.mark.parametrize(("name", "expected"), sorted(REAL_FILINGS.items()))
def test_real_income_statement_table(name: str, expected: tuple[str, str, str]) -> None:
    title_part, label, figure = expected
    document, _ = _real(name)
    statements = [
        (page, table)
        for page in document.pages
        for table in page.tables
        if table.title and title_part in table.title.upper() and "COMPREHENSIVE" not in table.title
    ]
    assert len(statements) == 1, [table.title for _, table in statements]
    page, table = statements[0]
    assert table.scale == "millions"
    header_text = " ".join(cell for row in table.header_rows for cell in row)
    assert "2024" in header_text and "2023" in header_text
    row = next(row for row in table.rows if row[0] == label)
    assert figure in row
    line = "\t".join(row)
    assert line in page.text[table.start : table.end]
    index = page.tables.index(table)
    row_sentences = [s for s in page.sentences if s.table_index == index]
    assert any(s.text == line and s.kind is SentenceKind.TABLE_ROW for s in row_sentences)
    assert any(s.kind is SentenceKind.TABLE_HEADER for s in row_sentences)


@pytest.mark.shared
@real_names
def test_real_inline_xbrl_values_appear_verbatim(name: str) -> None:
    document, _ = _real(name)
    values = _visible_nonfraction_values(SHARED_EDGAR / name)
    assert len(values) >= 50
    sample = random.Random(f"verirag-{name}").sample(values, 60)
    page_texts = [page.text for page in document.pages]
    missing = [value for value in sample if not any(value in text for text in page_texts)]
    assert missing == []


def test_cells_keep_their_grid_columns_and_a_page_declares_its_unit(tmp_path: Path) -> None:
    page = """<html><body>
<p>Notes to the consolidated financial statements (All amounts expressed in thousands of U.S.
Dollars, except share data)</p>
<p>Current liabilities consisted of the following:</p>
<table>
<tr><td></td><td colspan="2">2019</td><td colspan="2">2018</td></tr>
<tr><td></td><td>Amount</td><td>%</td><td>Amount</td><td>%</td></tr>
<tr><td>Accrued expenses</td><td>1,200</td><td>60.0%</td><td>1,000</td><td>55.0%</td></tr>
<tr><td>Total</td><td>2,000</td><td>100.0%</td><td>1,818</td><td>100.0%</td></tr>
</table>
<p>Rates used in the valuation were as follows:</p>
<table><tr><td></td><td>2019</td><td>2018</td></tr>
<tr><td>Discount rate</td><td>3.1%</td><td>3.9%</td></tr></table>
</body></html>"""
    path = tmp_path / "notes.htm"
    path.write_text(page, encoding="utf-8")
    (parsed,) = EdgarHtmlReader().read(path).pages
    amounts, rates = parsed.tables
    assert amounts.header_spans == [[(1, 3), (3, 5)], [(1, 2), (2, 3), (3, 4), (4, 5)]]
    assert amounts.row_spans is not None and amounts.row_spans[0][3] == (3, 4)
    assert amounts.scale == "thousands"  # the page's running head, not a line above
    assert rates.scale is None  # a table of rates takes no unit


def _one_table_page(prose_after: str) -> str:
    return f"""<html><body>
<table><tr><td></td><td>2019</td><td>2018</td></tr>
<tr><td>Net sales</td><td>93,662</td><td>103,350</td></tr></table>
{prose_after}
</body></html>"""


@pytest.mark.parametrize(
    ("prose", "scale"),
    [
        # An excerpt's unit stated once, in parentheses, below its table.
        ("<p>Comparison of Year Ended December 31, 2019 to 2018 (in 000\u2019s)</p>", "thousands"),
        ("<p>Results for each of the periods indicated (in millions):</p>", "millions"),
        # Two different units on the page: which one the table is in is not known.
        (
            "<p>Sales (in thousands) rose.</p><p>Debt (in millions) fell.</p>",
            None,
        ),
    ],
)
def test_a_page_that_states_one_unit_in_parentheses_gives_it_to_its_unstated_table(
    tmp_path: Path, prose: str, scale: str | None
) -> None:
    path = tmp_path / "excerpt.htm"
    path.write_text(_one_table_page(prose), encoding="utf-8")
    (parsed,) = EdgarHtmlReader().read(path).pages
    (table,) = parsed.tables
    assert table.scale == scale


def test_a_header_cell_in_a_currency_unit_is_the_tables_scale(tmp_path: Path) -> None:
    path = tmp_path / "ifrs.htm"
    path.write_text(
        """<html><body><table>
<tr><td></td><td>2019 $'000</td><td>2018 $'000</td></tr>
<tr><td>Revenue</td><td>12,400</td><td>11,900</td></tr></table></body></html>""",
        encoding="utf-8",
    )
    (parsed,) = EdgarHtmlReader().read(path).pages
    assert parsed.tables[0].scale == "thousands"


@pytest.mark.parametrize(
    ("prose", "scale"),
    [
        # 45,007 restated as "$45.0 million": the table is in thousands.
        ("<p>Cash provided by operations was $45.0 million in fiscal 2019.</p>", "thousands"),
        # 1,887.8 restated as "$1.9 billion" has too few digits to say anything.
        ("<p>Net income was $1.9 billion.</p>", None),
        # Two restatements that disagree: no unit.
        (
            "<p>Cash provided was $45.0 million; net income was $24,193 million.</p>",
            None,
        ),
    ],
)
def test_a_table_without_a_unit_takes_the_one_its_prose_restates_a_figure_in(
    tmp_path: Path, prose: str, scale: str | None
) -> None:
    path = tmp_path / "restated.htm"
    path.write_text(
        f"""<html><body>{prose}
<table><tr><td></td><td>2019</td><td>2018</td></tr>
<tr><td>Net income</td><td>$24,193</td><td>$20,402</td></tr>
<tr><td>Cash provided by operating activities</td><td>45,007</td><td>45,082</td></tr></table>
</body></html>""",
        encoding="utf-8",
    )
    (parsed,) = EdgarHtmlReader().read(path).pages
    assert parsed.tables[0].scale == scale
