"""The question, read once, as the verifier's rules check against it.

A rule asks of the question one thing: the year it asks about, the items it ranks, the topic
an answer must share, the qualifier ("net", "gross") a cited row must not contradict.
``read_asked`` reads every such facet once into an ``AskedQuestion``, and the rules take that
object; this is the only module of the verifier that parses question text, so two rules can
never read one question two ways, and a question is not parsed again per claim and per rule.

A public entry point (``Verifier.verify``, the answer rules) still takes a string from callers
that hold only a logged question, and reads it there, once (``as_asked``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from ingest.vocabulary import AskedItem, asked_items, expansion_phrases, stated_statements
from verifier.constitution import Constitution, load_constitution
from verifier.numbers import quantities, years_in
from verifier.words import topic_stems

# -- superlatives: how a question (or a claim's ranking) says which way it ranks ------------

SUPERLATIVES = {
    "max": ("highest", "largest", "most", "greatest", "biggest", "best"),
    "min": ("lowest", "smallest", "least", "fewest", "worst"),
}
# Any superlative, as a regular-expression alternation (a claim's "most of …" reads it too).
SUPERLATIVE = "|".join(w for words in SUPERLATIVES.values() for w in words)


def superlative_direction(word: str) -> str | None:
    """ "max" or "min" for a superlative ("most", "lowest"); None for any other word."""
    lowered = word.lower()
    return next((way for way, words in SUPERLATIVES.items() if lowered in words), None)


# -- the meaning rule's words ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class MeaningVocabulary:
    """The words of a constitution's meaning rule (``answer_meaning``) that a question's
    qualifiers, change words and balance words are read in. They are the constitution's data,
    so a question is read in the words of the constitution that checks it."""

    # Pairs of qualifiers of one line item ("net" / "gross"), each side a list of phrases.
    qualifier_pairs: tuple[tuple[tuple[str, ...], ...], ...] = ()
    change_words: tuple[str, ...] = ()  # by which a question asks for a change
    balance_words: tuple[str, ...] = ()  # by which a question asks for a balance at a date

    @classmethod
    def of(cls, options: Mapping[str, Any]) -> MeaningVocabulary:
        """The vocabulary of one rule's options."""
        return cls(
            tuple(
                tuple(tuple(side) for side in pair) for pair in options.get("qualifier_pairs", [])
            ),
            tuple(options.get("change_words", [])),
            tuple(options.get("balance_words", [])),
        )

    @classmethod
    def of_constitution(cls, constitution: Constitution) -> MeaningVocabulary:
        """The vocabulary of the constitution's (first) meaning rule; none without one."""
        rules = constitution.by_check("answer_meaning")
        return cls.of(rules[0].options) if rules else cls()


@cache
def shipped_vocabulary() -> MeaningVocabulary:
    """The shipped constitution's meaning vocabulary: what a question is read in when the
    reader is not told which constitution will check it (the answer engine's reader)."""
    return MeaningVocabulary.of_constitution(load_constitution())


@cache
def _phrases(phrases: tuple[str, ...]) -> re.Pattern[str] | None:
    """Whole phrases, longest first (so "non-current" is read before the "current" in it);
    a space matches any run of spaces or hyphens."""
    if not phrases:
        return None
    ordered = sorted(phrases, key=len, reverse=True)
    body = "|".join(re.escape(p).replace(r"\ ", r"[\s-]+") for p in ordered)
    return re.compile(rf"(?<![\w-])(?:{body})(?![\w-])", re.IGNORECASE)


def names_any(text: str, phrases: Sequence[str]) -> bool:
    """Whether the text names one of the phrases, as a whole phrase."""
    pattern = _phrases(tuple(phrases))
    return pattern is not None and pattern.search(text) is not None


def named_sides(text: str, sides: Sequence[Sequence[str]]) -> set[int]:
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


# -- rankings ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RankingQuestion:
    """A question asking which of the items it names is the highest (or lowest)."""

    superlative: str  # the question's own word ("most")
    direction: str  # "max" or "min"
    alternatives: list[str]  # as the question names them ("operations", "investing")


@dataclass(frozen=True, slots=True)
class GroupRankingQuestion:
    """A question asking which member of a group a statement totals is the largest (or
    smallest): "What was the largest liability in the company's balance sheet?"."""

    superlative: str
    direction: str
    group: str  # the member noun as asked ("liability")


# "Among operations, investing, and financing activities, which …", "Which of A, B or C …":
# the items run from the opening words to the first verb or ", which" after them, and end in
# "and" or "or" before a last item. Read by forward searches within a bounded window (one
# lazy pattern over the whole question was cubic in its length).
_ALTERNATIVES_START = re.compile(r"\b(?:among|between|which of)\s+(?:the\s+)?", re.IGNORECASE)
_ALTERNATIVES_END = re.compile(
    r",\s*(?:which|what)\b|\s+(?:had|has|have|was|were|is|are|brought|generated|"
    r"contributed|performed|recorded|reported)\b",
    re.IGNORECASE,
)
_LAST_ITEM = re.compile(r"\s(?:and|or)\s+", re.IGNORECASE)
# Longer than any list of a few short items; a longer run is no list of line items.
_ALTERNATIVES_CHARS = 400
_SUPERLATIVE_WORD = re.compile(rf"\b({SUPERLATIVE})\b", re.IGNORECASE)


def _ranking_question(question: str) -> RankingQuestion | None:
    """The items a "which of A, B and C is the most …" question ranks, and which way; None
    when it names fewer than two items or no superlative. Of "the most (or lost the least)",
    the first superlative is the question."""
    listed = _listed_items(question)
    superlative = _SUPERLATIVE_WORD.search(question)
    if listed is None or superlative is None or superlative.start() < listed[1]:
        return None
    parts = re.split(r",\s*(?:and|or)?\s*|\s+(?:and|or)\s+", listed[0])
    alternatives = [" ".join(p.split()) for p in parts if p.strip()]
    direction = superlative_direction(superlative.group(1))
    # Items are named in a few words; a longer phrase describes a group ("all of the derivative
    # instruments the company used to manage … or interest rates"), whose members it omits.
    if len(alternatives) < 2 or direction is None or any(len(a.split()) > 4 for a in alternatives):
        return None
    return RankingQuestion(superlative.group(1).lower(), direction, alternatives)


def _listed_items(question: str) -> tuple[str, int] | None:
    """The text of the items a question lists ("operations, investing, and financing
    activities") and where it ends; None when it lists none."""
    for opening in _ALTERNATIVES_START.finditer(question):
        start = opening.end()
        stop = question.find("?", start)
        window = question[start : stop if stop >= 0 else len(question)][:_ALTERNATIVES_CHARS]
        for end in _ALTERNATIVES_END.finditer(window):
            items = window[: end.start()]
            last = _LAST_ITEM.search(items, max(0, items.rfind(",")))
            if last and items[: last.start()].strip(" ,") and items[last.end() :].strip():
                return items, start + end.start()
    return None


# "What was the largest liability …": a line item asked for by size among its group's. Not
# "which segment had the highest net revenue" (a segment is no line item of the statement
# that totals revenue), nor "the most cash" (an amount, not a member).
_GROUP = re.compile(
    r"\bwhat\s+(?:is|was|are|were)\s+(?:the\s+)?(?:company's\s+)?"
    r"(largest|biggest|highest|greatest|smallest|lowest)\s+(?P<group>[a-z]+)\b",
    re.IGNORECASE,
)


def _group_ranking_question(question: str) -> GroupRankingQuestion | None:
    """The group a "what was the largest liability …" question ranks the members of; None
    when no group noun follows a superlative. (A question that names its items is a
    ``RankingQuestion`` instead: ``read_asked`` asks this only of one that names none.)"""
    match = _GROUP.search(question)
    if match is None or match["group"].lower() in _NOT_GROUPS:
        return None
    direction = superlative_direction(match.group(1))
    if direction is None:
        return None
    return GroupRankingQuestion(match.group(1).lower(), direction, match["group"].lower())


# Words after a superlative that are no group of line items ("the most recent", "the highest
# of", "the largest increase" is a change, not a member).
_NOT_GROUPS = frozenset(
    {
        "of",
        "in",
        "and",
        "or",
        "to",
        "recent",
        "increase",
        "decrease",
        "drop",
        "growth",
        "change",
        "decline",
        "rise",
        "share",
        "percentage",
        "amount",
        "number",
        "value",
    }
)

# Which way a yes/no question asks an item to have moved: "Did the company grow its PP&E …?",
# "Has its debt decreased …?".
_UP = re.compile(r"\b(?:grow|grew|grown|increas\w*|rise|rose|risen|improv\w*)\b", re.IGNORECASE)
_DOWN = re.compile(
    r"\b(?:decreas\w*|declin\w*|fall|fell|fallen|drop\w*|shr[iu]nk\w*|reduc\w*)\b", re.IGNORECASE
)


# -- the question ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AskedQuestion:
    """Every facet of the question a rule of the verifier checks against. ``AskedQuestion()``
    is no question at all: every facet empty, and the rules that compare with a question pass
    for want of one, as they say."""

    # As asked: kept for display, and as a source of words a claim may repeat (the
    # claim-words rule lets a claim use the question's wording); no rule parses it.
    text: str = ""
    # The fiscal years it names: one year is the period an answer's figures must be from.
    years: frozenset[int] = frozenset()
    # The numbers it states, percentages aside: the only constants a calculation may bring in
    # besides those of an average or a percentage.
    constants: frozenset[float] = frozenset()
    ranking: RankingQuestion | None = None  # "which of A, B and C had the most …"
    # "what was the largest liability …": a group ranked by its members, when it names none.
    group_ranking: GroupRankingQuestion | None = None
    # Asks whether an item rose or fell ("did X increase …"): with exactly one of them and
    # two years, a verified calculation of the change settles yes or no.
    moves_up: bool = False
    moves_down: bool = False
    # What it is about: its content words' stems, the generic words of questions left out.
    topic_stems: frozenset[str] = frozenset()
    # The same of the captions its analyst terms point to ("capex" → "purchases of property,
    # plant and equipment"): an answer that speaks of them is on topic.
    expansion_stems: frozenset[str] = frozenset()
    # The line items and metrics it asks for, in order: an answer's figure must be one.
    items: tuple[AskedItem, ...] = ()
    # The words the next four facets were read in (a constitution's meaning rule's).
    vocabulary: MeaningVocabulary = field(default_factory=MeaningVocabulary)
    # Per qualifier pair of ``vocabulary``, the sides it names ("net" of net / gross): a cited
    # row naming only the other side is another quantity.
    qualifier_sides: tuple[frozenset[int], ...] = ()
    names_change: bool = False  # asks for a change: a movement row may answer it
    names_balance: bool = False  # asks for a balance at a date: a cash-flow movement may not
    # The primary statements it names outright: a cited row from another is another quantity.
    statements: frozenset[str] = frozenset()

    @property
    def given(self) -> bool:
        """Whether a question was asked at all (a rule says so when none was)."""
        return bool(self.text)


def read_asked(text: str, vocabulary: MeaningVocabulary | None = None) -> AskedQuestion:
    """The question's facets, read once. ``vocabulary``: the meaning rule's words of the
    constitution that will check it (by default the shipped one's)."""
    if not text:
        return AskedQuestion()
    words = vocabulary if vocabulary is not None else shipped_vocabulary()
    ranking = _ranking_question(text)
    return AskedQuestion(
        text=text,
        years=frozenset(years_in(text)),
        constants=frozenset(q.number for q in quantities(text) if not q.percent),
        ranking=ranking,
        group_ranking=_group_ranking_question(text) if ranking is None else None,
        moves_up=bool(_UP.search(text)),
        moves_down=bool(_DOWN.search(text)),
        topic_stems=frozenset(topic_stems(text)),
        expansion_stems=frozenset(topic_stems(" ".join(expansion_phrases(text)))),
        items=tuple(asked_items(text)),
        vocabulary=words,
        qualifier_sides=tuple(
            frozenset(named_sides(text, sides)) for sides in words.qualifier_pairs
        ),
        names_change=names_any(text, words.change_words),
        names_balance=names_any(text, words.balance_words),
        statements=frozenset(stated_statements(text)),
    )


def as_asked(
    question: AskedQuestion | str, vocabulary: MeaningVocabulary | None = None
) -> AskedQuestion:
    """The question as the rules take it, at a public entry point: a string (a logged
    question) is read here, once. A question read in another meaning vocabulary than
    ``vocabulary`` is read again in it, since its meaning facets are in the words it was read
    in; one read in the same words (the usual case) is passed on as it is."""
    if isinstance(question, str):
        return read_asked(question, vocabulary)
    if vocabulary is None or not question.given or question.vocabulary == vocabulary:
        return question
    return read_asked(question.text, vocabulary)
