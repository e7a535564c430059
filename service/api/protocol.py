"""Request and response bodies of the REST API: what clients send, and what they get back.

Stored records (``engine.answers``, ``service.log``, ``service.jobs``) stay separate from these
public shapes, so the database can change without changing the API, and no hash or internal
path leaks into a response.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator

from engine.answers import Answer, AnswerFields, Claim, RetrievedChunk, Round


def _storable(text: str) -> str:
    """Text the service can store, search and log: valid Unicode (JSON's "\\ud800" escapes
    decode to lone surrogates, which no database or encoder takes) and no NUL."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValueError(
            f"contains an unpaired surrogate ({text[exc.start : exc.end]!a}); send valid Unicode"
        ) from exc
    if "\x00" in text:
        raise ValueError("contains a NUL character")
    return text


# Every free text a client sends is checked once here, at the edge, like the question.
Text = Annotated[str, AfterValidator(_storable)]


class ErrorDetail(BaseModel):
    type: str = Field(description="Stable machine-readable error kind, e.g. 'answer_not_found'.")
    message: str = Field(description="What went wrong and what to do about it.")
    request_id: str | None = Field(default=None, description="Quote it when reporting a bug.")
    retry_after_seconds: float | None = Field(
        default=None, description="For 429 and 503: when a retry may succeed."
    )
    details: list[dict[str, Any]] | None = Field(
        default=None, description="Per-field problems of an invalid request."
    )


class ErrorEnvelope(BaseModel):
    """Every 4xx and 5xx response has this body."""

    error: ErrorDetail


class Filters(BaseModel):
    model_config = ConfigDict(extra="forbid")

    companies: list[Text] = Field(
        default_factory=list, max_length=20, description="Company names or tickers."
    )
    fiscal_years: list[int] = Field(default_factory=list, max_length=20)
    quarter: int | None = Field(default=None, ge=1, le=4)
    form: Literal["10-K", "10-Q", "8-K"] | None = None
    filings: list[Text] = Field(
        default_factory=list, max_length=50, description="Filing ids or names (GET /v1/filings)."
    )

    @field_validator("fiscal_years")
    @classmethod
    def _plausible_years(cls, years: list[int]) -> list[int]:
        for year in years:
            if not 1990 <= year <= 2100:
                raise ValueError(f"{year} is not a fiscal year")
        return years

    @field_validator("companies", "filings")
    @classmethod
    def _short_names(cls, names: list[str]) -> list[str]:
        for name in names:
            if not name.strip() or len(name) > 200:
                raise ValueError("names must be 1 to 200 characters")
        return names


class AnswerRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    question: Text = Field(min_length=1, description="The analyst's question.")
    filters: Filters | None = Field(
        default=None, description="Restrict retrieval; without, the question's own are used."
    )
    top_k: int | None = Field(
        default=None, ge=1, le=50, description="Chunks retrieved for the context."
    )
    stream: bool = Field(
        default=False,
        description="Server-Sent Events: progress, then each verified claim, then the answer.",
    )

    @field_validator("question")
    @classmethod
    def _not_blank(cls, question: str) -> str:
        question = question.strip()
        if not question:
            raise ValueError("the question is empty")
        return question


class DroppedClaimPublic(BaseModel):
    """A drafted claim that failed verification, as a client sees it: which rules it failed.
    Its text is a draft, and draft text never leaves the service; compliance reads it in the
    audit record."""

    failed_rules: list[str] = Field(description="Ids of the constitution rules it failed.")


class AnswerPublic(AnswerFields):
    """The verified answer. ``refused`` answers are normal answers with a reason."""

    dropped_claims: list[DroppedClaimPublic] = Field(
        default_factory=list, description="Claims that failed verification: rule ids only."
    )

    @classmethod
    def of(cls, answer: Answer) -> AnswerPublic:
        return cls(
            **answer.model_dump(exclude={"dropped_claims"}),
            dropped_claims=[
                DroppedClaimPublic(
                    failed_rules=[
                        rule for rule, verdict in claim.verdicts.items() if verdict != "pass"
                    ]
                )
                for claim in answer.dropped_claims
            ],
        )


class FeedbackPublic(BaseModel):
    id: str
    answer_id: str
    created_at: datetime
    user_id: str
    role: str
    rating: int | None
    comment: str | None
    claim_labels: list[dict[str, Any]]
    corrected_answer: str | None
    other_answer_id: str | None
    preferred: str | None


class AuditRecordPublic(BaseModel):
    """Everything that produced an answer, with who asked and the feedback given on it. The
    drafts (each round's prompt, raw generation, draft and verifier report, and the text of
    the claims that failed) are in it for the compliance role only: ``rounds`` and
    ``dropped_claims`` are null for the analyst who asked."""

    answer: AnswerPublic
    filters: dict[str, Any] | None
    retrieved: list[RetrievedChunk]
    context: list[dict[str, Any]]
    rounds: list[Round] | None = Field(
        description="Compliance only: prompts, raw generations, drafts, verifier reports."
    )
    dropped_claims: list[Claim] | None = Field(
        description="Compliance only: the claims that failed verification, with their text."
    )
    user_id: str | None
    feedback: list[FeedbackPublic]


class AnswerSummary(BaseModel):
    id: str
    created_at: datetime
    user_id: str | None
    question: str
    outcome: Literal["answered", "partial", "refused"]
    model: str
    adapter: str | None
    constitution_version: str
    index_version: str


class AnswerPage(BaseModel):
    items: list[AnswerSummary]
    next_cursor: str | None = Field(description="Pass as ?cursor= for the next page.")


class ClaimLabel(BaseModel):
    model_config = ConfigDict(extra="forbid")

    claim_index: int = Field(ge=0, le=100, description="Index into the answer's claims.")
    label: Literal["supported", "unsupported", "wrong_citation"]


class Preference(BaseModel):
    model_config = ConfigDict(extra="forbid")

    other_answer_id: Text = Field(min_length=1, max_length=64)
    preferred: Literal["this", "other"]


class FeedbackCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    rating: int | None = Field(default=None, ge=1, le=5)
    comment: Text | None = Field(default=None, max_length=4000)
    claim_labels: list[ClaimLabel] = Field(default_factory=list, max_length=100)
    corrected_answer: Text | None = Field(default=None, min_length=1, max_length=4000)
    preference: Preference | None = Field(
        default=None, description="Which of two answers to the same question is better."
    )

    @model_validator(mode="after")
    def _says_something(self) -> FeedbackCreate:
        if (
            self.rating is None
            and not (self.comment or "").strip()
            and not self.claim_labels
            and self.corrected_answer is None
            and self.preference is None
        ):
            raise ValueError(
                "feedback needs a rating, a comment, claim labels, a corrected answer or a "
                "preference"
            )
        indices = [label.claim_index for label in self.claim_labels]
        if len(set(indices)) != len(indices):
            raise ValueError("each claim may be labelled once")
        return self


class FilingPublic(BaseModel):
    id: str
    name: str
    company: str | None
    form_type: str | None
    fiscal_year: int | None
    fiscal_period: str | None
    period_end: str | None
    pages: int


class FilingList(BaseModel):
    items: list[FilingPublic]
    index_version: str


class JobPublic(BaseModel):
    id: str
    kind: Literal["ingest", "delete"]
    status: Literal["queued", "running", "done", "failed"]
    filing_name: str
    filing_id: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    error: str | None
    result: dict[str, Any] | None


class JobList(BaseModel):
    items: list[JobPublic]


class AssignmentCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reviewers: list[Text] = Field(
        min_length=1,
        max_length=10,
        description="Key ids of compliance reviewers (GET /v1/keys); two or more for double "
        "review.",
    )


class Assignments(BaseModel):
    answer_id: str
    reviewers: list[str] = Field(description="Everyone the answer is assigned to, in order.")


class KeyCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    role: Literal["analyst", "compliance", "admin"]
    name: Text = Field(min_length=1, max_length=200)


class KeyPublic(BaseModel):
    id: str
    name: str
    role: str
    created_at: datetime
    revoked_at: datetime | None


class KeyCreated(KeyPublic):
    key: str = Field(description="The key itself. Shown once; only its hash is stored.")


class KeyList(BaseModel):
    items: list[KeyPublic]


class Health(BaseModel):
    status: Literal["ok"]


class Readiness(BaseModel):
    ready: bool = Field(
        description="Ready to serve: database, models and generator up. An empty index is "
        "ready (it takes the first upload); questions wait for ``has_filings``."
    )
    has_filings: bool = Field(description="Whether the index holds a filing to answer from.")
    checks: dict[str, str] = Field(description="Component → 'ok', 'empty' or what is wrong.")
    versions: dict[str, Any] | None = None
