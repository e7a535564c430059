"""What a retriever returns: scored chunks with their filing, page, section and sentences."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class ScoredChunk:
    chunk_id: str
    filing: str  # the filing's name (file stem)
    filing_id: str
    page: int  # zero-indexed
    section: str | None
    score: float
    text: str
    sentence_ids: list[str]


class Retriever(Protocol):
    def warm_up(self) -> None: ...

    def retrieve(
        self, query: str, top_k: int = 10, filings: list[str] | None = None
    ) -> list[ScoredChunk]: ...
