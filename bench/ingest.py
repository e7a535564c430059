"""Ingest benchmark: verirag against the LlamaIndex default pipeline on the same filings.

On the FinanceBench PDFs (``../shared/financebench/pdfs``: 74 filings, 10,206 pages) it
measures, for verirag: parse pages/s, embed chunks/s, total wall time, peak RSS and index size;
then the re-ingest of the unchanged corpus in a fresh process; and, in the same run, the
LlamaIndex default pipeline (one Document per PDF page, ``SentenceSplitter()`` defaults, the
same all-MiniLM-L6-v2 weights, FAISS flat; see ``bench/llamaindex_baseline.py``). It prints the
figures, the ratios (LlamaIndex / verirag, end to end and embedding only), whether the targets
are met (end to end >= 2x faster; re-ingest of the unchanged corpus <= 1 s per filing) and how
much text each system embeds (share of texts past the model's 256 word-piece window).

Each measurement runs in its own fresh subprocess (``python -m bench.ingest --worker ...``,
one JSON line on stdout), one after the other, so peak RSS and caches are not shared. Model
loading (LlamaIndex ``setup_s``; verirag ``warm_up()``, which exports the int8 ONNX graph once
into the cache dir) is timed separately and is not part of the totals. With ``--repeat N`` the
figures are medians over N runs.

Usage, from the repository root:

    python bench/ingest.py                      # the whole corpus (about 30 minutes)
    python bench/ingest.py --limit 3            # a quick run on the first 3 filings
    python bench/ingest.py --runtime both --limit 2 --skip-baseline

Heavy imports (torch, onnxruntime, faiss, llama_index, PyMuPDF) stay inside the workers.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
DEFAULT_PDFS = Path(__file__).resolve().parents[2] / "shared" / "financebench" / "pdfs"
RESULTS_DIR = REPO / "bench" / "results"
RUNTIMES = ("onnx-int8", "onnx-fp32", "torch")
BOTH = ("onnx-int8", "torch")  # --runtime both: the default runtime and fp32 PyTorch
WORKERS = ("verirag", "reingest", "llamaindex")
END_TO_END_TARGET = 2.0  # LlamaIndex total / verirag total
REINGEST_TARGET_S = 1.0  # seconds per unchanged filing
_MB = 2**20


def make_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python bench/ingest.py",
        description=__doc__.splitlines()[0] if __doc__ else None,
    )
    parser.add_argument(
        "--pdfs",
        type=Path,
        default=DEFAULT_PDFS,
        help=f"folder of filing PDFs (default: {DEFAULT_PDFS})",
    )
    parser.add_argument(
        "--limit", type=int, default=None, help="only the first N PDFs, sorted by name"
    )
    parser.add_argument(
        "--threads", type=int, default=2, help="compute threads for both systems (default 2)"
    )
    parser.add_argument(
        "--runtime",
        choices=(*RUNTIMES, "both"),
        default="onnx-int8",
        help="verirag embedding runtime; 'both' also times the fp32 torch runtime",
    )
    parser.add_argument(
        "--batch-size",
        type=int,
        default=None,
        help="verirag embedding batch size (default: VERIRAG_EMBEDDING_BATCH_SIZE, as the CLI)",
    )
    parser.add_argument(
        "--baseline-batch-size",
        type=int,
        default=64,
        help="LlamaIndex embed_batch_size (default 64)",
    )
    parser.add_argument(
        "--metadata",
        type=Path,
        default=None,
        help="metadata overrides JSONL (default: documents.jsonl next to --pdfs, if present)",
    )
    parser.add_argument(
        "--repeat", type=int, default=1, help="run everything N times; report medians"
    )
    parser.add_argument("--skip-baseline", action="store_true", help="do not run LlamaIndex")
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        help="JSON results file (default: bench/results/ingest-<timestamp>.json)",
    )
    # Internal: one measurement in this (fresh) process, one JSON line on stdout.
    parser.add_argument("--worker", choices=WORKERS, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--data-dir", type=Path, default=None, help=argparse.SUPPRESS)
    return parser


# ---- shared helpers ------------------------------------------------------------------------


def _pdf_paths(folder: Path, limit: int | None) -> list[Path]:
    paths = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() == ".pdf")
    return paths if limit is None else paths[:limit]


def _metadata_file(args: argparse.Namespace) -> Path | None:
    if args.metadata is not None:
        return Path(args.metadata)
    candidate = Path(args.pdfs).parent / "documents.jsonl"
    return candidate if candidate.is_file() else None


def _peak_rss_mb() -> float:
    import resource

    # Linux reports kilobytes, macOS bytes.
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (_MB if sys.platform == "darwin" else 1024)


def _dir_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def _truncation(counts: list[int], limit: int) -> dict[str, Any]:
    over = sum(c > limit for c in counts)
    return {
        "texts": len(counts),
        "max_tokens": limit,
        "over_max": over,
        "over_max_share": over / len(counts) if counts else 0.0,
        "median_tokens": statistics.median(counts) if counts else 0,
        "tokens_total": sum(counts),
        # Word pieces the model actually sees (the rest is cut off).
        "tokens_embedded": sum(min(c, limit) for c in counts),
    }


def _count_in_batches(count: Any, texts: list[str], size: int = 2048) -> list[int]:
    counts: list[int] = []
    for begin in range(0, len(texts), size):
        counts.extend(count(texts[begin : begin + size]))
    return counts


def _quiet_transformers() -> None:
    # Counting tokens of long texts makes the tokenizer warn about the model's window.
    with contextlib.suppress(ImportError):
        from transformers.utils import logging as hf_logging

        hf_logging.set_verbosity_error()


# ---- workers (each in a fresh process) ------------------------------------------------------


def _make_embedder(args: argparse.Namespace) -> tuple[Any, Any]:
    """The embedder ``verirag ingest`` would build for this runtime (the CLI's own factory)."""
    from engine.settings import get_settings
    from service.cli import _embedder

    update: dict[str, Any] = {"embedding_runtime": args.runtime, "torch_threads": args.threads}
    if args.batch_size is not None:
        update["embedding_batch_size"] = args.batch_size
    settings = get_settings().model_copy(update=update)
    return _embedder(settings), settings


def _warm_up(embedder: Any, settings: Any) -> dict[str, Any]:
    onnx_dir = Path(settings.cache_dir) / "onnx"
    before = set(onnx_dir.glob("*.onnx")) if onnx_dir.is_dir() else set()
    started = time.perf_counter()
    embedder.warm_up()
    seconds = time.perf_counter() - started
    after = set(onnx_dir.glob("*.onnx")) if onnx_dir.is_dir() else set()
    return {
        "warm_up_s": seconds,
        "onnx_exported": bool(after - before),
    }


def _ingestor(args: argparse.Namespace, store: Any, embedder: Any, settings: Any) -> Any:
    from ingest.metadata import load_overrides
    from ingest.pdf import PdfReader
    from ingest.pipeline import IngestOptions, Ingestor

    metadata = _metadata_file(args)
    return Ingestor(
        store,
        embedder,
        {".pdf": PdfReader()},
        # As the CLI sets them.
        IngestOptions(
            chunk_max_chars=settings.chunk_max_chars,
            commit_seconds=settings.ingest_commit_seconds,
            show_progress=False,
        ),
        load_overrides(metadata) if metadata else None,
    )


def _worker_verirag(args: argparse.Namespace) -> dict[str, Any]:
    import sqlite3

    from ingest.pipeline import Outcome
    from ingest.store import DOCSTORE_FILE, IndexStore

    paths = _pdf_paths(args.pdfs, args.limit)
    embedder, settings = _make_embedder(args)
    warm = _warm_up(embedder, settings)
    data_dir = Path(args.data_dir)
    with IndexStore(data_dir) as store:
        ingestor = _ingestor(args, store, embedder, settings)
        started = time.perf_counter()
        report = ingestor.ingest(paths)
        wall = time.perf_counter() - started
        peak_rss = _peak_rss_mb()
        info = store.info()
    on_disk = _dir_bytes(data_dir)  # after close: the WAL is checkpointed into the docstore

    results = report.results
    pages = sum(r.pages for r in results)
    chunks = sum(r.chunks for r in results)
    failed = [{"name": r.name, "reason": r.reason} for r in results if r.outcome is Outcome.FAILED]

    # What was embedded: token counts of the stored embed texts (outside the timed region).
    _quiet_transformers()
    with contextlib.closing(sqlite3.connect(data_dir / DOCSTORE_FILE)) as db:
        texts = [row[0] for row in db.execute("SELECT embed_text FROM chunks")]
    counts = _count_in_batches(embedder.count_tokens, texts)

    return {
        "system": f"verirag {args.runtime}",
        "runtime": args.runtime,
        "model_id": embedder.model_id,
        "batch_size": settings.embedding_batch_size,
        "commit_seconds": settings.ingest_commit_seconds,
        "chunk_max_chars": settings.chunk_max_chars,
        "threads": args.threads,
        **warm,
        "files": len(results),
        "outcomes": {o.value: report.count(o) for o in Outcome if report.count(o)},
        "failures": failed,
        "pages": pages,
        "chunks": chunks,
        "parse_s": report.parse_seconds,
        "embed_s": report.embed_seconds,
        "write_s": report.write_seconds,
        "report_total_s": report.total_seconds,
        "total_s": wall,
        "parse_pages_per_s": pages / report.parse_seconds if report.parse_seconds else 0.0,
        "embed_chunks_per_s": chunks / report.embed_seconds if report.embed_seconds else 0.0,
        "peak_rss_mb": peak_rss,
        "vector_index_bytes": info["vector_index_bytes"],
        "docstore_bytes": info["docstore_bytes"],
        "index_bytes": info["vector_index_bytes"] + info["docstore_bytes"],
        "on_disk_bytes": on_disk,
        "info": info,
        "embedded": _truncation(counts, embedder.max_tokens),
        "per_file": [
            {
                "name": r.name,
                "outcome": r.outcome.value,
                "pages": r.pages,
                "chunks": r.chunks,
                "seconds": r.seconds,
            }
            for r in results
        ],
    }


def _worker_reingest(args: argparse.Namespace) -> dict[str, Any]:
    from ingest.pipeline import Outcome
    from ingest.store import IndexStore

    paths = _pdf_paths(args.pdfs, args.limit)
    # No warm-up: as in `verirag ingest`, the model loads only if a file needs embedding.
    embedder, settings = _make_embedder(args)
    with IndexStore(Path(args.data_dir)) as store:
        ingestor = _ingestor(args, store, embedder, settings)
        started = time.perf_counter()
        report = ingestor.ingest(paths)
        wall = time.perf_counter() - started
    files = len(report.results)
    unchanged = report.count(Outcome.UNCHANGED)
    return {
        "system": f"verirag {args.runtime} re-ingest",
        "runtime": args.runtime,
        "files": files,
        "outcomes": {o.value: report.count(o) for o in Outcome if report.count(o)},
        "all_unchanged": files > 0 and unchanged == files,
        "total_s": wall,
        "per_filing_s": wall / files if files else 0.0,
        "peak_rss_mb": _peak_rss_mb(),
    }


def _worker_llamaindex(args: argparse.Namespace) -> dict[str, Any]:
    from llama_index.core.schema import MetadataMode

    from bench.llamaindex_baseline import build_llamaindex_baseline, default_model_dir

    paths = _pdf_paths(args.pdfs, args.limit)
    model_dir = default_model_dir()
    build = build_llamaindex_baseline(
        paths,
        model_dir,
        Path(args.data_dir),
        batch_size=args.baseline_batch_size,
        threads=args.threads,
    )
    peak_rss = _peak_rss_mb()
    on_disk = _dir_bytes(Path(args.data_dir))

    # What was embedded: the node text with LlamaIndex's metadata header, as embed_nodes does.
    _quiet_transformers()
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    nodes = list(build.index.docstore.docs.values())
    texts = [node.get_content(metadata_mode=MetadataMode.EMBED) for node in nodes]
    counts = _count_in_batches(
        lambda batch: [len(ids) for ids in tokenizer(batch)["input_ids"]], texts
    )
    max_tokens = int(build.embed_model.max_length)

    return {
        "system": "LlamaIndex",
        "batch_size": args.baseline_batch_size,
        "threads": args.threads,
        "warm_up_s": build.setup_s,
        "pages": build.pages,
        "empty_pages": build.empty_pages,
        "chunks": build.nodes,
        "parse_s": build.parse_s,
        "split_s": build.split_s,
        "embed_s": build.embed_s,
        "write_s": build.persist_s,
        "total_s": build.total_s,
        "parse_pages_per_s": build.pages / build.parse_s if build.parse_s else 0.0,
        "embed_chunks_per_s": build.nodes / build.embed_s if build.embed_s else 0.0,
        "peak_rss_mb": peak_rss,
        "vector_index_bytes": build.index_bytes,
        "docstore_bytes": build.persist_bytes - build.index_bytes,
        "index_bytes": build.persist_bytes,
        "on_disk_bytes": on_disk,
        "embedded": _truncation(counts, max_tokens),
    }


def _run_worker(args: argparse.Namespace) -> None:
    handlers = {
        "verirag": _worker_verirag,
        "reingest": _worker_reingest,
        "llamaindex": _worker_llamaindex,
    }
    # Whatever the libraries print goes to stderr; stdout carries only the result line.
    with contextlib.redirect_stdout(sys.stderr):
        result = handlers[args.worker](args)
    print(json.dumps(result), flush=True)


# ---- the driver -----------------------------------------------------------------------------


def _worker_env(threads: int) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "HF_HUB_OFFLINE": "1",
            "TRANSFORMERS_OFFLINE": "1",
            "OMP_NUM_THREADS": str(threads),
            "MKL_NUM_THREADS": str(threads),
            "OPENBLAS_NUM_THREADS": str(threads),
            "VERIRAG_TORCH_THREADS": str(threads),
        }
    )
    # The repository root first, so `ingest` and `bench` are this checkout's packages.
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    return env


def _spawn(
    args: argparse.Namespace, worker: str, data_dir: Path, runtime: str, errors: list[str]
) -> dict[str, Any] | None:
    """Run one worker in a fresh process; its result, or None (and a line in ``errors``)."""
    command = [
        sys.executable,
        "-m",
        "bench.ingest",
        "--worker",
        worker,
        "--pdfs",
        str(args.pdfs),
        "--threads",
        str(args.threads),
        "--runtime",
        runtime,
        "--data-dir",
        str(data_dir),
        "--baseline-batch-size",
        str(args.baseline_batch_size),
    ]
    if args.limit is not None:
        command += ["--limit", str(args.limit)]
    if args.batch_size is not None:
        command += ["--batch-size", str(args.batch_size)]
    if args.metadata is not None:
        command += ["--metadata", str(args.metadata)]
    label = f"{worker} ({runtime})" if worker != "llamaindex" else worker
    print(f"... {label}", file=sys.stderr, flush=True)
    started = time.perf_counter()
    completed = subprocess.run(
        command,
        cwd=REPO,
        env=_worker_env(args.threads),
        stdout=subprocess.PIPE,
        text=True,
        check=False,
    )
    elapsed = time.perf_counter() - started
    lines = [line for line in completed.stdout.splitlines() if line.startswith("{")]
    if completed.returncode != 0 or not lines:
        message = (
            f"the {label} worker failed (exit code {completed.returncode}); its messages are above"
        )
        print(f"error: {message}", file=sys.stderr, flush=True)
        errors.append(message)
        return None
    result: dict[str, Any] = json.loads(lines[-1])
    result["process_s"] = elapsed
    print(
        f"    done in {elapsed:.1f} s (timed: {result['total_s']:.2f} s)",
        file=sys.stderr,
        flush=True,
    )
    return result


def _median_run(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Medians of the numeric figures over repeated runs (the first run's other fields)."""
    if len(runs) == 1:
        return runs[0]
    merged = dict(runs[0])
    for key, value in runs[0].items():
        if isinstance(value, int | float) and not isinstance(value, bool):
            merged[key] = statistics.median(run[key] for run in runs)
        elif isinstance(value, bool):
            merged[key] = all(run[key] for run in runs)
    return merged


def _source_digest() -> str:
    """A digest of the code under test, to catch edits made while the benchmark runs."""
    import hashlib

    hasher = hashlib.sha256()
    for folder in ("ingest", "service", "bench"):
        for path in sorted((REPO / folder).rglob("*.py")):
            hasher.update(str(path.relative_to(REPO)).encode())
            hasher.update(path.read_bytes())
    return hasher.hexdigest()[:16]


def _warm_file_cache(paths: list[Path]) -> int:
    """Read every PDF once so that no system pays for a cold disk cache."""
    total = 0
    for path in paths:
        with path.open("rb") as handle:
            while block := handle.read(1 << 20):
                total += len(block)
    return total


def _environment(args: argparse.Namespace) -> dict[str, Any]:
    from importlib import metadata

    versions = {}
    for package in ("torch", "onnxruntime", "faiss-cpu", "llama-index-core", "pymupdf"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = None
    from bench.common import run_environment

    return {**run_environment(), "threads": args.threads, "packages": versions}


def _fmt(value: Any, digits: int = 2) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def _pieces_per_s(run: dict[str, Any]) -> float:
    """Embedding throughput in word pieces the model saw: comparable across chunk sizes."""
    return run["embedded"]["tokens_embedded"] / run["embed_s"] if run["embed_s"] else 0.0


def _print_table(columns: list[tuple[str, dict[str, Any]]]) -> None:
    def share(run: dict[str, Any]) -> str:
        embedded = run.get("embedded")
        if not embedded:
            return "-"
        return f"{embedded['over_max_share']:.1%} of {embedded['texts']:,}"

    rows: list[tuple[str, Any]] = [
        ("files", lambda r: r.get("files", "-")),
        ("pages", lambda r: r["pages"]),
        ("chunks (LlamaIndex: nodes)", lambda r: r["chunks"]),
        ("parse s", lambda r: r["parse_s"]),
        ("parse pages/s", lambda r: _fmt(r["parse_pages_per_s"], 1)),
        ("split s", lambda r: r.get("split_s")),
        ("embed s", lambda r: r["embed_s"]),
        ("embed chunks/s", lambda r: _fmt(r["embed_chunks_per_s"], 1)),
        ("embed word pieces/s", lambda r: _fmt(_pieces_per_s(r), 0)),
        ("write/persist s", lambda r: r["write_s"]),
        ("TOTAL wall s", lambda r: r["total_s"]),
        ("model load s (untimed)", lambda r: r["warm_up_s"]),
        ("peak RSS MB", lambda r: _fmt(r["peak_rss_mb"], 0)),
        ("vector index MB", lambda r: r["vector_index_bytes"] / _MB),
        ("docstore MB", lambda r: r["docstore_bytes"] / _MB),
        ("index total MB", lambda r: r["index_bytes"] / _MB),
        ("on disk MB", lambda r: r["on_disk_bytes"] / _MB),
        ("texts > window (truncated)", share),
        ("median word pieces/text", lambda r: r["embedded"]["median_tokens"]),
        ("word pieces embedded", lambda r: r["embedded"]["tokens_embedded"]),
        ("failures", lambda r: len(r.get("failures", []))),
    ]
    width = max(len(name) for name, _ in rows)
    col = max(16, *(len(title) for title, _ in columns))
    print(f"{'':<{width}}  " + "  ".join(f"{title:>{col}}" for title, _ in columns))
    for name, get in rows:
        cells = [_fmt(get(run)) for _, run in columns]
        print(f"{name:<{width}}  " + "  ".join(f"{cell:>{col}}" for cell in cells))


def _summarise(
    verirag: dict[str, dict[str, Any]],
    reingest: dict[str, Any] | None,
    baseline: dict[str, Any] | None,
    repeat: int,
) -> dict[str, Any]:
    summary: dict[str, Any] = {"ratios": {}, "targets": {}}
    note = f" (medians of {repeat} runs)" if repeat > 1 else ""
    print()
    columns = [(f"verirag {rt}", run) for rt, run in verirag.items()]
    if baseline:
        columns.append(("LlamaIndex", baseline))
    if not columns:
        print("no ingest run finished")
        return summary
    print(f"Ingest{note}")
    _print_table(columns)

    for runtime, run in verirag.items():
        if run.get("failures"):
            print(f"\nverirag {runtime} failures:")
            for failure in run["failures"]:
                print(f"  {failure['name']}: {failure['reason']}")
        if run.get("onnx_exported"):
            print(f"\n(verirag {runtime}: the model load included the one-time int8 ONNX export)")

    if baseline:
        print("\nRatios, LlamaIndex / verirag (higher = verirag faster)")
        for runtime, run in verirag.items():
            end_to_end = baseline["total_s"] / run["total_s"] if run["total_s"] else 0.0
            embed = baseline["embed_s"] / run["embed_s"] if run["embed_s"] else 0.0
            met = end_to_end >= END_TO_END_TARGET
            summary["ratios"][runtime] = {"end_to_end": end_to_end, "embedding": embed}
            summary["targets"][f"end_to_end_{runtime}"] = met
            print(
                f"  {runtime:<10} end to end {end_to_end:5.2f}x  "
                f"(target >= {END_TO_END_TARGET:.0f}x: {'MET' if met else 'NOT MET'});  "
                f"embedding only {embed:5.2f}x"
            )
        print(
            "  (LlamaIndex embed s = VectorStoreIndex(nodes): embedding + FAISS add + docstore;"
            " verirag embed s = the embedder's calls alone)"
        )

    print("\nWhat each system embedded (the fair-comparison context)")
    for title, run in columns:
        embedded = run["embedded"]
        print(
            f"  {title:<18} {embedded['texts']:>8,} texts; "
            f"{embedded['over_max']:,} ({embedded['over_max_share']:.1%}) longer than "
            f"{embedded['max_tokens']} word pieces and cut there; "
            f"{embedded['tokens_embedded']:,} of {embedded['tokens_total']:,} word pieces "
            f"seen by the model"
        )

    if reingest:
        met = reingest["all_unchanged"] and reingest["per_filing_s"] <= REINGEST_TARGET_S
        summary["targets"]["reingest"] = met
        print(f"\nRe-ingest of the unchanged corpus (verirag {reingest['runtime']}, fresh process)")
        print(
            f"  {reingest['files']} filings in {reingest['total_s']:.2f} s = "
            f"{reingest['per_filing_s']:.3f} s per filing "
            f"(target <= {REINGEST_TARGET_S:.0f} s per filing: {'MET' if met else 'NOT MET'})"
        )
        print(
            f"  outcomes: {reingest['outcomes']}; all unchanged: "
            f"{'yes' if reingest['all_unchanged'] else 'NO'}; "
            f"whole process (interpreter start and imports included): "
            f"{reingest['process_s']:.2f} s"
        )
    return summary


def main(args: argparse.Namespace) -> int:
    if args.worker is not None:
        _run_worker(args)
        return 0

    pdf_dir = Path(args.pdfs)
    if not pdf_dir.is_dir():
        print(
            f"error: no PDF folder at {pdf_dir}; the benchmark reads the FinanceBench filings "
            "from ../shared/financebench/pdfs (or pass --pdfs DIR)",
            file=sys.stderr,
        )
        return 2
    if args.limit is not None and args.limit < 1:
        print("error: --limit must be at least 1", file=sys.stderr)
        return 2
    if args.repeat < 1:
        print("error: --repeat must be at least 1", file=sys.stderr)
        return 2
    paths = _pdf_paths(pdf_dir, args.limit)
    if not paths:
        print(f"error: no .pdf files in {pdf_dir}", file=sys.stderr)
        return 2
    args.pdfs = pdf_dir.resolve()
    runtimes = list(BOTH) if args.runtime == "both" else [args.runtime]
    corpus_bytes = _warm_file_cache(paths)
    source_before = _source_digest()
    load_before = os.getloadavg()
    if load_before[0] > 0.5:
        print(
            f"warning: load average {load_before[0]:.2f} before the run: other work on this "
            "machine will slow both systems unevenly; rerun when it is quiet",
            file=sys.stderr,
        )
    print(
        f"{len(paths)} PDFs ({corpus_bytes / _MB:.1f} MB) from {pdf_dir}; "
        f"threads {args.threads}; runtimes {', '.join(runtimes)}; repeat {args.repeat}",
        file=sys.stderr,
    )

    runs: dict[str, list[dict[str, Any]]] = {}
    errors: list[str] = []

    def record(key: str, result: dict[str, Any] | None) -> bool:
        if result is not None:
            runs.setdefault(key, []).append(result)
        return result is not None

    with tempfile.TemporaryDirectory(prefix="verirag-bench-ingest-") as tmp:
        for attempt in range(args.repeat):
            for position, runtime in enumerate(runtimes):
                data_dir = Path(tmp) / f"verirag-{runtime}-{attempt}"
                built = record(
                    f"verirag {runtime}", _spawn(args, "verirag", data_dir, runtime, errors)
                )
                if built and position == 0:  # re-ingest on the first runtime's index
                    record("reingest", _spawn(args, "reingest", data_dir, runtime, errors))
            if not args.skip_baseline:
                data_dir = Path(tmp) / f"llamaindex-{attempt}"
                record("llamaindex", _spawn(args, "llamaindex", data_dir, runtimes[0], errors))

    load_after = os.getloadavg()
    source_after = _source_digest()
    if source_after != source_before:
        errors.append(
            "the code under ingest/, service/ or bench/ changed during the run: the workers "
            "ran different code (a re-ingest may even see a new parser version); rerun"
        )
    medians = {key: _median_run(value) for key, value in runs.items()}
    summary = _summarise(
        {rt: medians[f"verirag {rt}"] for rt in runtimes if f"verirag {rt}" in medians},
        medians.get("reingest"),
        medians.get("llamaindex"),
        args.repeat,
    )

    out = args.out or RESULTS_DIR / f"ingest-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    document = {
        "benchmark": "ingest",
        "pdfs": str(args.pdfs),
        "files": len(paths),
        "corpus_bytes": corpus_bytes,
        "limit": args.limit,
        "repeat": args.repeat,
        "runtimes": runtimes,
        "environment": _environment(args),
        "load_average_before": load_before,
        "load_average_after": load_after,
        "source_digest": source_before,
        "source_changed_during_run": source_after != source_before,
        "medians": medians,
        "summary": summary,
        "runs": runs,
        "errors": errors,
    }
    out.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    print(f"\nresults: {out}")
    if errors:
        print("\nincomplete: " + "; ".join(errors), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    # Run as `python bench/ingest.py`, this folder comes first on sys.path and this file would
    # shadow the `ingest` package; the workers import it, so put the repository root first.
    if sys.path and Path(sys.path[0]).resolve() == Path(__file__).resolve().parent:
        sys.path[0] = str(REPO)
    sys.exit(main(make_parser().parse_args()))
