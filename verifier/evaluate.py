"""Scoring a judge on grounded fact-checking data (the ``verifier_bench`` format).

Each example is ``{"id", "dataset", "premise", "hypothesis", "label"}`` with label 1 when the
premise supports the hypothesis. Reported per dataset and macro-averaged: ROC-AUC (threshold
free) and balanced accuracy at the one threshold that maximises the macro balanced accuracy.
"""

from __future__ import annotations

import json
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from verifier.errors import TrainingDataError
from verifier.nli import EntailmentJudge, support

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class BenchExample:
    id: str
    dataset: str
    premise: str
    hypothesis: str
    label: int


def read_records(path: Path, parse: Callable[[dict[str, Any]], T], expected: str) -> list[T]:
    """One record per JSON line, parsed by ``parse``; a missing file or a bad line is a
    ``TrainingDataError`` naming the file, the line and what was expected."""
    if not path.is_file():
        raise TrainingDataError(f"{path}: no such file (expected {expected})")
    records = []
    with path.open() as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                records.append(parse(json.loads(line)))
            except (ValueError, KeyError, TypeError) as exc:
                raise TrainingDataError(f"{path}:{number}: expected {expected} ({exc})") from exc
    if not records:
        raise TrainingDataError(f"{path}: no records")
    return records


def _bench_example(row: dict[str, Any]) -> BenchExample:
    return BenchExample(
        id=str(row["id"]),
        dataset=str(row.get("dataset", "all")),
        premise=str(row["premise"]),
        hypothesis=str(row["hypothesis"]),
        label=int(row["label"]),
    )


def load_bench(path: Path) -> list[BenchExample]:
    return read_records(
        path, _bench_example, "JSON objects with id, premise, hypothesis and a 0/1 label"
    )


def roc_auc(scores: Sequence[float], labels: Sequence[int]) -> float:
    """Mann-Whitney U with tied scores sharing their average rank."""
    order = sorted(range(len(scores)), key=lambda i: scores[i])
    ranks = [0.0] * len(scores)
    position = 0
    while position < len(order):
        end = position
        while end + 1 < len(order) and scores[order[end + 1]] == scores[order[position]]:
            end += 1
        for k in range(position, end + 1):
            ranks[order[k]] = (position + end) / 2 + 1
        position = end + 1
    positives = sum(1 for label in labels if label == 1)
    negatives = len(labels) - positives
    if positives == 0 or negatives == 0:
        return float("nan")
    rank_sum = sum(rank for rank, label in zip(ranks, labels, strict=True) if label == 1)
    return (rank_sum - positives * (positives + 1) / 2) / (positives * negatives)


def balanced_accuracy(scores: Sequence[float], labels: Sequence[int], threshold: float) -> float:
    hits = {0: 0, 1: 0}
    totals = {0: 0, 1: 0}
    for score, label in zip(scores, labels, strict=True):
        totals[label] += 1
        hits[label] += int((score >= threshold) == (label == 1))
    recalls = [hits[k] / totals[k] for k in (0, 1) if totals[k]]
    return sum(recalls) / len(recalls)


def _by_dataset(
    examples: Sequence[BenchExample], scores: Sequence[float]
) -> dict[str, tuple[list[float], list[int]]]:
    grouped: dict[str, tuple[list[float], list[int]]] = defaultdict(lambda: ([], []))
    for example, score in zip(examples, scores, strict=True):
        grouped[example.dataset][0].append(score)
        grouped[example.dataset][1].append(example.label)
    return dict(sorted(grouped.items()))


def tune_threshold(examples: Sequence[BenchExample], scores: Sequence[float]) -> float:
    """The threshold maximising macro balanced accuracy over the datasets."""
    grouped = _by_dataset(examples, scores)
    candidates = sorted(set(scores))
    best, best_value = 0.5, -1.0
    step = max(1, len(candidates) // 400)
    for threshold in candidates[::step]:
        value = sum(balanced_accuracy(s, y, threshold) for s, y in grouped.values()) / len(grouped)
        if value > best_value:
            best, best_value = threshold, value
    return best


def score_examples(
    judge: EntailmentJudge, examples: Sequence[BenchExample], window_chars: int = 700
) -> tuple[list[float], float]:
    """Support scores for the examples, and the judge's milliseconds per example."""
    judge.warm_up()
    started = time.perf_counter()
    results = support(judge, [(e.premise, e.hypothesis) for e in examples], window_chars)
    elapsed = time.perf_counter() - started
    return [r.score for r in results], 1000 * elapsed / max(1, len(examples))


def report(
    examples: Sequence[BenchExample], scores: Sequence[float], threshold: float | None = None
) -> dict[str, Any]:
    grouped = _by_dataset(examples, scores)
    if threshold is None:
        threshold = tune_threshold(examples, scores)
    per_dataset = {
        name: {
            "examples": len(labels),
            "roc_auc": round(roc_auc(values, labels), 4),
            "balanced_accuracy": round(balanced_accuracy(values, labels, threshold), 4),
        }
        for name, (values, labels) in grouped.items()
    }
    return {
        "threshold": threshold,
        "datasets": per_dataset,
        "macro_roc_auc": round(
            sum(d["roc_auc"] for d in per_dataset.values()) / len(per_dataset), 4
        ),
        "macro_balanced_accuracy": round(
            sum(d["balanced_accuracy"] for d in per_dataset.values()) / len(per_dataset), 4
        ),
    }


def accept_rates(
    examples: Sequence[BenchExample], scores: Sequence[float], threshold: float
) -> tuple[float, float]:
    """Macro-averaged share of unsupported (label 0) and of supported examples scored at or
    above ``threshold``: the false-accept and true-accept rates of that operating point."""
    grouped = _by_dataset(examples, scores)
    false_accept = true_accept = 0.0
    for values, labels in grouped.values():
        negatives = [v for v, y in zip(values, labels, strict=True) if y == 0]
        positives = [v for v, y in zip(values, labels, strict=True) if y == 1]
        false_accept += sum(v >= threshold for v in negatives) / max(1, len(negatives))
        true_accept += sum(v >= threshold for v in positives) / max(1, len(positives))
    return false_accept / len(grouped), true_accept / len(grouped)


def operating_threshold(
    examples: Sequence[BenchExample], scores: Sequence[float], max_false_accept: float
) -> float:
    """The lowest threshold whose macro false-accept rate is at most ``max_false_accept``.
    The verifier lets a claim through only above it: for a compliance product a wrongly
    passed claim costs more than a wrongly dropped one, so the operating point is chosen for
    precision, not for balanced accuracy."""
    for threshold in sorted(set(scores)):
        if accept_rates(examples, scores, threshold)[0] <= max_false_accept:
            return threshold
    return max(scores) + 1e-6


def calibrate(
    judge: EntailmentJudge, examples: Sequence[BenchExample], max_false_accept: float
) -> dict[str, Any]:
    """What a judge's data card records: the operating threshold the verifier uses, the
    balanced-accuracy threshold the metrics are reported at, and the metrics."""
    scores, ms = score_examples(judge, examples)
    metrics = report(examples, scores)
    operating = operating_threshold(examples, scores, max_false_accept)
    false_accept, true_accept = accept_rates(examples, scores, operating)
    metrics.update(
        ms_per_example=round(ms, 2),
        operating_threshold=operating,
        operating_max_false_accept=max_false_accept,
        operating_false_accept=round(false_accept, 4),
        operating_true_accept=round(true_accept, 4),
    )
    return {
        "threshold": operating,
        "threshold_balanced": metrics["threshold"],
        "calibration": metrics,
    }
