"""Small but realistic filings that the tests write themselves with PyMuPDF.

They hold what the real ones do where it matters to ingest: a cover page, a table of contents,
Item headings, prose, a financial statement laid out as label + number columns under year
headers and an "(in millions)" caption, and a two-column page.
"""

from __future__ import annotations

from pathlib import Path

import pymupdf

FONT_SIZE = 9.5
LEFT = 60.0
LINE = 13.0

COVER = [
    "UNITED STATES",
    "SECURITIES AND EXCHANGE COMMISSION",
    "Washington, D.C. 20549",
    "FORM 10-K",
    "ANNUAL REPORT PURSUANT TO SECTION 13 OR 15(d) OF THE SECURITIES EXCHANGE ACT OF 1934",
    "For the fiscal year ended December 31, 2023",
    "Acme Widgets Corporation",
    "(Exact name of registrant as specified in its charter)",
]

TOC = [
    "TABLE OF CONTENTS",
    "Item 1. Business 3",
    "Item 1A. Risk Factors 3",
    "Item 2. Properties 4",
    "Item 7. Management's Discussion and Analysis 4",
    "Item 7A. Quantitative and Qualitative Disclosures About Market Risk 5",
    "Item 8. Financial Statements and Supplementary Data 5",
    "Item 9A. Controls and Procedures 6",
]

BUSINESS = [
    "Item 1. Business",
    "Acme Widgets Corporation designs and manufactures industrial widgets for customers in",
    "North America and Europe. The Company was incorporated in Delaware in 1987.",
    "Net sales grew 12% in 2023, driven by demand for precision widgets.",
    "Item 1A. Risk Factors",
    "Our results depend on the price of steel, which may rise. A prolonged shortage of",
    "semiconductors could delay shipments of our connected widget line.",
]

MDNA = [
    "Item 7. Management's Discussion and Analysis",
    "Net sales were $1,577 million in fiscal 2023, compared with $1,408 million in fiscal",
    "2022. Operating income increased to $412 million. Capital expenditures were $96 million.",
]

INCOME_STATEMENT_CAPTION = [
    "Item 8. Financial Statements and Supplementary Data",
    "Consolidated Statements of Income",
    "(in millions, except per share amounts)",
]
INCOME_STATEMENT_HEADER = ["Year ended December 31,", "2023", "2022", "2021"]
INCOME_STATEMENT_ROWS = [
    ["Net sales", "$ 1,577", "$ 1,408", "$ 1,322"],
    ["Cost of sales", "(981)", "(902)", "(850)"],
    ["Gross profit", "596", "506", "472"],
    ["Selling, general and administrative", "(184)", "(171)", "(166)"],
    ["Operating income", "412", "335", "306"],
    ["Net income", "$ 301", "$ 244", "$ 219"],
]
AFTER_TABLE = "The accompanying notes are an integral part of these financial statements."

LEFT_COLUMN = (
    "Left column first sentence about liquidity. Cash and cash equivalents were $210 million "
    "at year end. The Company believes its liquidity is adequate."
)
RIGHT_COLUMN = (
    "Right column sentence about controls. Management concluded that internal control over "
    "financial reporting was effective. No material weaknesses were identified."
)


def _lines(page: pymupdf.Page, lines: list[str], top: float = 72.0) -> float:
    y = top
    for line in lines:
        page.insert_text((LEFT, y), line, fontsize=FONT_SIZE)
        y += LINE
    return y


def _table(page: pymupdf.Page, top: float, rows: list[list[str]] | None = None) -> float:
    columns = [380.0, 450.0, 520.0]  # right edges of the number columns
    y = top
    for row in rows or [INCOME_STATEMENT_HEADER, *INCOME_STATEMENT_ROWS]:
        page.insert_text((LEFT, y), row[0], fontsize=FONT_SIZE)
        for cell, right in zip(row[1:], columns, strict=True):
            width = pymupdf.get_text_length(cell, fontsize=FONT_SIZE)
            page.insert_text((right - width, y), cell, fontsize=FONT_SIZE)
        y += LINE
    return y


def write_10k(
    path: Path,
    company_suffix: str = "",
    extra_sentence: str | None = None,
    company: str = "Acme Widgets Corporation",
    year: int = 2023,
) -> Path:
    """A seven-page 10-K; ``extra_sentence`` changes the content (a revised filing)."""
    document = pymupdf.open()
    cover = list(COVER)
    cover[5] = f"For the fiscal year ended December 31, {year}"
    cover[6] = f"{company} {company_suffix}".strip()
    _lines(document.new_page(), cover)
    _lines(document.new_page(), TOC)
    business = list(BUSINESS)
    if extra_sentence:
        business.append(extra_sentence)
    _lines(document.new_page(), business)
    _lines(document.new_page(), MDNA)
    statement = document.new_page()
    y = _lines(statement, INCOME_STATEMENT_CAPTION)
    y = _table(statement, y + 4)
    _lines(statement, [AFTER_TABLE], top=y + 10)
    two_columns = document.new_page()
    _lines(two_columns, ["Item 9A. Controls and Procedures"])
    two_columns.insert_textbox(pymupdf.Rect(LEFT, 100, 290, 400), LEFT_COLUMN, fontsize=FONT_SIZE)
    two_columns.insert_textbox(pymupdf.Rect(320, 100, 550, 400), RIGHT_COLUMN, fontsize=FONT_SIZE)
    _lines(document.new_page(), ["Item 15. Exhibits", "Exhibit 31.1 Certification of CEO."])
    return _saved(document, path)


CASH_FLOW_CAPTION = [
    "Consolidated Statements of Cash Flows",
    "(in millions)",
]
CASH_FLOW_ROWS = [
    ["Net income", "$ 301", "$ 244", "$ 219"],
    ["Depreciation and amortization", "88", "81", "77"],
    ["Net cash provided by operating activities", "402", "351", "318"],
    ["Purchases of property, plant and equipment", "(96)", "(90)", "(84)"],
    ["Net cash used in investing activities", "(120)", "(101)", "(95)"],
]
SEGMENT_CAPTION = ["Widgets Segment Selected Income Statement Data", "(in millions)"]
SEGMENT_ROWS = [
    ["Segment net sales", "$ 901", "$ 850", "$ 790"],
    ["Segment operating income", "250", "210", "198"],
    ["Segment depreciation and amortization", "40", "38", "35"],
]
# MD&A prose that says every word of an EBITDA question, the way real MD&A does, and two
# pages that open by naming a statement in a sentence: none of them is a statement.
EBITDA_MDNA = [
    "Item 7. Management's Discussion and Analysis",
    "Operating income, depreciation and amortization and capital expenditures are discussed",
    "below. Operating income rose to $412 million. Depreciation and amortization was $88",
    "million, and capital expenditures were $96 million, as the cash flow statement shows.",
    "Management uses operating income plus depreciation and amortization less capital",
    "expenditures to judge cash generation. Capital expenditures went to new plants.",
]
NOTE_NAMING_STATEMENTS = [
    "Note 4. Property, plant and equipment, as presented in the Consolidated Balance Sheets.",
    "Depreciation and amortization of property, plant and equipment is recorded on a",
    "straight-line basis. Capital expenditures are shown in the statement of cash flows.",
]


FIXED_PDF_DATE = "D:20240301000000Z"


def _saved(document: pymupdf.Document, path: Path) -> Path:
    """Saved byte for byte the same on every run: a filing's id hashes its bytes, and the
    sentence ids, and so every order by id, follow from it."""
    document.set_metadata({"creationDate": FIXED_PDF_DATE, "modDate": FIXED_PDF_DATE})
    document.save(path, no_new_id=True)
    document.close()
    return path


def _duo_with_cover() -> pymupdf.Document:
    """A new document whose first page is Duo Instruments' 10-K cover."""
    document = pymupdf.open()
    cover = list(COVER)
    cover[6] = "Duo Instruments Corporation"
    _lines(document.new_page(), cover)
    return document


def write_statements_10k(path: Path) -> Path:
    """A 10-K whose income statement and cash flow statement are separate pages (2 and 3),
    with a segment's income statement data (page 4), a note naming statements in prose
    (page 5) and MD&A prose full of the same words (page 1)."""
    document = _duo_with_cover()
    _lines(document.new_page(), EBITDA_MDNA)
    pages = [
        (INCOME_STATEMENT_CAPTION, INCOME_STATEMENT_ROWS),
        (CASH_FLOW_CAPTION, CASH_FLOW_ROWS),
        (SEGMENT_CAPTION, SEGMENT_ROWS),
    ]
    for caption, rows in pages:
        page = document.new_page()
        y = _lines(page, caption)
        _table(page, y + 4, [INCOME_STATEMENT_HEADER, *rows])
    _lines(document.new_page(), NOTE_NAMING_STATEMENTS)
    return _saved(document, path)


LEGAL_NOTE = [
    "Note 12. Legal Proceedings",
    "The Company is a defendant in lawsuits over a product recall. An adverse outcome could",
    "be material to the Company's results.",
]
# An officer's certification (Exhibit 31): boilerplate full of "material" and "report".
CERTIFICATION = [
    "Exhibit 31.1",
    "CERTIFICATION PURSUANT TO SECTION 302 OF THE SARBANES-OXLEY ACT OF 2002",
    "I have reviewed this annual report. The report does not contain any untrue statement of a",
    "material fact or omit to state a material fact; I have disclosed any material weakness",
    "and any fraud, material or not, and any material legal matter to the auditors.",
]


def write_certified_10k(path: Path) -> Path:
    """A 10-K with a legal-proceedings note (page 1) and an officer's certification (page 2)."""
    document = _duo_with_cover()
    _lines(document.new_page(), LEGAL_NOTE)
    _lines(document.new_page(), CERTIFICATION)
    return _saved(document, path)


# Each segment's own page names "net revenue" again and again; the page that compares them
# names it once, in its table. Then the list of subsidiaries by country (Exhibit 21), and
# the auditor's consent that follows it.
SEGMENT_PAGES = [
    [
        "Retail Banking",
        "Retail Banking is one of Duo's two business segments. In 2023 its net revenue rose",
        "on higher deposit margins. Net revenue from cards",
        "grew too, and net revenue from mortgages fell. Retail Banking serves customers in",
        "the United States and Canada.",
    ],
    [
        "Commercial Banking",
        "Commercial Banking is one of Duo's two business segments. In 2023 its net revenue",
        "rose on lending fees, the lowest growth of the year. Net revenue from treasury",
        "services grew, and net revenue from leasing fell. Commercial Banking serves",
        "middle-market clients in the United States, Europe and Asia.",
    ],
]
SEGMENT_RESULTS_CAPTION = [
    "Segment results - managed basis",
    "The following table summarizes the results (in millions).",
]
SEGMENT_RESULTS_ROWS = [
    ["Year ended December 31,", "Retail", "Commercial", "Total"],
    ["Total net revenue", "$ 1,204", "$ 873", "$ 2,077"],
    ["Net income", "$ 310", "$ 205", "$ 515"],
]
SUBSIDIARIES = [
    "Exhibit 21",
    "Subsidiaries of Duo Instruments Corporation",
    *[
        line
        for name, country in [
            ("Duo Canada Ltd.", "Canada"),
            ("Duo Europe B.V.", "Netherlands"),
            ("Duo Asia Pte. Ltd.", "Singapore"),
            ("Duo Brasil Ltda.", "Brazil"),
            ("Duo Japan K.K.", "Japan"),
            ("Duo India Private Limited", "India"),
        ]
        for line in (name, country)
    ],
]
CONSENT = [
    "Consent of Independent Registered Public Accounting Firm",
    "We consent to the incorporation by reference in the registration statements of Duo",
    "Instruments Corporation of our report on the consolidated financial statements.",
]


def write_segmented_10k(path: Path) -> Path:
    """A 10-K with a page for each segment (1, 2), the segment results table (3), the list of
    subsidiaries (4) and the auditor's consent (5)."""
    document = _duo_with_cover()
    for segment in SEGMENT_PAGES:
        _lines(document.new_page(), segment)
    results = document.new_page()
    y = _lines(results, SEGMENT_RESULTS_CAPTION)
    _table(results, y + 4, SEGMENT_RESULTS_ROWS)
    _lines(document.new_page(), SUBSIDIARIES)
    _lines(document.new_page(), CONSENT)
    return _saved(document, path)


# MD&A prose that names acquisitions again and again; the note that lists them names them
# once, in its title.
ACQUISITIONS_MDNA = [
    [
        f"Acquisitions in {region}",
        f"Acquisitions in {region} continued in 2023. Our acquisitions strategy favours small",
        "acquisitions, and acquisitions were reviewed each quarter; further acquisitions may",
        f"follow as acquisitions in {region} are integrated. Acquisitions added 3% to sales.",
    ]
    for region in ("the Americas", "Europe", "Asia")
]
NOTES_OPENING = [
    "Notes to Consolidated Financial Statements",
    "Note 4. Debt",
    "The Company's senior notes mature in 2030 and bear interest at 4.5%.",
]
ACQUISITIONS_NOTE = [
    "Note 5. Acquisitions",
    "In March 2023 Duo bought Lumen Optics for $220 million in cash, and in August 2023 the",
    "sensor maker Kestrel Devices for $85 million; both are in the Instruments segment.",
]


# Risk factors that share the question's other words.
LIABILITY_RISKS = [
    [
        "Risk Factors",
        f"The nature of our {topic} exposes Duo to liability. The purpose of our insurance is",
        f"to limit that liability, but a {topic} claim could exceed what it covers, and the",
        "nature and extent of such liability is hard to predict.",
    ]
    for topic in ("product", "environmental", "pension", "tax", "data privacy")
]


def write_noted_10k(path: Path) -> Path:
    """A 10-K with five pages of risk factors (1-5), three pages of MD&A about acquisitions
    (6-8), the notes' opening (page 9) and the acquisitions note (page 10)."""
    document = _duo_with_cover()
    for lines in (*LIABILITY_RISKS, *ACQUISITIONS_MDNA, NOTES_OPENING, ACQUISITIONS_NOTE):
        _lines(document.new_page(), lines)
    return _saved(document, path)


def write_encrypted(path: Path) -> Path:
    document = pymupdf.open()
    _lines(document.new_page(), COVER)
    document.save(
        path,
        encryption=pymupdf.PDF_ENCRYPT_AES_256,
        owner_pw="owner-secret",
        user_pw="user-secret",
    )
    document.close()
    return path


def write_owner_locked(path: Path, permissions: int = 0) -> Path:
    """A whole 10-K that opens without a password but carries an owner password; with the
    default permissions (0) it forbids copying and extraction. Published filings often carry
    one that permits everything (``permissions=-1``)."""
    document = pymupdf.open(write_10k(path.with_suffix(".plain.pdf")))
    document.save(
        path,
        encryption=pymupdf.PDF_ENCRYPT_AES_256,
        owner_pw="owner-secret",
        user_pw="",
        permissions=permissions,
    )
    document.close()
    path.with_suffix(".plain.pdf").unlink()
    return path


def write_scanned(path: Path) -> Path:
    """Pages that are pictures of text: no text layer at all."""
    source = pymupdf.open()
    _lines(source.new_page(), COVER)
    picture = source[0].get_pixmap(dpi=50)
    document = pymupdf.open()
    page = document.new_page()
    page.insert_image(page.rect, pixmap=picture)
    return _saved(document, path)


def write_not_a_filing(path: Path) -> Path:
    document = pymupdf.open()
    _lines(
        document.new_page(),
        [
            "Grandma's apple pie",
            "Peel six apples and slice them thinly. Mix with sugar and cinnamon.",
            "Bake at 200 degrees for forty minutes until the crust is golden.",
            "Serve warm with vanilla ice cream. Leftovers keep for two days in the fridge.",
        ]
        * 3,
    )
    document.save(path)
    return path


def write_corrupt(path: Path) -> Path:
    """A PDF header followed by bytes no repair can make sense of."""
    path.write_bytes(b"%PDF-1.7\n" + bytes(range(256)) * 40)
    return path
