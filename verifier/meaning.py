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

from collections.abc import Sequence

from ingest.vocabulary import CASH_FLOWS, statement_kinds
from verifier.asked import AskedQuestion, MeaningVocabulary, as_asked, named_sides, names_any
from verifier.constitution import Rule
from verifier.numbers import normalise_text, quantities, row_figures
from verifier.types import ClaimReport, DraftAnswer, EvidenceSentence, RuleResult, Verdict


def row_label(sentence: EvidenceSentence) -> str:
    """A statement row's caption: its text before its first figure."""
    text = normalise_text(sentence.text)
    figures = row_figures(text)
    return text[: figures[0].position].strip(" $:(") if figures else text


def meaning_conflict(rule: Rule, asked: AskedQuestion, sentence: EvidenceSentence) -> str | None:
    """Why the cited statement row is not the quantity the question asks for, or None.
    ``asked`` is read in the rule's vocabulary (``as_asked``)."""
    label = row_label(sentence)
    options = rule.options
    pairs = options.get("qualifier_pairs", [])
    if asked.given and asked.vocabulary != MeaningVocabulary.of(options):
        raise ValueError("the question was read in another vocabulary than the rule's (as_asked)")
    # No question names no side of any pair.
    asked_sides = asked.qualifier_sides or tuple(frozenset[int]() for _ in pairs)
    for sides, named_by_question in zip(pairs, asked_sides, strict=True):
        printed = named_sides(label, sides)
        if named_by_question and printed and not named_by_question & printed:
            asked_name = " / ".join(sides[i][0] for i in sorted(named_by_question))
            printed_name = " / ".join(sides[i][0] for i in sorted(printed))
            return (
                f"the question asks for the {asked_name} figure; the cited row {label!r} is "
                f"the {printed_name} one"
            )
    if not asked.names_change:
        if names_any(label, options.get("change_markers", [])):
            return (
                f"the cited row {label!r} is a change during the period; the question asks "
                "for no change"
            )
        on_cash_flows = CASH_FLOWS in statement_kinds(sentence.table_title or "")
        if (
            on_cash_flows
            and asked.names_balance
            and not names_any(label, options.get("cash_flow_balances", []))
        ):
            return (
                f"the question asks for a balance; the cited row {label!r} is a flow during "
                "the period on the cash-flow statement"
            )
    named = asked.statements
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
    question: AskedQuestion | str,
) -> RuleResult:
    """Each verified claim that states a figure of the direct answer from one statement row
    (its value, or a change, average or growth of that row) cites a row that is the asked
    quantity (see the module's docstring). A calculation over several rows (a margin, a sum
    of segments) is not held to one row's meaning. ``cited_per_claim``: the sentences each
    claim quotes verbatim. ``question``: a string is read here, in the rule's vocabulary."""
    asked = as_asked(question, MeaningVocabulary.of(rule.options))
    answer_figures = {q.number for q in quantities(draft.answer)}
    if not asked.given or not answer_figures:
        return RuleResult(rule.id, Verdict.PASS, "no figure of the answer to check")
    for report, cited in zip(reports, cited_per_claim, strict=True):
        if not report.passed or not answer_figures & {
            q.number for q in quantities(report.claim.text)
        }:
            continue
        rows = [s for s in cited if s.kind == "table_row" and row_figures(s.text)]
        if len({row_label(s).lower() for s in rows}) != 1:
            continue
        conflict = meaning_conflict(rule, asked, rows[0])
        if conflict:
            return RuleResult(rule.id, Verdict.FAIL, conflict, span=row_label(rows[0]))
    return RuleResult(rule.id, Verdict.PASS, "every cited row is the asked quantity")
