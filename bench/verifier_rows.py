"""The verifier on statement-row claims: does it accept a row restated right and turn down the
same row restated wrong?

Claims are made from the statement rows of an index (use filings the judge was not trained
on): for a sampled row whose figures line up with its header's years, three claims the way
answers state them ("PepsiCo's net revenue was $86,392 million in 2022."), each citing that
row with the whole row as its quote:

- ``correct``: the row's figure in the year of its column;
- ``wrong_column``: another column's figure stated for this year;
- ``other_item``: this row's figure under the label of another row of the same table.

Each claim, with the question it answers, goes through every claim rule of the shipped
constitution; a claim is accepted when all blocking rules pass. The peer baseline, run in the
same process on the same claims, is the same constitution with ``statement_rows = false``:
the NLI judge alone decides entailment, as before constitution 1.3.0.

    python bench/verifier_rows.py --data-dir /tmp/heldout-index --rows 200
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]


def make_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", type=Path, required=True, help="verirag index")
    parser.add_argument("--rows", type=int, default=300, help="statement rows to sample")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument(
        "--out",
        type=Path,
        default=REPO / "bench" / "results" / f"verifier-rows-{time.strftime('%Y%m%d-%H%M%S')}.json",
    )
    return parser


def row_claims(store: Any, rows: int, seed: int, per_table: int = 3) -> list[dict[str, Any]]:
    """(kind, question, claim, cited row) for about ``rows`` sampled statement rows, at most
    ``per_table`` from one table."""
    from alignment.synthetic import claim_figure, company_name, row_label
    from verifier.numbers import aligned_columns, normalise_text, row_unit

    rng = random.Random(seed)
    groups = store.table_row_groups()
    rng.shuffle(groups)
    claims: list[dict[str, Any]] = []
    for group in groups:
        if len({c["row_id"] for c in claims}) >= rows:
            break
        table = []
        for row in store.evidence_sentences(group):
            label = row_label(row["text"])
            headers = tuple(tuple(str(c) for c in h) for h in row.get("table_header_rows") or ())
            columns = aligned_columns(normalise_text(row["text"]), headers)
            if label and columns and not any(q.percent for _, q in columns):
                table.append((row, label, columns))
        if len(table) < 2:
            continue
        for row, label, columns in rng.sample(table, min(per_table, len(table))):
            company = company_name(row)
            scale = row_unit(row["text"], row.get("table_scale"))
            year, quantity = rng.choice(columns)
            quote = " ".join(normalise_text(row["text"]).split())
            made = [("correct", label, quantity.text)]
            others = [q for y, q in columns if y != year and q.number != quantity.number]
            if others:
                made.append(("wrong_column", label, rng.choice(others).text))
            other_rows = [
                other_label
                for other, other_label, other_columns in table
                if other["id"] != row["id"]
                and other_label.lower() != label.lower()
                and all(q.number != quantity.number for _, q in other_columns)
            ]
            if other_rows:
                made.append(("other_item", rng.choice(other_rows), quantity.text))
            for kind, item, figure in made:
                claims.append(
                    _claim(kind, row, quote, company, item, claim_figure(figure, scale), year)
                )
    return claims


def _claim(
    kind: str, row: dict[str, Any], quote: str, company: str, item: str, figure: str, year: int
) -> dict[str, Any]:
    return {
        "kind": kind,
        "row_id": row["id"],
        "row": row,
        "quote": quote,
        "question": f"What was {company}'s {item.lower()} in FY{year}?",
        "claim": f"{company}'s {item.lower()} was {figure} in {year}.",
        "answer": figure,
    }


def accepted(verifier: Any, item: dict[str, Any]) -> tuple[bool, bool, float]:
    """Whether every blocking claim rule passed, whether entailment did, and milliseconds."""
    from verifier.types import DraftAnswer, DraftCitation, DraftClaim, EvidenceContext

    context = EvidenceContext.from_rows([item["row"]])
    draft = DraftAnswer(
        claims=[
            DraftClaim(
                text=item["claim"],
                citations=[DraftCitation(sentence_id="S1", quote=item["quote"])],
            )
        ],
        answer=item["answer"],
    )
    report = verifier.verify(draft, context, item["question"])
    claim = report.claims[0]
    entailed = claim.verdicts.get("entailed-by-citation") == "pass"
    return claim.passed, entailed, report.milliseconds


def main(args: argparse.Namespace) -> int:
    import os

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from engine.runtime import build_judge
    from engine.settings import get_settings
    from ingest.store import IndexStore
    from verifier.checks import Verifier
    from verifier.constitution import DEFAULT_CONSTITUTION, load_constitution

    settings = get_settings().model_copy(
        update={"data_dir": args.data_dir, "torch_threads": args.threads}
    )
    judge = build_judge(settings)
    shipped = load_constitution(settings.constitution_file or DEFAULT_CONSTITUTION)
    with tempfile.TemporaryDirectory() as folder:
        judge_only_file = Path(folder) / "judge-only.toml"
        text = (settings.constitution_file or DEFAULT_CONSTITUTION).read_text()
        judge_only_file.write_text(text.replace("statement_rows = true", "statement_rows = false"))
        judge_only = load_constitution(judge_only_file)
    systems = {"verirag": Verifier(shipped, judge), "judge_only": Verifier(judge_only, judge)}
    with IndexStore(args.data_dir) as store:
        items = row_claims(store, args.rows, args.seed)
    results: dict[str, Any] = {
        "index": str(args.data_dir),
        "judge": judge.version,
        "constitution": shipped.version_id,
        "claims": {kind: sum(i["kind"] == kind for i in items) for kind in _KINDS},
    }
    examples: list[dict[str, Any]] = []
    for name, verifier in systems.items():
        verifier.warm_up()
        outcomes = [accepted(verifier, item) for item in items]
        summary: dict[str, Any] = {}
        for kind in _KINDS:
            chosen = [o for o, i in zip(outcomes, items, strict=True) if i["kind"] == kind]
            if chosen:
                summary[kind] = {
                    "accepted": round(sum(o[0] for o in chosen) / len(chosen), 3),
                    "entailed": round(sum(o[1] for o in chosen) / len(chosen), 3),
                }
        summary["ms_per_claim_median"] = round(statistics.median(o[2] for o in outcomes), 2)
        results[name] = summary
        if name == "verirag":
            examples = [
                {"kind": i["kind"], "claim": i["claim"], "quote": i["quote"], "accepted": o[0]}
                for i, o in zip(items, outcomes, strict=True)
            ]
    ours, peer = results["verirag"], results["judge_only"]
    results["correct_accepted_ratio_vs_judge_only"] = round(
        ours["correct"]["accepted"] / max(1e-9, peer["correct"]["accepted"]), 2
    )
    for name in systems:
        figures = ", ".join(
            f"{kind} {results[name][kind]['accepted']:.1%}"
            for kind in _KINDS
            if kind in results[name]
        )
        print(f"{name:10s} accepts {figures}; {results[name]['ms_per_claim_median']} ms/claim")
    print(
        f"claims: {results['claims']}; correct claims accepted, ratio vs judge only: "
        f"{results['correct_accepted_ratio_vs_judge_only']}"
    )
    results["examples"] = examples
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2, default=str))
    print(f"wrote {args.out}")
    return 0


_KINDS = ("correct", "wrong_column", "other_item")


if __name__ == "__main__":
    if sys.path and Path(sys.path[0]).resolve() == Path(__file__).resolve().parent:
        sys.path[0] = str(REPO)
    sys.exit(main(make_parser().parse_args()))
