"""The question, read once: what is asked (its content words), for which periods, by which
operation, in what unit. Every later stage takes the ``Question``; this is the only module of
the engine that reads question text.

The operation is not matched by wording rules: a linear classifier over the question's stems
and word pairs, trained on questions whose derivations are known (``engine/training.py``,
cross-validated by report), scores every operation; the reader keeps the scores so the planner
can refuse when no operation is clearly asked.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any, Protocol

from engine.learned import LinearModel
from engine.statement_asks import StatementAsk, read_statement_ask
from engine.text import content_stems, vocabulary, words
from retrieval.query import SearchQuery, read_query, stem
from verifier.asked import AskedQuestion, read_asked
from verifier.numbers import normalise_text, periods, scale_factor


class Operation(StrEnum):
    VALUE = "value"  # one figure as printed
    CHANGE = "change"  # one item, a later period less an earlier one
    PERCENT_CHANGE = "percentage change"
    AVERAGE = "average"
    SUM = "sum"
    DIFFERENCE = "difference"  # two items, one period: the first less the second
    RATIO = "ratio"  # one figure over another (a share, a margin, a rate)
    COMPARISON = "comparison"  # which period or item is higher or lower
    COUNT = "count"
    LIST = "list"  # several figures, periods or items
    EXPLANATION = "explanation"  # a span of prose
    OTHER = "other"  # an arithmetic the engine does not plan (refused)


@dataclass(frozen=True, slots=True)
class Question:
    text: str
    stems: tuple[str, ...]  # content stems in the order asked (periods and numbers left out)
    years: tuple[int, ...]  # the periods asked, in the order asked
    operation: Operation
    operation_scores: dict[Operation, float] = field(default_factory=dict)
    # What a list or comparison answers with: "figure", "period" (the years whose figures
    # are asked about) or "item" (row labels).
    answers_with: str = "figure"
    # "2017-2019", "from 2015 to 2019": every year of the span (for averages and sums).
    year_span: tuple[int, ...] = ()
    # "from 2019 to 2018": the periods' order is the direction of a change (later minus
    # earlier otherwise).
    ordered_periods: bool = False
    asks_percent: bool = False
    # Names a percentage outright ("%", "percentage"), not a rate or a share that may be an
    # amount ("earnings per share", "gross margin").
    names_percent: bool = False
    yes_no: bool = False
    direction: str | None = None  # "higher" or "lower", for comparisons and rankings
    opener: str = ""  # the question's first word, lower-cased ("how", "what", "which")
    # A threshold the question states ("exceed $200,000 thousand"): which way ("above" or
    # "below") and the amount in units (its scale word applied).
    threshold: tuple[str, float] | None = None
    # "What is the difference in X between 2018 and 2019?": how far apart, the larger less
    # the smaller; a change, an increase or a decrease keeps its sign.
    unsigned: bool = False
    # The question's sentence vector (the vector model the engine's models were trained
    # with), computed once here for every stage that compares the question with evidence.
    vector: Any = field(default=None, compare=False, repr=False)
    # The question as the verifier's rules read it, read here once, so the pipeline verifies
    # the engine's draft against the same reading instead of parsing the text again.
    asked: AskedQuestion = field(default_factory=AskedQuestion, compare=False, repr=False)
    # The question as retrieval reads it: its search terms, the statements and breakdown it
    # asks for, the exhibits it asks about.
    search: SearchQuery = field(default_factory=lambda: read_query(""), compare=False, repr=False)
    # The forms the statement lookup and the metric calculator answer (a plain line item, a
    # defined metric, a change, a ranking), read once.
    statement_ask: StatementAsk = field(default_factory=StatementAsk, compare=False, repr=False)

    @property
    def operation_confidence(self) -> float:
        return self.operation_scores.get(self.operation, 0.0)


class Vectors(Protocol):
    """L2-normalised sentence vectors of texts (``engine.vectors.TextVectors``)."""

    def __call__(self, texts: Sequence[str]) -> Any: ...


class OperationClassifier(Protocol):
    def scores(self, text: str, vector: Any = None) -> dict[str, float]:
        """Probabilities of the classes ``"<operation>"`` or ``"<operation>/<answers_with>"``."""
        ...


def question_features(text: str, vector: Sequence[float] | None = None) -> dict[str, float]:
    """What the operation classifier sees: stems (stop words kept: "how many", "which year"
    are the signal), adjacent stem pairs, the number of periods asked, a percent sign, and
    the question's sentence vector when one is given (the wording it was never trained on
    still lands near the questions it was)."""
    tokens = [stem(word) for word in words(text) if not word.replace(".", "").isdigit()]
    features: dict[str, float] = {}
    for token in tokens:
        features[f"w:{token}"] = 1.0
    for first, second in itertools.pairwise(tokens):
        features[f"p:{first}_{second}"] = 1.0
    if tokens:
        features[f"first:{tokens[0]}"] = 1.0
    years = len({p.year for p in periods(text) if p.year is not None})
    features[f"years:{min(years, 3)}"] = 1.0
    if vector is not None:
        for index, value in enumerate(vector):
            features[f"e:{index}"] = float(value)
    return features


class LinearOperationClassifier:
    """``vectors``: the sentence-vector model the classifier was trained with (its card names
    it); without one, a model trained with vectors scores on words alone."""

    def __init__(self, model: LinearModel, vectors: Vectors | None = None) -> None:
        self.model = model
        self.vectors = vectors

    @classmethod
    def packaged(cls, vectors: Vectors | None = None) -> LinearOperationClassifier:
        return cls(packaged_model("operation.json"), vectors)

    def scores(self, text: str, vector: Any = None) -> dict[str, float]:
        if vector is None and self.vectors is not None:
            vector = self.vectors([text])[0]
        return self.model.probabilities(question_features(text, vector))


@cache
def packaged_model(name: str) -> LinearModel:
    path = Path(str(resources.files("engine").joinpath("models", name)))
    return LinearModel.load(path)


_SPAN_JOINERS = frozenset({"-", "to", "through", "until", "till"})
MAX_YEAR_SPAN = 10


def _year_span(text: str) -> tuple[tuple[int, ...], bool]:
    """Every year of a span the question names by its two ends ("2017-2019", "from 2015 to
    2019", "FY2015 through FY2019"), and whether two periods are joined that way at all."""
    normal = normalise_text(text)
    found = sorted((p for p in periods(text) if p.year is not None), key=lambda p: p.position)
    for first, second in itertools.pairwise(found):
        between = normal[first.position + len(first.text) : second.position]
        if between.strip(" ,").lower() in _SPAN_JOINERS and first.year != second.year:
            assert first.year is not None and second.year is not None
            low, high = sorted((first.year, second.year))
            span = tuple(range(low, high + 1)) if high - low <= MAX_YEAR_SPAN else ()
            return span, True
    return (), False


@cache
def _threshold_pattern() -> re.Pattern[str]:
    terms = vocabulary()["question"]
    words = sorted(terms["above_words"] + terms["below_words"], key=len, reverse=True)
    scales = sorted(
        (word for names in vocabulary()["scale"].values() for word in names if word.isalpha()),
        key=len,
        reverse=True,
    )
    return re.compile(
        rf"\b({'|'.join(map(re.escape, words))})\s+(?:us\$|\$|€|£)?\s*(-?\s?\d[\d,]*(?:\.\d+)?)"
        rf"(?:\s*({'|'.join(map(re.escape, scales))})\b)?"
        # "more than 5 years" is a duration, not an amount
        r"(?![\d,.]*\s*(?:years?|months?|weeks?|days?)\b)",
        re.IGNORECASE,
    )


def _threshold(text: str) -> tuple[str, float] | None:
    """The threshold the question states, as ("above" | "below", amount in units)."""
    match = _threshold_pattern().search(text)
    if match is None:
        return None
    word, number, scale_word = match.group(1).lower(), match.group(2), match.group(3)
    direction = "above" if word in vocabulary()["question"]["above_words"] else "below"
    amount = float(number.replace(",", "").replace(" ", ""))
    return direction, amount * scale_factor(scale_word)


# A sentence ends at ". " before a capital after a word of two or more letters ("U.S." and
# "Inc." do not end one), or a clause at ": ".
_SENTENCE_END = re.compile(r"(?<=[a-z0-9)][a-z0-9)][.!;])\s+(?=[A-Z])|(?<=:)\s+")


def asked_sentence(text: str) -> str:
    """The sentence that asks: through the first question mark, from the start of the last
    sentence (or clause after a colon) before it; the whole text when nothing asks."""
    mark = text.find("?")
    if mark < 0:
        return text.strip()
    parts = _SENTENCE_END.split(text[: mark + 1])
    openers = set(vocabulary()["question"]["openers"])
    asking = parts.pop().strip()
    # "What is the ratio: A over B?" asks from before the colon.
    while parts and (words(asking)[:1] or [""])[0] not in openers:
        asking = f"{parts.pop().strip()} {asking}"
    return asking


class QuestionReader:
    """``vectors``: the sentence-vector model of the engine's models; by default the
    classifier's own."""

    def __init__(self, classifier: OperationClassifier, vectors: Vectors | None = None) -> None:
        self._classifier = classifier
        self._vectors = vectors if vectors is not None else getattr(classifier, "vectors", None)

    def read(self, text: str) -> Question:
        words_asked = words(text)
        terms = vocabulary()["question"]
        years: list[int] = []
        for period in sorted(periods(text), key=lambda p: p.position):
            if period.year is not None and period.year not in years:
                years.append(period.year)
        year_span, ordered = _year_span(text)
        # The operation is read from the sentence that asks, not from instructions around it
        # ("… Give a response by relying on the cash flow statement", "Please answer the
        # following question: …"); the vector is the same sentence's.
        asking = asked_sentence(text)
        vector = self._vectors([asking])[0] if self._vectors is not None else None
        classes = self._classifier.scores(asking, vector)
        scores: dict[Operation, float] = {}
        for name, probability in classes.items():
            kind = Operation(name.split("/")[0])
            scores[kind] = scores.get(kind, 0.0) + probability
        operation = max(scores, key=lambda name: scores[name]) if scores else Operation.OTHER
        kinds = {
            name.split("/")[1]: p
            for name, p in classes.items()
            if "/" in name and name.split("/")[0] == operation.value
        }
        answers_with = max(kinds, key=lambda k: kinds[k]) if kinds else "figure"
        asked = read_asked(text)
        direction = None
        for word in words_asked:
            if word in terms["higher_words"]:
                direction = "higher"
                break
            if word in terms["lower_words"]:
                direction = "lower"
                break
        return Question(
            text=text,
            stems=tuple(content_stems(text)),
            years=tuple(years),
            year_span=year_span,
            ordered_periods=ordered,
            operation=operation,
            operation_scores=scores,
            answers_with=answers_with,
            asks_percent=any(word in terms["percent_words"] for word in words_asked),
            names_percent=any(word in terms["percent_figure_words"] for word in words_asked),
            yes_no=bool(words_asked) and words_asked[0] in terms["yes_no_openers"],
            direction=direction,
            opener=text.split()[0].lower() if text.split() else "",
            vector=vector,
            threshold=_threshold(text),
            unsigned=any(word in terms["unsigned_words"] for word in words_asked)
            and not any(word in terms["signed_words"] for word in words_asked),
            asked=asked,
            search=read_query(text),
            statement_ask=read_statement_ask(text, asked),
        )
