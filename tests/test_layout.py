from __future__ import annotations

import pytest

from ingest.layout import (
    Line,
    Row,
    apply_filing_scale,
    find_table_regions,
    group_rows,
    header_cells,
    is_numeric_cell,
    scale_above,
    stated_unit,
    table_scale,
    table_title,
)
from ingest.types import ParsedPage, Table


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


def test_a_currency_sign_ending_a_cell_opens_the_next_columns_figure() -> None:
    # AMD's income statement: PyMuPDF ends each figure's line with the next column's "$", so
    # "Net revenue" read as a column header and "Net loss" as prose.
    rows_text = [
        ["(In millions)", "2015", "2014", "2013"],
        ["Net revenue", "$", "3,991  $", "5,506  $", "5,299"],
        ["Cost of sales", "2,911", "3,667", "3,321"],
        ["Operating income (loss)", "(481)", "(155)", "103"],
        ["Net loss", "$", "(660) $", "(403) $", "(83)"],
    ]
    lines = [line for i, cells in enumerate(rows_text) for line in _row_lines(20.0 * i, cells)]
    rows = group_rows(lines)
    assert rows[1].cells == ["Net revenue", "$ 3,991", "$ 5,506", "$ 5,299"]
    assert rows[4].cells == ["Net loss", "$ (660)", "$ (403)", "$ (83)"]
    assert find_table_regions(rows) == [(0, 1, 5)]


def test_a_statements_name_company_and_period_lines_all_title_its_table() -> None:
    # PepsiCo's cash flow statement: with two lines only, the title lost the statement's name.
    rows_text = [
        ["Table of Contents — continued from the previous page, as the footer says."],
        ["Consolidated Statement of Cash Flows"],
        ["PepsiCo, Inc. and Subsidiaries"],
        ["Fiscal years ended December 31, 2022, December 25, 2021 and December 26, 2020"],
        ["(in millions)", "2022", "2021", "2020"],
        ["Depreciation and amortization", "2,763", "2,710", "2,548"],
    ]
    lines = [line for i, cells in enumerate(rows_text) for line in _row_lines(20.0 * i, cells)]
    assert table_title(group_rows(lines), 4) == (
        "Consolidated Statement of Cash Flows — PepsiCo, Inc. and Subsidiaries — Fiscal years "
        "ended December 31, 2022, December 25, 2021 and December 26, 2020"
    )


def test_a_long_caption_introducing_rows_keeps_the_statement_one_table() -> None:
    # Walmart's cash flow statement: the reconciliation caption runs past a label's length,
    # and the statement's headers and first row were cut off from the rows below it.
    rows_text = [
        ["(Amounts in millions)", "2020", "2019", "2018"],
        ["Cash flows from operating activities:"],
        ["Consolidated net income", "$", "15,201", "$", "7,179", "$", "10,523"],
        [
            "Adjustments to reconcile consolidated net income to net cash provided by operating "
            "activities:"
        ],
        ["Depreciation and amortization", "10,987", "10,678", "10,529"],
        ["Deferred income taxes", "320", "(499)", "(304)"],
        ["Other operating activities", "1,981", "1,734", "1,210"],
    ]
    lines = [line for i, cells in enumerate(rows_text) for line in _row_lines(20.0 * i, cells)]
    assert find_table_regions(group_rows(lines)) == [(0, 1, 7)]
    # A lead-in sentence, however short, opens the next table rather than continuing one.
    lead_in = "A reconciliation of the statutory tax rate to our annual tax rate is as follows:"
    rows_text = [
        ["2022", "2021", "2020"],
        ["U.S. Federal", "1,137", "702", "715"],
        ["Foreign", "1,027", "955", "932"],
        ["State", "246", "44", "110"],
        [lead_in],
        ["2022", "2021", "2020"],
        ["U.S. Federal statutory tax rate", "21.0 %", "21.0 %", "21.0 %"],
        ["Other, net", "(0.6)", "(0.5)", "(0.5)"],
        ["Annual tax rate", "16.1 %", "21.8 %", "20.9 %"],
    ]
    lines = [line for i, cells in enumerate(rows_text) for line in _row_lines(20.0 * i, cells)]
    assert find_table_regions(group_rows(lines)) == [(0, 1, 4), (5, 6, 9)]


def test_a_wrapped_column_header_emitted_column_by_column_reads_across_the_page() -> None:
    # Adobe's income statement: each column's "December 2," / "2016" come out one after the
    # other, each on a row of its own, above a "Revenue:" caption.
    header = [
        Line(text, (300.0 + 90 * column, y, 360.0 + 90 * column, y + 9), block=0)
        for column, (date, year) in enumerate(
            [("December 2,", "2016"), ("November 27,", "2015"), ("November 28,", "2014")]
        )
        for text, y in ((date, 20.0), (year, 32.0))
    ]
    body = [["Revenue:"], *(cells for cells in _BODY)]
    lines = [
        Line("Years Ended", (300.0, 8.0, 360.0, 17.0), block=0),
        *header,
        *(line for i, cells in enumerate(body) for line in _row_lines(50.0 + 14 * i, cells)),
    ]
    rows = group_rows(lines)
    assert len(rows) == 8 + len(_BODY)  # one row per header cell, as PyMuPDF gives them
    ((header_start, data_start, _),) = find_table_regions(rows)
    assert header_cells(rows[header_start:data_start])[-2:] == [
        ["December 2,", "November 27,", "November 28,"],
        ["2016", "2015", "2014"],
    ]


def test_prose_is_not_a_table() -> None:
    prose = [
        ["Net sales increased 12% in 2023, driven by higher volumes and pricing actions."],
        ["Operating income was $412 million, up from $335 million in the prior year."],
        ["We expect capital expenditures of $100 million in 2024."],
    ]
    lines = [line for i, cells in enumerate(prose) for line in _row_lines(20.0 * i, cells)]
    assert find_table_regions(group_rows(lines)) == []


def _rows(rows_text: list[list[str]]) -> list[Row]:
    lines = [line for i, cells in enumerate(rows_text) for line in _row_lines(20.0 * i, cells)]
    return group_rows(lines)


_BODY = [
    ["Secured by real estate", "$ 398", "$ 351"],
    ["Commercial and industrial", "1,329", "1,667"],
    ["Other", "544", "800"],
]


def test_a_unit_stated_above_a_wrapped_column_header_is_the_tables() -> None:
    rows = _rows(
        [
            ["The following table provides information on nonaccrual loans."],
            ["(in millions)"],
            ["Secured by"],
            ["real estate"],
            ["Commercial"],
            ["and industrial"],
            ["Mar 31,", "Dec 31,"],
            ["2021", "2020"],
            *_BODY,
        ]
    )
    [(header_start, data_start, _)] = find_table_regions(rows)
    near = [" ".join(row.cells) for row in rows[header_start - 3 : data_start]]
    assert table_scale(near) is None  # beyond the rows searched next to the headers
    assert scale_above(rows, header_start, data_start, floor=0) == "millions"


def test_a_lead_in_sentence_closing_with_the_unit_declares_it() -> None:
    rows = _rows(
        [
            ["Purchased intangible assets subject to amortization were as"],
            ["follows (in thousands):"],
            ["Cost"],
            ["Accumulated"],
            ["Amortization"],
            ["2015", "2014"],
            *_BODY,
        ]
    )
    [(header_start, data_start, _)] = find_table_regions(rows)
    assert scale_above(rows, header_start, data_start, floor=0) == "thousands"


_STORE_COUNTS = [
    ["Stores opened during the year"],
    ["Owned"],
    ["Leased"],
    ["Franchised"],
    ["2021", "2020"],
    ["North America", "648", "612"],
    ["Europe", "57", "61"],
    ["Asia", "120", "98"],
]


@pytest.mark.parametrize(
    "above",
    [
        [["(in millions)"], ["Total debt", "14,490.0", "15,818.6"]],  # another table's unit
        [["We sold millions of units through our stores in the year, a record."]],  # prose
    ],
)
def test_a_unit_above_other_figures_or_only_mentioned_in_prose_is_not_taken(
    above: list[list[str]],
) -> None:
    rows = _rows([*above, *_STORE_COUNTS])
    [(header_start, data_start, _)] = find_table_regions(rows)
    assert scale_above(rows, header_start, data_start, floor=0) is None


def test_a_filing_wide_tabular_unit_reaches_money_tables_without_their_own() -> None:
    def table(rows: list[list[str]], scale: str | None) -> Table:
        return Table(None, [["2022", "2021"]], rows, scale, start=0, end=1)

    money = table([["Accounts payable", "$ 483", "$ 446"], ["Other", "1,933", "1,598"]], None)
    counts = table([["Stores", "648", "612"]], None)
    own_unit = table([["Cash", "$ 352,371", "$ 482,479"]], "thousands")
    notes = ParsedPage(
        number=66,
        text="Unless otherwise noted, tabular dollars are\npresented in millions, except per share "
        "amounts.",
        sentences=[],
        tables=[],
    )
    statements = ParsedPage(number=70, text="", sentences=[], tables=[money, counts, own_unit])
    assert apply_filing_scale([notes, statements]) == "millions"
    assert [t.scale for t in statements.tables] == ["millions", None, "thousands"]

    undeclared = ParsedPage(
        number=1, text="Dollars are shown as stated.", sentences=[], tables=[money]
    )
    assert apply_filing_scale([undeclared]) is None
    assert undeclared.tables[0].scale is None


@pytest.mark.parametrize(
    ("text", "unit"),
    [
        ("(in thousands)", "thousands"),
        ("$'000", "thousands"),
        ("RMB\u2019Million", "millions"),
        ("US$ million", "millions"),
        ("€m", "millions"),
        ("£bn", "billions"),
        ("(in 000\u2019s)", "thousands"),
        ("Amount", None),
        ("Revenue (m)", None),  # a bare "m" is no unit
        ("2019", None),
    ],
)
def test_a_header_or_label_states_its_unit(text: str, unit: str | None) -> None:
    assert stated_unit(text) == unit
