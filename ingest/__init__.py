"""Filings → pages → sections → sentences → chunks → embeddings → FAISS + SQLite docstore.

Everything downstream (retrieval, citations, the verifier, alignment data) points at the
content-derived sentence ids made here.
"""
