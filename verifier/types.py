"""What the generator is shown, what it must return, and what the verifier says about it.

The generator sees sentences under short labels ("S3") rather than content-hashed ids: a small
model copies a two-character label reliably and a 24-character hash not at all. Labels are
local to one context; the pipeline maps them back to sentence ids before anything is stored.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, Field

INSUFFICIENT_EVIDENCE = "insufficient evidence"


class DraftCitation(BaseModel):
    sentence_id: str = Field(description="Label of a context sentence, e.g. 'S3'.")
    quote: str = Field(description="Verbatim span of that sentence supporting the claim.")


class DraftClaim(BaseModel):
    citations: list[DraftCitation] = Field(description="Evidence first, then the claim.")
    text: str = Field(description="One key point, stated in the analyst's terms.")


class DraftAnswer(BaseModel):
    """The generator's structured output. ``insufficient_evidence`` with no claims is the
    explicit form for "the provided filings do not answer this"."""

    claims: list[DraftClaim] = Field(default_factory=list)
    answer: str = Field(description="Short direct answer, e.g. '$1,577 million'.")
    insufficient_evidence: bool = False


def _box(value: Any) -> tuple[float, float, float, float] | None:
    if not value:
        return None
    x0, y0, x1, y1 = (float(v) for v in value)
    return (x0, y0, x1, y1)


@dataclass(frozen=True, slots=True)
class EvidenceSentence:
    label: str  # "S1", "S2", ... as shown to the generator
    sentence_id: str
    filing_id: str
    filing: str  # the filing's name
    page: int  # zero-indexed
    section: str | None
    start: int  # character offsets in the stored page text
    end: int
    kind: str
    text: str
    company: str | None = None
    fiscal_year: int | None = None
    fiscal_period: str | None = None  # "FY", "Q1" … "Q4"
    form_type: str | None = None
    table_title: str | None = None
    table_scale: str | None = None  # "thousands" | "millions" | "billions"
    table_header_rows: tuple[tuple[str, ...], ...] = ()
    # A table row's figure cells, each with the column-header path above it (``ingest.grid``):
    # ("4,200", ("2019", "Amount")). Empty for prose and for rows stored without a grid.
    table_cells: tuple[tuple[str, tuple[str, ...]], ...] = ()
    # The sentence's box on a PDF page from ingest (PDF points, origin top left); None for
    # HTML filings and for sentences logged before boxes were carried.
    bbox: tuple[float, float, float, float] | None = None

    @classmethod
    def from_dump(cls, item: dict[str, Any]) -> EvidenceSentence:
        """A sentence from its logged form (``dataclasses.asdict``, then JSON): tuples come
        back as lists."""
        return cls(
            **{
                **item,
                "table_header_rows": tuple(
                    tuple(row) for row in item.get("table_header_rows") or ()
                ),
                "table_cells": tuple(
                    (str(text), tuple(path)) for text, path in item.get("table_cells") or ()
                ),
                "bbox": _box(item.get("bbox")),
            }
        )

    @property
    def table_header(self) -> str:
        return " | ".join(" ".join(cell for cell in row if cell) for row in self.table_header_rows)


@dataclass
class EvidenceContext:
    """The labelled sentences one generation was given."""

    sentences: list[EvidenceSentence]
    _by_label: dict[str, EvidenceSentence] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._by_label = {s.label: s for s in self.sentences}

    def __iter__(self) -> Iterator[EvidenceSentence]:
        return iter(self.sentences)

    def __len__(self) -> int:
        return len(self.sentences)

    def get(self, label: str) -> EvidenceSentence | None:
        return self._by_label.get(label.strip().strip("[]"))

    @property
    def labels(self) -> list[str]:
        return [s.label for s in self.sentences]

    @classmethod
    def from_rows(cls, rows: Sequence[dict[str, Any]]) -> EvidenceContext:
        """Stored sentences (``IndexStore.evidence_sentences``) in display order."""
        return cls(
            [
                EvidenceSentence(
                    label=f"S{number}",
                    sentence_id=row["id"],
                    filing_id=row["filing_id"],
                    filing=row["filing"],
                    page=row["page"],
                    section=row["section"],
                    start=row["start"],
                    end=row["end"],
                    kind=row["kind"],
                    text=row["text"],
                    company=row.get("company"),
                    fiscal_year=row.get("fiscal_year"),
                    fiscal_period=row.get("fiscal_period"),
                    form_type=row.get("form_type"),
                    table_title=row.get("table_title"),
                    table_scale=row.get("table_scale"),
                    table_header_rows=tuple(
                        tuple(str(cell) for cell in header)
                        for header in row.get("table_header_rows") or ()
                    ),
                    table_cells=tuple(
                        (str(text), tuple(str(part) for part in path))
                        for text, path in row.get("table_cells") or ()
                    ),
                    bbox=_box(row.get("bbox")),
                )
                for number, row in enumerate(rows, start=1)
            ]
        )


class Verdict(StrEnum):
    PASS = "pass"
    FAIL = "fail"


@dataclass(frozen=True, slots=True)
class RuleResult:
    rule_id: str
    verdict: Verdict
    reason: str
    score: float | None = None  # the entailment score, where the rule has one
    span: str | None = None  # the failing part of the claim or quote, for the critique


@dataclass
class ClaimReport:
    index: int
    claim: DraftClaim
    results: list[RuleResult]
    blocking_rules: frozenset[str]

    @property
    def passed(self) -> bool:
        return all(
            r.verdict is Verdict.PASS for r in self.results if r.rule_id in self.blocking_rules
        )

    @property
    def failures(self) -> list[RuleResult]:
        return [r for r in self.results if r.verdict is Verdict.FAIL]

    @property
    def verdicts(self) -> dict[str, str]:
        return {r.rule_id: r.verdict.value for r in self.results}


@dataclass
class VerificationReport:
    constitution_version: str
    judge_version: str
    claims: list[ClaimReport]
    answer_results: list[RuleResult]
    milliseconds: float

    @property
    def passed_claims(self) -> list[ClaimReport]:
        return [c for c in self.claims if c.passed]

    @property
    def all_passed(self) -> bool:
        return bool(self.claims) and all(c.passed for c in self.claims)

    @property
    def answer_supported(self) -> bool:
        return all(r.verdict is Verdict.PASS for r in self.answer_results)
