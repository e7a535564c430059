"""A question as retrieval reads it: read once, then every list and filter takes the object.

The words that matter to search are read here and nowhere else in ``retrieval/``: the terms
BM25 matches, the line items the question's metrics are printed as, the primary statements it
names or implies, the breakdown it asks for (by segment, region, product category) and the
exhibits it asks about. Which company and period it names is read against the index's own
catalog of filings (``retrieval.catalog``), since only the index knows its companies.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

import snowballstemmer

from ingest.page_kinds import PageKind
from ingest.vocabulary import (
    GENERIC_TITLE_WORDS,
    asked_breakdowns,
    asks_about_certification,
    asks_about_consent,
    asks_about_subsidiaries,
    expansion_phrases,
    named_statements,
)

_TOKEN = re.compile(r"[a-z0-9]+(?:[.,][0-9]+)*", re.IGNORECASE)
# Question scaffolding that every filing contains or no filing needs.
STOPWORDS = frozenset(
    """a about above after again against all am an and any are as at be because been before
    being below between both but by can could did do does doing down during each few for from
    further had has have having he her here hers how i if in into is it its itself just me more
    most my no nor not now of off on once only or other our out over own same she should so
    some such than that the their theirs them then there these they this those through to too
    under until up very was we were what when where which while who whom why will with would
    you your yours please answer question give response state provide using based basing
    according information amount number much many fy fiscal year years usd million millions
    billion billions percent percentage round calculate compute define defined company
    """.split()  # noqa: SIM905
)


def query_terms(question: str) -> list[str]:
    terms: dict[str, None] = {}
    for token in _TOKEN.findall(question.lower()):
        if token not in STOPWORDS and (len(token) > 1 or token.isdigit()):
            terms.setdefault(token, None)
    return list(terms)


@dataclass(frozen=True, slots=True)
class SearchQuery:
    text: str
    terms: tuple[str, ...]  # what BM25 matches: the question's words, scaffolding left out
    expansions: tuple[str, ...]  # captions its terms point to ("capex" → "purchases of …")
    statements: tuple[str, ...]  # primary statements it names or its line items imply
    breakdowns: tuple[str, ...]  # "segments", "regions", "product categories"
    exhibits: frozenset[PageKind]  # exhibit kinds it asks about (certification, consent, …)
    stems: frozenset[str] = frozenset()  # Porter stems of its terms, as FTS5 stems them

    @property
    def names_a_metric(self) -> bool:
        return bool(self.expansions)


def read_query(text: str) -> SearchQuery:
    exhibits = {
        PageKind.CERTIFICATION: asks_about_certification(text),
        PageKind.CONSENT: asks_about_consent(text),
        PageKind.SUBSIDIARIES: asks_about_subsidiaries(text),
    }
    terms = tuple(query_terms(text))
    return SearchQuery(
        text=text,
        terms=terms,
        expansions=tuple(expansion_phrases(text)),
        statements=tuple(named_statements(text)),
        breakdowns=tuple(asked_breakdowns(text)),
        exhibits=frozenset(kind for kind, asked in exhibits.items() if asked),
        stems=frozenset(stem(term) for term in terms if not term.isdigit()),
    )


@lru_cache(maxsize=1)
def _stemmer() -> snowballstemmer.stemmer:
    # Porter's, the algorithm SQLite's FTS5 ``porter`` tokenizer applies to the lexical index.
    return snowballstemmer.stemmer("porter")


@lru_cache(maxsize=65536)
def stem(word: str) -> str:
    """The project's one stemmer: retrieval's and the answer engine's (``engine.text``)."""
    return str(_stemmer().stemWord(word))


@lru_cache(maxsize=16384)
def topic_stems(title: str) -> frozenset[str]:
    """The stems of what a title is about: "Note 12 — Long-Term Debt" gives {long, term,
    debt}; numbering, scaffolding and words every note title carries are left out."""
    return frozenset(
        stem(term)
        for term in query_terms(title)
        if not term.isdigit() and term not in GENERIC_TITLE_WORDS
    )


def as_query(query: SearchQuery | str) -> SearchQuery:
    """A caller's question, read if it is still text."""
    return query if isinstance(query, SearchQuery) else read_query(query)
