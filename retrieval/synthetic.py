"""Search queries written from the filings themselves, each with the pages that answer it.

Questions a user has never asked measure retrieval apart from the dev questions that shaped
it. Each query is made from what a page is (its kind, labelled at ingest) and what it prints:

- a row of a primary statement ("What was Duo's net sales in FY2023?"), answered on that page;
- a row of a breakdown table ("Which segment of Duo had the highest operating income …"),
  answered on that page;
- a note's title ("What does Duo disclose about long-term debt …"), answered on the pages of
  that note;
- a heading of MD&A or risk factors ("What does Duo say about supply chain disruption?"),
  answered on that page.

The wording templates are general analyst phrasings, drawn at random (seeded) per query.
"""

from __future__ import annotations

import random
import re
from collections.abc import Iterator
from dataclasses import dataclass

from ingest.page_kinds import PageKind
from ingest.store import IndexStore, StoredFiling

_LETTER = re.compile(r"[A-Za-z]")
_DIGIT = re.compile(r"\d")
_NOTE_NUMBER = re.compile(r"^Note \S+ — ")
_BREAKDOWN_WORD = {
    "segments": "segment",
    "regions": "region",
    "product categories": "product category",
}


@dataclass(frozen=True, slots=True)
class SyntheticQuery:
    text: str
    kind: str  # "statement", "breakdown", "notes", "prose"
    filing: str  # the filing's name
    company: str
    pages: frozenset[tuple[str, int]]  # (filing name, page) that answer it


@dataclass(frozen=True, slots=True)
class SynthesisConfig:
    rows_per_statement_table: int = 5
    rows_per_breakdown_table: int = 3
    notes_per_filing: int = 8
    headings_per_filing: int = 5
    seed: int = 7


def synthesise(store: IndexStore, config: SynthesisConfig | None = None) -> list[SyntheticQuery]:
    """Queries for every filing of the index whose fiscal year is known, in filing order."""
    config = config or SynthesisConfig()
    rng = random.Random(config.seed)
    queries: list[SyntheticQuery] = []
    for filing in store.filings():
        if filing.metadata.fiscal_year is not None:
            queries.extend(_filing_queries(store, filing, config, rng))
    return queries


def _filing_queries(
    store: IndexStore, filing: StoredFiling, config: SynthesisConfig, rng: random.Random
) -> Iterator[SyntheticQuery]:
    company = filing.metadata.company or filing.name.split("_")[0]
    year = filing.metadata.fiscal_year

    def query(text: str, kind: str, pages: list[int]) -> SyntheticQuery:
        return SyntheticQuery(
            text, kind, filing.name, company, frozenset((filing.name, p) for p in pages)
        )

    labels = store.page_labels(filing.id)
    statements = {label.page: label.detail for label in labels if label.kind is PageKind.STATEMENT}
    breakdowns = {label.page: label.detail for label in labels if label.kind is PageKind.BREAKDOWN}
    for table in store.filing_tables(filing.id):
        if table.page not in statements and table.page not in breakdowns:
            continue
        rows = [
            " ".join(row[0].replace("$", "").split()).strip(" :").lower()
            for row in table.rows
            if row
            and _LETTER.match(row[0])
            and 1 <= len(row[0].split()) <= 8
            and any(_DIGIT.search(cell) for cell in row[1:])
        ]
        if table.page in statements:
            statement = statements[table.page]
            for label in rng.sample(rows, min(len(rows), config.rows_per_statement_table)):
                text = rng.choice(
                    [
                        f"What was {company}'s {label} in FY{year}?",
                        f"How much {label} did {company} report for fiscal {year}?",
                        f"What is the FY{year} {label} for {company}? Answer using the "
                        f"{statement}.",
                        f"According to the {statement}, what was {company}'s FY{year} {label}?",
                    ]
                )
                yield query(text, "statement", [table.page])
        else:
            word = _BREAKDOWN_WORD[breakdowns[table.page]]
            for label in rng.sample(rows, min(len(rows), config.rows_per_breakdown_table)):
                text = rng.choice(
                    [
                        f"Which {word} of {company} had the highest {label} in FY{year}?",
                        f"What was {company}'s {label} by {word} in {year}?",
                    ]
                )
                yield query(text, "breakdown", [table.page])
    notes: dict[str, list[int]] = {}
    for page_label in labels:
        if page_label.kind is PageKind.NOTES and page_label.detail:
            notes.setdefault(page_label.detail, []).append(page_label.page)
    for title, pages in rng.sample(sorted(notes.items()), min(len(notes), config.notes_per_filing)):
        topic = _NOTE_NUMBER.sub("", title).lower()
        text = rng.choice(
            [
                f"What does {company} disclose about {topic} in its FY{year} report?",
                f"Describe {company}'s {topic} as of FY{year}.",
                f"What are the details of {company}'s {topic} for {year}?",
            ]
        )
        yield query(text, "notes", pages)
    prose_pages = {
        page_label.page
        for page_label in labels
        if page_label.kind in (PageKind.MDNA, PageKind.RISK_FACTORS)
    }
    headings = [
        (sentence["page"], " ".join(sentence["text"].split()).rstrip(".").lower())
        for sentence in store.filing_sentences(filing.id)
        if sentence["kind"] == "heading"
        and sentence["page"] in prose_pages
        and 4 <= len(sentence["text"].split()) <= 16
        and not _DIGIT.search(sentence["text"])
    ]
    for page, heading in rng.sample(headings, min(len(headings), config.headings_per_filing)):
        text = rng.choice(
            [f"What does {company} say about {heading}?", f"Is {company} exposed to {heading}?"]
        )
        yield query(text, "prose", [page])
