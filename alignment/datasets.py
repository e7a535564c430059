"""`verirag align datasets`: the log, the index and (optionally) constitutional revisions
become Hugging Face datasets on disk, de-duplicated and split by question, with a data card.

Layout of ``output_dir``:
- ``sft/``: DatasetDict train/eval, conversational prompt-completion (TRL SFTTrainer).
- ``preference/``: DatasetDict train/eval, prompt/chosen/rejected (DPOTrainer, RewardTrainer).
- ``prompts/``: DatasetDict train/eval, prompt + context + gold (GRPO, PPO, `align eval`).
- ``card.json`` and ``README.md``: counts per split and source, date range, how it was made.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from alignment.examples import PreferencePair, SFTExample, question_id

SIDES = ("train", "eval")


def eval_side(question: str, fraction: float, seed: int) -> bool:
    """Whether a question is held out: a hash of its id, so the same question lands on the
    same side in every rebuild and in every dataset kind."""
    digest = hashlib.blake2b(f"{seed}:{question_id(question)}".encode(), digest_size=8)
    return int.from_bytes(digest.digest(), "big") / 2**64 < fraction


def dedupe(items: Iterable[Any]) -> list[Any]:
    seen: set[str] = set()
    kept = []
    for item in items:
        key = item.key()
        if key not in seen:
            seen.add(key)
            kept.append(item)
    return kept


@dataclass
class BuiltDatasets:
    sft: dict[str, list[dict[str, Any]]]
    preference: dict[str, list[dict[str, Any]]]
    prompts: dict[str, list[dict[str, Any]]]
    card: dict[str, Any]


def assemble(
    sft: Sequence[SFTExample],
    pairs: Sequence[PreferencePair],
    eval_fraction: float,
    seed: int,
    provenance: dict[str, Any],
    held_out_prompts: Sequence[dict[str, Any]] = (),
) -> BuiltDatasets:
    """``held_out_prompts``: evaluation-only prompts (gold questions); their questions are
    removed from every training split."""
    sft_rows = [example.row() for example in dedupe(sft)]
    pair_rows = [pair.row() for pair in dedupe(pairs)]

    def split(rows: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
        out: dict[str, list[dict[str, Any]]] = {"train": [], "eval": []}
        for row in rows:
            out["eval" if eval_side(row["question"], eval_fraction, seed) else "train"].append(row)
        return out

    held_out_ids = {row["question_id"] for row in held_out_prompts}
    sft_rows = [r for r in sft_rows if r["question_id"] not in held_out_ids]
    pair_rows = [r for r in pair_rows if r["question_id"] not in held_out_ids]
    sft_split, pair_split = split(sft_rows), split(pair_rows)
    # Prompts for RL and evaluation: one per (question, context), with the reference answer
    # when an example has one.
    prompt_split: dict[str, list[dict[str, Any]]] = {}
    for side, rows in sft_split.items():
        seen: set[tuple[str, str]] = set()
        prompt_split[side] = []
        for row in rows:
            key = (row["question"], row["context"])
            if key in seen:
                continue
            seen.add(key)
            prompt_split[side].append(
                {
                    "prompt": row["prompt"],
                    "question": row["question"],
                    "question_id": row["question_id"],
                    "context": row["context"],
                    "answerable": row["answerable"],
                    "gold_answer": row["gold_answer"],
                    "gold_labels": row["gold_labels"],
                    "reference": row["completion"][-1]["content"],
                    "source": row["source"],
                }
            )
    prompt_split["eval"] += [dict(row) for row in held_out_prompts]
    leaked = {r["question_id"] for r in sft_split["train"] + pair_split["train"]} & {
        r["question_id"] for r in sft_split["eval"] + pair_split["eval"]
    }
    if leaked:  # the split is by question id; this cannot happen unless the hash changes
        raise AssertionError(f"questions on both sides of the split: {sorted(leaked)[:3]}")
    times = sorted(r["created_at"] for r in sft_rows + pair_rows if r["created_at"])
    card = {
        "built_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "eval_fraction": eval_fraction,
        "seed": seed,
        "split": "by question id (case/punctuation-insensitive); no question on both sides",
        "counts": {
            kind: {side: len(rows) for side, rows in parts.items()}
            for kind, parts in (
                ("sft", sft_split),
                ("preference", pair_split),
                ("prompts", prompt_split),
            )
        },
        "sources": {
            "sft": dict(Counter(r["source"] for r in sft_rows)),
            "preference": dict(Counter(r["source"] for r in pair_rows)),
            "prompts": dict(Counter(r["source"] for rows in prompt_split.values() for r in rows)),
        },
        "date_range": {"first": times[0] if times else None, "last": times[-1] if times else None},
        "duplicates_removed": {
            "sft": len(sft) - len(sft_rows),
            "preference": len(pairs) - len(pair_rows),
        },
        **provenance,
    }
    return BuiltDatasets(sft_split, pair_split, prompt_split, card)


def write(built: BuiltDatasets, output_dir: Path) -> None:
    from datasets import Dataset

    output_dir.mkdir(parents=True, exist_ok=True)
    for name in ("sft", "preference", "prompts"):
        folder = output_dir / name
        if folder.exists():
            shutil.rmtree(folder)
        for side, rows in getattr(built, name).items():
            # An empty split is not written (a zero-row save cannot be read back); ``load``
            # gives it the other split's columns.
            if rows:
                Dataset.from_list(rows).save_to_disk(str(folder / side))
        folder.mkdir(parents=True, exist_ok=True)
    (output_dir / "card.json").write_text(json.dumps(built.card, indent=2) + "\n")
    (output_dir / "README.md").write_text(render_card(built.card))


def _empty(kind: str) -> Any:
    from datasets import Dataset, Features, Value

    columns = {
        "sft": ["question", "question_id", "context", "source"],
        "preference": ["question", "question_id", "context", "source"],
        "prompts": ["question", "question_id", "context", "reference"],
    }[kind]
    features = Features({column: Value("string") for column in columns})
    return Dataset.from_dict({column: [] for column in columns}, features=features)


def render_card(card: dict[str, Any]) -> str:
    lines = [
        "# verirag alignment datasets",
        "",
        f"Built {card['built_at']}; split {card['split']}; eval fraction {card['eval_fraction']}, "
        f"seed {card['seed']}.",
        "",
        "| dataset | train | eval |",
        "|---|---:|---:|",
    ]
    for kind, sides in card["counts"].items():
        lines.append(f"| {kind} | {sides.get('train', 0)} | {sides.get('eval', 0)} |")
    lines += ["", "## Sources", ""]
    for kind, sources in card["sources"].items():
        listed = ", ".join(f"{name}: {count}" for name, count in sorted(sources.items())) or "none"
        lines.append(f"- {kind}: {listed}")
    date_range = card["date_range"]
    lines += [
        "",
        f"Logged interactions from {date_range['first'] or '-'} to {date_range['last'] or '-'}.",
        f"Duplicates removed: {card['duplicates_removed']}.",
        "",
        "Every SFT target and every chosen answer from the index passed the verifier "
        f"(constitution {card.get('constitution', '?')}, judge {card.get('judge', '?')}); "
        "log examples exclude answers rejected in review.",
        "",
    ]
    return "\n".join(lines)


def load(dataset_dir: Path, kind: str) -> Any:
    """A DatasetDict with 'train' and 'eval' (an unwritten, empty split has no rows)."""
    from datasets import DatasetDict, load_from_disk

    path = dataset_dir / kind
    if not path.exists():
        raise FileNotFoundError(
            f"no {kind} dataset at {path}: run `verirag align datasets --output_dir "
            f"{dataset_dir}` first"
        )
    splits = {side: load_from_disk(str(path / side)) for side in SIDES if (path / side).exists()}
    template = next(iter(splits.values()), None) or _empty(kind)
    for side in SIDES:
        splits.setdefault(side, template.select([]))
    return DatasetDict(splits)


def provenance(**values: Any) -> dict[str, Any]:
    return {
        key: (asdict(v) if hasattr(v, "__dataclass_fields__") else v) for key, v in values.items()
    }
