"""`verirag align STAGE [--config FILE.yaml] [--FIELD VALUE ...]`.

Each stage's flags are its config's fields (``alignment.config``); ``--config`` reads them from
YAML first and flags override. ``verirag align STAGE --help`` lists every field with its help.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from alignment.config import DatasetConfig, EvalConfig, PromoteConfig, ReportConfig

STAGES = ("datasets", "sft", "reward", "grpo", "ppo", "dpo", "eval", "promote", "report")

USAGE = """usage: verirag align STAGE [--config FILE.yaml] [--FIELD VALUE ...]

Stages, in the order a retraining runs them:
  datasets  training data from the interaction log, the index and constitutional revisions
  sft       supervised fine-tuning with LoRA on verified, cited answers (TRL SFTTrainer)
  reward    the preference reward model on a small packaged encoder (TRL RewardTrainer)
  grpo      GRPO against the hybrid reward (TRL GRPOTrainer)
  ppo       PPO against the hybrid reward (TRL experimental PPOTrainer)
  dpo       DPO on the preference pairs (TRL DPOTrainer)
  eval      faithfulness and correctness of candidates' raw outputs on held-out prompts
  promote   the gate: serve a candidate only if it is more faithful and no less correct
  report    comparison table and training curves as Markdown and PNG

`verirag align STAGE --help` lists the stage's settings.
"""


def _parser(config_type: type[Any], stage: str) -> Any:
    from trl.scripts.utils import TrlParser

    parser = TrlParser([config_type])  # type: ignore[list-item]
    parser.prog = f"verirag align {stage}"
    return parser


def _parse(config_type: type[Any], stage: str, argv: Sequence[str]) -> Any:
    (config,) = _parser(config_type, stage).parse_args_and_config(list(argv))
    return config


def _settings(data_dir: str | None) -> Any:
    from engine.settings import get_settings

    settings = get_settings()
    if data_dir:
        settings = settings.model_copy(update={"data_dir": Path(data_dir)})
    return settings


def run_datasets(config: DatasetConfig, log: Any = print) -> dict[str, Any]:
    from alignment import datasets as ds
    from alignment.examples import PreferencePair, SFTExample
    from alignment.logdata import build_from_log
    from alignment.synthetic import (
        build_evidence_examples,
        constitutional_revisions,
        perturbed_pairs,
    )
    from engine.runtime import build_verifier
    from ingest.store import IndexStore
    from service.log import InteractionLog

    settings = _settings(config.data_dir)
    if config.database_url:
        settings = settings.model_copy(update={"database_url": config.database_url})
    verifier = build_verifier(settings)
    verifier.warm_up()
    sft: list[SFTExample] = []
    pairs: list[PreferencePair] = []
    provenance: dict[str, Any] = {
        "constitution": verifier.constitution.version_id,
        "judge": verifier.judge.version,
        "data_dir": str(settings.data_dir),
    }
    if config.include_log:
        with InteractionLog.open(settings.service_database_url) as interaction_log:
            from_log = build_from_log(interaction_log)
        sft += from_log.sft
        pairs += from_log.pairs
        provenance["log"] = {
            "answers_read": from_log.records_read,
            "first": from_log.first_at,
            "last": from_log.last_at,
        }
        log(
            f"log: {from_log.records_read} answers → {len(from_log.sft)} SFT, "
            f"{len(from_log.pairs)} pairs"
        )
    if config.evidence_examples:
        from engine.runtime import build_sentence_ranker

        store = IndexStore(settings.data_dir)
        try:
            evidence = build_evidence_examples(
                store,
                verifier,
                config.evidence_examples,
                config.context_sentences,
                config.refusal_share,
                config.seed,
                ranker=build_sentence_ranker(settings),
                evidence_position_weights=config.evidence_position_weights,
            )
            provenance["index_version"] = store.index_version
            provenance["evidence_position_weights"] = config.evidence_position_weights
        finally:
            store.close()
        sft += evidence
        pairs += perturbed_pairs(evidence, verifier, config.seed)
        log(f"index: {len(evidence)} verified evidence-linked examples")
        if config.constitutional_examples:
            from engine.generation import build_constraint
            from engine.runtime import build_generator

            generator = build_generator(settings)
            generator.warm_up()
            train_side = [
                e
                for e in evidence
                if not ds.eval_side(e.question, config.eval_fraction, config.seed)
            ][: config.constitutional_examples]
            revisions = constitutional_revisions(
                train_side,
                generator,
                verifier,
                lambda context: _schema_only(build_constraint(context)),
            )
            sft += revisions.sft
            pairs += revisions.pairs
            provenance["constitutional"] = {
                "attempted": revisions.attempted,
                "improved": revisions.improved,
                "generator": generator.model_version,
            }
            log(
                f"constitutional revision: {revisions.improved}/{revisions.attempted} improved, "
                f"{len(revisions.sft)} SFT targets"
            )
    held_out: list[dict[str, Any]] = []
    if config.questions:
        from alignment.synthetic import held_out_question_prompts
        from engine.runtime import build_pipeline, build_retriever

        store = IndexStore(settings.data_dir)
        try:
            retriever = build_retriever(settings, store)
            pipeline = build_pipeline(settings, store, retriever, verifier=verifier)

            def context_for(question: str, filters: Any) -> Any:
                chunks = retriever.retrieve(question, settings.context_chunks, filters)
                return pipeline.build_context(chunks, question)

            held_out = held_out_question_prompts(Path(config.questions), store, context_for)
        finally:
            store.close()
        provenance["held_out_questions"] = {"file": config.questions, "prompts": len(held_out)}
        log(f"held-out gold questions: {len(held_out)} prompts")
    built = ds.assemble(sft, pairs, config.eval_fraction, config.seed, provenance, held_out)
    ds.write(built, Path(config.output_dir))
    log(json.dumps(built.card["counts"]))
    return built.card


def _schema_only(constraint: Any) -> Any:
    """The critique needs raw outputs to critique: decode under the JSON schema (the
    structure) rather than the quoting grammar, which makes every quote verbatim."""
    from engine.generation import OutputConstraint

    return OutputConstraint(json_schema=constraint.json_schema, grammar=_schema_grammar(constraint))


def _schema_grammar(constraint: Any) -> str:
    import xgrammar as xgr

    return str(
        xgr.Grammar.from_json_schema(json.dumps(constraint.json_schema), any_whitespace=False)
    )


def run_eval(config: EvalConfig, log: Any = print) -> dict[str, Any]:
    from alignment.evaluate import (
        evaluate_candidates,
        held_out_rows,
        parse_candidates,
        rescore_report,
    )
    from alignment.train import encoder_path, start_model
    from engine.runtime import build_verifier

    settings = _settings(None)
    if config.judge:
        settings = settings.model_copy(update={"nli_model": config.judge})
    verifier = build_verifier(settings)
    verifier.warm_up()

    class _Base:
        init_from = None
        base_model = config.base_model

    rows = held_out_rows(Path(config.dataset_dir), config.limit)
    if not rows:
        raise ValueError(f"{config.dataset_dir}/prompts has no held-out prompts")
    bertscore_model = encoder_path(config.bertscore_model or "packaged:minilm")
    if config.rescore:
        earlier = json.loads(Path(config.rescore).read_text())
        report = rescore_report(earlier, rows, verifier, bertscore_model, log)
    else:
        candidates = parse_candidates(config.candidates, start_model(_Base))
        report = evaluate_candidates(
            candidates,
            rows,
            verifier,
            settings.cache_dir,
            config.constraint,
            config.max_new_tokens,
            bertscore_model,
            settings.torch_threads,
            log,
        )
    output = Path(config.output)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(report, indent=2) + "\n")
    return report


def run_promote(config: PromoteConfig, log: Any = print) -> int:
    from alignment.promote import promote

    if not config.candidate:
        raise ValueError("--candidate is required: the name of a candidate in the eval report")
    report = json.loads(Path(config.eval_report).read_text())
    settings = _settings(config.data_dir)
    decision = promote(
        report,
        config.candidate,
        settings.data_dir,
        config.current,
        config.min_faithfulness_gain,
        config.max_correctness_loss,
        config.served_name,
    )
    verdict = "promoted" if decision.promoted else "refused"
    log(f"{verdict}: {config.candidate} vs {decision.current}: " + "; ".join(decision.reasons))
    return 0 if decision.promoted else 3


def main(argv: Sequence[str]) -> int:
    try:
        return _main(argv)
    except (FileNotFoundError, ValueError, KeyError) as exc:
        # Bad input (a missing dataset or run, an empty split, an unknown candidate) is a
        # one-line message naming what to fix, not a traceback.
        message = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
        print(f"error: {message}", file=sys.stderr)
        return 2


def _main(argv: Sequence[str]) -> int:
    args = list(argv)
    if not args or args[0] in {"-h", "--help"}:
        print(USAGE)
        return 0 if args else 2
    stage, rest = args[0], args[1:]
    if stage not in STAGES:
        print(f"error: unknown stage '{stage}'.\n\n{USAGE}", file=sys.stderr)
        return 2
    if stage == "datasets":
        run_datasets(_parse(DatasetConfig, stage, rest))
        return 0
    if stage == "eval":
        run_eval(_parse(EvalConfig, stage, rest))
        return 0
    if stage == "promote":
        return run_promote(_parse(PromoteConfig, stage, rest))
    if stage == "report":
        from alignment.report import write_report

        config = _parse(ReportConfig, stage, rest)
        runs = [Path(p) for p in config.runs.split(",") if p.strip()]
        path = write_report(Path(config.eval_report), runs, Path(config.output_dir))
        print(path)
        return 0
    from alignment.config import trainer_configs
    from alignment.train import STAGES as TRAINERS

    run_config = _parse(trainer_configs()[stage], stage, rest)
    card = TRAINERS[stage](run_config)
    summary = {k: v for k, v in card.items() if k not in {"log_history", "config", "dataset_card"}}
    print(json.dumps(summary, indent=2, default=str))
    return 0
