"""The engine as a drafter of the answer pipeline: the question read once, a plan over the
tables and prose the retrieval found, executed, and written as a draft the verifier checks.

It answers from the tables whose rows were retrieved (whole tables, so a period's column or
a group's label is there even when retrieval returned one row) and from the retrieved prose.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from typing import Any

from engine.drafts import draft_of
from engine.evidence import grids_of
from engine.planner import CpuPlanner, Evidence
from engine.plans import Plan, PlanError, Refusal, execute
from engine.question import LinearOperationClassifier, Question, QuestionReader, Vectors
from ingest.store import IndexStore
from verifier.types import DraftAnswer

MAX_TABLES = 12  # the tables of the best retrieved rows a plan may read


@dataclass(frozen=True, slots=True)
class EngineDraft:
    question: Question
    plan: Plan
    draft: DraftAnswer  # citations hold stored sentence ids until the pipeline labels them
    cited: list[str]  # stored sentence ids the draft cites, in order


def models_version() -> str:
    """A content hash of the shipped models: what an answer records as its drafter."""
    digest = hashlib.sha256()
    folder = resources.files("engine").joinpath("models")
    for name in ("operation.json", "link.json", "spans.json", "confidence.json"):
        digest.update(folder.joinpath(name).read_bytes())
    return digest.hexdigest()[:12]


class AnswerEngine:
    def __init__(self, store: IndexStore, reader: QuestionReader, planner: CpuPlanner) -> None:
        self.store = store
        self.reader = reader
        self.planner = planner
        self.version = f"verirag-engine@{models_version()}"

    @classmethod
    def packaged(cls, store: IndexStore, vectors: Vectors | None = None) -> AnswerEngine:
        reader = QuestionReader(LinearOperationClassifier.packaged(vectors))
        return cls(store, reader, CpuPlanner.packaged(vectors))

    def evidence(self, rows: Sequence[dict[str, Any]]) -> Evidence:
        table_ids = list(dict.fromkeys(r["table_id"] for r in rows if r.get("table_id")))
        tables = self.store.tables_by_ids(table_ids[:MAX_TABLES])
        wanted = [sid for table in tables for sid in table.row_sentence_ids]
        texts = {row["id"]: row["text"] for row in self.store.sentences_by_ids(wanted)}
        prose = [(row["id"], row["text"]) for row in rows if row["kind"] == "prose"]
        return Evidence(grids=grids_of(tables, texts), sentences=prose)

    def read(self, question_text: str) -> Question:
        return self.reader.read(question_text)

    def draft(self, question: Question, rows: Sequence[dict[str, Any]]) -> EngineDraft | None:
        plan = self.planner.plan(question, self.evidence(rows))
        if isinstance(plan, Refusal):
            return None
        try:
            result = execute(plan)
        except PlanError:
            return None
        draft = draft_of(plan, result, question.operation.value, lambda sid: sid)
        cited = list(
            dict.fromkeys(c.sentence_id for claim in draft.claims for c in claim.citations)
        )
        return EngineDraft(question, plan, draft, cited)
