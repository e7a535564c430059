"""Compliance review: the append-only event log on SQLite and PostgreSQL, double review, the
adjudicated label, and agreement figures checked against tables computed by hand."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from service.db import open_database
from service.errors import InvalidReviewError
from service.review import (
    CitationDecision,
    RejectReason,
    ReviewStore,
    Verdict,
    agreement,
    citation_target,
    overall_agreement,
)
from tests.service_app import Service, ServiceFactory, sqlite_only

# ---- agreement against hand-computed tables --------------------------------------------------


def _units(first: str, second: str) -> list[dict[str, str]]:
    return [{"r1": a, "r2": b} for a, b in zip(first, second, strict=True)]


def test_perfect_agreement_is_one() -> None:
    report = agreement("citation", _units("aabba", "aabba"))
    assert report.units == 5 and report.observed == 1.0
    assert report.alpha == pytest.approx(1.0) and report.pairs[0].kappa == pytest.approx(1.0)


def test_agreement_at_chance_has_kappa_zero() -> None:
    # po = 2/4, pe = .5·.5 + .5·.5 = .5 → κ = 0. Coincidences: o_ab = o_ba = 2, n_a = n_b = 4,
    # n = 8 → α = 1 − (n−1)·4 / (2·n_a·n_b) = 1 − 28/32 = 0.125 (α's small-sample correction).
    report = agreement("verdict", _units("aabb", "abab"))
    assert report.observed == 0.5
    assert report.pairs[0].kappa == pytest.approx(0.0)
    assert report.alpha == pytest.approx(0.125)


def test_a_hand_computed_table() -> None:
    # 10 items; 8 agree; each rater says a 5 times: po = .8, pe = .5 → κ = .6.
    # o_ab = o_ba = 2, n_a = n_b = 10, n = 20 → α = 1 − 19·4 / 200 = 0.62.
    report = agreement("citation", _units("aaaaabbbbb", "aaaabbbbba"))
    assert report.pairs[0].kappa == pytest.approx(0.6)
    assert report.alpha == pytest.approx(0.62)


def test_three_reviewers_with_a_missing_label() -> None:
    # Units (a,a,a), (b,b,–), (a,b,a). Ordered pairs within a unit count 1/(m−1): unit 1 gives
    # o_aa = 6/2 = 3; unit 2 o_bb = 2; unit 3 o_aa = 2/2 = 1 and o_ab = o_ba = 2/2 = 1. So
    # n_a = 5, n_b = 3, n = 8 and α = 1 − (n−1)·(o_ab + o_ba) / (2·n_a·n_b) = 1 − 7·2/30.
    units = [{"x": "a", "y": "a", "z": "a"}, {"x": "b", "y": "b"}, {"x": "a", "y": "b", "z": "a"}]
    report = agreement("verdict", units)
    assert report.units == 3 and report.observed == pytest.approx(2 / 3)
    assert report.alpha == pytest.approx(1 - 7 * 2 / 30, abs=1e-4)
    assert {pair.reviewers for pair in report.pairs} == {("x", "y"), ("x", "z"), ("y", "z")}
    shared = {pair.reviewers: pair.shared for pair in report.pairs}
    assert shared == {("x", "y"): 3, ("x", "z"): 2, ("y", "z"): 2}


def test_overall_agreement_keeps_each_kind_s_chance_model() -> None:
    # Citations (a,a),(a,b) and verdicts (c,c),(c,d): within each kind α = κ = 0. Pooling the
    # four units into one table would give α ≈ 0.36 and κ ≈ 0.33 (cross-kind pairs counted
    # as expected disagreements); summing each kind's disagreements keeps 0.
    by_kind = {"citation": _units("aa", "ab"), "verdict": _units("cc", "cd")}
    assert agreement("citation", by_kind["citation"]).alpha == pytest.approx(0.0)
    overall = overall_agreement(by_kind)
    assert overall.units == 4 and overall.observed == 0.5
    assert overall.alpha == pytest.approx(0.0) and overall.pairs[0].kappa == pytest.approx(0.0)
    # With no disagreement anywhere the overall figures are perfect where defined.
    perfect = overall_agreement({"citation": _units("ab", "ab"), "verdict": _units("cc", "cc")})
    assert perfect.alpha == pytest.approx(1.0) and perfect.pairs[0].kappa == pytest.approx(1.0)


def test_one_category_only_leaves_kappa_and_alpha_undefined() -> None:
    report = agreement("citation", _units("aaa", "aaa"))
    assert report.observed == 1.0 and report.alpha is None and report.pairs[0].kappa is None


# ---- the event log -----------------------------------------------------------------------


def _answered(make_service: ServiceFactory) -> tuple[Service, str]:
    service = make_service()
    return service, service.ask().json()["id"]


def test_double_review_agreement_and_adjudication(make_service: ServiceFactory) -> None:
    service, answer_id = _answered(make_service)
    reviews = ReviewStore(service.engine)
    assigned = reviews.assign(answer_id, ["carol", "dave", "carol"], by="lead")
    assert [e.value for e in assigned] == ["carol", "dave"]
    assert reviews.assign(answer_id, ["dave"], by="lead") == []  # already in dave's queue
    assert reviews.assigned_to("dave") == [answer_id]

    reviews.label_citation(answer_id, "carol", 0, 0, CitationDecision.ACCEPT)
    reviews.label_citation(
        answer_id, "dave", 0, 0, CitationDecision.REJECT, RejectReason.WRONG_PERIOD, "2022 column"
    )
    reviews.label_verdict(answer_id, "carol", Verdict.CORRECT)
    first = reviews.label_verdict(answer_id, "dave", Verdict.INCORRECT)
    changed = reviews.label_verdict(answer_id, "dave", Verdict.CORRECT, "misread the column")
    # The change records what it replaced; the replaced event is still there.
    assert changed.previous is not None and changed.previous["value"] == "incorrect"
    assert changed.previous["event"] == first.id
    assert first.id in {e.id for e in reviews.events(answer_id)}

    (disputed,) = reviews.disagreements()
    assert disputed.target == citation_target(0, 0) and disputed.adjudicated is None
    assert disputed.values == {"carol": "accept", "dave": "reject:wrong_period"}
    final = reviews.final_labels(answer_id)
    assert final == {(answer_id, "verdict"): "correct"}  # the dispute has no label yet
    reviews.adjudicate(answer_id, "lead", citation_target(0, 0), "reject:wrong_period")
    assert reviews.final_labels(answer_id)[(answer_id, citation_target(0, 0))] == (
        "reject:wrong_period"
    )
    assert reviews.disagreements()[0].adjudicated == "reject:wrong_period"

    citation, verdict, overall = reviews.agreement()
    assert (citation.units, citation.observed) == (1, 0.0)
    assert (verdict.units, verdict.observed) == (1, 1.0)
    assert overall.units == 2 and overall.observed == 0.5
    assert reviews.reviewed_answer_ids() == {answer_id}


def test_review_actions_are_checked_and_the_log_is_append_only(
    make_service: ServiceFactory,
) -> None:
    service, answer_id = _answered(make_service)
    reviews = ReviewStore(service.engine)
    with pytest.raises(InvalidReviewError, match="reason code"):
        reviews.label_citation(answer_id, "carol", 0, 0, CitationDecision.REJECT)
    with pytest.raises(InvalidReviewError, match="no reason"):
        reviews.label_citation(
            answer_id, "carol", 0, 0, CitationDecision.ACCEPT, RejectReason.OTHER
        )
    with pytest.raises(InvalidReviewError, match="not in dispute"):
        reviews.adjudicate(answer_id, "lead", "verdict", "correct")
    reviews.label_verdict(answer_id, "carol", Verdict.PARTLY_CORRECT)
    for statement in ("UPDATE review_events SET value = 'correct'", "DELETE FROM review_events"):
        with (
            pytest.raises(DBAPIError, match="append-only"),
            service.engine.begin() as connection,
        ):
            connection.execute(text(statement))
    assert [e.value for e in reviews.events(answer_id)] == ["partly_correct"]
    # Reopening the database runs no migration twice and keeps the events.
    again = ReviewStore(open_database(str(service.engine.url.render_as_string(False))))
    assert len(again.events(answer_id)) == 1


@sqlite_only
def test_alignment_trains_on_the_adjudicated_label(make_service: ServiceFactory) -> None:
    """The answer goes into supervised training while the review accepts it; a disagreement
    says nothing until it is adjudicated; the adjudicated rejection takes it out."""
    from alignment.logdata import build_from_log, review_verdict

    service, answer_id = _answered(make_service)
    reviews = ReviewStore(service.engine)

    def trained_on() -> bool:
        return answer_id in {example.origin for example in build_from_log(service.log).sft}

    assert review_verdict([], {"verdict": "correct"}) == "accepted"
    assert review_verdict([], {"verdict": "correct", "citation:0:0": "reject:wrong_row"}) == (
        "rejected"
    )
    assert review_verdict([], {"verdict": "partly_correct"}) is None
    reviews.label_verdict(answer_id, "carol", Verdict.CORRECT)
    reviews.label_verdict(answer_id, "dave", Verdict.CORRECT)
    reviews.label_citation(answer_id, "carol", 0, 0, CitationDecision.ACCEPT)
    reviews.label_citation(
        answer_id, "dave", 0, 0, CitationDecision.REJECT, RejectReason.DOES_NOT_SUPPORT
    )
    assert trained_on()  # the verdicts agree; the citation dispute is unsettled
    reviews.adjudicate(answer_id, "lead", citation_target(0, 0), "reject:does_not_support")
    assert not trained_on()


@sqlite_only
def test_only_a_dispute_is_adjudicated_by_someone_outside_it(make_service: ServiceFactory) -> None:
    service, answer_id = _answered(make_service)
    reviews = ReviewStore(service.engine)
    reviews.label_citation(answer_id, "carol", 0, 0, CitationDecision.ACCEPT)
    reviews.label_citation(
        answer_id, "dave", 0, 0, CitationDecision.REJECT, RejectReason.WRONG_FIGURE
    )
    target = citation_target(0, 0)
    for adjudicator, where, value, message in [
        ("carol", target, "accept", "must not be one of the reviewers"),
        ("lead", "verdict", "correct", "not in dispute"),
        ("lead", "citation:5:0", "accept", "not in dispute"),
        ("lead", "reviewer", "correct", "not in dispute"),
        ("lead", target, "accept:wrong_row", "takes no reason"),
        ("lead", target, "reject", "needs a reason"),
        ("lead", target, "maybe", "not a label"),
        ("lead", target, "reject:typo", "not a label"),
    ]:
        with pytest.raises(InvalidReviewError, match=message):
            reviews.adjudicate(answer_id, adjudicator, where, value)
    assert not [e for e in reviews.events(answer_id) if e.action == "adjudicate"]
    reviews.adjudicate(answer_id, "lead", target, "reject:wrong_figure")
    assert reviews.final_labels(answer_id)[(answer_id, target)] == "reject:wrong_figure"


@sqlite_only
def test_double_review_is_blind_until_the_reviewer_s_verdict(
    make_service: ServiceFactory,
) -> None:
    service, answer_id = _answered(make_service)
    reviews = ReviewStore(service.engine)
    reviews.assign(answer_id, ["carol", "dave"], by="lead")
    reviews.label_verdict(answer_id, "carol", Verdict.CORRECT)
    assert reviews.sees_others(answer_id, "carol")
    assert not reviews.sees_others(answer_id, "dave")
    assert reviews.sees_others(answer_id, "lead")  # not assigned: an adjudicator
    reviews.label_verdict(answer_id, "dave", Verdict.INCORRECT)
    assert reviews.sees_others(answer_id, "dave")
