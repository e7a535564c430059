"""Where the evidence lands in the answer context on real questions.

For each FinanceBench question, the service's own retrieval and context builder (the sentence
ranker, the context size) run as `verirag ask` runs them, and the label of the first sentence
on a gold evidence page is recorded: S1, S2, … or "absent". The histogram is what
`verirag align datasets --evidence_position_weights` takes, so that synthesised training
contexts put their evidence where the service puts it. The baseline named is the synthesised
contexts of the same index ordered by the same ranker (`--synthetic-index`), measured in the
same run: the share of answers whose evidence is S1 in each.

    python bench/context_positions.py --data-dir /tmp/fb-index3 \
        [--synthetic-index /tmp/align6/index --synthetic-count 100]

A first gold-page sentence is a proxy for the answer sentence (FinanceBench marks pages, not
sentences), so the figure is an upper bound on how early the answer comes.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from collections import Counter
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from alignment.config import DatasetConfig  # noqa: E402
from bench.common import run_environment  # noqa: E402

SHARED = REPO.parent / "shared" / "financebench"


def make_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", type=Path, required=True, help="the corpus's verirag index")
    parser.add_argument("--questions", type=Path, default=SHARED / "questions_dev.jsonl")
    parser.add_argument(
        "--synthetic-index",
        type=Path,
        default=None,
        help="an index to synthesise training contexts from, for the baseline histogram",
    )
    parser.add_argument("--synthetic-count", type=int, default=100)
    parser.add_argument(
        "--context-sentences",
        type=int,
        default=DatasetConfig.context_sentences,
        help="sentences per synthesised context (as `align datasets --context_sentences`)",
    )
    parser.add_argument("--out", type=Path, default=None, help="JSON report")
    return parser


def real_positions(data_dir: Path, questions_file: Path) -> list[int | None]:
    from engine.pipeline import AnswerPipeline, PipelineConfig
    from engine.runtime import build_retriever, build_sentence_ranker, embedder_from_settings
    from engine.settings import get_settings
    from ingest.store import IndexStore
    from retrieval.evaluate import load_questions

    settings = get_settings().model_copy(update={"data_dir": data_dir})
    embedder = embedder_from_settings(settings)  # one model for retrieval and the ranker
    positions: list[int | None] = []
    with IndexStore(data_dir) as store:
        retriever = build_retriever(settings, store, embedder=embedder)
        retriever.warm_up()
        ranker = build_sentence_ranker(settings, embedder)
        ranker.warm_up()
        # Only the context builder runs: no generator, no verifier (nor a trained judge).
        pipeline = AnswerPipeline(
            store,
            retriever,
            generator=None,  # type: ignore[arg-type]
            verifier=None,  # type: ignore[arg-type]
            config=PipelineConfig(context_max_sentences=settings.context_max_sentences),
            sentence_ranker=ranker,
        )
        for question in load_questions(questions_file):
            chunks = retriever.retrieve(question.question, settings.context_chunks, None)
            context = pipeline.build_context(chunks, question.question)
            position = next(
                (
                    number
                    for number, sentence in enumerate(context, start=1)
                    if (sentence.filing, sentence.page) in question.evidence_pages
                ),
                None,
            )
            positions.append(position)
    return positions


def synthetic_positions(index: Path, count: int, context_sentences: int) -> list[int | None]:
    from alignment.synthetic import build_evidence_examples
    from engine.runtime import build_sentence_ranker, build_verifier
    from engine.settings import get_settings
    from ingest.store import IndexStore

    settings = get_settings().model_copy(update={"data_dir": index})
    verifier = build_verifier(settings)
    verifier.warm_up()
    with IndexStore(index) as store:
        examples = build_evidence_examples(
            store, verifier, count, context_sentences, ranker=build_sentence_ranker(settings)
        )
    positions: list[int | None] = []
    for example in examples:
        if example.answerable and example.gold_labels:
            positions.append(int(example.gold_labels[0].lstrip("S")))
    return positions


def _label_order(item: tuple[str, int]) -> tuple[bool, int, str]:
    label = item[0]
    return (label == "absent", len(label), label)


def histogram(positions: list[int | None]) -> dict[str, Any]:
    counts = Counter("absent" if p is None else f"S{p}" for p in positions)
    found = [p for p in positions if p is not None]
    total = len(positions)
    return {
        "questions": total,
        "counts": dict(sorted(counts.items(), key=_label_order)),
        "share_s1": sum(1 for p in found if p == 1) / total if total else 0.0,
        "share_within_s3": sum(1 for p in found if p <= 3) / total if total else 0.0,
        "share_in_context": len(found) / total if total else 0.0,
        "median_position": statistics.median(found) if found else None,
        # Relative weights of S1..Sn among the answers that are in the context.
        "weights": [counts.get(f"S{n}", 0) for n in range(1, max(found, default=0) + 1)],
    }


def main() -> None:
    args = make_parser().parse_args()
    report: dict[str, Any] = {"environment": run_environment()}
    report["service"] = histogram(real_positions(args.data_dir, args.questions))
    service = report["service"]
    print(
        f"service contexts, {service['questions']} questions: S1 {service['share_s1']:.3f}, "
        f"within S1-S3 {service['share_within_s3']:.3f}, in context "
        f"{service['share_in_context']:.3f}, median position {service['median_position']}"
    )
    print("  counts:", service["counts"])
    print("  --evidence_position_weights", " ".join(str(w) for w in service["weights"]))
    if args.synthetic_index is not None:
        synthetic_found = synthetic_positions(
            args.synthetic_index, args.synthetic_count, args.context_sentences
        )
        report["synthetic"] = histogram(synthetic_found)
        synthetic = report["synthetic"]
        print(
            f"synthetic contexts (ranker order), {synthetic['questions']} answers: S1 "
            f"{synthetic['share_s1']:.3f}, within S1-S3 {synthetic['share_within_s3']:.3f}"
        )
        print("  counts:", synthetic["counts"])
        if service["share_s1"]:
            print(
                f"  S1 share, synthetic / service: "
                f"{synthetic['share_s1'] / service['share_s1']:.2f}x"
            )
    if args.out is not None:
        args.out.write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
