"""Retrieval benchmark: verirag vs the LlamaIndex default pipeline on FinanceBench dev questions.

Both systems answer the same questions in one run: evidence-page recall@1/5/10/20 and MRR
over the shared store (all 74 filings) and the single store (the question's own filing),
plus verirag's per-query latency (p50/p95) on this CPU. LlamaIndex runs its defaults: one
Document per PDF page, SentenceSplitter, the same all-MiniLM-L6-v2, FAISS flat.

    python bench/retrieval.py --data-dir /tmp/fb-index          # index built if missing
    python bench/retrieval.py --data-dir /tmp/fb-index --skip-baseline --modes hybrid dense
    python bench/retrieval.py --data-dir /tmp/fb-index --skip-baseline --cv-by-company 5

``--cv-by-company K`` measures every choice the hybrid retriever makes (each extra ranked list
and page rule, on or off) the way a new company's questions would: the questions split by
company into K folds, the choices that score best on the other folds' companies applied to
each fold's. It prints in-sample and out-of-company recall@5 side by side, per fold.

``--synthetic N`` scores the hybrid on N queries written from the filings themselves
(``retrieval/synthetic.py``: statement and breakdown rows, note titles, MD&A and risk-factor
headings), none of them a dev question, per kind; with ``--tune-on-synthetic`` it also
chooses the fusion weights on those queries (coordinate ascent over a small grid) and scores
the dev questions with the weights so chosen beside the shipped ones.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "financebench"
KS = (1, 5, 10, 20)


def make_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--data-dir",
        type=Path,
        required=True,
        help="verirag index of the corpus (built from --pdfs if missing)",
    )
    parser.add_argument("--pdfs", type=Path, default=SHARED / "pdfs")
    parser.add_argument("--questions", type=Path, default=SHARED / "questions_dev.jsonl")
    parser.add_argument("--metadata", type=Path, default=SHARED / "documents.jsonl")
    parser.add_argument(
        "--modes",
        nargs="+",
        default=["hybrid", "dense", "lexical"],
        choices=["hybrid", "dense", "lexical"],
    )
    parser.add_argument(
        "--rerank",
        type=int,
        nargs="*",
        default=[],
        help="also run hybrid with the cross-encoder over this many candidates",
    )
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--skip-baseline", action="store_true")
    parser.add_argument(
        "--synthetic",
        type=int,
        default=0,
        metavar="N",
        help="also score the hybrid on N queries synthesised from the indexed filings",
    )
    parser.add_argument(
        "--tune-on-synthetic",
        action="store_true",
        help="with --synthetic: choose the fusion weights on those queries, score dev with them",
    )
    parser.add_argument(
        "--cv-by-company",
        type=int,
        default=0,
        metavar="K",
        help="also choose the hybrid's lists and page rules on K-1 of K company folds and "
        "score them on the held-out fold (shared store, recall@5)",
    )
    parser.add_argument("--baseline-dir", type=Path, default=Path("/tmp/verirag-bench-llamaindex"))
    parser.add_argument(
        "--out",
        type=Path,
        default=REPO / "bench" / "results" / f"retrieval-{time.strftime('%Y%m%d-%H%M%S')}.json",
    )
    return parser


def _ensure_index(args: argparse.Namespace) -> dict[str, Any]:
    from ingest.store import DOCSTORE_FILE

    if (args.data_dir / DOCSTORE_FILE).exists():
        return {"built": False}
    from engine.settings import get_settings
    from ingest.metadata import load_overrides
    from ingest.pdf import PdfReader
    from ingest.pipeline import IngestOptions, Ingestor
    from ingest.store import IndexStore
    from service.cli import _embedder

    settings = get_settings()
    with IndexStore(args.data_dir) as store:
        report = Ingestor(
            store,
            _embedder(settings),
            {".pdf": PdfReader()},
            IngestOptions(chunk_max_chars=settings.chunk_max_chars),
            load_overrides(args.metadata) if args.metadata.exists() else None,
        ).ingest(sorted(args.pdfs.glob("*.pdf")))
    return {"built": True, "seconds": report.total_seconds, "failed": len(report.failed)}


def _verirag(args: argparse.Namespace, mode: str, rerank: int) -> dict[str, Any]:
    from engine.settings import get_settings
    from ingest.store import IndexStore
    from retrieval.evaluate import evaluate, load_questions
    from service.cli import _retriever

    settings = get_settings()
    with IndexStore(args.data_dir) as store:
        retriever = _retriever(settings, store, mode, rerank)
        retriever.warm_up()
        report = evaluate(retriever, load_questions(args.questions), KS)
    return report["summary"] | {"per_question": report["per_question"]}


# The hybrid retriever's choices, each a ranked list or page rule that can be turned off.
SWITCHES = {
    "table_weight": 0.0,
    "statement_weight": 0.0,
    "page_second_weight": 0.0,
    "first_hit_floor": 0,
    "breakdown_weight": 0.0,
    "notes_weight": 0.0,
}


def _company_folds(companies: list[str], k: int) -> list[set[str]]:
    """``companies`` dealt into ``k`` folds in sorted order: deterministic, no question of one
    company in two folds."""
    ordered = sorted(set(companies))
    return [set(ordered[index::k]) for index in range(k)]


def _shared_recall_scorer(store: Any, settings: Any) -> Any:
    """A function scoring a ``HybridConfig`` on questions: per-question shared-store recall@5.
    The dense model, the lexical index and the catalog are made once and shared by every
    configuration scored."""
    from engine.runtime import embedder_from_settings
    from retrieval.catalog import Catalog
    from retrieval.dense import DenseRetriever
    from retrieval.evaluate import evaluate
    from retrieval.hybrid import HybridRetriever
    from retrieval.lexical import LexicalRetriever

    catalog = Catalog.from_store(store)
    dense = DenseRetriever(
        store, embedder_from_settings(settings), catalog, vector_index=settings.vector_index
    )
    dense.warm_up()
    lexical = LexicalRetriever(store, catalog)

    def recall(config: Any, questions: list[Any]) -> list[float]:
        retriever = HybridRetriever(store, dense, lexical, catalog, config=config)
        report = evaluate(retriever, questions, KS, stores=("shared",))
        return [q["shared"]["recall"]["5"] for q in report["per_question"]]

    return recall


def _cv_by_company(args: argparse.Namespace, k: int) -> dict[str, Any]:
    """Every on/off combination of ``SWITCHES`` scored per question (shared store, recall@5),
    then chosen by company fold: in-sample (best on all questions) beside out-of-company."""
    import itertools

    from engine.settings import get_settings
    from ingest.store import IndexStore
    from retrieval.evaluate import load_questions
    from retrieval.hybrid import HybridConfig

    questions = load_questions(args.questions)
    companies = [
        json.loads(line).get("company", "")
        for line in args.questions.read_text().splitlines()
        if line.strip()
    ]
    variants: dict[tuple[str, ...], list[float]] = {}
    settings = get_settings()
    with IndexStore(args.data_dir) as store:
        recall = _shared_recall_scorer(store, settings)
        for off in itertools.chain.from_iterable(
            itertools.combinations(SWITCHES, n) for n in range(len(SWITCHES) + 1)
        ):
            variants[off] = recall(
                HybridConfig(**{name: SWITCHES[name] for name in off}), questions
            )

    def mean(off: tuple[str, ...], keep: set[int]) -> float:
        return sum(variants[off][i] for i in keep) / max(len(keep), 1)

    everyone = set(range(len(questions)))
    in_sample = max(variants, key=lambda off: (mean(off, everyone), -len(off)))
    folds = []
    held_out_total = 0.0
    for fold in _company_folds(companies, k):
        held = {i for i, company in enumerate(companies) if company in fold}
        train = everyone - held
        chosen = max(variants, key=lambda off: (mean(off, train), -len(off)))
        held_out_total += sum(variants[chosen][i] for i in held)
        folds.append(
            {
                "companies": sorted(fold),
                "questions": len(held),
                "turned_off": list(chosen),
                "held_out_recall@5": round(mean(chosen, held), 3),
                "shipped_recall@5": round(mean((), held), 3),
            }
        )
    return {
        "variants": len(variants),
        "shipped_recall@5": round(mean((), everyone), 3),
        "in_sample_best": {
            "turned_off": list(in_sample),
            "recall@5": round(mean(in_sample, everyone), 3),
        },
        "out_of_company_recall@5": round(held_out_total / len(questions), 3),
        "each_switch_off": {name: round(mean((name,), everyone), 3) for name in SWITCHES},
        "folds": folds,
    }


# The fusion weights --tune-on-synthetic tries, each against the shipped value.
TUNED_GRID: dict[str, list[float]] = {
    "dense_weight": [0.5, 1.0, 2.0],
    "lexical_weight": [0.5, 1.0, 2.0],
    "table_weight": [0.0, 1.0, 2.0],
    "statement_weight": [0.0, 1.0, 2.0],
    "page_second_weight": [0.0, 0.5, 1.0],
    "first_hit_floor": [0, 5, 8],
    "breakdown_weight": [0.0, 1.0, 2.0],
    "notes_weight": [0.0, 1.0, 2.0],
}


def _synthetic(args: argparse.Namespace, count: int, tune: bool) -> dict[str, Any]:
    import random
    from dataclasses import asdict

    from engine.settings import get_settings
    from ingest.store import IndexStore
    from retrieval.evaluate import EvalQuestion, load_questions
    from retrieval.hybrid import HybridConfig
    from retrieval.synthetic import synthesise

    settings = get_settings()
    with IndexStore(args.data_dir) as store:
        started = time.perf_counter()
        made = synthesise(store)
        random.Random(11).shuffle(made)
        chosen = made[:count]
        synthesis_seconds = time.perf_counter() - started
        asked = [EvalQuestion(str(i), q.text, q.filing, q.pages) for i, q in enumerate(chosen)]
        per_question = _shared_recall_scorer(store, settings)

        def recall(config: HybridConfig, questions: list[EvalQuestion]) -> float:
            found = per_question(config, questions)
            return sum(found) / len(found)

        per_query = per_question(HybridConfig(), asked)
        shipped = sum(per_query) / len(per_query)
        by_kind: dict[str, list[float]] = {}
        for query, value in zip(chosen, per_query, strict=True):
            by_kind.setdefault(query.kind, []).append(value)
        result: dict[str, Any] = {
            "queries_made": len(made),
            "queries_scored": len(chosen),
            "synthesis_seconds": round(synthesis_seconds, 1),
            "shipped_recall@5": round(shipped, 3),
            "by_kind": {
                k: {"queries": len(v), "recall@5": round(sum(v) / len(v), 3)}
                for k, v in sorted(by_kind.items())
            },
        }
        if tune:
            defaults = HybridConfig()
            current = {name: getattr(defaults, name) for name in TUNED_GRID}
            best = shipped
            for name, values in TUNED_GRID.items():
                for value in values:
                    if value == current[name]:
                        continue
                    trial = {**current, name: value}
                    score = recall(HybridConfig(**trial), asked)
                    if score > best + 0.002:
                        best, current = score, trial
            dev = load_questions(args.questions)
            result["tuned"] = {
                "weights": current,
                "synthetic_recall@5": round(best, 3),
                "dev_recall@5": round(recall(HybridConfig(**current), dev), 3),
                "dev_recall@5_shipped": round(recall(HybridConfig(), dev), 3),
                "shipped_weights": {name: asdict(defaults)[name] for name in TUNED_GRID},
            }
    return result


def _baseline(args: argparse.Namespace) -> dict[str, Any]:
    from bench.llamaindex_baseline import (
        build_llamaindex_baseline,
        default_model_dir,
        query_llamaindex_baseline,
    )
    from retrieval.evaluate import load_questions

    questions = load_questions(args.questions)
    build = build_llamaindex_baseline(
        sorted(args.pdfs.glob("*.pdf")),
        default_model_dir(),
        args.baseline_dir,
        threads=args.threads,
    )
    summary: dict[str, Any] = {"build_seconds": build.total_s, "nodes": build.nodes}
    for store_name in ("shared", "single"):
        recalls = {k: [] for k in KS}
        reciprocal, latencies = [], []
        for question in questions:
            started = time.perf_counter()
            hits = query_llamaindex_baseline(
                build,
                question.question,
                max(KS) * 4,
                question.filing if store_name == "single" else None,
            )
            latencies.append(time.perf_counter() - started)
            pages = list(dict.fromkeys((filing, page) for filing, page, _ in hits))[: max(KS)]
            gold = question.evidence_pages
            for k in KS:
                recalls[k].append(len(gold & set(pages[:k])) / len(gold))
            reciprocal.append(next((1 / r for r, p in enumerate(pages, 1) if p in gold), 0.0))
        count = len(questions)
        summary[store_name] = {
            "recall": {str(k): sum(v) / count for k, v in recalls.items()},
            "mrr": sum(reciprocal) / count,
            "latency_ms": {
                "p50": 1000 * statistics.median(latencies),
                "p95": 1000 * sorted(latencies)[int(0.95 * (count - 1))],
            },
        }
    return summary


def _row(name: str, result: dict[str, Any], store: str) -> str:
    summary = result[store]
    recalls = " ".join(f"{summary['recall'][str(k)]:.3f}" for k in KS)
    latency = summary.get("latency_ms", {})
    return (
        f"{name:<24} {store:<7} {recalls}  {summary['mrr']:.3f}  "
        f"{latency.get('p50', 0):7.1f} {latency.get('p95', 0):7.1f}"
    )


def main(args: argparse.Namespace) -> int:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("VERIRAG_TORCH_THREADS", str(args.threads))
    if not args.questions.exists():
        print(f"error: no questions at {args.questions}; pass --questions", file=sys.stderr)
        return 2
    results: dict[str, Any] = {"index": _ensure_index(args)}
    for mode in args.modes:
        results[f"verirag-{mode}"] = _verirag(args, mode, 0)
    for top in args.rerank:
        results[f"verirag-hybrid-rerank{top}"] = _verirag(args, "hybrid", top)
    if not args.skip_baseline:
        results["llamaindex-default"] = _baseline(args)
    if args.synthetic:
        made = results["synthetic"] = _synthetic(args, args.synthetic, args.tune_on_synthetic)
        print(
            f"synthetic queries ({made['queries_scored']} of {made['queries_made']} written from "
            f"the filings in {made['synthesis_seconds']} s): shared recall@5 "
            f"{made['shipped_recall@5']:.3f}; by kind "
            + ", ".join(
                f"{k} {v['recall@5']:.3f} ({v['queries']})" for k, v in made["by_kind"].items()
            )
        )
        if "tuned" in made:
            tuned = made["tuned"]
            changed = {
                k: v for k, v in tuned["weights"].items() if tuned["shipped_weights"][k] != v
            }
            print(
                f"  weights chosen on them: {changed or 'the shipped ones'} -> synthetic "
                f"{tuned['synthetic_recall@5']:.3f}; dev questions {tuned['dev_recall@5']:.3f} "
                f"vs {tuned['dev_recall@5_shipped']:.3f} with the shipped weights"
            )
    if args.cv_by_company:
        cv = results["cv-by-company"] = _cv_by_company(args, args.cv_by_company)
        print(
            f"company cross-validation of the hybrid's {len(SWITCHES)} lists and page rules "
            f"({cv['variants']} combinations, shared store, recall@5): shipped (all on) "
            f"{cv['shipped_recall@5']:.3f}; in-sample best {cv['in_sample_best']['recall@5']:.3f} "
            f"(off: {', '.join(cv['in_sample_best']['turned_off']) or 'none'}); "
            f"out-of-company {cv['out_of_company_recall@5']:.3f}"
        )
        for name, recall in cv["each_switch_off"].items():
            print(f"  {name} off alone: {recall:.3f}")
        for number, fold in enumerate(cv["folds"], start=1):
            print(
                f"  fold {number} ({fold['questions']} questions, {len(fold['companies'])} "
                f"companies): chosen off {', '.join(fold['turned_off']) or 'none'} -> "
                f"{fold['held_out_recall@5']:.3f}; shipped {fold['shipped_recall@5']:.3f}"
            )
    print(
        f"{'system':<24} {'store':<7} {'@1':>5} {'@5':>5} {'@10':>5} {'@20':>5}  MRR    "
        f"p50 ms  p95 ms"
    )
    for name, result in results.items():
        if name in ("index", "cv-by-company", "synthetic"):
            continue
        for store in ("shared", "single"):
            print(_row(name, result, store))
    if "llamaindex-default" in results and "verirag-hybrid" in results:
        for store in ("shared", "single"):
            ours = results["verirag-hybrid"][store]["recall"]["5"]
            theirs = results["llamaindex-default"][store]["recall"]["5"]
            print(
                f"recall@5 {store}: verirag hybrid {ours:.3f} vs LlamaIndex {theirs:.3f} "
                f"(ratio {ours / max(theirs, 1e-9):.2f}x)"
            )
    hybrid = results.get("verirag-hybrid")
    if hybrid:
        shared5, single5 = hybrid["shared"]["recall"]["5"], hybrid["single"]["recall"]["5"]
        p50 = hybrid["shared"]["latency_ms"]["p50"]

        def verdict(ok: bool) -> str:
            return "MET" if ok else "NOT MET"

        print(
            f"targets: shared recall@5 {shared5:.3f} (>= 0.90: {verdict(shared5 >= 0.9)}); "
            f"shared within 3 points of single ({single5:.3f}): "
            f"{verdict(single5 - shared5 <= 0.03)}; p50 {p50:.0f} ms "
            f"(<= 150: {verdict(p50 <= 150)})"
        )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2, default=str))
    print(f"results: {args.out}")
    return 0


if __name__ == "__main__":
    # Run as `python bench/retrieval.py`, this folder would come first on sys.path and its
    # ingest.py would shadow the ingest package.
    if sys.path and Path(sys.path[0]).resolve() == Path(__file__).resolve().parent:
        sys.path[0] = str(REPO)
    sys.exit(main(make_parser().parse_args()))
