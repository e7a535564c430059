"""The evidence a plan may cite, read from the index: a filing's tables as cell grids and its
prose sentences."""

from __future__ import annotations

from collections.abc import Sequence

from engine.cells import CellGrid, read_grid
from engine.planner import Evidence
from ingest.store import IndexStore, StoredTable

MIN_PROSE_CHARS = 20


def grids_of(tables: Sequence[StoredTable], texts: dict[str, str]) -> list[CellGrid]:
    """The tables' cell grids (``texts``: their row sentences' text by id), those with a
    figure."""
    return [grid for grid in (read_grid(table, texts) for table in tables) if grid.cells]


def filing_evidence(store: IndexStore, filing_id: str) -> Evidence:
    """Every table and prose sentence of one filing (the report a question is asked of)."""
    sentences = store.filing_sentences(filing_id)
    texts = {row["id"]: row["text"] for row in sentences}
    prose = [
        (row["id"], row["text"])
        for row in sentences
        if row["kind"] == "prose" and len(row["text"]) >= MIN_PROSE_CHARS
    ]
    return Evidence(grids=grids_of(store.filing_tables(filing_id), texts), sentences=prose)
