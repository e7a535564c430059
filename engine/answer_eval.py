"""``verirag eval answers``: verified answers against FinanceBench gold answers.

Every question counts in every denominator: a refusal is neither correct nor wrong, and a
question whose pipeline raised is counted as failed. Correctness is decided by a matcher that
is not the verifier under test: figures by value (scale-free, 1% tolerance, so "$1,577 million"
matches a gold "$1577.00" asked "in USD millions"), a short gold name by the answer naming it
word for word, and other answers without figures by the cosine of MiniLM sentence
embeddings. Citation precision and recall follow ALCE, judged by the entailment judge: recall
— the claim is entailed by its citations together; precision — a citation entails the claim
alone, or the claim is no longer entailed without it.
"""

from __future__ import annotations

import json
import re
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine.answers import Answer, AuditRecord
from engine.evaluate import Score, answer_parts, score_answer
from engine.pipeline import AnswerPipeline
from retrieval.catalog import QueryFilters
from retrieval.evaluate import load_questions
from verifier.asked import read_asked
from verifier.nli import EntailmentJudge, support
from verifier.numbers import normalise_text, quantities

RELATIVE_TOLERANCE = 0.01
TEXT_MATCH_COSINE = 0.75
_SCALE_RATIOS = (1.0, 1e3, 1e6, 1e9, 1e-3, 1e-6, 1e-9)


@dataclass(frozen=True)
class TatqaGold:
    """TAT-QA's own gold: the answer spans or figure, its scale and its answer type."""

    answers: tuple[str, ...]
    scale: str
    answer_type: str


@dataclass
class GoldQuestion:
    id: str
    question: str
    filing: str
    answer: str
    evidence_pages: frozenset[tuple[str, int]]
    tatqa: TatqaGold | None = None


def load_gold(path: Path) -> list[GoldQuestion]:
    answers = {}
    tatqa: dict[str, TatqaGold] = {}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if line.strip():
            record = json.loads(line)
            key = str(record.get("financebench_id") or record.get("id") or number)
            answers[key] = str(record.get("answer", ""))
            if "tatqa_answer" in record:
                given = record["tatqa_answer"]
                spans = given if isinstance(given, list) else [given]
                tatqa[key] = TatqaGold(
                    tuple(str(s) for s in spans),
                    str(record.get("scale") or ""),
                    str(record.get("answer_type") or ""),
                )
    return [
        GoldQuestion(
            q.id, q.question, q.filing, answers.get(q.id, ""), q.evidence_pages, tatqa.get(q.id)
        )
        for q in load_questions(path)
    ]


def figures_match(gold: str, delivered: str) -> bool | None:
    """True/False when the gold answer states a figure; None when it states none. The
    delivered direct answer's figures are compared with the gold figures of the same kind
    (a percentage with a percentage), scale-free, within 1%."""
    wanted = quantities(gold)
    if not wanted:
        return None
    for offered in quantities(delivered):
        for gold_figure in wanted:
            if offered.percent != gold_figure.percent:
                continue
            target = abs(gold_figure.number)
            for ratio in _SCALE_RATIOS:
                for value in (offered.value, offered.number):
                    scaled = abs(value) * ratio
                    if abs(scaled - target) <= RELATIVE_TOLERANCE * max(target, 1e-9):
                        return True
    return False


def match_answer(
    gold: str,
    delivered: str,
    text_similarity: Callable[[str, str], float],
    question: str = "",
) -> tuple[str, str]:
    """("correct" | "incorrect", how it was decided) for a delivered direct answer. A yes/no
    question is answered by its polarity, which embeddings barely see ("Yes, it grew" and
    "No, it did not grow" sit close), and by the figures too where the gold states them; a
    question that lists the items it asks about ("Among operations, investing, and financing
    activities, which …") by the one item each names; otherwise by figures, and answers
    without figures by embedding similarity."""
    chosen = (named_choice(question, gold), named_choice(question, delivered))
    if None not in chosen:
        return ("correct" if chosen[0] == chosen[1] else "incorrect"), "named-choice"
    polarity = (opening_polarity(gold), opening_polarity(delivered))
    if None not in polarity:
        if polarity[0] != polarity[1]:
            return "incorrect", "polarity"
        if figures_match(gold, delivered) is False:
            return "incorrect", "polarity+figures"
        return "correct", "polarity"
    by_figures = figures_match(gold, delivered)
    if by_figures is not None:
        return ("correct" if by_figures else "incorrect"), "figures"
    if names_the_gold(gold, delivered):
        return "correct", "names-the-gold"
    similar = text_similarity(gold, delivered) >= TEXT_MATCH_COSINE
    return ("correct" if similar else "incorrect"), "embedding-cosine"


def named_choice(question: str, answer: str) -> str | None:
    """The one item of those a question lists that an answer names ("cash flow from
    operations was the highest" names "operations" of "operations, investing, and financing
    activities"); None when the question lists none, or the answer names none or several."""
    asked = read_asked(question).ranking
    if asked is None:
        return None
    words = set(_WORD.findall(normalise_text(answer).lower()))
    named = [a for a in asked.alternatives if set(_WORD.findall(a.lower())) <= words]
    return named[0] if len(named) == 1 else None


_WORD = re.compile(r"[a-z0-9&]+")
SHORT_GOLD_WORDS = 4


def names_the_gold(gold: str, delivered: str) -> bool:
    """Whether a short gold answer that is a name ("Customer deposits", "Cross currency
    swaps") is named, word for word, in the delivered answer. An embedding of a two-word
    name sits far from a sentence that names it and adds its amount (cosine 0.58)."""
    wanted = _WORD.findall(normalise_text(gold).lower())
    offered = set(_WORD.findall(normalise_text(delivered).lower()))
    return 0 < len(wanted) <= SHORT_GOLD_WORDS and all(word in offered for word in wanted)


_OPENING_POLARITY = re.compile(r"^\W*(yes|no)\b", re.IGNORECASE)


def opening_polarity(answer: str) -> str | None:
    """ "yes" or "no" when an answer opens with one."""
    match = _OPENING_POLARITY.match(answer)
    return match.group(1).lower() if match else None


def embedding_similarity(embedder: Any) -> Callable[[str, str], float]:
    """Cosine of two texts' embeddings: the matcher for answers without figures."""
    embedder.warm_up()

    def similarity(first: str, second: str) -> float:
        vectors = embedder.embed_documents([first, second])
        return float(vectors[0] @ vectors[1])

    return similarity


@dataclass
class QuestionOutcome:
    id: str
    outcome: str  # "correct" | "incorrect" | "refused" | "failed"
    answer: str
    gold: str
    matched_by: str | None
    claims: int
    dropped_claims: int
    quotes: int
    verbatim_quotes: int
    citation_recall: float | None
    citation_precision: float | None
    on_gold_page: bool
    timings: dict[str, float]
    error: str | None = None
    answer_id: str | None = None
    # The same question's first raw generation judged as if delivered without the verifier:
    # the baseline the verifier is measured against, from the same run.
    unverified_outcome: str | None = None
    drafted_by: str | None = None  # the generator's model, the lookup or the calculator
    # TAT-QA's own scores, where the gold is TAT-QA's (0 for a refusal).
    answer_type: str | None = None
    exact_match: float | None = None
    f1: float | None = None


@dataclass
class AnswerEvaluation:
    pipeline: AnswerPipeline
    judge: EntailmentJudge
    text_similarity: Callable[[str, str], float]
    record_sink: Callable[[AuditRecord], None] | None = None  # e.g. the interaction log
    outcomes: list[QuestionOutcome] = field(default_factory=list)

    def _verbatim(self, record: AuditRecord) -> tuple[int, int]:
        """Quotes checked against the stored sentence text directly, not through the verifier."""
        quotes = [c for claim in record.answer.claims for c in claim.citations]
        stored = {
            row["id"]: row["text"]
            for row in self.pipeline.store.sentences_by_ids([c.sentence_id for c in quotes])
        }
        exact = sum(
            1
            for c in quotes
            if c.quote.strip()
            and normalise_text(c.quote) in normalise_text(stored.get(c.sentence_id, ""))
        )
        return len(quotes), exact

    def _citation_quality(self, answer: Answer) -> tuple[float | None, float | None]:
        if not answer.claims:
            return None, None
        threshold = self.judge.threshold
        recall_hits = 0
        precise, total = 0, 0
        for claim in answer.claims:
            quotes = [c.quote for c in claim.citations]
            together = support(self.judge, [(" ".join(quotes), claim.text)])[0].score
            recall_hits += together >= threshold
            for index, quote in enumerate(quotes):
                total += 1
                alone = support(self.judge, [(quote, claim.text)])[0].score
                rest = " ".join(q for i, q in enumerate(quotes) if i != index)
                without = (
                    support(self.judge, [(rest, claim.text)])[0].score if rest else float("-inf")
                )
                precise += alone >= threshold or (together >= threshold and without < threshold)
        return recall_hits / len(answer.claims), (precise / total if total else None)

    def run_one(self, question: GoldQuestion, filters: QueryFilters | None) -> QuestionOutcome:
        try:
            record = self.pipeline.answer(question.question, filters)
        except Exception as exc:  # counted, never skipped: failures stay in the denominators
            return QuestionOutcome(
                question.id,
                "failed",
                "",
                question.answer,
                None,
                0,
                0,
                0,
                0,
                None,
                None,
                False,
                {},
                error=f"{type(exc).__name__}: {exc}",
            )
        if self.record_sink is not None:
            self.record_sink(record)
        answer = record.answer
        quotes, verbatim = self._verbatim(record)
        recall, precision = self._citation_quality(answer)
        on_gold = any(
            (c.filing, c.page) in question.evidence_pages
            for claim in answer.claims
            for c in claim.citations
        )
        matched_by = None
        scored: Score | None = None
        if answer.refused:
            outcome = "refused"
        elif question.tatqa is not None:
            # TAT-QA's way: exact match with the scale; an inexact span is not correct.
            gold = question.tatqa
            scored = score_answer(list(gold.answers), gold.scale, answer_parts(answer.answer), "")
            outcome = "correct" if scored.exact_match == 1.0 else "incorrect"
            matched_by = "tatqa exact match"
        else:
            outcome, matched_by = self.judge_answer(
                question.answer, answer.answer, question.question
            )
        unverified = None
        # What a RAG without the verifier would have shown: the generator's first draft, or
        # the statement lookup's where that answered without the generator.
        first = next(
            (r for r in record.rounds if r.drafter is None),
            record.rounds[0] if record.rounds else None,
        )
        if first is not None and first.draft is not None:
            raw = first.draft
            if raw.get("insufficient_evidence") and not raw.get("claims"):
                unverified = "refused"
            else:
                unverified, _ = self.judge_answer(
                    question.answer, str(raw.get("answer", "")), question.question
                )
        elif answer.refused:
            unverified = "refused"  # nothing was retrieved, so nothing was generated
        return QuestionOutcome(
            id=question.id,
            outcome=outcome,
            answer=answer.answer,
            gold=question.answer,
            matched_by=matched_by,
            claims=len(answer.claims),
            dropped_claims=len(answer.dropped_claims),
            quotes=quotes,
            verbatim_quotes=verbatim,
            citation_recall=recall,
            citation_precision=precision,
            on_gold_page=on_gold,
            timings=answer.timings.model_dump(),
            answer_id=answer.id,
            unverified_outcome=unverified,
            drafted_by=None if answer.refused else answer.drafted_by,
            answer_type=question.tatqa.answer_type if question.tatqa else None,
            exact_match=(scored.exact_match if scored else 0.0) if question.tatqa else None,
            f1=(scored.f1 if scored else 0.0) if question.tatqa else None,
        )

    def judge_answer(self, gold: str, delivered: str, question: str = "") -> tuple[str, str]:
        return match_answer(gold, delivered, self.text_similarity, question)

    def run(
        self,
        questions: Sequence[GoldQuestion],
        given_filing: bool,
        log: Callable[[QuestionOutcome], None] | None = None,
    ) -> dict[str, Any]:
        started = time.perf_counter()
        for question in questions:
            filters = QueryFilters(filings=frozenset({question.filing})) if given_filing else None
            outcome = self.run_one(question, filters)
            self.outcomes.append(outcome)
            if log is not None:
                log(outcome)
        return summarise(self.outcomes, time.perf_counter() - started, given_filing)


def _median(values: list[float]) -> float | None:
    return round(statistics.median(values), 1) if values else None


def _p95(values: list[float]) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))], 1)


def summarise(
    outcomes: Sequence[QuestionOutcome], seconds: float, given_filing: bool
) -> dict[str, Any]:
    total = len(outcomes)
    counts = {
        k: sum(o.outcome == k for o in outcomes)
        for k in ("correct", "incorrect", "refused", "failed")
    }
    delivered = [o for o in outcomes if o.outcome in ("correct", "incorrect")]
    quotes = sum(o.quotes for o in outcomes)
    recalls = [o.citation_recall for o in outcomes if o.citation_recall is not None]
    precisions = [o.citation_precision for o in outcomes if o.citation_precision is not None]
    stages = ("retrieve_ms", "generate_ms", "verify_ms", "total_ms")
    latency = {
        stage: {
            "p50": _median([o.timings[stage] for o in outcomes if o.timings]),
            "p95": _p95([o.timings[stage] for o in outcomes if o.timings]),
        }
        for stage in stages
    }
    retrieve_verify = [
        o.timings["retrieve_ms"] + o.timings["verify_ms"] for o in outcomes if o.timings
    ]
    unverified = {
        k: sum(o.unverified_outcome == k for o in outcomes)
        for k in ("correct", "incorrect", "refused")
    }
    result = {
        "questions": total,
        "unverified_baseline_counts": unverified,
        "setting": "gold filing given" if given_filing else "filters read from the question",
        "counts": counts,
        "rates": {k: round(v / total, 4) if total else None for k, v in counts.items()},
        "delivered": len(delivered),
        "wrong_delivered_share_of_questions": round(counts["incorrect"] / total, 4)
        if total
        else None,
        "quotes_delivered": quotes,
        "quote_exact_match_rate": round(sum(o.verbatim_quotes for o in outcomes) / quotes, 4)
        if quotes
        else None,
        "citation_recall": round(sum(recalls) / len(recalls), 4) if recalls else None,
        "citation_precision": round(sum(precisions) / len(precisions), 4) if precisions else None,
        "answers_citing_a_gold_page": sum(o.on_gold_page for o in delivered),
        "claims_delivered": sum(o.claims for o in outcomes),
        "claims_dropped_by_verification": sum(o.dropped_claims for o in outcomes),
        "latency_ms": latency,
        "retrieve_plus_verify_p50_ms": _median(retrieve_verify),
        "seconds": round(seconds, 1),
        "per_question": [o.__dict__ for o in outcomes],
    }
    scored = [o for o in outcomes if o.exact_match is not None]
    if scored:
        result["tatqa"] = _tatqa_scores(scored)
    return result


def _tatqa_scores(outcomes: Sequence[QuestionOutcome]) -> dict[str, Any]:
    """Exact match and F1 over the TAT-QA questions, overall and per answer type."""

    def scores(group: Sequence[QuestionOutcome]) -> dict[str, Any]:
        return {
            "questions": len(group),
            "exact_match": round(statistics.fmean(o.exact_match or 0.0 for o in group), 4),
            "f1": round(statistics.fmean(o.f1 or 0.0 for o in group), 4),
        }

    types = sorted({o.answer_type or "" for o in outcomes})
    return scores(outcomes) | {
        "by_answer_type": {t: scores([o for o in outcomes if o.answer_type == t]) for t in types}
    }


def plot_outcomes(report: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    names = ["correct", "incorrect", "refused", "failed"]
    colours = ["#2e7d32", "#c62828", "#9e9e9e", "#6d4c41"]
    left.bar(names, [report["counts"][n] for n in names], color=colours)
    left.set_title(f"{report['questions']} questions ({report['setting']})")
    left.set_ylabel("questions")
    stages = ["retrieve_ms", "generate_ms", "verify_ms"]
    right.bar(
        [s.removesuffix("_ms") for s in stages],
        [report["latency_ms"][s]["p50"] or 0 for s in stages],
        color="#1565c0",
    )
    right.set_title("median latency per stage")
    right.set_ylabel("ms")
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=120)
    plt.close(figure)
