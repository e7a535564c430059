"""Batch ingest: discover files, skip unchanged ones, parse, chunk, embed, commit atomically.

A bad file is recorded with its reason and skipped; the run goes on. Work is committed every
``commit_seconds`` (and at the end), so a crash loses at most the uncommitted tail and never
leaves a half-written filing.
"""

from __future__ import annotations

import glob
import logging
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import numpy as np

from ingest import metadata as metadata_rules
from ingest.chunking import build_chunks
from ingest.embedding import Embedder
from ingest.errors import IngestError, UnreadableFilingError
from ingest.ids import file_sha256, filing_id, sentence_id, table_id
from ingest.page_kinds import PageText, label_pages
from ingest.sections import assign_sections
from ingest.store import FilingRecord, IndexConfig, IndexStore, WriteBatch
from ingest.types import FilingMetadata, ParsedDocument

if TYPE_CHECKING:
    from numpy.typing import NDArray

logger = logging.getLogger(__name__)

PDF_SUFFIXES = {".pdf"}
HTML_SUFFIXES = {".htm", ".html", ".xhtml"}
SUPPORTED_SUFFIXES = PDF_SUFFIXES | HTML_SUFFIXES
# Cover-page facts (form, period, registrant) are on the first pages of every filing.
_COVER_PAGES = 3


class FilingReader(Protocol):
    name: str

    @property
    def version(self) -> str: ...

    def read(self, path: Path) -> ParsedDocument: ...


def default_readers() -> dict[str, FilingReader]:
    """PyMuPDF for PDFs, the EDGAR reader for (inline-XBRL) HTML, by file suffix."""
    from ingest.html import EdgarHtmlReader
    from ingest.pdf import PdfReader

    pdf, html = PdfReader(), EdgarHtmlReader()
    return {".pdf": pdf, ".htm": html, ".html": html, ".xhtml": html}


class Outcome(StrEnum):
    INGESTED = "ingested"
    REPLACED = "replaced"
    UNCHANGED = "unchanged"
    DUPLICATE = "duplicate"
    REMOVED = "removed"
    FAILED = "failed"


@dataclass(slots=True)
class FileResult:
    path: str
    name: str
    outcome: Outcome
    reason: str = ""
    pages: int = 0
    chunks: int = 0
    reused_vectors: int = 0  # chunks whose vector came from the filing's previous version
    seconds: float = 0.0


@dataclass(slots=True)
class IngestReport:
    results: list[FileResult] = field(default_factory=list)
    parse_seconds: float = 0.0
    embed_seconds: float = 0.0
    write_seconds: float = 0.0
    total_seconds: float = 0.0

    @property
    def failed(self) -> list[FileResult]:
        return [r for r in self.results if r.outcome is Outcome.FAILED]

    @property
    def ok(self) -> bool:
        return not self.failed

    def count(self, outcome: Outcome) -> int:
        return sum(r.outcome is outcome for r in self.results)


def discover(inputs: Iterable[str | Path]) -> tuple[list[Path], list[FileResult]]:
    """Files named by paths, folders (searched recursively) or glob patterns, in order."""
    found: list[Path] = []
    missing: list[FileResult] = []
    for item in inputs:
        path = Path(item).expanduser()
        if path.is_dir():
            found.extend(
                sorted(p for p in path.rglob("*") if p.suffix.lower() in SUPPORTED_SUFFIXES)
            )
        elif path.is_file():
            found.append(path)
        elif matches := sorted(glob.glob(str(item), recursive=True)):  # noqa: PTH207 (absolute patterns)
            found.extend(Path(m) for m in matches if Path(m).is_file())
        else:
            missing.append(
                FileResult(
                    str(item),
                    path.stem,
                    Outcome.FAILED,
                    "no such file, folder or glob match; check the path",
                )
            )
    unique: dict[Path, None] = {}
    for path in found:
        unique.setdefault(path.resolve(), None)
    return list(unique), missing


@dataclass(frozen=True, slots=True)
class IngestOptions:
    chunk_max_chars: int = 900
    commit_seconds: float = 60.0
    show_progress: bool = False


class Ingestor:
    """Puts filings into an ``IndexStore``; readers and the embedder are injected."""

    def __init__(
        self,
        store: IndexStore,
        embedder: Embedder,
        readers: dict[str, FilingReader],
        options: IngestOptions,
        overrides: dict[str, FilingMetadata] | None = None,
    ) -> None:
        self._store = store
        self._embedder = embedder
        self._readers = readers
        self._options = options
        self._overrides = overrides or {}

    def index_config(self) -> IndexConfig:
        stored = self._store.config
        if stored is not None and stored.embedding_model == self._embedder.model_id:
            # Known already: the model then loads only once a file actually needs embedding,
            # so a re-ingest of unchanged files costs a hash per file.
            dimension = stored.embedding_dimension
        else:
            dimension = self._embedder.dimension
        return IndexConfig(
            embedding_model=self._embedder.model_id,
            embedding_dimension=dimension,
            chunk_max_chars=self._options.chunk_max_chars,
        )

    def _embed(
        self, texts: list[str], previous: dict[str, NDArray[np.float32]]
    ) -> tuple[NDArray[np.float32], int]:
        """Vectors for ``texts``, embedding only those the filing's previous version did not
        have: a parser upgrade or an amended filing re-embeds what changed, not the filing (and
        loads no model when nothing changed)."""
        missing = [index for index, text in enumerate(texts) if text not in previous]
        if len(missing) == len(texts):
            return self._embedder.embed_documents(texts), 0
        dimension = len(next(iter(previous.values())))
        vectors = np.empty((len(texts), dimension), dtype=np.float32)
        for index, text in enumerate(texts):
            if text in previous:
                vectors[index] = previous[text]
        if missing:
            vectors[missing] = self._embedder.embed_documents([texts[i] for i in missing])
        return vectors, len(texts) - len(missing)

    def _reader_for(self, path: Path) -> FilingReader:
        suffix = path.suffix.lower()
        reader = self._readers.get(suffix)
        if reader is None:
            raise UnreadableFilingError(
                path,
                f"unsupported file type {suffix or '(none)'!r}; pass a PDF filing or an EDGAR "
                "HTML (.htm/.html) filing",
            )
        return reader

    def remove(self, names: Sequence[str]) -> IngestReport:
        report = IngestReport()
        with self._store.writer(self._store.config or self.index_config()) as batch:
            for name in names:
                if batch.remove(name):
                    report.results.append(FileResult(name, name, Outcome.REMOVED))
                else:
                    report.results.append(
                        FileResult(
                            name, name, Outcome.FAILED, "no filing of that name in the index"
                        )
                    )
        return report

    def ingest(
        self,
        inputs: Iterable[str | Path],
        on_result: Callable[[FileResult], None] | None = None,
    ) -> IngestReport:
        started = time.perf_counter()
        paths, missing = discover(inputs)
        report = IngestReport(results=list(missing))
        for result in missing:
            if on_result:
                on_result(result)
        with self._store.writer(self.index_config()) as batch:
            last_commit = time.perf_counter()
            names_in_run: dict[str, Path] = {}
            progress = _progress(paths, self._options.show_progress)
            for path in progress:
                result = self._ingest_one(path, batch, report, names_in_run)
                report.results.append(result)
                if on_result:
                    on_result(result)
                if time.perf_counter() - last_commit >= self._options.commit_seconds:
                    write_started = time.perf_counter()
                    batch.commit()
                    report.write_seconds += time.perf_counter() - write_started
                    last_commit = time.perf_counter()
            write_started = time.perf_counter()
            batch.commit()
            report.write_seconds += time.perf_counter() - write_started
        report.total_seconds = time.perf_counter() - started
        return report

    def _ingest_one(
        self, path: Path, batch: WriteBatch, report: IngestReport, names_in_run: dict[str, Path]
    ) -> FileResult:
        started = time.perf_counter()
        name = path.stem
        sha256: str | None = None
        try:
            if name in names_in_run:
                raise UnreadableFilingError(
                    path,
                    f"another file in this run has the same name ({names_in_run[name]}); "
                    "filings are addressed by file name, so rename one",
                )
            names_in_run[name] = path
            reader = self._reader_for(path)
            sha256 = file_sha256(path)
            stored = self._store.filing_by_name(name)
            if stored and stored.sha256 == sha256 and stored.parser_version == reader.version:
                return FileResult(
                    str(path),
                    name,
                    Outcome.UNCHANGED,
                    pages=stored.page_count,
                    seconds=time.perf_counter() - started,
                )
            new_id = filing_id(sha256)
            twin = self._store.filing_by_id(new_id)
            if twin and twin.name != name:
                return FileResult(
                    str(path),
                    name,
                    Outcome.DUPLICATE,
                    f"same content as the indexed filing {twin.name}",
                    seconds=time.perf_counter() - started,
                )
            parse_started = time.perf_counter()
            document = reader.read(path)
            cover = "\n".join(page.text for page in document.pages[:_COVER_PAGES])
            if not metadata_rules.looks_like_filing(
                cover
                + "\n".join(page.text for page in document.pages[_COVER_PAGES : _COVER_PAGES + 5])
            ):
                raise UnreadableFilingError(
                    path,
                    "does not look like an SEC filing, annual report or earnings release (no "
                    "form type, no financial statement terms on its first pages); pass a 10-K, "
                    "10-Q, 8-K, annual report or earnings release",
                )
            meta = metadata_rules.resolve(path, cover, self._overrides)
            sections = assign_sections(document.pages, meta.form_type)
            chunks = build_chunks(
                new_id, meta, document.pages, sections, self._options.chunk_max_chars
            )
            report.parse_seconds += time.perf_counter() - parse_started
            embed_started = time.perf_counter()
            previous = self._store.embeddings_by_text(name) if stored else {}
            vectors, reused = self._embed([chunk.embed_text for chunk in chunks], previous)
            report.embed_seconds += time.perf_counter() - embed_started
            record = FilingRecord(
                id=new_id,
                path=path.resolve(),
                sha256=sha256,
                metadata=meta,
                parser=document.parser,
                parser_version=document.parser_version,
                pages=document.pages,
                sections=sections,
                page_labels=label_pages(
                    [
                        PageText(p.number, p.text, tuple(s.section for s in p.sentences))
                        for p in document.pages
                    ],
                    meta.form_type,
                ),
                sentence_ids=[
                    [sentence_id(new_id, p.number, s.start, s.text) for s in p.sentences]
                    for p in document.pages
                ],
                table_ids=[
                    [table_id(new_id, p.number, t.start) for t in p.tables] for p in document.pages
                ],
                chunks=chunks,
                vectors=vectors,
            )
            write_started = time.perf_counter()
            replaced = batch.remove(name)
            batch.add(record)
            report.write_seconds += time.perf_counter() - write_started
            return FileResult(
                str(path),
                name,
                Outcome.REPLACED if replaced else Outcome.INGESTED,
                pages=len(document.pages),
                chunks=len(chunks),
                reused_vectors=reused,
                seconds=time.perf_counter() - started,
            )
        except IngestError as exc:
            reason = exc.reason if isinstance(exc, UnreadableFilingError) else str(exc)
            batch.record_failure(path, sha256, reason)
            return FileResult(
                str(path), name, Outcome.FAILED, reason, seconds=time.perf_counter() - started
            )
        except OSError as exc:
            reason = (
                f"cannot read the file ({exc.strerror or exc}); check it exists and is readable"
            )
            batch.record_failure(path, sha256, reason)
            return FileResult(
                str(path), name, Outcome.FAILED, reason, seconds=time.perf_counter() - started
            )


def _progress(paths: list[Path], enabled: bool) -> Iterable[Path]:
    if not enabled:
        return paths
    from tqdm import tqdm

    bar: Iterable[Path] = tqdm(paths, desc="ingest", unit="filing")
    return bar
