"""Search over the ingested index: dense (FAISS) retrieval, with hybrid search and reranking
to come behind the same ``Retriever`` seam."""
