"""Training verirag's own entailment judge (``verirag verifier train``).

A packaged encoder (all-MiniLM-L6-v2 by default) gets a three-way classification head
(entailment / neutral / contradiction) trained on ``nli_train``-format pairs plus pairs
synthesised from ingested filings, where the failure modes of a filing QA generator are known:
a changed number, a shifted fiscal year, a swapped company, a flipped direction ("increased" →
"decreased"). The judge is saved with a data card (sources and counts), its training
configuration, and, when a bench file is given, its calibrated threshold and metrics.
"""

from __future__ import annotations

import json
import random
import re
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ingest.files import staged_directory
from verifier.errors import TrainingDataError
from verifier.nli import JUDGE_CARD

LABELS = ("entailment", "neutral", "contradiction")


@dataclass
class JudgeTrainingConfig:
    """How the entailment judge is trained. Every field can be set from the command line."""

    base_model: str = field(
        default="packaged:all-MiniLM-L6-v2",
        metadata={"help": "Encoder to fine-tune: 'packaged:all-MiniLM-L6-v2', a dir or hub id."},
    )
    epochs: float = field(default=1.0, metadata={"help": "Passes over the training pairs."})
    learning_rate: float = field(default=5e-5, metadata={"help": "AdamW peak learning rate."})
    batch_size: int = field(default=16, metadata={"help": "Pairs per optimiser step."})
    max_tokens: int = field(
        default=256, metadata={"help": "Pair length cap in word pieces (premise truncated)."}
    )
    max_pairs: int | None = field(
        default=None,
        metadata={"help": "Use at most this many public pairs (sampled); None = all."},
    )
    synthetic_pairs: int = field(
        default=3000,
        metadata={"help": "Pairs synthesised from the ingested filings (0 = none)."},
    )
    warmup_ratio: float = field(default=0.06, metadata={"help": "Linear warm-up share."})
    seed: int = field(default=13, metadata={"help": "Seed for sampling, shuffling and init."})
    threads: int = field(default=0, metadata={"help": "torch threads; 0 = one per core."})


@dataclass(frozen=True, slots=True)
class NliPair:
    premise: str
    hypothesis: str
    label: str  # one of LABELS
    source: str


def load_nli_pairs(path: Path) -> list[NliPair]:
    from verifier.evaluate import read_records

    def parse(row: dict[str, Any]) -> NliPair:
        label = str(row["label"])
        if label not in LABELS:
            raise ValueError(f"label {label!r} is not one of {LABELS}")
        return NliPair(
            str(row["premise"]), str(row["hypothesis"]), label, str(row.get("source", path.stem))
        )

    return read_records(path, parse, "nli_train-format JSON objects: premise, hypothesis, label")


_NUMBER = re.compile(r"(?<![\w.])\d{1,3}(?:,\d{3})+(?:\.\d+)?(?![\w])|(?<![\w.,])\d+\.\d+(?![\w])")
_YEAR = re.compile(r"\b(19[89]\d|20[0-4]\d)\b")
_FLIPS = {
    "increased": "decreased",
    "decreased": "increased",
    "increase": "decrease",
    "decrease": "increase",
    "higher": "lower",
    "lower": "higher",
    "gain": "loss",
    "loss": "gain",
    "income": "loss",
    "did not": "did",
    "not": "",
}


def _perturb_number(text: str, rng: random.Random) -> str | None:
    matches = list(_NUMBER.finditer(text))
    if not matches:
        return None
    match = rng.choice(matches)
    digits = [i for i, ch in enumerate(match.group()) if ch.isdigit()]
    chars = list(match.group())
    position = rng.choice(digits)
    chars[position] = str((int(chars[position]) + rng.randint(1, 8)) % 10)
    if chars[0] == "0" and len(digits) > 1:
        chars[0] = "1"
    return text[: match.start()] + "".join(chars) + text[match.end() :]


def _perturb_year(text: str, rng: random.Random) -> str | None:
    matches = list(_YEAR.finditer(text))
    if not matches:
        return None
    match = rng.choice(matches)
    shifted = int(match.group()) + rng.choice((-2, -1, 1, 2))
    return text[: match.start()] + str(shifted) + text[match.end() :]


def _flip_direction(text: str, rng: random.Random) -> str | None:
    for word, replacement in _FLIPS.items():
        pattern = re.compile(rf"\b{re.escape(word)}\b")
        if pattern.search(text):
            flipped = pattern.sub(replacement, text, count=1)
            return re.sub(r"\s{2,}", " ", flipped)
    return None


def synthesise_filing_pairs(data_dir: Path, count: int, seed: int = 13) -> list[NliPair]:
    """Pairs from the sentences of an ingested index (see the module docstring)."""
    from ingest.store import IndexStore

    if count <= 0:
        return []
    rng = random.Random(seed)
    with IndexStore(data_dir) as store:
        filings = store.filings()
        if not filings:
            raise TrainingDataError(f"{data_dir}: the index holds no filings to synthesise from")
        rows = store.sample_sentences(limit=count * 3, seed=seed)
        companies = sorted({f.metadata.company for f in filings if f.metadata.company})
    pairs: list[NliPair] = []
    perturbations: list[Callable[[str, random.Random], str | None]] = [
        _perturb_number,
        _perturb_year,
        _flip_direction,
    ]
    for index, row in enumerate(rows):
        if len(pairs) >= count:
            break
        text = row["text"]
        window = " ".join(part for part in (row.get("before"), text, row.get("after")) if part)
        kind = index % 3
        if kind == 0:
            pairs.append(NliPair(window, text, "entailment", "filings-copy"))
        elif kind == 1:
            rng.shuffle(perturbations)
            changed = next(
                (out for fn in perturbations if (out := fn(text, rng)) and out != text), None
            )
            if changed is None and row.get("company") and len(companies) > 1:
                other = rng.choice([c for c in companies if c != row["company"]])
                if row["company"] in text:
                    changed = text.replace(row["company"], other)
            if changed is not None:
                pairs.append(NliPair(window, changed, "contradiction", "filings-perturbed"))
        else:
            other_row = rows[rng.randrange(len(rows))]
            if other_row["text"] != text and other_row["text"] not in window:
                pairs.append(NliPair(window, other_row["text"], "neutral", "filings-other"))
    return pairs


def _resolve_base(spec: str) -> str:
    from ingest.embedding import resolve_model_path

    return resolve_model_path(spec)


def train_judge(
    config: JudgeTrainingConfig,
    pairs: Sequence[NliPair],
    output_dir: Path,
    calibrate: Callable[[Path], dict[str, Any]] | None = None,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Fine-tune, save atomically into ``output_dir`` and return the data card."""
    import torch
    from transformers import (
        AutoModelForSequenceClassification,
        AutoTokenizer,
        get_linear_schedule_with_warmup,
    )

    if not pairs:
        raise TrainingDataError("no training pairs")
    if config.threads:
        torch.set_num_threads(config.threads)
    torch.manual_seed(config.seed)
    rng = random.Random(config.seed)
    base = _resolve_base(config.base_model)
    tokenizer = AutoTokenizer.from_pretrained(base)
    model = AutoModelForSequenceClassification.from_pretrained(
        base,
        num_labels=len(LABELS),
        id2label=dict(enumerate(LABELS)),
        label2id={name: i for i, name in enumerate(LABELS)},
    )
    label_index = {name: i for i, name in enumerate(LABELS)}
    order = list(range(len(pairs)))
    steps_per_epoch = (len(order) + config.batch_size - 1) // config.batch_size
    total_steps = max(1, int(steps_per_epoch * config.epochs))
    optimiser = torch.optim.AdamW(model.parameters(), lr=config.learning_rate, weight_decay=0.01)
    schedule = get_linear_schedule_with_warmup(  # type: ignore[no-untyped-call]
        optimiser, int(config.warmup_ratio * total_steps), total_steps
    )
    model.train()
    started = time.perf_counter()
    losses: list[float] = []
    step = 0
    while step < total_steps:
        rng.shuffle(order)
        # Batches of similar length waste less compute on padding.
        block_size = config.batch_size * 50
        batches = [order[i : i + block_size] for i in range(0, len(order), block_size)]
        for block in batches:
            block.sort(key=lambda i: len(pairs[i].premise) + len(pairs[i].hypothesis))
            chunks = [
                block[i : i + config.batch_size] for i in range(0, len(block), config.batch_size)
            ]
            rng.shuffle(chunks)
            for chunk in chunks:
                if step >= total_steps:
                    break
                encoded = tokenizer(
                    [pairs[i].premise for i in chunk],
                    [pairs[i].hypothesis for i in chunk],
                    truncation="only_first",
                    max_length=config.max_tokens,
                    padding=True,
                    return_tensors="pt",
                )
                targets = torch.tensor([label_index[pairs[i].label] for i in chunk])
                loss = torch.nn.functional.cross_entropy(model(**encoded).logits, targets)
                loss.backward()  # type: ignore[no-untyped-call]
                torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
                optimiser.step()
                schedule.step()
                optimiser.zero_grad()
                losses.append(float(loss.detach()))
                step += 1
                if step % 50 == 0 or step == total_steps:
                    recent = losses[-50:]
                    log(
                        f"step {step}/{total_steps} loss {sum(recent) / len(recent):.4f} "
                        f"({time.perf_counter() - started:.0f} s)"
                    )
    model.eval()
    window = max(1, min(20, len(losses) // 4))  # losses averaged at the start and the end
    with staged_directory(output_dir) as staging:
        model.save_pretrained(staging)
        tokenizer.save_pretrained(staging)
        card: dict[str, Any] = {
            "kind": "verirag-entailment-judge",
            "labels": list(LABELS),
            "score": "P(entailment) - P(contradiction)",
            "base_model": config.base_model,
            "config": asdict(config),
            "data": {
                "pairs": len(pairs),
                "by_source": dict(Counter(p.source for p in pairs)),
                "by_label": dict(Counter(p.label for p in pairs)),
            },
            "training": {
                "steps": step,
                "seconds": round(time.perf_counter() - started, 1),
                "first_loss": round(sum(losses[:window]) / window, 4),
                "last_loss": round(sum(losses[-window:]) / window, 4),
            },
            "created": datetime.now(UTC).isoformat(timespec="seconds"),
        }
        (staging / JUDGE_CARD).write_text(json.dumps(card, indent=2))
        if calibrate is not None:
            card.update(calibrate(staging))
            (staging / JUDGE_CARD).write_text(json.dumps(card, indent=2))
    return card
