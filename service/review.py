"""Compliance review: who reviews which answer, what each reviewer decided per citation and per
answer, how far reviewers agree, and the adjudicated label alignment trains on.

Every action is an append-only event (``review_events``): the current state is the newest
event per (reviewer, target), and the event it replaced is recorded in it, so the history of a
label is never lost. Agreement is computed over targets two or more reviewers labelled:
Cohen's κ per reviewer pair (scikit-learn) and Krippendorff's α over any number of reviewers
(the ``krippendorff`` package), per label kind and over all labels together.
"""

from __future__ import annotations

import hashlib
import json
import math
import random
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from itertools import combinations
from typing import Any

from sqlalchemy import Engine, insert, select

from service.db import review_events
from service.errors import InvalidReviewError


class CitationDecision(StrEnum):
    ACCEPT = "accept"
    REJECT = "reject"


class RejectReason(StrEnum):
    """Why a reviewer rejected a citation: the codes the review page offers."""

    QUOTE_NOT_ON_PAGE = "quote_not_on_page"
    DOES_NOT_SUPPORT = "does_not_support"
    WRONG_PERIOD = "wrong_period"
    WRONG_FIGURE = "wrong_figure"
    WRONG_ROW = "wrong_row"
    OTHER = "other"


class Verdict(StrEnum):
    """A reviewer's judgement of the whole answer (a refusal included: a refusal where the
    filings do answer the question is ``incorrect``)."""

    CORRECT = "correct"
    PARTLY_CORRECT = "partly_correct"
    INCORRECT = "incorrect"


REASON_TITLES = {
    RejectReason.QUOTE_NOT_ON_PAGE: "Quote not on the page",
    RejectReason.DOES_NOT_SUPPORT: "Does not support the claim",
    RejectReason.WRONG_PERIOD: "Wrong period",
    RejectReason.WRONG_FIGURE: "Wrong figure",
    RejectReason.WRONG_ROW: "Wrong row",
    RejectReason.OTHER: "Other",
}

VERDICT_TARGET = "verdict"
ASSIGN = "assign"
LABEL = "label"
ADJUDICATE = "adjudicate"


def citation_target(claim_index: int, citation_index: int) -> str:
    return f"citation:{claim_index}:{citation_index}"


def label_kind(target: str) -> str:
    """``citation`` or ``verdict``: the label kinds agreement is reported for."""
    return target.split(":", 1)[0]


@dataclass(frozen=True, slots=True)
class ReviewEvent:
    id: str
    answer_id: str
    created_at: datetime
    actor_id: str
    action: str
    target: str
    value: str
    reason: str | None
    note: str | None
    previous: dict[str, Any] | None


@dataclass(frozen=True, slots=True)
class PairKappa:
    reviewers: tuple[str, str]
    kappa: float | None  # None where it is undefined (one category only, or no shared items)
    shared: int


@dataclass(frozen=True, slots=True)
class Agreement:
    """Agreement on one label kind (or all together)."""

    label: str
    units: int  # targets labelled by two or more reviewers
    observed: float | None  # share of those on which every reviewer gave the same value
    alpha: float | None  # Krippendorff's α, nominal; None where undefined
    pairs: list[PairKappa] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Disagreement:
    answer_id: str
    target: str
    values: dict[str, str]  # reviewer → value
    adjudicated: str | None


def _value(decision: str, reason: str | None) -> str:
    """A citation label's value: the decision, and for a rejection its reason, so reviewers who
    both reject for different reasons disagree."""
    return f"{decision}:{reason}" if reason else decision


def _undefined_to_none(value: float) -> float | None:
    return None if math.isnan(value) else float(value)


def cohen_kappa(left: list[str], right: list[str]) -> float | None:
    from sklearn.metrics import cohen_kappa_score

    if not left:
        return None
    if len(set(left) | set(right)) == 1:
        return None  # every label the same category: κ is 0/0
    return _undefined_to_none(float(cohen_kappa_score(left, right)))


def krippendorff_alpha(units: list[dict[str, str]], reviewers: list[str]) -> float | None:
    """Nominal α over units (reviewer → value), reviewers who skipped a unit as missing."""
    import krippendorff
    import numpy as np

    categories = sorted({value for unit in units for value in unit.values()})
    if len(categories) < 2:
        return None
    code = {category: float(number) for number, category in enumerate(categories)}
    matrix = np.full((len(reviewers), len(units)), np.nan)
    for column, unit in enumerate(units):
        for row, reviewer in enumerate(reviewers):
            if reviewer in unit:
                matrix[row, column] = code[unit[reviewer]]
    return _undefined_to_none(
        float(krippendorff.alpha(reliability_data=matrix, level_of_measurement="nominal"))
    )


def agreement(label: str, units: list[dict[str, str]]) -> Agreement:
    """Agreement over ``units``, each the values reviewers gave one target."""
    shared = [unit for unit in units if len(unit) >= 2]
    reviewers = sorted({reviewer for unit in shared for reviewer in unit})
    pairs = []
    for first, second in combinations(reviewers, 2):
        both = [unit for unit in shared if first in unit and second in unit]
        pairs.append(
            PairKappa(
                (first, second),
                cohen_kappa([u[first] for u in both], [u[second] for u in both]),
                len(both),
            )
        )
    observed = (
        sum(len(set(unit.values())) == 1 for unit in shared) / len(shared) if shared else None
    )
    alpha = krippendorff_alpha(shared, reviewers) if shared else None
    return Agreement(label, len(shared), observed, alpha, pairs)


def _expected_disagreement(units: list[dict[str, str]]) -> tuple[float, int]:
    """Nominal expected disagreement D_e of α over the pairable values, and their number n:
    1 − Σ n_c(n_c − 1) / n(n − 1)."""
    counts = Counter(value for unit in units if len(unit) >= 2 for value in unit.values())
    n = sum(counts.values())
    if n < 2:
        return 0.0, n
    return 1 - sum(c * (c - 1) for c in counts.values()) / (n * (n - 1)), n


def _chance_agreement(left: list[str], right: list[str]) -> float:
    """κ's p_e: the chance two independent raters with these marginals agree."""
    first, second = Counter(left), Counter(right)
    return sum(first[c] * second[c] for c in first) / (len(left) * len(right))


def overall_agreement(by_kind: dict[str, list[dict[str, str]]]) -> Agreement:
    """Agreement over every label kind at once. The kinds' values never meet (an ``accept``
    is never compared with a ``correct``), so pooling the units into one table would count
    every cross-kind pair as an expected disagreement and inflate κ and α. Instead each kind
    keeps its own chance model and the disagreements are summed: α = 1 − Σ n_k D_o,k /
    Σ n_k D_e,k and, per reviewer pair, κ = 1 − Σ N_k (1 − p_o,k) / Σ N_k (1 − p_e,k)."""
    observed_sum = expected_sum = 0.0
    agreeing = counted = 0
    pair_sums: dict[tuple[str, str], list[float]] = defaultdict(lambda: [0.0, 0.0, 0.0])
    for kind, units in by_kind.items():
        report = agreement(kind, units)
        shared = [unit for unit in units if len(unit) >= 2]
        agreeing += sum(len(set(unit.values())) == 1 for unit in shared)
        counted += len(shared)
        expected, n = _expected_disagreement(shared)
        # One category only: no disagreement observed or expected.
        observed = 0.0 if report.alpha is None else (1 - report.alpha) * expected
        observed_sum += n * observed
        expected_sum += n * expected
        for pair in report.pairs:
            first, second = pair.reviewers
            both = [unit for unit in shared if first in unit and second in unit]
            if not both:
                continue
            left, right = [u[first] for u in both], [u[second] for u in both]
            agree = sum(a == b for a, b in zip(left, right, strict=True)) / len(both)
            sums = pair_sums[pair.reviewers]
            sums[0] += len(both) * (1 - agree)
            sums[1] += len(both) * (1 - _chance_agreement(left, right))
            sums[2] += len(both)
    pairs = [
        PairKappa(reviewers, 1 - sums[0] / sums[1] if sums[1] > 0 else None, int(sums[2]))
        for reviewers, sums in sorted(pair_sums.items())
    ]
    return Agreement(
        "all",
        counted,
        agreeing / counted if counted else None,
        1 - observed_sum / expected_sum if expected_sum > 0 else None,
        pairs,
    )


def _check_citation_label(decision: CitationDecision, reason: RejectReason | None) -> None:
    """The rule every citation label keeps, a reviewer's or an adjudicator's: a rejection
    names its reason, an acceptance none."""
    if decision is CitationDecision.REJECT and reason is None:
        raise InvalidReviewError(
            "a rejected citation needs a reason code: " + ", ".join(r.value for r in RejectReason)
        )
    if decision is CitationDecision.ACCEPT and reason is not None:
        raise InvalidReviewError("an accepted citation takes no reason code")


class ReviewStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    # ---- writing ----------------------------------------------------------------------------

    def _append(
        self,
        answer_id: str,
        actor_id: str,
        action: str,
        target: str,
        value: str,
        reason: str | None = None,
        note: str | None = None,
    ) -> ReviewEvent:
        created_at = datetime.now(UTC)
        previous_event = self._current(answer_id, actor_id, action, target)
        previous = (
            {
                "event": previous_event.id,
                "value": previous_event.value,
                "reason": previous_event.reason,
                "note": previous_event.note,
                "at": previous_event.created_at.isoformat(),
            }
            if previous_event is not None
            else None
        )
        digest = hashlib.blake2b(digest_size=12)
        digest.update(
            json.dumps(
                [answer_id, actor_id, action, target, value, reason, note, created_at.isoformat()]
            ).encode()
        )
        event = ReviewEvent(
            "r" + digest.hexdigest(),
            answer_id,
            created_at,
            actor_id,
            action,
            target,
            value,
            reason,
            note,
            previous,
        )
        with self.engine.begin() as connection:
            connection.execute(
                insert(review_events).values(
                    id=event.id,
                    answer_id=answer_id,
                    created_at=created_at,
                    actor_id=actor_id,
                    action=action,
                    target=target,
                    value=value,
                    reason=reason,
                    note=note,
                    previous=previous,
                )
            )
        return event

    def assign(self, answer_id: str, reviewer_ids: list[str], by: str) -> list[ReviewEvent]:
        """Put an answer in these reviewers' queues (double review: two or more)."""
        assigned = self.assignees(answer_id)
        return [
            self._append(answer_id, by, ASSIGN, "reviewer", reviewer)
            for reviewer in dict.fromkeys(reviewer_ids)
            if reviewer not in assigned
        ]

    def label_citation(
        self,
        answer_id: str,
        reviewer_id: str,
        claim_index: int,
        citation_index: int,
        decision: CitationDecision,
        reason: RejectReason | None = None,
        note: str | None = None,
    ) -> ReviewEvent:
        _check_citation_label(decision, reason)
        return self._append(
            answer_id,
            reviewer_id,
            LABEL,
            citation_target(claim_index, citation_index),
            decision.value,
            reason.value if reason else None,
            note,
        )

    def label_verdict(
        self, answer_id: str, reviewer_id: str, verdict: Verdict, note: str | None = None
    ) -> ReviewEvent:
        return self._append(
            answer_id, reviewer_id, LABEL, VERDICT_TARGET, verdict.value, None, note
        )

    def adjudicate(
        self,
        answer_id: str,
        adjudicator_id: str,
        target: str,
        value: str,
        note: str | None = None,
    ) -> ReviewEvent:
        """Settle a disagreement: this value is the label alignment uses for the target. Only
        a target reviewers disagree on, by someone who is not one of them, with a value the
        label rules allow (a rejection names its reason, an acceptance none)."""
        disputed = next((d for d in self.disagreements(answer_id) if d.target == target), None)
        if disputed is None:
            raise InvalidReviewError(
                f"{target} of answer {answer_id} is not in dispute; only a disagreement between "
                "reviewers is adjudicated"
            )
        if adjudicator_id in disputed.values:
            raise InvalidReviewError(
                "an adjudicator must not be one of the reviewers who disagree on the item"
            )
        decision, _, reason = value.partition(":")
        try:
            if label_kind(target) == "citation":
                chosen = CitationDecision(decision)
                code = RejectReason(reason) if reason else None
            else:
                Verdict(value)
                chosen, code = None, None
        except ValueError as exc:
            raise InvalidReviewError(f"{value!r} is not a label for {target}") from exc
        if chosen is not None:
            _check_citation_label(chosen, code)
        return self._append(
            answer_id, adjudicator_id, ADJUDICATE, target, decision, reason or None, note
        )

    # ---- reading ----------------------------------------------------------------------------

    def events(self, answer_id: str | None = None) -> list[ReviewEvent]:
        query = select(review_events).order_by(review_events.c.created_at, review_events.c.id)
        if answer_id is not None:
            query = query.where(review_events.c.answer_id == answer_id)
        with self.engine.connect() as connection:
            rows = connection.execute(query).all()
        return [
            ReviewEvent(
                row.id,
                row.answer_id,
                row.created_at if row.created_at.tzinfo else row.created_at.replace(tzinfo=UTC),
                row.actor_id,
                row.action,
                row.target,
                row.value,
                row.reason,
                row.note,
                row.previous,
            )
            for row in rows
        ]

    def _current(
        self, answer_id: str, actor_id: str, action: str, target: str
    ) -> ReviewEvent | None:
        latest = None
        for event in self.events(answer_id):
            if (event.actor_id, event.action, event.target) == (actor_id, action, target):
                latest = event
        return latest

    def assignees(self, answer_id: str) -> list[str]:
        return [e.value for e in self.events(answer_id) if e.action == ASSIGN]

    def assigned_to(self, reviewer_id: str) -> list[str]:
        """Answer ids in this reviewer's queue, oldest assignment first."""
        with self.engine.connect() as connection:
            rows = connection.execute(
                select(review_events.c.answer_id)
                .where(review_events.c.action == ASSIGN, review_events.c.value == reviewer_id)
                .order_by(review_events.c.created_at)
            ).all()
        return list(dict.fromkeys(row.answer_id for row in rows))

    @staticmethod
    def _labels(events: list[ReviewEvent]) -> dict[tuple[str, str, str], str]:
        """(answer, target, reviewer) → the reviewer's newest value."""
        labels: dict[tuple[str, str, str], str] = {}
        for event in events:
            if event.action == LABEL:
                labels[(event.answer_id, event.target, event.actor_id)] = _value(
                    event.value, event.reason
                )
        return labels

    @staticmethod
    def _adjudicated(events: list[ReviewEvent]) -> dict[tuple[str, str], str]:
        settled: dict[tuple[str, str], str] = {}
        for event in events:
            if event.action == ADJUDICATE:
                settled[(event.answer_id, event.target)] = _value(event.value, event.reason)
        return settled

    def labels_of(self, answer_id: str, reviewer_id: str) -> dict[str, ReviewEvent]:
        """This reviewer's newest event per target of one answer."""
        current: dict[str, ReviewEvent] = {}
        for event in self.events(answer_id):
            if event.action == LABEL and event.actor_id == reviewer_id:
                current[event.target] = event
        return current

    def _units(self, events: list[ReviewEvent]) -> dict[tuple[str, str], dict[str, str]]:
        units: dict[tuple[str, str], dict[str, str]] = defaultdict(dict)
        for (answer_id, target, reviewer), value in self._labels(events).items():
            units[(answer_id, target)][reviewer] = value
        return units

    def agreement(self) -> list[Agreement]:
        """Agreement per label kind (citation, verdict), then over all labels."""
        units = self._units(self.events())
        by_kind: dict[str, list[dict[str, str]]] = defaultdict(list)
        for (_, target), unit in sorted(units.items()):
            by_kind[label_kind(target)].append(unit)
        kinds = {kind: by_kind[kind] for kind in ("citation", "verdict")}
        report = [agreement(kind, units) for kind, units in kinds.items()]
        report.append(overall_agreement(kinds))
        return report

    def disagreements(self, answer_id: str | None = None) -> list[Disagreement]:
        """Items reviewers disagree on: of one answer, or of every answer."""
        events = self.events(answer_id)
        settled = self._adjudicated(events)
        return [
            Disagreement(answer_id, target, unit, settled.get((answer_id, target)))
            for (answer_id, target), unit in sorted(self._units(events).items())
            if len(unit) >= 2 and len(set(unit.values())) > 1
        ]

    def final_labels(self, answer_id: str | None = None) -> dict[tuple[str, str], str]:
        """The label alignment uses per (answer, target): the adjudicated value; else the value
        every reviewer gave; a disagreement nobody settled has none."""
        events = self.events(answer_id)
        final = {
            key: next(iter(set(unit.values())))
            for key, unit in self._units(events).items()
            if len(set(unit.values())) == 1
        }
        final.update(self._adjudicated(events))
        return final

    def sees_others(self, answer_id: str, reviewer_id: str) -> bool:
        """Double review is blind: a reviewer the answer is assigned to sees other reviewers'
        labels only once they have given their own verdict on it."""
        events = self.events(answer_id)
        assigned = any(e.action == ASSIGN and e.value == reviewer_id for e in events)
        judged = any(
            e.action == LABEL and e.actor_id == reviewer_id and e.target == VERDICT_TARGET
            for e in events
        )
        return judged or not assigned

    def reviewed_answer_ids(self) -> set[str]:
        return {
            e.answer_id for e in self.events() if e.action == LABEL and e.target == VERDICT_TARGET
        }

    def audit_sample(self, answer_ids: list[str], size: int, seed: int) -> list[str]:
        """A reproducible random audit sample: the same seed draws the same answers."""
        ordered = sorted(answer_ids)
        return random.Random(seed).sample(ordered, min(size, len(ordered)))
