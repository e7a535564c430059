"""Calculations in claims: read back, each input placed in its cited row's year column, the
arithmetic redone, and the direct answer grounded by the verified result."""

from __future__ import annotations

from dataclasses import replace

import pytest

from tests.test_lookup import BALANCE, CASH_FLOWS, INCOME, _row
from tests.test_verifier import OverlapJudge
from verifier.arithmetic import formula_in
from verifier.checks import Verifier
from verifier.constitution import load_constitution
from verifier.types import DraftAnswer, DraftCitation, DraftClaim, EvidenceContext

CONTEXT = EvidenceContext(
    [
        _row("S1", "Total current assets\n$ 16,525\n$ 15,134", BALANCE),
        _row("S2", "Total current liabilities\n7,866\n6,040", BALANCE),
        _row("S3", "Property and equipment, net\n282\n253", BALANCE),
        _row("S4", "Net revenues\n$ 6,489\n$ 7,500", INCOME),
    ]
)
QUESTION = (
    "What is Globex's FY2022 net working capital? Define net working capital as total current "
    "assets less total current liabilities."
)
ROWS = {
    "S1": "Total current assets $ 16,525 $ 15,134",
    "S2": "Total current liabilities 7,866 6,040",
    "S3": "Property and equipment, net 282 253",
    "S4": "Net revenues $ 6,489 $ 7,500",
}


def _verify(text: str, labels: list[str], answer: str, question: str = QUESTION) -> object:
    claim = DraftClaim(
        text=text,
        citations=[DraftCitation(sentence_id=label, quote=ROWS[label]) for label in labels],
    )
    draft = DraftAnswer(claims=[claim], answer=answer)
    return Verifier(load_constitution(), OverlapJudge()).verify(draft, CONTEXT, question)


def _failed(report: object) -> dict[str, str]:
    claim = report.claims[0]  # type: ignore[attr-defined]
    return {r.rule_id: r.reason for r in claim.results if r.verdict.value == "fail"}


NWC = (
    "Globex's net working capital in fiscal 2022 = $16,525 million [total current assets] − "
    "7,866 million [total current liabilities] = $8,659 million."
)


def test_a_calculation_over_cited_rows_is_verified_and_grounds_the_answer() -> None:
    report = _verify(NWC, ["S1", "S2"], "$8,659 million")
    assert _failed(report) == {}
    assert report.answer_supported, report.answer_results  # type: ignore[attr-defined]
    reasons = {r.rule_id: r.reason for r in report.claims[0].results}  # type: ignore[attr-defined]
    assert "16,525 million (Total current assets, 2022)" in reasons["entailed-by-citation"]


def test_an_average_over_two_years_and_a_ratio_to_two_decimals() -> None:
    turnover = (
        "Globex's fixed asset turnover in fiscal 2022 = $6,489 million [net revenues] ÷ "
        "((282 million [property and equipment, net] + 253 million [property and equipment, "
        "net, fiscal 2021]) ÷ 2) = 24.26"
    )
    question = (
        "What is Globex's FY2022 fixed asset turnover ratio? Define it as FY2022 revenue / "
        "(average PP&E between FY2021 and FY2022). Round to two decimal places."
    )
    report = _verify(turnover, ["S4", "S3"], "24.26", question)
    assert _failed(report) == {}
    assert report.answer_supported, report.answer_results  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("text", "rule", "why"),
    [
        (NWC.replace("$8,659", "$8,759"), "arithmetic-checked", "gives 8,659"),
        # 15,134 is 2021's figure of the row, claimed for 2022.
        (
            NWC.replace("$16,525 million", "$15,134 million").replace("$8,659", "$7,268"),
            "entailed-by-citation",
            "not the 2022 figure",
        ),
        # The brackets name another line item than the row the figure comes from.
        (
            NWC.replace("[total current assets]", "[total assets]"),
            "entailed-by-citation",
            "prints total assets",
        ),
        (NWC.replace("= $8,659", "× 3 = $25,977"), "arithmetic-checked", "the constant 3"),
        (
            "Globex's net working capital in fiscal 2022 = current assets minus liabilities = "
            "$8,659 million.",
            "arithmetic-checked",
            "cannot redo",
        ),
    ],
)
def test_a_wrong_calculation_fails_the_rule_that_catches_it(text: str, rule: str, why: str) -> None:
    failed = _failed(_verify(text, ["S1", "S2"], "$8,659 million"))
    assert rule in failed and why in failed[rule], failed


def test_a_sign_the_statement_does_not_print_fails() -> None:
    loss = EvidenceContext([_row("S1", "Net income (loss)\n(473)\n1,204", INCOME)])

    def entailed(calculation: str) -> str:
        claim = DraftClaim(
            text=f"Globex's net income (loss) {calculation}",
            citations=[DraftCitation(sentence_id="S1", quote="Net income (loss) (473) 1,204")],
        )
        report = Verifier(load_constitution(), OverlapJudge()).verify(
            DraftAnswer(claims=[claim], answer="x"), loss, ""
        )
        return report.claims[0].verdicts["entailed-by-citation"]

    # The net loss as printed verifies; used as a profit, it would cook the arithmetic.
    assert (
        entailed("in fiscal 2022 = -473 million [net income (loss)] × 2 = -946 million") == "pass"
    )
    assert entailed("in fiscal 2022 = 473 million [net income (loss)] × 2 = 946 million") == "fail"
    # 1,204 is printed positive: made negative, it fails.
    assert entailed("in fiscal 2021 = -1,204 million [net income (loss)] × 2 = -2,408 million") == (
        "fail"
    )


def test_an_input_of_a_calculation_is_not_the_asked_metric() -> None:
    plain = "Globex's total current assets were $16,525 million at the end of fiscal 2022."
    report = _verify(plain, ["S1"], "$16,525 million")
    assert not report.answer_supported  # type: ignore[attr-defined]


def test_formula_reading() -> None:
    formula = formula_in("x in 2022 = (1,577) [capex] + 2 = -1,575")
    assert formula is not None and formula.checks() and formula.computed() == -1575.0
    assert [c.text for c in formula.constants] == ["2"]
    assert formula_in("Net sales were $1,577 million.") is None
    assert formula_in("x = 5 million [a] plus 3 = 8 million") is None  # a word operator
    assert (
        formula_in("x = 5 [a] ÷ 0 = 1") is not None and not formula_in("x = 5 [a] ÷ 0 = 1").checks()
    )  # type: ignore[union-attr]


def _calculated(question: str, context: EvidenceContext = CONTEXT) -> DraftAnswer | None:
    from engine.lookup import MetricCalculator
    from engine.statement_asks import read_statement_ask

    draft = MetricCalculator().draft(read_statement_ask(question), list(context))
    if draft is not None:
        report = Verifier(load_constitution(), OverlapJudge()).verify(draft, context, question)
        # What the calculator drafts must verify like any draft.
        assert report.all_passed and report.answer_supported, (
            [c.verdicts for c in report.claims],
            report.answer_results,
        )
    return draft


def test_the_calculator_computes_what_the_question_defines_from_the_rows() -> None:
    draft = _calculated(QUESTION)
    assert draft is not None and draft.answer == "$8,659 million"
    assert draft.claims[0].text == (
        "Globex Corporation's net working capital in fiscal 2022 = $16,525 million [total "
        "current assets] − 7,866 million [total current liabilities] = $8,659 million."
    )
    turnover = _calculated(
        "What is the FY2022 fixed asset turnover ratio for Globex? Fixed asset turnover ratio is "
        "defined as: FY2022 revenue / (average PP&E between FY2021 and FY2022). Round your "
        "answer to two decimal places."
    )
    assert turnover is not None and turnover.answer == "24.26"
    assert "[property and equipment, net, fiscal 2021]" in turnover.claims[0].text


def test_the_calculator_computes_a_year_over_year_change_between_two_columns() -> None:
    draft = _calculated(
        "What is Globex's year-over-year change in net revenues from FY2021 to FY2022 (in "
        "units of percents and round to one decimal place)?"
    )
    assert draft is not None and draft.answer == "-13.5%"
    assert draft.claims[0].text == (
        "Globex Corporation's year-over-year change in net revenues from fiscal 2021 to fiscal "
        "2022 = (($6,489 million [net revenues, fiscal 2022] − $7,500 million [net revenues, "
        "fiscal 2021]) ÷ $7,500 million [net revenues, fiscal 2021]) × 100 = -13.5%."
    )
    amount = _calculated("What was the change in net revenues from FY2021 to FY2022 for Globex?")
    assert amount is not None and amount.answer == "-$1,011 million"


def test_a_question_that_asks_for_arithmetic_itself_is_computed() -> None:
    # "Net working capital" is defined; the question asks for it less something else.
    draft = _calculated(
        "What is Globex's FY2022 net working capital less property and equipment, net? Define "
        "net working capital as total current assets less total current liabilities."
    )
    assert draft is not None and draft.answer == "$8,377 million"
    inline = _calculated(
        "Using the balance sheet, what is Globex's FY2022 total current assets - total "
        "current liabilities (working capital) in USD millions?"
    )
    assert inline is not None and inline.answer == "$8,659 million"
    assert inline.claims[0].text.startswith("Globex Corporation's working capital in fiscal 2022")


_THREE_YEARS = ("2022", "2021", "2020")
STATEMENTS = EvidenceContext(
    [
        _row("R1", "Net sales\n$ 6,000\n$ 5,500\n$ 5,000", INCOME, _THREE_YEARS),
        _row("R2", "Total revenues\n$ 6,400\n$ 5,800\n$ 5,200", INCOME, _THREE_YEARS),
        _row("R3", "Cost of sales\n3,600\n3,300\n3,000", INCOME, _THREE_YEARS),
        _row("R4", "Operating income\n640\n522\n416", INCOME, _THREE_YEARS),
        _row("R5", "Depreciation and amortization\n128\n116\n104", CASH_FLOWS, _THREE_YEARS),
        _row("R6", "Capital expenditures\n(320)\n(290)\n(312)", CASH_FLOWS, _THREE_YEARS),
        _row("R7", "Inventories\n900\n820", BALANCE),
        _row("R8", "Accounts receivable\n450\n410", BALANCE),
        _row("R9", "Accounts payable\n700\n660", BALANCE),
        # A deferred-tax note prints a row of the same caption, and another figure.
        _row("R10", "Depreciation and amortization\n(43)\n(12)", "Deferred tax liabilities"),
    ]
)


def test_a_margin_is_of_revenue_with_each_input_from_the_statement_its_definition_names() -> None:
    draft = _calculated(
        "What is the FY2022 unadjusted EBITDA % margin for Globex? Define unadjusted EBITDA as "
        "unadjusted operating income + depreciation and amortization from the cash flow "
        "statement. Answer in units of percents and round to one decimal place.",
        STATEMENTS,
    )
    # (640 + 128) ÷ 6,400: the cash flow statement's D&A, not the tax note's; "revenue" is
    # total revenues where a filing prints net sales as well.
    assert draft is not None and draft.answer == "12.0%"
    assert "128 million [depreciation and amortization]" in draft.claims[0].text
    assert "[total revenues]" in draft.claims[0].text
    # Undefined, EBITDA is operating income plus D&A from the cash flow statement.
    standard = _calculated(
        "What is Globex's FY2021 unadjusted EBITDA % margin? Round to one decimal place.",
        STATEMENTS,
    )
    assert standard is not None and standard.answer == "11.0%"  # (522 + 116) ÷ 5,800
    asides = _calculated(
        "What is the FY2020 depreciation and amortization (D&A from cash flow statement) % "
        "margin for Globex?",
        STATEMENTS,
    )
    assert asides is not None and asides.answer == "2.00%"  # 104 ÷ 5,200
    without_revenue = EvidenceContext([r for r in STATEMENTS if r.label not in {"R1", "R2"}])
    assert _calculated("What is Globex's FY2022 EBITDA % margin?", without_revenue) is None


def test_a_several_year_average_of_a_share_names_every_inputs_year() -> None:
    draft = _calculated(
        "What is the FY2020 - FY2022 3 year average of capex as a % of revenue for Globex? "
        "Answer in units of percents and round to one decimal place.",
        STATEMENTS,
    )
    # (312 ÷ 5,200 + 290 ÷ 5,800 + 320 ÷ 6,400) ÷ 3 = (6% + 5% + 5%) ÷ 3
    assert draft is not None and draft.answer == "5.3%"
    claim = draft.claims[0].text
    assert claim.startswith(
        "Globex Corporation's 3 year average of capex as a % of revenue from fiscal 2020 to "
        "fiscal 2022 = "
    )
    assert "[capital expenditures, fiscal 2020]" in claim and "÷ 3) × 100 = 5.3%" in claim
    # The span and the count disagree: not computed.
    assert (
        _calculated(
            "What is the FY2020 - FY2022 2 year average of capex as a % of revenue for Globex?",
            STATEMENTS,
        )
        is None
    )


def test_nested_definitions_and_a_change_between_two_years_are_computed() -> None:
    draft = _calculated(
        "What is the FY2022 cash conversion cycle (CCC) for Globex? CCC is defined as: DIO + "
        "DSO - DPO. DIO is defined as: 365 * (average inventory between FY2021 and FY2022) / "
        "(FY2022 COGS). DSO is defined as: 365 * (average accounts receivable between FY2021 "
        "and FY2022) / (FY2022 Revenue). DPO is defined as: 365 * (average accounts payable "
        "between FY2021 and FY2022) / (FY2022 COGS + change in inventory between FY2021 and "
        "FY2022). Round your answer to two decimal places.",
        STATEMENTS,
    )
    dio = 365 * (900 + 820) / 2 / 3600
    dso = 365 * (450 + 410) / 2 / 6400
    dpo = 365 * (700 + 660) / 2 / (3600 + (900 - 820))
    assert draft is not None and draft.answer == f"{dio + dso - dpo:.2f}"
    assert "(900 million [inventories] − 820 million [inventories, fiscal 2021])" in (
        draft.claims[0].text
    )


def test_a_yes_or_no_on_an_items_move_is_settled_by_the_verified_change() -> None:
    fell = _calculated("Did Globex grow its net revenues between FY21 and FY2022?")
    assert fell is not None and fell.answer == (
        "No: the change in net revenues from fiscal 2021 to fiscal 2022 was -$1,011 million"
    )
    assert fell.claims[0].text == (
        "Globex Corporation's change in net revenues from fiscal 2021 to fiscal 2022 = $6,489 "
        "million [net revenues, fiscal 2022] − $7,500 million [net revenues, fiscal 2021] = "
        "-$1,011 million."
    )
    decreased = _calculated("Did Globex's net revenues decrease from FY2021 to FY2022?")
    assert decreased is not None and decreased.answer.startswith("Yes: the change in net revenues")


def test_a_yes_or_no_no_verified_change_settles_is_not_delivered() -> None:
    question = "Did Globex grow its net revenues between FY2021 and FY2022?"
    later_less_earlier = (
        "Globex's change in net revenues from fiscal 2021 to fiscal 2022 = $6,489 million [net "
        "revenues, fiscal 2022] − $7,500 million [net revenues, fiscal 2021] = -$1,011 million."
    )
    earlier_less_later = (
        "Globex's change in net revenues from fiscal 2021 to fiscal 2022 = $7,500 million [net "
        "revenues, fiscal 2021] − $6,489 million [net revenues, fiscal 2022] = $1,011 million."
    )
    for text, answer, delivered in [
        (later_less_earlier, "No: a change of -$1,011 million", True),
        (later_less_earlier, "Yes: a change of -$1,011 million", False),
        # The earlier year's figure less the later's says nothing about growth.
        (earlier_less_later, "Yes: a change of $1,011 million", False),
        # Figures alone do not settle a polarity.
        ("Globex's net revenues were $6,489 million in fiscal 2022.", "No", False),
    ]:
        report = _verify(text, ["S4"], answer, question)
        assert report.answer_supported is delivered, (text, answer, report.answer_results)  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    "question",
    [
        # The question asks for more than the definition defines.
        "What is Globex's FY2022 net working capital less capex? Define net working capital "
        "as total current assets less total current liabilities.",
        # An input no retrieved row prints.
        "What is Globex's FY2022 quick ratio? Define it as cash / total current liabilities.",
        # No definition.
        "What is Globex's FY2022 current ratio?",
    ],
)
def test_the_calculator_leaves_what_it_cannot_compute_exactly(question: str) -> None:
    assert _calculated(question) is None


def test_a_change_in_a_rate_is_computed_in_percentage_points() -> None:
    summary = "Summary of financial performance"
    context = EvidenceContext(
        [
            # A rate's row leaves the table's change columns blank.
            _row(
                "S1",
                "Effective tax rate\n21.6\xa0%\n24.6\xa0%\n27.0\xa0%",
                summary,
                years=("2022", "2021", "2020", "2022 vs. 2021", "2021 vs. 2020"),
            ),
            # The MD&A prints the same rates rounded: they agree with the note's.
            _row("S2", "Effective tax rate\n22%\n25%", "Results of operations"),
        ]
    )
    question = "How much has the effective tax rate of Globex changed between FY2021 and FY2022?"
    draft = _calculated(question, context)
    assert draft is not None
    assert draft.answer == "-3.0 percentage points, to 21.6% in fiscal 2022"
    assert draft.claims[0].text == (
        "Globex Corporation's change in effective tax rate from fiscal 2021 to fiscal 2022 = "
        "21.6% [effective tax rate, fiscal 2022] − 24.6% [effective tax rate, fiscal 2021] = "
        "-3.0 percentage points."
    )
    # Percentage points follow a difference of rates only.
    assert formula_in(draft.claims[0].text) is not None
    amounts = "Globex's change = $6,489 million [net revenues] − $7,500 million [net revenues]"
    assert formula_in(f"{amounts} = -1,011 percentage points.") is None
    # Rates that disagree beyond rounding settle nothing.
    note_rate = next(iter(context))
    disagreeing = EvidenceContext([note_rate, _row("S2", "Effective tax rate\n23%\n25%", "")])
    assert _calculated(question, disagreeing) is None


def test_change_columns_after_the_period_columns_do_not_move_a_rows_figures() -> None:
    from verifier.numbers import aligned_columns, normalise_text

    header = (("(Millions)", "2022", "2021", "2020", "2022 vs. 2021", "2021 vs. 2020"),)
    filled = aligned_columns(
        normalise_text("Provisions 2,182 (1,419) 4,730 3,601 # (6,149) #"), header
    )
    assert filled is not None and [(y, q.printed) for y, q in filled] == [
        (2022, "2,182"),
        (2021, "1,419"),
        (2020, "4,730"),
    ]
    # A range of years ("2021-2031", a debt's maturities) heads no period column.
    assert aligned_columns("Long-term debt 9,688 8,692", (("fixed rate", "2021-2031"),)) is None


CASH_FLOWS_CONTEXT = EvidenceContext(
    [
        _row("S1", "Cash provided (used) by operations\n5,841\n5,188", CASH_FLOWS),
        _row("S2", "Other investing activities\n12\n30", CASH_FLOWS),
        _row("S3", "Cash provided (used) by investing activities\n564\n(1,524)", CASH_FLOWS),
        _row("S4", "Cash provided (used) by financing activities\n(7,447)\n(4,836)", CASH_FLOWS),
    ]
)
RANKED = "Among operations, investing, and financing activities, which brought in the most {}?"


def test_a_ranking_of_the_items_a_question_names_is_verified_with_printed_signs() -> None:
    most = _calculated(RANKED.format("cash flow for Globex in FY2022"), CASH_FLOWS_CONTEXT)
    assert most is not None
    assert most.answer == "Cash provided by operations: 5,841 million in fiscal 2022"
    # The parallel rows, not "Other investing activities"; the outflow keeps its minus.
    assert most.claims[0].text == (
        "Globex Corporation's most of operations, investing and financing activities in "
        "fiscal 2022 = most of 5,841 million [cash provided by operations], 564 million "
        "[cash provided by investing activities], -7,447 million [cash provided by financing "
        "activities] = 5,841 million [cash provided by operations]."
    )
    least = _calculated(
        "Which of operations, investing or financing activities had the lowest cash flow in "
        "FY2021 for Globex?",
        CASH_FLOWS_CONTEXT,
    )
    assert least is not None and least.answer.startswith("Cash provided by financing activities")


def test_a_ranking_that_leaves_out_an_item_flips_a_sign_or_names_another_winner_fails() -> None:
    question = RANKED.format("cash flow for Globex in FY2022")
    figures = {
        "operations": "$5,841 million [cash provided by operations]",
        "investing": "$564 million [cash provided by investing activities]",
        "financing": "-$7,447 million [cash provided by financing activities]",
    }
    subject = "Globex's most of operations, investing and financing activities in fiscal 2022"

    def verdicts(ranked: list[str], winner: str, question: str = question) -> dict[str, str]:
        claim = DraftClaim(
            text=f"{subject} = most of {', '.join(ranked)} = {winner}.",
            citations=[
                DraftCitation(sentence_id=s.label, quote=" ".join(s.text.split()))
                for s in CASH_FLOWS_CONTEXT
            ],
        )
        draft = DraftAnswer(claims=[claim], answer="Cash provided by operations")
        report = Verifier(load_constitution(), OverlapJudge()).verify(
            draft, CASH_FLOWS_CONTEXT, question
        )
        return _failed(report)

    every = list(figures.values())
    assert verdicts(every, figures["operations"]) == {}
    left_out = verdicts(every[:2], figures["operations"])
    assert "3 items, the claim 2" in left_out["arithmetic-checked"]
    assert "is not" in verdicts(every, figures["investing"])["arithmetic-checked"]
    # The financing outflow taken as an amount would win: the row prints it negative.
    flipped = verdicts([*every[:2], figures["financing"][1:]], figures["financing"][1:])
    assert "negative in the cited row" in flipped["entailed-by-citation"]
    # "Other investing activities" names "investing" but is no row parallel to the others.
    other = "12 million [other investing activities]"
    skewed = verdicts([every[0], other, every[2]], figures["operations"])
    assert "not parallel rows" in skewed["arithmetic-checked"]
    # A question that lists nothing cannot show a ranking left nothing out.
    unlisted = verdicts(every, figures["operations"], "Which activity brought in the most cash?")
    assert "names the items it ranks" in unlisted["arithmetic-checked"]


def test_ranking_questions_name_their_items_and_superlative() -> None:
    from verifier.asked import read_asked

    asked = read_asked(RANKED.format("(or lost the least) cash flow for Nike in FY2023")).ranking
    assert asked is not None and (asked.direction, asked.alternatives) == (
        "max",
        ["operations", "investing", "financing activities"],
    )
    # A group named, not its members: not a ranking this can verify.
    assert read_asked("Which of JPM's segments had the lowest net revenue in 2021?").ranking is None
    group = (
        "Among all of the derivative instruments that Verizon used to manage the exposure to "
        "fluctuations of foreign currencies exchange rates or interest rates, which one had the "
        "highest notional value in FY 2021?"
    )
    assert read_asked(group).ranking is None


@pytest.mark.parametrize(
    ("row", "header", "figures"),
    [
        # A note in brackets holds figures of its own.
        (
            "Long-term debt (includes debt issued by consolidated variable interest entities: "
            "2022, $12,662; 2021, $13,803)\n42,573\n38,675",
            ("2022", "2021"),
            ["42,573", "38,675"],
        ),
        # A date's day is not a figure: one balance is no row of two years.
        ("Balance as of December 31, 2019\n$\n110", ("2020", "2019"), None),
        # A quarter's dividend after its month is.
        ("December\n$\n0.55\n$\n0.50", ("2020", "2019"), ["$ 0.55", "$ 0.50"]),
        # A footnote mark written onto the caption, before blank change columns.
        (
            "Wireless retail(4)\n1.63 %\n1.10 %",
            ("2022", "2021", "2022 vs. 2021"),
            ["1.63 %", "1.10 %"],
        ),
        # A mark after the caption where it is the one figure too many …
        ("Interest expense (after-tax) (1)\n268\n208", ("2018", "2017"), ["268", "208"]),
        # … and small bracketed figures where they are not.
        ("Interest rate swaps\n(1)\n(1)", ("2018", "2017"), ["(1)", "(1)"]),
    ],
)
def test_a_rows_caption_keeps_its_own_numbers(
    row: str, header: tuple[str, ...], figures: list[str] | None
) -> None:
    from verifier.numbers import aligned_columns, normalise_text

    columns = aligned_columns(normalise_text(row), (header,))
    assert (None if columns is None else [q.text for _, q in columns]) == figures


def _balance_rows(*skip: str) -> EvidenceContext:
    rows = [
        ("Total assets", "$ 228,354\n$ 188,548"),
        ("Customer deposits", "$ 110,239\n$ 84,382"),
        ("Accounts payable", "12,133\n10,574"),
        ("Total current liabilities", "122,372\n94,956"),
        (
            "Long-term debt (includes debt of consolidated entities: 2022, $12,662)",
            "42,573\n38,675",
        ),
        ("Other liabilities", "38,698\n32,740"),
        ("Total liabilities", "$ 203,643\n$ 166,371"),
    ]
    sentences = []
    start = 0
    for number, (caption, figures) in enumerate(rows, start=1):
        if caption in skip:
            continue
        row = _row(f"S{number}", f"{caption}\n{figures}", BALANCE)
        sentences.append(replace(row, start=start, end=start + len(row.text)))
        start += 1000
    return EvidenceContext(sentences)


def test_the_largest_member_of_a_group_is_ranked_among_rows_that_add_up_to_its_total() -> None:
    question = "What was the largest liability in Globex's balance sheet in 2022?"
    draft = _calculated(question, _balance_rows())
    assert draft is not None
    assert draft.answer == (
        "Customer deposits, the largest liability: $110,239 million at the end of fiscal 2022"
    )
    # The subtotal is not a member; the note's figure is not the row's.
    text = draft.claims[0].text
    assert "[total current liabilities]" not in text and "42,573 million [long-term debt]" in text
    assert "together $203,643 million [total liabilities]" in text
    # A member the context lacks leaves the rest short of the total: no ranking.
    assert _calculated(question, _balance_rows("Accounts payable")) is None
    smallest = _calculated(question.replace("largest", "smallest"), _balance_rows())
    assert smallest is not None and smallest.answer.startswith("Accounts payable")


def test_a_group_ranking_without_its_total_or_short_of_it_fails() -> None:
    from verifier.asked import read_asked

    question = "What was the largest liability in Globex's balance sheet in 2022?"
    context = _balance_rows()
    draft = _calculated(question, context)
    assert draft is not None
    text = draft.claims[0].text

    def failures(claim_text: str) -> dict[str, str]:
        claim = draft.claims[0].model_copy(update={"text": claim_text})
        edited = draft.model_copy(update={"claims": [claim]})
        report = Verifier(load_constitution(), OverlapJudge()).verify(edited, context, question)
        return _failed(report)

    untotalled = text.replace(", together $203,643 million [total liabilities]", "")
    assert "cites the total" in failures(untotalled)["arithmetic-checked"]
    short = text.replace(" 12,133 million [accounts payable],", "")
    assert "do not add up" in failures(short)["arithmetic-checked"]
    # The current subtotal with the rows after it adds up as well, and would win.
    with_subtotal = (
        "Globex Corporation's largest liability at the end of fiscal 2022 = largest of "
        "122,372 million [total current liabilities], $42,573 million [long-term debt], "
        "38,698 million [other liabilities], together $203,643 million [total liabilities] = "
        "122,372 million [total current liabilities]."
    )
    assert "is a subtotal" in failures(with_subtotal)["arithmetic-checked"]
    assert read_asked("Which segment had the highest net revenue in 2021?").group_ranking is None
