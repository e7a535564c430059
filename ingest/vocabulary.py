"""Financial vocabulary: the words analysts use → the captions filings print.

A question asks for "capex" or "COGS"; the cash-flow statement says "Purchases of property,
plant and equipment" and the income statement "Cost of sales". Neither a bag-of-words index
nor a small embedding model bridges that gap. Retrieval expands queries with every caption a
term points to; the verifier needs the narrower relation, which captions name the *same* line
item ("capital expenditures" is "purchases of property, plant and equipment"; "free cash flow"
is not "net cash provided by operating activities", only computed from it). The entries are
general accounting vocabulary (US GAAP statement captions), not tuned to any question.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

INCOME = "income statement"
BALANCE = "balance sheet"
CASH_FLOWS = "cash flow statement"

# A primary statement's page opens with its title; matched on the lower-cased page head with
# all whitespace removed, because PDF text splits words ("Cash Flow s", "Dat a").
STATEMENT_TITLES: dict[str, re.Pattern[str]] = {
    INCOME: re.compile(
        r"statements?of(?:consolidated)?(?:income|operations|earnings)"
        r"|(?<!comprehensive)incomestatements?"
    ),
    BALANCE: re.compile(
        r"balancesheets?|statements?of(?:consolidated)?financial(?:position|condition)"
    ),
    CASH_FLOWS: re.compile(r"statements?of(?:consolidated)?cashflows?|cashflows?statements?"),
}


@dataclass(frozen=True, slots=True)
class LineItemTerm:
    pattern: str  # regular expression over an analyst's wording
    same_item: tuple[str, ...] = ()  # captions a filing prints for this very line item
    related: tuple[str, ...] = ()  # captions of the items it is computed from or shown with
    statements: tuple[str, ...] = ()  # the primary statements that print those captions
    # False for a statement or a grouping ("balance sheet", "segments"): where a figure is
    # found, not a figure an answer can be.
    item: bool = True


LINE_ITEM_TERMS: tuple[LineItemTerm, ...] = (
    LineItemTerm(
        r"cap(?:ital)?\s*ex(?:penditures?)?|capex",
        same_item=(
            "purchases of property, plant and equipment",
            "capital expenditures",
            "additions to property and equipment",
            "payments for property and equipment",
            "capital spending",
        ),
        statements=(CASH_FLOWS,),
    ),
    LineItemTerm(
        r"cogs|cost of goods sold",
        same_item=("cost of sales", "cost of revenue", "cost of goods sold"),
        statements=(INCOME,),
    ),
    LineItemTerm(
        r"revenues?|top line|sales",
        # In the order an analyst's "revenue" prefers them when a filing prints several
        # ("Net sales" beside "Total revenues", which adds other income such as fees).
        same_item=("total revenues", "net revenues", "net sales"),
        statements=(INCOME,),
    ),
    LineItemTerm(
        r"operating (?:income|profit)|ebit\b",
        same_item=("operating income", "income from operations", "operating profit"),
        statements=(INCOME,),
    ),
    LineItemTerm(
        r"net (?:income|earnings|profit)",
        same_item=("net income", "net earnings"),
        statements=(INCOME,),
    ),
    LineItemTerm(
        r"pp&?n?e|fixed assets?|property,? plant",
        # A balance sheet may print the net figure without saying so.
        same_item=(
            "property, plant and equipment, net",
            "property and equipment, net",
            "property, plant and equipment",
        ),
        statements=(BALANCE,),
    ),
    LineItemTerm(
        r"d&a|depreciation|amortization",
        same_item=("depreciation and amortization",),
        statements=(
            CASH_FLOWS,
            INCOME,
        ),
    ),
    LineItemTerm(
        r"operating cash flows?|cash (?:flows? )?from operations|cash (?:flows? )?from operating",
        same_item=("net cash provided by operating activities",),
        statements=(CASH_FLOWS,),
    ),
    LineItemTerm(
        r"free cash flow|fcf",
        related=(
            "net cash provided by operating activities",
            "purchases of property, plant and equipment",
        ),
        statements=(CASH_FLOWS,),
    ),
    LineItemTerm(
        r"dividends?",
        same_item=("cash dividends paid", "dividends paid", "dividends declared"),
        statements=(CASH_FLOWS,),
    ),
    LineItemTerm(r"inventor(?:y|ies)|dio\b", same_item=("inventories",), statements=(BALANCE,)),
    LineItemTerm(r"receivables?|dso\b", same_item=("accounts receivable",), statements=(BALANCE,)),
    LineItemTerm(r"payables?|dpo\b", same_item=("accounts payable",), statements=(BALANCE,)),
    LineItemTerm(
        r"quick ratio|liquidity",
        related=(
            "cash and cash equivalents",
            "accounts receivable",
            "marketable securities",
            "total current liabilities",
        ),
        statements=(BALANCE,),
    ),
    LineItemTerm(
        r"working capital|current ratio",
        related=("total current assets", "total current liabilities"),
        statements=(BALANCE,),
    ),
    LineItemTerm(
        r"effective tax rate|tax rate",
        same_item=("effective tax rate",),
        related=("provision for income taxes", "income before income taxes"),
        statements=(INCOME,),
    ),
    LineItemTerm(
        r"gross margin|gross profit",
        same_item=("gross margin", "gross profit"),
        related=("cost of sales",),
        statements=(INCOME,),
    ),
    LineItemTerm(
        r"operating margin", related=("operating income", "net sales"), statements=(INCOME,)
    ),
    LineItemTerm(
        r"ebitda",
        related=("operating income", "depreciation and amortization"),
        statements=(
            INCOME,
            CASH_FLOWS,
        ),
    ),
    LineItemTerm(
        r"interest coverage|interest expense",
        same_item=("interest expense",),
        related=("operating income",),
        statements=(INCOME,),
    ),
    LineItemTerm(
        r"asset turnover",
        related=("total assets", "property, plant and equipment, net", "net sales"),
        statements=(
            BALANCE,
            INCOME,
        ),
    ),
    LineItemTerm(
        r"cash conversion cycle|\bccc\b",
        related=("inventories", "accounts receivable", "accounts payable", "cost of sales"),
        statements=(
            BALANCE,
            INCOME,
        ),
    ),
    LineItemTerm(
        r"(?:share|stock) repurchases?|buybacks?",
        same_item=(
            "repurchases of common stock",
            "purchases of treasury stock",
            "share repurchase",
        ),
        statements=(CASH_FLOWS,),
    ),
    LineItemTerm(
        r"restructuring",
        same_item=("restructuring charges", "restructuring and other"),
        statements=(INCOME,),
    ),
    LineItemTerm(r"total assets", same_item=("total assets",), statements=(BALANCE,)),
    LineItemTerm(
        r"debt",
        related=("long-term debt", "total debt", "debt maturing within one year"),
        statements=(BALANCE,),
    ),
    LineItemTerm(r"segments?", related=("segment results", "reportable segments"), item=False),
    LineItemTerm(
        r"balance sheets?|statement of financial position",
        related=("consolidated balance sheets", "total assets", "total liabilities"),
        statements=(BALANCE,),
        item=False,
    ),
    LineItemTerm(
        r"income statements?|statements? of (?:income|operations|earnings)|p&l",
        related=(
            "consolidated statements of income",
            "consolidated statements of operations",
        ),
        statements=(INCOME,),
        item=False,
    ),
    LineItemTerm(
        r"cash flow statements?|statements? of cash flows?",
        related=("consolidated statements of cash flows",),
        statements=(CASH_FLOWS,),
        item=False,
    ),
)

# Metrics analysts compute the same way from any filing, in the words a question defines a
# metric in ("Define unadjusted EBITDA as …"); used when the question does not define them.
# Company-adjusted figures ("adjusted EBITDA") are each company's own and are not here.
STANDARD_DEFINITIONS: tuple[tuple[re.Pattern[str], str], ...] = (
    (
        re.compile(r"(?:unadjusted\s+)?ebitda", re.IGNORECASE),
        "operating income + depreciation and amortization from the cash flow statement",
    ),
)

_COMPILED = [
    (re.compile(rf"\b(?:{term.pattern})\b", re.IGNORECASE), term) for term in LINE_ITEM_TERMS
]


def expansion_phrases(question: str) -> list[str]:
    """Every caption the question's terms point to, same item or related, in order, once."""
    phrases: dict[str, None] = {}
    for pattern, term in _COMPILED:
        if pattern.search(question):
            for phrase in (*term.same_item, *term.related):
                phrases.setdefault(phrase, None)
    return list(phrases)


@dataclass(frozen=True, slots=True)
class AskedItem:
    words: str  # as the question puts it ("capital expenditure")
    pattern: re.Pattern[str]  # the analyst term, in any wording
    same_item: tuple[str, ...]  # captions a filing prints for this very item

    def named_in(self, text: str) -> bool:
        """Whether ``text`` names this item: the analyst term or one of its captions."""
        lowered = " ".join(text.lower().split())
        return bool(self.pattern.search(lowered)) or any(c in lowered for c in self.same_item)


def asked_items(question: str) -> list[AskedItem]:
    """The line items and computed metrics a question asks about ("capex", "net working
    capital"), not the statements it points to; each once, in order."""
    found: list[AskedItem] = []
    for pattern, term in _COMPILED:
        if term.item and (match := pattern.search(question)):
            found.append(AskedItem(match.group(), pattern, term.same_item))
    return found


def named_statements(question: str) -> list[str]:
    """The primary statements a question points to: named outright ("per the cash flow
    statement") or implied by the line items it asks about (capex is printed in the cash flow
    statement, inventories in the balance sheet), in order, once."""
    found: dict[str, None] = {}
    breakdown = bool(asked_breakdowns(question))
    for pattern, term in _COMPILED:
        # A group's statements print no segment's or region's figures: a question that asks
        # for a breakdown goes to the statements it names, never to those its items imply.
        if pattern.search(question) and not (breakdown and term.item):
            for statement in term.statements:
                found.setdefault(statement, None)
    return list(found)


def stated_statements(question: str) -> list[str]:
    """The primary statements a question names outright ("on the balance sheet", "per the
    cash flow statement"), not those its line items imply."""
    found: dict[str, None] = {}
    for pattern, term in _COMPILED:
        if not term.item and pattern.search(question):
            for statement in term.statements:
                found.setdefault(statement, None)
    return list(found)


# What a breakdown question asks for, and the words a page's title uses for it: a filing
# reports its segments as "divisions" and "lines of business" as often as segments.
# A category title names what it breaks down ("Revenue by product category"): a bare
# "Asset Category" heads every pension plan's asset table.
_BREAKDOWN_TITLES: dict[str, tuple[re.Pattern[str], re.Pattern[str]]] = {
    name: (re.compile(asked, re.IGNORECASE), re.compile(titled, re.IGNORECASE))
    for name, asked, titled in (
        (
            "segments",
            r"\b(?:segments?|divisions?|business (?:units?|lines?)|lines? of business)\b",
            r"\bsegments?\b|\bdivisions?\b|\blines? of business\b",
        ),
        ("regions", r"\b(?:regions?|geograph\w*)\b", r"\bregions?\b|\bgeograph\w*"),
        (
            "product categories",
            r"\bproduct (?:lines?|categor(?:y|ies))\b",
            r"\b(?:product|revenue|sales|merchandise) categor(?:y|ies)\b|\bproduct lines?\b",
        ),
    )
}


def asked_breakdowns(question: str) -> list[str]:
    """The breakdowns a question asks for by name ("which of its segments …": "segments")."""
    return [name for name, (asked, _) in _BREAKDOWN_TITLES.items() if asked.search(question)]


def breakdown_names(page_head: str) -> list[str]:
    """The breakdowns a title line of the page names: "Segment results – managed basis",
    "Our Divisions". A lead-in ending in ":" introduces a table, and a line with figures is a
    table row ("Segment operating profit 1,234"): neither is a title."""
    titles = [
        line
        for line in title_lines(page_head)
        if not line.endswith(":") and not re.search(r"\d", line)
    ]
    return [
        name
        for name, (_, titled) in _BREAKDOWN_TITLES.items()
        if any(titled.search(line) for line in titles)
    ]


def title_lines(page_head: str, lines: int = 6, title_words: int = 12) -> list[str]:
    """The short lines of their own among a page's first ``lines`` lines: a wrapped line of
    prose ("… on our consolidated income statements.") is no title."""
    found: list[str] = []
    for line in page_head.splitlines()[:lines]:
        line = line.strip()
        if (
            line
            and not line[0].islower()
            and not line.endswith(".")
            and len(line.split()) <= title_words
        ):
            found.append(line)
    return found


def statement_kinds(page_head: str) -> set[str]:
    """The primary statements whose title opens a page (its first few hundred characters)."""
    squeezed = re.sub(r"\s+", "", page_head.lower())
    return {kind for kind, title in STATEMENT_TITLES.items() if title.search(squeezed)}


def page_statement_titles(page_head: str, lines: int = 6, title_words: int = 12) -> dict[str, str]:
    """The primary statements a page is, each with its title line: a short line of its own
    among the page's first ``lines`` lines. A note or MD&A page that mentions "the
    Consolidated Balance Sheets" in its opening sentence is not the balance sheet (of the
    pages whose first 300 characters name exactly one statement, 228 of 599 were such prose
    in the FinanceBench filings; every statement page of a dev question kept its kind)."""
    found: dict[str, str] = {}
    for line in title_lines(page_head, lines, title_words):
        for kind in statement_kinds(line):
            found.setdefault(kind, line)
    return found


_CERTIFICATION_TITLE = re.compile(r"^\s*(?:exhibit\s+3[12]\b|certifications?\b)", re.I | re.M)
_CERTIFICATION_LAW = re.compile(r"sarbanes|13a-14|section\s+1350", re.I)
_ASKS_ABOUT_CERTIFICATION = re.compile(r"\bcertif\w*|sarbanes|\bsox\b", re.I)


def is_officer_certification(page_head: str) -> bool:
    """Whether a page is an officer's certification of the report (Exhibits 31 and 32 under
    Sarbanes-Oxley): boilerplate every filing repeats, full of "material" and "report", and
    never the evidence for a question about the company."""
    top = "\n".join(page_head.splitlines()[:3])
    return bool(_CERTIFICATION_TITLE.search(top) and _CERTIFICATION_LAW.search(page_head))


def asks_about_certification(question: str) -> bool:
    return bool(_ASKS_ABOUT_CERTIFICATION.search(question))


# Exhibit 23: the auditor consents to its report's incorporation by reference into the
# company's registration statements. Its "incorporation" and "consolidated financial
# statements" match many questions; it states no fact about the company.
_CONSENT_TITLE = re.compile(r"^\s*(?:exhibit\s+23\b|consent\s+of\s+independent\b)", re.I | re.M)
_CONSENT_TEXT = re.compile(r"\bconsent\b.{0,200}\bincorporation\s+by\s+reference\b", re.I | re.S)
_ASKS_ABOUT_CONSENT = re.compile(
    r"\bconsent\w*|\bauditor\w*|accounting\s+firm|registration\s+statements?", re.I
)


def is_auditor_consent(page_head: str) -> bool:
    """Whether a page is an auditor's consent (Exhibit 23): titled as one in its first lines,
    consenting to the incorporation of its report by reference."""
    top = "\n".join(page_head.splitlines()[:3])
    return bool(_CONSENT_TITLE.search(top) and _CONSENT_TEXT.search(page_head))


def asks_about_consent(question: str) -> bool:
    return bool(_ASKS_ABOUT_CONSENT.search(question))


_SUBSIDIARIES_EXHIBIT = re.compile(r"^\s*exhibit\s*21\b", re.I | re.M)
_NEXT_EXHIBIT = re.compile(r"^\s*(?:exhibit|consent|power of attorney)\b", re.I | re.M)
_ASKS_ABOUT_SUBSIDIARIES = re.compile(
    r"subsidiar\w*|\bincorporat\w*|legal entit\w*|exhibit\s*21", re.I
)


def subsidiary_list_pages(page_heads: Sequence[tuple[str, int, str]]) -> list[tuple[str, int]]:
    """The (filing id, page) pages of each filing's list of subsidiaries (Exhibit 21): the
    page titled with it and the pages of name-and-jurisdiction lines that follow. Hundreds of
    place names ("Panama", "United States, Michigan") make it the nearest page to any question
    about where a company operates, though it says only where its legal entities are
    organised. ``page_heads``: (filing id, page, the page's first ~1,500 characters)."""
    found: list[tuple[str, int]] = []
    previous: tuple[str, int] | None = None
    in_list = False
    for filing_id, page, head in sorted(page_heads):
        lines = [line for line in head.splitlines() if line.strip()]
        top = "\n".join(lines[:3])
        if previous != (filing_id, page - 1):
            in_list = False
        if _SUBSIDIARIES_EXHIBIT.search(top) and "subsidiar" in "\n".join(lines[:4]).lower():
            in_list = True
        elif in_list:
            in_list = _continues_subsidiary_list(lines)
        if in_list:
            found.append((filing_id, page))
        previous = (filing_id, page)
    return found


def _continues_subsidiary_list(lines: list[str]) -> bool:
    """Whether a page after a list of subsidiaries carries it on: the exhibit's own title
    again, or names and places only (short lines, few figures). The next exhibit (a consent
    letter, a power of attorney, an exhibit index) opens with its title or is prose, and a
    financial table is figures."""
    top = "\n".join(lines[:3])
    if _SUBSIDIARIES_EXHIBIT.search(top):
        return True
    if len(lines) < 10 or _NEXT_EXHIBIT.search(top):
        return False
    with_figures = sum(1 for line in lines if re.search(r"\d", line))
    return max(len(line.split()) for line in lines) <= 14 and with_figures <= len(lines) // 5


def asks_about_subsidiaries(question: str) -> bool:
    return bool(_ASKS_ABOUT_SUBSIDIARIES.search(question))


# Words every note title may carry that say nothing of its topic: "Note 9 — Other
# Supplemental Information" is about nothing a question asks for by those words.
GENERIC_TITLE_WORDS = frozenset(
    """note notes other information supplemental supplementary consolidated financial
    statement statements summary related additional certain""".split()  # noqa: SIM905
)


def is_consolidated_title(title: str) -> bool:
    """A group's own statement ("Consolidated Statements of Income"), not a segment's
    ("USCS Selected Income Statement Data") or the parent company's alone."""
    return "consolidated" in title.lower() and "parent company" not in title.lower()


def same_item_terms(text: str, caption: str) -> list[tuple[str, str]]:
    """(term, caption phrase) for each analyst term in ``text`` that names the line item
    ``caption`` prints: "capital expenditure" in a claim about the row "Purchases of property,
    plant and equipment" gives ("capital expenditure", "purchases of property, plant and
    equipment")."""
    lowered = " ".join(caption.lower().split())
    found: list[tuple[str, str]] = []
    for pattern, term in _COMPILED:
        phrase = next((p for p in term.same_item if p in lowered), None)
        if phrase is not None:
            found.extend((match.group(), phrase) for match in pattern.finditer(text))
    return found
