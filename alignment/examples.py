"""Training examples and preference pairs in the shapes TRL reads, with what evaluation needs.

A prompt is the exact chat the service sends the generator (``engine.generation.
build_messages``: the labelled filing sentences and the question); a completion is the JSON
answer in the ``DraftAnswer`` schema. Every row also carries its evidence context (so a reward
or an evaluation can verify a completion against it), a question id for the split, and where
the row came from.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import asdict, dataclass, field
from typing import Any

from engine.generation import build_messages
from verifier.types import INSUFFICIENT_EVIDENCE, DraftAnswer, EvidenceContext, EvidenceSentence


def question_id(question: str) -> str:
    """Questions that differ only in case, spacing or punctuation are one question: the split
    keeps all of them on the same side."""
    normal = re.sub(r"[^a-z0-9]+", " ", question.lower()).strip()
    return "q" + hashlib.blake2b(normal.encode(), digest_size=8).hexdigest()


def content_id(*parts: str) -> str:
    digest = hashlib.blake2b(digest_size=10)
    for part in parts:
        digest.update(part.encode())
        digest.update(b"\x00")
    return digest.hexdigest()


def context_dump(context: EvidenceContext) -> str:
    return json.dumps([asdict(sentence) for sentence in context], sort_keys=True)


def context_load(dumped: str | list[dict[str, Any]]) -> EvidenceContext:
    rows = json.loads(dumped) if isinstance(dumped, str) else dumped
    return EvidenceContext([EvidenceSentence.from_dump(row) for row in rows])


def refusal_completion() -> str:
    """The refusal exactly as the service's grammar writes it. Its spacing must match the
    answers' (``completion_text``): a model trained on ``{"claims":[]`` beside
    ``{"claims": [{`` learns the wrong first step and writes empty claims under any answer."""
    return completion_text(
        DraftAnswer(claims=[], answer=INSUFFICIENT_EVIDENCE, insufficient_evidence=True)
    )


def completion_text(draft: DraftAnswer) -> str:
    """The completion exactly as the generator writes it (key order of the grammar)."""
    payload = {
        "claims": [
            {
                "citations": [
                    {"sentence_id": c.sentence_id, "quote": c.quote} for c in claim.citations
                ],
                "text": claim.text,
            }
            for claim in draft.claims
        ],
        "answer": draft.answer,
        "insufficient_evidence": draft.insufficient_evidence,
    }
    return json.dumps(payload, ensure_ascii=False)


@dataclass
class SFTExample:
    question: str
    context: EvidenceContext
    completion: str
    source: str  # "log" | "evidence" | "evidence-refusal" | "revision"
    answerable: bool = True
    gold_answer: str | None = None
    gold_labels: list[str] = field(default_factory=list)
    created_at: str | None = None
    origin: str | None = None  # the answer id or sentence id it was built from

    @property
    def prompt(self) -> list[dict[str, str]]:
        return build_messages(self.question, self.context)

    def row(self) -> dict[str, Any]:
        return {
            "prompt": self.prompt,
            "completion": [{"role": "assistant", "content": self.completion}],
            "question": self.question,
            "question_id": question_id(self.question),
            "context": context_dump(self.context),
            "source": self.source,
            "answerable": self.answerable,
            "gold_answer": self.gold_answer or "",
            "gold_labels": list(self.gold_labels),
            "created_at": self.created_at or "",
            "origin": self.origin or "",
        }

    def key(self) -> str:
        return content_id(context_dump(self.context), self.question, self.completion)


@dataclass
class PreferencePair:
    question: str
    context: EvidenceContext
    chosen: str
    rejected: str
    source: str  # "revision" | "review" | "analyst-preference" | "verified-vs-failed"
    answerable: bool = True
    created_at: str | None = None
    origin: str | None = None

    def row(self) -> dict[str, Any]:
        return {
            "prompt": build_messages(self.question, self.context),
            "chosen": [{"role": "assistant", "content": self.chosen}],
            "rejected": [{"role": "assistant", "content": self.rejected}],
            "question": self.question,
            "question_id": question_id(self.question),
            "context": context_dump(self.context),
            "source": self.source,
            "answerable": self.answerable,
            "created_at": self.created_at or "",
            "origin": self.origin or "",
        }

    def key(self) -> str:
        return content_id(context_dump(self.context), self.question, self.chosen, self.rejected)


def completion_of(row: dict[str, Any], column: str = "completion") -> str:
    """The assistant text of a conversational column, or the column itself when plain."""
    value = row[column]
    if isinstance(value, list):
        return str(value[-1]["content"])
    return str(value)
