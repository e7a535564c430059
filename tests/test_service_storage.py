"""The service database on SQLite and on a real PostgreSQL server: migrations, the append-only
interaction log, feedback, keys and jobs."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError

from engine.answers import AuditRecord
from engine.settings import get_settings
from ingest.store import IndexStore
from service.db import create_database_engine, migrate, open_database
from service.errors import AnswerNotFoundError, AuthenticationError, KeyNotFoundError
from service.jobs import JobStore, JobWorker
from service.keys import KeyStore, Role
from service.log import AnswerQuery, FeedbackRecord, InteractionLog
from tests.test_answer_pipeline import QUESTION, ScriptedGenerator, _pipeline, good_draft


@pytest.fixture(scope="module")
def record(acme_index: Path) -> AuditRecord:
    with IndexStore(acme_index) as store:
        return _pipeline(store, ScriptedGenerator(good_draft)).answer(QUESTION)


def _copy(record: AuditRecord, answer_id: str, at: datetime) -> AuditRecord:
    copy = record.model_copy(deep=True)
    copy.answer.id = answer_id
    copy.answer.created_at = at.isoformat()
    return copy


def test_migrations_are_idempotent_and_versioned(database_url: str) -> None:
    engine = open_database(database_url)
    migrate(engine)  # again: nothing to do, nothing lost
    with engine.connect() as connection:
        assert connection.execute(sa.text("SELECT version_num FROM alembic_version")).scalar() == (
            "0004"
        )
        tables = set(sa.inspect(connection).get_table_names())
    assert {
        "answers",
        "answer_filings",
        "feedback",
        "api_keys",
        "jobs",
        "rate_buckets",
        "review_events",
    } <= tables


def test_a_database_of_the_first_schema_upgrades_with_its_jobs(database_url: str) -> None:
    """A service database written before job heartbeats opens under the new code: the column
    is added and the queued job is still there, still claimable."""
    from alembic import command
    from alembic.config import Config

    engine = create_database_engine(database_url)
    config = Config()
    config.set_main_option("script_location", "service:migrations")
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "0001")
    with engine.begin() as connection:
        columns = {c["name"] for c in sa.inspect(connection).get_columns("jobs")}
        assert "heartbeat_at" not in columns
        connection.execute(
            sa.text(
                "INSERT INTO jobs (id, kind, status, filing_name, created_by, created_at, "
                "attempts) VALUES ('j1', 'delete', 'queued', 'OLD', 'kroot', :at, 0)"
            ),
            {"at": datetime.now(UTC)},
        )
    jobs = JobStore(open_database(database_url))
    claimed = jobs.claim_next()
    assert claimed is not None and claimed.id == "j1" and claimed.heartbeat_at is not None


def test_the_audit_record_round_trips_and_the_log_is_append_only(
    database_url: str, record: AuditRecord
) -> None:
    log = InteractionLog(open_database(database_url))
    log.append(record, user_id="kalice")
    stored = log.get(record.answer.id)
    assert stored.model_dump_json() == record.model_dump_json()
    assert log.owner(record.answer.id) == "kalice"
    for statement in (
        "UPDATE answers SET question = 'rewritten'",
        "DELETE FROM answers",
        "DELETE FROM answer_filings",
    ):
        with pytest.raises(DBAPIError, match="append-only"), log.engine.begin() as connection:
            connection.execute(sa.text(statement))
    assert log.get(record.answer.id).answer.question == QUESTION
    with pytest.raises(AnswerNotFoundError):
        log.get("a-missing")
    # The same id twice is refused, not overwritten.
    with pytest.raises(sa.exc.IntegrityError):
        log.append(record)


def test_queries_filter_and_page_newest_first(database_url: str, record: AuditRecord) -> None:
    log = InteractionLog(open_database(database_url))
    start = datetime(2026, 1, 1, tzinfo=UTC)
    for n in range(5):
        log.append(_copy(record, f"a{n}", start + timedelta(hours=n)), user_id=f"k{n % 2}")
    items, cursor = log.query(AnswerQuery(), limit=2)
    assert [i.id for i in items] == ["a4", "a3"] and cursor
    items, cursor = log.query(AnswerQuery(), limit=2, cursor=cursor)
    assert [i.id for i in items] == ["a2", "a1"]
    items, cursor = log.query(AnswerQuery(), limit=2, cursor=cursor)
    assert [i.id for i in items] == ["a0"] and cursor is None
    mine, _ = log.query(AnswerQuery(user_id="k1"))
    assert [i.id for i in mine] == ["a3", "a1"]
    window, _ = log.query(
        AnswerQuery(since=start + timedelta(hours=1), until=start + timedelta(hours=3))
    )
    assert [i.id for i in window] == ["a2", "a1"]
    by_filing, _ = log.query(AnswerQuery(filing="ACME_2023_10K", outcome="answered"))
    assert len(by_filing) == 5 and by_filing[0].created_at.tzinfo is not None
    assert log.query(AnswerQuery(model="another-model"))[0] == []


def test_feedback_is_append_only(database_url: str, record: AuditRecord) -> None:
    log = InteractionLog(open_database(database_url))
    log.append(record)
    stored = log.add_feedback(
        FeedbackRecord(
            record.answer.id,
            "kcarol",
            "compliance",
            rating=2,
            claim_labels=[{"claim_index": 0, "label": "wrong_citation"}],
        )
    )
    (again,) = log.feedback_for(record.answer.id)
    assert again.id == stored.id and again.record.claim_labels[0]["label"] == "wrong_citation"
    with pytest.raises(DBAPIError, match="append-only"), log.engine.begin() as connection:
        connection.execute(sa.text("DELETE FROM feedback"))


def test_keys_authenticate_until_revoked(database_url: str) -> None:
    keys = KeyStore(open_database(database_url), cache_seconds=0)
    key, stored = keys.create(Role.COMPLIANCE, "carol")
    principal = keys.authenticate(key)
    assert principal.key_id == stored.id and principal.role is Role.COMPLIANCE
    with pytest.raises(AuthenticationError):
        keys.authenticate(key[:-1] + ("A" if key[-1] != "A" else "B"))
    keys.revoke(stored.id)
    with pytest.raises(AuthenticationError):
        keys.authenticate(key)
    with pytest.raises(KeyNotFoundError):
        keys.revoke("k-missing")
    assert [k.revoked_at is not None for k in keys.list()] == [True]


def test_interrupted_jobs_run_again_after_a_restart(database_url: str, tmp_path: Path) -> None:
    engine = open_database(database_url)
    jobs = JobStore(engine)
    path = tmp_path / "X_2023_10K.pdf"
    job = jobs.create("ingest", "X_2023_10K", "kroot", path=path, sha256="0" * 64)
    claimed = jobs.claim_next()
    assert claimed is not None and claimed.id == job.id and claimed.status == "running"
    assert jobs.claim_next() is None
    # The process dies here: its job stops beating. The next one finds the job running with a
    # stale heartbeat, requeues and finishes it.
    ran: list[Path] = []
    worker = JobWorker(
        JobStore(create_database_engine(database_url)),
        ingest_file=lambda p: ran.append(p) or {"outcome": "ingested"},
        remove_filing=lambda name: {"outcome": "removed"},
        heartbeat_seconds=0.05,
    )
    worker.start()
    deadline = datetime.now(UTC) + timedelta(seconds=30)
    while jobs.get(job.id).status != "done":
        assert datetime.now(UTC) < deadline
    worker.stop()
    finished = jobs.get(job.id)
    assert ran == [path] and finished.attempts == 2 and finished.result == {"outcome": "ingested"}


def test_a_starting_process_leaves_a_live_workers_job_alone(database_url: str) -> None:
    """Another API process starting (a second replica, a rollout) must not requeue the job a
    live worker is running: it would run twice. The live worker's heartbeat says it is alive."""
    import threading

    engine = open_database(database_url)
    jobs = JobStore(engine)
    job = jobs.create("delete", "BUSY", "kroot")
    release = threading.Event()
    started = threading.Event()

    def slow_remove(name: str) -> dict[str, str]:
        started.set()
        release.wait(30)
        return {"outcome": "removed"}

    live = JobWorker(
        jobs, ingest_file=lambda p: {}, remove_filing=slow_remove, heartbeat_seconds=0.1
    )
    live.start()
    assert started.wait(30)
    time.sleep(1.0)  # ten beats: longer than the four a dead worker's job is given
    other = JobWorker(
        JobStore(create_database_engine(database_url)),
        ingest_file=lambda p: {},
        remove_filing=lambda name: {"outcome": "removed"},
        heartbeat_seconds=0.1,
    )
    other.start()
    time.sleep(0.5)
    running = jobs.get(job.id)
    assert running.status == "running" and running.attempts == 1
    assert running.heartbeat_at is not None
    release.set()
    deadline = time.monotonic() + 30
    while jobs.get(job.id).status != "done":
        assert time.monotonic() < deadline
        time.sleep(0.05)
    other.stop()
    live.stop()
    assert jobs.get(job.id).attempts == 1


def test_workers_of_two_processes_never_claim_one_job_twice(database_url: str) -> None:
    """Two API processes on one database each run a job worker: every queued job is claimed
    by exactly one of them."""
    import threading

    engine = open_database(database_url)
    queued = {JobStore(engine).create("delete", f"F{i}", "kroot").id for i in range(24)}
    claims: list[str] = []
    start = threading.Barrier(4)

    def claim_all() -> None:
        store = JobStore(create_database_engine(database_url))  # a process's own engine
        start.wait()
        while (job := store.claim_next()) is not None:
            claims.append(job.id)

    threads = [threading.Thread(target=claim_all) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert sorted(claims) == sorted(queued)


def test_replicas_on_one_database_share_one_rate_budget(database_url: str) -> None:
    """With VERIRAG_RATE_LIMIT_SCOPE=database, two API processes (here two limiters with their
    own engines) draw on one bucket per caller: five a minute means five in all, not five
    each; each limiter's buckets are its own; a refused caller is told when to come back."""
    import threading

    from service.api.ratelimit import SharedRateLimiter
    from service.errors import RateLimitedError

    open_database(database_url)
    replicas = [
        SharedRateLimiter(create_database_engine(database_url), 5, "requests") for _ in range(2)
    ]
    granted: list[int] = []
    refused: list[float] = []
    lock = threading.Lock()

    def ask(replica: SharedRateLimiter) -> None:
        for _ in range(5):
            try:
                replica.take("kalice")
                with lock:
                    granted.append(1)
            except RateLimitedError as exc:
                with lock:
                    refused.append(exc.retry_after_seconds or 0.0)

    threads = [threading.Thread(target=ask, args=(replica,)) for replica in replicas]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert len(granted) == 5 and len(refused) == 5
    assert all(0 < wait <= 12.5 for wait in refused)  # a token every 12 s at five a minute
    questions = SharedRateLimiter(create_database_engine(database_url), 5, "questions")
    questions.take("kalice")  # another limiter's bucket: untouched by the requests above
    replicas[0].take("kbob")  # another caller's bucket


def test_a_failing_job_is_recorded_and_the_worker_goes_on(database_url: str) -> None:
    jobs = JobStore(open_database(database_url))
    bad = jobs.create("delete", "GONE", "kroot")
    good = jobs.create("delete", "HERE", "kroot")

    def remove(name: str) -> dict[str, str]:
        if name == "GONE":
            raise RuntimeError("disk full")
        return {"outcome": "removed"}

    worker = JobWorker(jobs, ingest_file=lambda p: {}, remove_filing=remove)
    for _ in range(2):
        claimed = jobs.claim_next()
        assert claimed is not None
        worker.run_one(claimed)
    assert jobs.get(bad.id).status == "failed" and "disk full" in (jobs.get(bad.id).error or "")
    assert jobs.get(good.id).status == "done"


def test_the_default_database_is_sqlite_in_wal_mode_in_the_data_dir(tmp_path: Path) -> None:
    settings = get_settings().model_copy(update={"data_dir": tmp_path})
    assert settings.service_database_url == f"sqlite:///{tmp_path.resolve()}/service.sqlite"
    engine = open_database(settings.service_database_url)
    with engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert connection.exec_driver_sql("PRAGMA synchronous").scalar() == 2  # FULL
