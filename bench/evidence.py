"""Evidence packages on real answers: time per answer and where the highlights land.

Reads the answers an index's service log holds (``verirag eval answers`` or the service wrote
them) that cite PDF pages, and for each builds what a compliance reviewer opens:

- baseline: the audit record as ``GET /v1/answers/{id}`` returns it (read and serialised);
- the evidence package as JSON (every quote located word by word on its page);
- the package with every cited page rendered as a highlighted PNG (what the HTML export holds).

It prints p50 and p90 milliseconds per answer, each ratio against the baseline measured in the
same run, and the highlights' quality: the share of citations whose quote was found on its
page, and of those the share whose boxes cover exactly the quote's words.

    python bench/evidence.py --data-dir /tmp/fb-index --answers 60
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]


def make_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", type=Path, required=True, help="index with a service log")
    parser.add_argument("--answers", type=int, default=60, help="newest N answers with citations")
    parser.add_argument("--out", type=Path, default=None, help="write the figures as JSON")
    return parser


def _percentiles(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    return {
        "p50_ms": round(statistics.median(ordered), 2),
        "p90_ms": round(ordered[min(len(ordered) - 1, int(0.9 * len(ordered)))], 2),
    }


def main(argv: list[str] | None = None) -> int:
    args = make_parser().parse_args(argv)
    import pymupdf

    from engine.settings import get_settings
    from ingest.render import visible_characters, words_in_boxes
    from ingest.store import IndexStore
    from service.api.protocol import AnswerPublic
    from service.evidence import EvidenceBuilder, page_images
    from service.log import AnswerQuery, InteractionLog

    settings = get_settings().model_copy(update={"data_dir": args.data_dir})
    log = InteractionLog.open(settings.service_database_url)
    chosen = []
    cursor = None
    while len(chosen) < args.answers:
        items, cursor = log.query(AnswerQuery(outcome="answered"), limit=200, cursor=cursor)
        for item in items:
            record = log.get(item.id)
            if any(claim.citations for claim in record.answer.claims):
                chosen.append(item.id)
            if len(chosen) >= args.answers:
                break
        if cursor is None:
            break
    if not chosen:
        print(f"error: the log of {args.data_dir} holds no answered questions", file=sys.stderr)
        return 2

    baseline, package_ms, rendered_ms = [], [], []
    citations = located = covered = 0
    with IndexStore(args.data_dir) as store:
        for answer_id in chosen:
            started = time.perf_counter()
            record = log.get(answer_id)
            AnswerPublic.of(record.answer).model_dump_json()
            record.model_dump_json()
            baseline.append((time.perf_counter() - started) * 1000)

            builder = EvidenceBuilder(store)
            started = time.perf_counter()
            record = log.get(answer_id)
            package = builder.build(record, with_drafts=True)
            package.model_dump_json()
            package_ms.append((time.perf_counter() - started) * 1000)
            builder.close()

            builder = EvidenceBuilder(store)
            started = time.perf_counter()
            record = log.get(answer_id)
            package = builder.build(record, with_drafts=True)
            page_images(builder, record, package)
            rendered_ms.append((time.perf_counter() - started) * 1000)

            for claim in package.claims:
                for evidence in claim.citations:
                    if evidence.highlight.kind != "pdf":
                        continue
                    citations += 1
                    if not evidence.highlight.exact:
                        continue
                    located += 1
                    filing = store.filing_by_id(evidence.filing_id)
                    assert filing is not None
                    with pymupdf.open(filing.path) as document:
                        page = document[evidence.page]
                        # The package's boxes are in the displayed page; words are unrotated.
                        unrotated = [
                            tuple(pymupdf.Rect(box) * page.derotation_matrix)
                            for box in evidence.highlight.boxes
                        ]
                        under = words_in_boxes(page, unrotated)
                    quote = visible_characters(evidence.quote)
                    covered += quote in under and len(under) - len(quote) <= 2
            builder.close()

    base = _percentiles(baseline)
    figures: dict[str, Any] = {
        "answers": len(chosen),
        "pdf_citations": citations,
        "baseline_audit_record": base,
        "evidence_json": _percentiles(package_ms),
        "evidence_with_page_images": _percentiles(rendered_ms),
        "located_share": round(located / citations, 4) if citations else None,
        "boxes_cover_exactly_the_quote_share": round(covered / located, 4) if located else None,
    }
    for name in ("evidence_json", "evidence_with_page_images"):
        figures[name]["p50_ratio_vs_baseline"] = round(figures[name]["p50_ms"] / base["p50_ms"], 1)
    print(json.dumps(figures, indent=2))
    if args.out:
        args.out.write_text(json.dumps(figures, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    # Run as `python bench/NAME.py`, this folder would come first on sys.path and its
    # ingest.py would shadow the ingest package.
    if sys.path and Path(sys.path[0]).resolve() == Path(__file__).resolve().parent:
        sys.path[0] = str(REPO)
    raise SystemExit(main())
