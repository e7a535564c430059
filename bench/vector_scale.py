"""How the vector index grows past today's corpus: memory, build time, recall@10 against exact
search and p50 query latency of each index kind, on synthetic vectors at multiples of an
index's size (default 10× and 100×).

The synthetic vectors are the index's own vectors, each drawn again with Gaussian noise and
re-normalised, so they keep the clusters real filings make (uniform random vectors would make
every approximate index look worse than it is on text). Queries are held-out draws made the
same way. The baseline each ratio names is exact search (``flat``) at the same size, measured
in the same run; ``ivf-pq`` (product-quantised lists, vectors held as 48-byte codes) is the
on-disk-sized step beyond what ``VERIRAG_VECTOR_INDEX`` offers today (flat, hnsw, ivf).

    python bench/vector_scale.py --data-dir /tmp/fb-index --scales 10 100 --threads 1
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
CHUNK = 200_000  # vectors made (and added) at a time: 100× never sits in memory twice
PQ_BYTES = 48  # bytes per vector in ivf-pq: 384 dimensions as 48 sub-vectors of 8 bits


def make_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", type=Path, required=True, help="verirag index")
    parser.add_argument("--scales", type=int, nargs="+", default=[10, 100])
    parser.add_argument(
        "--kinds",
        nargs="+",
        default=["flat", "hnsw", "ivf", "ivf-pq"],
        help="index kinds; hnsw and ivf hold every vector in memory, ivf-pq 48-byte codes",
    )
    parser.add_argument(
        "--max-memory-gb",
        type=float,
        default=12.0,
        help="skip (and say so) a kind whose vectors would need more memory than this",
    )
    parser.add_argument(
        "--hnsw-max-vectors",
        type=int,
        default=1_000_000,
        help="skip (and say so) HNSW above this many vectors: its build is single-threaded "
        "graph insertion, ~4 min per 500k vectors on one core here",
    )
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument(
        "--noise", type=float, default=0.35, help="σ of the noise per dimension ×√d"
    )
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--out", type=Path)
    return parser


def _draws(base: np.ndarray, count: int, noise: float, rng: np.random.Generator) -> np.ndarray:
    picked = base[rng.integers(0, len(base), size=count)]
    drawn = picked + rng.normal(0.0, noise / math.sqrt(base.shape[1]), size=picked.shape)
    drawn /= np.linalg.norm(drawn, axis=1, keepdims=True)
    return drawn.astype(np.float32)


def _chunks(
    base: np.ndarray, total: int, noise: float, seed: int
) -> Any:  # yields (start, vectors)
    rng = np.random.default_rng(seed)
    for start in range(0, total, CHUNK):
        yield start, _draws(base, min(CHUNK, total - start), noise, rng)


def _exact_top(
    base: np.ndarray, total: int, noise: float, seed: int, queries: np.ndarray, k: int
) -> np.ndarray:
    """Exact top-k ids for each query, streamed over the chunks (never all in memory)."""
    best_scores = np.full((len(queries), k), -np.inf, dtype=np.float32)
    best_ids = np.zeros((len(queries), k), dtype=np.int64)
    for start, vectors in _chunks(base, total, noise, seed):
        scores = queries @ vectors.T
        ids = np.arange(start, start + len(vectors))[None, :].repeat(len(queries), axis=0)
        merged_scores = np.concatenate([best_scores, scores], axis=1)
        merged_ids = np.concatenate([best_ids, ids], axis=1)
        order = np.argsort(-merged_scores, axis=1)[:, :k]
        best_scores = np.take_along_axis(merged_scores, order, axis=1)
        best_ids = np.take_along_axis(merged_ids, order, axis=1)
    return best_ids


def _build(kind: str, dimension: int, total: int, train: np.ndarray) -> Any:
    import faiss

    from retrieval.ann import HNSW_EF_CONSTRUCTION, HNSW_EF_SEARCH, HNSW_NEIGHBOURS, IVF_PROBES

    lists = max(1, int(4 * math.sqrt(total)))
    index: Any
    if kind == "flat":
        return faiss.IndexFlatIP(dimension)
    if kind == "hnsw":
        index = faiss.IndexHNSWFlat(dimension, HNSW_NEIGHBOURS, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
        index.hnsw.efSearch = HNSW_EF_SEARCH
        return index
    quantizer = faiss.IndexFlatIP(dimension)
    if kind == "ivf":
        index = faiss.IndexIVFFlat(quantizer, dimension, lists, faiss.METRIC_INNER_PRODUCT)
    else:
        index = faiss.IndexIVFPQ(
            quantizer, dimension, lists, PQ_BYTES, 8, faiss.METRIC_INNER_PRODUCT
        )
    index.train(train)
    index.nprobe = IVF_PROBES
    return index


def _bytes(kind: str, total: int, dimension: int) -> float:
    """The vectors' memory: 4 bytes a dimension, or the PQ code; HNSW adds its graph."""
    if kind == "ivf-pq":
        return total * (PQ_BYTES + 8)  # the code and its id in the inverted list
    extra = 2 * 32 * 4 if kind == "hnsw" else (8 if kind == "ivf" else 0)
    return total * (dimension * 4 + extra)


def measure(
    kind: str,
    base: np.ndarray,
    total: int,
    args: argparse.Namespace,
    queries: np.ndarray,
    truth: np.ndarray,
) -> dict[str, Any]:
    import faiss

    dimension = base.shape[1]
    needed = _bytes(kind, total, dimension) / 1e9
    if needed > args.max_memory_gb:
        return {"skipped": f"needs ~{needed:.1f} GB of vectors (> --max-memory-gb)"}
    if kind == "hnsw" and total > args.hnsw_max_vectors:
        return {"skipped": f"{total:,} vectors > --hnsw-max-vectors (build time)"}
    train_rng = np.random.default_rng(args.seed + 1)
    lists = max(1, int(4 * math.sqrt(total)))
    train = _draws(base, min(total, max(40 * lists, 50_000)), args.noise, train_rng)
    started = time.perf_counter()
    index = _build(kind, dimension, total, train)
    for _, vectors in _chunks(base, total, args.noise, args.seed):
        index.add(vectors)
    build_seconds = time.perf_counter() - started
    # Serialising copies the index; above ~2 GB that copy is what runs out of memory.
    size = len(faiss.serialize_index(index)) if needed < 2.0 else None
    latencies = []
    found = np.zeros_like(truth)
    for position, query in enumerate(queries):
        began = time.perf_counter()
        _, ids = index.search(query[None, :], truth.shape[1])
        latencies.append(1000 * (time.perf_counter() - began))
        found[position] = ids[0]
    recall = statistics.fmean(
        len(set(found[i]) & set(truth[i])) / truth.shape[1] for i in range(len(queries))
    )
    return {
        "build_seconds": round(build_seconds, 1),
        "index_bytes": size,
        "vector_memory_gb": round(needed, 3),
        "recall_at_10": round(recall, 4),
        "p50_ms": round(statistics.median(latencies), 2),
    }


def main(argv: list[str] | None = None) -> int:
    args = make_parser().parse_args(argv)
    import faiss

    from ingest.store import IndexStore

    faiss.omp_set_num_threads(args.threads)
    with IndexStore(args.data_dir) as store:
        exact = store.vector_index()
        base = np.ascontiguousarray(exact.index.reconstruct_n(0, exact.ntotal), dtype=np.float32)
    if not len(base):
        print(f"error: {args.data_dir} holds no vectors; ingest filings first", file=sys.stderr)
        return 2
    results: dict[str, Any] = {
        "corpus_vectors": len(base),
        "dimension": base.shape[1],
        "threads": args.threads,
        "scales": {},
    }
    for scale in args.scales:
        total = scale * len(base)
        query_rng = np.random.default_rng(args.seed + 2)
        queries = _draws(base, args.queries, args.noise, query_rng)
        truth = _exact_top(base, total, args.noise, args.seed, queries, 10)
        by_kind = {kind: measure(kind, base, total, args, queries, truth) for kind in args.kinds}
        flat = by_kind.get("flat", {})
        for figures in by_kind.values():
            if "p50_ms" in figures and flat.get("p50_ms"):
                figures["p50_ratio_vs_flat"] = round(figures["p50_ms"] / flat["p50_ms"], 3)
        results["scales"][f"{scale}x"] = {"vectors": total, "kinds": by_kind}
        print(json.dumps({f"{scale}x": results["scales"][f"{scale}x"]}, indent=2), flush=True)
    if args.out:
        args.out.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    # Run as `python bench/NAME.py`, this folder would come first on sys.path and its
    # ingest.py would shadow the ingest package.
    if sys.path and Path(sys.path[0]).resolve() == Path(__file__).resolve().parent:
        sys.path[0] = str(REPO)
    raise SystemExit(main())
