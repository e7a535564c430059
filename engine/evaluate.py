"""Scoring answers the TAT-QA way: exact match and a numeracy-aware F1, with the scale.

A numeric answer is its signed value rounded to two decimals together with its scale
("-43" "million" is not "-43" "thousand" nor "43" "million"); its F1 is its exact match. A
text answer is compared as normalised words (lower case, no punctuation or articles); its F1
is the word-overlap F1, and a multi-span answer is aligned span to span (each gold span with
its best predicted one). A number inside a text answer must be the gold's number for the
words around it to count (numeracy-aware).
"""

from __future__ import annotations

import re
import string
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from verifier.numbers import normalise_text, quantities

_ARTICLES = re.compile(r"\b(a|an|the)\b")
_NUMBER_TEXT = re.compile(r"^[\s$€£(]*-?[\s$€£(]*[\d,]*\.?\d+\s*\)?\s*%?$")
PARTIAL_F1 = 0.5


def answer_number(text: str) -> float | None:
    """The value a whole answer string states ("$(1,234.5)" is -1234.5), or None."""
    cleaned = normalise_text(text)
    if not _NUMBER_TEXT.match(cleaned):
        return None
    negative = "(" in cleaned or cleaned.replace("$", "").strip().startswith("-")
    digits = re.sub(r"[^\d.]", "", cleaned)
    try:
        value = float(digits)
    except ValueError:
        return None
    return -value if negative else value


_SCALE_NAMES = {1e3: "thousand", 1e6: "million", 1e9: "billion"}


def as_figure(text: str, scale: str) -> tuple[float, str] | None:
    """An answer that is one figure, as (signed value, scale): "1,496.5" with scale
    "million", or "$(9.8) million" with none, are both read as their number and scale."""
    number = answer_number(text)
    if number is not None:
        return number, "percent" if not scale and text.strip().endswith("%") else scale
    if scale:
        return None
    cleaned = normalise_text(text)
    found = quantities(cleaned)
    if len(found) != 1 or len(found[0].text) < len(cleaned.strip(" .()$")) - 2:
        return None
    figure = found[0]
    negative = "(" in cleaned or cleaned.lstrip("$ ").startswith("-")
    value = -figure.number if negative else figure.number
    named = "percent" if figure.percent else _SCALE_NAMES.get(figure.scale, "")
    return value, named


def _normal_words(text: str) -> list[str]:
    text = normalise_text(text).lower()
    text = "".join(" " if ch in string.punctuation and ch not in ".-" else ch for ch in text)
    text = _ARTICLES.sub(" ", text)
    tokens = []
    for token in text.split():
        token = token.strip(".")
        number = answer_number(token)
        tokens.append(f"{round(number, 2):g}" if number is not None else token)
    return [t for t in tokens if t]


def _words_f1(gold: str, predicted: str) -> float:
    gold_words, predicted_words = _normal_words(gold), _normal_words(predicted)
    if not gold_words or not predicted_words:
        return float(gold_words == predicted_words)
    gold_numbers = {w for w in gold_words if answer_number(w) is not None}
    predicted_numbers = {w for w in predicted_words if answer_number(w) is not None}
    if gold_numbers and gold_numbers != predicted_numbers:
        return 0.0
    common = Counter(gold_words) & Counter(predicted_words)
    same = sum(common.values())
    if same == 0:
        return 0.0
    precision = same / len(predicted_words)
    recall = same / len(gold_words)
    return 2 * precision * recall / (precision + recall)


@dataclass(frozen=True, slots=True)
class Score:
    exact_match: float
    f1: float

    @property
    def outcome(self) -> str:
        if self.exact_match == 1.0:
            return "correct"
        return "partial" if self.f1 >= PARTIAL_F1 else "wrong"


def score_answer(
    gold: Sequence[str | float | int],
    gold_scale: str,
    predicted: Sequence[str | float | int],
    predicted_scale: str,
) -> Score:
    """TAT-QA exact match and F1 of a delivered answer (``predicted`` non-empty)."""
    gold_texts = [str(item) for item in gold]
    predicted_texts = [str(item) for item in predicted]
    if not gold_scale and gold_texts and all(text.strip().endswith("%") for text in gold_texts):
        gold_scale = "percent"  # the gold prints its unit in the answer, not in its scale
    gold_figures = [as_figure(text, gold_scale) for text in gold_texts]
    predicted_figures = [as_figure(text, predicted_scale) for text in predicted_texts]
    if gold_texts and all(f is not None for f in gold_figures):
        if any(f is None for f in predicted_figures):
            return Score(0.0, 0.0)
        same = sorted((round(f[0], 2), f[1]) for f in gold_figures if f is not None) == sorted(
            (round(f[0], 2), f[1]) for f in predicted_figures if f is not None
        )
        return Score(float(same), float(same))
    if len(gold_texts) == 1 and len(predicted_texts) == 1:
        exact = float(_normal_words(gold_texts[0]) == _normal_words(predicted_texts[0]))
        return Score(exact, max(exact, _words_f1(gold_texts[0], predicted_texts[0])))
    exact = float(
        sorted(" ".join(_normal_words(t)) for t in gold_texts)
        == sorted(" ".join(_normal_words(t)) for t in predicted_texts)
    )
    aligned = [max((_words_f1(g, p) for p in predicted_texts), default=0.0) for g in gold_texts]
    f1 = sum(aligned) / max(len(gold_texts), len(predicted_texts))
    return Score(exact, max(exact, f1))


def answer_parts(answer: str) -> list[str]:
    """A delivered direct answer as TAT-QA reads one: its comma-separated parts, each a
    figure with its own unit ("-$8,137 thousand", "5.5%") or words; a figure's thousands
    separators are not part separators."""
    return [part.strip() for part in answer.split(", ") if part.strip()]
