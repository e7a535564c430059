"""What each page of a filing is: a primary statement, a note, MD&A, risk factors, a
breakdown by segment or region, an exhibit, the cover, the signatures, the contents.

Read once, at ingest, from the whole filing in page order (a note runs on over pages; a
segment's "Selected Income Statement Data" is not the income statement where the group's
consolidated one is printed), and stored with the page. Retrieval and the answer engine read
the labels from the store; nothing scans page text per request.

The words are general filing structure (SEC form Items, statement titles, exhibit numbers),
not tuned to any question.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Final

from ingest.sections import TOC_MIN_HEADINGS, item_heading
from ingest.types import FormType
from ingest.vocabulary import (
    breakdown_names,
    is_auditor_consent,
    is_consolidated_title,
    is_officer_certification,
    page_statement_titles,
    subsidiary_list_pages,
    title_lines,
)

# Bumped whenever the labelling changes: a store re-labels pages written by an older one.
PAGE_KINDS_VERSION: Final = "3"


class PageKind(StrEnum):
    STATEMENT = "statement"  # detail: "income statement", "balance sheet", "cash flow statement"
    NOTES = "notes"  # detail: the note's own heading ("Note 7 — Debt") where one is printed
    MDNA = "md&a"
    RISK_FACTORS = "risk factors"
    BREAKDOWN = "breakdown"  # detail: "segments", "regions", "product categories"
    CERTIFICATION = "certification"  # Exhibits 31 and 32
    SUBSIDIARIES = "subsidiaries"  # Exhibit 21
    CONSENT = "consent"  # Exhibit 23
    COVER = "cover"
    SIGNATURES = "signatures"
    CONTENTS = "contents"


# Exhibits every filing repeats and that state no fact about the business: a page of one of
# these is evidence only for a question about it.
BOILERPLATE_KINDS: Final = frozenset(
    {PageKind.CERTIFICATION, PageKind.CONSENT, PageKind.SUBSIDIARIES}
)


@dataclass(frozen=True, slots=True)
class PageText:
    """What labelling reads of a page: its text and the form Item each of its sentences
    falls under (``ingest.sections``), in reading order."""

    number: int
    text: str
    sections: tuple[str | None, ...] = ()


@dataclass(frozen=True, slots=True)
class PageLabel:
    page: int
    kind: PageKind
    detail: str = ""


# Form Items by what they hold (10-K Items, 10-Q Items under their Part).
_SECTION_KINDS: Final = {
    (FormType.FORM_10K, "Item 7"): PageKind.MDNA,
    (FormType.FORM_10K, "Item 1A"): PageKind.RISK_FACTORS,
    (FormType.FORM_10Q, "Part I Item 2"): PageKind.MDNA,
    (FormType.FORM_10Q, "Part II Item 1A"): PageKind.RISK_FACTORS,
}
# Reports that are not SEC forms title these parts in their own words.
_TITLED_KINDS: Final = (
    (
        re.compile(r"management'?’?s discussion and analysis|operating and financial review", re.I),
        PageKind.MDNA,
    ),
    (
        re.compile(r"^(?:principal )?risk factors$|^principal risks(?: and uncertainties)?$", re.I),
        PageKind.RISK_FACTORS,
    ),
)
_NOTES_TITLE: Final = re.compile(
    r"notes?\s+to\s+(?:the\s+)?(?:(?:consolidated|condensed|combined|group)\s+)*"
    r"(?:financial\s+statements|accounts)",
    re.IGNORECASE,
)
# "Note 7 — Debt", "NOTE 12. INCOME TAXES", "7. Leases": a numbered heading line.
_NOTE_HEADING: Final = re.compile(
    r"^(?:note\s+(?P<note>\d{1,2}[a-z]?)\b\s*[.:—–-]*\s*|(?P<number>\d{1,2})\.\s+)(?P<title>[A-Z][^\n]{2,90})$",
    re.IGNORECASE,
)
# Later parts of a 10-K, after the financial statements and their notes.
_AFTER_NOTES: Final = frozenset({"Item 9", "Item 9A", "Item 9B", "Item 9C", "Item 10", "Item 11"})
_SIGNATURES: Final = re.compile(r"^signatures?$", re.IGNORECASE)
_CONTENTS_TITLE: Final = re.compile(r"^(?:table of contents|contents|index)$", re.IGNORECASE)
_PAGE_NUMBERED_LINE: Final = re.compile(r"^[A-Za-z][^\n]{2,100}\s\d{1,3}\s*$", re.M)
_CONTENTS_MIN_ENTRIES: Final = 8
_COVER_WORDS: Final = re.compile(r"securities and exchange commission|commission file number", re.I)
_HEAD_CHARS: Final = 1500
# A note heading among a page's first lines opens the page (after a running header).
_NOTE_TOP_LINES: Final = 3
_TITLE_CHARS: Final = 300


def label_pages(pages: Sequence[PageText], form_type: FormType | None) -> list[PageLabel]:
    """Every label of every page of one filing (a page may carry several: an MD&A page
    titled "Segment results" is both), in page order."""
    ordered = sorted(pages, key=lambda page: page.number)
    labels: list[PageLabel] = []
    labels += _statement_labels(ordered)
    labels += _note_labels(ordered)
    subsidiaries = {
        number
        for _, number in subsidiary_list_pages(
            [("", p.number, p.text[:_HEAD_CHARS]) for p in ordered]
        )
    }
    for page in ordered:
        head = page.text[:_HEAD_CHARS]
        titles = title_lines(head)
        if page is ordered[0] and _COVER_WORDS.search(page.text):
            labels.append(PageLabel(page.number, PageKind.COVER))
        if _is_contents(page.text, titles):
            # It names every part of the report and is none of them.
            labels.append(PageLabel(page.number, PageKind.CONTENTS))
            continue
        kind = _section_kind(page.sections, form_type)
        if kind is None:
            kind = next(
                (k for pattern, k in _TITLED_KINDS for line in titles if pattern.search(line)), None
            )
        if kind is not None:
            labels.append(PageLabel(page.number, kind))
        labels += [
            PageLabel(page.number, PageKind.BREAKDOWN, name) for name in breakdown_names(head)
        ]
        if is_officer_certification(head[:_TITLE_CHARS]):
            labels.append(PageLabel(page.number, PageKind.CERTIFICATION))
        if is_auditor_consent(head):
            labels.append(PageLabel(page.number, PageKind.CONSENT))
        if page.number in subsidiaries:
            labels.append(PageLabel(page.number, PageKind.SUBSIDIARIES))
        if any(_SIGNATURES.match(line) for line in titles[:3]):
            labels.append(PageLabel(page.number, PageKind.SIGNATURES))
    return sorted(set(labels), key=lambda label: (label.page, label.kind, label.detail))


def _is_contents(text: str, titles: Sequence[str]) -> bool:
    """A contents page lists most of the form's Items, or is titled as contents and lists
    entries ending in their page numbers. A "Table of Contents" link atop every page of an
    EDGAR filing is no contents page by itself."""
    if sum(1 for line in text.splitlines() if item_heading(line)) >= TOC_MIN_HEADINGS:
        return True
    if not any(_CONTENTS_TITLE.match(line) for line in titles[:2]):
        return False
    entries = len(_PAGE_NUMBERED_LINE.findall(text))
    lines = sum(1 for line in text.splitlines() if line.strip())
    return entries >= _CONTENTS_MIN_ENTRIES and entries * 2 >= lines


def _main_section(sections: Sequence[str | None]) -> str | None:
    """The form Item most of the page's sentences fall under; of two as many, the one read
    first (a set's order would differ from run to run)."""
    counted = Counter(section for section in sections if section).most_common(1)
    return counted[0][0] if counted else None


def _section_kind(sections: Sequence[str | None], form_type: FormType | None) -> PageKind | None:
    most = _main_section(sections)
    if most is None or form_type is None:
        return None
    return _SECTION_KINDS.get((form_type, most))


def _statement_labels(pages: Sequence[PageText]) -> list[PageLabel]:
    """The primary statement pages: a page titled with exactly one statement (an index of
    the statements or an auditor's report names them all). Where the group's consolidated
    statement of a kind is printed, a segment's or the parent company's table of that kind
    is not that statement."""
    titled: dict[str, list[tuple[int, bool]]] = {}
    for page in pages:
        titles = page_statement_titles(page.text[:_TITLE_CHARS])
        if len(titles) == 1:
            ((kind, title),) = titles.items()
            titled.setdefault(kind, []).append((page.number, is_consolidated_title(title)))
    labels = []
    for kind, numbered in titled.items():
        consolidated = any(is_group for _, is_group in numbered)
        labels += [
            PageLabel(number, PageKind.STATEMENT, kind)
            for number, is_group in numbered
            if is_group or not consolidated
        ]
    return labels


def _note_labels(pages: Sequence[PageText]) -> list[PageLabel]:
    """The notes to the financial statements: from the page titled with them to the first
    page of a later part of the form (or the signatures, or a page titled as MD&A or risk
    factors), each page labelled with every note printed on it: the one it carries on from
    and each whose heading it prints. A bare heading "7. Leases" is a note only in a filing
    that numbers its notes so, and only after note 6: a numbered list in a note is not a
    note."""
    labels: list[PageLabel] = []
    in_notes = False
    note = ""
    number: int | None = None
    spelled = False  # the filing heads its notes "Note 7": a bare "7." is then a list item
    for page in pages:
        titles = title_lines(page.text[:_TITLE_CHARS])
        if in_notes and (
            _main_section(page.sections) in _AFTER_NOTES
            or any(_SIGNATURES.match(line) for line in titles[:3])
            or any(pattern.search(line) for pattern, _ in _TITLED_KINDS for line in titles[:3])
        ):
            in_notes = False
        if not in_notes and any(_NOTES_TITLE.search(line) for line in titles):
            # An index of the statements names the notes beside every statement.
            in_notes = len(page_statement_titles(page.text[:_TITLE_CHARS])) <= 1
        if not in_notes:
            continue
        notes_here = [note] if note else []
        for index, line in enumerate(page.text.splitlines()):
            heading = _NOTE_HEADING.match(line.strip())
            if heading is None or len(line.split()) > 14 or line.rstrip().endswith("."):
                continue
            said = heading.group("note")
            numbered = int(re.sub(r"\D", "", said or heading.group("number")))
            if said is None and (spelled or (number is not None and numbered != number + 1)):
                continue
            spelled = spelled or said is not None
            if index < _NOTE_TOP_LINES and notes_here == [note]:
                notes_here = []  # the page opens with a new note: the last one ended before it
            number = numbered
            note = f"Note {said or numbered} — {heading.group('title').strip()}"
            notes_here.append(note)
        labels += [PageLabel(page.number, PageKind.NOTES, title) for title in notes_here or [""]]
    return labels
