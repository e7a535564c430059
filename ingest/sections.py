"""Section labels (10-K/10-Q Items, 8-K Items) assigned to every sentence in reading order."""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from ingest.types import FormType, ParsedPage, SentenceKind

_ITEM = re.compile(
    r"^(?:part\s+(?P<part>[ivx]+)\s*[,.:;—–-]?\s*)?"
    r"item\s*(?P<item>\d{1,2}\.\d{2}|\d{1,2}[a-c]?)\b\s*[.:—–-]*\s*(?P<title>.*)$",
    re.IGNORECASE | re.DOTALL,
)
_PART = re.compile(r"^part\s+(?P<part>[ivx]+)\b\s*[.:—–-]*\s*(?P<title>.*)$", re.IGNORECASE)
# Table-of-contents pages list every Item; real pages rarely hold more than four headings.
TOC_MIN_HEADINGS = 6
_MAX_HEADING_CHARS = 160
_MAX_TITLE_CHARS = 120

TEN_K_ITEM_TITLES = {
    "1": "Business",
    "1A": "Risk Factors",
    "1B": "Unresolved Staff Comments",
    "1C": "Cybersecurity",
    "2": "Properties",
    "3": "Legal Proceedings",
    "4": "Mine Safety Disclosures",
    "5": "Market for Registrant's Common Equity, Related Stockholder Matters and Issuer "
    "Purchases of Equity Securities",
    "6": "Selected Financial Data",
    "7": "Management's Discussion and Analysis of Financial Condition and Results of Operations",
    "7A": "Quantitative and Qualitative Disclosures About Market Risk",
    "8": "Financial Statements and Supplementary Data",
    "9": "Changes in and Disagreements with Accountants on Accounting and Financial Disclosure",
    "9A": "Controls and Procedures",
    "9B": "Other Information",
    "9C": "Disclosure Regarding Foreign Jurisdictions that Prevent Inspections",
    "10": "Directors, Executive Officers and Corporate Governance",
    "11": "Executive Compensation",
    "12": "Security Ownership of Certain Beneficial Owners and Management and Related "
    "Stockholder Matters",
    "13": "Certain Relationships and Related Transactions, and Director Independence",
    "14": "Principal Accountant Fees and Services",
    "15": "Exhibits and Financial Statement Schedules",
    "16": "Form 10-K Summary",
}


@dataclass(frozen=True, slots=True)
class Section:
    label: str  # "Item 7", "Part I Item 2", "Item 2.02"
    title: str
    first_page: int


def _clean_title(raw: str) -> str:
    title = " ".join(raw.split()).strip(" .:—–-")
    return title[:_MAX_TITLE_CHARS]


def item_heading(text: str) -> re.Match[str] | None:
    """``text`` read as a form Item's heading ("Item 7. Management's Discussion …", "Part II,
    Item 1A"), or None."""
    if len(text) > _MAX_HEADING_CHARS:
        return None
    return _ITEM.match(text.strip())


def _heading_match(text: str, kind: SentenceKind) -> re.Match[str] | None:
    match = item_heading(text)
    if match is None:
        return None
    # "Item 7 of this report discusses …" is a cross-reference, not a heading.
    if kind is not SentenceKind.HEADING and text.rstrip().endswith(".") and len(text) > 60:
        return None
    return match


def assign_sections(pages: list[ParsedPage], form_type: FormType | None) -> list[Section]:
    """Label every sentence with the Item it falls under; returns the sections found.

    Headings on table-of-contents pages are ignored, so a TOC does not open every section
    on page 2.
    """
    sections: dict[str, Section] = {}
    current: str | None = None
    part: str | None = None
    use_parts = form_type is FormType.FORM_10Q
    for page in pages:
        candidates = [
            index
            for index, sentence in enumerate(page.sentences)
            if _heading_match(sentence.text, sentence.kind)
        ]
        is_toc = len(candidates) >= TOC_MIN_HEADINGS
        new_sentences = []
        for index, sentence in enumerate(page.sentences):
            part_match = _PART.match(sentence.text.strip())
            if part_match and len(sentence.text) <= _MAX_HEADING_CHARS and not is_toc:
                part = part_match.group("part").upper()
            match = None if is_toc else _heading_match(sentence.text, sentence.kind)
            if match:
                item = match.group("item").upper()
                if match.group("part"):
                    part = match.group("part").upper()
                label = f"Part {part} Item {item}" if use_parts and part else f"Item {item}"
                # 10-K Items have fixed titles; PDF headings often run into body text.
                title = TEN_K_ITEM_TITLES.get(item, "") if form_type is FormType.FORM_10K else ""
                title = title or _clean_title(match.group("title").split(". ")[0])
                if not title and index + 1 < len(page.sentences):
                    title = _clean_title(page.sentences[index + 1].text)
                sections.setdefault(label, Section(label, title, page.number))
                current = label
            new_sentences.append(replace(sentence, section=current))
        page.sentences = new_sentences
    return list(sections.values())
