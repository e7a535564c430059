"""A LlamaIndex ``BaseRetriever`` over verirag's retriever, for users' own query engines.

Needs ``llama-index-core`` (``pip install -e ".[llamaindex]"``). Each chunk becomes a
``TextNode`` whose id is the chunk id and whose metadata carries the filing, page, section and
sentence ids, so citations survive the trip through LlamaIndex.
"""

from __future__ import annotations

from typing import Any

from llama_index.core.retrievers import BaseRetriever
from llama_index.core.schema import NodeWithScore, QueryBundle, TextNode

from retrieval.catalog import QueryFilters
from retrieval.types import Retriever


class VeriragLlamaIndexRetriever(BaseRetriever):
    def __init__(
        self,
        retriever: Retriever,
        top_k: int = 10,
        filters: QueryFilters | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self._retriever = retriever
        self._top_k = top_k
        self._filters = filters

    def _retrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
        chunks = self._retriever.retrieve(query_bundle.query_str, self._top_k, self._filters)
        return [
            NodeWithScore(
                node=TextNode(
                    id_=chunk.chunk_id,
                    text=chunk.text,
                    metadata={
                        "filing": chunk.filing,
                        "page": chunk.page,
                        "section": chunk.section,
                        "sentence_ids": chunk.sentence_ids,
                    },
                    # Sentence ids are for citation, not for an LLM or an embedding to read.
                    excluded_llm_metadata_keys=["sentence_ids"],
                    excluded_embed_metadata_keys=["sentence_ids"],
                ),
                score=chunk.score,
            )
            for chunk in chunks
        ]
