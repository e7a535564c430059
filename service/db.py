"""The service database: answers, feedback, reviews, API keys and ingest jobs (SQLAlchemy 2
Core).

SQLite in WAL mode with ``synchronous=FULL`` is the embedded default; PostgreSQL works by URL.
The schema is owned by the Alembic migrations in ``service/migrations``; ``open_database``
brings a database to the newest revision before anything reads or writes it. Answers and
feedback are append-only: the migrations install triggers that refuse UPDATE and DELETE on
both, so not even a bug in this code can rewrite what compliance reviews.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import (
    JSON,
    Column,
    DateTime,
    Engine,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    create_engine,
    event,
)

metadata = MetaData()

answers = Table(
    "answers",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("user_id", String(64), nullable=True, comment="API key owner; NULL from the CLI."),
    Column("question", Text, nullable=False),
    Column("outcome", String(16), nullable=False, comment="answered | partial | refused"),
    Column("model", String(255), nullable=False),
    Column("adapter", String(255), nullable=True),
    Column("constitution_version", String(128), nullable=False),
    Column("index_version", String(128), nullable=False),
    Column("record", Text, nullable=False, comment="The full audit record as JSON."),
    Index("answers_by_time", "created_at", "id"),
    Index("answers_by_user", "user_id", "created_at"),
)

answer_filings = Table(
    "answer_filings",
    metadata,
    Column("answer_id", String(64), ForeignKey("answers.id"), primary_key=True),
    Column("filing_id", String(64), primary_key=True),
    Column("filing_name", String(255), nullable=False),
    Index("answer_filings_by_filing", "filing_id"),
    Index("answer_filings_by_name", "filing_name"),
)

feedback = Table(
    "feedback",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("answer_id", String(64), ForeignKey("answers.id"), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("user_id", String(64), nullable=False),
    Column("role", String(16), nullable=False),
    Column("rating", Integer, nullable=True),
    Column("comment", Text, nullable=True),
    Column("claim_labels", JSON, nullable=False),
    Column("corrected_answer", Text, nullable=True),
    Column("other_answer_id", String(64), ForeignKey("answers.id"), nullable=True),
    Column("preferred", String(8), nullable=True, comment="this | other"),
    Index("feedback_by_answer", "answer_id", "created_at"),
)

api_keys = Table(
    "api_keys",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("name", String(255), nullable=False),
    Column("role", String(16), nullable=False),
    Column("secret_hash", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("revoked_at", DateTime(timezone=True), nullable=True),
)

jobs = Table(
    "jobs",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("kind", String(16), nullable=False, comment="ingest | delete"),
    Column("status", String(16), nullable=False, comment="queued | running | done | failed"),
    Column("filing_name", String(255), nullable=False),
    Column("filing_id", String(64), nullable=True),
    Column("path", Text, nullable=True, comment="The uploaded file, for ingest jobs."),
    Column("sha256", String(64), nullable=True),
    Column("created_by", String(64), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("started_at", DateTime(timezone=True), nullable=True),
    Column("finished_at", DateTime(timezone=True), nullable=True),
    Column("error", Text, nullable=True),
    Column("result", JSON, nullable=True),
    Column("attempts", Integer, nullable=False, default=0),
    Column(
        "heartbeat_at",
        DateTime(timezone=True),
        nullable=True,
        comment="When the worker running it last showed it is alive.",
    ),
    Index("jobs_by_status", "status", "created_at"),
)

# Token buckets shared by every API process on the database (VERIRAG_RATE_LIMIT_SCOPE=database).
rate_buckets = Table(
    "rate_buckets",
    metadata,
    Column("key", String(320), primary_key=True, comment="limiter:caller"),
    Column("tokens", Float, nullable=False),
    Column("at", Float, nullable=False, comment="Unix time of the last refill."),
)


# Compliance review, append-only: every assignment, per-citation decision, verdict and
# adjudication is one row with who, when, what and the value it replaced (migration 0004).
review_events = Table(
    "review_events",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("answer_id", String(64), ForeignKey("answers.id"), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("actor_id", String(64), nullable=False, comment="API key id of the reviewer."),
    Column("action", String(16), nullable=False, comment="assign | label | adjudicate"),
    Column("target", String(64), nullable=False, comment="verdict | citation:C:K | reviewer"),
    Column("value", String(64), nullable=False),
    Column("reason", String(32), nullable=True, comment="Reason code of a rejected citation."),
    Column("note", Text, nullable=True),
    Column("previous", JSON, nullable=True, comment="The value this event replaced, if any."),
    Index("review_events_by_answer", "answer_id", "created_at"),
    Index("review_events_by_actor", "actor_id", "created_at"),
)


# Browser sessions of the review pages: the cookie holds a random token, this table its hash;
# the API key never leaves the login form. Closed at logout, expired after a working day.
review_sessions = Table(
    "review_sessions",
    metadata,
    Column("id", String(64), primary_key=True, comment="sha256 of the session token"),
    Column("key_id", String(64), ForeignKey("api_keys.id"), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    Column("closed_at", DateTime(timezone=True), nullable=True),
)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    # FULL: a commit is on disk before the client hears of it, even across power loss.
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def create_database_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 30})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=10)


def migrate(engine: Engine) -> None:
    """Bring the database to the newest schema revision (idempotent)."""
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", "service:migrations")
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")


def open_database(url: str) -> Engine:
    engine = create_database_engine(url)
    migrate(engine)
    return engine
