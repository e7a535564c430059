"""Configs for every `verirag align` stage: dataclasses whose fields are the YAML keys of
``--config FILE.yaml`` and the command-line flags that override them.

The trainer configs extend TRL's own (``SFTConfig``, ``RewardConfig``, ``GRPOConfig``,
``DPOConfig`` and the experimental ``PPOConfig``), so every TRL/transformers training argument
works as documented upstream; what verirag adds lives in ``AlignmentArguments`` (where the data
is, which model to start from, the LoRA shape) and in the reward, dataset and evaluation configs.
TRL is imported lazily by ``trainer_configs`` so that nothing heavy happens at import.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any


def _help(text: str) -> dict[str, str]:
    return {"help": text}


@dataclass
class AlignmentArguments:
    """What every training stage shares: its data, the model it starts from, the LoRA shape."""

    dataset_dir: str = field(
        default="alignment-data/datasets",
        metadata=_help("Folder written by `verirag align datasets` (Hugging Face datasets)."),
    )
    base_model: str = field(
        default="",
        metadata=_help(
            "Model to start from: a local model directory, a hub id (needs a network) or "
            "'packaged:smollm2'. Empty = the service's generator (VERIRAG_GENERATOR_MODEL)."
        ),
    )
    init_from: str | None = field(
        default=None,
        metadata=_help(
            "A finished stage's run directory (e.g. the SFT run). Its merged model becomes the "
            "starting point and the KL reference; the new adapter applies to it."
        ),
    )
    lora_r: int = field(default=16, metadata=_help("LoRA rank."))
    lora_alpha: int = field(default=32, metadata=_help("LoRA scaling numerator (alpha / r)."))
    lora_dropout: float = field(default=0.05, metadata=_help("Dropout on the LoRA branch."))
    lora_target_modules: str = field(
        default="q_proj,k_proj,v_proj,o_proj,gate_proj,up_proj,down_proj",
        metadata=_help("Comma-separated module names LoRA adapts (all attention and MLP)."),
    )
    max_train_examples: int | None = field(
        default=None, metadata=_help("Use at most this many training examples (smoke runs).")
    )
    max_eval_examples: int | None = field(
        default=None,
        metadata=_help(
            "Evaluate the held-out split on at most this many examples after training (0 skips "
            "it; on a CPU, DPO's evaluation of every held-out pair can outlast its training)."
        ),
    )
    merge_adapter: bool = field(
        default=True,
        metadata=_help(
            "Also save base + adapter merged into one model (what the in-process backend and "
            "the next stage load)."
        ),
    )
    report_to_wandb_offline: bool = field(
        default=True,
        metadata=_help("When wandb is installed, log to it in offline mode besides TensorBoard."),
    )

    def __post_init__(self) -> None:
        # TRL defaults bf16 on, which a CPU (this project's default machine) refuses: use it
        # only where a GPU supports it, unless the config says otherwise.
        if getattr(self, "bf16", False) is None:
            import torch

            supported = torch.cuda.is_available() and torch.cuda.is_bf16_supported()
            setattr(self, "bf16", bool(supported))  # noqa: B010 (a field of the TRL base)
        parent = getattr(super(), "__post_init__", None)
        if parent is not None:
            parent()


@dataclass
class DatasetConfig:
    """`verirag align datasets`: training data from the interaction log and the index."""

    data_dir: str | None = field(
        default=None,
        metadata=_help(
            "The service's data directory (its log and index). Default: VERIRAG_DATA_DIR."
        ),
    )
    database_url: str | None = field(
        default=None,
        metadata=_help("The service database, when not the data directory's SQLite file."),
    )
    output_dir: str = field(
        default="alignment-data/datasets", metadata=_help("Where the datasets are written.")
    )
    eval_fraction: float = field(
        default=0.2,
        metadata=_help("Share of questions held out for evaluation (split by question)."),
    )
    seed: int = field(default=13, metadata=_help("Seed of the split and of sampling."))
    include_log: bool = field(
        default=True, metadata=_help("Build examples and pairs from the interaction log.")
    )
    evidence_examples: int = field(
        default=200,
        metadata=_help(
            "Question → cited-answer examples synthesised from the ingested filings' table "
            "rows and key sentences (0 = none). Every one passes the verifier before it is kept."
        ),
    )
    refusal_share: float = field(
        default=0.15,
        metadata=_help("Share of synthesised examples whose context lacks the answer (refusals)."),
    )
    context_sentences: int = field(
        default=10,
        metadata=_help("Sentences in a synthesised example's context (evidence + distractors)."),
    )
    evidence_position_weights: list[float] | None = field(
        default=None,
        metadata=_help(
            "Relative weights of the evidence's position S1, S2, … in a synthesised context "
            "(the other sentences keep the ranker's order). None keeps the ranker's position, "
            "which for a question that names its row is S1 nearly always. Give the service's "
            "own histogram on real questions, as `bench/context_positions.py` prints it."
        ),
    )
    constitutional_examples: int = field(
        default=0,
        metadata=_help(
            "Prompts sent through generate → critique → revise (SL-CAI) with the current "
            "generator; needs the judge. 0 = skip (it costs a generation per round)."
        ),
    )
    questions: str | None = field(
        default=None,
        metadata=_help(
            "FinanceBench-style questions JSONL whose answers are held out for the correctness "
            "evaluation (their filings must be in the index)."
        ),
    )

    def __post_init__(self) -> None:
        # Checked here, before the judge loads and the log is read, and even when no example
        # is synthesised (the weights would otherwise be ignored without a word).
        if self.evidence_position_weights is not None:
            check_position_weights(self.evidence_position_weights)


def check_position_weights(weights: Sequence[float]) -> None:
    if not weights or not all(math.isfinite(w) and w >= 0 for w in weights) or not sum(weights):
        raise ValueError(
            "evidence_position_weights must be finite, non-negative and not all zero, e.g. "
            "--evidence_position_weights 25 10 9 5 6 1 2 1"
        )


@dataclass
class HybridRewardConfig:
    """The hybrid reward: preference model + verifier signals − penalties."""

    reward_model: str | None = field(
        default=None,
        metadata=_help("A `verirag align reward` run directory; None = verifier signals only."),
    )
    level: str = field(
        default="process",
        metadata=_help(
            "'process': the mean of per-claim scores (each claim's entailment, quote and "
            "number checks); 'outcome': 1 only when the whole answer passes the constitution."
        ),
    )
    weight_preference: float = field(default=0.5, metadata=_help("Weight of tanh(RM score)."))
    weight_entailment: float = field(
        default=1.0, metadata=_help("Weight of the share of claims entailed by their cited span.")
    )
    weight_verbatim: float = field(
        default=0.5, metadata=_help("Weight of the share of quotes found verbatim in the filing.")
    )
    weight_numbers: float = field(
        default=0.5, metadata=_help("Weight of the share of claims whose figures are in evidence.")
    )
    weight_answer: float = field(
        default=0.5,
        metadata=_help(
            "Weight of the answer-level rules (the answer is backed by claims, specific)."
        ),
    )
    length_budget_chars: int = field(
        default=700, metadata=_help("Completions longer than this are penalised per extra char.")
    )
    weight_length: float = field(
        default=1.0, metadata=_help("Penalty per budget-length of excess characters.")
    )
    max_claims: int = field(default=3, metadata=_help("Claims beyond this are penalised."))
    max_citations: int = field(default=2, metadata=_help("Citations per claim beyond this too."))
    weight_excess: float = field(
        default=0.25, metadata=_help("Penalty per claim or citation over the limits.")
    )
    weight_refusal: float = field(
        default=1.0,
        metadata=_help("Penalty for refusing where the context answers the question."),
    )
    warranted_refusal_reward: float = field(
        default=1.5,
        metadata=_help("Reward for refusing where the context does not answer the question."),
    )
    unparseable_reward: float = field(
        default=-2.0, metadata=_help("Reward of output that is not an answer in the schema.")
    )
    format_credit: float = field(
        default=0.9,
        metadata=_help(
            "Partial credit, on top of unparseable_reward, for how far an unparseable output "
            "got through the answer's JSON skeleton in order (a truncated but well-formed start "
            "earns most of it). Kept below the gap to the worst parseable answer."
        ),
    )
    judge: str | None = field(
        default=None, metadata=_help("Entailment judge; None = the service's (VERIRAG_NLI_MODEL).")
    )


@dataclass
class EvalConfig:
    """`verirag align eval`: faithfulness and correctness of candidates' raw outputs."""

    candidates: str = field(
        default="base",
        metadata=_help(
            "Comma-separated candidates: 'base' or run directories of finished stages; "
            "NAME=PATH names one."
        ),
    )
    dataset_dir: str = field(
        default="alignment-data/datasets", metadata=_help("Datasets with the held-out split.")
    )
    output: str = field(
        default="alignment-data/eval.json", metadata=_help("Where the evaluation report goes.")
    )
    limit: int | None = field(default=None, metadata=_help("Evaluate at most this many prompts."))
    max_new_tokens: int = field(default=320, metadata=_help("Generation budget per prompt."))
    constraint: str = field(
        default="json_schema",
        metadata=_help(
            "Decoding constraint of the raw outputs: 'json_schema' (structure only: quotes are "
            "the model's own, as with vLLM's json_schema mode), 'evidence_grammar' (the "
            "service's grammar: context labels and verbatim quotes, so only what the claims say "
            "is measured) or 'none'."
        ),
    )
    bertscore_model: str | None = field(
        default=None,
        metadata=_help("Encoder for BERTScore; None = the packaged all-MiniLM-L6-v2 weights."),
    )
    judge: str | None = field(
        default=None, metadata=_help("Entailment judge; None = the service's (VERIRAG_NLI_MODEL).")
    )
    base_model: str = field(
        default="", metadata=_help("The base model the candidates' adapters apply to.")
    )
    rescore: str | None = field(
        default=None,
        metadata=_help(
            "An earlier `align eval` report on the same held-out prompts: score its candidates' "
            "raw outputs again with the current verifier instead of generating (what a "
            "constitution or judge change needs); --candidates is then ignored."
        ),
    )


@dataclass
class PromoteConfig:
    """`verirag align promote`: the gate between a trained candidate and the service."""

    eval_report: str = field(
        default="alignment-data/eval.json", metadata=_help("`align eval` report to decide on.")
    )
    candidate: str = field(default="", metadata=_help("Candidate name in the report to promote."))
    current: str | None = field(
        default=None,
        metadata=_help("Name in the report of the model served now; None = the last promoted one."),
    )
    data_dir: str | None = field(
        default=None, metadata=_help("The service's data directory (where the decision is kept).")
    )
    min_faithfulness_gain: float = field(
        default=0.0,
        metadata=_help("Unsupported-claim rate must fall by more than this (absolute)."),
    )
    max_correctness_loss: float = field(
        default=0.0, metadata=_help("Correctness may fall by at most this (absolute).")
    )
    served_name: str | None = field(
        default=None,
        metadata=_help("The name the adapter is registered under in vLLM (--lora-modules NAME=…)."),
    )


@dataclass
class ReportConfig:
    """`verirag align report`: comparison table and training curves."""

    runs: str = field(default="", metadata=_help("Comma-separated run directories to plot."))
    eval_report: str = field(
        default="alignment-data/eval.json", metadata=_help("`align eval` report for the table.")
    )
    output_dir: str = field(default="alignment-data/report", metadata=_help("Where to write."))


def trainer_configs() -> dict[str, type[Any]]:
    """The trainer configs (``alignment.trainer_configs``: TRL's, extended by
    ``AlignmentArguments``), imported on first use so that this module does not import TRL."""
    from alignment import trainer_configs as configs

    return {
        "sft": configs.SFTRunConfig,
        "reward": configs.RewardRunConfig,
        "grpo": configs.GRPORunConfig,
        "ppo": configs.PPORunConfig,
        "dpo": configs.DPORunConfig,
    }
