"""The ``verirag`` command line. An entry point: it wires the layers together, nothing imports it.

Heavy imports (torch, faiss, PyMuPDF) happen inside the commands, so ``verirag --help`` is fast.
"""

from __future__ import annotations

import json
import sys
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    from ingest.pipeline import FileResult, FilingReader, IngestReport
    from ingest.settings import Settings
    from ingest.store import IndexStore

app = typer.Typer(
    name="verirag",
    help="Verifiable question answering over SEC filings.",
    no_args_is_help=True,
    add_completion=False,
)
index_app = typer.Typer(help="Inspect the index.", no_args_is_help=True)
app.add_typer(index_app, name="index")

DataDirOption = Annotated[
    Path | None,
    typer.Option(
        "--data-dir",
        help="Index folder (default: $VERIRAG_DATA_DIR, else ./verirag-data).",
        file_okay=False,
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print one JSON document.")]


def _settings(data_dir: Path | None) -> Settings:
    from ingest.settings import get_settings

    settings = get_settings()
    if data_dir is not None:
        settings = settings.model_copy(update={"data_dir": data_dir.expanduser()})
    return settings


def _fail(message: str, code: int = 2) -> typer.Exit:
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    return typer.Exit(code)


def _open_store(settings: Settings, must_exist: bool) -> IndexStore:
    from ingest.store import DOCSTORE_FILE, IndexStore

    if must_exist and not (settings.data_dir / DOCSTORE_FILE).exists():
        raise _fail(
            f"no index in {settings.data_dir}; run `verirag ingest PATH --data-dir "
            f"{settings.data_dir}` first, or pass the --data-dir that holds one"
        )
    return IndexStore(settings.data_dir)


def _embedder(settings: Settings) -> Any:
    from ingest.embedding import OnnxEmbedder, SentenceTransformerEmbedder

    if settings.embedding_runtime != "torch":
        return OnnxEmbedder(
            model=settings.embedding_model,
            cache_dir=settings.cache_dir,
            batch_size=settings.embedding_batch_size,
            threads=settings.torch_threads,
            quantize=settings.embedding_runtime == "onnx-int8",
        )
    return SentenceTransformerEmbedder(
        model=settings.embedding_model,
        device=settings.embedding_device,
        batch_size=settings.embedding_batch_size,
        threads=settings.torch_threads,
    )


def _readers() -> dict[str, FilingReader]:
    from ingest.html import EdgarHtmlReader
    from ingest.pdf import PdfReader

    pdf, html = PdfReader(), EdgarHtmlReader()
    return {".pdf": pdf, ".htm": html, ".html": html, ".xhtml": html}


def _print_result(result: FileResult) -> None:
    from ingest.pipeline import Outcome

    if result.outcome is Outcome.FAILED:
        typer.secho(f"FAILED     {result.path}: {result.reason}", fg=typer.colors.RED, err=True)
        return
    detail = f" ({result.pages} pages, {result.chunks} chunks)" if result.chunks else ""
    reason = f" — {result.reason}" if result.reason else ""
    typer.echo(
        f"{result.outcome.value:<10} {result.name}{detail}{reason} [{result.seconds:.2f}s]",
        err=True,
    )


def _report_json(report: IngestReport) -> dict[str, Any]:
    return {
        "ok": report.ok,
        "results": [{**asdict(r), "outcome": r.outcome.value} for r in report.results],
        "seconds": {
            "parse": round(report.parse_seconds, 3),
            "embed": round(report.embed_seconds, 3),
            "write": round(report.write_seconds, 3),
            "total": round(report.total_seconds, 3),
        },
    }


@app.command()
def ingest(
    paths: Annotated[
        list[str] | None,
        typer.Argument(help="Filings: PDF or EDGAR HTML files, folders, or glob patterns."),
    ] = None,
    data_dir: DataDirOption = None,
    metadata: Annotated[
        Path | None,
        typer.Option(
            "--metadata",
            help="JSONL of per-filing metadata overrides (doc_name, company, doc_type, "
            "doc_period), e.g. FinanceBench's documents.jsonl.",
            exists=True,
            dir_okay=False,
        ),
    ] = None,
    remove: Annotated[
        list[str] | None,
        typer.Option("--remove", help="Remove the filing of this name (file stem)."),
    ] = None,
    json_output: JsonOption = False,
) -> None:
    """Ingest filings into the index. Unchanged files are skipped; bad files are reported."""
    from ingest.errors import IngestError
    from ingest.metadata import load_overrides
    from ingest.pipeline import IngestOptions, Ingestor

    if not paths and not remove:
        raise _fail("nothing to do: pass filings to ingest, or --remove NAME")
    settings = _settings(data_dir)
    try:
        overrides = load_overrides(metadata) if metadata else None
        with _open_store(settings, must_exist=False) as store:
            ingestor = Ingestor(
                store,
                _embedder(settings),
                _readers(),
                IngestOptions(
                    chunk_max_chars=settings.chunk_max_chars,
                    commit_seconds=settings.ingest_commit_seconds,
                    show_progress=settings.show_progress and sys.stderr.isatty(),
                ),
                overrides,
            )
            reports = []
            if remove:
                reports.append(ingestor.remove(remove))
            if paths:
                reports.append(ingestor.ingest(paths, on_result=_print_result))
    except IngestError as exc:
        raise _fail(str(exc)) from exc
    failed = [result for report in reports for result in report.failed]
    if remove:
        for result in reports[0].results:
            _print_result(result)
    if json_output:
        typer.echo(json.dumps([_report_json(report) for report in reports], indent=2))
    if paths:
        from ingest.pipeline import Outcome

        report = reports[-1]
        summary = ", ".join(f"{report.count(o)} {o.value}" for o in Outcome if report.count(o))
        typer.echo(f"{summary} in {report.total_seconds:.1f}s", err=True)
    if failed:
        typer.secho(
            f"{len(failed)} failed: " + "; ".join(f"{r.path}: {r.reason}" for r in failed),
            fg=typer.colors.RED,
            err=True,
        )
        raise typer.Exit(1)


@index_app.command("info")
def index_info(data_dir: DataDirOption = None, json_output: JsonOption = False) -> None:
    """Counts and settings of the index."""
    settings = _settings(data_dir)
    with _open_store(settings, must_exist=True) as store:
        info = store.info()
        filings = store.filings()
    if json_output:
        info["filing_names"] = [f.name for f in filings]
        typer.echo(json.dumps(info, indent=2))
        return
    for key, value in info.items():
        typer.echo(f"{key:>22}: {value}")
    for filing in filings:
        meta = filing.metadata
        typer.echo(
            f"  {filing.name}: {meta.company} {meta.form_type.value if meta.form_type else '?'} "
            f"FY{meta.fiscal_year or '?'} {meta.fiscal_period or ''} ({filing.page_count} pages)"
        )


@index_app.command("page")
def index_page(
    filing: Annotated[str, typer.Option("--filing", help="Filing name (file stem).")],
    page: Annotated[int, typer.Option("--page", help="Zero-indexed page number.", min=0)],
    data_dir: DataDirOption = None,
    json_output: JsonOption = False,
) -> None:
    """A stored page: its text and its sentences with character offsets."""
    from ingest.errors import FilingNotFoundError

    settings = _settings(data_dir)
    with _open_store(settings, must_exist=True) as store:
        try:
            stored = store.page(filing, page)
        except FilingNotFoundError as exc:
            raise _fail(str(exc)) from exc
    if json_output:
        typer.echo(json.dumps(stored, indent=2))
        return
    typer.echo(stored["text"])
    typer.echo("\n--- sentences ---")
    for sentence in stored["sentences"]:
        typer.echo(
            f"{sentence['id']} [{sentence['start']}:{sentence['end']}] "
            f"{sentence['section'] or '-'} {sentence['kind']}: {' '.join(sentence['text'].split())}"
        )


def _retriever(settings: Settings, store: IndexStore, mode: str, rerank_top: int) -> Any:
    from retrieval.catalog import Catalog
    from retrieval.dense import DenseRetriever
    from retrieval.hybrid import HybridConfig, HybridRetriever
    from retrieval.lexical import LexicalRetriever
    from retrieval.rerank import OnnxCrossEncoder

    catalog = Catalog.from_store(store)
    dense = DenseRetriever(store, _embedder(settings), catalog, vector_index=settings.vector_index)
    lexical = LexicalRetriever(store, catalog)
    if mode == "dense":
        return dense
    if mode == "lexical":
        return lexical
    return HybridRetriever(
        store,
        dense,
        lexical,
        catalog,
        reranker=OnnxCrossEncoder(threads=settings.torch_threads) if rerank_top else None,
        config=HybridConfig(rerank_top=rerank_top),
    )


RetrievalMode = Annotated[
    str,
    typer.Option("--mode", help="hybrid (dense + BM25, fused), dense or lexical."),
]


@app.command()
def search(
    question: Annotated[str, typer.Argument(help="What to look for.")],
    top_k: Annotated[int, typer.Option("--top-k", min=1, max=200)] = 5,
    filing: Annotated[
        list[str] | None, typer.Option("--filing", help="Restrict to this filing (repeatable).")
    ] = None,
    company: Annotated[
        str | None, typer.Option("--company", help="Restrict to a company (name or alias).")
    ] = None,
    year: Annotated[
        list[int] | None, typer.Option("--year", help="Fiscal year (repeatable).")
    ] = None,
    quarter: Annotated[int | None, typer.Option("--quarter", min=1, max=4)] = None,
    form: Annotated[str | None, typer.Option("--form", help="10-K, 10-Q, 8-K or earnings.")] = None,
    mode: RetrievalMode = "hybrid",
    rerank: Annotated[
        int | None,
        typer.Option("--rerank", help="Cross-encoder-rescore this many candidates (0 = off)."),
    ] = None,
    data_dir: DataDirOption = None,
    json_output: JsonOption = False,
) -> None:
    """Search the index and print the best chunks with filing, page, section and sentences.

    Without --filing/--company/--year/--quarter/--form, filters are read from the question
    ("3M", "FY2018", "Q2 2023"); a question that names no company searches everything.
    """
    from ingest.errors import IngestError
    from ingest.metadata import parse_form
    from retrieval.catalog import Catalog, QueryFilters

    if not question.strip():
        raise _fail("the question is empty; pass what to search for")
    if mode not in {"hybrid", "dense", "lexical"}:
        raise _fail(f"--mode {mode!r}: use hybrid, dense or lexical")
    settings = _settings(data_dir)
    with _open_store(settings, must_exist=True) as store:
        filters = None
        if filing or company or year or quarter or form:
            companies = Catalog.from_store(store).companies_in(company) if company else None
            if company and not companies:
                raise _fail(f"no indexed filing is from a company called {company!r}")
            filters = QueryFilters(
                companies=companies or frozenset(),
                fiscal_years=frozenset(year or ()),
                quarter=quarter,
                form=parse_form(form),
                filings=frozenset(filing or ()),
            )
        try:
            retriever = _retriever(
                settings, store, mode, settings.rerank_top if rerank is None else rerank
            )
            hits = retriever.retrieve(question, top_k, filters)
        except IngestError as exc:
            raise _fail(str(exc)) from exc
        sentences = {hit.chunk_id: store.sentences_by_ids(hit.sentence_ids) for hit in hits}
    if json_output:
        typer.echo(
            json.dumps(
                [
                    {
                        "filing": hit.filing,
                        "page": hit.page,
                        "section": hit.section,
                        "score": round(hit.score, 4),
                        "text": hit.text,
                        "sentence_ids": hit.sentence_ids,
                    }
                    for hit in hits
                ],
                indent=2,
            )
        )
        return
    for rank, hit in enumerate(hits, start=1):
        typer.secho(
            f"{rank}. {hit.filing}  page {hit.page}  {hit.section or ''}  (score {hit.score:.3f})",
            bold=True,
        )
        for sentence in sentences[hit.chunk_id][:6]:
            typer.echo(f"   [{sentence['id']}] {' '.join(sentence['text'].split())[:300]}")


eval_app = typer.Typer(
    help="Measure retrieval and answers on labelled questions.", no_args_is_help=True
)
app.add_typer(eval_app, name="eval")


@eval_app.command("retrieval")
def eval_retrieval(
    questions: Annotated[
        Path,
        typer.Option(
            "--questions",
            help="FinanceBench-style questions JSONL with evidence pages.",
            exists=True,
            dir_okay=False,
        ),
    ],
    report: Annotated[
        Path, typer.Option("--report", help="Where to write the JSON report.")
    ] = Path("retrieval-report.json"),
    plot: Annotated[
        Path | None, typer.Option("--plot", help="Recall@k curve PNG (default: beside report).")
    ] = None,
    mode: RetrievalMode = "hybrid",
    rerank: Annotated[int | None, typer.Option("--rerank")] = None,
    data_dir: DataDirOption = None,
) -> None:
    """Evidence-page recall@1/5/10/20 and MRR, shared store and single store."""
    from ingest.errors import IngestError
    from retrieval.evaluate import evaluate, load_questions, plot_recall_curves

    try:
        loaded = load_questions(questions)
    except (ValueError, KeyError) as exc:
        raise _fail(
            f"{questions}: not a questions file ({exc}); see `verirag eval --help`"
        ) from exc
    settings = _settings(data_dir)
    with _open_store(settings, must_exist=True) as store:
        try:
            retriever = _retriever(
                settings, store, mode, settings.rerank_top if rerank is None else rerank
            )
            retriever.warm_up()
            result = evaluate(retriever, loaded)
        except IngestError as exc:
            raise _fail(str(exc)) from exc
        result["index"] = store.info()
    result["mode"] = mode
    report.parent.mkdir(parents=True, exist_ok=True)
    report.write_text(json.dumps(result, indent=2))
    plot = plot or report.with_suffix(".png")
    plot_recall_curves(result, plot, f"verirag {mode}: evidence-page recall@k")
    for store_name, summary in result["summary"].items():
        recalls = "  ".join(f"@{k}={v:.3f}" for k, v in summary["recall"].items())
        typer.echo(
            f"{store_name:>6} store: recall {recalls}  MRR={summary['mrr']:.3f}  "
            f"p50={summary['latency_ms']['p50']:.0f}ms p95={summary['latency_ms']['p95']:.0f}ms"
            f"  errors={summary['errors']}"
        )
    typer.echo(f"report: {report}  plot: {plot}")


def main() -> None:
    app()


if __name__ == "__main__":
    main()
