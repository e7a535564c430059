"""The docstore + FAISS pair stays consistent whatever happens to a write batch."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from ingest.errors import IndexMismatchError
from ingest.pdf import PdfReader
from ingest.pipeline import IngestOptions, Ingestor
from ingest.store import IndexStore
from retrieval import ann
from tests import filings


def _search(store: IndexStore, query: Any, k: int, allowed: Any = None) -> list[tuple[int, float]]:
    return ann.search(store.vector_index(), "flat", query, k, allowed)


def _ingestor(store: IndexStore, embedder: Any) -> Ingestor:
    return Ingestor(store, embedder, {".pdf": PdfReader()}, IngestOptions(commit_seconds=0))


def _consistent(store: IndexStore) -> None:
    assert store._db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    chunks = store.info()["chunks"]
    assert store.vector_count == chunks
    for filing in store.filings():
        pages = store._db.execute(
            "SELECT COUNT(*) FROM pages WHERE filing_id = ?", (filing.id,)
        ).fetchone()[0]
        assert pages == filing.page_count


def test_an_exception_mid_batch_rolls_everything_back(tmp_path: Path, embedder: Any) -> None:
    first = filings.write_10k(tmp_path / "ACME_2023_10K.pdf")
    second = filings.write_10k(tmp_path / "OTHER_2023_10K.pdf", company_suffix="II")
    with IndexStore(tmp_path / "index") as store:
        _ingestor(store, embedder).ingest([first])
        before = store.info()
        ingestor = _ingestor(store, embedder)
        with (
            pytest.raises(RuntimeError, match="power cut"),
            store.writer(ingestor.index_config()) as batch,
        ):
            batch.remove("ACME_2023_10K")
            raise RuntimeError("power cut")
        assert store.info() == before
        _consistent(store)
        del second


def test_missing_faiss_file_is_rebuilt_from_the_docstore(tmp_path: Path, embedder: Any) -> None:
    path = filings.write_10k(tmp_path / "ACME_2023_10K.pdf")
    data = tmp_path / "index"
    with IndexStore(data) as store:
        _ingestor(store, embedder).ingest([path])
        query = embedder.embed_query("cost of sales")
        expected = _search(store, query, 5)
    for vector_file in (data / "vectors").iterdir():
        vector_file.unlink()
    with IndexStore(data) as store:
        assert _search(store, query, 5) == expected
        _consistent(store)


def test_orphaned_vector_files_are_cleaned_by_the_next_writer(
    tmp_path: Path, embedder: Any
) -> None:
    path = filings.write_10k(tmp_path / "ACME_2023_10K.pdf")
    data = tmp_path / "index"
    with IndexStore(data) as store:
        ingestor = _ingestor(store, embedder)
        ingestor.ingest([path])
        (data / "vectors" / "leftover-from-a-crash.faiss").write_bytes(b"x")
        (data / "vectors" / "half-written.tmp").write_bytes(b"x")
        ingestor.ingest([path])
        assert [p.name for p in (data / "vectors").iterdir()] == [f"{store.index_version}.faiss"]


def test_filter_restricts_search_to_the_given_vectors(tmp_path: Path, embedder: Any) -> None:
    a = filings.write_10k(tmp_path / "ACME_2023_10K.pdf")
    b = filings.write_10k(tmp_path / "OTHER_2023_10K.pdf", company_suffix="II")
    with IndexStore(tmp_path / "index") as store:
        _ingestor(store, embedder).ingest([a, b])
        other = store.filing_by_name("OTHER_2023_10K")
        assert other is not None
        allowed = store.vector_ids_for_filings([other.id])
        hits = _search(store, embedder.embed_query("net sales"), 50, allowed)
        assert hits and {vector_id for vector_id, _ in hits} <= set(allowed.tolist())
        assert _search(store, embedder.embed_query("x"), 5, np.array([], np.int64)) == []


def test_a_second_writer_is_refused_while_one_is_writing(tmp_path: Path, embedder: Any) -> None:
    with IndexStore(tmp_path / "index") as store, IndexStore(tmp_path / "index") as other:
        config = _ingestor(store, embedder).index_config()
        with (
            store.writer(config),
            pytest.raises(IndexMismatchError, match="another verirag"),
            other.writer(config),
        ):
            pass


class _CountingEmbedder:
    """The real embedder, remembering which texts it was asked to embed."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.model_id = inner.model_id
        self.embedded: list[str] = []

    @property
    def dimension(self) -> int:
        return int(self.inner.dimension)

    def warm_up(self) -> None:
        self.inner.warm_up()

    def embed_documents(self, texts: Any, show_progress: bool = False) -> Any:
        self.embedded.extend(texts)
        return self.inner.embed_documents(texts, show_progress)

    def embed_query(self, text: str) -> Any:
        return self.inner.embed_query(text)


class _UpgradedPdfReader(PdfReader):
    """A later parser version that reads the first table's unit differently."""

    @property
    def version(self) -> str:
        return f"{super().version}+upgraded"

    def read(self, path: Path) -> Any:
        document = super().read(path)
        page = next(page for page in document.pages if page.tables)
        page.tables = [replace(page.tables[0], scale="billions"), *page.tables[1:]]
        return document


def test_a_new_parser_version_re_embeds_only_the_chunks_it_changed(
    tmp_path: Path, embedder: Any
) -> None:
    path = filings.write_10k(tmp_path / "ACME_2023_10K.pdf")
    with IndexStore(tmp_path / "index") as store:
        _ingestor(store, embedder).ingest([path])
        before = store.embeddings_by_text("ACME_2023_10K")

        counting = _CountingEmbedder(embedder)
        upgraded = Ingestor(
            store, counting, {".pdf": _UpgradedPdfReader()}, IngestOptions(commit_seconds=0)
        )
        [result] = upgraded.ingest([path]).results
        after = store.embeddings_by_text("ACME_2023_10K")

        changed = [text for text in after if text not in before]
        assert changed and all("(in billions)" in text for text in changed)
        assert result.outcome.value == "replaced"
        assert sorted(counting.embedded) == sorted(changed)
        assert result.reused_vectors == result.chunks - len(changed) > 0
        for text, vector in after.items():
            if text in before:
                assert vector.tobytes() == before[text].tobytes()
        _consistent(store)
        query = embedder.embed_query("revenue in billions")
        assert _search(store, query, 3)


def test_an_index_written_before_table_layouts_opens_with_its_tables_whole(
    tmp_path: Path, embedder: Any
) -> None:
    """Schema 3 had no ``tables.layout``: opening such an index adds the column, keeps every
    table, and its tables read without recorded columns (headers right-aligned)."""
    filing = filings.write_10k(tmp_path / "ACME_2023_10K.pdf")
    with IndexStore(tmp_path / "index") as store:
        _ingestor(store, embedder).ingest([filing])
        (stored,) = store.filings()
        before = store.filing_tables(stored.id)
        store._db.execute("ALTER TABLE tables DROP COLUMN layout")
    assert before
    with IndexStore(tmp_path / "index") as store:
        columns = [row[1] for row in store._db.execute("PRAGMA table_info(tables)")]
        after = store.filing_tables(stored.id)
        _consistent(store)
    assert "layout" in columns
    assert [(t.id, t.rows, t.header_rows) for t in after] == [
        (t.id, t.rows, t.header_rows) for t in before
    ]
    assert all(t.row_spans is None for t in after)
