"""Builds the answer pipeline from Settings: the one place that chooses implementations.

Entry points (the CLI, the API's startup) call this; nothing here loads a model until
``warm_up()``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from engine.generation import Generator
from engine.lookup import MetricCalculator, StatementLookup
from engine.pipeline import AnswerPipeline, PipelineConfig
from verifier.checks import Verifier
from verifier.constitution import load_constitution
from verifier.nli import EntailmentJudge, load_judge

if TYPE_CHECKING:
    from engine.drafter import AnswerEngine
    from engine.settings import Settings
    from ingest.embedding import Embedder
    from ingest.store import IndexStore
    from retrieval.sentences import SentenceRanker


def embedder_from_settings(settings: Settings) -> Embedder:
    """The index's embedding model as Settings describe it (loading waits for warm_up)."""
    from ingest.embedding import OnnxEmbedder, SentenceTransformerEmbedder

    if settings.embedding_runtime != "torch":
        return OnnxEmbedder(
            model=settings.embedding_model,
            cache_dir=settings.cache_dir,
            batch_size=settings.embedding_batch_size,
            threads=settings.torch_threads,
            quantize=settings.embedding_runtime == "onnx-int8",
        )
    return SentenceTransformerEmbedder(
        model=settings.embedding_model,
        device=settings.embedding_device,
        batch_size=settings.embedding_batch_size,
        threads=settings.torch_threads,
    )


def build_retriever(
    settings: Settings,
    store: IndexStore,
    mode: str = "hybrid",
    rerank_top: int | None = None,
    embedder: Any = None,
) -> Any:
    """The retriever ``mode`` names (hybrid, dense, lexical); ``embedder`` lets a caller share
    one loaded model between retrieval, context ranking and ingest."""
    from retrieval.catalog import Catalog
    from retrieval.dense import DenseRetriever
    from retrieval.hybrid import HybridConfig, HybridRetriever
    from retrieval.lexical import LexicalRetriever
    from retrieval.rerank import OnnxCrossEncoder

    rerank_top = settings.rerank_top if rerank_top is None else rerank_top
    catalog = Catalog.from_store(store)
    dense = DenseRetriever(
        store,
        embedder or embedder_from_settings(settings),
        catalog,
        vector_index=settings.vector_index,
    )
    lexical = LexicalRetriever(store, catalog)
    if mode == "dense":
        return dense
    if mode == "lexical":
        return lexical
    return HybridRetriever(
        store,
        dense,
        lexical,
        catalog,
        reranker=OnnxCrossEncoder(threads=settings.torch_threads) if rerank_top else None,
        config=HybridConfig(rerank_top=rerank_top),
    )


def promoted_generator(settings: Settings) -> Settings:
    """Settings with the generator `verirag align promote` chose, where one was promoted and
    the operator did not name a generator explicitly."""
    import json

    path = settings.data_dir / "alignment" / "serving.json"
    if not settings.use_promoted_generator or not path.exists():
        return settings
    if "generator_model" in settings.model_fields_set or settings.generator_adapter:
        return settings
    serving = json.loads(path.read_text())
    if settings.generator_backend == "openai":
        return settings.model_copy(update={"generator_model": serving["vllm_model"]})
    return settings.model_copy(
        update={
            "generator_model": serving["generator_model"],
            "generator_adapter": serving.get("generator_adapter"),
        }
    )


def build_generator(settings: Settings) -> Generator:
    settings = promoted_generator(settings)
    if settings.generator_backend == "openai":
        from engine.openai_generator import OpenAIChatGenerator

        return OpenAIChatGenerator(
            base_url=settings.generator_url,
            model=settings.generator_model,
            api_key=settings.generator_api_key,
            structured_output=settings.generator_structured_output,
            timeout_seconds=settings.generator_timeout_seconds,
            retries=settings.generator_retries,
        )
    from engine.local_generator import TransformersGenerator

    return TransformersGenerator(
        model=settings.generator_model,
        cache_dir=settings.cache_dir,
        adapter=settings.generator_adapter,
        threads=settings.torch_threads,
    )


def build_judge(settings: Settings) -> EntailmentJudge:
    return load_judge(
        settings.nli_model,
        settings.cache_dir,
        settings.nli_threshold,
        runtime=settings.nli_runtime,
        threads=settings.torch_threads,
    )


def build_verifier(settings: Settings) -> Verifier:
    return Verifier(load_constitution(settings.constitution_file), build_judge(settings))


def build_pipeline(
    settings: Settings,
    store: IndexStore,
    retriever: Any,
    generator: Generator | None = None,
    verifier: Verifier | None = None,
    embedder: Any = None,
) -> AnswerPipeline:
    """``embedder`` is the index's embedding model when the caller has loaded it already
    (the retriever's); the context ranker then shares it instead of loading a second copy."""
    return AnswerPipeline(
        store=store,
        retriever=retriever,
        generator=generator or build_generator(settings),
        verifier=verifier or build_verifier(settings),
        config=PipelineConfig(
            context_chunks=settings.context_chunks,
            context_max_sentences=settings.context_max_sentences,
            max_new_tokens=settings.max_new_tokens,
            max_claims=settings.max_claims,
            revision_rounds=settings.revision_rounds,
            deadline_seconds=settings.answer_deadline_seconds,
            adapter=promoted_generator(settings).generator_adapter,
        ),
        sentence_ranker=build_sentence_ranker(settings, embedder),
        lookup=StatementLookup() if settings.statement_lookup else None,
        calculator=MetricCalculator() if settings.statement_lookup else None,
        engine=build_engine(settings, store, embedder) if settings.answer_engine else None,
    )


def build_engine(settings: Settings, store: IndexStore, embedder: Any = None) -> AnswerEngine:
    """The answer engine with its shipped models, given the sentence-vector model they were
    trained with: the index's embedder when it is that model, else the packaged one."""
    from engine.drafter import AnswerEngine
    from engine.question import packaged_model
    from engine.vectors import TextVectors
    from ingest.embedding import OnnxEmbedder

    wanted = packaged_model("link.json").card.get("vectors_model")
    if wanted is None:
        return AnswerEngine.packaged(store)
    if embedder is None or getattr(embedder, "model_id", None) != wanted:
        embedder = OnnxEmbedder(cache_dir=settings.cache_dir, threads=settings.torch_threads)
    return AnswerEngine.packaged(store, TextVectors(embedder))


def build_sentence_ranker(settings: Settings, embedder: Any = None) -> SentenceRanker:
    """How the service orders a context's sentences (alignment data is ordered the same way)."""
    from retrieval.sentences import EmbeddingSentenceRanker

    return EmbeddingSentenceRanker(embedder or embedder_from_settings(settings))
