"""Orders the sentences of retrieved chunks by how well each answers the question.

A small generator leans on what it reads first, so the sentence most likely to hold the
answer should be S1. The score blends the embedding cosine of question and sentence with the
share of the question's content words (expanded with the financial line-item vocabulary) that the
sentence, or the table it belongs to, contains; statement rows with figures get a nudge
because FinanceBench-style questions are mostly about figures.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any, Protocol

from ingest.vocabulary import expansion_phrases
from retrieval.lexical import STOPWORDS

_WORD = re.compile(r"[a-z0-9]+")


class SentenceRanker(Protocol):
    def warm_up(self) -> None: ...

    def rank(self, question: str, sentences: Sequence[dict[str, Any]]) -> list[int]:
        """Indices of ``sentences``, best first."""
        ...


def _words(text: str) -> set[str]:
    return {w for w in _WORD.findall(text.lower()) if w not in STOPWORDS and len(w) > 1}


def _expanded(question: str) -> set[str]:
    words = _words(question)
    for phrase in expansion_phrases(question):
        words |= _words(phrase)
    return words


class EmbeddingSentenceRanker:
    def __init__(self, embedder: Any, lexical_weight: float = 0.5, figure_bonus: float = 0.05):
        self._embedder = embedder
        self._lexical_weight = lexical_weight
        self._figure_bonus = figure_bonus

    def warm_up(self) -> None:
        self._embedder.warm_up()

    def rank(self, question: str, sentences: Sequence[dict[str, Any]]) -> list[int]:
        if not sentences:
            return []
        texts = [
            " ".join(filter(None, [s.get("table_title"), " ".join(s["text"].split())]))
            for s in sentences
        ]
        query = self._embedder.embed_query(question)
        cosines = self._embedder.embed_documents(texts) @ query
        wanted = _expanded(question)
        scores = []
        for index, sentence in enumerate(sentences):
            have = _words(texts[index])
            overlap = len(wanted & have) / max(1, len(wanted))
            figures = sentence["kind"] == "table_row" and bool(re.search(r"\d", sentence["text"]))
            scores.append(
                float(cosines[index])
                + self._lexical_weight * overlap
                + (self._figure_bonus if figures else 0.0)
            )
        return sorted(range(len(sentences)), key=lambda i: -scores[i])
