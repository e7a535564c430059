"""The forms of a question the statement lookup and the metric calculator answer, read once.

A plain line-item question ("What was the FY2021 capital expenditure?"), a metric the question
defines ("net working capital as total current assets less total current liabilities"),
arithmetic it states, a share, a margin or a several-year average, a change between two
years, whether an item moved, and a ranking: the question reader (``engine.question``) reads
each question once into a ``StatementAsk``, and the lookup and calculator
(``engine.lookup``) work from that reading, never from the text. Expressions are read into
operands (the line item, the year it names, the statement it must come from) here, so the
calculator only finds rows and writes the claim.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from ingest.vocabulary import STANDARD_DEFINITIONS, AskedItem, asked_items, named_statements
from verifier.asked import AskedQuestion, GroupRankingQuestion, RankingQuestion, read_asked
from verifier.numbers import years_in

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
# "Answer in USD millions", "(in USD billions)".
_ASKED_UNIT = re.compile(r"\bin (?:usd |us\$ ?|\$ ?)?(thousands|millions|billions)\b", re.I)

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
# The number words the span-average and decimal-places patterns accept.
_NUMBER_WORDS = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5}
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
class Symbol:
    """An operator or a bracket of an expression, as a calculation writes it (÷, ×, +, −)."""

    text: str


@dataclass(frozen=True, slots=True)
class Constant:
    """A number the expression states ("2" in "… ÷ 2")."""

    text: str


@dataclass(frozen=True, slots=True)
class Operand:
    """A line item an expression reads: its words with the qualifiers that do not say which
    item it is dropped ("FY2021", "unadjusted", "year-end"); the year it names itself (else
    the calculation's); the statements it is read from, and whether only from them (the
    operand names one: "D&A from the cash flow statement")."""

    phrase: str
    statements: tuple[str, ...]
    strict: bool = False
    year: int | None = None
    items: tuple[AskedItem, ...] = ()  # the analyst terms the phrase uses ("capex")


@dataclass(frozen=True, slots=True)
class TwoYearOperand:
    """An item's average over two years or its change between them ("average PP&E between
    FY2018 and FY2019", "change in inventory between FY2019 and FY2020")."""

    item: Operand
    kind: Literal["average", "change"]
    first: int
    second: int


Token = Symbol | Constant | Operand | TwoYearOperand


@dataclass(frozen=True, slots=True)
class Expression:
    tokens: tuple[Token, ...]

    @property
    def divides(self) -> bool:
        return Symbol("÷") in self.tokens


@dataclass(frozen=True, slots=True)
class Calculation:
    """A metric in one year (a definition, stated arithmetic, a share or a margin), or its
    average over several (``years`` then holds each)."""

    subject: str  # what is computed, as the claim names it, without its year
    expression: Expression
    years: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class Change:
    """One item's change between two years, earlier first. ``form``: how the question asks
    it, which decides how the answer is put ("change": the change itself; "how much": a rate
    beside its new value; "moved": yes or no by its sign)."""

    name: str
    item: Operand
    years: tuple[int, int]
    form: Literal["change", "how much", "moved"]


Computation = Calculation | Change | RankingQuestion | GroupRankingQuestion


@dataclass(frozen=True, slots=True)
class StatementAsk:
    """What the lookup and the calculator read off a question."""

    text: str = ""  # the question: a plain lookup matches row captions against its words
    items: tuple[AskedItem, ...] = ()  # the analyst terms it uses, for a plain lookup
    years: frozenset[int] = frozenset()
    statements: tuple[str, ...] = ()  # the statements the question names
    # The one year of a plain line-item question (an amount, no computation, comparison or
    # choice among rows); None when it is not one.
    line_item_year: int | None = None
    # Whether the question has a form the calculator computes (then more rows are searched
    # for its inputs), even where its reading below failed.
    computes: bool = False
    computation: Computation | None = None  # None: no form, or one whose reading failed
    percent: bool = False  # asks for a percentage or a margin
    decimals: int | None = None  # "two decimal places"
    unit: str | None = None  # "in USD millions": thousands, millions or billions
    asked: AskedQuestion = field(default_factory=AskedQuestion)

    @property
    def one_year(self) -> int | None:
        return next(iter(self.years)) if len(self.years) == 1 else None


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
        count = _NUMBER_WORDS.get(span["count"].lower()) or int(span["count"])
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


def defines_its_metric(question: str) -> bool:
    """Whether the question defines what it asks for, and every metric that definition names
    (the DIO, DSO and DPO of a cash conversion cycle) in turn."""
    defined = len(re.findall(r"\bdefined?\b", question, re.IGNORECASE))
    return defined == len(_definitions(question)) and _definition(question) is not None


def read_statement_ask(text: str, asked: AskedQuestion | None = None) -> StatementAsk:
    """The question's statement forms, read once (``asked``: the verifier's reading of the
    same question, for its rankings; read here when not given)."""
    asked = asked if asked is not None else read_asked(text)
    years = frozenset(years_in(text))
    statements = tuple(named_statements(text))
    arithmetic = _asked_arithmetic(text)
    metric = _asked_metric(text)
    change = _CHANGE.search(text)
    moved = _moved_item(text)
    how_much = _HOW_MUCH_CHANGED.search(text)
    defines = defines_its_metric(text)
    computation: Computation | None = None
    if arithmetic:
        computation = _stated_arithmetic(text, arithmetic, statements, defines)
    elif metric:
        subject, expression, metric_years = metric
        computation = _calculation(subject, expression, tuple(metric_years), statements)
    elif defines:
        computation = _defined(text, statements)
    elif change:
        first, second = int(change["first"]), int(change["second"])
        computation = _change(change["name"], change["item"], (first, second), years, statements)
    elif moved:
        computation = _change(f"change in {moved}", moved, None, years, statements, "moved")
    elif how_much:
        item = re.sub(r"^.*?'s\s+", "", how_much["item"])  # the company's
        computation = _change(f"change in {item}", item, None, years, statements, "how much")
    else:
        computation = asked.ranking or asked.group_ranking
    decimals = _DECIMALS.search(text)
    unit = _ASKED_UNIT.search(text)
    return StatementAsk(
        text=text,
        items=tuple(asked_items(text)),
        years=years,
        statements=statements,
        line_item_year=(
            next(iter(years))
            if not _NOT_A_LOOKUP.search(text) and _ASKS_AN_AMOUNT.search(text) and len(years) == 1
            else None
        ),
        computes=bool(
            defines
            or arithmetic
            or metric
            or change
            or moved
            or how_much
            or asked.ranking
            or asked.group_ranking
        ),
        computation=computation,
        percent=bool(_PERCENT_ASKED.search(text)),
        decimals=int(_NUMBER_WORDS.get(decimals[1].lower(), decimals[1])) if decimals else None,
        unit=unit[1].lower() if unit else None,
        asked=asked,
    )


def _stated_arithmetic(
    question: str, arithmetic: tuple[str, str, int], statements: tuple[str, ...], defines: bool
) -> Calculation | None:
    """Arithmetic the question asks for itself ("unadjusted operating income + depreciation
    and amortization", "EBITDA less capex"), with the names it defines replaced by their
    definitions."""
    expression, name, year = arithmetic
    if defines:
        expanded = _expanded(expression, _definitions(question))
        if expanded is None:
            return None
        expression = expanded
    return _calculation(name, expression, (year,), statements)


def _defined(question: str, statements: tuple[str, ...]) -> Calculation | None:
    """A metric the question defines, in the one year it asks for; None when it asks for
    more than the definition defines."""
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
    return _calculation(name, definition, (next(iter(years)),), statements)


def _calculation(
    subject: str, expression: str, years: tuple[int, ...], statements: tuple[str, ...]
) -> Calculation | None:
    parsed = _expression(expression, statements)
    return None if parsed is None else Calculation(subject, parsed, years)


def _expression(text: str, statements: tuple[str, ...]) -> Expression | None:
    """The expression's operators, constants and operands, in order; None when an operand
    names no line item or more than one year, or none is a line item."""
    tokens: list[Token] = []
    position = 0
    pieces: list[tuple[str, bool]] = []  # (text, is an operator or parenthesis)
    for token in _TOKEN.finditer(text):
        pieces.append((text[position : token.start()], False))
        pieces.append((token.group(), True))
        position = token.end()
    pieces.append((text[position:], False))
    for piece, is_token in pieces:
        if is_token:
            tokens.append(Symbol(_TOKEN_OPERATOR.get(piece.lower(), piece)))
            continue
        words = " ".join(piece.split())
        if not words:
            continue
        operand = _operand(words, statements)
        if operand is None:
            return None
        tokens.append(operand)
    if not any(isinstance(t, Operand | TwoYearOperand) for t in tokens):
        return None
    return Expression(tuple(tokens))


def _operand(text: str, statements: tuple[str, ...]) -> Constant | Operand | TwoYearOperand | None:
    """A constant, an average of one item over two years or its change between them, or one
    item (in the year it names, if it names one), read off the statement it names if any."""
    if re.fullmatch(r"\d+(?:\.\d+)?", text):
        return Constant(text)
    text, statements, strict = _statement_named(text, statements)
    over_two_years = _AVERAGE.match(text) or _CHANGE_BETWEEN.match(text)
    if over_two_years:
        item = _item(over_two_years["item"], statements, strict)
        if item is None:
            return None
        kind: Literal["average", "change"] = (
            "change" if over_two_years.re is _CHANGE_BETWEEN else "average"
        )
        return TwoYearOperand(
            item, kind, int(over_two_years["first"]), int(over_two_years["second"])
        )
    named_years = years_in(text)
    if len(named_years) > 1:
        return None
    return _item(text, statements, strict, next(iter(named_years), None))


def _statement_named(text: str, statements: tuple[str, ...]) -> tuple[str, tuple[str, ...], bool]:
    """(the words without the statement they name, the statements to read them from, whether
    only from those): "D&A from the cash flow statement" is that statement's row or none (a
    deferred-tax note prints a "Depreciation and amortization" row too); words that name no
    statement are read from the question's."""
    hint = _STATEMENT_HINT.search(text)
    if hint is None:
        return text, statements, False
    named = tuple(named_statements(hint.group())) or statements
    return " ".join((text[: hint.start()] + text[hint.end() :]).split()), named, True


def _item(
    text: str, statements: tuple[str, ...], strict: bool, year: int | None = None
) -> Operand | None:
    phrase = " ".join(_OPERAND_NOISE.sub(" ", text).split())
    return Operand(phrase, statements, strict, year, tuple(asked_items(phrase))) if phrase else None


def _change(
    name: str,
    item: str,
    years: tuple[int, int] | None,
    asked_years: frozenset[int],
    statements: tuple[str, ...],
    form: Literal["change", "how much", "moved"] = "change",
) -> Change | None:
    """The change in one item between two years (the question's two, earlier first, when
    ``years`` is None); the item read off the statement it names ("its debt on the balance
    sheet")."""
    if years is None and len(asked_years) == 2:
        years = (min(asked_years), max(asked_years))
    if years is None or asked_years != set(years):
        return None
    operand = _item(*_statement_named(item, statements))
    return None if operand is None else Change(" ".join(name.split()), operand, years, form)
