"""Retrieval benchmark: verirag vs the LlamaIndex default pipeline on FinanceBench dev questions.

Both systems answer the same questions in one run: evidence-page recall@1/5/10/20 and MRR
over the shared store (all 74 filings) and the single store (the question's own filing),
plus verirag's per-query latency (p50/p95) on this CPU. LlamaIndex runs its defaults: one
Document per PDF page, SentenceSplitter, the same all-MiniLM-L6-v2, FAISS flat.

    python bench/retrieval.py --data-dir /tmp/fb-index          # index built if missing
    python bench/retrieval.py --data-dir /tmp/fb-index --skip-baseline --modes hybrid dense
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
    print(
        f"{'system':<24} {'store':<7} {'@1':>5} {'@5':>5} {'@10':>5} {'@20':>5}  MRR    "
        f"p50 ms  p95 ms"
    )
    for name, result in results.items():
        if name == "index":
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
