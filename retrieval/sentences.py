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

from retrieval.query import STOPWORDS, SearchQuery, as_query

_WORD = re.compile(r"[a-z0-9]+")


class SentenceRanker(Protocol):
    def warm_up(self) -> None: ...

    def rank(self, question: SearchQuery | str, sentences: Sequence[dict[str, Any]]) -> list[int]:
        """Indices of ``sentences``, best first."""
        ...


def _words(text: str) -> set[str]:
    return {w for w in _WORD.findall(text.lower()) if w not in STOPWORDS and len(w) > 1}


def _expanded(question: SearchQuery) -> set[str]:
    words = _words(question.text)
    for phrase in question.expansions:
        words |= _words(phrase)
    return words


class EmbeddingSentenceRanker:
    """``embedded``: how many sentences, the best by words and figures, are embedded (their
    first ``embedded_chars`` characters) and ranked by cosine as well; the rest follow in word
    order. Embedding every sentence of every retrieved chunk cost about 0.8 s a question on
    one core (most of an answer's time), and a sentence that shares none of the question's
    words almost never makes the shown context."""

    def __init__(
        self,
        embedder: Any,
        lexical_weight: float = 0.5,
        figure_bonus: float = 0.05,
        embedded: int = 16,
        embedded_chars: int = 240,
    ):
        self._embedder = embedder
        self._lexical_weight = lexical_weight
        self._figure_bonus = figure_bonus
        self._embedded = embedded
        self._embedded_chars = embedded_chars

    def warm_up(self) -> None:
        self._embedder.warm_up()

    def rank(self, question: SearchQuery | str, sentences: Sequence[dict[str, Any]]) -> list[int]:
        if not sentences:
            return []
        question = as_query(question)
        texts = [
            " ".join(filter(None, [s.get("table_title"), " ".join(s["text"].split())]))
            for s in sentences
        ]
        wanted = _expanded(question)
        lexical = []
        for index, sentence in enumerate(sentences):
            have = _words(texts[index])
            overlap = len(wanted & have) / max(1, len(wanted))
            figures = sentence["kind"] == "table_row" and bool(re.search(r"\d", sentence["text"]))
            lexical.append(
                self._lexical_weight * overlap + (self._figure_bonus if figures else 0.0)
            )
        by_words = sorted(range(len(sentences)), key=lambda i: -lexical[i])
        chosen, rest = by_words[: self._embedded], by_words[self._embedded :]
        query = self._embedder.embed_query(question.text)
        # A sentence's opening says what it is about; its tail (a long row's last columns, a
        # wrapped paragraph) costs as much to embed and adds little to the ranking.
        heads = [texts[i][: self._embedded_chars] for i in chosen]
        cosines = self._embedder.embed_documents(heads) @ query
        scores = {i: float(cosine) + lexical[i] for i, cosine in zip(chosen, cosines, strict=True)}
        return sorted(chosen, key=lambda i: -scores[i]) + rest
