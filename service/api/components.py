"""Everything a running service holds, built once at startup and kept on ``app.state``."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine.errors import GeneratorUnavailableError
from service.answering import AnswerService
from service.api.metrics import ServiceMetrics
from service.api.ratelimit import RateLimiter, SharedRateLimiter
from service.db import open_database
from service.jobs import JobStore, JobWorker, file_result_dump
from service.keys import KeyStore, SessionStore
from service.log import InteractionLog
from service.review import ReviewStore

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from engine.generation import Generator
    from engine.pipeline import AnswerPipeline
    from engine.settings import Settings
    from ingest.store import IndexStore
    from verifier.checks import Verifier

logger = logging.getLogger(__name__)


@dataclass
class ServiceComponents:
    settings: Settings
    engine: Engine
    log: InteractionLog
    reviews: ReviewStore
    keys: KeyStore
    sessions: SessionStore
    jobs: JobStore
    store: IndexStore
    pipeline: AnswerPipeline
    answers: AnswerService
    worker: JobWorker
    metrics: ServiceMetrics
    request_limiter: RateLimiter
    question_limiter: RateLimiter
    unauthenticated_limiter: RateLimiter
    warm: bool = False
    problems: dict[str, str] = field(default_factory=dict)

    def warm_up(self) -> None:
        """Load every model (a remote generator that is down only makes the service not
        ready: it may come up later, and readiness says so meanwhile)."""
        pipeline = self.pipeline
        pipeline.retriever.warm_up()
        if pipeline.sentence_ranker is not None:
            pipeline.sentence_ranker.warm_up()
        pipeline.verifier.warm_up()
        try:
            pipeline.generator.warm_up()
        except GeneratorUnavailableError as exc:
            self.problems["generator"] = str(exc)
            logger.warning("generator not reachable at startup", extra={"reason": str(exc)})
        self.warm = True

    def start(self) -> None:
        self.answers.start()
        self.worker.start()

    def stop(self) -> None:
        self.worker.stop()
        self.answers.stop()
        self.store.close()
        self.engine.dispose()


def _ingest_functions(settings: Settings, embedder: Any) -> tuple[Any, Any]:
    from ingest.pipeline import IngestOptions, Ingestor, default_readers
    from ingest.store import IndexStore

    options = IngestOptions(
        chunk_max_chars=settings.chunk_max_chars, commit_seconds=settings.ingest_commit_seconds
    )

    def ingest_file(path: Path) -> dict[str, Any]:
        # Its own connection: a write transaction must not be visible to the serving reads
        # until it commits.
        with IndexStore(settings.data_dir) as store:
            report = Ingestor(store, embedder, default_readers(), options).ingest([path])
        return file_result_dump(report.results[0])

    def remove_filing(name: str) -> dict[str, Any]:
        with IndexStore(settings.data_dir) as store:
            report = Ingestor(store, embedder, default_readers(), options).remove([name])
        return file_result_dump(report.results[0])

    return ingest_file, remove_filing


def build_components(
    settings: Settings,
    metrics: ServiceMetrics | None = None,
    generator: Generator | None = None,
    verifier: Verifier | None = None,
    embedder: Any = None,
) -> ServiceComponents:
    """Opens (and migrates) the database and the index; loads no model (``warm_up`` does).
    ``generator``, ``verifier`` and ``embedder`` replace the configured ones."""
    from engine.runtime import build_pipeline, build_retriever, embedder_from_settings
    from ingest.store import IndexStore

    engine = open_database(settings.service_database_url)
    log = InteractionLog(engine)
    store = IndexStore(settings.data_dir)
    embedder = embedder or embedder_from_settings(settings)
    pipeline = build_pipeline(
        settings,
        store,
        build_retriever(settings, store, "hybrid", settings.rerank_top, embedder),
        generator=generator,
        verifier=verifier,
        embedder=embedder,
    )
    metrics = metrics or ServiceMetrics()
    answers = AnswerService(
        pipeline,
        log,
        workers=settings.answer_workers,
        queue_size=settings.answer_queue_size,
        timeout_seconds=settings.answer_timeout_seconds,
        observer=metrics,
        max_wait_seconds=settings.answer_max_wait_seconds,
    )
    jobs = JobStore(engine)
    ingest_file, remove_filing = _ingest_functions(settings, embedder)
    worker = JobWorker(
        jobs, ingest_file, remove_filing, heartbeat_seconds=settings.job_heartbeat_seconds
    )

    def limiter(per_minute: int, what: str, who: str = "this API key") -> RateLimiter:
        if settings.rate_limit_scope == "database":
            return SharedRateLimiter(engine, per_minute, what, who)
        return RateLimiter(per_minute, what, who)

    return ServiceComponents(
        settings=settings,
        engine=engine,
        log=log,
        reviews=ReviewStore(engine),
        keys=KeyStore(engine),
        sessions=SessionStore(engine),
        jobs=jobs,
        store=store,
        pipeline=pipeline,
        answers=answers,
        worker=worker,
        metrics=metrics,
        request_limiter=limiter(settings.rate_limit_per_minute, "requests"),
        question_limiter=limiter(settings.answer_rate_limit_per_minute, "questions"),
        unauthenticated_limiter=limiter(
            settings.unauthenticated_rate_limit_per_minute,
            "requests without a valid API key",
            who="this client address",
        ),
    )
