"""The durable interaction log: every answer with its full audit record, and the feedback on it.

Append-only (the schema refuses UPDATE and DELETE on answers and feedback). ``append`` returns
only after the transaction has committed, so an answer a client has been given is an answer
on disk. Works on whatever database ``service.db`` opens: SQLite by default, PostgreSQL by URL.
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from sqlalchemy import Engine, and_, exists, func, insert, or_, select

from engine.answers import AuditRecord
from service.db import answer_filings, answers, feedback, open_database
from service.errors import AnswerNotFoundError, InvalidCursorError

Outcome = Literal["answered", "partial", "refused"]


def outcome_of(record: AuditRecord) -> Outcome:
    if record.answer.refused:
        return "refused"
    return "partial" if record.answer.partial else "answered"


@dataclass(frozen=True, slots=True)
class AnswerQuery:
    """Which logged answers to list; every field narrows the result."""

    user_id: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    outcome: Outcome | None = None
    filing: str | None = field(default=None, metadata={"help": "filing id or file name"})
    model: str | None = None
    constitution: str | None = None
    ids: frozenset[str] | None = field(default=None, metadata={"help": "only these answers"})


@dataclass(frozen=True, slots=True)
class LoggedAnswer:
    id: str
    created_at: datetime
    user_id: str | None
    question: str
    outcome: Outcome
    model: str
    adapter: str | None
    constitution_version: str
    index_version: str


@dataclass(frozen=True, slots=True)
class FeedbackRecord:
    answer_id: str
    user_id: str
    role: str
    rating: int | None = None
    comment: str | None = None
    claim_labels: list[dict[str, Any]] = field(default_factory=list)
    corrected_answer: str | None = None
    other_answer_id: str | None = None
    preferred: Literal["this", "other"] | None = None


@dataclass(frozen=True, slots=True)
class StoredFeedback:
    id: str
    created_at: datetime
    record: FeedbackRecord


_LISTED_COLUMNS = (
    "id",
    "created_at",
    "user_id",
    "question",
    "outcome",
    "model",
    "adapter",
    "constitution_version",
    "index_version",
)


def _parse_time(value: str) -> datetime:
    parsed = datetime.fromisoformat(value)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _aware(value: datetime) -> datetime:
    # SQLite hands back naive datetimes for timezone-aware columns; every time here is UTC.
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _utc(value: datetime) -> datetime:
    """A time to compare with stored ones: in UTC, as they are stored. SQLite keeps times as
    text without their offset, so "05:00+05:00" must become "00:00" before it is compared;
    a time given without an offset is taken as UTC."""
    return _aware(value).astimezone(UTC)


def encode_cursor(created_at: datetime, answer_id: str) -> str:
    raw = json.dumps([_aware(created_at).isoformat(), answer_id]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        at, answer_id = json.loads(raw)
        return _utc(_parse_time(at)), str(answer_id)
    except (ValueError, TypeError) as exc:
        raise InvalidCursorError(
            "the cursor is not one this service issued; pass next_cursor unchanged"
        ) from exc


class InteractionLog:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    @classmethod
    def open(cls, url: str) -> InteractionLog:
        return cls(open_database(url))

    @classmethod
    def in_data_dir(cls, data_dir: Path) -> InteractionLog:
        """The log of the service whose data lives in ``data_dir`` (its Settings' database)."""
        from engine.settings import get_settings

        settings = get_settings().model_copy(update={"data_dir": data_dir})
        return cls.open(settings.service_database_url)

    # ---- answers ---------------------------------------------------------------------------

    def append(self, record: AuditRecord, user_id: str | None = None) -> None:
        answer = record.answer
        filings: dict[str, str] = {}
        for claim in answer.claims:
            for citation in claim.citations:
                filings[citation.filing_id] = citation.filing
        for chunk in record.retrieved:
            filings.setdefault(chunk.filing_id or chunk.filing, chunk.filing)
        with self.engine.begin() as connection:
            connection.execute(
                insert(answers).values(
                    id=answer.id,
                    created_at=_parse_time(answer.created_at),
                    user_id=user_id,
                    question=answer.question,
                    outcome=outcome_of(record),
                    model=answer.model,
                    adapter=answer.versions.adapter,
                    constitution_version=answer.constitution_version,
                    index_version=answer.versions.index,
                    record=record.model_dump_json(),
                )
            )
            if filings:
                connection.execute(
                    insert(answer_filings),
                    [
                        {"answer_id": answer.id, "filing_id": fid, "filing_name": name}
                        for fid, name in sorted(filings.items())
                    ],
                )

    def get(self, answer_id: str) -> AuditRecord:
        with self.engine.connect() as connection:
            row = connection.execute(
                select(answers.c.record).where(answers.c.id == answer_id)
            ).first()
        if row is None:
            raise AnswerNotFoundError(f"no answer with id {answer_id}")
        return AuditRecord.model_validate_json(row[0])

    def owner(self, answer_id: str) -> str | None:
        with self.engine.connect() as connection:
            row = connection.execute(
                select(answers.c.user_id).where(answers.c.id == answer_id)
            ).first()
        if row is None:
            raise AnswerNotFoundError(f"no answer with id {answer_id}")
        return None if row[0] is None else str(row[0])

    def count(self) -> int:
        with self.engine.connect() as connection:
            return int(connection.execute(select(func.count()).select_from(answers)).scalar_one())

    def ids(self) -> set[str]:
        with self.engine.connect() as connection:
            return {str(row[0]) for row in connection.execute(select(answers.c.id))}

    def query(
        self, query: AnswerQuery, limit: int = 50, cursor: str | None = None
    ) -> tuple[list[LoggedAnswer], str | None]:
        """Newest first; ``cursor`` (from the previous page) continues after its last row."""
        conditions = []
        if query.user_id is not None:
            conditions.append(answers.c.user_id == query.user_id)
        if query.since is not None:
            conditions.append(answers.c.created_at >= _utc(query.since))
        if query.until is not None:
            conditions.append(answers.c.created_at < _utc(query.until))
        if query.outcome is not None:
            conditions.append(answers.c.outcome == query.outcome)
        if query.model is not None:
            conditions.append(answers.c.model == query.model)
        if query.constitution is not None:
            conditions.append(answers.c.constitution_version == query.constitution)
        if query.ids is not None:
            conditions.append(answers.c.id.in_(sorted(query.ids)))
        if query.filing is not None:
            conditions.append(
                exists().where(
                    answer_filings.c.answer_id == answers.c.id,
                    or_(
                        answer_filings.c.filing_id == query.filing,
                        answer_filings.c.filing_name == query.filing,
                    ),
                )
            )
        if cursor is not None:
            at, last_id = decode_cursor(cursor)
            conditions.append(
                or_(
                    answers.c.created_at < at,
                    and_(answers.c.created_at == at, answers.c.id < last_id),
                )
            )
        statement = (
            select(*(answers.c[name] for name in _LISTED_COLUMNS))
            .where(*conditions)
            .order_by(answers.c.created_at.desc(), answers.c.id.desc())
            .limit(limit + 1)
        )
        with self.engine.connect() as connection:
            rows = connection.execute(statement).all()
        items = [
            LoggedAnswer(**{**row._mapping, "created_at": _aware(row.created_at)})
            for row in rows[:limit]
        ]
        next_cursor = (
            encode_cursor(items[-1].created_at, items[-1].id) if len(rows) > limit else None
        )
        return items, next_cursor

    def recent(self, limit: int = 50) -> list[AuditRecord]:
        items, _ = self.query(AnswerQuery(), limit)
        return [self.get(item.id) for item in items]

    # ---- feedback --------------------------------------------------------------------------

    def add_feedback(self, record: FeedbackRecord) -> StoredFeedback:
        created_at = datetime.now(UTC)
        digest = hashlib.blake2b(digest_size=12)
        digest.update(json.dumps(asdict(record), sort_keys=True).encode())
        digest.update(created_at.isoformat().encode())
        identifier = "f" + digest.hexdigest()
        with self.engine.begin() as connection:
            connection.execute(
                insert(feedback).values(id=identifier, created_at=created_at, **asdict(record))
            )
        return StoredFeedback(identifier, created_at, record)

    def feedback_for(self, answer_id: str) -> list[StoredFeedback]:
        with self.engine.connect() as connection:
            rows = connection.execute(
                select(feedback)
                .where(feedback.c.answer_id == answer_id)
                .order_by(feedback.c.created_at, feedback.c.id)
            ).all()
        fields = FeedbackRecord.__dataclass_fields__
        return [
            StoredFeedback(
                row.id,
                _aware(row.created_at),
                FeedbackRecord(**{name: row._mapping[name] for name in fields}),
            )
            for row in rows
        ]

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> InteractionLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
