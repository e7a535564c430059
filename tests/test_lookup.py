"""The statement lookup: which questions it answers, which row and column it reads, how it
states the figure, and that each of its drafts passes the constitution it is checked under."""

from __future__ import annotations

import pytest

from engine.lookup import StatementLookup, in_asked_unit, row_caption
from engine.statement_asks import read_statement_ask
from tests.test_verifier import OverlapJudge
from verifier.checks import Verifier
from verifier.constitution import load_constitution
from verifier.types import EvidenceContext, EvidenceSentence

CASH_FLOWS = "Consolidated Statements of Cash Flows"
BALANCE = "Consolidated Balance Sheets"
INCOME = "Consolidated Statements of Operations"


def _row(
    label: str,
    text: str,
    title: str,
    years: tuple[str, ...] = ("2022", "2021"),
    company: str = "Globex Corporation",
    filing: str = "GLOBEX_2022_10K",
) -> EvidenceSentence:
    return EvidenceSentence(
        label=label,
        sentence_id=f"s-{label}",
        filing_id="f1",
        filing=filing,
        page=50,
        section="Item 8",
        start=0,
        end=len(text),
        kind="table_row",
        text=text,
        company=company,
        fiscal_year=2022,
        form_type="10-K",
        table_title=title,
        table_scale="millions",
        table_header_rows=(("Year ended December 31,", *years),),
    )


CONTEXT = EvidenceContext(
    [
        _row(
            "S1", "Purchases of property, plant and equipment (PP&E)\n(1,749)\n(1,828)", CASH_FLOWS
        ),
        _row("S2", "Capital expenditures\n812\n790", "Segment information"),
        _row("S3", "Total current assets\n$ 16,525\n$ 15,134", BALANCE),
        _row("S4", "Total current liabilities\n7,866\n6,040", BALANCE),
        _row("S5", "Net income (loss)\n(473)\n1,204", INCOME),
        _row("S6", "Cost of revenue\n(9,120)\n(8,870)", INCOME),
    ]
)


def _answer(question: str, context: EvidenceContext = CONTEXT) -> tuple[str, str] | None:
    lookup = StatementLookup()
    ask = read_statement_ask(question)
    found = lookup.find(ask, context)
    if found is None:
        return None
    draft = lookup.draft(ask, found)
    report = Verifier(load_constitution(), OverlapJudge()).verify(draft, context, question)
    # Whatever the lookup drafts must verify under the constitution like a generated draft.
    assert report.all_passed and report.answer_supported, [c.verdicts for c in report.claims]
    return draft.answer, draft.claims[0].text


def test_the_analyst_term_finds_the_statement_row_the_question_points_to() -> None:
    answered = _answer("What was Globex's FY2022 capex? Use the cash flow statement.")
    assert answered is not None
    direct, claim = answered
    # The cash flow statement's row, not the segment table's "Capital expenditures"; money
    # paid out is stated without its bracket sign.
    assert direct == "1,749 million"
    assert claim == (
        "Globex Corporation's purchases of property, plant and equipment was 1,749 million in "
        "fiscal 2022."
    )


def test_an_instruction_framing_the_question_does_not_stop_a_lookup() -> None:
    answered = _answer(
        "What is the FY2022 capital expenditure amount for Globex? Answer as an analyst who "
        "can only use the statement of cash flows, to the best of your abilities."
    )
    assert answered is not None and answered[0] == "1,749 million"


def test_a_caption_the_question_prints_is_read_in_the_asked_years_column() -> None:
    answered = _answer("How much total current assets did Globex have at the end of FY2021?")
    assert answered == (
        "$15,134 million",
        "Globex Corporation's total current assets was $15,134 million at the end of fiscal 2021.",
    )


def test_the_direct_answer_is_given_in_the_unit_the_question_asks_for() -> None:
    billions = _answer("What was Globex's FY2022 capex? Answer in USD billions.")
    assert billions is not None and billions[0] == "1.75 billion"
    assert "1,749 million" in billions[1]  # the claim keeps the figure as printed

    def asked(question: str, amount: str) -> str:
        return in_asked_unit(read_statement_ask(question).unit, amount)

    assert asked("Answer in USD millions.", "$302,578 thousand") == "$302.6 million"
    assert asked("Answer in USD millions.", "-$1,011 million") == "-$1,011 million"
    assert asked("What was it?", "$302,578 thousand") == "$302,578 thousand"
    assert asked("Answer in USD millions.", "24.26") == "24.26"


def test_a_bracketed_result_is_negative_and_a_bracketed_cost_is_not() -> None:
    loss = _answer("What was Globex's net income in FY2022?")
    assert loss is not None and loss[0] == "-473 million"
    cost = _answer("What was Globex's cost of revenue in FY2022?")
    assert cost is not None and cost[0] == "9,120 million"


@pytest.mark.parametrize(
    "question",
    [
        "What is Globex's FY2022 working capital ratio? Define it as total current assets "
        "divided by total current liabilities.",
        "How did Globex's capex change between FY2021 and FY2022?",
        "What was Globex's capex?",  # no year
        "What was Globex's operating margin in FY2022?",
        "What were Globex's FY2022 inventories?",  # no retrieved row prints them
        "Which line item was largest in FY2022: total current assets or liabilities?",
        "Did Globex report total current assets in FY2022?",  # not an amount
    ],
)
def test_anything_but_one_printed_line_item_in_one_year_is_left_to_the_generator(
    question: str,
) -> None:
    assert StatementLookup().find(read_statement_ask(question), CONTEXT) is None


def test_rows_that_disagree_settle_nothing() -> None:
    restated = EvidenceContext(
        [
            *CONTEXT.sentences,
            _row(
                "S7",
                "Total current assets\n$ 16,610\n$ 15,134",
                BALANCE,
                filing="GLOBEX_2023_10K",
            ),
        ]
    )
    question = "What were Globex's total current assets in FY{}?"
    assert StatementLookup().find(read_statement_ask(question.format(2022)), restated) is None
    assert StatementLookup().find(read_statement_ask(question.format(2021)), restated)


def test_a_row_with_an_empty_cell_is_not_read_column_by_column() -> None:
    # Three cells under two years: which year the dash stands for cannot be told.
    dashed = EvidenceContext([_row("S1", "Restructuring charges\n—\n1\n(1)", INCOME)])
    ask = read_statement_ask("What were restructuring charges in FY2022?")
    assert StatementLookup().find(ask, dashed) is None


def test_row_caption_drops_notes_and_footnote_marks() -> None:
    assert row_caption("Purchases of property, plant and equipment (PP&E)\n(1,749)") == (
        "Purchases of property, plant and equipment"
    )
    assert row_caption("Income from operations1 $ 412 $ 335") == "Income from operations"
    assert row_caption("Total assets") == "Total assets"


def test_the_lookup_and_the_calculator_work_from_the_question_read_once() -> None:
    """``engine.statement_asks`` reads the question's forms once; the lookup and the calculator
    take that reading and never parse the text: they import no reader of question words and
    no function of theirs is handed the question as a string."""
    import ast
    import inspect

    import engine.lookup
    from tests.test_layering import QUESTION_READERS

    tree = ast.parse(inspect.getsource(engine.lookup))
    imported = {
        alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom)
        for alias in node.names
    }
    readers = QUESTION_READERS | {"read_asked", "read_statement_ask", "years_in", "periods"}
    assert not imported & readers
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef):
            for argument in node.args.args:
                assert argument.arg != "question", f"{node.name} takes the question's text"


def test_a_metric_question_is_read_into_operands_once() -> None:
    from engine.statement_asks import Calculation, Operand, Symbol, TwoYearOperand

    ask = read_statement_ask(
        "What is the FY2019 fixed asset turnover ratio for Globex? Fixed asset turnover ratio "
        "is defined as: FY2019 revenue / (average PP&E between FY2018 and FY2019). Round your "
        "answer to two decimal places. Answer in USD millions."
    )
    assert ask.computes and ask.line_item_year is None
    assert ask.decimals == 2 and ask.unit == "millions" and not ask.percent
    calculation = ask.computation
    assert isinstance(calculation, Calculation) and calculation.years == (2019,)
    tokens = calculation.expression.tokens
    assert calculation.expression.divides
    revenue, over, bracket, average, closing = tokens
    assert isinstance(revenue, Operand) and revenue.phrase == "revenue" and revenue.year == 2019
    assert (over, bracket, closing) == (Symbol("÷"), Symbol("("), Symbol(")"))
    assert isinstance(average, TwoYearOperand) and average.kind == "average"
    assert (average.item.phrase, average.first, average.second) == ("PP&E", 2018, 2019)
    # A plain line item is a lookup, with its one year and the statement it names.
    plain = read_statement_ask("What was capex in FY2022, per the cash flow statement?")
    assert plain.line_item_year == 2022 and plain.computation is None
    assert plain.statements and [item.words for item in plain.items] == ["capex"]
