"""Entailment judges on the verifier bench: ROC-AUC per source, and the operating threshold
(the lowest whose macro false-accept rate is at most the target) chosen on every source, as a
data card records it, beside its leave-one-source-out twin: the threshold chosen on the other
sources and applied to the held-out one (what a user's own documents get).

Every judge named is scored in the same run, on the same examples; the first is the baseline
the others' ratios are against.

    python bench/judge_card.py --bench ../shared/verifier_bench/dev.jsonl \\
        --judge packaged:minilm-nli --judge /path/to/other-judge
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]


def make_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--bench", type=Path, default=REPO.parent / "shared/verifier_bench/dev.jsonl"
    )
    parser.add_argument(
        "--judge",
        action="append",
        help="a judge spec (packaged:minilm-nli, trained:NAME, a judge folder); repeatable; "
        "the first is the baseline (default: packaged:minilm-nli)",
    )
    parser.add_argument("--max-false-accept", type=float, default=0.15)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", type=Path, help="write the figures here as JSON")
    return parser


def judge_figures(spec: str, bench: Path, max_false_accept: float, threads: int) -> dict[str, Any]:
    from engine.settings import get_settings
    from verifier.evaluate import (
        accept_rates,
        load_bench,
        operating_threshold,
        report,
        score_examples,
    )
    from verifier.nli import load_judge

    examples = load_bench(bench)
    judge = load_judge(spec, get_settings().cache_dir, runtime="onnx-int8", threads=threads)
    scores, ms = score_examples(judge, examples)
    figures = report(examples, scores)
    threshold = operating_threshold(examples, scores, max_false_accept)
    false_accept, true_accept = accept_rates(examples, scores, threshold)
    held_out: dict[str, dict[str, float]] = {}
    for source in sorted({e.dataset for e in examples}):
        inside = [i for i, e in enumerate(examples) if e.dataset != source]
        outside = [i for i, e in enumerate(examples) if e.dataset == source]
        chosen = operating_threshold(
            [examples[i] for i in inside], [scores[i] for i in inside], max_false_accept
        )
        rates = accept_rates([examples[i] for i in outside], [scores[i] for i in outside], chosen)
        held_out[source] = {
            "threshold": round(chosen, 4),
            "false_accept": round(rates[0], 4),
            "true_accept": round(rates[1], 4),
        }
    return {
        "judge": judge.version,
        "examples": len(examples),
        "ms_per_example": round(ms, 2),
        "macro_roc_auc": figures["macro_roc_auc"],
        "roc_auc": {name: d["roc_auc"] for name, d in figures["datasets"].items()},
        "in_sample": {
            "threshold": round(threshold, 4),
            "false_accept": round(false_accept, 4),
            "true_accept": round(true_accept, 4),
        },
        "leave_one_source_out": {
            "false_accept": round(
                statistics.fmean(h["false_accept"] for h in held_out.values()), 4
            ),
            "true_accept": round(statistics.fmean(h["true_accept"] for h in held_out.values()), 4),
            "by_source": held_out,
        },
    }


def _mean(held_out: dict[str, dict[str, float]], rate: str) -> float:
    return round(statistics.fmean(h[rate] for h in held_out.values()), 4)


def main(argv: list[str] | None = None) -> int:
    args = make_parser().parse_args(argv)
    if not args.bench.is_file():
        print(f"error: no verifier bench at {args.bench}; pass --bench FILE", file=sys.stderr)
        return 2
    specs = args.judge or ["packaged:minilm-nli"]
    results = [judge_figures(s, args.bench, args.max_false_accept, args.threads) for s in specs]
    baseline = results[0]
    for spec, result in zip(specs, results, strict=True):
        result["spec"] = spec
        result["macro_roc_auc_ratio_vs_baseline"] = round(
            result["macro_roc_auc"] / baseline["macro_roc_auc"], 4
        )
        print(json.dumps(result, indent=2))
    if args.out:
        args.out.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    # Run as `python bench/NAME.py`, this folder would come first on sys.path and its
    # ingest.py would shadow the ingest package.
    if sys.path and Path(sys.path[0]).resolve() == Path(__file__).resolve().parent:
        sys.path[0] = str(REPO)
    raise SystemExit(main())
