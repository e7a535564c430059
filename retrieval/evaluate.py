"""Evidence-page retrieval evaluation: recall@k and MRR, over the shared and single stores.

Shared store: the whole corpus, with only the filters the question itself implies (what a
real analyst query gets). Single store: the search restricted to the question's own filing.
Every question stays in every denominator, whatever went wrong with it.
"""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from retrieval.catalog import QueryFilters
from retrieval.types import Retriever, ScoredChunk

DEFAULT_KS = (1, 5, 10, 20)
# Pages are counted after de-duplicating chunks; this many chunks give enough distinct pages.
CHUNKS_PER_PAGE_WANTED = 4


@dataclass(frozen=True, slots=True)
class EvalQuestion:
    id: str
    question: str
    filing: str
    evidence_pages: frozenset[tuple[str, int]]  # (filing name, zero-indexed page)


def load_questions(path: Path) -> list[EvalQuestion]:
    """FinanceBench's questions JSONL, or {"id", "question", "filing", "evidence": [{"filing",
    "page"}]}."""
    questions = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        record = json.loads(line)
        evidence = frozenset(
            (
                item.get("doc_name") or item["filing"],
                int(item.get("evidence_page_num", item.get("page", -1))),
            )
            for item in record["evidence"]
        )
        questions.append(
            EvalQuestion(
                id=str(record.get("financebench_id") or record.get("id") or number),
                question=record["question"],
                filing=record.get("doc_name") or record["filing"],
                evidence_pages=evidence,
            )
        )
    return questions


def ranked_pages(chunks: Sequence[ScoredChunk]) -> list[tuple[str, int]]:
    pages: dict[tuple[str, int], None] = {}
    for chunk in chunks:
        pages.setdefault((chunk.filing, chunk.page), None)
    return list(pages)


@dataclass(slots=True)
class StoreResult:
    pages: list[tuple[str, int]] = field(default_factory=list)
    seconds: float = 0.0
    error: str | None = None


def _run(
    retriever: Retriever, question: str, depth: int, filters: QueryFilters | None
) -> StoreResult:
    started = time.perf_counter()
    try:
        chunks = retriever.retrieve(question, depth * CHUNKS_PER_PAGE_WANTED, filters)
    except Exception as exc:
        return StoreResult(
            seconds=time.perf_counter() - started, error=f"{type(exc).__name__}: {exc}"
        )
    return StoreResult(ranked_pages(chunks)[:depth], time.perf_counter() - started)


def _recall(pages: list[tuple[str, int]], gold: frozenset[tuple[str, int]], k: int) -> float:
    return len(gold & set(pages[:k])) / len(gold)


def _reciprocal_rank(pages: list[tuple[str, int]], gold: frozenset[tuple[str, int]]) -> float:
    return next((1.0 / rank for rank, page in enumerate(pages, start=1) if page in gold), 0.0)


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def evaluate(
    retriever: Retriever,
    questions: Sequence[EvalQuestion],
    ks: Sequence[int] = DEFAULT_KS,
    stores: Sequence[str] = ("shared", "single"),
) -> dict[str, Any]:
    """``stores``: "shared" (filters read from the question), "single" (the question's own
    filing), or both; "shared" first where both."""
    depth = max(ks)

    def shared(question: EvalQuestion) -> QueryFilters | None:
        return None  # filters read from the question, as an analyst's query gets them

    def single(question: EvalQuestion) -> QueryFilters | None:
        return QueryFilters(filings=frozenset({question.filing}))

    filters_of = {"shared": shared, "single": single}
    per_question: list[dict[str, Any]] = []
    summary: dict[str, Any] = {}
    for store_name in stores:
        make_filters = filters_of[store_name]
        recalls: dict[int, list[float]] = {k: [] for k in ks}
        reciprocal_ranks: list[float] = []
        latencies: list[float] = []
        errors = 0
        for index, question in enumerate(questions):
            result = _run(retriever, question.question, depth, make_filters(question))
            latencies.append(result.seconds)
            errors += result.error is not None
            for k in ks:
                recalls[k].append(_recall(result.pages, question.evidence_pages, k))
            reciprocal_ranks.append(_reciprocal_rank(result.pages, question.evidence_pages))
            if store_name == stores[0]:
                per_question.append(
                    {
                        "id": question.id,
                        "question": question.question,
                        "filing": question.filing,
                        "evidence_pages": sorted(question.evidence_pages),
                    }
                )
            entry = per_question[index]
            entry[store_name] = {
                "pages": result.pages,
                "recall": {str(k): recalls[k][-1] for k in ks},
                "reciprocal_rank": reciprocal_ranks[-1],
                "seconds": round(result.seconds, 4),
                "error": result.error,
            }
        count = max(len(questions), 1)
        summary[store_name] = {
            "recall": {str(k): sum(recalls[k]) / count for k in ks},
            "mrr": sum(reciprocal_ranks) / count,
            "errors": errors,
            "latency_ms": {
                "p50": 1000 * statistics.median(latencies) if latencies else 0.0,
                "p95": 1000 * _percentile(latencies, 0.95) if latencies else 0.0,
            },
            "curve": [
                sum(
                    _recall(entry[store_name]["pages"], question.evidence_pages, k)
                    for entry, question in zip(per_question, questions, strict=True)
                )
                / count
                for k in range(1, depth + 1)
            ],
        }
    return {
        "questions": len(questions),
        "ks": list(ks),
        "summary": summary,
        "per_question": per_question,
    }


def plot_recall_curves(report: dict[str, Any], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(6, 4))
    for store_name, summary in report["summary"].items():
        curve = summary["curve"]
        axes.plot(
            range(1, len(curve) + 1), curve, marker="o", markersize=3, label=f"{store_name} store"
        )
    axes.set_xlabel("k (distinct pages)")
    axes.set_ylabel("evidence-page recall@k")
    axes.set_ylim(0, 1)
    axes.grid(alpha=0.3)
    axes.set_title(title)
    axes.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)
