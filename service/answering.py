"""Answers as a service: a bounded queue in front of the answer pipeline, and the log behind it.

A two-core machine generates one answer at a time, so excess demand must be refused, not
queued without end: at most ``workers + queue_size`` answers are admitted; beyond that the
caller gets ``OverloadedError`` with a Retry-After estimated from recent answer times. A
generator found unreachable makes the service refuse new questions for the retry interval
instead of queueing them behind a dead backend. An answer is handed back only after its audit
record has been committed to the interaction log.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import queue
import statistics
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from engine.answers import AuditRecord
from engine.errors import GeneratorUnavailableError
from engine.pipeline import AnswerPipeline
from retrieval.catalog import QueryFilters
from service.errors import AnswerTimeoutError, OverloadedError
from service.log import InteractionLog, outcome_of
from service.logs import request_id_var

logger = logging.getLogger(__name__)

ProgressSink = Callable[[str, dict[str, Any]], None]


class AnswerObserver(Protocol):
    """What the service reports as it works (metrics implement it)."""

    def queue_depth(self, waiting: int, running: int) -> None: ...

    def shed(self, reason: str) -> None: ...

    def answered(self, record: AuditRecord) -> None: ...


class _NoObserver:
    def queue_depth(self, waiting: int, running: int) -> None:
        return None

    def shed(self, reason: str) -> None:
        return None

    def answered(self, record: AuditRecord) -> None:
        return None


@dataclass(slots=True)
class _Request:
    question: str
    filters: QueryFilters | None
    top_k: int | None
    user_id: str | None
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future[AuditRecord]
    on_progress: ProgressSink | None
    request_id: str | None = field(default_factory=request_id_var.get)
    enqueued: float = field(default_factory=time.perf_counter)


class AnswerService:
    def __init__(
        self,
        pipeline: AnswerPipeline,
        log: InteractionLog,
        workers: int = 1,
        queue_size: int = 8,
        timeout_seconds: float = 900.0,
        observer: AnswerObserver | None = None,
        max_wait_seconds: float | None = None,
    ) -> None:
        self.pipeline = pipeline
        self.log = log
        self._workers = workers
        self._capacity = workers + queue_size
        self._timeout = timeout_seconds
        self._max_wait = max_wait_seconds
        self._observer = observer or _NoObserver()
        self._queue: queue.Queue[_Request | None] = queue.Queue()
        self._lock = threading.Lock()
        self._waiting = 0
        self._running = 0
        self._recent_seconds: deque[float] = deque(maxlen=20)
        self._generator_down_until = 0.0
        self._generator_down_reason = ""
        self._threads: list[threading.Thread] = []

    # ---- lifecycle -------------------------------------------------------------------------

    def start(self) -> None:
        for number in range(self._workers):
            thread = threading.Thread(
                target=self._work, name=f"verirag-answer-{number}", daemon=True
            )
            thread.start()
            self._threads.append(thread)

    def stop(self, timeout: float = 30.0) -> None:
        for _ in self._threads:
            self._queue.put(None)
        for thread in self._threads:
            thread.join(timeout)
        self._threads.clear()

    @property
    def depth(self) -> tuple[int, int]:
        with self._lock:
            return self._waiting, self._running

    def mark_generator_down(self, exc: GeneratorUnavailableError) -> None:
        with self._lock:
            self._generator_down_until = time.monotonic() + (exc.retry_after_seconds or 5.0)
            self._generator_down_reason = str(exc)

    def _too_long_a_wait(self) -> bool:
        """Whether a new question would wait longer than ``max_wait_seconds`` for a worker,
        judged by recent answer times (caller holds the lock). The queue bound counts
        questions; this bounds what an analyst actually waits when answers are slow."""
        if self._max_wait is None or not self._recent_seconds:
            return False
        typical = statistics.median(self._recent_seconds)
        expected_wait = typical * (self._waiting + self._running) / self._workers
        return expected_wait > self._max_wait

    def retry_after(self, whole_queue: bool = False) -> float:
        """Seconds until a retry is likely to be admitted: a slot frees each time a worker
        finishes, about every median answer time ÷ workers. ``whole_queue``: until the answers
        now admitted are all done (for a client whose answer timed out)."""
        with self._lock:
            typical = statistics.median(self._recent_seconds) if self._recent_seconds else 30.0
            ahead = self._waiting + self._running if whole_queue else 1
        return float(max(1, math.ceil(typical * max(1, ahead) / self._workers)))

    # ---- asking ----------------------------------------------------------------------------

    async def answer(
        self,
        question: str,
        filters: QueryFilters | None = None,
        top_k: int | None = None,
        user_id: str | None = None,
        on_progress: ProgressSink | None = None,
    ) -> AuditRecord:
        """The committed audit record of a new answer. Raises ``OverloadedError`` at once when
        the queue is full, ``GeneratorUnavailableError`` while the generator is known down."""
        future = self.submit(question, filters, top_k, user_id, on_progress)
        return await self.wait(future)

    def submit(
        self,
        question: str,
        filters: QueryFilters | None = None,
        top_k: int | None = None,
        user_id: str | None = None,
        on_progress: ProgressSink | None = None,
    ) -> asyncio.Future[AuditRecord]:
        """Admit a question (or refuse it now); must be called on the event loop."""
        loop = asyncio.get_running_loop()
        now = time.monotonic()
        with self._lock:
            if now < self._generator_down_until:
                wait = self._generator_down_until - now
                reason = self._generator_down_reason
                admitted = None
            elif self._waiting + self._running >= self._capacity or self._too_long_a_wait():
                admitted = False
            else:
                self._waiting += 1
                admitted = True
            waiting, running = self._waiting, self._running
        if admitted is None:
            self._observer.shed("generator_unavailable")
            raise GeneratorUnavailableError(reason, retry_after_seconds=max(1.0, wait))
        if not admitted:
            self._observer.shed("queue_full")
            raise OverloadedError(
                f"the service is answering {running} questions with {waiting} waiting, its "
                "limit; retry after the interval given",
                retry_after_seconds=self.retry_after(),
            )
        self._observer.queue_depth(waiting, running)
        future: asyncio.Future[AuditRecord] = loop.create_future()
        self._queue.put(_Request(question, filters, top_k, user_id, loop, future, on_progress))
        return future

    async def wait(self, future: asyncio.Future[AuditRecord]) -> AuditRecord:
        try:
            return await asyncio.wait_for(asyncio.shield(future), self._timeout)
        except TimeoutError as exc:
            raise AnswerTimeoutError(
                f"no answer within {self._timeout:.0f}s; the answer, when it comes, is logged "
                "and listed under GET /v1/answers",
                retry_after_seconds=self.retry_after(whole_queue=True),
            ) from exc

    # ---- the workers -----------------------------------------------------------------------

    def _work(self) -> None:
        while True:
            request = self._queue.get()
            if request is None:
                return
            with self._lock:
                self._waiting -= 1
                self._running += 1
            # The worker's log lines carry the id of the request they serve.
            token = request_id_var.set(request.request_id)
            outcome: AuditRecord | BaseException
            try:
                outcome = self._answer_one(request)
            except BaseException as exc:  # handed to the waiting request, never lost
                if isinstance(exc, GeneratorUnavailableError):
                    self.mark_generator_down(exc)
                outcome = exc
            finally:
                request_id_var.reset(token)
                # The gauges change before the client hears back, so a metrics scrape right
                # after an answer sees the worker free again.
                with self._lock:
                    self._running -= 1
                    waiting, running = self._waiting, self._running
                self._observer.queue_depth(waiting, running)
            self._resolve(request, outcome)

    def _answer_one(self, request: _Request) -> AuditRecord:
        started = time.perf_counter()
        progress = None
        if request.on_progress is not None:
            sink = request.on_progress

            def progress(name: str, details: dict[str, Any]) -> None:
                request.loop.call_soon_threadsafe(sink, name, details)

        record = self.pipeline.answer(request.question, request.filters, request.top_k, progress)
        record.answer.timings.queue_ms = 1000 * (started - request.enqueued)
        # Committed before anyone hears of it: an acknowledged answer is a durable answer.
        self.log.append(record, request.user_id)
        with self._lock:
            self._recent_seconds.append(time.perf_counter() - started)
        self._observer.answered(record)
        logger.info(
            "answered",
            extra={
                "answer_id": record.answer.id,
                "outcome": outcome_of(record),
                "queue_ms": round(record.answer.timings.queue_ms, 1),
                "total_ms": round(record.answer.timings.total_ms, 1),
            },
        )
        return record

    @staticmethod
    def _resolve(request: _Request, outcome: AuditRecord | BaseException) -> None:
        def settle() -> None:
            if request.future.done():
                return  # the client went away; the record is in the log all the same
            if isinstance(outcome, StopIteration | StopAsyncIteration):
                # A future cannot carry these; the request must still fail, not hang.
                failure = RuntimeError(f"the answer pipeline failed: {outcome!r}")
                failure.__cause__ = outcome
                request.future.set_exception(failure)
            elif isinstance(outcome, BaseException):
                request.future.set_exception(outcome)
            else:
                request.future.set_result(outcome)

        with contextlib.suppress(RuntimeError):  # the loop has closed: shutting down
            request.loop.call_soon_threadsafe(settle)
