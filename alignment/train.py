"""The training stages: SFT, reward model, GRPO, PPO and DPO, each a TRL trainer with LoRA.

Every run directory holds ``adapter/`` (the LoRA weights with their config), ``merged/``
(start model + adapter in one, what the in-process backend and the next stage load),
``verirag_run.json`` (stage, start model, data card, config, losses, how far the LoRA weights
moved, wall time, steps/s, how to serve it), a model card ``README.md``, and the trainer's
TensorBoard logs. A stage started ``init_from`` another run trains a new adapter on that run's
merged model, which is also its KL reference.
"""

from __future__ import annotations

import importlib.util
import json
import os
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from alignment.config import HybridRewardConfig
from alignment.datasets import load

RUN_CARD = "verirag_run.json"


def _settings() -> Any:
    from engine.settings import get_settings

    return get_settings()


def start_model(args: Any) -> str:
    """The directory (or hub id) a stage starts from."""
    from engine.packaged_models import resolve_generator_path

    if args.init_from:
        merged = Path(args.init_from) / "merged"
        if not merged.is_dir():
            raise FileNotFoundError(
                f"{args.init_from} has no merged/ model: pass a finished run with "
                "--merge_adapter true"
            )
        return str(merged)
    settings = _settings()
    spec = args.base_model or settings.generator_model
    if spec == "packaged:smollm2":
        spec = "packaged:SmolLM2-135M-Instruct"
    return resolve_generator_path(spec, settings.cache_dir)


def lora_config(args: Any, task_type: str = "CAUSAL_LM") -> Any:
    from peft import LoraConfig

    return LoraConfig(
        r=args.lora_r,
        lora_alpha=args.lora_alpha,
        lora_dropout=args.lora_dropout,
        target_modules=[m.strip() for m in args.lora_target_modules.split(",") if m.strip()],
        task_type=task_type,
    )


def prepare_tracking(args: Any) -> None:
    """TensorBoard always; Weights & Biases too, offline, where it is installed."""
    wanted = ["tensorboard"]
    if getattr(args, "report_to_wandb_offline", False) and importlib.util.find_spec("wandb"):
        os.environ.setdefault("WANDB_MODE", "offline")
        wanted.append("wandb")
    if not args.report_to or args.report_to in ("none", ["none"], "all"):
        args.report_to = wanted
    if not getattr(args, "logging_dir", None):
        args.logging_dir = str(Path(args.output_dir) / "logs")


def _load_causal_lm(path: str) -> tuple[Any, Any]:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(path)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32)
    return model, tokenizer


def _lora_snapshot(model: Any) -> dict[str, Any]:
    return {
        name: parameter.detach().clone()
        for name, parameter in model.named_parameters()
        if "lora_" in name and parameter.requires_grad
    }


def _delta(before: dict[str, Any], model: Any) -> float:
    import torch

    after = dict(model.named_parameters())
    total = 0.0
    for name, tensor in before.items():
        current = after.get(name)
        if current is not None:
            total += float(torch.sum((current.detach() - tensor) ** 2))
    return float(total**0.5)


def _logged(trainer: Any, key: str = "loss") -> list[float]:
    return [float(entry[key]) for entry in trainer.state.log_history if key in entry]


def _first_last(trainer: Any, key: str, name: str) -> dict[str, float | None]:
    """The first and last logged value of a training metric (reward, margin)."""
    values = _logged(trainer, key)
    return {
        f"{name}_first": values[0] if values else None,
        f"{name}_last": values[-1] if values else None,
    }


def _chat_ids(tokenizer: Any, messages: list[dict[str, str]]) -> list[int]:
    """A chat prompt's token ids, ready for the assistant's turn."""
    ids = tokenizer.apply_chat_template(
        messages, add_generation_prompt=True, tokenize=True, return_dict=False
    )
    if hasattr(ids, "keys"):
        ids = ids["input_ids"]
    return [int(token) for token in ids]


def _select(dataset: Any, limit: int | None) -> Any:
    if limit is not None and len(dataset) > limit:
        return dataset.select(range(limit))
    return dataset


def _card(dataset_dir: Path) -> dict[str, Any]:
    path = dataset_dir / "card.json"
    return json.loads(path.read_text()) if path.exists() else {}


def _write_run(
    stage: str,
    args: Any,
    trainer: Any,
    started: float,
    start: str,
    lora_delta: float | None,
    extra: dict[str, Any] | None = None,
    loss_key: str = "loss",
) -> dict[str, Any]:
    output = Path(args.output_dir)
    seconds = time.perf_counter() - started
    steps = int(trainer.state.global_step)
    losses = _logged(trainer, loss_key)
    card: dict[str, Any] = {
        "stage": stage,
        "start_model": start,
        "init_from": args.init_from,
        "dataset_dir": args.dataset_dir,
        "dataset_card": _card(Path(args.dataset_dir)),
        "steps": steps,
        "seconds": round(seconds, 1),
        "steps_per_second": round(steps / seconds, 4) if seconds else None,
        "loss_first": losses[0] if losses else None,
        "loss_last": losses[-1] if losses else None,
        "lora_weight_delta": lora_delta,
        "log_history": trainer.state.log_history,
        "config": _jsonable(args.to_dict() if hasattr(args, "to_dict") else asdict(args)),
        **(extra or {}),
    }
    (output / RUN_CARD).write_text(json.dumps(card, indent=2, default=str) + "\n")
    (output / "README.md").write_text(_model_card(card))
    return card


def _jsonable(values: dict[str, Any]) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(json.dumps(values, default=str))
    return loaded


def _model_card(card: dict[str, Any]) -> str:
    serving = card.get("serving", {})
    lines = [
        f"# verirag {card['stage']} run",
        "",
        f"- Start model: `{card['start_model']}`"
        + (f" (merged from `{card['init_from']}`)" if card.get("init_from") else ""),
        f"- Data: `{card['dataset_dir']}` "
        f"({json.dumps(card.get('dataset_card', {}).get('counts', {}))})",
        f"- Steps: {card['steps']} in {card['seconds']} s ({card['steps_per_second']} steps/s)",
        f"- Loss: {card['loss_first']} → {card['loss_last']}",
        f"- LoRA weight change (L2): {card['lora_weight_delta']}",
    ]
    if serving:
        lines += ["", "## Serving", "", "```json", json.dumps(serving, indent=2), "```"]
    lines.append("")
    return "\n".join(lines)


def _save_policy(trainer: Any, tokenizer: Any, args: Any, start: str) -> dict[str, Any]:
    output = Path(args.output_dir)
    adapter_dir = output / "adapter"
    trainer.model.save_pretrained(str(adapter_dir))
    tokenizer.save_pretrained(str(adapter_dir))
    serving: dict[str, Any] = {
        "adapter": str(adapter_dir.resolve()),
        "adapter_base": start,
    }
    if args.merge_adapter:
        merged_dir = output / "merged"
        merged = trainer.model.merge_and_unload()
        merged.save_pretrained(str(merged_dir))
        tokenizer.save_pretrained(str(merged_dir))
        serving["merged"] = str(merged_dir.resolve())
    return serving


# ---- stages --------------------------------------------------------------------------------


def _train_on_dataset(
    args: Any, trainer_class: Any, kind: str, columns: list[str], keep: Any = None
) -> tuple[Any, dict[str, Any], str, float, dict[str, Any], int]:
    """Train a LoRA policy with an offline TRL trainer (SFT, DPO) on a dataset kind; returns
    the trainer, its evaluation metrics, the start model, how far the LoRA weights moved, the
    serving hand-off and the number of training rows."""
    data = load(Path(args.dataset_dir), kind)
    train = data["train"].filter(keep) if keep is not None else data["train"]
    train = _select(train, args.max_train_examples).select_columns(columns)
    if len(train) == 0:
        raise ValueError(f"{args.dataset_dir}/{kind} has no training rows")
    evaluation = _select(data["eval"], args.max_eval_examples).select_columns(columns)
    if len(evaluation) == 0:
        evaluation = None
        args.eval_strategy = "no"
    start = start_model(args)
    model, tokenizer = _load_causal_lm(start)
    trainer = trainer_class(
        model=model,
        args=args,
        train_dataset=train,
        eval_dataset=evaluation,
        processing_class=tokenizer,
        peft_config=lora_config(args),
    )
    before = _lora_snapshot(trainer.model)
    trainer.train()
    delta = _delta(before, trainer.model)
    metrics = (
        {**trainer.evaluate(), "eval_examples": len(evaluation)} if evaluation is not None else {}
    )
    serving = _save_policy(trainer, tokenizer, args, start)
    return trainer, metrics, start, delta, serving, len(train)


def run_sft(args: Any) -> dict[str, Any]:
    from trl.trainer.sft_trainer import SFTTrainer

    started = time.perf_counter()
    prepare_tracking(args)
    keep = None if args.include_revisions else (lambda row: row["source"] != "revision")
    trainer, metrics, start, delta, serving, rows = _train_on_dataset(
        args, SFTTrainer, "sft", ["prompt", "completion"], keep
    )
    return _write_run(
        "sft",
        args,
        trainer,
        started,
        start,
        delta,
        {"serving": serving, "eval_metrics": metrics, "train_examples": rows},
    )


def reward_rows(dataset: Any, evidence_chars: int) -> list[dict[str, str]]:
    from alignment.examples import completion_of, context_load
    from alignment.reward import reward_text

    rows = []
    for row in dataset:
        context = context_load(row["context"])
        rows.append(
            {
                "chosen": reward_text(
                    row["question"], context, completion_of(row, "chosen"), evidence_chars
                ),
                "rejected": reward_text(
                    row["question"], context, completion_of(row, "rejected"), evidence_chars
                ),
            }
        )
    return rows


def encoder_path(spec: str) -> str:
    from ingest.embedding import resolve_model_path

    if spec == "packaged:minilm":
        spec = "packaged:all-MiniLM-L6-v2"
    return resolve_model_path(spec)


def run_reward(args: Any) -> dict[str, Any]:
    from datasets import Dataset
    from transformers import AutoModelForSequenceClassification, AutoTokenizer
    from trl.trainer.reward_trainer import RewardTrainer

    from alignment.reward import RewardModelScorer

    started = time.perf_counter()
    prepare_tracking(args)
    data = load(Path(args.dataset_dir), "preference")
    train_rows = reward_rows(_select(data["train"], args.max_train_examples), args.evidence_chars)
    eval_rows = reward_rows(_select(data["eval"], args.max_eval_examples), args.evidence_chars)
    if not train_rows:
        raise ValueError(f"{args.dataset_dir}/preference has no training pairs")
    path = encoder_path(args.encoder)
    tokenizer = AutoTokenizer.from_pretrained(path)
    model = AutoModelForSequenceClassification.from_pretrained(path, num_labels=1)
    if not eval_rows:
        args.eval_strategy = "no"
    limit = min(args.max_length or 512, 512)

    def tokenized(rows: list[dict[str, str]]) -> Any:
        # Tokenised here: an encoder's own [CLS] … [SEP] framing, not a causal LM's EOS.
        return Dataset.from_list(
            [
                {
                    side + "_ids": tokenizer(row[side], truncation=True, max_length=limit)[
                        "input_ids"
                    ]
                    for side in ("chosen", "rejected")
                }
                for row in rows
            ]
        )

    trainer = RewardTrainer(
        model=model,
        args=args,
        train_dataset=tokenized(train_rows),
        eval_dataset=tokenized(eval_rows) if eval_rows else None,
        processing_class=tokenizer,
    )
    model_in_training: Any = trainer.model
    before = {
        n: p.detach().clone()
        for n, p in model_in_training.named_parameters()
        if "classifier" in n or "score" in n
    }
    trainer.train()
    delta = _delta(before, trainer.model)
    output = Path(args.output_dir)
    trainer.save_model(str(output / "model"))
    tokenizer.save_pretrained(str(output / "model"))
    (output / RUN_CARD).write_text(json.dumps({"evidence_chars": args.evidence_chars}) + "\n")
    scorer = RewardModelScorer(output)
    held_out = eval_rows or train_rows
    chosen = scorer.score([r["chosen"] for r in held_out])
    rejected = scorer.score([r["rejected"] for r in held_out])
    accuracy = sum(c > r for c, r in zip(chosen, rejected, strict=True)) / len(held_out)
    return _write_run(
        "reward",
        args,
        trainer,
        started,
        path,
        delta,
        {
            "encoder": path,
            "evidence_chars": args.evidence_chars,
            "pairwise_accuracy": accuracy,
            "pairwise_accuracy_on": "eval" if eval_rows else "train (no eval pairs)",
            "pairs_scored": len(held_out),
        },
    )


def hybrid_reward(args: Any) -> Any:
    from alignment.reward import HybridReward, RewardModelScorer
    from engine.runtime import build_verifier

    settings = _settings()
    if args.judge:
        settings = settings.model_copy(update={"nli_model": args.judge})
    verifier = build_verifier(settings)
    verifier.warm_up()
    scorer = RewardModelScorer(Path(args.reward_model_dir)) if args.reward_model_dir else None
    config = HybridRewardConfig(level=args.reward_level, reward_model=args.reward_model_dir)
    return HybridReward(config, verifier, scorer, scorer.evidence_chars if scorer else 900)


def _prompt_rows(args: Any) -> Any:
    data = load(Path(args.dataset_dir), "prompts")
    train = _select(data["train"], args.max_train_examples)
    if len(train) == 0:
        raise ValueError(f"{args.dataset_dir}/prompts has no training prompts")
    return train


def run_grpo(args: Any) -> dict[str, Any]:
    from trl.trainer.grpo_trainer import GRPOTrainer

    started = time.perf_counter()
    prepare_tracking(args)
    train = _prompt_rows(args).select_columns(["prompt", "question", "context", "answerable"])
    reward = hybrid_reward(args)
    start = start_model(args)
    model, tokenizer = _load_causal_lm(start)
    trainer = GRPOTrainer(
        model=model,
        reward_funcs=[reward.reward_function()],
        args=args,
        train_dataset=train,
        processing_class=tokenizer,
        peft_config=lora_config(args),
    )
    before = _lora_snapshot(trainer.model)
    trainer.train()
    delta = _delta(before, trainer.model)
    serving = _save_policy(trainer, tokenizer, args, start)
    return _write_run(
        "grpo",
        args,
        trainer,
        started,
        start,
        delta,
        {
            "serving": serving,
            **_first_last(trainer, "reward", "reward"),
            "reward_level": args.reward_level,
        },
    )


def run_ppo(args: Any) -> dict[str, Any]:
    import torch
    from datasets import Dataset
    from transformers import AutoModelForSequenceClassification
    from trl.experimental.ppo.ppo_trainer import PPOTrainer

    from alignment.reward import reward_module

    started = time.perf_counter()
    prepare_tracking(args)
    prompts = _prompt_rows(args)
    reward = hybrid_reward(args)
    start = start_model(args)
    model, tokenizer = _load_causal_lm(start)
    # PPO generates from batches of prompts: a decoder-only model must see them left-padded.
    tokenizer.padding_side = "left"
    _distinct_pad_token(tokenizer, model)
    rows = []
    for row in prompts:
        rows.append({**row, "input_ids": _chat_ids(tokenizer, row["prompt"])})
    value_model = AutoModelForSequenceClassification.from_pretrained(
        start, num_labels=1, dtype=torch.float32
    )
    value_model.config.pad_token_id = tokenizer.pad_token_id
    trainer = PPOTrainer(
        args=args,
        processing_class=tokenizer,
        model=model,
        ref_model=None,
        reward_model=reward_module(reward, tokenizer, rows),
        train_dataset=Dataset.from_list([{"input_ids": r["input_ids"]} for r in rows]),
        value_model=value_model,
        peft_config=lora_config(args),
    )
    wrapped: Any = trainer.model  # TRL's policy-and-value wrapper
    policy = wrapped.policy
    before = _lora_snapshot(policy)
    trainer.train()  # type: ignore[no-untyped-call]
    delta = _delta(before, policy)

    class _PolicyView:
        model = policy

    serving = _save_policy(_PolicyView, tokenizer, args, start)
    return _write_run(
        "ppo",
        args,
        trainer,
        started,
        start,
        delta,
        {
            "serving": serving,
            **_first_last(trainer, "objective/scores", "reward"),
            "reward_level": args.reward_level,
        },
        loss_key="loss/policy_avg",
    )


def _distinct_pad_token(tokenizer: Any, model: Any) -> None:
    """TRL's PPO finds padding by comparing token ids with the pad id. Chat models often pad
    with their end-of-turn token (SmolLM2: <|im_end|>), which occurs inside every chat prompt,
    so PPO would read the prompt's turn ends as padding. Pad with a special token the chat
    template never emits instead."""
    if tokenizer.pad_token_id != tokenizer.eos_token_id:
        return
    vocab = tokenizer.get_vocab()
    used = set(_chat_ids(tokenizer, [{"role": "user", "content": "x"}]))
    for candidate in (tokenizer.unk_token, "<|endoftext|>", "<pad>", "[PAD]"):
        usable = candidate in vocab and vocab[candidate] not in used
        if candidate and usable and vocab[candidate] != tokenizer.eos_token_id:
            tokenizer.pad_token = candidate
            model.config.pad_token_id = tokenizer.pad_token_id
            model.generation_config.pad_token_id = tokenizer.pad_token_id
            return
    raise ValueError(
        "the tokenizer pads with its end-of-sequence token and has no other special token to "
        "pad with; PPO needs one that prompts never contain"
    )


def run_dpo(args: Any) -> dict[str, Any]:
    from trl.trainer.dpo_trainer import DPOTrainer

    started = time.perf_counter()
    prepare_tracking(args)
    sources = set(args.pair_sources or [])
    keep = (lambda row: row["source"] in sources) if sources else None
    trainer, metrics, start, delta, serving, rows = _train_on_dataset(
        args, DPOTrainer, "preference", ["prompt", "chosen", "rejected"], keep
    )
    return _write_run(
        "dpo",
        args,
        trainer,
        started,
        start,
        delta,
        {
            "serving": serving,
            "eval_metrics": metrics,
            "train_pairs": rows,
            **_first_last(trainer, "rewards/margins", "margin"),
        },
    )


STAGES = {
    "sft": run_sft,
    "reward": run_reward,
    "grpo": run_grpo,
    "ppo": run_ppo,
    "dpo": run_dpo,
}
