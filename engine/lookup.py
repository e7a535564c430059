"""Statement lookup: a question that asks for one line item in one fiscal year is answered
from the statement row that prints it, by reading the row's column for that year.

The small generator picks the wrong row or the other year's column on most such questions
(measured on the FinanceBench lookups: two of ten right); the row's figure under its header's
year is a lookup no model is needed for. The draft this module writes is an ordinary draft:
it goes through every rule of the constitution like a generated one, and when it does not
verify, or the question is not a plain lookup, the generator answers instead. Questions that
compute something (a ratio, a margin, a change, an average) or name several items or years
are never answered here.

The lookup and the metric calculator below work from the question's reading
(``engine.statement_asks.StatementAsk``, read once by the question reader): which form it
asks, its year, its operands and the statements they come from. Nothing here parses the
question's text.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from engine.statement_asks import (
    Calculation,
    Change,
    Constant,
    Expression,
    Operand,
    StatementAsk,
    Symbol,
    TwoYearOperand,
)
from ingest.vocabulary import (
    BALANCE,
    AskedItem,
    statement_kinds,
)
from verifier.arithmetic import (
    formula_in,
    names_alternative,
    settled_polarity,
    shared_item_words,
    singular,
    totals_group,
)
from verifier.asked import GroupRankingQuestion, RankingQuestion
from verifier.numbers import (
    Quantity,
    aligned_columns,
    is_subtracted_item,
    normalise_text,
    printed_negative,
    quantities,
    row_unit,
    scale_factor,
)
from verifier.types import DraftAnswer, DraftCitation, DraftClaim, EvidenceSentence

STATEMENT_LOOKUP_VERSION = "statement-lookup@1"

_SCALE_WORD = {"thousands": "thousand", "millions": "million", "billions": "billion"}


@dataclass(frozen=True, slots=True)
class RowLookup:
    """The statement row that prints the asked item, and its figure in the asked year."""

    sentence: EvidenceSentence
    caption: str  # the row's line item as printed, without notes in brackets
    year: int
    figure: Quantity


def row_caption(text: str) -> str:
    """A statement row's line item as printed: the words before its first figure, without a
    note in brackets ("(Note 7)", "(PP&E)") or a footnote mark ("operations1")."""
    normalised = normalise_text(text)
    first_figure = re.search(r"[$(\-−]?\s*\d", normalised)
    label = normalised[: first_figure.start()] if first_figure else normalised
    label = re.sub(r"\([^)]*\)", " ", label)
    label = re.sub(r"\([^)]*$", " ", label)  # a note whose figures the cut fell in
    label = re.sub(r"(?<=[A-Za-z])\d+\b", "", label)
    return " ".join(label.split()).strip(" :$,.-")


def rows_for_year(sentences: Iterable[EvidenceSentence], year: int) -> list[RowLookup]:
    """The statement rows among ``sentences`` that print a figure in ``year``'s column."""
    found: list[RowLookup] = []
    for sentence in sentences:
        if sentence.kind != "table_row":
            continue
        columns = aligned_columns(normalise_text(sentence.text), sentence.table_header_rows)
        figure = next((q for y, q in columns or () if y == year), None)
        caption = row_caption(sentence.text)
        if figure is not None and caption:
            found.append(RowLookup(sentence, caption, year, figure))
    return found


def in_a_sentence(caption: str) -> str:
    """A caption as a sentence writes it: capitalised words lowered, acronyms kept
    ("Operating Profit" → "operating profit", "PP&E" and "U.S." as printed)."""
    return " ".join(
        word.lower() if word[:1].isupper() and word[1:] == word[1:].lower() else word
        for word in caption.split()
    )


def _comparable(caption: str) -> str:
    lowered = caption.lower().replace("&", " and ").replace(" - ", ", ").replace(" — ", ", ")
    return " ".join(re.sub(r"[^a-z0-9, ]", " ", lowered).split())


class StatementLookup:
    """Finds the row a plain line-item question asks for among the retrieved sentences and
    drafts the answer from it. Stateless and cheap: nothing to warm up."""

    version = STATEMENT_LOOKUP_VERSION

    def find(self, ask: StatementAsk, sentences: Iterable[EvidenceSentence]) -> RowLookup | None:
        """The row and figure that answer the question, or None when it is not a plain
        lookup or the retrieved rows do not settle it (no row for the item, or rows that print
        different figures for the year)."""
        if ask.line_item_year is None:
            return None
        return self.row_for(
            ask.text, ask.items, ask.line_item_year, sentences, list(ask.statements)
        )

    def row_for(
        self,
        phrase: str,
        items: Sequence[AskedItem],
        year: int,
        sentences: Iterable[EvidenceSentence],
        statements: list[str],
        only_on_statements: bool = False,
    ) -> RowLookup | None:
        """The row that prints the line item ``phrase`` names, with its figure for ``year``:
        a caption the phrase prints (the longest, so that "cost of sales" is not "sales"),
        else the caption a filing prints for the one analyst term it uses ("capex"); a row of
        one of ``statements`` when there is one (and only then, ``only_on_statements``). None
        unless one figure from one company answers it."""
        asked = _comparable(phrase)
        candidates = rows_for_year(sentences, year)
        printed = [
            c
            for c in candidates
            if len(_comparable(c.caption).split()) >= 2
            and re.search(rf"\b{re.escape(_comparable(c.caption))}\b", asked)
        ]
        if printed:
            longest = max(len(_comparable(c.caption)) for c in printed)
            found = [c for c in printed if len(_comparable(c.caption)) == longest]
        elif len(items) == 1:
            item = items[0]
            found = [c for c in candidates if _caption_rank(item, c.caption) is not None]
        else:
            return None
        found = _own_statements(_on_statements(statements, found, only_on_statements))
        if not printed and len({f.figure.number for f in found}) > 1:
            # Rows for one analyst term that disagree ("Net sales" and "Total revenues" for
            # "revenue"): the caption the term names first.
            best = min(_caption_rank(items[0], f.caption) or 0 for f in found)
            found = [f for f in found if _caption_rank(items[0], f.caption) == best]
        found = _most_precise_rate(found)
        # One figure from one company: rows that disagree (a restatement, another company's
        # filing in the retrieved set) settle nothing.
        companies = {_company(f.sentence) for f in found}
        if len({f.figure.number for f in found}) != 1 or len(companies) != 1:
            return None
        return found[0]

    def draft(self, ask: StatementAsk, lookup: RowLookup) -> DraftAnswer:
        """One claim restating the row's figure for the year, citing the row's caption and
        figures verbatim, and the figure as the direct answer."""
        sentence = lookup.sentence
        figure = figure_text(lookup)
        claim = (
            f"{_company(sentence)}'s {in_a_sentence(lookup.caption)} was {figure} {_when(lookup)}."
        )
        return _one_claim_answer(claim, [sentence], in_asked_unit(ask.unit, figure))


def _rows_of_alternatives(
    alternatives: list[str], year: int, sentences: Iterable[EvidenceSentence]
) -> list[RowLookup] | None:
    """One row per named item, in the question's order, with a figure for ``year``, all from
    the first table (in context order) where one set of such rows reads most alike beside the
    items' own words ("Cash provided by operations", "… by investing activities", not "Other
    investing activities"); None when no table settles one set."""
    tables: dict[tuple[str, int, str], list[RowLookup]] = {}
    for row in rows_for_year(sentences, year):
        key = (row.sentence.filing_id, row.sentence.page, row.sentence.table_title or "")
        tables.setdefault(key, []).append(row)
    for rows in tables.values():
        naming = [[r for r in rows if names_alternative(r.caption, a)] for a in alternatives]
        if not all(naming) or any(len(options) > 4 for options in naming):
            continue
        scored: dict[int, list[tuple[RowLookup, ...]]] = {}
        for choice in itertools.product(*naming):
            if len({id(r) for r in choice}) == len(choice):
                shared = shared_item_words([r.caption for r in choice], alternatives)
                scored.setdefault(shared, []).append(choice)
        if scored:
            best = scored[max(scored)]
            if len(best) == 1:
                return list(best[0])
    return None


def _members_of_total(
    group: str, year: int, sentences: Iterable[EvidenceSentence]
) -> tuple[list[RowLookup], RowLookup] | None:
    """The rows a group's total row adds up ("Customer deposits" … "Other liabilities" above
    "Total liabilities"), and that total row: in reading order on the total's page and
    table, back to the previous total of something else, leaving out the group's own
    subtotals ("Total current liabilities"). None unless they add up to the total."""
    rows = rows_for_year(sentences, year)
    for total in (r for r in rows if totals_group(r.caption, group)):
        table = sorted(
            (
                r
                for r in rows
                if (r.sentence.filing_id, r.sentence.page, r.sentence.table_title)
                == (total.sentence.filing_id, total.sentence.page, total.sentence.table_title)
                and r.sentence.start < total.sentence.start
            ),
            key=lambda r: r.sentence.start,
        )
        members: list[RowLookup] = []
        for row in reversed(table):
            subtotal = row.caption.lower().startswith("total")
            if subtotal and singular(group) not in map(singular, row.caption.lower().split()):
                break  # "Total assets": the group begins after it
            if not subtotal:
                members.insert(0, row)
        slack = sum(0.5 * 10.0**-r.figure.decimals for r in members)
        if len(members) >= 2 and abs(sum(map(_signed, members)) - _signed(total)) <= slack:
            return members, total
    return None


def _company(sentence: EvidenceSentence) -> str:
    """The company a sentence's filing is from, as a claim names it."""
    return sentence.company or sentence.filing.split("_")[0]


def _when(row: RowLookup) -> str:
    """A statement row's period as a claim states it: a balance sheet's figure stands at the
    end of the year, every other statement's over it."""
    if BALANCE in statement_kinds(row.sentence.table_title or ""):
        return f"at the end of fiscal {row.year}"
    return f"in fiscal {row.year}"


def _sole_extreme(rows: list[RowLookup], direction: str) -> RowLookup | None:
    """The row with the highest (``"max"``) or lowest signed figure; None at a tie, which
    names no one item."""
    values = [_signed(r) for r in rows]
    extreme = max(values) if direction == "max" else min(values)
    return rows[values.index(extreme)] if values.count(extreme) == 1 else None


def _ranked_input(row: RowLookup) -> str:
    """A row as a ranking writes it: its figure with the sign it prints, then its item."""
    return f"{figure_text(row, signed=True)} [{in_a_sentence(row.caption)}]"


def _signed(row: RowLookup) -> float:
    """A row's figure with the sign its table prints (brackets negative)."""
    return (-1 if printed_negative(row.figure) else 1) * row.figure.number


def _most_precise_rate(found: list[RowLookup]) -> list[RowLookup]:
    """Rows of one rate printed to different precision (MD&A's "23%", the tax note's
    "22.9%") agree: the most precise ones stand for all. Other disagreements are kept."""
    if len(found) < 2 or not all(f.figure.percent for f in found):
        return found
    places = max(f.figure.decimals for f in found)
    precise = [f for f in found if f.figure.decimals == places]
    if len({f.figure.number for f in precise}) != 1:
        return found
    value = precise[0].figure.number
    rounded_alike = all(
        abs(value - f.figure.number) <= 0.5 * 10.0**-f.figure.decimals + 1e-9 for f in found
    )
    return precise if rounded_alike else found


def _one_claim_answer(claim: str, rows: list[EvidenceSentence], answer: str) -> DraftAnswer:
    """A draft of one claim quoting each cited statement row whole."""
    citations = [DraftCitation(sentence_id=s.label, quote=" ".join(s.text.split())) for s in rows]
    return DraftAnswer(claims=[DraftClaim(citations=citations, text=claim)], answer=answer)


def _caption_rank(item: AskedItem, caption: str) -> int | None:
    """Where a row's caption stands among the captions a filing prints for ``item`` (0 the
    first named), or None when it prints another item. "Depreciation and amortization of
    property, equipment and intangibles" is depreciation and amortization; "Amortization of
    content assets" is not."""
    comparable = _comparable(caption)
    printed = _singular(comparable)
    for rank, phrase in enumerate(map(_singular, item.same_item)):
        if printed.removeprefix("total ") == phrase or printed == phrase:
            return rank
        if printed.startswith(f"{phrase} of "):
            return rank
    return len(item.same_item) if item.pattern.fullmatch(comparable) else None


def _singular(caption: str) -> str:
    """A caption with each word's plural "s" dropped: filings print "Net revenue", "Total
    revenue" and "Net revenues" for one item."""
    return " ".join(word.removesuffix("s") for word in caption.split())


def _on_statements(
    statements: list[str], found: list[RowLookup], only: bool = False
) -> list[RowLookup]:
    """Rows of the statements the question points to, when any are among them (``only``: or
    none): capex as the cash flow statement prints it, not a segment table's."""
    if not statements:
        return found
    wanted = set(statements)
    on_statement = [f for f in found if statement_kinds(f.sentence.table_title or "") & wanted]
    return on_statement if on_statement or only else found


def _own_statements(found: list[RowLookup]) -> list[RowLookup]:
    """When rows disagree, those of the tables titled with the filing's own company: a 10-K
    also prints an affiliate's statements (an equity-method joint venture's balance sheet)."""
    if len({f.figure.number for f in found}) <= 1:
        return found
    own = [
        f
        for f in found
        if (company := _comparable(f.sentence.company or "").split(" ")[0])
        and re.search(rf"\b{re.escape(company)}\b", _comparable(f.sentence.table_title or ""))
    ]
    return own or found


def in_asked_unit(unit: str | None, amount: str) -> str:
    """A direct answer in the unit the question asks for (``unit``: "millions" for "Answer
    in USD millions": $302,578 thousand is $302.6 million), to a tenth of a million or a
    hundredth of a billion; as stated when the question asks for none, or for the unit it is
    in."""
    figures = quantities(amount)
    if unit is None or len(figures) != 1 or figures[0].percent or figures[0].scale == 1.0:
        return amount
    figure = figures[0]
    if scale_factor(unit) == figure.scale:
        return amount
    value = figure.value / scale_factor(unit)
    decimals = 2 if unit == "billions" else 1
    sign = "-" if amount.lstrip().startswith("-") else ""
    return f"{sign}{'$' if figure.currency else ''}{value:,.{decimals}f} {_SCALE_WORD[unit]}"


def figure_text(lookup: RowLookup, signed: bool = False) -> str:
    """The row's figure as an analyst states it: its digits as printed, the table's scale in
    words, a dollar sign where the row or its table prints one, and a minus for a bracketed
    figure unless the row is a cost, an expense or money paid out (or always, ``signed``:
    "Cash provided (used) by financing activities (7,447)" is an outflow to rank)."""
    sentence = lookup.sentence
    figure = lookup.figure
    unit = row_unit(sentence.text, sentence.table_scale)
    scale = f" {_SCALE_WORD[unit]}" if unit in _SCALE_WORD else ""
    headers = f"{sentence.table_title or ''} {sentence.table_header}".lower()
    dollars = "$" in sentence.text or "$" in headers or "dollar" in headers
    negative = printed_negative(figure) and (signed or not is_subtracted_item(lookup.caption))
    sign = "-" if negative else ""
    if figure.percent:
        return f"{sign}{figure.printed}%"
    return f"{sign}{'$' if dollars else ''}{figure.printed}{scale}"


# -- computed metrics -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Input:
    row: RowLookup
    own_year: bool  # whether its period is not the one the claim's subject names


class MetricCalculator:
    """Computes a metric the question defines ("net working capital as total current assets
    less total current liabilities") from the retrieved statement rows of its inputs, and
    drafts one claim stating the calculation in the constitution's form (``verifier.
    arithmetic``), which the verifier redoes and checks input by input. It works from the
    question's reading (``engine.statement_asks``), never from its text."""

    version = "metric-calculator@1"

    def __init__(self, rows: StatementLookup | None = None) -> None:
        self.rows = rows or StatementLookup()

    def draft(self, ask: StatementAsk, sentences: list[EvidenceSentence]) -> DraftAnswer | None:
        """The calculation's draft, or None when the question asks for nothing this computes,
        or the retrieved rows lack an input."""
        computation = ask.computation
        if isinstance(computation, Calculation):
            computed = self._calculated(ask, computation, sentences)
        elif isinstance(computation, Change):
            computed = self._change(ask, computation, sentences)
        elif isinstance(computation, RankingQuestion):
            return self._ranking(computation, ask, sentences)
        elif isinstance(computation, GroupRankingQuestion):
            return self._group_ranking(computation, ask, sentences)
        else:
            return None
        if computed is None:
            return None
        subject, parts, inputs, divides = computed
        percent = divides and ask.percent
        if percent:
            parts = ["(", *parts, ")", "×", "100"]
        expression = " ".join(parts).replace("( ", "(").replace(" )", ")")
        result = self._result(ask, expression, inputs, percent, divides)
        if result is None:
            return None
        company = _company(inputs[0].row.sentence)
        cited: dict[str, EvidenceSentence] = {}
        for item in inputs:
            cited.setdefault(item.row.sentence.sentence_id, item.row.sentence)
        claim = f"{company}'s {subject} = {expression} = {result}."
        answer = in_asked_unit(ask.unit, result)
        form = computation.form if isinstance(computation, Change) else None
        if form == "how much" and all(i.row.figure.percent for i in inputs):
            # The new rate beside the change; the claim shows the old one (an answer states
            # at most two figures).
            answer = f"{answer}, to {figure_text(inputs[0].row)} in fiscal {inputs[0].row.year}"
        if form == "moved":
            # Yes or no, by the sign of the change, as the verifier settles it.
            polarity = settled_polarity(ask.asked, [f for f in [formula_in(claim)] if f])
            if polarity is None:
                return None
            after, before = inputs
            moved = in_a_sentence(after.row.caption)
            answer = (
                f"{polarity.capitalize()}: the change in {moved} from fiscal {before.row.year} "
                f"to fiscal {after.row.year} was {answer}"
            )
        return _one_claim_answer(claim, list(cited.values()), answer)

    def _ranking(
        self, ranked: RankingQuestion, ask: StatementAsk, sentences: list[EvidenceSentence]
    ) -> DraftAnswer | None:
        """Which of the items the question names is the highest (or lowest) in its one year:
        one row per item, all from one table, ranked with the signs the table prints."""
        year = ask.one_year
        rows = None if year is None else _rows_of_alternatives(ranked.alternatives, year, sentences)
        winner = None if rows is None else _sole_extreme(rows, ranked.direction)
        if rows is None or winner is None:
            return None
        company = _company(winner.sentence)
        written = [_ranked_input(r) for r in rows]
        named = ", ".join(ranked.alternatives[:-1]) + f" and {ranked.alternatives[-1]}"
        claim = (
            f"{company}'s {ranked.superlative} of {named} in fiscal {year} = "
            f"{ranked.superlative} of {', '.join(written)} = {_ranked_input(winner)}."
        )
        answer = f"{winner.caption}: {figure_text(winner, signed=True)} in fiscal {year}"
        return _one_claim_answer(claim, [r.sentence for r in rows], answer)

    def _group_ranking(
        self, group: GroupRankingQuestion, ask: StatementAsk, sentences: list[EvidenceSentence]
    ) -> DraftAnswer | None:
        """The largest (or smallest) member of a group a statement totals, in the question's
        one year: the rows above the group's total row that add up to it."""
        year = ask.one_year
        found = None if year is None else _members_of_total(group.group, year, sentences)
        winner = None if found is None else _sole_extreme(found[0], group.direction)
        if found is None or winner is None:
            return None
        members, total = found
        company = _company(winner.sentence)
        written = [_ranked_input(r) for r in members]
        when = _when(winner)
        claim = (
            f"{company}'s {group.superlative} {group.group} {when} = {group.superlative} of "
            f"{', '.join(written)}, together {_ranked_input(total)} = {_ranked_input(winner)}."
        )
        answer = (
            f"{winner.caption}, the {group.superlative} {group.group}: "
            f"{figure_text(winner, signed=True)} {when}"
        )
        return _one_claim_answer(claim, [*(r.sentence for r in members), total.sentence], answer)

    def _calculated(
        self, ask: StatementAsk, calculation: Calculation, sentences: list[EvidenceSentence]
    ) -> tuple[str, list[str], list[_Input], bool] | None:
        """A metric in its one year, or averaged over several years with each input named
        with its year."""
        years = calculation.years
        divides = calculation.expression.divides
        if len(years) == 1:
            parsed = self._parse(calculation.expression, years[0], sentences, years[0])
            if parsed is None:
                return None
            if ask.percent and not divides:
                # A margin or a percentage whose expression only gives its numerator
                # ("EBITDA % margin … define EBITDA as …"): not what the expression computes.
                return None
            parts, inputs = parsed
            return f"{calculation.subject} in fiscal {years[0]}", parts, inputs, divides
        parts, inputs = ["("], []
        for year in years:
            year_parsed = self._parse(calculation.expression, year, sentences, subject_year=None)
            if year_parsed is None:
                return None
            year_parts, year_inputs = year_parsed
            parts += [*(["+"] if year != years[0] else []), "(", *year_parts, ")"]
            inputs += year_inputs
        parts += [")", "÷", str(len(years))]
        subject = f"{calculation.subject} from fiscal {years[0]} to fiscal {years[-1]}"
        return subject, parts, inputs, divides

    def _parse(
        self,
        expression: Expression,
        year: int,
        sentences: list[EvidenceSentence],
        subject_year: int | None,
    ) -> tuple[list[str], list[_Input]] | None:
        """The expression's parts as the claim writes them and its inputs; None when an
        operand is no row the retrieved sentences print. Operands are read for ``year`` unless
        they name their own; an input is written with its year unless it is
        ``subject_year``, the one the claim's subject names."""
        parts: list[str] = []
        inputs: list[_Input] = []
        for token in expression.tokens:
            if isinstance(token, Symbol | Constant):
                parts.append(token.text)
                continue
            if isinstance(token, TwoYearOperand):
                first = self._input(token.item, token.first, subject_year, sentences)
                second = self._input(token.item, token.second, subject_year, sentences)
                if first is None or second is None:
                    return None
                inputs += [first, second]
                if token.kind == "change":
                    parts.append(f"({_written(second)} − {_written(first)})")
                else:
                    parts.append(f"(({_written(first)} + {_written(second)}) ÷ 2)")
                continue
            found = self._input(token, token.year or year, subject_year, sentences)
            if found is None:
                return None
            inputs.append(found)
            parts.append(_written(found))
        return parts, inputs

    def _change(
        self, ask: StatementAsk, change: Change, sentences: list[EvidenceSentence]
    ) -> tuple[str, list[str], list[_Input], bool] | None:
        """The change in one item between two years: in percent of the first year's figure
        when the question asks for a percentage, else the difference."""
        first, second = change.years
        before = self._input(change.item, first, None, sentences)
        after = self._input(change.item, second, None, sentences)
        if before is None or after is None:
            return None
        inputs = [after, before]
        subject = f"{change.name} from fiscal {first} to fiscal {second}"
        if ask.percent:
            parts = ["(", _written(after), "−", _written(before), ")", "÷", _written(before)]
            return subject, parts, inputs, True
        return subject, [_written(after), "−", _written(before)], inputs, False

    def _input(
        self,
        operand: Operand,
        year: int,
        subject_year: int | None,
        sentences: list[EvidenceSentence],
    ) -> _Input | None:
        row = self.rows.row_for(
            operand.phrase, operand.items, year, sentences, list(operand.statements), operand.strict
        )
        return None if row is None else _Input(row, year != subject_year)

    @staticmethod
    def _result(
        ask: StatementAsk, expression: str, inputs: list[_Input], percent: bool, divides: bool
    ) -> str | None:
        probe = formula_in(f"probe in 2000 = {expression} = 0")
        value = probe.computed() if probe is not None else None
        if value is None:
            return None
        # Two decimals unless asked: a percentage rounded to one hides what its inputs print
        # (5.46% is not 5.5%).
        decimals = ask.decimals if ask.decimals is not None else 2
        if percent:
            return f"{value:.{decimals}f}%"
        if divides:
            return f"{value:.{decimals}f}"
        if all(i.row.figure.percent for i in inputs):
            # Rates less rates: percentage points, as precise as the rates are printed.
            decimals = max(i.row.figure.decimals for i in inputs)
            return f"{value:.{decimals}f} percentage points"
        # An amount: in the inputs' scale, as they print it.
        scales = {i.row.figure.scale for i in inputs}
        units = {row_unit(i.row.sentence.text, i.row.sentence.table_scale) for i in inputs}
        if len(units) != 1 or len(scales) != 1:
            return None
        unit = next(iter(units))
        amount = value / scale_factor(unit)
        dollars = any(_written(i).lstrip("-").startswith("$") for i in inputs)
        sign = "-" if amount < 0 else ""
        words_scale = f" {_SCALE_WORD[unit]}" if unit in _SCALE_WORD else ""
        # As precise as the inputs print: 62.1 less 2.7 is 59.4, not 59.
        places = max(i.row.figure.decimals for i in inputs)
        return f"{sign}{'$' if dollars else ''}{abs(amount):,.{places}f}{words_scale}"


def _written(item: _Input) -> str:
    """An input as a calculation writes it: its figure, then the line item it is in square
    brackets, with its own period when it is not the metric's."""
    row = item.row
    period = f", fiscal {row.year}" if item.own_year else ""
    return f"{figure_text(row)} [{in_a_sentence(row.caption)}{period}]"
