"""The answer pipeline: retrieve → generate → verify → critique and revise → deliver or refuse.

Only claims that pass every blocking rule of the constitution leave this module. If the
verifier cannot run, ``VerifierUnavailableError`` propagates and nothing is delivered (fail
closed); a generator that cannot be reached raises ``GeneratorUnavailableError``. When no
claim survives, the answer is an explicit refusal, which is an ordinary answer.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import re
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError

from engine.answers import (
    Answer,
    AuditRecord,
    Citation,
    Claim,
    RetrievedChunk,
    Round,
    Timings,
    Versions,
)
from engine.drafter import AnswerEngine
from engine.errors import (
    AnswerEngineError,
    GeneratorFailedError,
    GeneratorOutputError,
    VerifierUnavailableError,
)
from engine.generation import (
    Generation,
    Generator,
    OutputConstraint,
    build_constraint,
    build_messages,
)
from engine.lookup import MetricCalculator, StatementLookup
from engine.question import Question
from engine.statement_asks import StatementAsk, read_statement_ask
from ingest.store import IndexStore
from retrieval.catalog import QueryFilters
from retrieval.query import SearchQuery, read_query
from retrieval.sentences import SentenceRanker
from retrieval.types import Retriever, ScoredChunk
from verifier.asked import AskedQuestion, MeaningVocabulary, as_asked
from verifier.checks import Verifier, critique
from verifier.errors import VerifierError
from verifier.types import (
    INSUFFICIENT_EVIDENCE,
    ClaimReport,
    DraftAnswer,
    EvidenceContext,
    EvidenceSentence,
    VerificationReport,
)

logger = logging.getLogger(__name__)

_CITABLE_KINDS = {"prose", "table_row"}

# Progress of one answer, for streaming clients: (event name, JSON-ready details). Nothing sent
# through it is a claim: claims leave only in the delivered, verified answer.
ProgressCallback = Callable[[str, dict[str, Any]], None]


def _says_something(text: str) -> bool:
    """Leaves out fragments nobody can cite for a fact: a lone label ("Revenue", "Assets")
    or a column heading. A row with figures or a sentence of four words or more stays."""
    words = text.split()
    return len(words) >= 4 or (len(words) >= 2 and any(ch.isdigit() for ch in text))


@dataclass(frozen=True, slots=True)
class PipelineConfig:
    context_chunks: int = 12
    context_max_sentences: int = 24
    max_new_tokens: int = 400
    max_claims: int = 3
    revision_rounds: int = 1
    adapter: str | None = None
    # Chunks searched for a lookup's or a calculation's rows when the context's do not hold
    # them: a metric's inputs sit on two or three statements, below the first dozen chunks.
    lookup_chunks: int = 40
    # Seconds of work one answer may take (queueing excluded); past it the answer is refused
    # at the next stage boundary instead of holding a worker. None: no limit.
    deadline_seconds: float | None = 240.0


@dataclass(frozen=True, slots=True)
class Deadline:
    """When an answer's time is up. Checked between stages (retrieval, drafting, each
    generation round, verification): no stage is interrupted midway, so every stage must
    itself be bounded (inputs are capped in size; generation by its token budget)."""

    seconds: float | None
    ends: float

    @classmethod
    def after(cls, seconds: float | None) -> Deadline:
        return cls(seconds, math.inf if seconds is None else time.monotonic() + seconds)

    def passed(self) -> bool:
        return time.monotonic() > self.ends

    def check(self, stage: str) -> None:
        if self.passed():
            raise DeadlinePassedError(stage, self.seconds or 0.0)


class DeadlinePassedError(Exception):
    """The answer ran past its deadline; it is refused, not left running."""

    def __init__(self, stage: str, seconds: float) -> None:
        super().__init__(
            f"the answer took longer than the service's {seconds:g}-second limit (stopped "
            f"after {stage}); ask a narrower question"
        )
        self.stage = stage


def filters_dump(filters: QueryFilters | None) -> dict[str, Any] | None:
    if filters is None:
        return None
    return {
        "companies": sorted(filters.companies),
        "fiscal_years": sorted(filters.fiscal_years),
        "quarter": filters.quarter,
        "form": filters.form.value if filters.form else None,
        "filings": sorted(filters.filings),
        "dates": [day.isoformat() for day in sorted(filters.dates)],
    }


def answer_id(question: str, filters: dict[str, Any] | None, versions: Versions, at: str) -> str:
    digest = hashlib.blake2b(digest_size=12)
    for part in (question, json.dumps(filters, sort_keys=True), versions.model_dump_json(), at):
        digest.update(part.encode())
        digest.update(b"\x00")
    return "a" + digest.hexdigest()


def _quote_offsets(sentence: EvidenceSentence, quote: str) -> tuple[int | None, int | None]:
    """Where the quote sits in the page text. The quote matches the sentence up to
    whitespace (a statement row is stored with a line per cell), so its words are found with
    any whitespace between them."""
    words = quote.split()
    if not words:
        return None, None
    match = re.search(r"\s+".join(re.escape(word) for word in words), sentence.text)
    if match is None:
        return None, None
    return sentence.start + match.start(), sentence.start + match.end()


class AnswerPipeline:
    def __init__(
        self,
        store: IndexStore,
        retriever: Retriever,
        generator: Generator,
        verifier: Verifier,
        config: PipelineConfig | None = None,
        sentence_ranker: SentenceRanker | None = None,
        lookup: StatementLookup | None = None,
        calculator: MetricCalculator | None = None,
        engine: AnswerEngine | None = None,
    ) -> None:
        self.store = store
        self.retriever = retriever
        self.generator = generator
        self.verifier = verifier
        self.config = config or PipelineConfig()
        self.sentence_ranker = sentence_ranker
        self.lookup = lookup
        self.calculator = calculator
        self.engine = engine

    def warm_up(self) -> None:
        self.retriever.warm_up()
        if self.sentence_ranker is not None:
            self.sentence_ranker.warm_up()
        try:
            self.verifier.warm_up()
        except VerifierError as exc:
            raise VerifierUnavailableError(str(exc)) from exc
        self.generator.warm_up()

    def build_context(self, chunks: list[ScoredChunk], question: str = "") -> EvidenceContext:
        rows = self._citable_rows(chunks, read_query(question) if question else None)
        return EvidenceContext.from_rows(rows[: self.config.context_max_sentences])

    def _citable_rows(
        self, chunks: list[ScoredChunk], question: SearchQuery | None
    ) -> list[dict[str, Any]]:
        """The retrieved chunks' citable sentences, best first for the question (in retrieval's
        order where none is given)."""
        wanted: list[str] = []
        seen: set[str] = set()
        for chunk in chunks:
            for sentence_id in chunk.sentence_ids:
                if sentence_id not in seen:
                    seen.add(sentence_id)
                    wanted.append(sentence_id)
        rows = [
            row
            for row in self.store.evidence_sentences(wanted)
            if row["kind"] in _CITABLE_KINDS and _says_something(row["text"])
        ]
        if self.sentence_ranker is not None and question is not None:
            rows = [rows[i] for i in self.sentence_ranker.rank(question, rows)]
        return rows

    def _drafts_from_rows(self, ask: StatementAsk) -> bool:
        lookup = self.lookup is not None and ask.line_item_year is not None
        calculation = self.calculator is not None and ask.computes
        return lookup or calculation

    def _lookup_draft(
        self,
        ask: StatementAsk,
        rows: list[dict[str, Any]],
        more_rows: list[dict[str, Any]] | None = None,
    ) -> tuple[EvidenceContext, DraftAnswer, str] | None:
        """The statement lookup's draft (or the metric calculator's), the context it cites
        and what drafted it, when a retrieved row settles a plain line-item question or the
        rows of a defined metric's inputs do. Cited rows that rank below the generator's
        context cut are added at its end, so the generator, the verifier and the log all see
        one context."""
        if self.lookup is None:
            return None
        known = {row["id"] for row in rows}
        searched = rows + [r for r in more_rows or [] if r["id"] not in known]
        everything = EvidenceContext.from_rows(searched)
        drafter = self.lookup.version
        draft: DraftAnswer | None = None
        if found := self.lookup.find(ask, everything):
            draft = self.lookup.draft(ask, found)
        elif self.calculator is not None:
            draft = self.calculator.draft(ask, list(everything))
            drafter = self.calculator.version
        if draft is None:
            return None

        def sentence_id(label: str) -> str | None:
            sentence = everything.get(label)
            return sentence.sentence_id if sentence is not None else None

        cited = {
            stored
            for claim in draft.claims
            for citation in claim.citations
            if (stored := sentence_id(citation.sentence_id)) is not None
        }
        context = self._context_citing(rows, [r for r in searched if r["id"] in cited])
        # The draft cited the labels of every retrieved sentence; the context's differ.
        _relabel(draft, sentence_id, context)
        return context, draft, drafter

    def _engine_draft(
        self, question: Question | None, rows: list[dict[str, Any]]
    ) -> tuple[EvidenceContext, DraftAnswer, str] | None:
        """The answer engine's draft (a plan over the retrieved tables and prose, executed),
        with the context it cites: the ranked rows, then any cited row below their cut."""
        if self.engine is None or question is None:
            return None
        found = self.engine.draft(question, rows)
        if found is None:
            return None
        context = self._context_citing(rows, self.store.evidence_sentences(found.cited))
        draft = found.draft.model_copy(deep=True)
        _relabel(draft, lambda stored_id: stored_id, context)  # it cites stored ids
        return context, draft, self.engine.version

    def _context_citing(
        self, rows: list[dict[str, Any]], cited: list[dict[str, Any]]
    ) -> EvidenceContext:
        """The ranked rows the generator is shown, then each cited row below their cut, so
        the generator, the verifier and the log all see one context."""
        shown = rows[: self.config.context_max_sentences]
        shown_ids = {row["id"] for row in shown}
        shown += [row for row in cited if row["id"] not in shown_ids]
        return EvidenceContext.from_rows(shown)

    def _meaning_vocabulary(self) -> MeaningVocabulary:
        """The words this pipeline's constitution reads a question's meaning in."""
        return MeaningVocabulary.of_constitution(self.verifier.constitution)

    def versions(self) -> Versions:
        return Versions(
            index=self.store.index_version,
            model=self.generator.model_version,
            adapter=self.config.adapter,
            constitution=self.verifier.constitution.version_id,
            judge=self.verifier.judge.version,
        )

    def answer(
        self,
        question: str,
        filters: QueryFilters | None = None,
        top_k: int | None = None,
        on_progress: ProgressCallback | None = None,
    ) -> AuditRecord:
        """``top_k``: chunks retrieved for the context (default: the configured number). An
        answer that runs past ``config.deadline_seconds`` is refused with the reason."""
        started = time.perf_counter()
        deadline = Deadline.after(self.config.deadline_seconds)
        created_at = datetime.now(UTC).isoformat(timespec="microseconds")
        filter_dump = filters_dump(filters)
        timings = Timings()
        chunks: list[ScoredChunk] = []
        rounds: list[Round] = []
        context = EvidenceContext([])
        try:
            # The question read once: the engine's reading, which holds retrieval's, where an
            # engine drafts; retrieval's alone otherwise.
            read_question = self.engine.read(question) if self.engine is not None else None
            search = read_question.search if read_question is not None else read_query(question)
            # The question as the verifier reads it: the engine reader's reading where there is
            # an engine, else read here; every round verifies against this one reading.
            asked = as_asked(
                read_question.asked if read_question is not None else question,
                self._meaning_vocabulary(),
            )
            ask = (
                read_question.statement_ask
                if read_question is not None
                else read_statement_ask(question, asked)
            )
            chunks = self.retriever.retrieve(search, top_k or self.config.context_chunks, filters)
            timings.retrieve_ms = 1000 * (time.perf_counter() - started)
            deadline.check("retrieval")
            rows = self._citable_rows(chunks, search)
            looked_up = self._lookup_draft(ask, rows)
            if looked_up is None and self._drafts_from_rows(ask):
                deeper_started = time.perf_counter()
                deeper = self.retriever.retrieve(search, self.config.lookup_chunks, filters)
                timings.retrieve_ms += 1000 * (time.perf_counter() - deeper_started)
                # Unranked: only the lookup reads these; the context stays the ranked first rows.
                looked_up = self._lookup_draft(ask, rows, self._citable_rows(deeper, None))
            if looked_up is None and (engine_drafted := self._engine_draft(read_question, rows)):
                looked_up = engine_drafted
            deadline.check("the statement lookup")
            context = (
                looked_up[0]
                if looked_up
                else EvidenceContext.from_rows(rows[: self.config.context_max_sentences])
            )
            if on_progress is not None:
                on_progress(
                    "retrieved",
                    {
                        "chunks": len(chunks),
                        "sentences": len(context.sentences),
                        "filings": sorted({c.filing for c in chunks}),
                        "retrieve_ms": round(timings.retrieve_ms, 1),
                    },
                )
            best: Drafted | None = None
            if context.sentences:
                best = self._generate_and_verify(
                    question,
                    asked,
                    context,
                    rounds,
                    timings,
                    deadline,
                    on_progress,
                    looked_up[1:] if looked_up else None,
                )
            versions = self.versions()
            answer = self._deliver(
                question, context, best, versions, timings, created_at, filter_dump, rounds
            )
        except DeadlinePassedError as exc:
            answer = self._refusal(
                str(exc), self._common(question, self.versions(), timings, created_at, filter_dump)
            )
        timings.total_ms = 1000 * (time.perf_counter() - started)
        answer.timings = timings
        return AuditRecord(
            answer=answer,
            filters=filter_dump,
            retrieved=[
                RetrievedChunk(
                    chunk_id=c.chunk_id,
                    filing=c.filing,
                    filing_id=c.filing_id,
                    page=c.page,
                    section=c.section,
                    score=c.score,
                )
                for c in chunks
            ],
            context=[asdict(s) for s in context],
            rounds=rounds,
        )

    def _generate_and_verify(
        self,
        question: str,
        asked: AskedQuestion,
        context: EvidenceContext,
        rounds: list[Round],
        timings: Timings,
        deadline: Deadline,
        on_progress: ProgressCallback | None = None,
        lookup_draft: tuple[DraftAnswer, str] | None = None,
    ) -> Drafted | None:
        """The statement lookup's draft first, when there is one: delivered if it verifies;
        otherwise the generator drafts and revises as if it had not been tried."""
        best: Drafted | None = None
        if lookup_draft is not None:
            best = self._verify_lookup(question, asked, context, *lookup_draft, rounds, timings)
            self._report_round(on_progress, rounds, best.report, 0.0, best.drafter)
            if best.report.all_passed and best.report.answer_supported:
                return best
        constraint = build_constraint(context, self.config.max_claims)
        critique_text: str | None = None
        previous: str | None = None
        for number in range(self.config.revision_rounds + 1):
            if best is not None and deadline.passed():
                break  # no time to revise: what earlier rounds verified is delivered or refused
            deadline.check("drafting" if number == 0 else f"generation round {number}")
            messages = build_messages(question, context, critique_text, previous)
            generate_started = time.perf_counter()
            try:
                generation = self._generate(messages, constraint)
                draft = DraftAnswer.model_validate_json(generation.text)
            except (GeneratorOutputError, ValidationError) as exc:
                # A generation cut off by its budget or outside the schema is a round without
                # a draft; what earlier rounds verified still stands.
                elapsed = 1000 * (time.perf_counter() - generate_started)
                timings.generate_ms += elapsed
                timings.rounds += 1
                error = (
                    f"the generator's output is not an answer in the schema: {exc.errors()[:2]}"
                    if isinstance(exc, ValidationError)
                    else str(exc)
                )
                rounds.append(
                    Round(
                        messages=messages,
                        raw_generation="",
                        draft=None,
                        report=[],
                        answer_checks=[],
                        generate_ms=elapsed,
                        verify_ms=0.0,
                        error=error,
                    )
                )
                break
            timings.generate_ms += 1000 * generation.seconds
            report, verify_ms = self._verify(draft, context, asked, timings)
            timings.rounds += 1
            rounds.append(
                Round(
                    messages=messages,
                    raw_generation=generation.text,
                    draft=draft.model_dump(),
                    report=[_report_dump(c) for c in report.claims],
                    answer_checks=[_result_dump(r) for r in report.answer_results],
                    generate_ms=1000 * generation.seconds,
                    verify_ms=verify_ms,
                )
            )
            self._report_round(
                on_progress, rounds, report, 1000 * generation.seconds, self.generator.model_version
            )
            if best is None or _rank(report) >= _rank(best.report):
                best = Drafted(draft, report, self.generator.model_version)
            if draft.insufficient_evidence and not draft.claims:
                break  # the model declined; a critique has nothing to revise
            if report.all_passed and report.answer_supported:
                break
            critique_text = critique(report, self.verifier.constitution)
            previous = generation.text
        return best

    @staticmethod
    def _report_round(
        on_progress: ProgressCallback | None,
        rounds: list[Round],
        report: VerificationReport,
        generate_ms: float,
        drafter: str,
    ) -> None:
        if on_progress is None:
            return
        on_progress(
            "round",
            {
                "round": len(rounds),
                "drafted_by": drafter,
                "claims": len(report.claims),
                "verified": len(report.passed_claims),
                "answer_supported": report.answer_supported,
                "generate_ms": round(generate_ms, 1),
                "verify_ms": round(rounds[-1].verify_ms, 1),
            },
        )

    def _generate(self, messages: list[dict[str, str]], constraint: OutputConstraint) -> Generation:
        """One generation; a failure of the backend's own (not one the Generator seam names)
        is this request's ``GeneratorFailedError``, never an unhandled 500."""
        try:
            return self.generator.generate(messages, constraint, self.config.max_new_tokens)
        except (AnswerEngineError, DeadlinePassedError):
            raise
        except Exception as exc:
            logger.exception("the generator failed")
            raise GeneratorFailedError(
                f"the generator failed on this question ({type(exc).__name__}); retry, and "
                "quote the request id if it keeps failing"
            ) from exc

    def _verify(
        self, draft: DraftAnswer, context: EvidenceContext, asked: AskedQuestion, timings: Timings
    ) -> tuple[VerificationReport, float]:
        """The verifier's report and its milliseconds; fail closed when it cannot run."""
        started = time.perf_counter()
        try:
            report = self.verifier.verify(draft, context, asked)
        except VerifierError as exc:
            raise VerifierUnavailableError(f"the verifier could not run: {exc}") from exc
        except Exception as exc:
            # A rule that breaks on some draft must fail closed like a judge that cannot load:
            # nothing unverified is delivered, and the client gets the typed 503.
            logger.exception("the verifier failed on a draft")
            raise VerifierUnavailableError(
                f"the verifier failed on this answer ({type(exc).__name__}); the failure is "
                "logged with the request id"
            ) from exc
        verify_ms = 1000 * (time.perf_counter() - started)
        timings.verify_ms += verify_ms
        return report, verify_ms

    def _verify_lookup(
        self,
        question: str,
        asked: AskedQuestion,
        context: EvidenceContext,
        draft: DraftAnswer,
        drafter: str,
        rounds: list[Round],
        timings: Timings,
    ) -> Drafted:
        report, verify_ms = self._verify(draft, context, asked, timings)
        rounds.append(
            Round(
                # The prompt the generator would have been given, so that alignment can teach
                # it the verified lookup.
                messages=build_messages(question, context, None, None),
                raw_generation=draft.model_dump_json(),
                draft=draft.model_dump(),
                report=[_report_dump(c) for c in report.claims],
                answer_checks=[_result_dump(r) for r in report.answer_results],
                generate_ms=0.0,
                verify_ms=verify_ms,
                drafter=drafter,
            )
        )
        return Drafted(draft, report, drafter)

    def reverify(self, record: AuditRecord) -> Answer:
        """The answer a logged record's own generations would get from this pipeline's
        verifier: what a new constitution or judge changes, without generating again."""
        context = EvidenceContext([EvidenceSentence.from_dump(item) for item in record.context])
        question = record.answer.question
        asked = as_asked(question, self._meaning_vocabulary())  # read once, for every round
        best: Drafted | None = None
        for logged in record.rounds:
            if logged.draft is None:
                continue
            draft = DraftAnswer.model_validate(logged.draft)
            report = self.verifier.verify(draft, context, asked)
            drafter = logged.drafter or record.answer.model
            if logged.drafter is not None and report.all_passed and report.answer_supported:
                best = Drafted(draft, report, drafter)
                break  # a verified lookup is delivered without asking the generator
            if best is None or _rank(report) >= _rank(best.report):
                best = Drafted(draft, report, drafter)
        versions = record.answer.versions.model_copy(
            update={
                "constitution": self.verifier.constitution.version_id,
                "judge": self.verifier.judge.version,
            }
        )
        return self._deliver(
            question,
            context,
            best,
            versions,
            record.answer.timings,
            record.answer.created_at,
            record.filters,
            record.rounds,
        )

    def _claim(self, report: ClaimReport, context: EvidenceContext) -> Claim:
        citations = []
        for citation in report.claim.citations:
            sentence = context.get(citation.sentence_id)
            if sentence is None:
                continue
            quote_start, quote_end = _quote_offsets(sentence, citation.quote)
            citations.append(
                Citation(
                    sentence_id=sentence.sentence_id,
                    filing=sentence.filing,
                    filing_id=sentence.filing_id,
                    page=sentence.page,
                    section=sentence.section,
                    quote=citation.quote,
                    sentence_start=sentence.start,
                    sentence_end=sentence.end,
                    quote_start=quote_start,
                    quote_end=quote_end,
                    box=sentence.bbox,
                )
            )
        entailment = next((r.score for r in report.results if r.score is not None), None)
        return Claim(
            text=report.claim.text,
            citations=citations,
            verdicts=report.verdicts,
            reasons={r.rule_id: r.reason for r in report.results},
            entailment=entailment,
        )

    @staticmethod
    def _common(
        question: str,
        versions: Versions,
        timings: Timings,
        created_at: str,
        filters: dict[str, Any] | None,
    ) -> dict[str, Any]:
        """What every answer states, delivered or refused."""
        return {
            "id": answer_id(question, filters, versions, created_at),
            "question": question,
            "constitution_version": versions.constitution,
            "model": versions.model,
            "versions": versions,
            "timings": timings,
            "created_at": created_at,
        }

    @staticmethod
    def _refusal(reason: str, common: dict[str, Any], dropped: list[Claim] | None = None) -> Answer:
        return Answer(
            answer=INSUFFICIENT_EVIDENCE,
            refused=True,
            partial=False,
            refusal_reason=reason,
            claims=[],
            dropped_claims=dropped or [],
            **common,
        )

    def _deliver(
        self,
        question: str,
        context: EvidenceContext,
        best: Drafted | None,
        versions: Versions,
        timings: Timings,
        created_at: str,
        filters: dict[str, Any] | None,
        rounds: list[Round],
    ) -> Answer:
        common = self._common(question, versions, timings, created_at, filters)
        if best is None:
            # A round's error may quote the generation; it stays in the audit record.
            reason = (
                "the generator produced no answer that could be checked (cut off by its token "
                "budget or outside the answer schema)"
                if any(r.error for r in rounds)
                else "retrieval found no citable sentence for this question"
            )
            return self._refusal(reason, common)
        draft, report = best.draft, best.report
        common["drafted_by"] = best.drafter
        kept = [self._claim(c, context) for c in report.claims if c.passed]
        dropped = [self._claim(c, context) for c in report.claims if not c.passed]
        if not kept:
            reason = (
                "the generator found no supporting evidence in the retrieved filings"
                if draft.insufficient_evidence and not draft.claims
                else "no generated claim passed verification against its cited evidence"
            )
            return self._refusal(reason, common, dropped)
        if not report.answer_supported:
            # Verified claims that do not establish the direct answer are not an answer: a
            # true but beside-the-point quote delivered as one would mislead the analyst.
            failure = next(r for r in report.answer_results if r.verdict.value == "fail")
            # The rule's own reason may quote the draft; it stays in the audit record.
            reason = (
                f"the verified claims do not establish the answer (rule {failure.rule_id}); "
                "the audit record holds the verifier's detail"
            )
            return self._refusal(reason, common, kept + dropped)
        return Answer(
            answer=draft.answer,
            refused=False,
            partial=bool(dropped),
            claims=kept,
            dropped_claims=dropped,
            **common,
        )


@dataclass(frozen=True, slots=True)
class Drafted:
    """A verified draft and what wrote it: the generator's model version or the lookup's."""

    draft: DraftAnswer
    report: VerificationReport
    drafter: str


def _relabel(
    draft: DraftAnswer, sentence_id: Callable[[str], str | None], context: EvidenceContext
) -> None:
    """Point the draft's citations at the context's labels; ``sentence_id`` says which stored
    sentence a citation names now (None: leave it as it is)."""
    label_of = {s.sentence_id: s.label for s in context}
    for claim in draft.claims:
        for citation in claim.citations:
            if (stored := sentence_id(citation.sentence_id)) is not None:
                citation.sentence_id = label_of[stored]


def _rank(report: VerificationReport) -> tuple[bool, int]:
    """Rounds compare by whether they can be delivered, then by verified claims; a later round
    wins a tie because it answered the critique."""
    deliverable = bool(report.passed_claims) and report.answer_supported
    return deliverable, len(report.passed_claims)


def _result_dump(result: Any) -> dict[str, Any]:
    return {
        "rule_id": result.rule_id,
        "verdict": result.verdict.value,
        "reason": result.reason,
        "score": result.score,
        "span": result.span,
    }


def _report_dump(report: ClaimReport) -> dict[str, Any]:
    return {
        "index": report.index,
        "claim": report.claim.model_dump(),
        "passed": report.passed,
        "results": [_result_dump(r) for r in report.results],
    }
