"""The index on disk: a SQLite docstore (source of truth, vectors included) and a FAISS file.

Atomicity: a write batch runs in one SQLite transaction. At commit the new FAISS index is
written to a fresh file named after the new index version and fsynced, and only then is the
transaction (which points ``meta.index_version`` at that file) committed. A crash at any point
leaves the last committed version's rows and its FAISS file in place; files no version points
to are removed by the next writer. If a FAISS file is missing it is rebuilt from the vectors
kept in SQLite.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import sqlite3
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ingest.errors import FilingNotFoundError, IndexMismatchError
from ingest.grid import row_cell_columns
from ingest.ids import page_id, settings_hash
from ingest.layout import is_numeric_cell
from ingest.page_kinds import PAGE_KINDS_VERSION, PageKind, PageLabel, PageText, label_pages
from ingest.types import Chunk, ColumnSpan, FilingMetadata, FormType, ParsedPage, Table

if TYPE_CHECKING:
    from numpy.typing import NDArray

    from ingest.sections import Section

# 2: chunks_fts (BM25 over chunk text); 3: its filing column; 4: tables.layout (cell columns);
# 5: page_kinds (what each page is, labelled at ingest)
SCHEMA_VERSION = 5
DOCSTORE_FILE = "docstore.sqlite"
VECTORS_DIR = "vectors"
LOCK_FILE = "write.lock"
EMPTY_VERSION = "empty"

# BM25 over chunk text and the context header. The filing id is a column too, so a filing
# filter is an FTS5 doclist intersection ("filing : (f1 OR f2) AND (...)"), not a per-row
# lookup; it never contributes to the score (weight 0).
_TEXT_INDEX = """
CREATE VIRTUAL TABLE chunks_fts USING fts5(
    text, header, filing, tokenize = 'porter unicode61'
)
"""
_TEXT_INDEX_COLUMNS = ["text", "header", "filing"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS filings (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    path TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    company TEXT, form_type TEXT, fiscal_year INTEGER, fiscal_period TEXT,
    period_end TEXT, filed TEXT, ticker TEXT,
    parser TEXT NOT NULL, parser_version TEXT NOT NULL,
    page_count INTEGER NOT NULL,
    ingested_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS pages (
    id TEXT PRIMARY KEY,
    filing_id TEXT NOT NULL REFERENCES filings(id) ON DELETE CASCADE,
    number INTEGER NOT NULL,
    text TEXT NOT NULL,
    width REAL, height REAL,
    UNIQUE (filing_id, number)
);
CREATE TABLE IF NOT EXISTS sections (
    filing_id TEXT NOT NULL REFERENCES filings(id) ON DELETE CASCADE,
    label TEXT NOT NULL,
    title TEXT NOT NULL,
    first_page INTEGER NOT NULL,
    PRIMARY KEY (filing_id, label)
);
CREATE TABLE IF NOT EXISTS tables (
    id TEXT PRIMARY KEY,
    filing_id TEXT NOT NULL REFERENCES filings(id) ON DELETE CASCADE,
    page INTEGER NOT NULL,
    position INTEGER NOT NULL,
    title TEXT, scale TEXT,
    header_rows TEXT NOT NULL,
    rows TEXT NOT NULL,
    start INTEGER NOT NULL, "end" INTEGER NOT NULL,
    bbox TEXT,
    layout TEXT
);
CREATE TABLE IF NOT EXISTS sentences (
    id TEXT PRIMARY KEY,
    filing_id TEXT NOT NULL REFERENCES filings(id) ON DELETE CASCADE,
    page INTEGER NOT NULL,
    position INTEGER NOT NULL,
    start INTEGER NOT NULL, "end" INTEGER NOT NULL,
    kind TEXT NOT NULL,
    section TEXT,
    table_id TEXT,
    bbox TEXT,
    text TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS sentences_by_page ON sentences (filing_id, page, position);
CREATE INDEX IF NOT EXISTS sentences_by_table ON sentences (table_id);
CREATE TABLE IF NOT EXISTS chunks (
    vector_id INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    filing_id TEXT NOT NULL REFERENCES filings(id) ON DELETE CASCADE,
    page INTEGER NOT NULL,
    section TEXT,
    table_id TEXT,
    sentence_ids TEXT NOT NULL,
    text TEXT NOT NULL,
    embed_text TEXT NOT NULL,
    embedding BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS chunks_by_filing ON chunks (filing_id, page);
CREATE TABLE IF NOT EXISTS page_kinds (
    filing_id TEXT NOT NULL REFERENCES filings(id) ON DELETE CASCADE,
    page INTEGER NOT NULL,
    kind TEXT NOT NULL,
    detail TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (filing_id, page, kind, detail)
);
CREATE INDEX IF NOT EXISTS page_kinds_by_kind ON page_kinds (kind, detail);
CREATE TABLE IF NOT EXISTS ingest_failures (
    path TEXT NOT NULL,
    sha256 TEXT,
    reason TEXT NOT NULL,
    at TEXT NOT NULL
);
"""


@dataclass(frozen=True, slots=True)
class StoredTable:
    """A stored table with the sentence ids its header rows and body rows were stored under
    (one sentence per row, cells joined by tabs, in the order of ``header_rows``/``rows``)."""

    id: str
    filing_id: str
    page: int
    title: str | None
    scale: str | None
    header_rows: list[list[str]]
    rows: list[list[str]]
    header_spans: list[list[ColumnSpan]] | None
    row_spans: list[list[ColumnSpan]] | None
    header_sentence_ids: list[str]
    row_sentence_ids: list[str]


def _layout_json(table: Table) -> str | None:
    if table.header_spans is None or table.row_spans is None:
        return None
    return json.dumps({"header": table.header_spans, "rows": table.row_spans})


def _spans(value: Any) -> list[list[ColumnSpan]] | None:
    if value is None:
        return None
    return [[(int(first), int(end)) for first, end in row] for row in value]


@dataclass(frozen=True, slots=True)
class IndexConfig:
    """The settings that shape an index; opening it with other ones is an error."""

    embedding_model: str
    embedding_dimension: int
    chunk_max_chars: int

    @property
    def version(self) -> str:
        return settings_hash(**asdict(self))


@dataclass(frozen=True, slots=True)
class StoredFiling:
    id: str
    name: str
    path: str
    sha256: str
    parser_version: str
    page_count: int
    metadata: FilingMetadata


@dataclass(frozen=True, slots=True)
class FilingRecord:
    """Everything one filing adds to the index, ready to be written in one go."""

    id: str
    path: Path
    sha256: str
    metadata: FilingMetadata
    parser: str
    parser_version: str
    pages: list[ParsedPage]
    sections: list[Section]
    page_labels: list[PageLabel]
    sentence_ids: list[list[str]]  # per page, per sentence
    table_ids: list[list[str]]  # per page, per table
    chunks: list[Chunk]
    vectors: NDArray[np.float32]


@dataclass(frozen=True, slots=True)
class VectorHit:
    vector_id: int
    score: float


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class IndexStore:
    """Opens (creating if needed) the index in ``data_dir``. Cheap: FAISS loads on first use."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.data_dir.mkdir(parents=True, exist_ok=True)
        (self.data_dir / VECTORS_DIR).mkdir(exist_ok=True)
        self._db = sqlite3.connect(
            self.data_dir / DOCSTORE_FILE, isolation_level=None, check_same_thread=False
        )
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute("PRAGMA foreign_keys=ON")
        self._db.execute("PRAGMA busy_timeout=30000")
        self._db.executescript(_SCHEMA)
        self._add_table_layout()
        self._fill_text_index()
        self._label_pages()
        self._vectors: Any = None
        self._vectors_version: str | None = None

    def close(self) -> None:
        self._db.close()

    def _add_table_layout(self) -> None:
        """Indexes written before schema 4 get the (empty) layout column; their tables are
        read with headers aligned to the rightmost columns until the filing is re-ingested."""
        columns = [row[1] for row in self._db.execute("PRAGMA table_info(tables)")]
        if "layout" in columns:
            return
        with contextlib.suppress(sqlite3.OperationalError):  # a writer holds the lock
            self._db.execute("ALTER TABLE tables ADD COLUMN layout TEXT")
            self._db.commit()

    def _fill_text_index(self) -> None:
        """Create or upgrade the text index and index chunks it does not hold yet.

        Indexes written before it existed (schema 1) or before its filing column (schema 2)
        get it here; a writer holding the lock just means another process is doing it.
        """
        columns = [row[1] for row in self._db.execute("PRAGMA table_info(chunks_fts)")]
        if columns == _TEXT_INDEX_COLUMNS:
            missing = self._db.execute(
                "SELECT EXISTS (SELECT 1 FROM chunks WHERE vector_id NOT IN "
                "(SELECT rowid FROM chunks_fts))"
            ).fetchone()[0]
            if not missing:
                return
        try:
            self._db.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError:
            return  # another process holds the write lock past the busy timeout
        try:
            if columns != _TEXT_INDEX_COLUMNS:
                self._db.execute("DROP TABLE IF EXISTS chunks_fts")
                self._db.execute(_TEXT_INDEX)
            self._db.execute(
                "INSERT INTO chunks_fts (rowid, text, header, filing) SELECT vector_id, "
                "text, embed_text, filing_id FROM chunks "
                "WHERE vector_id NOT IN (SELECT rowid FROM chunks_fts)"
            )
            self._db.execute("COMMIT")
        except BaseException:
            self._db.execute("ROLLBACK")
            raise

    def _label_pages(self) -> None:
        """Label the pages of filings written before page kinds existed, or by an older
        labelling, from their stored text and sections; a writer holding the lock just means
        another process is doing it."""
        if self._meta("page_kinds_version") == PAGE_KINDS_VERSION:
            return
        try:
            self._db.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError:
            return
        try:
            self._db.execute("DELETE FROM page_kinds")
            filings = self._db.execute("SELECT id, form_type FROM filings").fetchall()
            for filing_id, form_type in filings:
                sections: dict[int, list[str | None]] = {}
                for page, section in self._db.execute(
                    "SELECT page, section FROM sentences WHERE filing_id = ? "
                    "ORDER BY page, position",
                    (filing_id,),
                ):
                    sections.setdefault(int(page), []).append(section)
                pages = [
                    PageText(int(number), text, tuple(sections.get(int(number), ())))
                    for number, text in self._db.execute(
                        "SELECT number, text FROM pages WHERE filing_id = ?", (filing_id,)
                    )
                ]
                form = FormType(form_type) if form_type else None
                _insert_page_labels(self._db, filing_id, label_pages(pages, form))
            self._db.execute(
                "INSERT OR REPLACE INTO meta (key, value) VALUES ('page_kinds_version', ?)",
                (PAGE_KINDS_VERSION,),
            )
            self._db.execute("COMMIT")
        except BaseException:
            self._db.execute("ROLLBACK")
            raise

    def __enter__(self) -> IndexStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- configuration -------------------------------------------------------------------

    def _meta(self, key: str) -> str | None:
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row["value"])

    @property
    def config(self) -> IndexConfig | None:
        raw = self._meta("config")
        return None if raw is None else IndexConfig(**json.loads(raw))

    @property
    def index_version(self) -> str:
        return self._meta("index_version") or EMPTY_VERSION

    def check_config(self, wanted: IndexConfig) -> None:
        """Refuse to mix models or chunking settings in one index."""
        stored = self.config
        if stored is not None and stored != wanted:
            raise IndexMismatchError(
                f"the index in {self.data_dir} was built with {stored} but {wanted} was asked "
                "for; use the same settings (e.g. VERIRAG_EMBEDDING_MODEL="
                f"{stored.embedding_model}) or another --data-dir"
            )

    # ---- reads -----------------------------------------------------------------------------

    def _stored_filing(self, row: sqlite3.Row) -> StoredFiling:
        from ingest.metadata import parse_form

        return StoredFiling(
            id=row["id"],
            name=row["name"],
            path=row["path"],
            sha256=row["sha256"],
            parser_version=row["parser_version"],
            page_count=row["page_count"],
            metadata=FilingMetadata(
                name=row["name"],
                company=row["company"],
                form_type=parse_form(row["form_type"]),
                fiscal_year=row["fiscal_year"],
                fiscal_period=row["fiscal_period"],
                period_end=row["period_end"],
                filed=row["filed"],
                ticker=row["ticker"],
            ),
        )

    def filing_by_name(self, name: str) -> StoredFiling | None:
        row = self._db.execute("SELECT * FROM filings WHERE name = ?", (name,)).fetchone()
        return None if row is None else self._stored_filing(row)

    def filing_by_id(self, filing_id: str) -> StoredFiling | None:
        row = self._db.execute("SELECT * FROM filings WHERE id = ?", (filing_id,)).fetchone()
        return None if row is None else self._stored_filing(row)

    def filings(self) -> list[StoredFiling]:
        rows = self._db.execute("SELECT * FROM filings ORDER BY name").fetchall()
        return [self._stored_filing(row) for row in rows]

    def info(self) -> dict[str, Any]:
        def count(table: str) -> int:
            return int(self._db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])

        config = self.config
        version = self.index_version
        vector_file = self._vector_path(version)
        return {
            "filings": count("filings"),
            "pages": count("pages"),
            "sentences": count("sentences"),
            "chunks": count("chunks"),
            "tables": count("tables"),
            "embedding_model": config.embedding_model if config else None,
            "embedding_dimension": config.embedding_dimension if config else None,
            "chunk_max_chars": config.chunk_max_chars if config else None,
            "index_version": version,
            "vector_index_bytes": vector_file.stat().st_size if vector_file.exists() else 0,
            "docstore_bytes": (self.data_dir / DOCSTORE_FILE).stat().st_size,
            "data_dir": str(self.data_dir),
        }

    def page(self, filing_name: str, number: int) -> dict[str, Any]:
        filing = self.filing_by_name(filing_name)
        if filing is None:
            raise FilingNotFoundError(
                f"no filing named {filing_name!r} in {self.data_dir}; "
                "`verirag index info` lists what is indexed"
            )
        row = self._db.execute(
            "SELECT * FROM pages WHERE filing_id = ? AND number = ?", (filing.id, number)
        ).fetchone()
        if row is None:
            raise FilingNotFoundError(
                f"{filing_name} has pages 0..{filing.page_count - 1} (zero-indexed); "
                f"there is no page {number}"
            )
        sentences = self._db.execute(
            "SELECT * FROM sentences WHERE filing_id = ? AND page = ? ORDER BY position",
            (filing.id, number),
        ).fetchall()
        return {
            "filing": filing.name,
            "page": number,
            "text": row["text"],
            "sentences": [
                {
                    "id": s["id"],
                    "start": s["start"],
                    "end": s["end"],
                    "text": s["text"],
                    "section": s["section"],
                    "kind": s["kind"],
                    "table_id": s["table_id"],
                    "bbox": json.loads(s["bbox"]) if s["bbox"] else None,
                }
                for s in sentences
            ],
        }

    def sentences_by_ids(self, sentence_ids: Sequence[str]) -> list[dict[str, Any]]:
        """Stored sentences in the order of ``sentence_ids`` (unknown ids are left out)."""
        if not sentence_ids:
            return []
        marks = ",".join("?" * len(sentence_ids))
        rows = self._db.execute(
            f'SELECT id, filing_id, page, start, "end", kind, section, text FROM sentences '
            f"WHERE id IN ({marks})",
            list(sentence_ids),
        ).fetchall()
        by_id = {row["id"]: dict(row) for row in rows}
        return [by_id[i] for i in sentence_ids if i in by_id]

    def evidence_sentences(self, sentence_ids: Sequence[str]) -> list[dict[str, Any]]:
        """Stored sentences with what a reader needs to cite them: the filing's name and
        identity, and for table rows the table's title, scale and header rows."""
        if not sentence_ids:
            return []
        marks = ",".join("?" * len(sentence_ids))
        rows = self._db.execute(
            'SELECT s.id, s.filing_id, s.page, s.start, s."end", s.kind, s.section, s.text, '
            "s.table_id, s.bbox, f.name AS filing, f.company, f.form_type, f.fiscal_year, "
            "f.fiscal_period, f.period_end, "
            "t.title AS table_title, t.scale AS table_scale, t.header_rows AS table_header_rows "
            "FROM sentences s JOIN filings f ON f.id = s.filing_id "
            "LEFT JOIN tables t ON t.id = s.table_id "
            f"WHERE s.id IN ({marks})",
            list(sentence_ids),
        ).fetchall()
        by_id: dict[str, dict[str, Any]] = {}
        for row in rows:
            item = dict(row)
            headers = item.pop("table_header_rows")
            item["table_header_rows"] = json.loads(headers) if headers else []
            item["bbox"] = json.loads(item["bbox"]) if item["bbox"] else None
            item["table_cells"] = []
            by_id[item["id"]] = item
        self._add_table_cells([item for item in by_id.values() if item["kind"] == "table_row"])
        return [by_id[i] for i in sentence_ids if i in by_id]

    def _add_table_cells(self, rows: list[dict[str, Any]]) -> None:
        """Each table row's figure cells with the column-header path above each cell, so a
        reader can tell which period (or segment) a cited figure belongs to."""
        table_ids = sorted({row["table_id"] for row in rows if row.get("table_id")})
        cells_of: dict[str, list[tuple[str, tuple[str, ...]]]] = {}
        # Only tables with recorded columns: guessing a PDF table's (its text lines) would
        # override what the verifier reads from the row and its headers, so it gets none.
        marks = ",".join("?" * len(table_ids))
        with_columns = (
            self._stored_tables(f"t.id IN ({marks}) AND t.layout IS NOT NULL", table_ids)
            if table_ids
            else []
        )
        for table in with_columns:
            if table.row_spans is None or len(table.row_sentence_ids) != len(table.rows):
                continue
            per_row = row_cell_columns(table, is_numeric_cell)
            cells_of.update(zip(table.row_sentence_ids, per_row, strict=True))
        for row in rows:
            row["table_cells"] = cells_of.get(row["id"], [])

    def filing_tables(self, filing_id: str) -> list[StoredTable]:
        """Every table of a filing in reading order, with the ids of its stored rows."""
        return self._stored_tables("t.filing_id = ?", [filing_id])

    def tables_by_ids(self, table_ids: Sequence[str]) -> list[StoredTable]:
        """These tables (those that exist), in reading order."""
        if not table_ids:
            return []
        marks = ",".join("?" * len(table_ids))
        return self._stored_tables(f"t.id IN ({marks})", list(table_ids))

    def _stored_tables(self, where: str, params: list[str]) -> list[StoredTable]:
        tables = self._db.execute(
            "SELECT t.id, t.filing_id, t.page, t.title, t.scale, t.header_rows, t.rows, "
            f"t.layout FROM tables t WHERE {where} ORDER BY t.filing_id, t.page, t.position",
            params,
        ).fetchall()
        ids = [row["id"] for row in tables]
        sentences: dict[str, dict[str, list[str]]] = {}
        for start in range(0, len(ids), 500):
            batch = ids[start : start + 500]
            marks = ",".join("?" * len(batch))
            for row in self._db.execute(
                f"SELECT id, kind, table_id FROM sentences WHERE table_id IN ({marks}) "
                "ORDER BY page, position",
                batch,
            ):
                kinds = sentences.setdefault(row["table_id"], {"table_header": [], "table_row": []})
                kinds.setdefault(row["kind"], []).append(row["id"])
        stored = []
        for row in tables:
            layout = json.loads(row["layout"]) if row["layout"] else {}
            kinds = sentences.get(row["id"], {"table_header": [], "table_row": []})
            stored.append(
                StoredTable(
                    id=row["id"],
                    filing_id=row["filing_id"],
                    page=row["page"],
                    title=row["title"],
                    scale=row["scale"],
                    header_rows=json.loads(row["header_rows"]),
                    rows=json.loads(row["rows"]),
                    header_spans=_spans(layout.get("header")),
                    row_spans=_spans(layout.get("rows")),
                    header_sentence_ids=kinds["table_header"],
                    row_sentence_ids=kinds["table_row"],
                )
            )
        return stored

    def filing_sentences(self, filing_id: str) -> list[dict[str, Any]]:
        """Every stored sentence of a filing in reading order."""
        rows = self._db.execute(
            'SELECT id, filing_id, page, start, "end", kind, section, table_id, text '
            "FROM sentences WHERE filing_id = ? ORDER BY page, position",
            (filing_id,),
        ).fetchall()
        return [dict(row) for row in rows]

    def sample_sentences(self, limit: int, seed: int = 13) -> list[dict[str, Any]]:
        """A reproducible sample of prose sentences and table rows (60-400 characters), each
        with its neighbours on the page and its filing's company: material for synthesised
        verifier training pairs."""
        import random

        candidates = [
            row[0]
            for row in self._db.execute(
                "SELECT id FROM sentences WHERE kind IN ('prose', 'table_row') "
                "AND length(text) BETWEEN 60 AND 400 ORDER BY id"
            )
        ]
        chosen = random.Random(seed).sample(candidates, min(limit, len(candidates)))
        samples: list[dict[str, Any]] = []
        for sentence_id in chosen:
            row = self._db.execute(
                "SELECT s.filing_id, s.page, s.position, s.text, f.company FROM sentences s "
                "JOIN filings f ON f.id = s.filing_id WHERE s.id = ?",
                (sentence_id,),
            ).fetchone()
            neighbours = {
                n["position"]: n["text"]
                for n in self._db.execute(
                    "SELECT position, text FROM sentences WHERE filing_id = ? AND page = ? "
                    "AND position IN (?, ?)",
                    (row["filing_id"], row["page"], row["position"] - 1, row["position"] + 1),
                )
            }
            samples.append(
                {
                    "text": row["text"],
                    "before": neighbours.get(row["position"] - 1),
                    "after": neighbours.get(row["position"] + 1),
                    "company": row["company"],
                }
            )
        return samples

    def table_row_groups(self) -> list[list[str]]:
        """Sentence ids of every stored table's rows, a list per table in reading order:
        material for question → cited-answer training examples."""
        groups: dict[str, list[str]] = {}
        for row in self._db.execute(
            "SELECT id, table_id FROM sentences WHERE kind = 'table_row' AND table_id IS NOT NULL "
            "ORDER BY filing_id, page, position"
        ):
            groups.setdefault(row["table_id"], []).append(row["id"])
        return [groups[key] for key in sorted(groups)]

    def prose_sentence_ids(
        self, min_chars: int = 50, max_chars: int = 300, filing_id: str | None = None
    ) -> list[str]:
        """Ids of prose sentences of a citable length (of one filing, when given), in a stable
        order."""
        where = "kind = 'prose' AND length(text) BETWEEN ? AND ?"
        parameters: list[Any] = [min_chars, max_chars]
        if filing_id is not None:
            where += " AND filing_id = ?"
            parameters.append(filing_id)
        return [
            row[0]
            for row in self._db.execute(
                f"SELECT id FROM sentences WHERE {where} ORDER BY id", parameters
            )
        ]

    def embeddings_by_text(self, filing_name: str) -> dict[str, NDArray[np.float32]]:
        """The stored vectors of a filing's chunks, by embed text. A new version of the filing
        (a changed file, or the same file under a new parser) reuses them for every chunk
        whose embed text is unchanged: the index's one embedding model made them."""
        rows = self._db.execute(
            "SELECT c.embed_text, c.embedding FROM chunks c JOIN filings f ON f.id = c.filing_id"
            " WHERE f.name = ?",
            (filing_name,),
        )
        return {row[0]: np.frombuffer(row[1], dtype=np.float32) for row in rows}

    def pages_of_vectors(self, vector_ids: Sequence[int]) -> dict[int, tuple[str, int]]:
        """(filing id, page) of each vector's chunk, without reading the chunks."""
        if not vector_ids:
            return {}
        marks = ",".join("?" * len(vector_ids))
        rows = self._db.execute(
            f"SELECT vector_id, filing_id, page FROM chunks WHERE vector_id IN ({marks})",
            list(vector_ids),
        )
        return {int(row[0]): (row[1], int(row[2])) for row in rows}

    def chunks_by_vector_ids(self, vector_ids: Sequence[int]) -> dict[int, sqlite3.Row]:
        if not vector_ids:
            return {}
        marks = ",".join("?" * len(vector_ids))
        rows = self._db.execute(
            "SELECT c.*, f.name AS filing_name FROM chunks c JOIN filings f ON f.id = c.filing_id"
            f" WHERE c.vector_id IN ({marks})",
            list(vector_ids),
        ).fetchall()
        return {int(row["vector_id"]): row for row in rows}

    def table_vector_ids(self, vector_ids: Sequence[int]) -> set[int]:
        """Those of ``vector_ids`` whose chunk is part of a table."""
        if not vector_ids:
            return set()
        marks = ",".join("?" * len(vector_ids))
        rows = self._db.execute(
            f"SELECT vector_id FROM chunks WHERE vector_id IN ({marks}) AND table_id IS NOT NULL",
            list(vector_ids),
        ).fetchall()
        return {int(row[0]) for row in rows}

    def page_labels(self, filing_id: str) -> list[PageLabel]:
        """What each page of a filing is, labelled at ingest, in page order."""
        rows = self._db.execute(
            "SELECT page, kind, detail FROM page_kinds WHERE filing_id = ? "
            "ORDER BY page, kind, detail",
            (filing_id,),
        ).fetchall()
        return [PageLabel(int(row[0]), PageKind(row[1]), row[2]) for row in rows]

    def page_details(
        self, kind: PageKind, filing_ids: Sequence[str] | None = None
    ) -> list[tuple[str, int, str]]:
        """(filing id, page, detail) of every page labelled ``kind``, in ``filing_ids`` where
        given: each note's title, each statement's kind."""
        query = "SELECT filing_id, page, detail FROM page_kinds WHERE kind = ?"
        values: list[str] = [kind.value]
        if filing_ids is not None:
            query += f" AND filing_id IN ({','.join('?' * len(filing_ids))})"
            values += list(filing_ids)
        return [(row[0], int(row[1]), row[2]) for row in self._db.execute(query, values)]

    def vector_ids_of_kind(
        self,
        kind: PageKind,
        details: Sequence[str] = (),
        filing_ids: Sequence[str] | None = None,
    ) -> set[int]:
        """Vector ids of the chunks on pages labelled ``kind`` (with one of ``details``, where
        given), in ``filing_ids`` where given."""
        query = (
            "SELECT c.vector_id FROM page_kinds k JOIN chunks c "
            "ON c.filing_id = k.filing_id AND c.page = k.page WHERE k.kind = ?"
        )
        values: list[str] = [kind.value]
        if details:
            query += f" AND k.detail IN ({','.join('?' * len(details))})"
            values += list(details)
        if filing_ids is not None:
            query += f" AND k.filing_id IN ({','.join('?' * len(filing_ids))})"
            values += list(filing_ids)
        return {int(row[0]) for row in self._db.execute(query, values)}

    def vector_ids_on_pages(self, pages: Sequence[tuple[str, int]]) -> set[int]:
        """Vector ids of the chunks on the given (filing id, page) pages."""
        found: set[int] = set()
        for start in range(0, len(pages), 400):
            batch = pages[start : start + 400]
            clause = " OR ".join("(filing_id = ? AND page = ?)" for _ in batch)
            rows = self._db.execute(
                f"SELECT vector_id FROM chunks WHERE {clause}",
                [value for pair in batch for value in pair],
            ).fetchall()
            found.update(int(row[0]) for row in rows)
        return found

    def vector_ids_for_filings(self, filing_ids: Sequence[str]) -> NDArray[np.int64]:
        marks = ",".join("?" * len(filing_ids))
        rows = self._db.execute(
            f"SELECT vector_id FROM chunks WHERE filing_id IN ({marks})", list(filing_ids)
        ).fetchall()
        return np.array([row[0] for row in rows], dtype=np.int64)

    # ---- vectors ---------------------------------------------------------------------------

    def _vector_path(self, version: str) -> Path:
        return self.data_dir / VECTORS_DIR / f"{version}.faiss"

    def _load_vectors(self) -> Any:
        import faiss

        version = self.index_version
        if self._vectors is not None and self._vectors_version == version:
            return self._vectors
        path = self._vector_path(version)
        if path.exists():
            self._vectors = faiss.read_index(str(path))
        else:
            self._vectors = self._rebuild_vectors()
        self._vectors_version = version
        return self._vectors

    def _rebuild_vectors(self) -> Any:
        """Rebuild the FAISS index from the vectors kept in SQLite."""
        import faiss

        config = self.config
        # An empty index has no dimension yet; the first write batch replaces it.
        dimension = config.embedding_dimension if config else 1
        index = faiss.IndexIDMap2(faiss.IndexFlatIP(dimension))
        ids: list[int] = []
        blobs: list[bytes] = []
        for row in self._db.execute("SELECT vector_id, embedding FROM chunks ORDER BY vector_id"):
            ids.append(row[0])
            blobs.append(row[1])
        if ids:
            matrix = np.frombuffer(b"".join(blobs), dtype=np.float32).reshape(len(ids), -1)
            index.add_with_ids(matrix, np.array(ids, dtype=np.int64))
        return index

    def search_text(
        self,
        query: str,
        k: int,
        filing_ids: Sequence[str] | None = None,
        weights: tuple[float, float] = (1.0, 0.3),
    ) -> list[VectorHit]:
        """BM25 over chunk text and header for an FTS5 ``query``; higher score is better."""
        if filing_ids is not None:
            if not filing_ids:
                return []
            # Filing ids are hex tokens of our own making: safe inside an FTS5 query.
            query = f"filing : ({' OR '.join(filing_ids)}) AND ({query})"
        rows = self._db.execute(
            "SELECT rowid, bm25(chunks_fts, ?, ?, 0.0) AS rank FROM chunks_fts "
            "WHERE chunks_fts MATCH ? ORDER BY rank LIMIT ?",
            (*weights, query, k),
        ).fetchall()
        return [VectorHit(int(row[0]), -float(row[1])) for row in rows]

    def vector_index(self) -> Any:
        """The exact FAISS index of the current version (read-only use)."""
        return self._load_vectors()

    def vector_cache_path(self, kind: str) -> Path:
        """Where a derived index of the current version (e.g. HNSW) may be cached."""
        return self.data_dir / VECTORS_DIR / f"{self.index_version}.{kind}.faiss"

    @property
    def vector_count(self) -> int:
        return int(self._load_vectors().ntotal)

    # ---- writes ----------------------------------------------------------------------------

    @contextlib.contextmanager
    def writer(self, config: IndexConfig) -> Iterator[WriteBatch]:
        """Exclusive write access; changes become visible only at ``commit()``.

        Whatever was not committed when the block exits (by an exception or a crash) is
        rolled back, and the index stays at its last committed version.
        """
        self.check_config(config)
        lock_path = self.data_dir / LOCK_FILE
        with lock_path.open("a") as lock_handle:
            try:
                fcntl.flock(lock_handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError as exc:
                raise IndexMismatchError(
                    f"another verirag process is writing to {self.data_dir}; wait for it to finish"
                ) from exc
            self._remove_orphan_vector_files()
            batch = WriteBatch(self, config)
            try:
                yield batch
                batch.commit()
            finally:
                batch.rollback()
                fcntl.flock(lock_handle, fcntl.LOCK_UN)

    def _remove_orphan_vector_files(self) -> None:
        current = self.index_version + "."
        for path in (self.data_dir / VECTORS_DIR).iterdir():
            if not (path.name.startswith(current) and path.suffix == ".faiss"):
                path.unlink(missing_ok=True)

    def record_failure(self, path: Path, sha256: str | None, reason: str) -> None:
        self._db.execute(
            "INSERT INTO ingest_failures (path, sha256, reason, at) VALUES (?, ?, ?, ?)",
            (str(path), sha256, reason, _now()),
        )


class WriteBatch:
    """Stages filing additions and removals; ``commit()`` makes them durable at once."""

    def __init__(self, store: IndexStore, config: IndexConfig) -> None:
        self._store = store
        self._db = store._db
        self._config = config
        self._in_transaction = False
        self._added_ids: list[NDArray[np.int64]] = []
        self._added_vectors: list[NDArray[np.float32]] = []
        self._removed_ids: list[int] = []
        self._base: Any = None

    def _begin(self) -> None:
        if not self._in_transaction:
            # Load the committed vectors before the transaction: inside it, a rebuild from
            # SQLite would also see this batch's uncommitted rows.
            self._base = self._store._load_vectors()
            self._db.execute("BEGIN IMMEDIATE")
            self._in_transaction = True

    def remove(self, filing_name: str) -> bool:
        self._begin()
        row = self._db.execute("SELECT id FROM filings WHERE name = ?", (filing_name,)).fetchone()
        if row is None:
            return False
        removed = [
            r[0]
            for r in self._db.execute("SELECT vector_id FROM chunks WHERE filing_id = ?", (row[0],))
        ]
        self._removed_ids.extend(removed)
        self._db.executemany("DELETE FROM chunks_fts WHERE rowid = ?", [(v,) for v in removed])
        self._db.execute("DELETE FROM filings WHERE id = ?", (row[0],))
        return True

    def add(self, record: FilingRecord) -> None:
        self._begin()
        db = self._db
        meta = record.metadata
        db.execute(
            "INSERT INTO filings (id, name, path, sha256, company, form_type, fiscal_year, "
            "fiscal_period, period_end, filed, ticker, parser, parser_version, page_count, "
            "ingested_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                record.id,
                meta.name,
                str(record.path),
                record.sha256,
                meta.company,
                meta.form_type.value if meta.form_type else None,
                meta.fiscal_year,
                meta.fiscal_period,
                meta.period_end,
                meta.filed,
                meta.ticker,
                record.parser,
                record.parser_version,
                len(record.pages),
                _now(),
            ),
        )
        db.executemany(
            "INSERT INTO pages (id, filing_id, number, text, width, height) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            [
                (page_id(record.id, p.number), record.id, p.number, p.text, p.width, p.height)
                for p in record.pages
            ],
        )
        db.executemany(
            "INSERT INTO sections (filing_id, label, title, first_page) VALUES (?, ?, ?, ?)",
            [(record.id, s.label, s.title, s.first_page) for s in record.sections],
        )
        _insert_page_labels(db, record.id, record.page_labels)
        table_rows = []
        sentence_rows = []
        for page, sentence_ids, table_ids in zip(
            record.pages, record.sentence_ids, record.table_ids, strict=True
        ):
            for position, (table, tid) in enumerate(zip(page.tables, table_ids, strict=True)):
                table_rows.append(
                    (
                        tid,
                        record.id,
                        page.number,
                        position,
                        table.title,
                        table.scale,
                        json.dumps(table.header_rows),
                        json.dumps(table.rows),
                        table.start,
                        table.end,
                        json.dumps(table.bbox) if table.bbox else None,
                        _layout_json(table),
                    )
                )
            for position, (sentence, sid) in enumerate(
                zip(page.sentences, sentence_ids, strict=True)
            ):
                sentence_rows.append(
                    (
                        sid,
                        record.id,
                        page.number,
                        position,
                        sentence.start,
                        sentence.end,
                        sentence.kind.value,
                        sentence.section,
                        None if sentence.table_index is None else table_ids[sentence.table_index],
                        json.dumps([round(v, 2) for v in sentence.bbox]) if sentence.bbox else None,
                        sentence.text,
                    )
                )
        db.executemany(
            "INSERT INTO tables (id, filing_id, page, position, title, scale, header_rows, rows, "
            'start, "end", bbox, layout) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)',
            table_rows,
        )
        db.executemany(
            'INSERT INTO sentences (id, filing_id, page, position, start, "end", kind, section, '
            "table_id, bbox, text) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            sentence_rows,
        )
        vector_ids = np.empty(len(record.chunks), dtype=np.int64)
        tables_by_page = {
            p.number: ids for p, ids in zip(record.pages, record.table_ids, strict=True)
        }
        for position, (chunk, vector) in enumerate(zip(record.chunks, record.vectors, strict=True)):
            cursor = db.execute(
                "INSERT INTO chunks (id, filing_id, page, section, table_id, sentence_ids, text, "
                "embed_text, embedding) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    chunk.id,
                    record.id,
                    chunk.page,
                    chunk.section,
                    None
                    if chunk.table_index is None
                    else tables_by_page[chunk.page][chunk.table_index],
                    json.dumps(chunk.sentence_ids),
                    chunk.text,
                    chunk.embed_text,
                    np.ascontiguousarray(vector, dtype=np.float32).tobytes(),
                ),
            )
            assert cursor.lastrowid is not None  # an INSERT always sets it
            vector_ids[position] = cursor.lastrowid
            db.execute(
                "INSERT INTO chunks_fts (rowid, text, header, filing) VALUES (?, ?, ?, ?)",
                (cursor.lastrowid, chunk.text, chunk.embed_text, record.id),
            )
        self._added_ids.append(vector_ids)
        self._added_vectors.append(np.ascontiguousarray(record.vectors, dtype=np.float32))

    def record_failure(self, path: Path, sha256: str | None, reason: str) -> None:
        self._begin()
        self._store.record_failure(path, sha256, reason)

    def commit(self) -> None:
        if not self._in_transaction:
            return
        import faiss

        store = self._store
        db = self._db
        if self._added_ids or self._removed_ids:
            # Rebuild-from-previous: copy the committed index, apply this batch, write it under
            # the new version's name, fsync, and only then commit the rows that point at it.
            index = self._base
            if index.ntotal == 0 and index.d != self._config.embedding_dimension:
                index = faiss.IndexIDMap2(faiss.IndexFlatIP(self._config.embedding_dimension))
            else:
                index = faiss.clone_index(index)
            if self._removed_ids:
                index.remove_ids(np.array(self._removed_ids, dtype=np.int64))
            for ids, vectors in zip(self._added_ids, self._added_vectors, strict=True):
                if len(ids):
                    index.add_with_ids(vectors, ids)
            chunk_ids = [row[0] for row in db.execute("SELECT id FROM chunks ORDER BY id")]
            version = settings_hash(config=self._config.version, chunks=",".join(chunk_ids))
            path = store._vector_path(version)
            temporary = path.with_suffix(".tmp")
            faiss.write_index(index, str(temporary))
            _fsync_file(temporary)
            temporary.replace(path)
            _fsync_file(path.parent)
            db.execute(
                "INSERT OR REPLACE INTO meta (key, value) VALUES ('index_version', ?)", (version,)
            )
        else:
            index = None
        db.execute(
            "INSERT OR REPLACE INTO meta (key, value) VALUES ('config', ?)",
            (json.dumps(asdict(self._config)),),
        )
        db.execute(
            "INSERT OR REPLACE INTO meta (key, value) VALUES ('schema_version', ?)",
            (str(SCHEMA_VERSION),),
        )
        previous = store._vector_path(store._vectors_version or EMPTY_VERSION)
        db.execute("COMMIT")
        self._in_transaction = False
        if index is not None:
            store._vectors = index
            store._vectors_version = store.index_version
            if previous != store._vector_path(store.index_version):
                for stale in previous.parent.glob(previous.name.removesuffix(".faiss") + ".*"):
                    stale.unlink(missing_ok=True)
        self._added_ids.clear()
        self._added_vectors.clear()
        self._removed_ids.clear()

    def rollback(self) -> None:
        if self._in_transaction:
            self._db.execute("ROLLBACK")
            self._in_transaction = False
        self._added_ids.clear()
        self._added_vectors.clear()
        self._removed_ids.clear()


def _insert_page_labels(
    db: sqlite3.Connection, filing_id: str, labels: Sequence[PageLabel]
) -> None:
    db.executemany(
        "INSERT OR IGNORE INTO page_kinds (filing_id, page, kind, detail) VALUES (?, ?, ?, ?)",
        [(filing_id, label.page, label.kind.value, label.detail) for label in labels],
    )
