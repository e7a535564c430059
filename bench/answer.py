"""Answer-pipeline benchmark: the verifier on verifier_bench dev, and verified answers on
FinanceBench dev questions, each against a peer baseline measured in the same run.

- Verifier: the configured entailment judge (claim sentences × premise windows) against the
  untrained baseline the bench README names, MiniLM cosine of claim vs best premise window:
  ROC-AUC and balanced accuracy per dataset and macro, ms per claim, batched claims/s.
- Answers: every dev question through retrieve → generate → verify → revise with the embedded
  generator; correct / incorrect / refused against gold, against the same first generations
  delivered unverified (what a RAG without the verifier would have shown the analyst).

    python bench/answer.py --data-dir /tmp/fb-index                   # both parts
    python bench/answer.py --data-dir /tmp/fb-index --skip-answers    # the verifier only
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"


def make_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", type=Path, required=True, help="verirag index of the corpus")
    parser.add_argument("--bench", type=Path, default=SHARED / "verifier_bench" / "dev.jsonl")
    parser.add_argument(
        "--questions", type=Path, default=SHARED / "financebench" / "questions_dev.jsonl"
    )
    parser.add_argument("--limit", type=int, default=None, help="only the first N questions")
    parser.add_argument("--given-filing", action="store_true", help="restrict to the gold filing")
    parser.add_argument("--skip-answers", action="store_true")
    parser.add_argument("--skip-verifier", action="store_true")
    parser.add_argument(
        "--replay",
        type=Path,
        default=None,
        help="a previous run's JSON: re-verify its logged generations with the current "
        "verifier instead of generating (what a constitution or judge change does)",
    )
    parser.add_argument(
        "--no-generator",
        action="store_true",
        help="a generator that always declines: what the statement lookup and the metric "
        "calculator answer by themselves, in seconds",
    )
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument(
        "--out",
        type=Path,
        default=REPO / "bench" / "results" / f"answer-{time.strftime('%Y%m%d-%H%M%S')}.json",
    )
    return parser


class CosineJudge:
    """The untrained baseline: cosine of MiniLM embeddings (premise window vs claim)."""

    version = "minilm-cosine"
    max_tokens = 256

    def __init__(self, embedder: Any) -> None:
        self._embedder = embedder

    @property
    def threshold(self) -> float:
        return 0.5

    def warm_up(self) -> None:
        self._embedder.warm_up()

    def score(self, pairs: Any) -> list[float]:
        texts = sorted({t for pair in pairs for t in pair})
        vectors = self._embedder.embed_documents(texts)
        index = {t: i for i, t in enumerate(texts)}
        return [float(vectors[index[p]] @ vectors[index[h]]) for p, h in pairs]


def verifier_part(settings: Any, bench: Path) -> dict[str, Any]:
    from engine.runtime import build_judge
    from ingest.embedding import OnnxEmbedder
    from verifier.evaluate import load_bench, report, score_examples

    examples = load_bench(bench)
    judge = build_judge(settings)
    scores, ms = score_examples(judge, examples)
    ours = report(examples, scores)
    ours.update(judge=judge.version, ms_per_claim=round(ms, 2))
    # Batched throughput on the pipeline's workload: one claim against its short cited span.
    short = [(e.premise[:400], e.hypothesis[:200]) for e in examples[:256]]
    started = time.perf_counter()
    judge.score(short)
    ours["batched_claims_per_second"] = round(len(short) / (time.perf_counter() - started), 1)
    cosine = CosineJudge(OnnxEmbedder(cache_dir=settings.cache_dir, threads=settings.torch_threads))
    base_scores, base_ms = score_examples(cosine, examples)
    baseline = report(examples, base_scores)
    baseline.update(judge=cosine.version, ms_per_claim=round(base_ms, 2))
    return {
        "verirag": ours,
        "baseline_minilm_cosine": baseline,
        "macro_auc_ratio_vs_baseline": round(
            ours["macro_roc_auc"] / max(1e-9, baseline["macro_roc_auc"]), 3
        ),
    }


class DecliningGenerator:
    """Declines every question, so that only the lookup and the calculator answer."""

    model_version = "declines"

    def warm_up(self) -> None:
        return None

    def generate(
        self, messages: Any, constraint: Any, max_new_tokens: int, on_text: Any = None
    ) -> Any:
        from engine.generation import Generation

        text = '{"claims": [], "answer": "insufficient evidence", "insufficient_evidence": true}'
        return Generation(text, self.model_version, 0, 0, 0.0)


def answers_part(
    settings: Any, questions: Path, limit: int | None, given: bool, declining: bool = False
) -> dict[str, Any]:
    from engine.answer_eval import (
        AnswerEvaluation,
        embedding_similarity,
        load_gold,
        plot_outcomes,
    )
    from engine.runtime import build_pipeline, embedder_from_settings
    from ingest.store import IndexStore
    from service.cli import _retriever
    from service.log import InteractionLog

    gold = load_gold(questions)[:limit]
    with (
        IndexStore(settings.data_dir) as store,
        InteractionLog.in_data_dir(settings.data_dir) as log,
    ):
        embedder = embedder_from_settings(settings)
        pipeline = build_pipeline(
            settings,
            store,
            _retriever(settings, store, "hybrid", settings.rerank_top, embedder),
            generator=DecliningGenerator() if declining else None,
            embedder=embedder,
        )
        pipeline.warm_up()
        similarity = embedding_similarity(embedder)
        evaluation = AnswerEvaluation(pipeline, pipeline.verifier.judge, similarity, log.append)

        def progress(outcome: Any) -> None:
            print(
                f"  {outcome.id}: {outcome.outcome:9s} (unverified: {outcome.unverified_outcome}) "
                f"{outcome.timings.get('total_ms', 0) / 1000:.1f} s {outcome.answer[:60]!r}",
                flush=True,
            )

        result = evaluation.run(gold, given, progress)
        result["versions"] = pipeline.versions().model_dump()
    plot_outcomes(result, Path(str(settings.data_dir)) / "answers.png")
    verified_wrong = result["counts"]["incorrect"]
    unverified_wrong = result["unverified_baseline_counts"]["incorrect"]
    result["wrong_answers_ratio_vs_unverified"] = (
        round(verified_wrong / unverified_wrong, 3) if unverified_wrong else None
    )
    return result


def replay_part(settings: Any, previous: Path, questions: Path) -> dict[str, Any]:
    from engine.answer_eval import AnswerEvaluation, embedding_similarity, load_gold
    from engine.runtime import build_pipeline, embedder_from_settings
    from ingest.store import IndexStore
    from service.cli import _retriever
    from service.log import InteractionLog

    earlier = json.loads(previous.read_text())["answers"]["per_question"]
    gold = {q.id: q for q in load_gold(questions)}
    counts = {"correct": 0, "incorrect": 0, "refused": 0, "failed": 0}
    changed = []
    with (
        IndexStore(settings.data_dir) as store,
        InteractionLog.in_data_dir(settings.data_dir) as log,
    ):
        embedder = embedder_from_settings(settings)
        pipeline = build_pipeline(
            settings,
            store,
            _retriever(settings, store, "hybrid", settings.rerank_top, embedder),
            embedder=embedder,
        )
        pipeline.verifier.warm_up()
        judge = AnswerEvaluation(
            pipeline,
            pipeline.verifier.judge,
            embedding_similarity(embedder),
        )
        for item in earlier:
            if not item.get("answer_id"):
                counts["failed"] += 1
                continue
            answer = pipeline.reverify(log.get(item["answer_id"]))
            outcome = (
                "refused"
                if answer.refused
                else judge.judge_answer(
                    gold[item["id"]].answer, answer.answer, gold[item["id"]].question
                )[0]
            )
            counts[outcome] += 1
            if outcome != item["outcome"]:
                changed.append({"id": item["id"], "was": item["outcome"], "now": outcome})
        constitution = pipeline.verifier.constitution.version_id
    return {"counts": counts, "changed": changed, "constitution": constitution}


def main(args: argparse.Namespace) -> int:
    import os

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from engine.settings import get_settings

    settings = get_settings().model_copy(
        update={"data_dir": args.data_dir, "torch_threads": args.threads}
    )
    results: dict[str, Any] = {"machine": os.uname().nodename, "threads": args.threads}
    if args.replay is not None:
        results["replay"] = replay_part(settings, args.replay, args.questions)
        print(
            f"replayed {args.replay} under {results['replay']['constitution']}: "
            f"{results['replay']['counts']}; changed: {results['replay']['changed']}"
        )
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(results, indent=2, default=str))
        return 0
    if not args.skip_verifier:
        if not args.bench.is_file():
            print(f"SKIPPED verifier part: {args.bench} not found", file=sys.stderr)
        else:
            results["verifier"] = verifier_part(settings, args.bench)
            ours = results["verifier"]["verirag"]
            base = results["verifier"]["baseline_minilm_cosine"]
            print(
                f"verifier macro ROC-AUC {ours['macro_roc_auc']:.3f} (baseline cosine "
                f"{base['macro_roc_auc']:.3f}, ratio "
                f"{results['verifier']['macro_auc_ratio_vs_baseline']:.2f}); macro BAcc "
                f"{ours['macro_balanced_accuracy']:.3f} at {ours['threshold']:.3f}; "
                f"{ours['ms_per_claim']:.1f} ms/claim; {ours['batched_claims_per_second']} "
                "claims/s batched",
                flush=True,
            )
    if not args.skip_answers:
        answers = answers_part(
            settings, args.questions, args.limit, args.given_filing, args.no_generator
        )
        results["answers"] = answers
        counts, base = answers["counts"], answers["unverified_baseline_counts"]
        total = answers["questions"]
        print(
            f"answers on {total} questions: correct {counts['correct']}, incorrect "
            f"{counts['incorrect']} ({counts['incorrect'] / total:.1%}), refused "
            f"{counts['refused']}, failed {counts['failed']}; unverified baseline: correct "
            f"{base['correct']}, incorrect {base['incorrect']}, refused {base['refused']}; "
            f"quotes verbatim {answers['quote_exact_match_rate']}; retrieve+verify p50 "
            f"{answers['retrieve_plus_verify_p50_ms']} ms; total p50 "
            f"{answers['latency_ms']['total_ms']['p50']} ms",
            flush=True,
        )
        drafters: dict[str, dict[str, int]] = {}
        for item in answers["per_question"]:
            by = drafters.setdefault(item.get("drafted_by") or "none", {})
            by[item["outcome"]] = by.get(item["outcome"], 0) + 1
        answers["outcomes_by_drafter"] = drafters
        print(f"outcomes by what drafted the delivered answer: {drafters}")
        stages = {k: v["p50"] for k, v in answers["latency_ms"].items()}
        print(f"per-stage p50 ms: {stages}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2, default=str))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    # Run as `python bench/answer.py`, this folder would come first on sys.path and its
    # ingest.py would shadow the ingest package.
    if sys.path and Path(sys.path[0]).resolve() == Path(__file__).resolve().parent:
        sys.path[0] = str(REPO)
    sys.exit(main(make_parser().parse_args()))
