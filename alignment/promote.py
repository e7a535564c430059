"""`verirag align promote`: the gate between a trained candidate and the service.

A candidate replaces the served generator only if, on the same held-out evaluation, its raw
outputs make fewer unsupported claims than the current model's (by more than the configured
margin) and it answers at least as correctly (within the allowed loss). Every decision, made
or refused, is appended to ``<data_dir>/alignment/promotions.jsonl`` with its figures; a
promotion also rewrites ``<data_dir>/alignment/serving.json``, which the service reads at
start-up: the merged model or LoRA adapter for the in-process backend, and the adapter name
for a vLLM server (registered there with ``--lora-modules NAME=PATH``).
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

SERVING_FILE = "serving.json"
DECISIONS_FILE = "promotions.jsonl"


@dataclass(frozen=True, slots=True)
class Decision:
    promoted: bool
    candidate: str
    current: str
    reasons: list[str]
    candidate_metrics: dict[str, Any]
    current_metrics: dict[str, Any]
    decided_at: str
    serving: dict[str, Any] | None


def alignment_dir(data_dir: Path) -> Path:
    return data_dir / "alignment"


def current_serving(data_dir: Path) -> dict[str, Any] | None:
    path = alignment_dir(data_dir) / SERVING_FILE
    return json.loads(path.read_text()) if path.exists() else None


def decide(
    report: dict[str, Any],
    candidate: str,
    current: str,
    min_faithfulness_gain: float = 0.0,
    max_correctness_loss: float = 0.0,
) -> tuple[bool, list[str]]:
    candidates = report["candidates"]
    for name in (candidate, current):
        if name not in candidates:
            raise KeyError(
                f"'{name}' is not in the evaluation report (it has {sorted(candidates)}); "
                "evaluate both models in one `verirag align eval` run"
            )
    new, old = candidates[candidate]["metrics"], candidates[current]["metrics"]
    reasons: list[str] = []
    ok = True
    new_rate, old_rate = new.get("unsupported_claim_rate"), old.get("unsupported_claim_rate")
    if new_rate is None:
        ok = False
        reasons.append("the candidate made no claims to judge")
    elif old_rate is not None and not new_rate < old_rate - min_faithfulness_gain:
        ok = False
        reasons.append(
            f"unsupported-claim rate {new_rate:.3f} does not beat {old_rate:.3f} "
            f"by more than {min_faithfulness_gain:.3f}"
        )
    else:
        reasons.append(f"unsupported-claim rate {new_rate:.3f} vs {old_rate}")
    new_correct, old_correct = new.get("correctness"), old.get("correctness")
    if old_correct is not None:
        if new_correct is None or new_correct < old_correct - max_correctness_loss:
            ok = False
            reasons.append(
                f"correctness {new_correct} is below {old_correct:.3f} − {max_correctness_loss:.3f}"
            )
        else:
            reasons.append(f"correctness {new_correct:.3f} vs {old_correct:.3f}")
    return ok, reasons


def promote(
    report: dict[str, Any],
    candidate: str,
    data_dir: Path,
    current: str | None = None,
    min_faithfulness_gain: float = 0.0,
    max_correctness_loss: float = 0.0,
    served_name: str | None = None,
) -> Decision:
    serving_now = current_serving(data_dir)
    current_name = current or (serving_now or {}).get("name") or "base"
    promoted, reasons = decide(
        report, candidate, current_name, min_faithfulness_gain, max_correctness_loss
    )
    entry = report["candidates"][candidate]
    serving: dict[str, Any] | None = None
    if promoted:
        adapter = entry.get("adapter")
        serving = {
            "name": candidate,
            "generator_model": entry["model"],
            "generator_adapter": adapter,
            "vllm_model": served_name or candidate,
            "run_dir": entry.get("run_dir"),
            "metrics": entry["metrics"],
            "promoted_at": datetime.now(UTC).isoformat(timespec="seconds"),
        }
    decision = Decision(
        promoted=promoted,
        candidate=candidate,
        current=current_name,
        reasons=reasons,
        candidate_metrics=entry["metrics"],
        current_metrics=report["candidates"][current_name]["metrics"],
        decided_at=datetime.now(UTC).isoformat(timespec="seconds"),
        serving=serving,
    )
    folder = alignment_dir(data_dir)
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / DECISIONS_FILE).open("a") as handle:
        handle.write(json.dumps(asdict(decision)) + "\n")
        handle.flush()
        os.fsync(handle.fileno())
    if serving is not None:
        # Written beside, then renamed: a reader sees the old choice or the new, never half.
        partial = folder / (SERVING_FILE + ".partial")
        partial.write_text(json.dumps(serving, indent=2) + "\n")
        partial.replace(folder / SERVING_FILE)
    return decision
