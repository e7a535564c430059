"""Dense retrieval: the query embedded with the index's own model, searched in FAISS."""

from __future__ import annotations

import json

from ingest.embedding import Embedder
from ingest.errors import FilingNotFoundError, IndexMismatchError
from ingest.store import IndexStore
from retrieval.types import ScoredChunk


class DenseRetriever:
    def __init__(self, store: IndexStore, embedder: Embedder) -> None:
        config = store.config
        if config is not None and config.embedding_model != embedder.model_id:
            raise IndexMismatchError(
                f"the index was embedded with {config.embedding_model}, not "
                f"{embedder.model_id}; query it with the model that built it"
            )
        self._store = store
        self._embedder = embedder

    def warm_up(self) -> None:
        self._embedder.warm_up()

    def retrieve(
        self, query: str, top_k: int = 10, filings: list[str] | None = None
    ) -> list[ScoredChunk]:
        restrict = None
        if filings:
            ids = []
            for name in filings:
                stored = self._store.filing_by_name(name)
                if stored is None:
                    raise FilingNotFoundError(
                        f"no filing named {name!r} in the index; `verirag index info` lists them"
                    )
                ids.append(stored.id)
            restrict = self._store.vector_ids_for_filings(ids)
        hits = self._store.search_vectors(self._embedder.embed_query(query), top_k, restrict)
        rows = self._store.chunks_by_vector_ids([hit.vector_id for hit in hits])
        results = []
        for hit in hits:
            row = rows[hit.vector_id]
            results.append(
                ScoredChunk(
                    chunk_id=row["id"],
                    filing=row["filing_name"],
                    filing_id=row["filing_id"],
                    page=row["page"],
                    section=row["section"],
                    score=hit.score,
                    text=row["text"],
                    sentence_ids=json.loads(row["sentence_ids"]),
                )
            )
        return results
