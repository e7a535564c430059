"""Prose answers: the span of a report sentence that answers a question.

Candidates are cut from the sentences that share most of the question's words: the whole
sentence, what follows the words it shares with the question ("… we are paid | our
allowable costs …"), each clause (cut at commas, semicolons and "and"/"which"/"including"),
and each figure with its unit ("$85.1 million"). A logistic model over general features of a
candidate (how much of it restates the question, where it starts and ends, its length, whether
it is a figure, how well its sentence matches) picks one; it is trained on questions whose
gold span is known (``engine/training.py``), cross-validated by report.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from engine.learned import LinearModel
from engine.question import Question
from engine.text import content_stems, stop_words, words
from verifier.numbers import normalise_text, quantities

TOP_SENTENCES = 3
MAX_CANDIDATES_PER_SENTENCE = 40
_CLAUSE_BREAK = re.compile(
    r",\s+|;\s+|:\s+|\s+(?:and|which|including|such as|that|because|due to|as well as)\s+"
)
_TOKEN = re.compile(r"\S+")


@dataclass(frozen=True, slots=True)
class Candidate:
    sentence_id: str
    sentence_rank: int
    sentence_score: float
    start: int
    end: int
    text: str
    kind: str  # "sentence", "after-question", "clause", "figure"


def _trimmed(text: str, start: int, end: int) -> tuple[int, int]:
    while start < end and text[start] in " ,;:(\"'":
        start += 1
    while end > start and text[end - 1] in " .,;:\"'":
        end -= 1
    return start, end


def sentence_scores(
    question: Question, sentences: Sequence[tuple[str, str]]
) -> list[tuple[float, str, str]]:
    """Sentences by the share of the question's content words they hold, best first."""
    asked = set(question.stems)
    scored = []
    for sentence_id, text in sentences:
        stems = set(content_stems(text))
        if stems and asked:
            scored.append((len(stems & asked) / len(asked), sentence_id, text))
    scored.sort(key=lambda item: -item[0])
    return scored


def candidates(question: Question, sentences: Sequence[tuple[str, str]]) -> list[Candidate]:
    found: list[Candidate] = []
    asked = set(question.stems)
    for rank, (score, sentence_id, text) in enumerate(
        sentence_scores(question, sentences)[:TOP_SENTENCES]
    ):
        if score == 0:
            break
        spans: dict[tuple[int, int], str] = {}
        spans[_trimmed(text, 0, len(text))] = "sentence"
        # After the last of the leading words the sentence shares with the question.
        tokens = list(_TOKEN.finditer(text))
        last_shared = None
        for index, token in enumerate(tokens):
            stems = content_stems(token.group())
            if stems and all(s in asked for s in stems):
                last_shared = index
            elif stems:
                break
        starts = [0]
        if last_shared is not None and last_shared + 1 < len(tokens):
            starts.append(tokens[last_shared + 1].start())
            spans[_trimmed(text, tokens[last_shared + 1].start(), len(text))] = "after-question"
        breaks = list(_CLAUSE_BREAK.finditer(text))
        starts += [m.end() for m in breaks]
        ends = [m.start() for m in breaks] + [len(text)]
        for begin in starts:
            for finish in ends:
                if finish > begin and (begin, finish) != (0, len(text)):
                    span = _trimmed(text, begin, finish)
                    if span[1] > span[0]:
                        spans.setdefault(span, "clause")
        normal = normalise_text(text)
        if normal == text:  # figure positions are in the normalised text
            for figure in quantities(text):
                begin = text.find(figure.text, max(0, figure.position - 4))
                if begin >= 0:
                    spans[(begin, begin + len(figure.text))] = "figure"
        for (begin, finish), kind in list(spans.items())[:MAX_CANDIDATES_PER_SENTENCE]:
            found.append(
                Candidate(sentence_id, rank, score, begin, finish, text[begin:finish], kind)
            )
    return found


def candidate_features(question: Question, candidate: Candidate, sentence: str) -> dict[str, float]:
    asked = set(question.stems)
    stems = content_stems(candidate.text)
    candidate_words = words(candidate.text)
    sentence_words = max(len(words(sentence)), 1)
    restated = sum(1 for s in stems if s in asked) / max(len(stems), 1)
    before = sentence[: candidate.start]
    before_words = words(before)
    previous = before_words[-1] if before_words else "^"
    after_words = words(sentence[candidate.end :])
    following = after_words[0] if after_words else "$"
    features = {
        f"kind:{candidate.kind}": 1.0,
        f"op:{question.operation.value}:kind:{candidate.kind}": 1.0,
        "sentence_score": candidate.sentence_score,
        f"sentence_rank:{candidate.sentence_rank}": 1.0,
        "restated": restated,
        "new_words": 1.0 - restated,
        "length_share": len(candidate_words) / sentence_words,
        "length_log": min(len(candidate_words), 64) / 64.0,
        "starts_sentence": float(candidate.start == 0),
        "ends_sentence": float(candidate.end >= len(sentence.rstrip(" .")) - 1),
        "previous_is_stop": float(previous in stop_words()),
        "previous_in_question": float(any(s in asked for s in content_stems(previous))),
        "has_figure": float(bool(quantities(candidate.text))),
        f"first:{question.opener}": 1.0,
        # The words around a span say what it is: "due to | …", "… | million", "was | $85.1".
        f"previous:{previous}": 1.0,
        f"next:{following}": 1.0,
        f"starts_with:{candidate_words[0] if candidate_words else '^'}": 1.0,
        f"first:{question.opener}:previous:{previous}": 1.0,
        f"first:{question.opener}:kind:{candidate.kind}": 1.0,
    }
    return features


class SpanSelector:
    def __init__(self, model: LinearModel) -> None:
        self.model = model

    def best(
        self, question: Question, sentences: Sequence[tuple[str, str]]
    ) -> tuple[Candidate, float] | None:
        text_of = dict(sentences)
        scored = []
        for candidate in candidates(question, sentences):
            features = candidate_features(question, candidate, text_of[candidate.sentence_id])
            scored.append((self.model.probabilities(features).get("yes", 0.0), candidate))
        if not scored:
            return None
        probability, candidate = max(scored, key=lambda item: item[0])
        return candidate, probability
