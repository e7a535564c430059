"""Background filing jobs: ingest an uploaded filing, or remove one, off the request path.

A job is a row before it is work: the upload is on disk (fsynced) and its job committed before
the client hears 202, and the worker takes jobs from the database, not from memory. So a crash
loses nothing acknowledged: on restart, jobs found ``running`` go back to ``queued`` and run
again, which is safe because ingest is idempotent (an unchanged file is skipped) and the index
store commits a filing atomically.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

from sqlalchemy import Engine, insert, or_, select, update

from service.db import jobs
from service.errors import JobNotFoundError
from service.uploads import without_paths

logger = logging.getLogger(__name__)

JobKind = Literal["ingest", "delete"]
JobStatus = Literal["queued", "running", "done", "failed"]


@dataclass(frozen=True, slots=True)
class Job:
    id: str
    kind: JobKind
    status: JobStatus
    filing_name: str
    filing_id: str | None
    path: str | None
    sha256: str | None
    created_by: str
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    error: str | None
    result: dict[str, Any] | None
    attempts: int
    heartbeat_at: datetime | None = None


def _aware(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _job(row: Any) -> Job:
    values = dict(row._mapping)
    for name in ("created_at", "started_at", "finished_at", "heartbeat_at"):
        values[name] = _aware(values[name])
    return Job(**values)


class JobStore:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def create(
        self,
        kind: JobKind,
        filing_name: str,
        created_by: str,
        path: Path | None = None,
        sha256: str | None = None,
        filing_id: str | None = None,
    ) -> Job:
        created_at = datetime.now(UTC)
        digest = hashlib.blake2b(digest_size=12)
        for part in (kind, filing_name, sha256 or filing_id or "", created_at.isoformat()):
            digest.update(part.encode())
            digest.update(b"\x00")
        identifier = "j" + digest.hexdigest()
        with self._engine.begin() as connection:
            connection.execute(
                insert(jobs).values(
                    id=identifier,
                    kind=kind,
                    status="queued",
                    filing_name=filing_name,
                    filing_id=filing_id,
                    path=None if path is None else str(path),
                    sha256=sha256,
                    created_by=created_by,
                    created_at=created_at,
                    attempts=0,
                )
            )
        return self.get(identifier)

    def get(self, job_id: str) -> Job:
        with self._engine.connect() as connection:
            row = connection.execute(select(jobs).where(jobs.c.id == job_id)).first()
        if row is None:
            raise JobNotFoundError(f"no job with id {job_id}")
        return _job(row)

    def list(self, limit: int = 100) -> list[Job]:
        with self._engine.connect() as connection:
            rows = connection.execute(
                select(jobs).order_by(jobs.c.created_at.desc()).limit(limit)
            ).all()
        return [_job(row) for row in rows]

    def claim_next(self) -> Job | None:
        """The oldest queued job, now marked running. The claim is a compare-and-set on its
        status: of two workers (two API processes on one database) that pick the same job,
        one wins and the other tries the next, so no job runs twice."""
        while True:
            with self._engine.begin() as connection:
                row = connection.execute(
                    select(jobs.c.id)
                    .where(jobs.c.status == "queued")
                    .order_by(jobs.c.created_at, jobs.c.id)
                    .limit(1)
                ).first()
                if row is None:
                    return None
                now = datetime.now(UTC)
                claimed = connection.execute(
                    update(jobs)
                    .where(jobs.c.id == row.id, jobs.c.status == "queued")
                    .values(
                        status="running",
                        started_at=now,
                        heartbeat_at=now,
                        attempts=jobs.c.attempts + 1,
                    )
                )
            if claimed.rowcount == 1:
                return self.get(row.id)

    def finish(self, job_id: str, result: dict[str, Any] | None, error: str | None = None) -> None:
        with self._engine.begin() as connection:
            connection.execute(
                update(jobs)
                .where(jobs.c.id == job_id)
                .values(
                    status="failed" if error else "done",
                    finished_at=datetime.now(UTC),
                    result=result,
                    error=error,
                )
            )

    def heartbeat(self, job_id: str) -> None:
        """The worker running the job is alive."""
        with self._engine.begin() as connection:
            connection.execute(
                update(jobs)
                .where(jobs.c.id == job_id, jobs.c.status == "running")
                .values(heartbeat_at=datetime.now(UTC))
            )

    def requeue_interrupted(self, stale_after: timedelta) -> int:
        """Jobs left ``running`` by a worker that died (no heartbeat for ``stale_after``) go
        back to the queue; those another live process is running stay where they are."""
        cutoff = datetime.now(UTC) - stale_after
        with self._engine.begin() as connection:
            result = connection.execute(
                update(jobs)
                .where(
                    jobs.c.status == "running",
                    or_(jobs.c.heartbeat_at.is_(None), jobs.c.heartbeat_at < cutoff),
                )
                .values(status="queued")
            )
        return int(result.rowcount or 0)

    def pending(self) -> int:
        with self._engine.connect() as connection:
            return len(
                connection.execute(
                    select(jobs.c.id).where(jobs.c.status.in_(("queued", "running")))
                ).all()
            )


# What a job does to the index: ingest this file / remove this filing name. Injected, so the
# worker is testable without the embedding model and the API layer stays out of ingest.
IngestFile = Callable[[Path], dict[str, Any]]
RemoveFiling = Callable[[str], dict[str, Any]]


class JobWorker:
    """One background thread that runs queued jobs in order. While a job runs, the worker
    beats every ``heartbeat_seconds``; a running job without a beat for four of them is taken
    for one whose process died, and any worker (of this or another API process on the same
    database) puts it back in the queue."""

    def __init__(
        self,
        store: JobStore,
        ingest_file: IngestFile,
        remove_filing: RemoveFiling,
        on_change: Callable[[], None] | None = None,
        max_attempts: int = 3,
        heartbeat_seconds: float = 15.0,
    ) -> None:
        self._store = store
        self._heartbeat = heartbeat_seconds
        self._stale_after = timedelta(seconds=4 * heartbeat_seconds)
        self._ingest_file = ingest_file
        self._remove_filing = remove_filing
        self._on_change = on_change
        self._max_attempts = max_attempts
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._requeue_dead()
        self._thread = threading.Thread(target=self._run, name="verirag-jobs", daemon=True)
        self._thread.start()
        self._wake.set()

    def notify(self) -> None:
        self._wake.set()

    def stop(self, timeout: float = 30.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _requeue_dead(self) -> None:
        interrupted = self._store.requeue_interrupted(self._stale_after)
        if interrupted:
            logger.info("requeued %d jobs whose worker stopped beating", interrupted)

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(timeout=min(5.0, self._heartbeat))
            self._wake.clear()
            self._requeue_dead()
            while not self._stop.is_set():
                job = self._store.claim_next()
                if job is None:
                    break
                self.run_one(job)

    def run_one(self, job: Job) -> None:
        if job.attempts > self._max_attempts:
            self._store.finish(
                job.id, None, f"gave up after {job.attempts - 1} interrupted attempts"
            )
            return
        # What a job says is read by admins over the API: the upload's own name, never the
        # staging path it was stored under.
        paths = {Path(job.path): Path(job.path).name} if job.path else {}
        running = threading.Event()
        beating = threading.Thread(
            target=self._beat, args=(job.id, running), name="verirag-job-heartbeat", daemon=True
        )
        beating.start()
        try:
            self._execute(job, paths)
        finally:
            running.set()
            beating.join()

    def _beat(self, job_id: str, done: threading.Event) -> None:
        while not done.wait(self._heartbeat):
            try:
                self._store.heartbeat(job_id)
            except Exception:  # a missed beat is retried; it must not end the job
                logger.exception("job %s: heartbeat failed", job_id)

    def _execute(self, job: Job, paths: dict[Path, str]) -> None:
        try:
            if job.kind == "ingest":
                assert job.path is not None
                result = self._ingest_file(Path(job.path))
            else:
                result = self._remove_filing(job.filing_name)
        except Exception as exc:  # a job's failure is recorded, never kills the worker
            logger.exception("job %s failed", job.id)
            self._store.finish(job.id, None, without_paths(f"{type(exc).__name__}: {exc}", paths))
            return
        result = {
            key: without_paths(value, paths) if isinstance(value, str) else value
            for key, value in result.items()
        }
        error = result.get("reason") if result.get("outcome") == "failed" else None
        self._store.finish(job.id, result, error)
        if self._on_change is not None and not error:
            self._on_change()


def file_result_dump(result: Any) -> dict[str, Any]:
    values = asdict(result)
    values["outcome"] = result.outcome.value
    return values
