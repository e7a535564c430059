from __future__ import annotations

import pytest

from ingest.layout import Line, find_table_regions, group_rows, is_numeric_cell, table_scale


@pytest.mark.parametrize(
    "cell", ["1,577", "$ 1,577", "(981)", "$(1,420)", "12.5%", "—", "-", "0.54", "(3.2)%", "n/m"]
)
def test_numeric_cells(cell: str) -> None:
    assert is_numeric_cell(cell)


@pytest.mark.parametrize("cell", ["Net sales", "Item 7", "2023 annual", "", "$"])
def test_non_numeric_cells(cell: str) -> None:
    assert not is_numeric_cell(cell)


def _row_lines(y: float, cells: list[str]) -> list[Line]:
    return [
        Line(text, (60.0 + 90 * i, y, 100.0 + 90 * i, y + 9), block=0)
        for i, text in enumerate(cells)
    ]


def test_statement_rows_become_one_table_with_headers_and_scale() -> None:
    rows_text = [
        ["(Millions)", "2018", "2017"],
        ["Cash Flows from Investing Activities"],
        ["Purchases of property, plant and equipment", "$", "(1,577)", "$", "(1,373)"],
        ["Proceeds from sale of PP&E", "262", "49"],
        ["Acquisitions, net of cash acquired", "13", "(2,023)"],
        ["The accompanying notes are an integral part of these statements, as always."],
    ]
    lines = [line for i, cells in enumerate(rows_text) for line in _row_lines(20.0 * i, cells)]
    rows = group_rows(lines)
    assert [row.cells for row in rows][2] == [
        "Purchases of property, plant and equipment",
        "$ (1,577)",
        "$ (1,373)",
    ]
    assert find_table_regions(rows) == [(0, 1, 5)]
    assert table_scale([" ".join(rows[0].cells)]) == "millions"


def test_prose_is_not_a_table() -> None:
    prose = [
        ["Net sales increased 12% in 2023, driven by higher volumes and pricing actions."],
        ["Operating income was $412 million, up from $335 million in the prior year."],
        ["We expect capital expenditures of $100 million in 2024."],
    ]
    lines = [line for i, cells in enumerate(prose) for line in _row_lines(20.0 * i, cells)]
    assert find_table_regions(group_rows(lines)) == []
