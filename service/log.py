"""The durable interaction log: one append-only row per answer, with its full audit record.

SQLite in WAL mode with synchronous=FULL, so a record returned by ``append`` survives a crash
of the process that wrote it. Rows are never updated or deleted through this class.
"""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

from service.answers import AuditRecord
from service.errors import AnswerNotFoundError

LOG_FILE = "interactions.sqlite"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS answers (
    id TEXT PRIMARY KEY,
    created_at TEXT NOT NULL,
    question TEXT NOT NULL,
    refused INTEGER NOT NULL,
    partial INTEGER NOT NULL,
    model TEXT NOT NULL,
    constitution_version TEXT NOT NULL,
    index_version TEXT NOT NULL,
    record TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS answers_by_time ON answers (created_at);
CREATE TRIGGER IF NOT EXISTS answers_append_only_update BEFORE UPDATE ON answers
BEGIN SELECT RAISE(ABORT, 'the interaction log is append-only'); END;
CREATE TRIGGER IF NOT EXISTS answers_append_only_delete BEFORE DELETE ON answers
BEGIN SELECT RAISE(ABORT, 'the interaction log is append-only'); END;
"""


class InteractionLog:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(_SCHEMA)
        # One connection serves every thread; its transactions must not interleave.
        self._lock = threading.Lock()

    @classmethod
    def in_data_dir(cls, data_dir: Path) -> InteractionLog:
        return cls(data_dir / LOG_FILE)

    def append(self, record: AuditRecord) -> None:
        answer = record.answer
        with self._lock, self._db:
            self._db.execute("BEGIN IMMEDIATE")
            self._db.execute(
                "INSERT INTO answers (id, created_at, question, refused, partial, model, "
                "constitution_version, index_version, record) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    answer.id,
                    answer.created_at,
                    answer.question,
                    int(answer.refused),
                    int(answer.partial),
                    answer.model,
                    answer.constitution_version,
                    answer.versions.index,
                    record.model_dump_json(),
                ),
            )

    def get(self, answer_id: str) -> AuditRecord:
        row = self._db.execute("SELECT record FROM answers WHERE id = ?", (answer_id,)).fetchone()
        if row is None:
            raise AnswerNotFoundError(f"no answer with id {answer_id}")
        return AuditRecord.model_validate_json(row[0])

    def count(self) -> int:
        return int(self._db.execute("SELECT count(*) FROM answers").fetchone()[0])

    def recent(self, limit: int = 50) -> list[AuditRecord]:
        rows = self._db.execute(
            "SELECT record FROM answers ORDER BY created_at DESC, id LIMIT ?", (limit,)
        ).fetchall()
        return [AuditRecord.model_validate_json(row[0]) for row in rows]

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> InteractionLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
