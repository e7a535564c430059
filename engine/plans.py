"""Plans and their executor. A plan is what an answer is made of: the cited cells (or prose
spans) and what is done with them. The executor computes it; nothing in an answer's figure
is anything but a cited cell or the executed result of cited cells, and the formula it
shows names every cited figure.
"""

from __future__ import annotations

import ast
import operator
from collections.abc import Callable
from dataclasses import dataclass, field

from engine.cells import Cell
from engine.question import Operation
from verifier.numbers import scale_factor


@dataclass(frozen=True, slots=True)
class ProseSpan:
    sentence_id: str
    start: int  # within the sentence
    end: int
    text: str


@dataclass(frozen=True, slots=True)
class Plan:
    """``expression`` is arithmetic over ``{0}``, ``{1}`` … naming ``cells`` in order (empty
    for lookups, lists, comparisons and spans)."""

    operation: Operation
    cells: tuple[Cell, ...] = ()
    expression: str = ""
    spans: tuple[ProseSpan, ...] = ()
    # For a comparison: which way; the answer is the label of the winning cell.
    direction: str | None = None
    # What a comparison or a list answers with per cell: "period" (its column's year),
    # "item" (its row label) or "figure".
    answer_with: str = "figure"
    percent: bool = False  # the result is a percentage (×100 applied in the expression)
    # Keep only the cited cells above or below an amount in units ("above", 2e8): the cells
    # a count counts or a list lists, each shown against the threshold in the formula.
    condition: tuple[str, float] | None = None
    confidence: float = 0.0
    why: str = ""  # how the planner linked the question to the evidence, for the audit
    # What the confidence rests on (the operation's and the links' probabilities and margins,
    # how the columns were found): the confidence model's features.
    signals: dict[str, float] = field(default_factory=dict, compare=False)


@dataclass(frozen=True, slots=True)
class Result:
    answers: tuple[str, ...]  # one per span of the answer
    value: float | None  # the computed figure, for arithmetic
    scale: str  # "", "thousand", "million", "billion" or "percent"
    formula: str  # the computation with the cited figures written in


class PlanError(ValueError):
    """A plan that cannot be executed (a missing figure, a division by zero)."""


_OPERATORS: dict[type[ast.operator], Callable[[float, float], float]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
}


def _evaluate(node: ast.expr) -> float:
    if isinstance(node, ast.Constant) and isinstance(node.value, int | float):
        return float(node.value)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        return -_evaluate(node.operand)
    if isinstance(node, ast.BinOp) and type(node.op) in _OPERATORS:
        right = _evaluate(node.right)
        if isinstance(node.op, ast.Div) and right == 0:
            raise PlanError("division by zero")
        return _OPERATORS[type(node.op)](_evaluate(node.left), right)
    raise PlanError("an expression may only add, subtract, multiply and divide figures")


def _figure(cell: Cell) -> float:
    if cell.value is None:
        raise PlanError(f"the cell {cell.text!r} of {' / '.join(cell.row_path)} has no figure")
    return cell.value


def _shown(value: float) -> str:
    return f"({abs(value):,.10g})" if value < 0 else f"{value:,.10g}"


def _label(cell: Cell, answer_with: str) -> str:
    if answer_with == "period":
        years = cell.years
        return str(years[0]) if years else " ".join(cell.column_path)
    if answer_with == "item":
        return cell.row_path[-1] if cell.row_path else ""
    return cell.text


def _scale_of(cells: tuple[Cell, ...], percent: bool) -> str:
    if percent or (cells and all(cell.percent for cell in cells)):
        return "percent"
    scales = {cell.scale for cell in cells}
    return scales.pop() or "" if len(scales) == 1 else ""


def in_units(cell: Cell) -> float:
    """The cell's figure with its table's scale applied (percentages as printed)."""
    value = _figure(cell)
    return value if cell.percent else value * scale_factor(cell.scale)


def _filtered(plan: Plan) -> tuple[tuple[Cell, ...], str]:
    """The cited cells that meet the plan's condition, and the comparison of each."""
    assert plan.condition is not None
    direction, threshold = plan.condition
    kept, shown = [], []
    for cell in plan.cells:
        value = in_units(cell)
        passes = value > threshold if direction == "above" else value < threshold
        sign = (
            (">" if value > threshold else "≤")
            if direction == "above"
            else ("<" if value < threshold else "≥")
        )
        shown.append(f"{_label(cell, plan.answer_with)}: {cell.text} {sign} {threshold:,.10g}")
        if passes:
            kept.append(cell)
    return tuple(kept), "; ".join(shown)


def execute(plan: Plan) -> Result:
    """The plan's answer. Raises ``PlanError`` for a plan that cannot be computed."""
    if plan.operation is Operation.EXPLANATION or (plan.spans and not plan.cells):
        if not plan.spans:
            raise PlanError("an explanation cites no prose")
        return Result(tuple(span.text for span in plan.spans), None, "", "")
    if not plan.cells:
        raise PlanError("the plan cites no cell")
    if plan.condition is not None:
        kept, formula = _filtered(plan)
        if plan.operation is Operation.COUNT:
            return Result((str(len(kept)),), float(len(kept)), "", formula)
        if not kept:
            raise PlanError(f"no cited figure meets the condition ({formula})")
        return Result(tuple(_label(cell, plan.answer_with) for cell in kept), None, "", formula)
    if plan.expression:
        values = [_figure(cell) for cell in plan.cells]
        try:
            tree = ast.parse(plan.expression.format(*values), mode="eval")
        except (SyntaxError, IndexError) as exc:
            raise PlanError(f"malformed expression {plan.expression!r}") from exc
        value = _evaluate(tree.body)
        formula = plan.expression.format(*[_shown(v) for v in values])
        result = round(value, 4)
        # A ratio of two figures in the same unit has none: thousands over thousands.
        unitless = plan.operation is Operation.RATIO and not plan.percent
        scale = "" if unitless else _scale_of(plan.cells, plan.percent)
        return Result((f"{result:.10g}",), result, scale, formula)
    if plan.operation is Operation.COMPARISON:
        values = [_figure(cell) for cell in plan.cells]
        pick = max if plan.direction != "lower" else min
        winner = plan.cells[values.index(pick(values))]
        formula = " vs ".join(
            f"{_label(cell, plan.answer_with)}: {cell.text}" for cell in plan.cells
        )
        return Result((_label(winner, plan.answer_with),), None, "", formula)
    if plan.operation is Operation.COUNT:
        return Result((str(len(plan.cells)),), float(len(plan.cells)), "", "")
    answers = tuple(
        _label(cell, plan.answer_with) if plan.answer_with != "figure" else f"{_figure(cell):.10g}"
        for cell in plan.cells
    )
    scale = "" if plan.answer_with != "figure" else _scale_of(plan.cells, False)
    single = plan.cells[0].value if len(plan.cells) == 1 else None
    return Result(answers, single, scale, "")


@dataclass(frozen=True, slots=True)
class Refusal:
    reason: str
    candidates: tuple[Plan, ...] = field(default_factory=tuple)
