"""The CPU planner: links a ``Question`` to table rows, columns and prose sentences, and writes
the ``Plan`` its operation asks for, or refuses.

Linking is learned, not matched by wording rules: a row's link features (how much of its
label the question covers, how much of the question it covers, weighted by how distinctive
each word is within its table, the group label, the embedding cosine when an embedder is
given) go through a logistic model trained on questions whose derivations name the rows they
used (``engine/training.py``, cross-validated by report). Columns are linked by the periods
the question asks and, where a table's columns are not periods, by the same word features
over the column headers. A plan's confidence is the product of the operation's and the
links' probabilities, or, when a confidence model is given, that model's probability that the
plan is right, learned from the plan's signals (the operation's and the links' probabilities
and margins) on answers to reports the planner was not trained on. The planner refuses below
its operation's threshold.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Protocol

import numpy as np

from engine.cells import Cell, CellGrid, column_years, is_total
from engine.learned import LinearModel
from engine.plans import Plan, ProseSpan, Refusal
from engine.question import Operation, Question, Vectors, packaged_model
from engine.spans import SpanSelector
from engine.text import content_stems

DEFAULT_MIN_CONFIDENCE = 0.35
# The least confidence each operation's plans are delivered with, chosen on training reports
# by ``engine/training.py`` and shipped beside the models.
Thresholds = dict[str, float]


@dataclass(slots=True)
class Evidence:
    """What a plan may cite: the report's tables as cell grids and its prose sentences."""

    grids: list[CellGrid]
    sentences: list[tuple[str, str]]  # (sentence id, text) of prose, in reading order


class Planner(Protocol):
    def plan(self, question: Question, evidence: Evidence) -> Plan | Refusal: ...


@dataclass(slots=True)
class RowLink:
    grid: CellGrid
    row: int
    probability: float
    mention: int  # where in the question the row's words first appear (for order)
    features: dict[str, float] = field(default_factory=dict)


def _coverage(stems: Sequence[str], asked: set[str], weights: dict[str, float]) -> float:
    if not stems:
        return 0.0
    total = sum(weights.get(s, 1.0) for s in set(stems))
    found = sum(weights.get(s, 1.0) for s in set(stems) if s in asked)
    return found / total if total else 0.0


def row_features(
    question: Question, grid: CellGrid, row: int, cosine: float | None = None
) -> dict[str, float]:
    """The link features of one table row for a question."""
    asked = set(question.stems)
    path = grid.row_paths[row]
    label_stems = content_stems(path[-1]) if path else []
    group_stems = [s for part in path[:-1] for s in content_stems(part)]
    idf = grid.row_stem_idf()
    covered = _coverage(label_stems, asked, idf)
    asked_covered = sum(
        1 for s in set(question.stems) if s in set(label_stems) | set(group_stems)
    ) / max(len(set(question.stems)), 1)
    title_stems = set(content_stems(grid.table.title or ""))
    features = {
        "label_covered": covered,
        "label_all_covered": float(bool(label_stems) and set(label_stems) <= asked),
        "question_covered": asked_covered,
        "group_covered": _coverage(group_stems, asked, idf) if group_stems else 0.0,
        "has_group": float(bool(group_stems)),
        "label_words": min(len(label_stems), 8) / 8.0,
        "total_row": float(_is_total(path)),
        "asks_total": float("total" in asked),
        "title_covered": _coverage(sorted(title_stems), asked, {}) if title_stems else 0.0,
        "no_label": float(not label_stems),
    }
    features["total_match"] = features["total_row"] * features["asks_total"]
    features["covered_x_asked"] = covered * asked_covered
    if cosine is not None:
        features["cosine"] = cosine
    return features


def _mention(question: Question, grid: CellGrid, row: int) -> int:
    label = set(content_stems(" ".join(grid.row_paths[row])))
    for position, s in enumerate(question.stems):
        if s in label:
            return position
    return len(question.stems)


def question_signals(question: Question) -> dict[str, float]:
    """How clearly the question asks its operation, for the confidence model."""
    scores = sorted(question.operation_scores.values(), reverse=True) or [0.0]
    return {
        f"op:{question.operation.value}": 1.0,
        "op_prob": scores[0],
        "op_margin": scores[0] - (scores[1] if len(scores) > 1 else 0.0),
        "years_asked": min(len(question.years), 3) / 3.0,
        "asks_percent": float(question.asks_percent),
    }


def link_signals(links: Sequence[RowLink]) -> dict[str, float]:
    """How clearly one row is the asked one: its probability, its lead over the next row (in
    any table and in its own), how many rows are likely, and its own link features."""
    best = links[0]
    runner_up = links[1].probability if len(links) > 1 else 0.0
    same_table = next((link.probability for link in links[1:] if link.grid is best.grid), 0.0)
    signals = {
        "row_prob": best.probability,
        "row_margin": best.probability - runner_up,
        "row_margin_in_table": best.probability - same_table,
        "rows_likely": min(sum(link.probability > 0.5 for link in links), 5) / 5.0,
        "tables": min(len({id(link.grid) for link in links}), 5) / 5.0,
    }
    signals.update({f"row:{name}": value for name, value in best.features.items()})
    return signals


def calibrated_confidence(model: LinearModel, signals: dict[str, float], raw: float) -> float:
    """The confidence model's probability that a plan is right, from the plan's signals and
    its raw (product) confidence."""
    return model.probabilities(confidence_features(signals, raw)).get("yes", 0.0)


def confidence_features(signals: dict[str, float], raw: float) -> dict[str, float]:
    return signals | {"raw_confidence": raw}


class CellLinker:
    """Scores table rows against a question with the learned link model."""

    def __init__(self, model: LinearModel, vectors: Vectors | None = None) -> None:
        self.model = model
        self.vectors = vectors

    @classmethod
    def packaged(cls, vectors: Vectors | None = None) -> CellLinker:
        return cls(packaged_model("link.json"), vectors)

    def rows(self, question: Question, grids: Sequence[CellGrid]) -> list[RowLink]:
        links = []
        query = question.vector if self.vectors is not None else None
        for grid in grids:
            rows = [r for r in range(len(grid.row_paths)) if grid.row_cells(r)]
            cosines: list[float | None] = [None] * len(rows)
            if self.vectors is not None and query is not None and rows:
                texts = [" / ".join(grid.row_paths[r]) for r in rows]
                cosines = [float(v) for v in np.asarray(self.vectors(texts)) @ query]
            for r, cosine in zip(rows, cosines, strict=True):
                features = row_features(question, grid, r, cosine)
                probability = self.model.probabilities(features).get("yes", 0.0)
                links.append(RowLink(grid, r, probability, _mention(question, grid, r), features))
        links.sort(key=lambda link: -link.probability)
        return links


def _larger_first(cells: tuple[Cell, ...]) -> tuple[Cell, ...]:
    """Two cells, the larger figure first: an unsigned difference subtracts the smaller."""
    return tuple(sorted(cells, key=lambda cell: -(cell.value or 0.0)))


def _filled(grid: CellGrid, row: int, columns: Sequence[int]) -> tuple[Cell, ...] | None:
    """The row's cells in these columns, None unless every one prints a figure."""
    cells = [grid.cell(row, column) for column in columns]
    if not cells or any(cell is None or cell.value is None for cell in cells):
        return None
    return tuple(cell for cell in cells if cell is not None)


def _year_columns(
    grid: CellGrid, years: Sequence[int], asked: Sequence[str] = (), percent: bool = False
) -> list[int] | None:
    """The figure columns of the asked years, in the order asked; None unless every asked
    year has one column: the only one, the only amount (not "%") under it (the only "%" one
    when ``percent`` asks for printed percentages and there is one), or the only one whose
    other header words the question names (``asked``: its stems; "Americas" over "2019 |
    2018" beside "Europe" over the same years)."""
    # Only the question's words that name no row can name a column.
    naming = set(asked) - set(grid.row_stem_idf())
    columns = []
    for year in years:
        found = [c for c, path in grid.column_paths.items() if year in column_years(path)]
        amounts = [c for c in found if _is_percent_column(grid, c) == percent]
        if percent and not amounts:
            amounts = [c for c in found if not _is_percent_column(grid, c)]
        named = [c for c in amounts if set(content_stems(" ".join(grid.column_paths[c]))) & naming]
        if len(amounts) == 1:
            columns.append(amounts[0])
        elif len(found) == 1:
            columns.append(found[0])
        elif len(named) == 1:
            columns.append(named[0])
        else:
            return None
    return columns


def _is_percent_column(grid: CellGrid, column: int) -> bool:
    cells = grid.column_cells(column)
    return bool(cells) and all(cell.percent for cell in cells)


def _period_columns(grid: CellGrid) -> list[int]:
    """Columns that hold one period's amounts, most recent first as printed."""
    return [
        c
        for c in grid.figure_columns
        if len(set(column_years(grid.column_paths[c]))) == 1 and not _is_percent_column(grid, c)
    ]


def _is_total(path: tuple[str, ...]) -> bool:
    return bool(path) and is_total(path[-1])


def _reads_percent(question: Question) -> bool:
    """Whether the asked figures are percentages as printed ("the percentage of revenue from
    China", "the average gross margin %"), not the amounts a percentage change or a share is
    computed from."""
    return question.names_percent and question.operation not in {
        Operation.PERCENT_CHANGE,
        Operation.RATIO,
    }


def _summarises(path: tuple[str, ...]) -> bool:
    """Whether a row under a group label restates the label ("Gross deferred tax liabilities"
    under "Deferred tax liabilities:"): a subtotal of the group's items, not one of them."""
    if len(path) < 2:
        return False
    group = set(content_stems(path[0]))
    return bool(group) and group <= set(content_stems(path[-1]))


def _two_named_columns(question: Question, grid: CellGrid) -> tuple[int, int] | None:
    """Two columns that are not periods but that the question names by their headers' own
    words ("between the third and fourth quarter", "at June 30 and December 31"), as
    (the one named second, the one named first): a change runs from the first to the second."""
    shared = None
    stems_of = {}
    for column in grid.figure_columns:
        stems = set(content_stems(" ".join(grid.column_paths[column])))
        stems_of[column] = stems
        shared = stems if shared is None else shared & stems
    named = []
    for column, stems in stems_of.items():
        own = stems - (shared or set())
        positions = [i for i, s in enumerate(question.stems) if s in own]
        if own and positions:
            named.append((min(positions), column))
    if len(named) != 2 or named[0][0] == named[1][0]:
        return None
    (_, first), (_, second) = sorted(named)
    return second, first


def _column_by_words(question: Question, grid: CellGrid) -> int | None:
    """The one figure column whose header words the question names, if exactly one."""
    asked = set(question.stems)
    scored = []
    for column in grid.figure_columns:
        stems = set(content_stems(" ".join(grid.column_paths[column])))
        if stems:
            scored.append((len(stems & asked) / len(stems), column))
    best = [column for score, column in scored if score > 0 and score == max(s for s, _ in scored)]
    return best[0] if len(best) == 1 else None


class CpuPlanner:
    def __init__(
        self,
        linker: CellLinker,
        min_confidence: float = DEFAULT_MIN_CONFIDENCE,
        thresholds: Thresholds | None = None,
        spans: SpanSelector | None = None,
        confidence_model: LinearModel | None = None,
    ) -> None:
        self.linker = linker
        self.min_confidence = min_confidence
        self.thresholds = thresholds or {}
        self.spans = spans
        self.confidence_model = confidence_model

    @classmethod
    def packaged(cls, vectors: Vectors | None = None) -> CpuPlanner:
        """The planner with the models and thresholds shipped in ``engine/models``."""
        confidence = packaged_model("confidence.json")
        return cls(
            CellLinker.packaged(vectors),
            thresholds=confidence.card.get("thresholds", {}),
            spans=SpanSelector(packaged_model("spans.json")),
            confidence_model=confidence,
        )

    def _least(self, operation: Operation) -> float:
        return self.thresholds.get(operation.value, self.min_confidence)

    def plan(self, question: Question, evidence: Evidence) -> Plan | Refusal:
        """The best plan, or a refusal when it is below its operation's threshold."""
        plan = self.draft(question, evidence)
        if isinstance(plan, Refusal):
            return plan
        operation = question.operation
        if plan.confidence < self._least(operation):
            return Refusal(
                f"the question links to the evidence with confidence {plan.confidence:.2f}, "
                f"below {self._least(operation):.2f} for a {operation.value}",
                (plan,),
            )
        return plan

    def draft(self, question: Question, evidence: Evidence) -> Plan | Refusal:
        """The best plan with its confidence, however low (thresholds are chosen on these)."""
        operation = question.operation
        if operation is Operation.OTHER:
            return Refusal("the engine does not plan this arithmetic")
        if operation is Operation.EXPLANATION and question.threshold is None:
            plan = self._prose_plan(question, evidence)
        else:
            links = self.linker.rows(question, evidence.grids)
            # A stated threshold ("in which year was X less than 100 million") filters
            # figures whatever else the wording suggests: no single value answers it.
            filtering = {
                Operation.COUNT,
                Operation.COMPARISON,
                Operation.LIST,
                Operation.VALUE,
                Operation.EXPLANATION,
            }
            if not links:
                plan = Refusal("no table row to link the question to")
            elif question.threshold is not None and operation in filtering:
                plan = self._filter(question, links)
            elif operation is Operation.COUNT:
                signals = question_signals(question) | link_signals(links)
                listed = self._items(question, links[0].grid, signals)
                plan = (
                    listed if isinstance(listed, Refusal) else replace(listed, operation=operation)
                )
            else:
                plan = self._table_plan(question, links)
        if operation is Operation.VALUE and question.threshold is None:
            plan = self._value_from_prose(question, evidence, plan)
        if isinstance(plan, Refusal) or self.confidence_model is None:
            return plan
        calibrated = calibrated_confidence(self.confidence_model, plan.signals, plan.confidence)
        return replace(
            plan,
            confidence=calibrated,
            signals=confidence_features(plan.signals, plan.confidence),
        )

    # ---- table plans ------------------------------------------------------------------------

    def _table_plan(self, question: Question, links: list[RowLink]) -> Plan | Refusal:
        operation = question.operation
        best = links[0]
        grid = best.grid
        confidence = question.operation_confidence * best.probability
        why = f"row {' / '.join(grid.row_paths[best.row])!r} (p={best.probability:.2f})"
        years = question.years
        if operation in {Operation.DIFFERENCE, Operation.SUM, Operation.RATIO} and len(years) < 2:
            return self._two_rows(question, links)

        signals = question_signals(question) | link_signals(links) | {"table_plan": 1.0}

        def plan(cells: tuple[Cell, ...], expression: str = "", **kwargs: object) -> Plan:
            found = signals | {"cells": min(len(cells), 6) / 6.0}
            return Plan(
                operation,
                cells,
                expression,
                confidence=confidence,
                why=why,
                signals=found,
                **kwargs,  # type: ignore[arg-type]
            )

        if operation is Operation.VALUE:
            if question.years:
                signals["column:year"] = 1.0
            elif _column_by_words(question, grid) is not None:
                signals["column:words"] = 1.0
            column = self._one_column(question, grid)
            value = _filled(grid, best.row, [column]) if column is not None else None
            if value is None:
                return Refusal("no single cell answers the asked period")
            return plan(value)
        if operation in {Operation.CHANGE, Operation.PERCENT_CHANGE}:
            periods = self._two_periods(question, grid)
            if periods is None:
                periods = _two_named_columns(question, grid)
                signals["column:named"] = 1.0
            pair = _filled(grid, best.row, list(periods)) if periods else None
            if pair is None:
                return Refusal("the question's periods do not name two filled columns")
            if operation is Operation.CHANGE:
                return plan(_larger_first(pair) if question.unsigned else pair, "{0} - {1}")
            return plan(pair, "({0} - {1}) / {1} * 100", percent=True)
        if operation in {Operation.AVERAGE, Operation.SUM, Operation.RATIO, Operation.DIFFERENCE}:
            columns = self._asked_periods(question, grid, operation) or []
            combined = _filled(grid, best.row, columns) if len(columns) >= 2 else None
            if combined is None:
                return Refusal("the question's periods do not name the columns to combine")
            names = [f"{{{i}}}" for i in range(len(combined))]
            if operation is Operation.AVERAGE:
                return plan(combined, f"({' + '.join(names)}) / {len(names)}")
            if operation is Operation.SUM:
                return plan(combined, " + ".join(names))
            if operation is Operation.DIFFERENCE:
                pair = combined[:2]
                return plan(_larger_first(pair) if question.unsigned else pair, "{0} - {1}")
            if question.asks_percent:
                return plan(combined[:2], "{0} / {1} * 100", percent=True)
            return plan(combined[:2], "{0} / {1}")
        # "Which year was X higher?", "in which year is X the highest": one period, not a
        # list of them, whatever the classifier reads.
        if operation is Operation.LIST and question.answers_with == "period" and question.direction:
            operation = Operation.COMPARISON
        if operation is Operation.COMPARISON:
            if question.answers_with == "item":
                return self._ranked_items(question, grid, signals)
            if question.answers_with != "period":
                return Refusal("the comparison answers with neither a period nor an item")
            compared = (
                _year_columns(grid, years, question.stems, _reads_percent(question))
                if len(years) >= 2
                else _period_columns(grid)
            )
            cells = _filled(grid, best.row, compared or [])
            if cells is None or len(cells) < 2:
                return Refusal("the comparison's periods do not name two filled columns")
            return plan(cells, direction=question.direction or "higher", answer_with="period")
        if operation is Operation.LIST:
            answers_with = question.answers_with
            if answers_with == "item" and len(years) >= 2:
                # "What were the realized losses in 2019, 2018 and 2017?": figures of the
                # named years; a list of items is asked in one period or none.
                answers_with = "figure"
            if answers_with == "period":
                listed = _filled(grid, best.row, _period_columns(grid))
                if listed is None or len(listed) < 2:
                    return Refusal("the table has no two period columns to list")
                return plan(listed, answer_with="period")
            if answers_with == "figure" and len(years) >= 2:
                # "for fiscal years 2019 to 2017": every year of the span, in the order asked.
                asked_years = list(question.year_span) or list(years)
                if question.year_span and years[0] > years[-1]:
                    asked_years.reverse()
                figures = _filled(
                    grid,
                    best.row,
                    _year_columns(grid, asked_years, question.stems, _reads_percent(question))
                    or [],
                )
                if figures is not None and len(figures) == len(asked_years):
                    return plan(figures)
            if answers_with == "figure":
                return self._two_rows(question, links)
            if answers_with == "item":
                return self._items(question, grid, signals)
            return Refusal("the list's items are not periods of one row")
        return Refusal(f"the engine does not plan a {operation.value} yet")

    def _one_column(self, question: Question, grid: CellGrid) -> int | None:
        if question.years:
            columns = _year_columns(
                grid, question.years[:1], question.stems, _reads_percent(question)
            )
            if columns:
                return columns[0]
            return None
        named = _column_by_words(question, grid)
        if named is not None:
            return named
        figure_columns = grid.figure_columns
        return figure_columns[0] if len(figure_columns) == 1 else None

    def _two_periods(self, question: Question, grid: CellGrid) -> tuple[int, int] | None:
        """The columns of the minuend and the subtrahend: "from 2019 to 2018" is 2018 less
        2019 as asked; otherwise the later period less the earlier."""
        if not question.years:
            # No period asked: a table of exactly two periods changes from one to the other.
            printed = _period_columns(grid)
            by_year = {column_years(grid.column_paths[c])[0]: c for c in printed}
            if len(by_year) != 2 or len(printed) != 2:
                return None
            later, earlier = sorted(by_year, reverse=True)
            return by_year[later], by_year[earlier]
        if question.ordered_periods and len(question.years) == 2:
            years = [question.years[1], question.years[0]]
        else:
            years = sorted(set(question.years), reverse=True)
        if len(years) == 1:
            years = [years[0], years[0] - 1]
        if len(years) != 2:
            return None
        columns = _year_columns(grid, years, question.stems, _reads_percent(question))
        if not columns:
            return None
        return columns[0], columns[1]

    def _asked_periods(
        self, question: Question, grid: CellGrid, operation: Operation
    ) -> list[int] | None:
        years = list(question.years)
        if operation in {Operation.AVERAGE, Operation.SUM} and question.year_span:
            years = list(question.year_span)
        if operation is Operation.AVERAGE and len(years) == 1:
            years = [years[0], years[0] - 1]  # an average balance over the year: its two ends
        if len(years) >= 2:
            return _year_columns(grid, years, question.stems, _reads_percent(question))
        if operation in {Operation.AVERAGE, Operation.SUM} and not years:
            return _period_columns(grid)
        return None

    def _filter(self, question: Question, links: list[RowLink]) -> Plan | Refusal:
        """A threshold the question states, over the periods of the asked row ("how many
        years did net sales exceed $200,000 thousand") or, when one period is asked, over the
        item rows of its column ("how many segments were above $50 million in 2019")."""
        assert question.threshold is not None
        best = links[0]
        grid = best.grid
        signals = question_signals(question) | link_signals(links)
        if len(question.years) == 1:
            columns = _year_columns(grid, question.years, question.stems, _reads_percent(question))
            if not columns:
                return Refusal("no column for the asked period")
            listed = self._items(question, grid, signals)
            if isinstance(listed, Refusal):
                return listed
            found = [grid.cell(cell.row, columns[0]) for cell in listed.cells]
            cells = tuple(c for c in found if c is not None and c.value is not None)
            answer_with, how = "item", "filter:rows"
            confidence = listed.confidence
        else:
            filled = _filled(grid, best.row, _period_columns(grid))
            if filled is None or len(filled) < 2:
                return Refusal("the asked row has no two period columns to compare")
            cells, answer_with, how = filled, "period", "filter:periods"
            confidence = question.operation_confidence * best.probability
        if len(cells) < 2:
            return Refusal("fewer than two figures to compare with the threshold")
        return Plan(
            question.operation,
            cells,
            answer_with=answer_with,
            condition=question.threshold,
            confidence=confidence,
            why=f"{len(cells)} figures against {question.threshold[0]} "
            f"{question.threshold[1]:,.10g}",
            signals=signals | {how: 1.0, "cells": min(len(cells), 6) / 6.0},
        )

    def _ranked_items(
        self, question: Question, grid: CellGrid, signals: dict[str, float]
    ) -> Plan | Refusal:
        """The item with the highest (or lowest) figure in the asked period: "which segment
        had the lowest net revenue in 2021", over the rows of the group the question names or
        of the whole table, totals left out."""
        listed = self._items(question, grid, signals)
        if isinstance(listed, Refusal):
            return listed
        column = self._one_column(question, grid)
        if column is None:
            return Refusal("no single column for the asked period")
        found = [grid.cell(cell.row, column) for cell in listed.cells]
        cells = tuple(cell for cell in found if cell is not None and cell.value is not None)
        if len(cells) < 2:
            return Refusal("fewer than two items with a figure in the asked period")
        direction = question.direction or "higher"
        return replace(
            listed,
            operation=Operation.COMPARISON,
            cells=cells,
            direction=direction,
            why=f"the {'lowest' if direction == 'lower' else 'highest'} figure among {listed.why}",
            signals=listed.signals | {"rank:items": 1.0},
        )

    def _items(
        self, question: Question, grid: CellGrid, signals: dict[str, float]
    ) -> Plan | Refusal:
        """The items a list asks for: the rows under the group label the question names
        ("the components of deferred tax liabilities"), or, where no group label is named,
        every item row of the table; totals are not items."""
        asked = set(question.stems)
        groups: dict[str, list[int]] = {}
        for row, path in enumerate(grid.row_paths):
            if len(path) == 2 and grid.row_cells(row):
                groups.setdefault(path[0], []).append(row)
        named = []
        for group in groups:
            stems = set(content_stems(group))
            if stems:
                named.append((len(stems & asked) / len(stems), group))
        named.sort(reverse=True)
        if named and named[0][0] > 0 and (len(named) == 1 or named[0][0] > named[1][0]):
            rows = groups[named[0][1]]
            coverage, how = named[0][0], "list:group"
        else:
            rows = [row for row in range(len(grid.row_paths)) if grid.row_cells(row)]
            coverage, how = 0.0, "list:table"
        cells = tuple(
            grid.row_cells(row)[0]
            for row in rows
            if not _is_total(grid.row_paths[row]) and not _summarises(grid.row_paths[row])
        )
        if len(cells) < 2:
            return Refusal("fewer than two items to list")
        confidence = question.operation_confidence * (0.5 + 0.5 * coverage)
        found = signals | {how: 1.0, "group_covered": coverage, "cells": min(len(cells), 6) / 6}
        return Plan(
            Operation.LIST,
            cells,
            answer_with="item",
            confidence=confidence,
            why=f"the {len(cells)} item rows of "
            f"{named[0][1] if how == 'list:group' else 'the table'!r}",
            signals=found,
        )

    def _two_rows(self, question: Question, links: list[RowLink]) -> Plan | Refusal:
        first = links[0]
        grid = first.grid
        others = [link for link in links[1:] if link.grid is grid]
        if not others:
            return Refusal("the question names one row; two are needed")
        second = others[0]
        pair = sorted((first, second), key=lambda link: link.mention)
        column = self._one_column(question, grid)
        if column is None:
            return Refusal("no single column for the asked period")
        found = [grid.cell(link.row, column) for link in pair]
        cells = tuple(cell for cell in found if cell is not None and cell.value is not None)
        if len(cells) != len(pair):
            return Refusal("a row's cell is empty")
        operation = question.operation
        if operation is Operation.DIFFERENCE and question.unsigned:
            cells = _larger_first(cells)
        if operation is Operation.RATIO and question.asks_percent:
            # A share of a whole: the total row is the whole, whichever is named first.
            cells = tuple(sorted(cells, key=lambda cell: _is_total(cell.row_path)))
        if operation is Operation.LIST:
            expression = ""
        elif operation is Operation.SUM:
            expression = "{0} + {1}"
        elif operation is Operation.DIFFERENCE:
            expression = "{0} - {1}"
        else:
            expression = "{0} / {1} * 100" if question.asks_percent else "{0} / {1}"
        confidence = question.operation_confidence * first.probability * second.probability
        signals = question_signals(question) | link_signals(links)
        signals |= {"two_rows": 1.0, "second_row_prob": second.probability}
        return Plan(
            operation,
            cells,
            expression,
            percent=operation is Operation.RATIO and question.asks_percent,
            confidence=confidence,
            why=f"rows {[' / '.join(grid.row_paths[link.row]) for link in pair]}",
            signals=signals,
        )

    # ---- prose -----------------------------------------------------------------------------

    def _value_from_prose(
        self, question: Question, evidence: Evidence, table: Plan | Refusal
    ) -> Plan | Refusal:
        """A figure the prose states, where it answers with more confidence than a cell."""
        prose = self._prose_plan(question, evidence)
        if isinstance(prose, Refusal):
            return table
        if isinstance(table, Refusal) or prose.confidence > table.confidence:
            return prose
        return table

    def _prose_plan(self, question: Question, evidence: Evidence) -> Plan | Refusal:
        if self.spans is None:
            return Refusal("no span selector")
        found = self.spans.best(question, evidence.sentences)
        if found is None:
            return Refusal("no sentence shares the question's words")
        candidate, probability = found
        signals = question_signals(question) | {
            "span_prob": probability,
            f"span:{candidate.kind}": 1.0,
            "span_sentence_score": candidate.sentence_score,
        }
        return Plan(
            question.operation,
            spans=(
                ProseSpan(candidate.sentence_id, candidate.start, candidate.end, candidate.text),
            ),
            confidence=question.operation_confidence * probability,
            signals=signals,
            why=f"{candidate.kind} span of a sentence holding {candidate.sentence_score:.0%} "
            f"of the question's words (p={probability:.2f})",
        )
