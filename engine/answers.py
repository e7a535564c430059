"""What an answer is once verified: the public answer and the full audit record behind it."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class Citation(BaseModel):
    sentence_id: str
    filing: str
    filing_id: str
    page: int = Field(description="Zero-indexed page of the filing.")
    section: str | None
    quote: str
    sentence_start: int = Field(description="Character offset of the sentence in the page text.")
    sentence_end: int
    quote_start: int | None = Field(
        default=None, description="Character offset of the quote in the page text, if exact."
    )
    quote_end: int | None = None
    box: tuple[float, float, float, float] | None = Field(
        default=None,
        description="The cited sentence's box on the PDF page, in PDF points (x0, y0, x1, y1) "
        "from the page's top left; null for HTML filings. The evidence package "
        "(GET /v1/answers/{id}/evidence) gives the quote's own boxes, one per printed line.",
    )


class Claim(BaseModel):
    text: str
    citations: list[Citation]
    verdicts: dict[str, str] = Field(description="Rule id → 'pass' | 'fail'.")
    reasons: dict[str, str] = Field(default_factory=dict)
    entailment: float | None = None


class Versions(BaseModel):
    index: str
    model: str
    adapter: str | None
    constitution: str
    judge: str


class Timings(BaseModel):
    queue_ms: float = Field(default=0.0, description="Waiting for a free answer worker.")
    retrieve_ms: float = 0.0
    generate_ms: float = 0.0
    verify_ms: float = 0.0
    total_ms: float = 0.0
    rounds: int = 0


class AnswerFields(BaseModel):
    """What the stored answer and the public one share: everything but the dropped claims."""

    id: str
    question: str
    answer: str
    refused: bool
    partial: bool = Field(description="Some generated claims failed verification and were dropped.")
    refusal_reason: str | None = None
    claims: list[Claim]
    constitution_version: str
    model: str
    drafted_by: str | None = Field(
        default=None,
        description="What drafted the delivered claims: the generator (its model version) or "
        "the statement lookup, which reads a plain line-item question's figure off its row.",
    )
    versions: Versions
    timings: Timings
    created_at: str


class Answer(AnswerFields):
    """A verified answer. A refusal is an answer too: ``refused`` with a reason and no claims.
    ``dropped_claims`` are the drafts that failed verification, kept for the audit record."""

    dropped_claims: list[Claim] = Field(default_factory=list)


class RetrievedChunk(BaseModel):
    chunk_id: str
    filing: str
    filing_id: str | None = None
    page: int
    section: str | None
    score: float


class Round(BaseModel):
    messages: list[dict[str, str]]
    raw_generation: str
    draft: dict[str, Any] | None
    report: list[dict[str, Any]]
    answer_checks: list[dict[str, Any]]
    generate_ms: float
    verify_ms: float
    error: str | None = Field(
        default=None, description="Why this round produced no draft (budget, schema)."
    )
    drafter: str | None = Field(
        default=None,
        description="What wrote this round's draft when it was not the generator (the "
        "statement lookup); its messages are the prompt the generator would have been given.",
    )


class AuditRecord(BaseModel):
    """Everything that produced an answer: what compliance reads and alignment trains on."""

    answer: Answer
    filters: dict[str, Any] | None
    retrieved: list[RetrievedChunk]
    context: list[dict[str, Any]]
    rounds: list[Round]
