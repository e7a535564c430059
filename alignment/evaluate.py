"""`verirag align eval`: how faithful and how correct each candidate generator is, on prompts
no candidate was trained on, judged on its raw outputs (before the verifier drops anything).

Raw means decoded under the JSON schema only (or nothing): the quote a model writes is its
own, not one a grammar forced. Per candidate: unsupported-claim rate (claims failing any
blocking claim rule of the constitution; an output that is not an answer counts as one
unsupported claim), verbatim-quote rate, citation precision/recall against the sentences that
hold the answer, answer correctness (figures match; refusing an unanswerable prompt is
correct), refusal rate, exact match, ROUGE-L and BERTScore against the reference answer.
"""

from __future__ import annotations

import json
import re
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from alignment.examples import context_load
from verifier.checks import Verifier
from verifier.numbers import is_verbatim_span, normalise_text
from verifier.types import DraftAnswer, EvidenceContext


@dataclass(frozen=True, slots=True)
class Candidate:
    name: str
    model: str  # a model directory (merged) or hub id
    adapter: str | None = None
    run_dir: str | None = None


def parse_candidates(spec: str, base_model: str) -> list[Candidate]:
    candidates = []
    for item in (part.strip() for part in spec.split(",")):
        if not item:
            continue
        name, _, path = item.partition("=") if "=" in item else ("", "", item)
        if path == "base":
            candidates.append(Candidate(name or "base", base_model))
            continue
        run = Path(path)
        card_path = run / "verirag_run.json"
        if not card_path.exists():
            raise FileNotFoundError(
                f"{run} is not a finished `verirag align` run (no {card_path.name})"
            )
        serving = json.loads(card_path.read_text()).get("serving", {})
        if serving.get("merged"):
            candidates.append(Candidate(name or run.name, serving["merged"], None, str(run)))
        elif serving.get("adapter"):
            candidates.append(
                Candidate(name or run.name, serving["adapter_base"], serving["adapter"], str(run))
            )
        else:
            raise ValueError(f"{run} holds no policy to evaluate (a reward-model run?)")
    return candidates


@dataclass
class PromptOutcome:
    question: str
    answerable: bool
    output: str
    parsed: bool
    refused: bool
    claims: int
    unsupported_claims: int
    citations: int
    verbatim_citations: int
    citation_precision: float | None
    citation_recall: float | None
    correct: bool | None
    exact_match: bool | None
    rouge_l: float | None
    seconds: float
    failures: list[str] = field(default_factory=list)


def _normal(text: str) -> str:
    return re.sub(r"[^a-z0-9.%]+", " ", normalise_text(text).lower()).strip()


def _claims_text(completion: str) -> str:
    try:
        draft = DraftAnswer.model_validate_json(completion)
    except ValueError:
        return completion
    if not draft.claims:
        return draft.answer
    return " ".join(claim.text for claim in draft.claims)


def score_output(
    output: str,
    row: dict[str, Any],
    context: EvidenceContext,
    verifier: Verifier,
    rouge: Callable[[str, str], float] | None,
    seconds: float = 0.0,
) -> PromptOutcome:
    from engine.answer_eval import figures_match

    answerable = bool(row["answerable"])
    gold_answer = str(row.get("gold_answer") or "")
    gold_labels = set(row.get("gold_labels") or [])
    try:
        draft = DraftAnswer.model_validate_json(output)
    except ValueError:
        return PromptOutcome(
            row["question"],
            answerable,
            output,
            False,
            False,
            1,
            1,
            0,
            0,
            0.0 if gold_labels else None,
            0.0 if gold_labels else None,
            False,
            False if gold_answer else None,
            0.0 if rouge else None,
            seconds,
            ["unparseable"],
        )
    refused = not draft.claims
    failures: list[str] = []
    unsupported = 0
    if draft.claims:
        report = verifier.verify(draft, context, row["question"])
        for claim_report in report.claims:
            if not claim_report.passed:
                unsupported += 1
                failures += [f.rule_id for f in claim_report.failures]
    citations = verbatim = 0
    cited: set[str] = set()
    for claim in draft.claims:
        for citation in claim.citations:
            citations += 1
            sentence = context.get(citation.sentence_id)
            if sentence is not None:
                cited.add(sentence.label)
                verbatim += is_verbatim_span(citation.quote, sentence.text)
    precision = recall = None
    if gold_labels and answerable:
        hits = len(cited & gold_labels)
        precision = hits / len(cited) if cited else 0.0
        recall = hits / len(gold_labels)
    if not answerable:
        correct: bool | None = refused
    elif refused:
        correct = False
    elif gold_answer:
        match = figures_match(gold_answer, draft.answer)
        correct = match if match is not None else _normal(gold_answer) in _normal(draft.answer)
    else:
        correct = None
    exact = _normal(draft.answer) == _normal(gold_answer) if gold_answer else None
    reference = _claims_text(str(row.get("reference") or ""))
    rouge_l = rouge(reference, _claims_text(output)) if rouge and reference else None
    return PromptOutcome(
        row["question"],
        answerable,
        output,
        True,
        refused,
        len(draft.claims),
        unsupported,
        citations,
        verbatim,
        precision,
        recall,
        correct,
        exact,
        rouge_l,
        seconds,
        failures,
    )


def _mean(values: Sequence[float | bool | None]) -> float | None:
    kept = [float(v) for v in values if v is not None]
    return round(sum(kept) / len(kept), 4) if kept else None


def summarise(outcomes: Sequence[PromptOutcome], bertscore: float | None) -> dict[str, Any]:
    claims = sum(o.claims for o in outcomes)
    citations = sum(o.citations for o in outcomes)
    return {
        "prompts": len(outcomes),
        "claims": claims,
        "unsupported_claim_rate": round(sum(o.unsupported_claims for o in outcomes) / claims, 4)
        if claims
        else None,
        "verbatim_quote_rate": round(sum(o.verbatim_citations for o in outcomes) / citations, 4)
        if citations
        else None,
        "citation_precision": _mean([o.citation_precision for o in outcomes]),
        "citation_recall": _mean([o.citation_recall for o in outcomes]),
        "correctness": _mean([o.correct for o in outcomes]),
        "refusal_rate": _mean([o.refused for o in outcomes]),
        "unparseable_rate": _mean([not o.parsed for o in outcomes]),
        "exact_match": _mean([o.exact_match for o in outcomes]),
        "rouge_l": _mean([o.rouge_l for o in outcomes]),
        "bertscore_f1": round(bertscore, 4) if bertscore is not None else None,
        "seconds_median": round(statistics.median(o.seconds for o in outcomes), 2)
        if outcomes
        else None,
    }


def rouge_scorer() -> Callable[[str, str], float] | None:
    try:
        from rouge_score import rouge_scorer as rouge
    except ImportError:
        return None
    scorer = rouge.RougeScorer(["rougeL"], use_stemmer=True)
    return lambda reference, candidate: float(scorer.score(reference, candidate)["rougeL"].fmeasure)


def bertscore(candidates: list[str], references: list[str], model_path: str) -> float | None:
    """Mean BERTScore F1 with a local encoder (the packaged all-MiniLM-L6-v2 by default)."""
    pairs = [(c, r) for c, r in zip(candidates, references, strict=True) if r.strip()]
    if not pairs:
        return None
    try:
        from bert_score import score
    except ImportError:
        return None
    _, _, f1 = score(
        [c for c, _ in pairs],
        [r for _, r in pairs],
        model_type=model_path,
        num_layers=6,
        batch_size=16,
        device="cpu",
    )
    return float(f1.mean())


# How raw outputs are decoded: "json_schema" (structure only; quotes and labels are the
# model's own, as with vLLM's json_schema mode), "evidence_grammar" (the service's grammar:
# labels from the context, quotes that are runs of whole clauses of the cited sentence, so every
# quote is verbatim and what is left to measure is what the claims say) or "none".
CONSTRAINTS = ("json_schema", "evidence_grammar", "none")


def generate_outputs(
    candidate: Candidate,
    rows: Sequence[dict[str, Any]],
    cache_dir: Path,
    constraint: str,
    max_new_tokens: int,
    threads: int = 0,
) -> list[tuple[str, float]]:
    from engine.local_generator import TransformersGenerator
    from verifier.types import DraftAnswer as Schema

    if constraint not in CONSTRAINTS:
        raise ValueError(f"unknown decoding constraint {constraint!r}; one of {CONSTRAINTS}")
    generator = TransformersGenerator(
        candidate.model, cache_dir, adapter=candidate.adapter, threads=threads
    )
    generator.warm_up()
    compiled = None
    if constraint == "json_schema":
        compiled = generator.compile(json_schema=Schema.model_json_schema())
    outputs = []
    for row in rows:
        started = time.perf_counter()
        if constraint == "evidence_grammar":
            from engine.generation import build_constraint

            compiled = generator.compile(
                grammar=build_constraint(context_load(row["context"])).grammar
            )
        generation = generator.decode(row["prompt"], compiled, max_new_tokens)
        outputs.append((generation.text, time.perf_counter() - started))
    return outputs


def evaluate_candidates(
    candidates: Sequence[Candidate],
    rows: Sequence[dict[str, Any]],
    verifier: Verifier,
    cache_dir: Path,
    constraint: str = "json_schema",
    max_new_tokens: int = 320,
    bertscore_model: str | None = None,
    threads: int = 0,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    rouge = rouge_scorer()
    report = _report_head(constraint, rows, verifier)
    for candidate in candidates:
        started = time.perf_counter()
        outputs = generate_outputs(candidate, rows, cache_dir, constraint, max_new_tokens, threads)
        outcomes, summary = _scored(outputs, rows, verifier, rouge, bertscore_model)
        summary["wall_seconds"] = round(time.perf_counter() - started, 1)
        report["candidates"][candidate.name] = {
            "model": candidate.model,
            "adapter": candidate.adapter,
            "run_dir": candidate.run_dir,
            "metrics": summary,
            "outcomes": [asdict(o) for o in outcomes],
        }
        log(f"{candidate.name}: {json.dumps(summary)}")
    return report


def _report_head(constraint: str, rows: Sequence[Any], verifier: Verifier) -> dict[str, Any]:
    return {
        "constraint": constraint,
        "prompts": len(rows),
        "constitution": verifier.constitution.version_id,
        "judge": verifier.judge.version,
        "candidates": {},
    }


def _scored(
    outputs: Sequence[tuple[str, float]],
    rows: Sequence[dict[str, Any]],
    verifier: Verifier,
    rouge: Callable[[str, str], float] | None,
    bertscore_model: str | None,
) -> tuple[list[PromptOutcome], dict[str, Any]]:
    """Each (raw output, seconds) scored against its prompt, and the candidate's summary."""
    outcomes = [
        score_output(text, dict(row), context_load(row["context"]), verifier, rouge, seconds)
        for (text, seconds), row in zip(outputs, rows, strict=True)
    ]
    bert = None
    if bertscore_model:
        bert = bertscore(
            [_claims_text(o.output) for o in outcomes],
            [_claims_text(str(r.get("reference") or "")) for r in rows],
            bertscore_model,
        )
    return outcomes, summarise(outcomes, bert)


def rescore_report(
    earlier: dict[str, Any],
    rows: Sequence[dict[str, Any]],
    verifier: Verifier,
    bertscore_model: str | None = None,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """An earlier report's raw outputs scored again under ``verifier``: same prompts, same
    generations, the current constitution and judge. Generation timings are carried over."""
    rouge = rouge_scorer()
    report = _report_head(earlier["constraint"], rows, verifier)
    report["rescored_from"] = {
        "constitution": earlier.get("constitution"),
        "judge": earlier.get("judge"),
    }
    for name, entry in earlier["candidates"].items():
        previous = entry["outcomes"]
        if len(previous) != len(rows) or any(
            old["question"] != row["question"] for old, row in zip(previous, rows, strict=False)
        ):
            raise ValueError(
                f"the report's outputs for {name} were not made on these held-out prompts "
                f"({len(previous)} outputs, {len(rows)} prompts): rescore against the dataset "
                "it was evaluated on"
            )
        outputs = [(old["output"], old["seconds"]) for old in previous]
        outcomes, summary = _scored(outputs, rows, verifier, rouge, bertscore_model)
        summary["wall_seconds"] = entry["metrics"].get("wall_seconds")
        report["candidates"][name] = {
            **{key: entry.get(key) for key in ("model", "adapter", "run_dir")},
            "metrics": summary,
            "outcomes": [asdict(o) for o in outcomes],
        }
        log(f"{name} (rescored): {json.dumps(summary)}")
    return report


def held_out_rows(dataset_dir: Path, limit: int | None) -> list[dict[str, Any]]:
    from alignment.datasets import load

    rows = [dict(row) for row in load(dataset_dir, "prompts")["eval"]]
    for row in rows:
        row.setdefault("reference", "")
    return rows[:limit] if limit is not None else rows
