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
    from engine.settings import Settings
    from ingest.pipeline import FileResult, IngestReport
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
    from engine.settings import get_settings

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
    from engine.runtime import embedder_from_settings

    return embedder_from_settings(settings)


def _print_result(result: FileResult) -> None:
    from ingest.pipeline import Outcome

    if result.outcome is Outcome.FAILED:
        typer.secho(f"FAILED     {result.path}: {result.reason}", fg=typer.colors.RED, err=True)
        return
    reused = f", {result.reused_vectors} vectors kept" if result.reused_vectors else ""
    detail = f" ({result.pages} pages, {result.chunks} chunks{reused})" if result.chunks else ""
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
    from ingest.pipeline import IngestOptions, Ingestor, default_readers

    if not paths and not remove:
        raise _fail("nothing to do: pass filings to ingest, or --remove NAME")
    settings = _settings(data_dir)
    try:
        overrides = load_overrides(metadata) if metadata else None
        with _open_store(settings, must_exist=False) as store:
            ingestor = Ingestor(
                store,
                _embedder(settings),
                default_readers(),
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


@app.command()
def evidence(
    answer_id: Annotated[str, typer.Argument(help="The answer's id (GET /v1/answers lists them).")],
    out: Annotated[
        Path,
        typer.Option(
            "--out",
            help="Folder for evidence.json, evidence.html and the page images.",
            file_okay=False,
        ),
    ],
    drafts: Annotated[
        bool,
        typer.Option(
            "--drafts/--no-drafts",
            help="Include drafting rounds and dropped claims (what compliance reads).",
        ),
    ] = True,
    data_dir: DataDirOption = None,
) -> None:
    """Write an answer's evidence package: each citation's quote highlighted where it sits on
    its page (PNG per PDF citation), verdicts and reasons per rule, rounds, versions; as JSON
    and as one self-contained HTML file."""
    from service.errors import AnswerNotFoundError
    from service.evidence import EvidenceBuilder, write_evidence
    from service.log import InteractionLog

    settings = _settings(data_dir)
    try:
        record = InteractionLog.open(settings.service_database_url).get(answer_id)
    except AnswerNotFoundError as exc:
        raise _fail(
            f"{exc} in the log of {settings.data_dir}; pass the --data-dir of the service "
            "that answered it"
        ) from exc
    with _open_store(settings, must_exist=True) as store:
        builder = EvidenceBuilder(store)
        try:
            written = write_evidence(builder, record, out, with_drafts=drafts)
        finally:
            builder.close()
    for path in written:
        typer.echo(str(path))


def _retriever(
    settings: Settings,
    store: IndexStore,
    mode: str,
    rerank_top: int,
    embedder: Any = None,
) -> Any:
    from engine.runtime import build_retriever

    return build_retriever(settings, store, mode, rerank_top, embedder or _embedder(settings))


def _explicit_filters(
    store: IndexStore,
    filing: list[str] | None,
    company: str | None,
    year: list[int] | None,
    quarter: int | None,
    form: str | None,
) -> Any:
    """Filters given on the command line; None when none was, so the question's own are used."""
    from ingest.metadata import parse_form
    from retrieval.catalog import Catalog, QueryFilters

    if not (filing or company or year or quarter or form):
        return None
    companies = Catalog.from_store(store).companies_in(company) if company else None
    if company and not companies:
        raise _fail(f"no indexed filing is from a company called {company!r}")
    return QueryFilters(
        companies=companies or frozenset(),
        fiscal_years=frozenset(year or ()),
        quarter=quarter,
        form=parse_form(form),
        filings=frozenset(filing or ()),
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
    ("Acme", "FY2018", "Q2 2023"); a question that names no company searches everything.
    """
    from ingest.errors import IngestError

    if not question.strip():
        raise _fail("the question is empty; pass what to search for")
    if mode not in {"hybrid", "dense", "lexical"}:
        raise _fail(f"--mode {mode!r}: use hybrid, dense or lexical")
    settings = _settings(data_dir)
    with _open_store(settings, must_exist=True) as store:
        filters = _explicit_filters(store, filing, company, year, quarter, form)
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


def _print_answer(answer: Any) -> None:
    if answer.refused:
        typer.secho(f"REFUSED: {answer.refusal_reason}", fg=typer.colors.YELLOW, bold=True)
    else:
        label = "PARTIAL ANSWER" if answer.partial else "ANSWER"
        typer.secho(f"{label}: {answer.answer}", bold=True)
    for number, claim in enumerate(answer.claims, start=1):
        typer.echo(f"\n{number}. {claim.text}")
        for citation in claim.citations:
            typer.echo(
                f'   "{" ".join(citation.quote.split())}"\n'
                f"   — {citation.filing}, page {citation.page} (zero-indexed), "
                f"{citation.section or 'no section'}, sentence {citation.sentence_id}"
            )
        verdicts = ", ".join(f"{rule} {verdict}" for rule, verdict in claim.verdicts.items())
        typer.echo(f"   verdicts: {verdicts}")
    if answer.dropped_claims:
        typer.echo(f"\n{len(answer.dropped_claims)} claim(s) failed verification and were dropped:")
        for claim in answer.dropped_claims:
            typer.echo(f"   - {_dropped_line(claim)}")
    timings = answer.timings
    drafted = (
        f" · drafted by {answer.drafted_by}"
        if answer.drafted_by and answer.drafted_by != answer.model
        else ""
    )
    typer.echo(
        f"\nanswer {answer.id} · model {answer.model}{drafted} · constitution "
        f"{answer.constitution_version} · retrieve {timings.retrieve_ms:.0f} ms, generate "
        f"{timings.generate_ms:.0f} ms, verify {timings.verify_ms:.0f} ms over "
        f"{timings.rounds} round(s)"
    )


def _dropped_line(claim: Any) -> str:
    """A dropped claim as the asker may see it: in process (the operator's own index and log)
    with its text and reasons; from a service, which keeps draft text to itself, by the rules
    it failed."""
    if hasattr(claim, "failed_rules"):
        return f"failed {', '.join(claim.failed_rules)}"
    failed = [f"{r}: {claim.reasons.get(r, '')}" for r, v in claim.verdicts.items() if v == "fail"]
    return f"{claim.text!r} ({'; '.join(failed)})"


def answer_json(answer: Any) -> dict[str, Any]:
    """The ``ask --json`` shape other tools rely on, plus the versions and timings."""
    return {
        "id": answer.id,
        "answer": answer.answer,
        "refused": answer.refused,
        "partial": answer.partial,
        "refusal_reason": answer.refusal_reason,
        "claims": [
            {
                "text": claim.text,
                "citations": [
                    {
                        "sentence_id": c.sentence_id,
                        "filing": c.filing,
                        "page": c.page,
                        "section": c.section,
                        "quote": c.quote,
                    }
                    for c in claim.citations
                ],
                "verdicts": claim.verdicts,
            }
            for claim in answer.claims
        ],
        "dropped_claims": len(answer.dropped_claims),
        "constitution_version": answer.constitution_version,
        "model": answer.model,
        "drafted_by": answer.drafted_by,
        "versions": answer.versions.model_dump(),
        "timings": answer.timings.model_dump(),
    }


@app.command()
def ask(
    question: Annotated[str, typer.Argument(help="The question, in an analyst's words.")],
    filing: Annotated[
        list[str] | None, typer.Option("--filing", help="Answer from this filing (repeatable).")
    ] = None,
    company: Annotated[str | None, typer.Option("--company", help="Restrict to a company.")] = None,
    year: Annotated[list[int] | None, typer.Option("--year", help="Fiscal year.")] = None,
    quarter: Annotated[int | None, typer.Option("--quarter", min=1, max=4)] = None,
    form: Annotated[str | None, typer.Option("--form", help="10-K, 10-Q, 8-K.")] = None,
    data_dir: DataDirOption = None,
    json_output: JsonOption = False,
    url: Annotated[
        str | None,
        typer.Option(
            "--url",
            help="Ask a running `verirag serve` at this URL instead of answering in process.",
        ),
    ] = None,
    api_key: Annotated[
        str | None,
        typer.Option("--key", envvar="VERIRAG_API_KEY", help="Analyst API key for --url."),
    ] = None,
) -> None:
    """Retrieve, generate, verify against the constitution, revise, and print the answer with
    every claim's quote, filing, page, section, sentence id and verdicts. The answer is logged;
    its id finds the full audit record later."""
    from engine.errors import AnswerEngineError
    from engine.runtime import build_pipeline
    from ingest.errors import IngestError
    from service.errors import ServiceError
    from service.log import InteractionLog
    from verifier.errors import VerifierError

    if not question.strip():
        raise _fail("the question is empty")
    if len(question) > 2000:
        raise _fail("the question is longer than 2,000 characters; ask something shorter")
    if url is not None:
        explicit = {
            "filings": filing or [],
            "companies": [company] if company else [],
            "fiscal_years": year or [],
            "quarter": quarter,
            "form": form,
        }
        filters = {k: v for k, v in explicit.items() if v} or None
        answer = _ask_service(url, api_key, question, filters)
        if json_output:
            typer.echo(json.dumps(answer_json(answer), indent=2))
        else:
            _print_answer(answer)
        return
    settings = _settings(data_dir)
    with _open_store(settings, must_exist=True) as store:
        filters = _explicit_filters(store, filing, company, year, quarter, form)
        try:
            embedder = _embedder(settings)
            pipeline = build_pipeline(
                settings,
                store,
                _retriever(settings, store, "hybrid", settings.rerank_top, embedder),
                embedder=embedder,
            )
            pipeline.warm_up()
            record = pipeline.answer(question, filters)
        except (IngestError, ServiceError, AnswerEngineError, VerifierError) as exc:
            raise _fail(f"{exc} (no answer was delivered)") from exc
        with InteractionLog.in_data_dir(settings.data_dir) as log:
            log.append(record)
    if json_output:
        typer.echo(json.dumps(answer_json(record.answer), indent=2))
    else:
        _print_answer(record.answer)


def _ask_service(
    url: str, api_key: str | None, question: str, filters: dict[str, Any] | None
) -> Any:
    import httpx

    from service.api.protocol import AnswerPublic

    if not api_key:
        raise _fail(
            "--url needs an analyst key: --key KEY or VERIRAG_API_KEY (`verirag keys create`)"
        )
    body: dict[str, Any] = {"question": question}
    if filters:
        body["filters"] = filters
    try:
        response = httpx.post(
            f"{url.rstrip('/')}/v1/answers",
            json=body,
            headers={"Authorization": f"Bearer {api_key}"},
            timeout=httpx.Timeout(900.0, connect=10.0),
        )
    except httpx.HTTPError as exc:
        raise _fail(f"cannot reach the service at {url}: {exc}") from exc
    if response.status_code != 200:
        try:
            error = response.json()["error"]
            message = f"{error['type']}: {error['message']}"
        except (ValueError, KeyError, TypeError):
            message = response.text[:300]
        raise _fail(f"the service answered {response.status_code} — {message}")
    return AnswerPublic.model_validate(response.json())


generator_app = typer.Typer(help="Run the generator as a service.", no_args_is_help=True)
app.add_typer(generator_app, name="generator")


@generator_app.command("serve")
def generator_serve(
    host: Annotated[str, typer.Option(help="Interface to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port.")] = 8001,
    served_name: Annotated[
        str | None, typer.Option(help="Model name clients ask for (default: the model spec).")
    ] = None,
) -> None:
    """Serve the in-process generator over an OpenAI-compatible API (what vLLM provides on a
    GPU), so VERIRAG_GENERATOR_BACKEND=openai works on a CPU machine too."""
    import uvicorn

    from engine.errors import AnswerEngineError
    from engine.local_generator import TransformersGenerator
    from service.errors import ServiceError
    from service.openai_server import build_app

    settings = _settings(None)
    generator = TransformersGenerator(
        settings.generator_model,
        settings.cache_dir,
        adapter=settings.generator_adapter,
        threads=settings.torch_threads,
    )
    try:
        generator.warm_up()
    except (ServiceError, AnswerEngineError) as exc:
        raise _fail(str(exc)) from exc
    name = served_name or settings.generator_model
    uvicorn.run(build_app(generator, name), host=host, port=port, log_level="warning")


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


@eval_app.command("answers")
def eval_answers(
    questions: Annotated[
        Path, typer.Option("--questions", help="FinanceBench-format questions with answers.")
    ],
    report_path: Annotated[Path | None, typer.Option("--report", help="JSON report.")] = None,
    plot: Annotated[
        Path | None, typer.Option("--plot", help="PNG of outcomes and latency.")
    ] = None,
    limit: Annotated[int | None, typer.Option(help="Only the first N questions.")] = None,
    given_filing: Annotated[
        bool,
        typer.Option(
            "--given-filing/--from-question",
            help="Restrict each question to its gold filing, or read filters from the question.",
        ),
    ] = False,
    data_dir: DataDirOption = None,
) -> None:
    """Correct / incorrect / refused against gold answers, quote exact-match rate, citation
    precision and recall, citations on the gold page, dropped claims and per-stage latency.
    TAT-QA questions (with ``tatqa_answer``) are judged the benchmark's way: exact match with
    the scale, and EM/F1 per answer type. Every answer is logged like any other."""
    from engine.answer_eval import (
        AnswerEvaluation,
        embedding_similarity,
        load_gold,
        plot_outcomes,
    )
    from engine.errors import AnswerEngineError
    from engine.runtime import build_pipeline
    from service.errors import ServiceError
    from service.log import InteractionLog
    from verifier.errors import VerifierError

    if not questions.is_file():
        raise _fail(f"{questions}: no such file")
    settings = _settings(data_dir)
    gold = load_gold(questions)[:limit]
    with _open_store(settings, must_exist=True) as store:
        embedder = _embedder(settings)
        pipeline = build_pipeline(
            settings,
            store,
            _retriever(settings, store, "hybrid", settings.rerank_top, embedder),
            embedder=embedder,
        )
        try:
            pipeline.warm_up()
        except (ServiceError, AnswerEngineError, VerifierError) as exc:
            raise _fail(str(exc)) from exc
        similarity = embedding_similarity(embedder)
        log = InteractionLog.in_data_dir(settings.data_dir)
        evaluation = AnswerEvaluation(
            pipeline, pipeline.verifier.judge, similarity, record_sink=log.append
        )
        done = 0

        def progress(outcome: Any) -> None:
            nonlocal done
            done += 1
            typer.echo(
                f"[{done}/{len(gold)}] {outcome.id}: {outcome.outcome} "
                f"({outcome.timings.get('total_ms', 0):.0f} ms) {outcome.answer[:80]!r}"
                + (f" error={outcome.error}" if outcome.error else "")
            )

        report = evaluation.run(gold, given_filing, progress)
        log.close()
        report["versions"] = pipeline.versions().model_dump()
    if report_path is not None:
        report_path.parent.mkdir(parents=True, exist_ok=True)
        report_path.write_text(json.dumps(report, indent=2))
    if plot is not None:
        plot_outcomes(report, plot)
    summary = {k: v for k, v in report.items() if k != "per_question"}
    typer.echo(json.dumps(summary, indent=2))


verifier_app = typer.Typer(help="Train and inspect the entailment judge.", no_args_is_help=True)
app.add_typer(verifier_app, name="verifier")

SHARED_NLI_TRAIN = Path("../shared/nli_train/train.jsonl")
SHARED_VERIFIER_BENCH = Path("../shared/verifier_bench/dev.jsonl")


MaxFalseAcceptOption = Annotated[
    float,
    typer.Option(
        "--max-false-accept",
        min=0.0,
        max=1.0,
        help="Operating point: the verifier's threshold is the lowest whose macro share of "
        "unsupported bench claims let through is at most this.",
    ),
]


def _calibration(
    settings: Settings, directory: Path, bench_file: Path, max_false_accept: float
) -> dict[str, Any]:
    from verifier.evaluate import calibrate, load_bench
    from verifier.nli import CrossEncoderJudge

    judge = CrossEncoderJudge(
        str(directory),
        runtime=settings.nli_runtime,
        cache_dir=settings.cache_dir,
        threads=settings.torch_threads,
    )
    result = calibrate(judge, load_bench(bench_file), max_false_accept)
    result["calibration"].update(bench=str(bench_file), runtime=settings.nli_runtime)
    return result


@verifier_app.command("calibrate")
def verifier_calibrate(
    bench: Annotated[
        Path | None,
        typer.Option(
            help="verifier_bench-format file (default: ../shared/verifier_bench/dev.jsonl)."
        ),
    ] = None,
    name: Annotated[str, typer.Option(help="Judge name: cache_dir/judges/NAME.")] = "minilm-nli",
    judge_dir: Annotated[
        Path | None, typer.Option("--judge", help="A judge folder instead of NAME.")
    ] = None,
    max_false_accept: MaxFalseAcceptOption = 0.15,
) -> None:
    """Re-score the bench with a saved judge and record its thresholds and metrics in its
    data card (the card is replaced atomically)."""
    import os
    import tempfile

    from verifier.errors import VerifierError
    from verifier.nli import JUDGE_CARD, judge_directory

    settings = _settings(None)
    directory = judge_dir or judge_directory(name, settings.cache_dir)
    card_file = directory / JUDGE_CARD
    if not card_file.is_file():
        raise _fail(f"{directory} holds no judge card; train one with `verirag verifier train`")
    bench_file = bench or SHARED_VERIFIER_BENCH
    try:
        result = _calibration(settings, directory, bench_file, max_false_accept)
    except VerifierError as exc:
        raise _fail(str(exc)) from exc
    card = json.loads(card_file.read_text())
    card.update(result)
    handle, staging = tempfile.mkstemp(dir=directory, prefix=".card-")
    with os.fdopen(handle, "w") as out:
        out.write(json.dumps(card, indent=2))
    Path(staging).replace(card_file)
    typer.echo(json.dumps(result, indent=2))


@verifier_app.command("train")
def verifier_train(
    pairs: Annotated[
        list[Path] | None,
        typer.Option(
            "--pairs",
            help="nli_train-format JSON lines (default: ../shared/nli_train/train.jsonl).",
        ),
    ] = None,
    bench: Annotated[
        Path | None,
        typer.Option(
            "--bench",
            help="verifier_bench-format file to calibrate the threshold on (default: "
            "../shared/verifier_bench/dev.jsonl when present).",
        ),
    ] = None,
    name: Annotated[str, typer.Option(help="Judge name: cache_dir/judges/NAME.")] = "minilm-nli",
    output: Annotated[
        Path | None, typer.Option(help="Save here instead of cache_dir/judges/NAME.")
    ] = None,
    base_model: Annotated[str, typer.Option(help="Encoder to fine-tune.")] = (
        "packaged:all-MiniLM-L6-v2"
    ),
    epochs: Annotated[float, typer.Option(help="Passes over the pairs.")] = 1.0,
    batch_size: Annotated[int, typer.Option(help="Pairs per step.")] = 16,
    learning_rate: Annotated[float, typer.Option(help="AdamW learning rate.")] = 5e-5,
    max_tokens: Annotated[int, typer.Option(help="Pair length cap in word pieces.")] = 256,
    max_pairs: Annotated[
        int | None, typer.Option(help="Sample at most this many public pairs.")
    ] = None,
    synthetic_pairs: Annotated[
        int, typer.Option(help="Pairs synthesised from the index in --data-dir (0 = none).")
    ] = 3000,
    max_false_accept: MaxFalseAcceptOption = 0.15,
    data_dir: DataDirOption = None,
) -> None:
    """Train the entailment judge the verifier uses, save it with its data card and the
    threshold calibrated on the bench file."""
    import random

    from ingest.store import DOCSTORE_FILE
    from verifier.errors import TrainingDataError
    from verifier.nli import judge_directory
    from verifier.training import (
        JudgeTrainingConfig,
        load_nli_pairs,
        synthesise_filing_pairs,
        train_judge,
    )

    settings = _settings(data_dir)
    config = JudgeTrainingConfig(
        base_model=base_model,
        epochs=epochs,
        learning_rate=learning_rate,
        batch_size=batch_size,
        max_tokens=max_tokens,
        max_pairs=max_pairs,
        synthetic_pairs=synthetic_pairs,
        threads=settings.torch_threads,
    )
    sources = pairs or [SHARED_NLI_TRAIN]
    try:
        public = [pair for path in sources for pair in load_nli_pairs(path)]
        if max_pairs is not None and len(public) > max_pairs:
            public = random.Random(config.seed).sample(public, max_pairs)
        synthetic = []
        if synthetic_pairs and (settings.data_dir / DOCSTORE_FILE).exists():
            synthetic = synthesise_filing_pairs(settings.data_dir, synthetic_pairs, config.seed)
        elif synthetic_pairs:
            typer.echo(f"no index in {settings.data_dir}: training without filing pairs")
    except TrainingDataError as exc:
        raise _fail(f"{exc}; pass --pairs FILE") from exc
    bench_file = bench or (SHARED_VERIFIER_BENCH if SHARED_VERIFIER_BENCH.is_file() else None)

    def calibrate(directory: Path) -> dict[str, Any]:
        assert bench_file is not None
        return _calibration(settings, directory, bench_file, max_false_accept)

    target = output or judge_directory(name, settings.cache_dir)
    typer.echo(f"training on {len(public)} public + {len(synthetic)} filing pairs -> {target}")
    card = train_judge(
        config, public + synthetic, target, calibrate if bench_file else None, log=typer.echo
    )
    typer.echo(json.dumps({k: card[k] for k in ("data", "training")}, indent=2))
    if "calibration" in card:
        typer.echo(json.dumps(card["calibration"], indent=2))
    if output is None:
        typer.echo(f"use it with VERIRAG_NLI_MODEL=trained:{name}")


@verifier_app.command("package")
def verifier_package(
    judge_dir: Annotated[Path, typer.Option("--judge", help="A trained judge folder.")],
    target: Annotated[
        Path | None,
        typer.Option(help="Where to write it (default: the package's verifier/models/minilm-nli)."),
    ] = None,
) -> None:
    """Make a trained judge shippable: its weights as the int8 ONNX graph the service runs,
    beside its config, tokenizer and data card (how the packaged default was made)."""
    from verifier.errors import VerifierError
    from verifier.nli import package_judge, packaged_judge_directory

    destination = target or packaged_judge_directory()
    try:
        card = package_judge(judge_dir, destination)
    except VerifierError as exc:
        raise _fail(str(exc)) from exc
    size = sum(f.stat().st_size for f in destination.iterdir() if f.is_file())
    typer.echo(f"{destination}: {size / 1e6:.1f} MB, from {card['packaged_from']}")


@eval_app.command("verifier")
def eval_verifier(
    data: Annotated[Path, typer.Option("--data", help="verifier_bench-format JSON lines.")],
    scores_out: Annotated[
        Path | None, typer.Option("--scores-out", help="Write {id, score} per example here.")
    ] = None,
    report_path: Annotated[Path | None, typer.Option("--report", help="JSON report.")] = None,
    threshold: Annotated[
        float | None,
        typer.Option(help="Decision threshold; default: tuned on this file (macro BAcc)."),
    ] = None,
    data_dir: DataDirOption = None,
) -> None:
    """ROC-AUC and balanced accuracy of the entailment judge, per dataset and macro."""
    from engine.runtime import build_judge
    from verifier.errors import TrainingDataError, VerifierError
    from verifier.evaluate import load_bench, report, score_examples

    settings = _settings(data_dir)
    try:
        examples = load_bench(data)
        judge = build_judge(settings)
        scores, ms = score_examples(judge, examples)
    except TrainingDataError as exc:
        raise _fail(str(exc)) from exc
    except VerifierError as exc:
        raise _fail(str(exc)) from exc
    result = report(examples, scores, threshold)
    result["judge"] = judge.version
    result["judge_threshold"] = judge.threshold
    result["ms_per_example"] = round(ms, 2)
    if scores_out is not None:
        scores_out.parent.mkdir(parents=True, exist_ok=True)
        with scores_out.open("w") as handle:
            for example, score in zip(examples, scores, strict=True):
                handle.write(json.dumps({"id": example.id, "score": score}) + "\n")
    if report_path is not None:
        report_path.parent.mkdir(parents=True, exist_ok=True)
        report_path.write_text(json.dumps(result, indent=2))
    typer.echo(json.dumps(result, indent=2))


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port.", min=1, max=65535)] = 8000,
    data_dir: DataDirOption = None,
) -> None:
    """Serve the REST API (OpenAPI at /docs and /openapi.json). Loads every model before it
    accepts requests; one process, answers queued behind a bounded queue."""
    import uvicorn

    from service.api.app import create_app
    from service.logs import configure_logging

    settings = _settings(data_dir)
    configure_logging(settings.log_format)
    uvicorn.run(
        create_app(settings),
        host=host,
        port=port,
        log_config=None,
        timeout_keep_alive=30,
        timeout_graceful_shutdown=30,
    )


review_app = typer.Typer(
    help="Compliance review: assignments, agreement, exports and Label Studio imports.",
    no_args_is_help=True,
)
app.add_typer(review_app, name="review")


def _review_stores(settings: Settings) -> tuple[Any, Any]:
    from service.db import open_database
    from service.log import InteractionLog
    from service.review import ReviewStore

    engine = open_database(settings.service_database_url)
    return InteractionLog(engine), ReviewStore(engine)


@review_app.command("assign")
def review_assign(
    answer_ids: Annotated[list[str], typer.Argument(help="Answer ids to review.")],
    reviewers: Annotated[
        list[str],
        typer.Option(
            "--reviewer", help="Key id of a compliance reviewer; repeat for double review."
        ),
    ],
    by: Annotated[str, typer.Option("--by", help="Who assigns (recorded in the event).")] = "cli",
    data_dir: DataDirOption = None,
) -> None:
    """Put answers in reviewers' queues at /review."""
    from service.errors import AnswerNotFoundError

    log, reviews = _review_stores(_settings(data_dir))
    for answer_id in answer_ids:
        try:
            log.get(answer_id)
        except AnswerNotFoundError as exc:
            raise _fail(str(exc)) from exc
        added = reviews.assign(answer_id, reviewers, by)
        typer.echo(f"{answer_id}: assigned to {', '.join(e.value for e in added) or 'nobody new'}")


@review_app.command("agreement")
def review_agreement(data_dir: DataDirOption = None, json_output: JsonOption = False) -> None:
    """Agreement between reviewers: Cohen's κ per pair and Krippendorff's α, per label kind and
    overall, and the disagreements awaiting adjudication."""
    from dataclasses import asdict

    _, reviews = _review_stores(_settings(data_dir))
    report, disputes = reviews.agreement(), reviews.disagreements()
    if json_output:
        payload = {
            "agreement": [asdict(r) for r in report],
            "disagreements": [asdict(d) for d in disputes],
        }
        typer.echo(json.dumps(payload, indent=2))
        return

    def shown(value: float | None) -> str:
        return "-" if value is None else f"{value:.3f}"

    for row in report:
        pairs = ", ".join(
            f"{a}·{b} κ={shown(p.kappa)} (n={p.shared})"
            for p in row.pairs
            for a, b in [p.reviewers]
        )
        typer.echo(
            f"{row.label:<9} items={row.units:<4} observed={shown(row.observed)} "
            f"α={shown(row.alpha)}  {pairs}"
        )
    for item in disputes:
        typer.echo(
            f"disputed {item.answer_id} {item.target}: {item.values} → {item.adjudicated or 'open'}"
        )


@review_app.command("export")
def review_export(
    out: Annotated[Path, typer.Option("--out", help="File to write.", dir_okay=False)],
    output_format: Annotated[
        str,
        typer.Option(
            "--format",
            help="jsonl (datasets), argilla (settings + records JSON) or label-studio (tasks "
            "JSON; the labeling config is written beside it as .xml).",
        ),
    ] = "jsonl",
    answer_ids: Annotated[
        list[str] | None, typer.Option("--answer", help="Only these answers (repeat).")
    ] = None,
    data_dir: DataDirOption = None,
) -> None:
    """Reviewed items with every reviewer's label and the final (adjudicated) one."""
    from service.review_exchange import (
        argilla_dataset,
        label_studio_config,
        label_studio_tasks,
        reviewed_items,
    )

    if output_format not in ("jsonl", "argilla", "label-studio"):
        raise _fail(f"unknown --format {output_format!r}; use jsonl, argilla or label-studio")
    log, reviews = _review_stores(_settings(data_dir))
    items = reviewed_items(log, reviews, answer_ids or None)
    out.parent.mkdir(parents=True, exist_ok=True)
    if output_format == "jsonl":
        out.write_text("".join(json.dumps(item) + "\n" for item in items), encoding="utf-8")
    elif output_format == "argilla":
        out.write_text(json.dumps(argilla_dataset(items), indent=2) + "\n", encoding="utf-8")
    else:
        out.write_text(json.dumps(label_studio_tasks(items), indent=2) + "\n", encoding="utf-8")
        out.with_suffix(".xml").write_text(label_studio_config(), encoding="utf-8")
    typer.echo(f"{len(items)} reviewed items → {out}")


@review_app.command("import-label-studio")
def review_import_label_studio(
    export_file: Annotated[
        Path,
        typer.Argument(
            help="Label Studio's JSON export of tasks verirag wrote.", exists=True, dir_okay=False
        ),
    ],
    data_dir: DataDirOption = None,
) -> None:
    """Record Label Studio's annotations as review events (annotator label-studio:<who>)."""
    from service.review_exchange import import_label_studio

    try:
        tasks = json.loads(export_file.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise _fail(
            f"{export_file}: not JSON ({exc}); export the project as JSON in Label Studio"
        ) from exc
    if not isinstance(tasks, list):
        raise _fail(f"{export_file}: expected Label Studio's JSON export, a list of tasks")
    log, reviews = _review_stores(_settings(data_dir))
    report = import_label_studio(tasks, log, reviews)
    typer.echo(
        f"recorded {report.recorded}, unchanged {report.unchanged}, skipped {len(report.skipped)}"
    )
    for reason in report.skipped:
        typer.echo(f"  skipped {reason}", err=True)


keys_app = typer.Typer(help="Manage API keys.", no_args_is_help=True)
app.add_typer(keys_app, name="keys")

RoleOption = Annotated[
    str,
    typer.Option(
        "--role",
        help="analyst (asks, reads and rates own answers), compliance (reads and reviews every "
        "answer) or admin (filings and keys).",
    ),
]


def _key_store(settings: Settings) -> Any:
    from service.db import open_database
    from service.keys import KeyStore

    return KeyStore(open_database(settings.service_database_url))


@keys_app.command("create")
def keys_create(
    role: RoleOption,
    name: Annotated[str | None, typer.Option("--name", help="Who or what the key is for.")] = None,
    data_dir: DataDirOption = None,
) -> None:
    """Create a key and print it on stdout, once: only its hash is kept."""
    from service.keys import Role

    try:
        chosen = Role(role)
    except ValueError as exc:
        raise _fail(f"unknown role {role!r}; use analyst, compliance or admin") from exc
    settings = _settings(data_dir)
    secret, stored = _key_store(settings).create(chosen, name or f"{chosen.value} key")
    typer.echo(f"created {stored.role.value} key {stored.id} ({stored.name})", err=True)
    typer.echo(secret)


@keys_app.command("list")
def keys_list(data_dir: DataDirOption = None) -> None:
    """Keys with their ids, roles and state (never the keys themselves)."""
    for key in _key_store(_settings(data_dir)).list():
        state = f"revoked {key.revoked_at:%Y-%m-%d}" if key.revoked_at else "active"
        typer.echo(f"{key.id}  {key.role.value:<10} {state:<18} {key.name}")


@keys_app.command("revoke")
def keys_revoke(
    key_id: Annotated[str, typer.Argument(help="The key's id (from `verirag keys list`).")],
    data_dir: DataDirOption = None,
) -> None:
    """Revoke a key; the service stops accepting it within a minute."""
    from service.errors import KeyNotFoundError

    try:
        key = _key_store(_settings(data_dir)).revoke(key_id)
    except KeyNotFoundError as exc:
        raise _fail(str(exc)) from exc
    typer.echo(f"revoked {key.id} ({key.name})", err=True)


@app.command(
    "align",
    context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
    add_help_option=False,
)
def align(ctx: typer.Context) -> None:
    """Retrain the generator from logged traffic: datasets, sft, reward, grpo, ppo, dpo, eval,
    promote, report (`verirag align --help`)."""
    from alignment.cli import main as align_main

    raise typer.Exit(align_main(ctx.args))


def main() -> None:
    app()


if __name__ == "__main__":
    main()
