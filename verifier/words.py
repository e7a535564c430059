"""Content words and their light stems: what the verifier compares between a claim, its
evidence and the question. Shared by the rules (``verifier.checks``) and the question's reader
(``verifier.asked``), which reads the question's topic with the same words the rules compare
answers with.
"""

from __future__ import annotations

import re

from verifier.numbers import normalise_text

_POSSESSIVE = re.compile(r"(?<=[a-z0-9])'s\b")


def content_words(text: str) -> set[str]:
    # "Acme's" is the company's name, not "acme" plus a word "s".
    words = re.findall(r"[a-z0-9]+", _POSSESSIVE.sub("", normalise_text(text).lower()))
    return {w for w in words if w not in _ANSWER_STOPWORDS and not w.isdigit()}


def stems(words: set[str]) -> set[str]:
    return {stem(word) for word in words}


def stem(word: str) -> str:
    for suffix in ("ing", "ed", "es", "s"):
        if len(word) > len(suffix) + 3 and word.endswith(suffix):
            return word[: -len(suffix)]
    return word


def topic_stems(text: str) -> set[str]:
    # Two-letter pieces ("s" of a possessive, "q" of a quarter) and periods ("fy2018") name no
    # topic.
    return stems(
        {
            w
            for w in content_words(text) - QUESTION_FRAME
            if len(w) > 2 and not any(c.isdigit() for c in w)
        }
    )


# How questions are framed, not what they ask about: the generic words of any question and of
# instructions that come with one ("give a response ... relying on the details shown in ..."),
# beyond the stopwords content_words already drops.
QUESTION_FRAME = frozenset(
    [
        "what",
        "how",
        "much",
        "many",
        "does",
        "did",
        "do",
        "has",
        "have",
        "had",
        "any",
        "there",
        "reported",
        "report",
        "reports",
        "according",
        "based",
        "using",
        "use",
        "uses",
        "relying",
        "rely",
        "details",
        "detail",
        "shown",
        "show",
        "shows",
        "information",
        "provided",
        "provide",
        "give",
        "given",
        "response",
        "respond",
        "answer",
        "answers",
        "question",
        "questions",
        "state",
        "stated",
        "states",
        "please",
        "calculate",
        "calculated",
        "compute",
        "computed",
        "round",
        "rounded",
        "decimal",
        "places",
        "place",
        "metric",
        "terms",
        "figure",
        "figures",
        "number",
        "value",
        "amount",
        "total",
        "millions",
        "billions",
        "thousands",
        "years",
        "company",
        "company's",
        "firm",
        "their",
        "only",
        "also",
        "if",
        "not",
        "relevant",
        "explain",
        "why",
        "whether",
        "would",
        "could",
        "should",
        "can",
        "will",
        "between",
        "among",
        "following",
        "statement",
        "statements",
        "reasonably",
        "roughly",
        "overall",
        "general",
        "generally",
        "significant",
        "mostly",
        "respectively",
        "period",
        "periods",
        "end",
        "ended",
        "ending",
        "current",
        "prior",
        "previous",
        "last",
        "recent",
        "recently",
        "latest",
        "same",
        "when",
        "where",
        "whose",
        "into",
        "out",
        "over",
        "under",
        "more",
        "most",
        "less",
        "least",
    ]
)


_ANSWER_STOPWORDS = frozenset(
    [
        "a",
        "an",
        "the",
        "of",
        "in",
        "on",
        "for",
        "to",
        "and",
        "or",
        "by",
        "with",
        "as",
        "at",
        "from",
        "its",
        "it",
        "is",
        "was",
        "were",
        "be",
        "been",
        "are",
        "this",
        "that",
        "these",
        "those",
        "which",
        "who",
        "whom",
        "than",
        "then",
        "per",
        "usd",
        "us",
        "dollars",
        "million",
        "billion",
        "thousand",
        "approximately",
        "about",
        "around",
        "fiscal",
        "year",
        "fy",
    ]
)
