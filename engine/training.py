"""Training the engine's small models from questions with known derivations, and measuring
them the only honest way: k folds over reports (never over questions, which share their
report's table), every fold reported beside the in-sample figure.

Labels come from the data, not from rules about wording: a question's operation from the
shape of its derivation (``(a - b) / b`` is a percentage change; ``(a + b) / 2`` an average;
``a - b`` a change when both figures sit on one row, a difference when they sit on two), and
a table row is linked to a question when one of its cells prints a figure of the
derivation (or the numeric answer).
"""

from __future__ import annotations

import ast
import json
import random
import re
import statistics
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from engine.cells import CellGrid
from engine.evaluate import Score, answer_number, score_answer
from engine.learned import LinearModel, fit_linear
from engine.planner import (
    CellLinker,
    CpuPlanner,
    Evidence,
    calibrated_confidence,
    confidence_features,
    row_features,
)
from engine.plans import PlanError, Refusal, execute
from engine.question import (
    LinearOperationClassifier,
    Operation,
    Question,
    QuestionReader,
    Vectors,
    asked_sentence,
    question_features,
)
from engine.spans import SpanSelector, candidate_features
from engine.spans import candidates as span_candidates
from engine.text import content_stems


@dataclass(slots=True)
class LabelledQuestion:
    id: str
    report: str  # the document the question is asked of: the unit of every split
    text: str
    gold: list[str]
    gold_scale: str
    answer_type: str
    operation: Operation
    answers_with: str  # "figure", "period" or "item" (lists and comparisons)
    figures: set[float]  # absolute values the derivation (or numeric answer) uses


def _derivation_tree(derivation: str) -> ast.expr | None:
    cleaned = derivation.replace("$", "").replace(",", "").replace("%", "")
    cleaned = cleaned.replace("×", "*").replace("−", "-").replace("÷", "/").strip()
    if not cleaned or ">" in cleaned or "<" in cleaned:
        return None
    try:
        return ast.parse(cleaned, mode="eval").body
    except SyntaxError:
        return None


def _constants(node: ast.AST) -> list[float]:
    return [
        float(n.value)
        for n in ast.walk(node)
        if isinstance(n, ast.Constant) and isinstance(n.value, int | float)
    ]


def derivation_figures(derivation: str) -> set[float]:
    numbers = re.findall(r"\d[\d,]*\.?\d*", derivation)
    return {round(abs(float(n.replace(",", ""))), 2) for n in numbers if n.strip(",.")}


def _same_row(figures: Sequence[float], grids: Sequence[CellGrid]) -> bool:
    wanted = [round(abs(f), 2) for f in figures]
    for grid in grids:
        for row in range(len(grid.row_paths)):
            values = {round(abs(c.value), 2) for c in grid.row_cells(row) if c.value is not None}
            if all(w in values for w in wanted):
                return True
    return False


def operation_of(record: dict[str, Any], grids: Sequence[CellGrid]) -> Operation:
    """The operation a TAT-QA question asks, read from its answer type and derivation."""
    answer_type = record["answer_type"]
    derivation = str(record.get("derivation") or "")
    if answer_type == "count":
        return Operation.COUNT
    if answer_type in {"span", "multi-span"}:
        if ">" in derivation or "<" in derivation:
            return Operation.COMPARISON
        if answer_type == "multi-span":
            return Operation.LIST
        answers = record.get("tatqa_answer") or []
        numeric = answers and all(answer_number(str(a)) is not None for a in answers)
        return Operation.VALUE if numeric else Operation.EXPLANATION
    tree = _derivation_tree(derivation)
    if tree is None:
        return Operation.OTHER
    if (
        isinstance(tree, ast.BinOp)
        and isinstance(tree.op, ast.Mult)
        and isinstance(tree.right, ast.Constant)
        and tree.right.value == 100
    ):
        tree = tree.left  # "x / y * 100": the percentage is the division's
    if isinstance(tree, ast.BinOp) and isinstance(tree.op, ast.Div):
        left, right = tree.left, tree.right
        if (
            isinstance(left, ast.BinOp)
            and isinstance(left.op, ast.Sub)
            and isinstance(right, ast.Constant)
            and _constants(left.right) == [right.value]
        ):
            return Operation.PERCENT_CHANGE
        if (
            isinstance(left, ast.BinOp)
            and isinstance(left.op, ast.Add)
            and isinstance(right, ast.Constant)
            and len(_constants(left)) == right.value
        ):
            return Operation.AVERAGE
        if isinstance(left, ast.Constant) and isinstance(right, ast.Constant):
            return Operation.RATIO
        return Operation.OTHER
    if isinstance(tree, ast.BinOp) and isinstance(tree.op, ast.Sub):
        figures = _constants(tree)
        if len(figures) == 2:
            return Operation.CHANGE if _same_row(figures, grids) else Operation.DIFFERENCE
        return Operation.OTHER
    only_additions = all(
        isinstance(n, ast.Constant) or (isinstance(n, ast.BinOp) and isinstance(n.op, ast.Add))
        for n in ast.walk(tree)
        if isinstance(n, ast.expr)
    )
    if isinstance(tree, ast.BinOp) and only_additions:
        return Operation.SUM
    return Operation.OTHER


_YEAR_ANSWER = re.compile(r"^(?:FY\s?)?(?:19|20)\d\d$", re.IGNORECASE)


def answers_with(answers: Sequence[str]) -> str:
    """What a list or comparison answers with, read from its gold answers."""
    present = [a.strip() for a in answers if a.strip()]
    if present and all(_YEAR_ANSWER.match(a) for a in present):
        return "period"
    if present and all(answer_number(a) is not None for a in present):
        return "figure"
    return "item"


def operation_class(question: LabelledQuestion) -> str:
    if question.operation in {Operation.LIST, Operation.COMPARISON}:
        return f"{question.operation.value}/{question.answers_with}"
    return question.operation.value


def label_questions(
    records: Sequence[dict[str, Any]], evidence: dict[str, Evidence]
) -> list[LabelledQuestion]:
    labelled = []
    for record in records:
        report = record["doc_name"]
        grids = evidence[report].grids if report in evidence else []
        given = record.get("tatqa_answer", record["answer"])
        answers = [str(a) for a in given] if isinstance(given, list) else [str(given)]
        figures = derivation_figures(str(record.get("derivation") or ""))
        if not figures and record["answer_type"] in {"span", "multi-span"}:
            figures = {round(abs(n), 2) for a in answers if (n := answer_number(a)) is not None}
        labelled.append(
            LabelledQuestion(
                id=str(record["financebench_id"]),
                report=report,
                text=record["question"],
                gold=answers,
                gold_scale=str(record.get("scale") or ""),
                answer_type=record["answer_type"],
                operation=operation_of(record, grids),
                answers_with=answers_with(answers),
                figures=figures,
            )
        )
    return labelled


def train_operation_model(
    questions: Sequence[LabelledQuestion], vectors: Vectors | None = None
) -> LinearModel:
    # The sentence that asks, as the reader classifies it.
    asking = [asked_sentence(q.text) for q in questions]
    embedded = vectors(asking) if vectors is not None else None
    model = fit_linear(
        [
            question_features(text, embedded[i] if embedded is not None else None)
            for i, text in enumerate(asking)
        ],
        [operation_class(q) for q in questions],
        regularisation=4.0,
    )
    return model


def _link_examples(
    questions: Sequence[LabelledQuestion],
    evidence: dict[str, Evidence],
    reader: QuestionReader,
    vectors: Vectors | None = None,
) -> tuple[list[dict[str, float]], list[str]]:
    examples, labels = [], []
    for labelled in questions:
        if not labelled.figures or labelled.operation in {
            Operation.EXPLANATION,
            Operation.OTHER,
            Operation.COUNT,
        }:
            continue
        question = reader.read(labelled.text)
        query = question.vector if vectors is not None else None
        for grid in evidence[labelled.report].grids:
            for row in range(len(grid.row_paths)):
                cells = grid.row_cells(row)
                if not cells:
                    continue
                values = {round(abs(c.value), 2) for c in cells if c.value is not None}
                cosine = None
                if vectors is not None and query is not None:
                    cosine = float(vectors([" / ".join(grid.row_paths[row])])[0] @ query)
                examples.append(row_features(question, grid, row, cosine))
                labels.append("yes" if values & labelled.figures else "no")
    return examples, labels


def train_link_model(
    questions: Sequence[LabelledQuestion],
    evidence: dict[str, Evidence],
    reader: QuestionReader,
    vectors: Vectors | None = None,
) -> LinearModel:
    examples, labels = _link_examples(questions, evidence, reader, vectors)
    return fit_linear(examples, labels, regularisation=1.0, min_count=1)


_SPAN_EXAMPLES: dict[str, tuple[list[dict[str, float]], list[str]]] = {}


def _span_examples(
    labelled: LabelledQuestion, evidence: Evidence
) -> tuple[list[dict[str, float]], list[str]]:
    """One question's candidate spans, labelled by whether each is the gold span (its words,
    F1 ≥ 0.9) or the gold figure. The question is read with its labelled operation (the
    features do not depend on a trained model), so the examples are computed once."""
    key = labelled.id
    if key not in _SPAN_EXAMPLES:
        question = Question(
            text=labelled.text,
            stems=tuple(content_stems(labelled.text)),
            years=(),
            operation=labelled.operation,
            opener=labelled.text.split()[0].lower() if labelled.text.split() else "",
        )
        text_of = dict(evidence.sentences)
        examples, labels = [], []
        for candidate in span_candidates(question, evidence.sentences):
            score = score_answer(labelled.gold, labelled.gold_scale, [candidate.text], "")
            examples.append(candidate_features(question, candidate, text_of[candidate.sentence_id]))
            labels.append("yes" if score.exact_match or score.f1 >= 0.9 else "no")
        _SPAN_EXAMPLES[key] = (examples, labels)
    return _SPAN_EXAMPLES[key]


def train_span_model(
    questions: Sequence[LabelledQuestion], evidence: dict[str, Evidence]
) -> LinearModel:
    """The span selector, from the questions answered in prose or by one figure."""
    examples: list[dict[str, float]] = []
    labels: list[str] = []
    for labelled in questions:
        if labelled.operation in {Operation.EXPLANATION, Operation.VALUE}:
            more, more_labels = _span_examples(labelled, evidence[labelled.report])
            examples.extend(more)
            labels.extend(more_labels)
    return fit_linear(examples, labels, regularisation=1.0, min_count=2)


@dataclass(slots=True)
class Outcome:
    question: LabelledQuestion
    delivered: bool
    confidence: float
    score: Score | None  # None when refused
    answer: list[str] = field(default_factory=list)
    scale: str = ""
    operation: str = ""
    seconds: float = 0.0
    reason: str = ""
    signals: dict[str, float] = field(default_factory=dict)


def run_planner(
    questions: Sequence[LabelledQuestion],
    evidence: dict[str, Evidence],
    reader: QuestionReader,
    planner: CpuPlanner,
) -> list[Outcome]:
    """Every question through reader → planner → executor, with its TAT-QA score. Plans are
    drafted without the planner's thresholds and kept with their confidence, so a threshold
    can be chosen afterwards; ``tally`` counts those below it as refused."""
    outcomes = []
    for labelled in questions:
        started = time.perf_counter()
        question = reader.read(labelled.text)
        plan = planner.draft(question, evidence[labelled.report])
        try:
            if isinstance(plan, Refusal):
                raise PlanError(plan.reason)
            result = execute(plan)
        except PlanError as exc:  # refused: no plan, or one that cannot be computed
            outcomes.append(
                Outcome(
                    labelled,
                    False,
                    0.0,
                    None,
                    operation=question.operation.value,
                    seconds=time.perf_counter() - started,
                    reason=str(exc),
                )
            )
            continue
        score = score_answer(labelled.gold, labelled.gold_scale, list(result.answers), result.scale)
        outcomes.append(
            Outcome(
                labelled,
                True,
                plan.confidence,
                score,
                list(result.answers),
                result.scale,
                question.operation.value,
                time.perf_counter() - started,
                signals=plan.signals,
            )
        )
    return outcomes


def train_confidence_model(outcomes: Sequence[Outcome]) -> LinearModel | None:
    """The probability that a plan is right, from its signals, learned on answers to reports
    the planner was not trained on (``out_of_fold``): confidence on a report the models saw
    would be too high. None when there is nothing to learn from."""
    planned = [o for o in outcomes if o.delivered and o.score is not None]
    labels = [
        "yes" if o.score is not None and o.score.outcome == "correct" else "no" for o in planned
    ]
    if len(set(labels)) < 2:
        return None
    return fit_linear(
        [confidence_features(o.signals, o.confidence) for o in planned],
        labels,
        regularisation=1.0,
        min_count=1,
    )


def recalibrated(outcomes: Sequence[Outcome], model: LinearModel | None) -> list[Outcome]:
    """The outcomes with the confidence model's probability as their confidence."""
    if model is None:
        return list(outcomes)
    return [
        replace(o, confidence=calibrated_confidence(model, o.signals, o.confidence))
        if o.delivered
        else o
        for o in outcomes
    ]


Thresholds = dict[str, float]  # operation → the least confidence it is delivered with


def _threshold(thresholds: Thresholds | float, operation: str) -> float:
    if isinstance(thresholds, float | int):
        return float(thresholds)
    return thresholds.get(operation, 1.0)


def tally(outcomes: Sequence[Outcome], thresholds: Thresholds | float) -> dict[str, Any]:
    counts: Counter[str] = Counter()
    exact, f1 = [], []
    for outcome in outcomes:
        delivered = outcome.delivered and outcome.confidence >= _threshold(
            thresholds, outcome.operation
        )
        if not delivered or outcome.score is None:
            counts["refused"] += 1
            exact.append(0.0)
            f1.append(0.0)
            continue
        counts[outcome.score.outcome] += 1
        exact.append(outcome.score.exact_match)
        f1.append(outcome.score.f1)
    total = max(len(outcomes), 1)
    delivered_count = total - counts["refused"]
    return {
        "questions": len(outcomes),
        "correct": counts["correct"] / total,
        "partial": counts["partial"] / total,
        "wrong": counts["wrong"] / total,
        "refused": counts["refused"] / total,
        "precision": counts["correct"] / delivered_count if delivered_count else None,
        "exact_match": statistics.fmean(exact) if exact else 0.0,
        "f1": statistics.fmean(f1) if f1 else 0.0,
    }


def choose_thresholds(outcomes: Sequence[Outcome], wrong_weight: float = 3.0) -> Thresholds:
    """Per operation the planner chose, the confidence threshold that maximises correct −
    ``wrong_weight`` × wrong answers on the given (training) outcomes; an operation whose
    answers never pay for their errors gets a threshold above 1 (always refused)."""
    thresholds: Thresholds = {}
    by_operation: dict[str, list[Outcome]] = {}
    for outcome in outcomes:
        by_operation.setdefault(outcome.operation, []).append(outcome)
    for operation, group in by_operation.items():
        candidates = sorted({o.confidence for o in group if o.delivered})
        best, best_value = 1.01, 0.0
        for threshold in candidates:
            result = tally(group, threshold)
            value = result["correct"] - wrong_weight * result["wrong"]
            if value > best_value:
                best, best_value = threshold, value
        thresholds[operation] = best
    return thresholds


def report_folds(reports: Sequence[str], folds: int, seed: int = 7) -> list[set[str]]:
    ordered = sorted(set(reports))
    random.Random(seed).shuffle(ordered)
    return [set(ordered[i::folds]) for i in range(folds)]


def out_of_fold(
    questions: Sequence[LabelledQuestion],
    evidence: dict[str, Evidence],
    folds: int,
    vectors: Vectors | None = None,
    seed: int = 7,
) -> list[Outcome]:
    """Every question answered by models trained without its report."""
    outcomes: list[Outcome] = []
    for fold in report_folds([q.report for q in questions], folds, seed):
        train = [q for q in questions if q.report not in fold]
        reader, planner = fitted(train, evidence, vectors)
        held = [q for q in questions if q.report in fold]
        outcomes.extend(run_planner(held, evidence, reader, planner))
    return outcomes


def cross_validate(
    questions: Sequence[LabelledQuestion],
    evidence: dict[str, Evidence],
    folds: int = 5,
    wrong_weight: float = 3.0,
    progress: Callable[[str], None] | None = None,
    vectors: Vectors | None = None,
) -> dict[str, Any]:
    """Train on k−1 folds of reports and score the held-out fold. The thresholds a fold is
    scored with are chosen on out-of-fold answers within its training reports (nested),
    because answers on the reports a model was trained on are more confident than on new
    ones. The shipped thresholds are chosen the same way over all reports; the in-sample
    figure is the final models scored on the reports they were trained on."""
    per_fold = []
    held_out: list[Outcome] = []
    for index, fold in enumerate(report_folds([q.report for q in questions], folds)):
        train = [q for q in questions if q.report not in fold]
        test = [q for q in questions if q.report in fold]
        reader, planner, threshold = calibrated_fit(
            train, evidence, folds - 1, wrong_weight, vectors, seed=index
        )
        outcomes = run_planner(test, evidence, reader, planner)
        result = tally(outcomes, threshold)
        result.update(fold=index, reports=len(fold))
        per_fold.append(result)
        for outcome in outcomes:
            outcome.delivered = outcome.delivered and outcome.confidence >= _threshold(
                threshold, outcome.operation
            )
        held_out.extend(outcomes)
        if progress:
            progress(json.dumps(result))
    reader, planner, threshold = calibrated_fit(
        questions, evidence, folds, wrong_weight, vectors, seed=folds
    )
    in_sample_outcomes = run_planner(questions, evidence, reader, planner)
    return {
        "folds": per_fold,
        "cross_validated": tally(held_out, 0.0),
        "in_sample": tally(in_sample_outcomes, threshold) | {"threshold": threshold},
        "held_out_outcomes": held_out,
        "in_sample_outcomes": in_sample_outcomes,
        "final": (reader, planner, threshold),
    }


def calibrated_fit(
    questions: Sequence[LabelledQuestion],
    evidence: dict[str, Evidence],
    folds: int,
    wrong_weight: float,
    vectors: Vectors | None = None,
    seed: int = 7,
) -> tuple[QuestionReader, CpuPlanner, Thresholds]:
    """The models trained on these questions, with the confidence model and the per-operation
    thresholds learned on their out-of-fold answers (``folds`` folds of their reports)."""
    inner = out_of_fold(questions, evidence, folds, vectors, seed=seed)
    confidence_model = train_confidence_model(inner)
    thresholds = choose_thresholds(recalibrated(inner, confidence_model), wrong_weight)
    reader, planner = fitted(questions, evidence, vectors)
    planner.confidence_model = confidence_model
    return reader, planner, thresholds


def fitted(
    questions: Sequence[LabelledQuestion],
    evidence: dict[str, Evidence],
    vectors: Vectors | None = None,
) -> tuple[QuestionReader, CpuPlanner]:
    operation_model = train_operation_model(questions, vectors)
    reader = QuestionReader(LinearOperationClassifier(operation_model, vectors))
    link_model = train_link_model(questions, evidence, reader, vectors)
    span_model = train_span_model(questions, evidence)
    return reader, CpuPlanner(CellLinker(link_model, vectors), spans=SpanSelector(span_model))


def load_tatqa(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]
