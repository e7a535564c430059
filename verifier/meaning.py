"""Does a cited figure mean what the question asks? Presence is checked elsewhere (the quote is
verbatim, the figure is on the row, in the asked year's column); this is about which row.

A figure of the answer taken from a statement row fails when the row is, in accounting terms,
another quantity than the one asked:

- **another qualifier of the same item**: the question asks for the net figure and the row is
  the gross one (basic or diluted, current or non-current, continuing or discontinued
  operations, before or after tax): the row names the other qualifier and not the asked one;
- **a change for a balance**: the row is a movement during the period ("(Increase) decrease
  in inventories", "Change in deferred revenue", any row of a cash-flow statement other than
  its opening and closing cash) and the question asks for no change;
- **another statement**: the question names a primary statement and the row's table is
  titled as a different one.

The vocabulary (qualifier pairs, change markers) is data in the constitution's rule, general
accounting usage, not words of any question.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import cache

from ingest.vocabulary import CASH_FLOWS, stated_statements, statement_kinds
from verifier.constitution import Rule
from verifier.numbers import normalise_text, quantities, row_figures
from verifier.types import ClaimReport, DraftAnswer, EvidenceSentence, RuleResult, Verdict


def row_label(sentence: EvidenceSentence) -> str:
    """A statement row's caption: its text before its first figure."""
    text = normalise_text(sentence.text)
    figures = row_figures(text)
    return text[: figures[0].position].strip(" $:(") if figures else text


@cache
def _phrases(phrases: tuple[str, ...]) -> re.Pattern[str] | None:
    """Whole phrases, longest first (so "non-current" is read before the "current" in it);
    a space matches any run of spaces or hyphens."""
    if not phrases:
        return None
    ordered = sorted(phrases, key=len, reverse=True)
    body = "|".join(re.escape(p).replace(r"\ ", r"[\s-]+") for p in ordered)
    return re.compile(rf"(?<![\w-])(?:{body})(?![\w-])", re.IGNORECASE)


def _names(text: str, phrases: Sequence[str]) -> bool:
    pattern = _phrases(tuple(phrases))
    return pattern is not None and pattern.search(text) is not None


def _named_sides(text: str, sides: Sequence[Sequence[str]]) -> set[int]:
    """Which sides of a qualifier pair the text names; a longer phrase masks the shorter ones
    inside it ("non-current" names no "current")."""
    found: list[tuple[int, int, int]] = []
    for side, phrases in enumerate(sides):
        pattern = _phrases(tuple(phrases))
        if pattern is not None:
            found.extend((m.start(), m.end(), side) for m in pattern.finditer(text))
    found.sort(key=lambda hit: (hit[0], -(hit[1] - hit[0])))
    named: set[int] = set()
    covered_to = -1
    for start, end, side in found:
        if start >= covered_to:
            named.add(side)
            covered_to = end
    return named


def meaning_conflict(rule: Rule, question: str, sentence: EvidenceSentence) -> str | None:
    """Why the cited statement row is not the quantity the question asks for, or None."""
    label = row_label(sentence)
    options = rule.options
    for sides in options.get("qualifier_pairs", []):
        asked = _named_sides(question, sides)
        printed = _named_sides(label, sides)
        if asked and printed and not asked & printed:
            asked_name = " / ".join(sides[i][0] for i in sorted(asked))
            printed_name = " / ".join(sides[i][0] for i in sorted(printed))
            return (
                f"the question asks for the {asked_name} figure; the cited row {label!r} is "
                f"the {printed_name} one"
            )
    if not _names(question, options.get("change_words", [])):
        if _names(label, options.get("change_markers", [])):
            return (
                f"the cited row {label!r} is a change during the period; the question asks "
                "for no change"
            )
        on_cash_flows = CASH_FLOWS in statement_kinds(sentence.table_title or "")
        if (
            on_cash_flows
            and _names(question, options.get("balance_words", []))
            and not _names(label, options.get("cash_flow_balances", []))
        ):
            return (
                f"the question asks for a balance; the cited row {label!r} is a flow during "
                "the period on the cash-flow statement"
            )
    named = set(stated_statements(question))
    printed_on = statement_kinds(sentence.table_title or "")
    if named and printed_on and not named & printed_on:
        return (
            f"the question asks about the {' or '.join(sorted(named))}; the cited row is on "
            f"the {' or '.join(sorted(printed_on))} ({sentence.table_title!r})"
        )
    return None


def cited_rows_mean_the_asked_quantity(
    rule: Rule,
    draft: DraftAnswer,
    reports: Sequence[ClaimReport],
    cited_per_claim: Sequence[Sequence[EvidenceSentence]],
    question: str,
) -> RuleResult:
    """Each verified claim that states a figure of the direct answer from one statement row
    (its value, or a change, average or growth of that row) cites a row that is the asked
    quantity (see the module's docstring). A calculation over several rows (a margin, a sum
    of segments) is not held to one row's meaning. ``cited_per_claim``: the sentences each
    claim quotes verbatim."""
    answer_figures = {q.number for q in quantities(draft.answer)}
    if not question or not answer_figures:
        return RuleResult(rule.id, Verdict.PASS, "no figure of the answer to check")
    for report, cited in zip(reports, cited_per_claim, strict=True):
        if not report.passed or not answer_figures & {
            q.number for q in quantities(report.claim.text)
        }:
            continue
        rows = [s for s in cited if s.kind == "table_row" and row_figures(s.text)]
        if len({row_label(s).lower() for s in rows}) != 1:
            continue
        conflict = meaning_conflict(rule, question, rows[0])
        if conflict:
            return RuleResult(rule.id, Verdict.FAIL, conflict, span=row_label(rows[0]))
    return RuleResult(rule.id, Verdict.PASS, "every cited row is the asked quantity")
