"""Statement lookup: a question that asks for one line item in one fiscal year is answered
from the statement row that prints it, by reading the row's column for that year.

The small generator picks the wrong row or the other year's column on most such questions
(measured on the FinanceBench lookups: two of ten right); the row's figure under its header's
year is a lookup no model is needed for. The draft this module writes is an ordinary draft:
it goes through every rule of the constitution like a generated one, and when it does not
verify, or the question is not a plain lookup, the generator answers instead. Questions that
compute something (a ratio, a margin, a change, an average) or name several items or years
are never answered here.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from ingest.vocabulary import BALANCE, asked_items, named_statements, statement_kinds
from verifier.numbers import Quantity, aligned_columns, normalise_text, row_unit, years_in
from verifier.types import DraftAnswer, DraftCitation, DraftClaim, EvidenceSentence

STATEMENT_LOOKUP_VERSION = "statement-lookup@1"

# Words that make a question a computation or a comparison, not the reading of one figure.
_NOT_A_LOOKUP = re.compile(
    r"%|\b(?:defined?|definition|ratio|average|change[sd]?|margin|growth|grew|grow|turnover|"
    r"percent(?:age)?|compared?|comparison|increased?|decreased?|trend|per share|cagr|"
    r"difference|between|sum|total of|combined|less|minus|plus|divided)\b",
    re.IGNORECASE,
)
_SCALE_WORD = {"thousands": "thousand", "millions": "million", "billions": "billion"}
# A cost, an expense or money paid out is printed in brackets because it is subtracted; the
# amount is the figure without its sign ("cost of sales of $981 million", "capital
# expenditures of $1,577 million"). A bracketed result (a net loss) is negative.
_SUBTRACTED = re.compile(
    r"\b(?:costs?|expenses?|purchases?|payments?|additions?|repurchases?|acquisitions?|"
    r"expenditures?|paid|used|depreciation|amortization|provision)\b"
)


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
    label = re.sub(r"(?<=[A-Za-z])\d+\b", "", label)
    return " ".join(label.split()).strip(" :$,.-")


def _comparable(caption: str) -> str:
    lowered = caption.lower().replace("&", " and ").replace(" - ", ", ").replace(" — ", ", ")
    return " ".join(re.sub(r"[^a-z0-9, ]", " ", lowered).split())


class StatementLookup:
    """Finds the row a plain line-item question asks for among the retrieved sentences and
    drafts the answer from it. Stateless and cheap: nothing to warm up."""

    version = STATEMENT_LOOKUP_VERSION

    def find(self, question: str, sentences: Iterable[EvidenceSentence]) -> RowLookup | None:
        """The row and figure that answer ``question``, or None when the question is not a
        plain lookup or the retrieved rows do not settle it (no row for the item, or rows
        that print different figures for the year)."""
        if _NOT_A_LOOKUP.search(question):
            return None
        years = years_in(question)
        if len(years) != 1:
            return None
        year = next(iter(years))
        items = asked_items(question)
        asked_question = _comparable(question)
        candidates: list[RowLookup] = []
        for sentence in sentences:
            if sentence.kind != "table_row":
                continue
            columns = aligned_columns(normalise_text(sentence.text), sentence.table_header_rows)
            figure = next((q for y, q in columns or () if y == year), None)
            caption = row_caption(sentence.text)
            if figure is not None and caption:
                candidates.append(RowLookup(sentence, caption, year, figure))
        # The question prints the caption itself ("total current assets", "cost of sales"):
        # the longest one it prints, so that "cost of sales" is not read as "sales".
        printed = [
            c
            for c in candidates
            if len(_comparable(c.caption).split()) >= 2
            and re.search(rf"\b{re.escape(_comparable(c.caption))}\b", asked_question)
        ]
        if printed:
            longest = max(len(_comparable(c.caption)) for c in printed)
            found = [c for c in printed if len(_comparable(c.caption)) == longest]
        elif len(items) == 1:
            # Else the caption a filing prints for the analyst's term ("capex").
            item = items[0]
            found = [
                c
                for c in candidates
                if (comparable := _comparable(c.caption)) in item.same_item
                or comparable.removeprefix("total ") in item.same_item
                or item.pattern.fullmatch(comparable)
            ]
        else:
            return None
        found = self._on_named_statements(question, found)
        # One figure from one company: rows that disagree (a restatement, another company's
        # filing in the retrieved set) leave the question to the generator.
        companies = {f.sentence.company or f.sentence.filing.split("_")[0] for f in found}
        if len({f.figure.number for f in found}) != 1 or len(companies) != 1:
            return None
        return found[0]

    @staticmethod
    def _on_named_statements(question: str, found: list[RowLookup]) -> list[RowLookup]:
        """Rows of the statements the question points to, when any are among them: capex as
        the cash flow statement prints it, not a segment table's."""
        wanted = set(named_statements(question))
        if not wanted:
            return found
        on_statement = [f for f in found if statement_kinds(f.sentence.table_title or "") & wanted]
        return on_statement or found

    def draft(self, question: str, lookup: RowLookup) -> DraftAnswer:
        """One claim restating the row's figure for the year, citing the row's caption and
        figures verbatim, and the figure as the direct answer."""
        sentence = lookup.sentence
        figure = figure_text(lookup)
        company = sentence.company or sentence.filing.split("_")[0]
        is_balance = BALANCE in statement_kinds(sentence.table_title or "")
        when = f"at the end of fiscal {lookup.year}" if is_balance else f"in fiscal {lookup.year}"
        claim = f"{company}'s {lookup.caption[:1].lower()}{lookup.caption[1:]} was {figure} {when}."
        return DraftAnswer(
            claims=[
                DraftClaim(
                    citations=[
                        DraftCitation(
                            sentence_id=sentence.label, quote=" ".join(sentence.text.split())
                        )
                    ],
                    text=claim,
                )
            ],
            answer=figure,
        )


def figure_text(lookup: RowLookup) -> str:
    """The row's figure as an analyst states it: its digits as printed, the table's scale in
    words, a dollar sign where the row or its table prints one, and a minus for a bracketed
    figure unless the row is a cost, an expense or money paid out."""
    sentence = lookup.sentence
    figure = lookup.figure
    unit = row_unit(sentence.text, sentence.table_scale)
    scale = f" {_SCALE_WORD[unit]}" if unit in _SCALE_WORD else ""
    headers = f"{sentence.table_title or ''} {sentence.table_header}".lower()
    dollars = "$" in sentence.text or "$" in headers or "dollar" in headers
    negative = figure.text.lstrip("$ ").startswith(("(", "-", "−"))
    sign = "-" if negative and not _SUBTRACTED.search(_comparable(lookup.caption)) else ""
    return f"{sign}{'$' if dollars else ''}{figure.printed}{scale}"
