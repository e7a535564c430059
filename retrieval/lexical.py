"""Lexical search with SQLite FTS5 (BM25) over the chunks in the docstore."""

from __future__ import annotations

from collections.abc import Sequence

from ingest.store import IndexStore, VectorHit
from retrieval.catalog import Catalog, QueryFilters
from retrieval.query import SearchQuery, as_query, query_terms
from retrieval.types import FilingScope, ScoredChunk, scored_chunks


def fts_query(query: SearchQuery, expand: bool = True) -> str:
    """An FTS5 OR-query of the question's terms and the line items its metrics map to.

    Every term is quoted, so nothing in a question can be read as FTS5 syntax.
    """
    parts = [f'"{term}"' for term in query.terms]
    if expand:
        for phrase in query.expansions:
            words = query_terms(phrase) or phrase.split()
            parts.append('"' + " ".join(words) + '"')
    return " OR ".join(parts)


class LexicalRetriever:
    """BM25 over chunk text (and the section/company header, weighted lower)."""

    # BM25 column weights: the filing's own text, then the context header.
    TEXT_WEIGHT = 1.0
    HEADER_WEIGHT = 0.3

    def __init__(
        self, store: IndexStore, catalog: Catalog | None = None, expand: bool = True
    ) -> None:
        self._store = store
        self._scope = FilingScope(store, catalog)
        self._expand = expand

    def warm_up(self) -> None:
        return None

    def search(
        self,
        query: SearchQuery,
        k: int,
        filing_ids: Sequence[str] | None = None,
        text_only: bool = False,
    ) -> list[VectorHit]:
        """``text_only`` matches the filing's own text alone, not the context header (whose
        company and section words match every chunk of a filing)."""
        matched = fts_query(query, self._expand)
        if not matched or k <= 0:
            return []
        if text_only:
            matched = f"text : ({matched})"
        return self._store.search_text(
            matched, k, filing_ids, (self.TEXT_WEIGHT, self.HEADER_WEIGHT)
        )

    def retrieve(
        self, query: SearchQuery | str, top_k: int = 10, filters: QueryFilters | None = None
    ) -> list[ScoredChunk]:
        read = as_query(query)
        hits = self.search(read, top_k, self._scope.filing_ids(read, filters))
        return scored_chunks(self._store, hits)
