"""Page kinds are labelled once, at ingest, from the whole filing, and stored with it."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from ingest.page_kinds import PageKind, PageLabel, PageText, label_pages
from ingest.types import FormType
from tests import filings

ITEMS = "\n".join(
    f"Item {item}. {title} {page}"
    for item, title, page in [
        ("1", "Business", 3),
        ("1A", "Risk Factors", 5),
        ("2", "Properties", 9),
        ("7", "Management's Discussion and Analysis", 12),
        ("8", "Financial Statements and Supplementary Data", 20),
        ("9", "Changes in and Disagreements with Accountants", 40),
        ("15", "Exhibits", 41),
    ]
)


def _ten_k() -> list[PageText]:
    """A 10-K a reader would page through: cover, contents, risk factors, MD&A (one page of
    it titled with the segments), the statements (a segment's income statement data beside
    the group's), three pages of notes (a numbered list inside one), Item 9, signatures and
    the exhibits."""
    pages = [
        ("UNITED STATES\nSECURITIES AND EXCHANGE COMMISSION\nFORM 10-K\nDuo Corporation", None),
        (f"Table of Contents\n{ITEMS}", None),
        ("Risk Factors\nOur results depend on demand for instruments.", "Item 1A"),
        ("Overview\nRevenue grew 12% on instrument demand.", "Item 7"),
        ("Segment results\nBoth segments grew.\nInstruments 1,204 1,101", "Item 7"),
        ("Consolidated Statements of Income\n(in millions)\nNet sales 2,077 1,900", "Item 8"),
        ("Instruments Selected Income Statement Data\nNet sales 1,204 1,101", "Item 8"),
        ("Consolidated Balance Sheets\n(in millions)\nTotal assets 9,120 8,800", "Item 8"),
        (
            "Notes to Consolidated Financial Statements\nNote 1. Significant Accounting Policies\n"
            "Revenue is recognised when control passes.",
            "Item 8",
        ),
        (
            "Leases are measured at the present value of payments:\n1. Operating leases\n"
            "2. Finance leases\nNote 2. Debt\nThe Company's notes mature in 2030.",
            "Item 8",
        ),
        ("The revolving facility is undrawn.\n3. Income Taxes\nThe rate was 21%.", "Item 8"),
        ("Item 9. Changes in and Disagreements with Accountants\nNone.", "Item 9"),
        ("SIGNATURES\nPursuant to the requirements of the Act, the registrant …", "Item 15"),
        ("\n".join(filings.CERTIFICATION), "Item 15"),
        ("\n".join(filings.SUBSIDIARIES), "Item 15"),
        ("\n".join(filings.CONSENT), "Item 15"),
    ]
    return [
        PageText(number, text, (section,) * 3 if section else ())
        for number, (text, section) in enumerate(pages)
    ]


def _kinds(labels: list[PageLabel]) -> dict[int, set[tuple[str, str]]]:
    found: dict[int, set[tuple[str, str]]] = {}
    for label in labels:
        found.setdefault(label.page, set()).add((label.kind.value, label.detail))
    return found


def test_a_ten_k_is_labelled_page_by_page() -> None:
    kinds = _kinds(label_pages(_ten_k(), FormType.FORM_10K))
    assert kinds[0] == {("cover", "")}
    assert kinds[1] == {("contents", "")}
    assert kinds[2] == {("risk factors", "")}
    assert kinds[3] == {("md&a", "")}
    assert kinds[4] == {("md&a", ""), ("breakdown", "segments")}
    assert kinds[5] == {("statement", "income statement")}
    # The group prints its consolidated income statement: a segment's table is not it.
    assert 6 not in kinds
    assert kinds[7] == {("statement", "balance sheet")}
    assert kinds[8] == {("notes", "Note 1 — Significant Accounting Policies")}
    # A page carries on its last note and holds every note whose heading it prints; in a
    # filing that heads its notes "Note 2", a numbered list ("2. Finance leases", "3. Income
    # Taxes") is no note.
    assert kinds[9] == {
        ("notes", "Note 1 — Significant Accounting Policies"),
        ("notes", "Note 2 — Debt"),
    }
    assert kinds[10] == {("notes", "Note 2 — Debt")}
    assert 11 not in kinds  # Item 9 ends the notes
    assert kinds[12] == {("signatures", "")}
    assert kinds[13] == {("certification", "")}
    assert kinds[14] == {("subsidiaries", "")}
    assert kinds[15] == {("consent", "")}


def test_a_report_that_is_no_sec_form_is_labelled_by_its_titles() -> None:
    pages = [
        PageText(0, "Strategic report\nOur year in brief"),
        PageText(1, "Principal risks and uncertainties\nCurrency moves affect results."),
        PageText(2, "Operating and financial review\nRevenue rose 4%."),
        PageText(3, "Group income statement\nFor the year ended 31 March\nRevenue 4,120"),
        PageText(4, "Notes to the accounts\n1. Accounting policies\nThe group applies IFRS."),
        PageText(5, "2. Revenue\nRevenue is recognised on delivery."),
        PageText(6, "Principal risks\nA page titled as another part ends the notes."),
    ]
    kinds = _kinds(label_pages(pages, FormType.ANNUAL_REPORT))
    assert 0 not in kinds
    assert kinds[1] == {("risk factors", "")}
    assert kinds[2] == {("md&a", "")}
    assert kinds[3] == {("statement", "income statement")}
    assert kinds[4] == {("notes", "Note 1 — Accounting policies")}
    assert kinds[5] == {("notes", "Note 2 — Revenue")}  # it opens with note 2
    assert kinds[6] == {("risk factors", "")}


def _ingested(tmp_path: Path, embedder: Any, write: Any) -> Path:
    from ingest.pdf import PdfReader
    from ingest.pipeline import IngestOptions, Ingestor
    from ingest.store import IndexStore

    path = write(tmp_path / "DUO_2023_10K.pdf")
    with IndexStore(tmp_path / "index") as store:
        Ingestor(store, embedder, {".pdf": PdfReader()}, IngestOptions()).ingest([path])
    return tmp_path / "index"


def test_ingest_stores_each_pages_kind_and_an_older_index_is_labelled_when_opened(
    tmp_path: Path, embedder: Any
) -> None:
    from ingest.store import DOCSTORE_FILE, IndexStore

    index = _ingested(tmp_path, embedder, filings.write_segmented_10k)
    with IndexStore(index) as store:
        (filing,) = store.filings()
        stored = store.page_labels(filing.id)
        assert _kinds(stored) == {
            0: {("cover", "")},
            3: {("breakdown", "segments")},
            4: {("subsidiaries", "")},
            5: {("consent", "")},
        }
        consent = store.vector_ids_of_kind(PageKind.CONSENT, filing_ids=[filing.id])
        assert consent == store.vector_ids_on_pages([(filing.id, 5)]) and consent
        assert not store.vector_ids_of_kind(PageKind.CONSENT, filing_ids=["another filing"])
    # An index written before page kinds: the table empty and no labelling version.
    with sqlite3.connect(index / DOCSTORE_FILE) as db:
        db.execute("DELETE FROM page_kinds")
        db.execute("DELETE FROM meta WHERE key = 'page_kinds_version'")
    with IndexStore(index) as store:
        assert store.page_labels(filing.id) == stored
