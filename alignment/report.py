"""`verirag align report`: the comparison table of an evaluation and the training curves
(loss, reward, KL) of the runs behind it, as Markdown and PNG."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

TABLE_COLUMNS = (
    ("unsupported_claim_rate", "unsupported claims"),
    ("verbatim_quote_rate", "verbatim quotes"),
    ("citation_precision", "cit. precision"),
    ("citation_recall", "cit. recall"),
    ("correctness", "correct"),
    ("refusal_rate", "refusals"),
    ("exact_match", "EM"),
    ("rouge_l", "ROUGE-L"),
    ("bertscore_f1", "BERTScore"),
)

CURVES = (
    ("loss", "loss"),
    ("reward", "reward"),
    ("objective/scores", "reward"),
    ("rewards/margins", "DPO margin"),
    ("kl", "KL"),
    ("objective/kl", "KL"),
)


def comparison_table(report: dict[str, Any]) -> str:
    header = "| candidate | " + " | ".join(label for _, label in TABLE_COLUMNS) + " |"
    lines = [header, "|---|" + "---:|" * len(TABLE_COLUMNS)]
    for name, entry in report["candidates"].items():
        metrics = entry["metrics"]
        cells = []
        for key, _ in TABLE_COLUMNS:
            value = metrics.get(key)
            cells.append("–" if value is None else f"{value:.3f}")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def plot_runs(runs: list[Path], output: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    written = []
    for key, label in CURVES:
        series = []
        for run in runs:
            card_path = run / "verirag_run.json"
            if not card_path.exists():
                continue
            history = json.loads(card_path.read_text()).get("log_history", [])
            points = [(e.get("step", i), e[key]) for i, e in enumerate(history) if key in e]
            if points:
                series.append((run.name, points))
        if not series:
            continue
        figure, axis = plt.subplots(figsize=(6, 3.5))
        for name, points in series:
            axis.plot([p[0] for p in points], [p[1] for p in points], marker="o", label=name)
        axis.set_xlabel("step")
        axis.set_ylabel(label)
        axis.legend()
        axis.set_title(f"{label} per step")
        figure.tight_layout()
        path = output / f"{key.replace('/', '_')}.png"
        figure.savefig(path, dpi=110)
        plt.close(figure)
        written.append(path)
    return written


def write_report(eval_report: Path | None, runs: list[Path], output: Path) -> Path:
    output.mkdir(parents=True, exist_ok=True)
    parts = ["# verirag alignment report", ""]
    if eval_report is not None and eval_report.exists():
        report = json.loads(eval_report.read_text())
        parts += [
            f"Held-out prompts: {report['prompts']}; outputs decoded under "
            f"'{report['constraint']}' and checked by constitution {report['constitution']}, "
            f"judge {report['judge']}.",
            "",
            comparison_table(report),
            "",
        ]
    plots = plot_runs(runs, output)
    for run in runs:
        card_path = run / "verirag_run.json"
        if card_path.exists():
            card = json.loads(card_path.read_text())
            parts.append(
                f"- {run.name} ({card.get('stage')}): {card.get('steps')} steps in "
                f"{card.get('seconds')} s, loss {card.get('loss_first')} → {card.get('loss_last')}"
            )
    parts += [""] + [f"![{p.stem}]({p.name})" for p in plots] + [""]
    path = output / "report.md"
    path.write_text("\n".join(parts))
    return path
