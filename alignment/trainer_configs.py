"""The trainer configs: TRL's own, extended by ``AlignmentArguments``. A module of its own so
that the classes pickle (trainers save their arguments) while ``alignment.config`` stays light.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from trl.trainer.dpo_config import DPOConfig
from trl.trainer.grpo_config import GRPOConfig
from trl.trainer.reward_config import RewardConfig
from trl.trainer.sft_config import SFTConfig

from alignment.config import AlignmentArguments, _help

# PPO lives in trl.experimental (pinned in pyproject); its import warning is known here.
os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")
from trl.experimental.ppo import PPOConfig

PROMPT_AND_ANSWER_TOKENS = 2048  # the service's prompt (≤24 sentences + example) and answer


@dataclass
class HybridRewardArguments:
    """What the RL stages add: the reward they optimise."""

    reward_level: str = field(
        default="process", metadata=_help("'process' or 'outcome' hybrid reward.")
    )
    reward_model_dir: str | None = field(
        default=None, metadata=_help("A reward-model run for the preference term.")
    )
    judge: str | None = field(
        default=None, metadata=_help("Entailment judge; None = the service's.")
    )


@dataclass
class SFTRunConfig(AlignmentArguments, SFTConfig):
    """SFT of the generator on verified, cited answers (TRL SFTTrainer + LoRA)."""

    include_revisions: bool = field(
        default=True,
        metadata=_help("Train on constitutional revisions too (SL-CAI), where present."),
    )
    max_length: int | None = field(
        default=PROMPT_AND_ANSWER_TOKENS,
        metadata=_help("Tokens of prompt + answer kept; TRL's 1024 would cut the answer off."),
    )


@dataclass
class RewardRunConfig(AlignmentArguments, RewardConfig):
    """The preference reward model (TRL RewardTrainer) on a small packaged encoder."""

    encoder: str = field(
        default="packaged:minilm",
        metadata=_help(
            "Encoder with a fresh scalar head: 'packaged:minilm' (all-MiniLM-L6-v2 from "
            "its PyPI package), a model directory, or a hub id."
        ),
    )
    evidence_chars: int = field(
        default=900,
        metadata=_help("Characters of cited evidence shown to the reward model per answer."),
    )


@dataclass
class GRPORunConfig(AlignmentArguments, HybridRewardArguments, GRPOConfig):
    """GRPO against the hybrid reward (TRL GRPOTrainer), KL to the starting model."""

    beta: float = field(
        default=0.04,
        metadata=_help("KL coefficient to the start (SFT) model; TRL's default 0 drops it."),
    )


@dataclass
class PPORunConfig(AlignmentArguments, HybridRewardArguments, PPOConfig):
    """PPO against the hybrid reward (TRL experimental PPOTrainer), KL to the start."""


@dataclass
class DPORunConfig(AlignmentArguments, DPOConfig):
    """DPO on the preference pairs (TRL DPOTrainer); the reference is the start model."""

    pair_sources: list[str] | None = field(
        default=None,
        metadata=_help(
            "Train only on pairs of these sources (the dataset card lists them, e.g. "
            "perturbed:other-column perturbed:changed-figure), to aim a short run at the "
            "mistake the model makes; None = every pair."
        ),
    )
    max_length: int | None = field(
        default=PROMPT_AND_ANSWER_TOKENS,
        metadata=_help("Tokens of prompt + answer kept; TRL's 1024 would cut the answer off."),
    )
