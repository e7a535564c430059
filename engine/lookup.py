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

import functools
import itertools
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from ingest.vocabulary import (
    BALANCE,
    STANDARD_DEFINITIONS,
    AskedItem,
    asked_items,
    named_statements,
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
from verifier.asked import GroupRankingQuestion, RankingQuestion, read_asked
from verifier.numbers import (
    Quantity,
    aligned_columns,
    is_subtracted_item,
    normalise_text,
    printed_negative,
    quantities,
    row_unit,
    scale_factor,
    years_in,
)
from verifier.types import DraftAnswer, DraftCitation, DraftClaim, EvidenceSentence

STATEMENT_LOOKUP_VERSION = "statement-lookup@1"

# Words that make a question a computation or a comparison, not the reading of one figure.
_NOT_A_LOOKUP = re.compile(
    r"[%+]|\b(?:defined?|definition|ratio|average|change[sd]?|margin|growth|grew|grow|turnover|"
    r"percent(?:age)?|compared?|comparison|increased?|decreased?|trend|per share|cagr|"
    r"difference|between|sum|total of|combined|less|minus|plus|divided|"
    # Which row, why, or what kind: a question about the figures, not one figure. ("Who" and
    # "best" are left out: FinanceBench's instructions say "an analyst who can only use …" and
    # "to the best of your abilities".)
    r"which|why|nature|purpose|explain|describe|drove|driven|drivers?|lowest|highest|"
    r"largest|smallest|most|least|worst)\b",
    re.IGNORECASE,
)
# A plain lookup asks for an amount: "what is / was / were …", "how much …".
_ASKS_AN_AMOUNT = re.compile(r"\b(?:what (?:is|was|were)|how much)\b", re.IGNORECASE)
# Arithmetic the asked metric adds to what its definition defines ("EBITDA less capex",
# "3 year average EBITDA % margin").
_MORE_THAN_DEFINED = re.compile(
    r"[%+/*]|\b(?:less|minus|plus|divided|times|average|change|growth|margin|percent(?:age)?|"
    r"ratio of|difference|sum)\b",
    re.IGNORECASE,
)
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

    def find(self, question: str, sentences: Iterable[EvidenceSentence]) -> RowLookup | None:
        """The row and figure that answer ``question``, or None when the question is not a
        plain lookup or the retrieved rows do not settle it (no row for the item, or rows
        that print different figures for the year)."""
        if not self.asks_for_a_line_item(question):
            return None
        year = next(iter(years_in(question)))
        return self.row_for(question, year, sentences, named_statements(question))

    @staticmethod
    def asks_for_a_line_item(question: str) -> bool:
        """Whether the question has the form of a plain lookup: an amount, in one year, with
        no computation, comparison or choice among rows."""
        return (
            not _NOT_A_LOOKUP.search(question)
            and bool(_ASKS_AN_AMOUNT.search(question))
            and len(years_in(question)) == 1
        )

    def row_for(
        self,
        phrase: str,
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
        items = asked_items(phrase)
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

    def draft(self, question: str, lookup: RowLookup) -> DraftAnswer:
        """One claim restating the row's figure for the year, citing the row's caption and
        figures verbatim, and the figure as the direct answer."""
        sentence = lookup.sentence
        figure = figure_text(lookup)
        claim = (
            f"{_company(sentence)}'s {in_a_sentence(lookup.caption)} was {figure} {_when(lookup)}."
        )
        return _one_claim_answer(claim, [sentence], in_asked_unit(question, figure))


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


def _one_year(question: str) -> int | None:
    years = years_in(question)
    return next(iter(years)) if len(years) == 1 else None


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


# "Answer in USD millions", "(in USD billions)".
_ASKED_UNIT = re.compile(r"\bin (?:usd |us\$ ?|\$ ?)?(thousands|millions|billions)\b", re.I)


def in_asked_unit(question: str, amount: str) -> str:
    """A direct answer in the unit the question asks for ("Answer in USD millions": $302,578
    thousand is $302.6 million), to a tenth of a million or a hundredth of a billion; as
    stated when the question asks for none, or for the unit it is in."""
    asked = _ASKED_UNIT.search(question)
    figures = quantities(amount)
    if asked is None or len(figures) != 1 or figures[0].percent or figures[0].scale == 1.0:
        return amount
    unit = asked.group(1).lower()
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

# "NAME is defined as: DEFINITION" / "Define NAME as DEFINITION" / "NAME = DEFINITION".
_DEFINITION = re.compile(
    r"(?:define\s+(?P<named>[^.?]+?)\s+as:?\s*|(?P<before>[A-Za-z][\w &%()-]{2,60}?)\s+"
    r"(?:is|are)\s+defined\s+as:?\s*|\bdefined\s+as:?\s*)"
    r"(?P<definition>(?:[^.?]|\.\d)+)",
    re.IGNORECASE,
)
_TOKEN = re.compile(
    r"\(|\)|÷|/|\*|×|\+|(?<=\s)[-–−](?=\s)|\b(?:divided by|multiplied by|times|less|minus|plus)\b",
    re.IGNORECASE,
)
_TOKEN_OPERATOR = {
    "÷": "÷", "/": "÷", "divided by": "÷", "*": "×", "×": "×", "times": "×",
    "multiplied by": "×", "+": "+", "plus": "+", "-": "−", "–": "−", "−": "−", "less": "−",
    "minus": "−",
}  # fmt: skip
_AVERAGE = re.compile(
    r"^average (?:of )?(?P<item>.+?) between (?:fy\s?)?(?P<first>(?:19|20)\d{2}) and "
    r"(?:fy\s?)?(?P<second>(?:19|20)\d{2})$",
    re.IGNORECASE,
)
# Words of an operand that qualify how a figure is read, not which line item it is.
_OPERAND_NOISE = re.compile(
    r"\[[^\]]*\]|\b(?:fy\s?(?:19|20)\d{2}|(?:19|20)\d{2}|unadjusted|reported|the|amount|"
    r"year[- ]end|annual|company's)\b",
    re.IGNORECASE,
)
# "year-over-year change in revenue from FY2016 to FY2017".
_CHANGE = re.compile(
    r"(?P<name>(?:year[- ]over[- ]year |yoy )?(?:change|growth) in (?P<item>[^?(,]+?)) from "
    r"(?:fy\s?)?(?P<first>(?:19|20)\d{2}) to (?:fy\s?)?(?P<second>(?:19|20)\d{2})",
    re.IGNORECASE,
)
# "How much has the effective tax rate of the company changed between FY2021 and FY2022?"
_HOW_MUCH_CHANGED = re.compile(
    r"\bhow much (?:has|have|did) (?:the )?(?P<item>[^?]+?)(?: of [A-Z][\w&.' -]*)? "
    r"changed? (?:between|from) (?:fy\s?)?(?:19|20)\d{2} (?:and|to) (?:fy\s?)?(?:19|20)\d{2}",
    re.IGNORECASE,
)
# "change in inventory between FY2019 and FY2020", an operand of a definition.
_CHANGE_BETWEEN = re.compile(
    r"^change in (?P<item>.+?) between (?:fy\s?)?(?P<first>(?:19|20)\d{2}) and "
    r"(?:fy\s?)?(?P<second>(?:19|20)\d{2})$",
    re.IGNORECASE,
)
# "depreciation and amortization from the cash flow statement": which statement prints it.
_STATEMENT_HINT = re.compile(
    r"\b(?:from|in|on|per|of) (?:the )?(?:consolidated )?(?:cash flows? statements?|statements? of "
    r"cash flows?|income statements?|statements? of (?:income|operations|earnings)|"
    r"p&l(?: statements?)?|balance sheets?)\b",
    re.IGNORECASE,
)
# "FY2018 - FY2020 3 year average of capex as a % of revenue".
_SPAN_AVERAGE = re.compile(
    r"^(?:fy\s?)?(?P<first>(?:19|20)\d{2})\s*(?:-|–|to|through)\s*(?:fy\s?)?"
    r"(?P<last>(?:19|20)\d{2})\s+(?P<count>\d+|two|three|four|five)[- ]year average "
    r"(?:of )?(?P<metric>.+)$",
    re.IGNORECASE,
)
_COUNT_WORDS = {"two": 2, "three": 3, "four": 4, "five": 5}
# "capex as a % of revenue"; "unadjusted EBITDA % margin" (a margin is of revenue).
_SHARE_OF = re.compile(r"^(?P<part>.+?) as an? (?:%|percent(?:age)?) of (?P<whole>.+)$", re.I)
_PERCENT_MARGIN = re.compile(r"^(?P<of>.+?)\s*(?:%|percent(?:age)?)\s*margin$", re.IGNORECASE)
# "Did the company grow its PP&E between FY20 and FY21?", "Has the company's net revenue
# decreased from FY2021 to FY2022?": whether one item moved up (or down) between two years.
_MOVED = (
    r"(?:grow|grew|grown|increased?|rise|rose|risen|decreased?|declined?|fall|fell|fallen|"
    r"dropped|drop|shr[iu]nk|reduced?)"
)
# Read without backtracking (nested lazy gaps made one search cubic in the question's length):
# the first auxiliary of a clause, then either "grow its ITEM between" or "OWNER's ITEM grew
# between", each part found by a forward search from the last.
_AUXILIARY = re.compile(r"\b(?:did|has|have|had)\s", re.IGNORECASE)
_MOVED_ITS = re.compile(rf"\s{_MOVED}\s+(?:its|their)\s", re.IGNORECASE)
_MOVED_WHEN = re.compile(rf"\s{_MOVED}\s+(?:between|from)\b", re.IGNORECASE)
_WHEN = re.compile(r"\s(?:between|from)\b", re.IGNORECASE)
_OWNER_END = re.compile(r"'s?\s")
_DECIMALS = re.compile(r"\b(one|two|three|1|2|3) decimal places?\b", re.IGNORECASE)
_PERCENT_ASKED = re.compile(r"%|\bpercent(?:s|age)?\b|\bmargin\b", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class _Input:
    row: RowLookup
    own_year: bool  # whether its period is not the one the claim's subject names


@dataclass(frozen=True, slots=True)
class _Defined:
    name: str
    definition: str  # as the question words it
    start: int  # where the definition begins in the question


# A question's definitions may refer to each other ("DIO + DSO − DPO", each defined in turn),
# but no real metric nests deeper than a few levels or spells out to more than a paragraph. The
# bounds keep a question that defines each name as two copies of the next from doubling its
# expansion at every level (a few dozen levels would be terabytes).
MAX_DEFINITION_DEPTH = 6
MAX_EXPANDED_CHARS = 1_000


@functools.lru_cache(maxsize=256)
def _definitions(question: str) -> tuple[_Defined, ...]:
    """Every metric the question defines, in order: a cash conversion cycle defined as
    DIO + DSO − DPO, then each of those. Read once per question (cached): every caller
    shares the one parse."""
    found: list[_Defined] = []
    for match in _DEFINITION.finditer(question):
        name = match.group("named") or match.group("before") or ""
        if not name and not found:
            items = [item for item in asked_items(question) if not item.same_item]
            name = items[0].words if items else ""
        name = re.sub(r"^(?:the|a|an)\s+|\s+here$", "", name.strip(), flags=re.IGNORECASE)
        definition = match.group("definition").strip().rstrip(":;,")
        if name and definition:
            found.append(_Defined(name, definition, match.start("definition")))
    return tuple(found)


class _UnexpandableError(Exception):
    """The definitions refer to themselves, nest too deep or spell out too long."""


def _expanded(expression: str, definitions: Sequence[_Defined]) -> str | None:
    """The expression with every name the question defines replaced by its definition, in
    brackets, until none is left; None when the definitions never bottom out (a name defined
    through itself), nest deeper than ``MAX_DEFINITION_DEPTH`` or spell out to more than
    ``MAX_EXPANDED_CHARS``. Each definition is expanded once and reused, so the work is
    bounded by the size limit, not by how often a name recurs."""
    if not definitions:
        return expression
    meaning: dict[str, str] = {}
    for defined in definitions:
        meaning.setdefault(defined.name.casefold(), defined.definition)
    names = sorted(meaning, key=len, reverse=True)  # "adjusted EBITDA" before "EBITDA"
    pattern = re.compile(
        rf"(?<![\w&])(?:{'|'.join(map(re.escape, names))})(?![\w&])", re.IGNORECASE
    )
    spelled: dict[str, str] = {}

    def spell(text: str, depth: int, within: frozenset[str]) -> str:
        if depth > MAX_DEFINITION_DEPTH:
            raise _UnexpandableError
        pieces: list[str] = []
        size = 0
        last = 0
        for match in pattern.finditer(text):
            name = match.group().casefold()
            if name in within:
                raise _UnexpandableError
            if name not in spelled:
                spelled[name] = spell(meaning[name], depth + 1, within | {name})
            for piece in (text[last : match.start()], f"({spelled[name]})"):
                pieces.append(piece)
                size += len(piece)
            if size > MAX_EXPANDED_CHARS:
                raise _UnexpandableError
            last = match.end()
        pieces.append(text[last:])
        return "".join(pieces)

    try:
        return spell(expression, 0, frozenset())
    except _UnexpandableError:
        return None


def _definition(question: str) -> tuple[str, str, int] | None:
    """(metric name, its definition with the names it uses defined in turn, where the
    definition starts) of a question that defines what it asks for."""
    definitions = _definitions(question)
    if not definitions:
        return None
    first = definitions[0]
    expanded = _expanded(first.definition, definitions[1:])
    return None if expanded is None else (first.name, expanded, first.start)


def _resolved(name: str, definitions: Sequence[_Defined]) -> str | None:
    """What a metric's name stands for: the question's definition, else the standard one
    (unadjusted EBITDA), else the name itself, a line item."""
    name = " ".join(name.split())
    bare = _STATEMENT_HINT.sub(" ", name).strip()
    if not any(d.name.lower() in name.lower() for d in definitions):
        for pattern, definition in STANDARD_DEFINITIONS:
            if pattern.fullmatch(bare):
                return definition
    return _expanded(name, definitions)


def _asides(text: str) -> str:
    """Remarks in brackets dropped, except the statement one names ("(D&A from cash flow
    statement)" → "from the cash flow statement"), which says where the figure is read."""

    def aside(match: re.Match[str]) -> str:
        hint = _STATEMENT_HINT.search(match.group(1))
        return f" {hint.group()} " if hint else " "

    return re.sub(r"\(([^()]*)\)", aside, text)


def _moved_item(question: str) -> str | None:
    """The item a yes/no question asks about whether it rose (or fell) between two years:
    "Did the company grow its PP&E between …", else "Has the company's net revenue decreased
    from …"."""
    if len(years_in(question)) != 2:
        return None
    # Each clause from just after its first auxiliary ("did", "has"), found once for both forms.
    asked = [
        (clause, auxiliary.end())
        for clause in question.split("?")
        if (auxiliary := _AUXILIARY.search(clause)) is not None
    ]
    for clause, after in asked:
        moved = _MOVED_ITS.search(clause, after + 1)
        when = _WHEN.search(clause, moved.end() - 1) if moved else None
        if moved and when and clause[moved.end() : when.start()].strip():
            return " ".join(clause[moved.end() : when.start()].split())
    for clause, after in asked:
        owner = _OWNER_END.search(clause, after)
        moved = _MOVED_WHEN.search(clause, owner.end() - 1) if owner else None
        if owner and moved and clause[owner.end() : moved.start()].strip():
            return " ".join(clause[owner.end() : moved.start()].split())
    return None


def _asked_metric(question: str) -> tuple[str, str, list[int]] | None:
    """(the metric as the claim names it, its expression in the words definitions use, the
    years it is computed for) for a question asking for a share ("capex as a % of revenue"),
    a margin ("EBITDA % margin"), or a several-year average of a metric; None otherwise."""
    match = _WHAT_IS.search(question)
    if match is None:
        return None
    asked = _asides(_ASKED_UNIT.sub(" ", match["asked"]))
    asked = re.sub(r"^.*?'s\s+", "", asked)  # the company's
    asked = re.sub(r"\s+(?:for|of|at)\s+[A-Z][\w&.,' -]*$", "", asked.strip())
    asked = " ".join(asked.split())
    definitions = _definitions(question)
    if span := _SPAN_AVERAGE.match(asked):
        first, last = int(span["first"]), int(span["last"])
        count = _COUNT_WORDS.get(span["count"].lower()) or int(span["count"])
        if last - first + 1 != count:
            return None
        years, metric = list(range(first, last + 1)), span["metric"]
        subject = f"{count} year average of {_STATEMENT_HINT.sub(' ', metric)}"
    else:
        years = sorted(years_in(asked))
        if len(years) != 1:
            return None
        metric = re.sub(r"\b(?:fy\s?|fiscal (?:year )?)?(?:19|20)\d{2}\b", " ", asked, flags=re.I)
        subject = _STATEMENT_HINT.sub(" ", metric)
    metric = " ".join(metric.split())
    if share := _SHARE_OF.match(metric):
        part, whole = _resolved(share["part"], definitions), _resolved(share["whole"], definitions)
        expression = None if part is None or whole is None else f"({part}) ÷ ({whole})"
    elif margin := _PERCENT_MARGIN.match(metric):
        of = _resolved(margin["of"], definitions)
        expression = None if of is None else f"({of}) ÷ (revenue)"
    elif len(years) > 1:
        expression = _resolved(metric, definitions)
    else:
        return None  # one year of a metric: a definition's, or a plain lookup
    if expression is None:
        return None
    return " ".join(subject.split()), expression, years


# "what is the company's FY2021 operating income + depreciation and amortization
# (unadjusted EBITDA) in USD millions?"
_WHAT_IS = re.compile(r"\bwhat (?:is|was|were) (?:the )?(?P<asked>[^?]+)\?", re.IGNORECASE)
_ASKED_OPERATOR = re.compile(r"[+÷/*×]|\s[-–−]\s|\b(?:less|minus|plus|divided by|times)\b", re.I)


def _asked_arithmetic(question: str) -> tuple[str, str, int] | None:
    """(expression, its name, its year) when the question itself asks for arithmetic over
    line items in one year; the name is the one it gives in brackets, else its own words."""
    match = _WHAT_IS.search(question)
    if match is None:
        return None
    asked = match["asked"]
    years = years_in(asked)
    if len(years) != 1 or not _ASKED_OPERATOR.search(asked):
        return None
    named = re.search(r"\(([A-Za-z][A-Za-z &-]+)\)", asked)
    asked = re.sub(r"\((?:in )?[^)]*\)", " ", asked)
    asked = _ASKED_UNIT.sub(" ", asked)
    asked = re.sub(r"^.*?'s\s+", "", asked)  # the company's
    asked = re.sub(r"\b(?:fy\s?|fiscal (?:year )?)?(?:19|20)\d{2}\b", " ", asked, flags=re.I)
    asked = re.sub(r"\s+(?:for|of|at)\s+[A-Z][\w&.,' -]*$", "", asked.strip())
    expression = " ".join(asked.split())
    if not expression or not _ASKED_OPERATOR.search(expression):
        return None
    name = named.group(1).strip() if named else expression
    return expression, name, next(iter(years))


class MetricCalculator:
    """Computes a metric the question defines ("net working capital as total current assets
    less total current liabilities") from the retrieved statement rows of its inputs, and
    drafts one claim stating the calculation in the constitution's form (``verifier.
    arithmetic``), which the verifier redoes and checks input by input."""

    version = "metric-calculator@1"

    def __init__(self, rows: StatementLookup | None = None) -> None:
        self.rows = rows or StatementLookup()

    @staticmethod
    def defines_its_metric(question: str) -> bool:
        """Whether the question defines what it asks for, and every metric that definition
        names (the DIO, DSO and DPO of a cash conversion cycle) in turn."""
        defined = len(re.findall(r"\bdefined?\b", question, re.IGNORECASE))
        return defined == len(_definitions(question)) and _definition(question) is not None

    def computes(self, question: str) -> bool:
        """Whether the question asks for something of a form this calculates: a metric it
        defines, arithmetic it states, a share, a margin or a several-year average, or a
        change between two years."""
        return bool(
            self.defines_its_metric(question)
            or _asked_arithmetic(question)
            or _asked_metric(question)
            or _CHANGE.search(question)
            or _moved_item(question)
            or _HOW_MUCH_CHANGED.search(question)
            or (asked := read_asked(question)).ranking
            or asked.group_ranking
        )

    def draft(self, question: str, sentences: list[EvidenceSentence]) -> DraftAnswer | None:
        """The calculation's draft, or None when the question defines no metric this can
        compute, or the retrieved rows lack an input."""
        moved = how_much = None
        asked_question = read_asked(question)
        if asked := _asked_arithmetic(question):
            computed = self._asked(question, asked, sentences)
        elif metric := _asked_metric(question):
            computed = self._metric(question, metric, sentences)
        elif self.defines_its_metric(question):
            computed = self._defined(question, sentences)
        elif change := _CHANGE.search(question):
            item, first, second = change["item"], int(change["first"]), int(change["second"])
            computed = self._change(question, change["name"], item, (first, second), sentences)
        elif moved := _moved_item(question):
            computed = self._change(question, f"change in {moved}", moved, None, sentences)
        elif how_much := _HOW_MUCH_CHANGED.search(question):
            item = re.sub(r"^.*?'s\s+", "", how_much["item"])  # the company's
            computed = self._change(question, f"change in {item}", item, None, sentences)
        elif ranked := asked_question.ranking:
            return self._ranking(ranked, question, sentences)
        elif group := asked_question.group_ranking:
            return self._group_ranking(group, question, sentences)
        else:
            return None
        if computed is None:
            return None
        subject, parts, inputs, divides = computed
        percent = divides and bool(_PERCENT_ASKED.search(question))
        if percent:
            parts = ["(", *parts, ")", "×", "100"]
        expression = " ".join(parts).replace("( ", "(").replace(" )", ")")
        result = self._result(question, expression, inputs, percent, divides)
        if result is None:
            return None
        company = _company(inputs[0].row.sentence)
        cited: dict[str, EvidenceSentence] = {}
        for item in inputs:
            cited.setdefault(item.row.sentence.sentence_id, item.row.sentence)
        claim = f"{company}'s {subject} = {expression} = {result}."
        answer = in_asked_unit(question, result)
        if how_much and all(i.row.figure.percent for i in inputs):
            # The new rate beside the change; the claim shows the old one (an answer states
            # at most two figures).
            answer = f"{answer}, to {figure_text(inputs[0].row)} in fiscal {inputs[0].row.year}"
        if moved:
            # Yes or no, by the sign of the change, as the verifier settles it.
            polarity = settled_polarity(asked_question, [f for f in [formula_in(claim)] if f])
            if polarity is None:
                return None
            after, before = inputs
            item = in_a_sentence(after.row.caption)
            answer = (
                f"{polarity.capitalize()}: the change in {item} from fiscal {before.row.year} "
                f"to fiscal {after.row.year} was {answer}"
            )
        return _one_claim_answer(claim, list(cited.values()), answer)

    def _ranking(
        self, ranked: RankingQuestion, question: str, sentences: list[EvidenceSentence]
    ) -> DraftAnswer | None:
        """Which of the items the question names is the highest (or lowest) in its one year:
        one row per item, all from one table, ranked with the signs the table prints."""
        year = _one_year(question)
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
        self, group: GroupRankingQuestion, question: str, sentences: list[EvidenceSentence]
    ) -> DraftAnswer | None:
        """The largest (or smallest) member of a group a statement totals, in the question's
        one year: the rows above the group's total row that add up to it."""
        year = _one_year(question)
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

    def _defined(
        self, question: str, sentences: list[EvidenceSentence]
    ) -> tuple[str, list[str], list[_Input], bool] | None:
        """(what is computed and when, the expression's parts, its inputs, whether it divides)
        for a metric the question defines."""
        defined = _definition(question)
        if defined is None:
            return None
        name, definition, start = defined
        before_definition = question[:start]
        asked = re.sub(re.escape(name), " ", before_definition, flags=re.IGNORECASE)
        if _MORE_THAN_DEFINED.search(asked):
            return None  # the question asks for more than the definition defines
        years = years_in(before_definition) or years_in(question)
        if len(years) != 1:
            return None
        return self._computed(question, name, definition, next(iter(years)), sentences)

    def _asked(
        self, question: str, asked: tuple[str, str, int], sentences: list[EvidenceSentence]
    ) -> tuple[str, list[str], list[_Input], bool] | None:
        """A question that asks for arithmetic itself ("unadjusted operating income +
        depreciation and amortization", "EBITDA less capex"), with the names it defines
        replaced by their definitions."""
        expression, name, year = asked
        if self.defines_its_metric(question):
            expanded = _expanded(expression, _definitions(question))
            if expanded is None:
                return None
            expression = expanded
        return self._computed(question, name, expression, year, sentences)

    def _metric(
        self, question: str, metric: tuple[str, str, list[int]], sentences: list[EvidenceSentence]
    ) -> tuple[str, list[str], list[_Input], bool] | None:
        """A share, a margin or a several-year average: the metric's expression for each year,
        averaged over the years when there are several, each input named with its year."""
        subject, expression, years = metric
        if len(years) == 1:
            return self._computed(question, subject, expression, years[0], sentences)
        statements = named_statements(question)
        parts, inputs, divides = ["("], [], False
        for year in years:
            parsed = self._parse(expression, year, sentences, statements, subject_year=None)
            if parsed is None:
                return None
            year_parts, year_inputs, year_divides = parsed
            parts += [*(["+"] if year != years[0] else []), "(", *year_parts, ")"]
            inputs += year_inputs
            divides = divides or year_divides
        parts += [")", "÷", str(len(years))]
        return f"{subject} from fiscal {years[0]} to fiscal {years[-1]}", parts, inputs, divides

    def _computed(
        self,
        question: str,
        name: str,
        expression: str,
        year: int,
        sentences: list[EvidenceSentence],
    ) -> tuple[str, list[str], list[_Input], bool] | None:
        parsed = self._parse(expression, year, sentences, named_statements(question), year)
        if parsed is None:
            return None
        parts, inputs, divides = parsed
        if _PERCENT_ASKED.search(question) and not divides:
            # A margin or a percentage whose expression only gives its numerator ("EBITDA %
            # margin … define EBITDA as …"): not what the expression computes.
            return None
        return f"{name} in fiscal {year}", parts, inputs, divides

    def _parse(
        self,
        text: str,
        year: int,
        sentences: list[EvidenceSentence],
        statements: list[str],
        subject_year: int | None,
    ) -> tuple[list[str], list[_Input], bool] | None:
        """The expression's parts as the claim writes them, its inputs, and whether it
        divides; None when an operand is no row the retrieved sentences print. Operands are
        read for ``year`` unless they name their own; an input is written with its year unless
        it is ``subject_year``, the one the claim's subject names."""
        parts: list[str] = []
        inputs: list[_Input] = []
        divides = False
        position = 0
        pieces: list[tuple[str, bool]] = []  # (text, is an operator or parenthesis)
        for token in _TOKEN.finditer(text):
            pieces.append((text[position : token.start()], False))
            pieces.append((token.group(), True))
            position = token.end()
        pieces.append((text[position:], False))
        for piece, is_token in pieces:
            if is_token:
                symbol = _TOKEN_OPERATOR.get(piece.lower(), piece)
                divides = divides or symbol == "÷"
                parts.append(symbol)
                continue
            operand = " ".join(piece.split())
            if not operand:
                continue
            written = self._operand(operand, year, sentences, statements, inputs, subject_year)
            if written is None:
                return None
            parts.append(written)
        return (parts, inputs, divides) if inputs else None

    def _change(
        self,
        question: str,
        name: str,
        item: str,
        years: tuple[int, int] | None,
        sentences: list[EvidenceSentence],
    ) -> tuple[str, list[str], list[_Input], bool] | None:
        """The change in one item between two years (the question's two, earlier first, when
        ``years`` is None): in percent of the first year's figure when the question asks for
        a percentage, else the difference."""
        asked = years_in(question)
        if years is None and len(asked) == 2:
            years = (min(asked), max(asked))
        if years is None or asked != set(years):
            return None
        first, second = years
        statements = named_statements(question)
        hint = _STATEMENT_HINT.search(item)
        if hint:  # "its debt on the balance sheet"
            statements = named_statements(hint.group()) or statements
            item = item[: hint.start()] + item[hint.end() :]
        before = self._input(item, first, None, sentences, statements, bool(hint))
        after = self._input(item, second, None, sentences, statements, bool(hint))
        if before is None or after is None:
            return None
        inputs = [after, before]
        subject = f"{' '.join(name.split())} from fiscal {first} to fiscal {second}"
        if _PERCENT_ASKED.search(question):
            parts = ["(", _written(after), "−", _written(before), ")", "÷", _written(before)]
            return subject, parts, inputs, True
        return subject, [_written(after), "−", _written(before)], inputs, False

    def _operand(
        self,
        operand: str,
        year: int,
        sentences: list[EvidenceSentence],
        statements: list[str],
        inputs: list[_Input],
        subject_year: int | None,
    ) -> str | None:
        """An operand of the definition as the claim writes it: a constant, an average of one
        item over two years or its change between them, or one item's figure (for the year it
        names, else the metric's), read off the statement the operand names if it names one."""
        if re.fullmatch(r"\d+(?:\.\d+)?", operand):
            return operand
        strict = False
        if hint := _STATEMENT_HINT.search(operand):
            # "D&A from the cash flow statement": that statement's row or none (a deferred-tax
            # note prints a "Depreciation and amortization" row too).
            statements, strict = named_statements(hint.group()) or statements, True
            operand = " ".join((operand[: hint.start()] + operand[hint.end() :]).split())
        over_two_years = _AVERAGE.match(operand) or _CHANGE_BETWEEN.match(operand)
        if over_two_years:
            item = over_two_years["item"]
            first, second = (
                self._input(
                    item, int(over_two_years[which]), subject_year, sentences, statements, strict
                )
                for which in ("first", "second")
            )
            if first is None or second is None:
                return None
            inputs += [first, second]
            if over_two_years.re is _CHANGE_BETWEEN:
                return f"({_written(second)} − {_written(first)})"
            return f"(({_written(first)} + {_written(second)}) ÷ 2)"
        named_years = years_in(operand)
        if len(named_years) > 1:
            return None
        found = self._input(
            operand, next(iter(named_years), year), subject_year, sentences, statements, strict
        )
        if found is None:
            return None
        inputs.append(found)
        return _written(found)

    def _input(
        self,
        operand: str,
        year: int,
        subject_year: int | None,
        sentences: list[EvidenceSentence],
        statements: list[str],
        only_on_statements: bool = False,
    ) -> _Input | None:
        phrase = " ".join(_OPERAND_NOISE.sub(" ", operand).split())
        if not phrase:
            return None
        row = self.rows.row_for(phrase, year, sentences, statements, only_on_statements)
        return None if row is None else _Input(row, year != subject_year)

    @staticmethod
    def _result(
        question: str, expression: str, inputs: list[_Input], percent: bool, divides: bool
    ) -> str | None:
        probe = formula_in(f"probe in 2000 = {expression} = 0")
        value = probe.computed() if probe is not None else None
        if value is None:
            return None
        asked = _DECIMALS.search(question)
        words = {"one": 1, "two": 2, "three": 3}
        # Two decimals unless asked: a percentage rounded to one hides what its inputs print
        # (5.46% is not 5.5%).
        decimals = int(words.get(asked.group(1).lower(), asked.group(1))) if asked else 2
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
