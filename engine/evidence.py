"""The evidence a plan may cite, read from the index: a filing's tables as cell grids and its
prose sentences."""

from __future__ import annotations

from engine.cells import read_grid
from engine.planner import Evidence
from ingest.store import IndexStore

MIN_PROSE_CHARS = 20


def filing_evidence(store: IndexStore, filing_id: str) -> Evidence:
    """Every table and prose sentence of one filing (the report a question is asked of)."""
    sentences = store.filing_sentences(filing_id)
    texts = {row["id"]: row["text"] for row in sentences}
    grids = [read_grid(table, texts) for table in store.filing_tables(filing_id)]
    prose = [
        (row["id"], row["text"])
        for row in sentences
        if row["kind"] == "prose" and len(row["text"]) >= MIN_PROSE_CHARS
    ]
    return Evidence(grids=[grid for grid in grids if grid.cells], sentences=prose)
