"""Sentence vectors for the engine's learned pieces, computed once per text.

The operation classifier and the cell linker were trained on vectors of one embedding model
(recorded in their model cards); ``TextVectors`` wraps that model and remembers the vectors
of texts it has seen (a report's row labels are embedded once, not once per question)."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence

import numpy as np

from ingest.embedding import Embedder

MAX_REMEMBERED = 50_000


class TextVectors:
    def __init__(self, embedder: Embedder) -> None:
        self.embedder = embedder
        self._known: OrderedDict[str, np.ndarray] = OrderedDict()

    @property
    def model_id(self) -> str:
        return self.embedder.model_id

    def __call__(self, texts: Sequence[str]) -> np.ndarray:
        missing = [t for t in dict.fromkeys(texts) if t not in self._known]
        if missing:
            for text, vector in zip(missing, self.embedder.embed_documents(missing), strict=True):
                self._known[text] = np.asarray(vector, dtype=np.float32)
            while len(self._known) > MAX_REMEMBERED:
                self._known.popitem(last=False)
        if not texts:
            return np.zeros((0, 0), dtype=np.float32)
        return np.stack([self._known[t] for t in texts])
