"""Lexical search with SQLite FTS5 (BM25) over the chunks in the docstore."""

from __future__ import annotations

import re
from collections.abc import Sequence

from ingest.store import IndexStore, VectorHit
from ingest.vocabulary import expansion_phrases
from retrieval.catalog import Catalog, QueryFilters
from retrieval.types import FilingScope, ScoredChunk, scored_chunks

_TOKEN = re.compile(r"[a-z0-9]+(?:[.,][0-9]+)*", re.IGNORECASE)
# Question scaffolding that every filing contains or no filing needs.
STOPWORDS = frozenset(
    """a about above after again against all am an and any are as at be because been before
    being below between both but by can could did do does doing down during each few for from
    further had has have having he her here hers how i if in into is it its itself just me more
    most my no nor not now of off on once only or other our out over own same she should so
    some such than that the their theirs them then there these they this those through to too
    under until up very was we were what when where which while who whom why will with would
    you your yours please answer question give response state provide using based basing
    according information amount number much many fy fiscal year years usd million millions
    billion billions percent percentage round calculate compute define defined company
    """.split()  # noqa: SIM905
)


def query_terms(question: str) -> list[str]:
    terms: dict[str, None] = {}
    for token in _TOKEN.findall(question.lower()):
        if token not in STOPWORDS and (len(token) > 1 or token.isdigit()):
            terms.setdefault(token, None)
    return list(terms)


def fts_query(question: str, expand: bool = True) -> str:
    """An FTS5 OR-query of the question's terms and the line items its metrics map to.

    Every term is quoted, so nothing in a question can be read as FTS5 syntax.
    """
    parts = [f'"{term}"' for term in query_terms(question)]
    if expand:
        for phrase in expansion_phrases(question):
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
        question: str,
        k: int,
        filing_ids: Sequence[str] | None = None,
        text_only: bool = False,
    ) -> list[VectorHit]:
        """``text_only`` matches the filing's own text alone, not the context header (whose
        company and section words match every chunk of a filing)."""
        query = fts_query(question, self._expand)
        if not query or k <= 0:
            return []
        if text_only:
            query = f"text : ({query})"
        return self._store.search_text(query, k, filing_ids, (self.TEXT_WEIGHT, self.HEADER_WEIGHT))

    def retrieve(
        self, query: str, top_k: int = 10, filters: QueryFilters | None = None
    ) -> list[ScoredChunk]:
        hits = self.search(query, top_k, self._scope.filing_ids(query, filters))
        return scored_chunks(self._store, hits)
