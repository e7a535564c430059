"""Calculations a claim states, read back and recomputed.

A computed metric (net working capital, a ratio, a margin) is not printed in a filing; what a
filing prints are its inputs. A claim may state one, in one strict form, so that every input
can be checked against its cited row and the arithmetic redone:

    Globex's net working capital in fiscal 2021 = $16,525 million [total current assets]
    − $7,866 million [total current liabilities] = $8,659 million.

Before the first "=": what is computed and for which period. Between the two "=": figures,
each followed by the line item it is, in square brackets (with its own period when it is not
the claim's: "[property, plant and equipment, net, fiscal 2018]"), joined by + − × ÷ and
parentheses, and bare constants. After the last "=": the result, one figure, stated to the
precision the claim wants it checked to ("percentage points" may follow a difference of
rates). A ranking of the items a question names is the same form with "highest of" (or
"lowest of", or the question's own superlative) before figures separated by commas, and the
winning figure with its line item after the last "=":

    Acme's most cash flow in fiscal 2023 = most of $5,841 million [cash provided (used) by
    operations], $564 million [cash provided (used) by investing activities], -$7,447 million
    [cash provided (used) by financing activities] = $5,841 million [cash provided (used) by
    operations].

A ranking of the members of a group ("the largest liability") ends its list with the total
they add up to, "…, together $203,643 million [total liabilities]", which shows none is left
out. Anything else between the "=" signs (a word outside brackets, an operator verirag does
not know) makes it no formula at all.
"""

from __future__ import annotations

import ast
import operator
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from verifier.asked import SUPERLATIVE, AskedQuestion, superlative_direction
from verifier.numbers import Quantity, normalise_text, quantities, years_in

_OPERATORS = {"+": "+", "-": "-", "−": "-", "–": "-", "×": "*", "*": "*", "÷": "/", "/": "/"}
_BINARY: dict[type[ast.operator], Callable[[float, float], float]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
}


@dataclass(frozen=True, slots=True)
class FormulaInput:
    """One figure of a calculation and the line item (and period) it is said to be."""

    quantity: Quantity
    item: str  # the bracketed words, without the period
    year: int | None  # the input's own period, when the brackets name one
    negative: bool = False  # written with a minus sign before it, or in brackets


@dataclass(frozen=True, slots=True)
class Formula:
    subject: str  # what is computed, for which period ("net working capital in fiscal 2021")
    inputs: list[FormulaInput]
    constants: list[Quantity]  # bare numbers of the expression ("÷ 2", "× 100", "365 ×")
    expression: str  # the arithmetic, in Python syntax over the inputs' values
    result: Quantity
    result_negative: bool
    ranking: str | None = None  # "max" or "min" for a ranking of named items
    result_item: str | None = None  # a ranking's winner, as its brackets name it
    total: FormulaInput | None = None  # the row a ranking's members add up to, if it cites one

    @property
    def years(self) -> set[int]:
        return years_in(self.subject)

    def input_year(self, formula_input: FormulaInput) -> int | None:
        """The input's own period, else the claim's when it names exactly one."""
        if formula_input.year is not None:
            return formula_input.year
        return next(iter(self.years)) if len(self.years) == 1 else None

    def computed(self) -> float | None:
        """The expression's value; None when it cannot be evaluated (a division by zero)."""
        try:
            return _evaluate(ast.parse(self.expression, mode="eval").body)
        except (ZeroDivisionError, ValueError, SyntaxError):
            return None

    def checks(self) -> bool:
        """Whether the stated result is the computed value to the precision it is stated to
        (half a unit of its last printed digit, at its scale)."""
        value = self.computed()
        if value is None:
            return False
        stated = self.result.number * self.result.scale
        if self.result_negative:
            stated = -stated
        tolerance = 0.5 * 10.0 ** (-self.result.decimals) * self.result.scale
        if abs(value - stated) > tolerance + 1e-9 * max(1.0, abs(stated)):
            return False
        return self.ranking is None or (self.winner() is not None and self.adds_up())

    def adds_up(self) -> bool:
        """Whether a ranking's members add up to the total it cites, to the rounding of the
        figures (each printed figure may be off by half its last digit); True without one."""
        if self.total is None:
            return True
        members = sum(_input_value(i) for i in self.inputs)
        slack = sum(0.5 * 10.0**-i.quantity.decimals * i.quantity.scale for i in self.inputs)
        return abs(members - _input_value(self.total)) <= slack + 1e-9 * abs(members)

    def winner(self) -> FormulaInput | None:
        """A ranking's winning input: the one its result names, holding the extreme value
        and alone in holding it; None for any other formula or a result that names another
        item."""
        if self.ranking is None or self.result_item is None:
            return None
        values = [_input_value(i) for i in self.inputs]
        extreme = max(values) if self.ranking == "max" else min(values)
        holders = [i for i, v in zip(self.inputs, values, strict=True) if v == extreme]
        if len(holders) != 1 or _words(holders[0].item) != _words(self.result_item):
            return None
        return holders[0]


_PERCENTAGE_POINTS = re.compile(r"\bpercentage points?\b", re.IGNORECASE)
# A ranking's expression opens with its superlative: "most of $5,841 million [...], ...".
_RANKED = re.compile(rf"^({SUPERLATIVE}) of\s+", re.IGNORECASE)
# No calculation an analyst asks for has more figures than this (a five-year sum with its
# averages is a dozen); a longer one is refused as no formula rather than read, parsed and
# evaluated at any length.
MAX_FORMULA_FIGURES = 64


def formula_in(claim_text: str) -> Formula | None:
    """The calculation a claim states in the form above, or None when it states none (no two
    "=" signs) or the part between them is not that form."""
    text = normalise_text(claim_text).rstrip(" .")
    if text.count("=") != 2 or text.count("[") > MAX_FORMULA_FIGURES:
        return None
    subject, expression_text, result_text = (part.strip() for part in text.split("="))
    results = quantities(result_text)
    if len(results) != 1 or not subject:
        return None
    ranking = None
    total = None
    if superlative := _RANKED.match(expression_text):
        ranking = superlative_direction(superlative.group(1))
        expression_text = expression_text[superlative.end() :]
        # "…, together $203,643 million [total liabilities]": what the members add up to.
        parts = re.split(r",?\s+together\s+", expression_text, maxsplit=1)
        if len(parts) == 2:
            members, together = parts
            parsed_total = _parse_expression(together)
            if parsed_total is None or len(parsed_total[0]) != 1 or parsed_total[1]:
                return None
            total, expression_text = parsed_total[0][0], members
    rest = result_text.replace(results[0].text, "", 1)
    result_item = None
    if ranking is not None and (named := re.fullmatch(r"(\s*[-−]?)\s*\[([^\]]+)\]\s*", rest)):
        result_item, rest = named.group(2).strip(), named.group(1)
    # A difference of rates is stated in percentage points ("= -3.0 percentage points").
    rest, points = _PERCENTAGE_POINTS.subn("", rest)
    if re.search(r"[A-Za-z0-9]", rest):
        return None
    parsed = _parse_expression(expression_text, ranked=ranking is not None)
    if parsed is None:
        return None
    inputs, constants, expression = parsed
    if not inputs or (points and not all(i.quantity.percent for i in inputs)):
        return None
    if len(inputs) + len(constants) > MAX_FORMULA_FIGURES:
        return None
    if ranking is not None:
        if constants or len(inputs) < 2:
            return None
        expression = f"{ranking}({expression})"
    result = results[0]
    negative = bool(re.match(r"\s*[-−]", result_text)) or (
        result.text.startswith("(") and result.text.endswith(")")
    )
    formula = Formula(
        subject, inputs, constants, expression, result, negative, ranking, result_item, total
    )
    try:
        ast.parse(expression, mode="eval")
    except SyntaxError:
        return None
    return formula


def _parse_expression(
    text: str, ranked: bool = False
) -> tuple[list[FormulaInput], list[Quantity], str] | None:
    tokens: list[str] = []
    inputs: list[FormulaInput] = []
    constants: list[Quantity] = []
    # The last figure and whether it is negative, until its brackets say what it is.
    pending: list[tuple[Quantity, bool]] = []
    cursor = 0
    for figure in quantities(text):
        start = text.find(figure.text, cursor)
        # Not a match inside a bracket: "÷ 2" after "[receivables, fiscal 2018]" is the 2
        # after it, not the 2 of 2018.
        while start >= 0 and text.count("[", cursor, start) > text.count("]", cursor, start):
            start = text.find(figure.text, start + 1)
        if start < 0 or not _read_between(text[cursor:start], tokens, inputs, pending, ranked):
            return None
        constants.extend(quantity for quantity, _ in pending)
        pending.clear()
        if figure.text.startswith("(") and not figure.text.endswith(")"):
            tokens.append("(")  # a group's parenthesis, read into the figure
        # A bracketed figure is negative; so is one after a minus sign that follows an
        # operator, a parenthesis or nothing (the minus sign stays an operator token).
        bracketed = figure.text.startswith("(") and figure.text.endswith(")")
        unary = bool(tokens) and tokens[-1] == "-" and (len(tokens) == 1 or tokens[-2] in "+-*/(,")
        negative = bracketed or unary
        value = figure.number * (1.0 if figure.percent else figure.scale)
        tokens.append(f"({'-' if bracketed else ''}{value!r})")
        if figure.text.endswith(")") and not figure.text.startswith("("):
            tokens.append(")")  # a group's closing parenthesis, read into the figure
        pending.append((figure, negative != (bracketed and unary)))
        cursor = start + len(figure.text)
    if not _read_between(text[cursor:], tokens, inputs, pending, ranked):
        return None
    constants.extend(quantity for quantity, _ in pending)
    return inputs, constants, " ".join(tokens)


def _read_between(
    gap: str,
    tokens: list[str],
    inputs: list[FormulaInput],
    pending: list[tuple[Quantity, bool]],
    ranked: bool = False,
) -> bool:
    """Operators, parentheses and the brackets naming the preceding figure, between two
    figures (in a ranking, commas instead of operators); False at anything else (a word
    outside brackets)."""
    position = 0
    while position < len(gap):
        char = gap[position]
        if char == "[":
            end = gap.find("]", position)
            if end < 0 or not pending:
                return False
            item, year = _bracketed(gap[position + 1 : end])
            if not item:
                return False
            quantity, negative = pending.pop()
            inputs.append(FormulaInput(quantity, item, year, negative))
            position = end + 1
        elif ranked and char == ",":
            tokens.append(",")
            position += 1
        elif not ranked and (char in _OPERATORS or char in "()"):
            tokens.append(_OPERATORS.get(char, char))
            position += 1
        elif ranked and char in "-−–" and not gap[position + 1 :].strip():
            tokens.append("-")  # a figure's minus sign
            position += 1
        elif char.isspace():
            position += 1
        else:
            return False
    return True


def _bracketed(text: str) -> tuple[str, int | None]:
    """The line item and its own period from an input's brackets: "property, plant and
    equipment, net, fiscal 2018" → ("property, plant and equipment, net", 2018)."""
    match = re.search(
        r",?\s*(?:at the end of\s+)?(?:fiscal(?: year)?\s*|fy\s*)((?:19|20)\d{2})\s*$",
        text,
        re.IGNORECASE,
    )
    if match is None:
        return text.strip(" ,"), None
    return text[: match.start()].strip(" ,"), int(match.group(1))


def _evaluate(node: ast.expr) -> float:
    if isinstance(node, ast.Constant) and isinstance(node.value, int | float):
        return float(node.value)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.UAdd):
        value = _evaluate(node.operand)
        return -value if isinstance(node.op, ast.USub) else value
    if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
        return _BINARY[type(node.op)](_evaluate(node.left), _evaluate(node.right))
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.args:
        extreme = {"max": max, "min": min}.get(node.func.id)
        if extreme is not None and not node.keywords:
            return float(extreme(_evaluate(arg) for arg in node.args))
    raise ValueError(f"not arithmetic: {ast.dump(node)}")


def _input_value(formula_input: FormulaInput) -> float:
    quantity = formula_input.quantity
    value = quantity.number * (1.0 if quantity.percent else quantity.scale)
    return -value if formula_input.negative else value


def _words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9]+", text.lower())


# -- rankings of the items a question names (``verifier.asked`` reads the question) ------------


def totals_group(caption: str, group: str) -> bool:
    """Whether a row's caption is the total of a group ("Total liabilities" for "liability")."""
    words = _words(caption)
    return len(words) == 2 and words[0] == "total" and singular(words[1]) == singular(group)


def singular(word: str) -> str:
    lowered = word.lower()
    if lowered.endswith("ies") and len(lowered) > 4:
        return lowered[:-3] + "y"
    if lowered.endswith(("ses", "xes", "ches", "shes")):
        return lowered[:-2]
    if lowered.endswith("s") and not lowered.endswith("ss"):
        return lowered[:-1]
    return lowered


def shared_item_words(items: Sequence[str], alternatives: Sequence[str]) -> int:
    """How many words every ranked item shares besides the question's own words for them:
    parallel rows ("Cash provided by operations", "Cash provided by investing activities")
    share some; "Other investing activities" beside them shares none."""
    named = {w for a in alternatives for w in _words(a)}
    return len(set.intersection(*(set(_words(item)) - named for item in items)))


def names_alternative(item: str, alternative: str) -> bool:
    """Whether a line item's words hold every word of an alternative the question names
    ("cash provided (used) by investing activities" holds "investing")."""
    return set(_stemmed(alternative)) <= set(_stemmed(item))


def _stemmed(text: str) -> list[str]:
    return [re.sub(r"(?:ing|ed|es|s)$", "", w) if len(w) > 5 else w for w in _words(text)]


_CHANGE_SUBJECT = re.compile(r"\bchange in\b", re.IGNORECASE)


def settled_polarity(asked: AskedQuestion, formulas: list[Formula]) -> str | None:
    """ "yes" or "no" to a question asking whether one item rose (or fell) between two years,
    settled by a verified calculation of that change: its subject is a change between the
    question's two years, it is the later year's figure less the earlier's, and its result's
    sign says which way the item moved. None when the question asks no such thing or no
    calculation settles it: a polarity is never read off words."""
    up, down = asked.moves_up, asked.moves_down
    years = asked.years
    if up == down or len(years) != 2:
        return None
    earlier, later = sorted(years)
    for formula in formulas:
        if not _CHANGE_SUBJECT.search(formula.subject) or formula.years != years:
            continue
        if len(formula.inputs) != 2 or not re.fullmatch(r"\(\S+\) - \(\S+\)", formula.expression):
            continue
        first, second = (formula.input_year(item) for item in formula.inputs)
        if (first, second) != (later, earlier) or not formula.checks():
            continue
        value = formula.computed()
        if value is None:
            continue
        moved_up, moved_down = value > 0, value < 0
        return "yes" if (moved_up and up) or (moved_down and down) else "no"
    return None
