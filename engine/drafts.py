"""A plan and its result written as the draft the verifier checks: claims in the analyst's
terms, each citing the rows (or the sentence) it rests on verbatim, and arithmetic in the
verifier's formula form (``verifier/arithmetic.py``) so every input is checked against its
cited row and the computation is redone."""

from __future__ import annotations

from collections.abc import Callable

from engine.cells import Cell
from engine.plans import Plan, Result
from engine.question import Operation
from verifier.types import DraftAnswer, DraftCitation, DraftClaim

_OPERATORS = {"+": "+", "-": "−", "*": "×", "/": "÷"}
_SCALE_WORDS = frozenset({"thousand", "million", "billion"})


def _period(cell: Cell) -> str:
    years = cell.years
    if years:
        return f"fiscal {years[0]}"
    return " ".join(cell.column_path)


def _item(cell: Cell) -> str:
    return ", ".join(part.rstrip(":") for part in cell.row_path) or "the row"


def figure(cell: Cell) -> str:
    """The cell's figure as an analyst states it: signed, with its unit."""
    if cell.value is None:
        return cell.text
    sign = "-" if cell.value < 0 else ""
    digits = f"{abs(cell.value):,.10g}"
    if cell.percent:
        return f"{sign}{digits}%"
    dollars = "$" if "$" in cell.text else ""
    scale = f" {cell.scale}" if cell.scale in _SCALE_WORDS else ""
    return f"{sign}{dollars}{digits}{scale}"


def result_text(result: Result, cells: tuple[Cell, ...]) -> str:
    if result.value is None:
        return ", ".join(result.answers)
    value = result.value
    decimals = 0 if float(value).is_integer() else 2
    sign = "-" if value < 0 else ""
    digits = f"{abs(value):,.{decimals}f}"
    if result.scale == "percent":
        return f"{sign}{digits}%"
    dollars = "$" if any("$" in cell.text for cell in cells) else ""
    scale = f" {result.scale}" if result.scale in _SCALE_WORDS else ""
    return f"{sign}{dollars}{digits}{scale}"


def _formula(plan: Plan, result: Result) -> str:
    inputs = [f"{figure(cell)} [{_item(cell)}, {_period(cell)}]" for cell in plan.cells]
    written = plan.expression
    for symbol, shown in _OPERATORS.items():
        written = written.replace(f" {symbol} ", f" {shown} ")
    return written.format(*inputs)


def draft_of(
    plan: Plan, result: Result, operation_name: str, label_of: Callable[[str], str]
) -> DraftAnswer:
    """The draft answer of an executed plan; ``label_of`` maps a stored sentence id to its
    label in the context the verifier reads."""

    def cite(sentence_id: str, quote: str) -> DraftCitation:
        return DraftCitation(sentence_id=label_of(sentence_id), quote=quote)

    answer = result_text(result, plan.cells)
    if plan.spans:
        claims = [
            DraftClaim(citations=[cite(span.sentence_id, span.text)], text=span.text)
            for span in plan.spans
        ]
        return DraftAnswer(claims=claims, answer=" ".join(result.answers))
    if plan.expression:
        first = plan.cells[0]
        subject = f"the {operation_name} in {_item(first)}"
        text = f"{subject} = {_formula(plan, result)} = {answer}."
        # One citation per row, quoting it through the last of its cells the formula uses.
        quotes: dict[str, str] = {}
        for cell in plan.cells:
            for sid, quote in _row_citations(cell):
                if len(quote) > len(quotes.get(sid, "")):
                    quotes[sid] = quote
        citations = {sid: cite(sid, quote) for sid, quote in quotes.items()}
        return DraftAnswer(
            claims=[DraftClaim(citations=list(citations.values()), text=text)], answer=answer
        )
    claims = []
    for cell in plan.cells:
        claims.append(
            DraftClaim(
                citations=[cite(sid, quote) for sid, quote in _row_citations(cell)],
                text=f"{_item(cell)} was {figure(cell)} in {_period(cell)}.",
            )
        )
    if plan.operation is Operation.COMPARISON or plan.answer_with != "figure":
        answer = ", ".join(result.answers)
    else:
        answer = ", ".join(figure(cell) for cell in plan.cells)
    return DraftAnswer(claims=claims, answer=answer)


def _row_citations(cell: Cell) -> list[tuple[str, str]]:
    """What a claim cites for a cell: the row that prints its group's label (when it has
    one), then its own row from the label through the cited cell."""
    cited = []
    if cell.group_sentence_id and cell.group_text:
        cited.append((cell.group_sentence_id, cell.group_text))
    cited.append((cell.sentence_id, cell.row_text[: cell.end] if cell.row_text else cell.text))
    return cited
