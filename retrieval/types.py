"""What a retriever returns, and the seam every retriever implements."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from ingest.errors import FilingNotFoundError
from ingest.store import IndexStore, VectorHit
from retrieval.catalog import Catalog, QueryFilters

if TYPE_CHECKING:
    from retrieval.query import SearchQuery


@dataclass(frozen=True, slots=True)
class ScoredChunk:
    chunk_id: str
    filing: str  # the filing's name (file stem)
    filing_id: str
    page: int  # zero-indexed
    section: str | None
    score: float
    text: str
    sentence_ids: list[str]
    table_id: str | None = None


class Retriever(Protocol):
    def warm_up(self) -> None: ...

    def retrieve(
        self, query: SearchQuery | str, top_k: int = 10, filters: QueryFilters | None = None
    ) -> list[ScoredChunk]:
        """Best first. ``query``: the question read once (``retrieval.query.read_query``), or
        its text, read on the way in. ``filters=None`` reads them from the query;
        ``QueryFilters()`` searches everything."""
        ...


class FilingScope:
    """Which filings a query may search: explicit filters, else what the question names."""

    def __init__(self, store: IndexStore, catalog: Catalog | None = None) -> None:
        self._store = store
        self._catalog = catalog
        self._catalog_version = store.index_version if catalog is not None else None

    @property
    def catalog(self) -> Catalog:
        # A long-running service sees filings added and removed under it: the catalog follows
        # the index version, which every committed write changes.
        version = self._store.index_version
        if self._catalog is None or self._catalog_version != version:
            self._catalog = Catalog.from_store(self._store)
            self._catalog_version = version
        return self._catalog

    def filing_ids(self, query: SearchQuery, filters: QueryFilters | None) -> list[str] | None:
        if filters is None:
            filters = self.catalog.parse(query.text)
        if filters.filings:
            missing = sorted(
                name for name in filters.filings if self._store.filing_by_name(name) is None
            )
            if missing:
                raise FilingNotFoundError(
                    f"no filing named {', '.join(missing)} in the index; "
                    "`verirag index info` lists them"
                )
        selected = self.catalog.select(filters)
        return None if selected is None else [filing.id for filing in selected]


def scored_chunks(store: IndexStore, hits: Sequence[VectorHit]) -> list[ScoredChunk]:
    rows = store.chunks_by_vector_ids([hit.vector_id for hit in hits])
    return [
        ScoredChunk(
            chunk_id=row["id"],
            filing=row["filing_name"],
            filing_id=row["filing_id"],
            page=row["page"],
            section=row["section"],
            score=hit.score,
            text=row["text"],
            sentence_ids=json.loads(row["sentence_ids"]),
            table_id=row["table_id"],
        )
        for hit in hits
        if (row := rows.get(hit.vector_id)) is not None
    ]
