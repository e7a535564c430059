from __future__ import annotations

from pathlib import Path

import pytest

from ingest.errors import UnreadableFilingError
from ingest.pdf import PdfReader
from ingest.sections import assign_sections
from ingest.types import FormType, ParsedDocument, SentenceKind
from tests import filings


@pytest.fixture(scope="module")
def document(tmp_path_factory: pytest.TempPathFactory) -> ParsedDocument:
    path = filings.write_10k(tmp_path_factory.mktemp("pdf") / "ACME_2023_10K.pdf")
    parsed = PdfReader().read(path)
    assign_sections(parsed.pages, FormType.FORM_10K)
    return parsed


def test_pages_are_zero_indexed_and_every_span_slices_its_text(document: ParsedDocument) -> None:
    assert [page.number for page in document.pages] == list(range(7))
    for page in document.pages:
        previous_end = 0
        for sentence in page.sentences:
            assert page.text[sentence.start : sentence.end] == sentence.text
            assert sentence.start >= previous_end
            previous_end = sentence.end


def test_item_headings_label_sections_and_the_toc_does_not(document: ParsedDocument) -> None:
    toc, business, mdna, statement = document.pages[1:5]
    assert {s.section for s in toc.sentences} == {None}
    assert business.sentences[0].kind is SentenceKind.HEADING
    assert business.sentences[0].text == "Item 1. Business"
    risk = [s for s in business.sentences if "price of steel" in s.text]
    assert risk[0].section == "Item 1A"
    assert {s.section for s in mdna.sentences} == {"Item 7"}
    assert {s.section for s in statement.sentences} == {"Item 8"}


def test_financial_statement_is_kept_whole_with_headers_and_scale(
    document: ParsedDocument,
) -> None:
    statement = document.pages[4]
    (table,) = statement.tables
    assert table.scale == "millions"
    assert table.title is not None and "Consolidated Statements of Income" in table.title
    assert ["Year ended December 31,", "2023", "2022", "2021"] in table.header_rows
    assert table.rows[0] == ["Net sales", "$ 1,577", "$ 1,408", "$ 1,322"]
    assert len(table.rows) == len(filings.INCOME_STATEMENT_ROWS)
    rows = [s for s in statement.sentences if s.kind is SentenceKind.TABLE_ROW]
    # each number stays in one citable unit with its row label
    assert " ".join(rows[1].text.split()) == "Cost of sales (981) (902) (850)"
    assert all(s.table_index == 0 for s in rows)
    prose = [s for s in statement.sentences if s.kind is SentenceKind.PROSE]
    assert prose[-1].text == filings.AFTER_TABLE


def test_two_columns_are_read_column_by_column(document: ParsedDocument) -> None:
    page = document.pages[5]
    texts = [" ".join(s.text.split()) for s in page.sentences]
    left = [i for i, t in enumerate(texts) if "liquidity" in t or "Cash and cash" in t]
    right = [i for i, t in enumerate(texts) if "controls" in t or "material weakness" in t]
    assert left and right and max(left) < min(right)
    assert not any("liquidity" in t and "controls" in t for t in texts)


def test_sentences_carry_bounding_boxes_on_the_page(document: ParsedDocument) -> None:
    for page in document.pages:
        assert page.width and page.height
        for sentence in page.sentences:
            assert sentence.bbox is not None
            x0, y0, x1, y1 = sentence.bbox
            assert 0 <= x0 < x1 <= page.width and 0 <= y0 < y1 <= page.height


@pytest.mark.parametrize(
    ("writer", "reason"),
    [
        (filings.write_encrypted, "encrypted"),
        # Opens without a password, but its owner password forbids copying and extraction.
        (filings.write_owner_locked, "owner password forbids copying"),
        (filings.write_scanned, "no text layer"),
        (filings.write_corrupt, "not a readable PDF"),
    ],
)
def test_bad_pdfs_are_refused_with_the_file_and_the_fix(
    tmp_path: Path, writer: object, reason: str
) -> None:
    path = writer(tmp_path / "bad.pdf")  # type: ignore[operator]
    with pytest.raises(UnreadableFilingError, match=reason) as error:
        PdfReader().read(path)
    assert str(path) in str(error.value)


def test_an_owner_password_that_permits_extraction_is_read(tmp_path: Path) -> None:
    """Half the FinanceBench 10-Ks carry an owner password that permits everything: encrypted
    in name only, and read like any other."""
    path = filings.write_owner_locked(tmp_path / "OPEN_2023_10K.pdf", permissions=-1)
    document = PdfReader().read(path)
    assert any("Net sales" in page.text for page in document.pages)


def test_empty_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "empty.pdf"
    path.write_bytes(b"")
    with pytest.raises(UnreadableFilingError, match="empty file"):
        PdfReader().read(path)


def test_reading_twice_gives_identical_output(tmp_path: Path) -> None:
    path = filings.write_10k(tmp_path / "ACME_2023_10K.pdf")
    first, second = PdfReader().read(path), PdfReader().read(path)
    assert first.sha256 == second.sha256
    assert [p.text for p in first.pages] == [p.text for p in second.pages]
    assert [p.sentences for p in first.pages] == [p.sentences for p in second.pages]
