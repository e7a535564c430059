"""One tokeniser, one stemmer and one stop list for every module of the engine that compares
words: the question reader, the cell linker and the span selector.

The stemmer is retrieval's (``retrieval.query.stem``): Porter's, from the Snowball project's
package, the algorithm SQLite's FTS5 ``porter`` tokenizer applies to the lexical index, so a
stem here is a stem there.
"""

from __future__ import annotations

import re
import tomllib
from functools import cache
from importlib import resources
from typing import Any

from retrieval.query import stem
from verifier.numbers import normalise_text

_WORD = re.compile(r"[a-z0-9]+(?:['.][a-z0-9]+)*|%")


@cache
def vocabulary() -> dict[str, Any]:
    """The engine's vocabulary file (``engine/vocabulary.toml``), read once."""
    return tomllib.loads(resources.files("engine").joinpath("vocabulary.toml").read_text())


@cache
def stop_words() -> frozenset[str]:
    return frozenset(vocabulary()["text"]["stop_words"])


def words(text: str) -> list[str]:
    """Lower-cased words, numbers (``1,452.4`` stays one token, without commas) and ``%``."""
    text = normalise_text(text).lower().replace(",", "")
    return _WORD.findall(text)


# "FY2019", "fy19", "F19": a period (read as one by the question reader), not a content word.
_FISCAL_YEAR = re.compile(r"^f(?:y)?'?(?:\d{2}|\d{4})$")


def content_stems(text: str) -> list[str]:
    """Stems of the words that carry meaning: stop words, bare numbers and fiscal-year tokens
    left out."""
    stops = stop_words()
    return [
        stem(word)
        for word in words(text)
        if word not in stops
        and word != "%"
        and not word.replace(".", "").isdigit()
        and not _FISCAL_YEAR.match(word)
    ]
