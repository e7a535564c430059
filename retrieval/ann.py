"""Approximate FAISS indexes (HNSW, IVF) built from the exact index, for large corpora.

The exact flat index written by ingest stays the source of truth; an approximate one is built
from its vectors on first use and cached beside it under the same index version, so it can
never describe other content than the docstore. ``bench/retrieval.py`` and the tests measure
its recall against exact search.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Literal

import numpy as np

AnnKind = Literal["flat", "hnsw", "ivf"]

HNSW_NEIGHBOURS = 32  # M: graph degree; 32 is FAISS's usual choice for ~100-1000-d vectors
HNSW_EF_CONSTRUCTION = 80
HNSW_EF_SEARCH = 96  # candidates kept while searching: the recall/latency knob
IVF_PROBES = 16  # lists searched per query


def _vectors_of(exact: Any) -> tuple[np.ndarray, np.ndarray]:
    import faiss

    ids = faiss.vector_to_array(exact.id_map).astype(np.int64)
    vectors = (
        exact.index.reconstruct_n(0, exact.ntotal)
        if exact.ntotal
        else np.zeros((0, exact.d), dtype=np.float32)
    )
    return np.ascontiguousarray(vectors, dtype=np.float32), ids


def build(exact: Any, kind: AnnKind) -> Any:
    """An approximate copy of an ``IndexIDMap2(IndexFlatIP)``, with the same ids."""
    import faiss

    if kind == "flat":
        return exact
    vectors, ids = _vectors_of(exact)
    dimension = exact.d
    inner: Any
    if kind == "hnsw":
        inner = faiss.IndexHNSWFlat(dimension, HNSW_NEIGHBOURS, faiss.METRIC_INNER_PRODUCT)
        inner.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
        inner.hnsw.efSearch = HNSW_EF_SEARCH
    else:
        # ~4·sqrt(n) lists: the usual IVF sizing; at least one, and never more than points.
        lists = max(1, min(len(ids), int(4 * math.sqrt(max(len(ids), 1)))))
        quantizer = faiss.IndexFlatIP(dimension)
        inner = faiss.IndexIVFFlat(quantizer, dimension, lists, faiss.METRIC_INNER_PRODUCT)
        if len(ids):
            inner.train(vectors)
        inner.nprobe = min(IVF_PROBES, lists)
    index = faiss.IndexIDMap2(inner)
    if len(ids):
        index.add_with_ids(vectors, ids)
    return index


def search_parameters(kind: AnnKind, selector: Any) -> Any:
    import faiss

    # (faiss's type stubs lag its SWIG bindings: these keyword arguments exist.)
    if kind == "hnsw":
        return faiss.SearchParametersHNSW(  # type: ignore[attr-defined]
            sel=selector, efSearch=HNSW_EF_SEARCH
        )
    if kind == "ivf":
        return faiss.SearchParametersIVF(sel=selector, nprobe=IVF_PROBES)  # type: ignore[call-arg]
    return faiss.SearchParameters(sel=selector)  # type: ignore[call-arg]


def cached(exact: Any, kind: AnnKind, path: Path) -> Any:
    import faiss

    if kind == "flat":
        return exact
    if path.exists():
        return faiss.read_index(str(path))
    index = build(exact, kind)
    temporary = path.with_suffix(".tmp")
    faiss.write_index(index, str(temporary))
    temporary.replace(path)
    return index


def search(
    index: Any, kind: AnnKind, query: np.ndarray, k: int, allowed: np.ndarray | None = None
) -> list[tuple[int, float]]:
    """(vector id, inner product) best first; ``allowed`` restricts to those ids."""
    import faiss

    if index.ntotal == 0 or k <= 0 or (allowed is not None and allowed.size == 0):
        return []
    params = None if allowed is None else search_parameters(kind, faiss.IDSelectorBatch(allowed))
    scores, ids = index.search(query.reshape(1, -1).astype(np.float32), k, params=params)
    return [
        (int(vector_id), float(score))
        for vector_id, score in zip(ids[0], scores[0], strict=True)
        if vector_id >= 0
    ]
