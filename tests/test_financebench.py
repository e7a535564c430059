"""Ingest on real filings from ../shared/financebench (skipped, with the reason, without it)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from ingest.pdf import PdfReader, parse_page
from ingest.sections import assign_sections
from ingest.types import FormType, SentenceKind
from tests.test_ingest_cli import info, ingest_json, page, verirag

pytestmark = pytest.mark.shared

# The annotators used another extractor, so their evidence text is compared in 40-character
# pieces with whitespace removed (as in ../shared/financebench/README.md).
PIECE = 40
PIECE_SHARE = 0.8
ITEM_SHARE = 0.9


def _piece_share(evidence: str, page_text: str) -> float:
    wanted = re.sub(r"\s+", "", evidence)
    haystack = re.sub(r"\s+", "", page_text)
    pieces = [wanted[i : i + PIECE] for i in range(0, max(len(wanted) - PIECE + 1, 1), PIECE)]
    return sum(piece in haystack for piece in pieces) / len(pieces)


def _questions(shared: Path) -> list[dict[str, Any]]:
    lines = (shared / "financebench" / "questions_dev.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def test_evidence_pages_hold_the_annotated_evidence(shared: Path) -> None:
    import pymupdf

    pdfs = shared / "financebench" / "pdfs"
    shares = []
    for question in _questions(shared):
        for evidence in question["evidence"]:
            with pymupdf.open(pdfs / f"{evidence['doc_name']}.pdf") as document:
                number = evidence["evidence_page_num"]
                parsed = parse_page(document[number], number)
            for sentence in parsed.sentences:
                assert parsed.text[sentence.start : sentence.end] == sentence.text
            shares.append(_piece_share(evidence["evidence_text"], parsed.text))
    held = sum(share >= PIECE_SHARE for share in shares)
    assert len(shares) == 84
    assert held / len(shares) >= ITEM_SHARE, f"{held}/{len(shares)} evidence items found"


def test_a_real_10k_has_its_items_and_whole_statements(shared: Path) -> None:
    document = PdfReader().read(shared / "financebench" / "pdfs" / "3M_2018_10K.pdf")
    sections = {s.label: s for s in assign_sections(document.pages, FormType.FORM_10K)}
    assert {"Item 1", "Item 1A", "Item 7", "Item 7A", "Item 8", "Item 9A"} <= set(sections)
    # the table of contents (page 2) does not open sections; the body does, in order
    first_pages = [
        sections[label].first_page for label in ("Item 1", "Item 1A", "Item 7", "Item 8")
    ]
    assert first_pages == sorted(first_pages) and first_pages[0] > 2
    for parsed in document.pages:
        for sentence in parsed.sentences:
            assert parsed.text[sentence.start : sentence.end] == sentence.text
    cash_flow = document.pages[59]  # Consolidated Statement of Cash Flows
    capex = [
        (table, row)
        for table in cash_flow.tables
        for row in table.rows
        if row and row[0].startswith("Purchases of property, plant and equipment")
    ]
    assert capex, [t.title for t in cash_flow.tables]
    table, row = capex[0]
    assert "(1,577)" in " ".join(row)
    assert table.scale == "millions"
    assert any("2018" in cell for header in table.header_rows for cell in header)
    units = [s for s in cash_flow.sentences if "Purchases of property, plant" in s.text]
    assert units[0].kind is SentenceKind.TABLE_ROW and "1,577" in units[0].text
    assert units[0].section == "Item 8"


def test_real_filings_ingest_end_to_end(shared: Path, tmp_path: Path) -> None:
    pdfs = shared / "financebench" / "pdfs"
    data = tmp_path / "index"
    code, report = ingest_json(
        pdfs / "PEPSICO_2023_8K_dated-2023-05-05.pdf",
        pdfs / "ULTABEAUTY_2023Q4_EARNINGS.pdf",
        "--data-dir",
        data,
        "--metadata",
        shared / "financebench" / "documents.jsonl",
    )
    assert code == 0, report
    stats = info(data)
    assert stats["filings"] == 2 and stats["pages"] == 14
    listing = verirag("index", "info", "--data-dir", data).stdout
    assert "8-K FY2023" in listing and "earnings release FY2023" in listing
    pepsi = page(data, "PEPSICO_2023_8K_dated-2023-05-05", 3)
    assert any(s["section"] == "Item 5.07" for s in pepsi["sentences"])
    hits = json.loads(
        verirag(
            "search",
            "Ulta Beauty stock repurchases in fiscal 2023",
            "--data-dir",
            data,
            "--json",
            "--top-k",
            "5",
        ).stdout
    )
    assert "ULTABEAUTY_2023Q4_EARNINGS" in {hit["filing"] for hit in hits}
    code, again = ingest_json(pdfs / "ULTABEAUTY_2023Q4_EARNINGS.pdf", "--data-dir", data)
    assert code == 0 and [r["outcome"] for r in again["results"]] == ["unchanged"]
