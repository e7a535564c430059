"""Dense retrieval: the query embedded with the index's own model, searched in FAISS."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ingest.embedding import Embedder
from ingest.errors import IndexMismatchError
from ingest.store import IndexStore, VectorHit
from retrieval import ann
from retrieval.catalog import Catalog, QueryFilters
from retrieval.query import SearchQuery, as_query
from retrieval.types import FilingScope, ScoredChunk, scored_chunks


class DenseRetriever:
    def __init__(
        self,
        store: IndexStore,
        embedder: Embedder,
        catalog: Catalog | None = None,
        expand: bool = False,
        vector_index: ann.AnnKind = "flat",
    ) -> None:
        config = store.config
        if config is not None and config.embedding_model != embedder.model_id:
            raise IndexMismatchError(
                f"the index was embedded with {config.embedding_model}, not "
                f"{embedder.model_id}; query it with the model that built it"
            )
        self._store = store
        self._embedder = embedder
        self._scope = FilingScope(store, catalog)
        self._expand = expand
        self._ann_kind = vector_index
        self._index: Any = None
        self._index_version: str | None = None

    def warm_up(self) -> None:
        self._embedder.warm_up()
        self._vector_index()

    def _vector_index(self) -> Any:
        version = self._store.index_version
        if self._index is None or self._index_version != version:
            exact = self._store.vector_index()
            self._index = ann.cached(
                exact, self._ann_kind, self._store.vector_cache_path(self._ann_kind)
            )
            self._index_version = version
        return self._index

    def search(
        self, query: SearchQuery, k: int, filing_ids: Sequence[str] | None = None
    ) -> list[VectorHit]:
        text = query.text
        if self._expand:
            text = " ".join([query.text, *query.expansions])
        allowed = None if filing_ids is None else self._store.vector_ids_for_filings(filing_ids)
        if allowed is not None and allowed.size == 0:
            return []
        vector = self._embedder.embed_query(text)
        return [
            VectorHit(vector_id, score)
            for vector_id, score in ann.search(
                self._vector_index(), self._ann_kind, vector, k, allowed
            )
        ]

    def retrieve(
        self, query: SearchQuery | str, top_k: int = 10, filters: QueryFilters | None = None
    ) -> list[ScoredChunk]:
        read = as_query(query)
        hits = self.search(read, top_k, self._scope.filing_ids(read, filters))
        return scored_chunks(self._store, hits)
