"""Training data from the interaction log: what the service delivered, what the verifier and
the revision round changed, and what analysts and compliance reviewers said about it.

- SFT: delivered answers whose claims all passed verification (a partial answer contributes
  the claims that passed) and that no review rejected; prompt = the exact context and question
  the generator was given, target = the verified answer in the generator's own schema.
- Preference pairs: (a) a revised generation that verified better ≻ the original; (b) an
  answer accepted in review ≻ one rejected for the same prompt (feedback ratings and labels,
  and the compliance review's final labels: adjudicated where reviewers disagreed); (c) an
  analyst's stated preference between two answers to the same prompt; (d) the verified part
  of a generation ≻ the generation with its failing claims still in.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

from alignment.examples import PreferencePair, SFTExample, completion_text, context_load
from engine.answers import AuditRecord, Claim, Round
from service.log import AnswerQuery, InteractionLog, StoredFeedback
from service.review import CitationDecision, ReviewStore, Verdict, label_kind
from verifier.types import DraftAnswer, DraftCitation, DraftClaim, EvidenceContext

BAD_CLAIM_LABELS = frozenset({"unsupported", "wrong_citation"})


def review_verdict(
    feedback: list[StoredFeedback], reviewed: Mapping[str, str] | None = None
) -> str | None:
    """'rejected' when any reviewer or analyst marked a claim unsupported or miscited, or a
    compliance reviewer rated it 2 or lower, or the compliance review's labels (``reviewed``:
    target → final label, the adjudicated one where reviewers disagreed) reject a citation or
    call the answer incorrect; 'accepted' when a compliance reviewer rated it 4 or higher or
    the review's verdict is correct, and nobody objected; None when there is no such
    judgement. A disagreement nobody adjudicated has no final label and says nothing."""
    rejected = accepted = False
    for target, value in (reviewed or {}).items():
        if label_kind(target) == "verdict":
            rejected |= value == Verdict.INCORRECT
            accepted |= value == Verdict.CORRECT
        elif value.startswith(CitationDecision.REJECT):
            rejected = True
    for item in feedback:
        record = item.record
        labels = {str(label.get("label")) for label in record.claim_labels}
        if labels & BAD_CLAIM_LABELS:
            rejected = True
        if record.role == "compliance" and record.rating is not None:
            if record.rating <= 2:
                rejected = True
            elif record.rating >= 4:
                accepted = True
    if rejected:
        return "rejected"
    return "accepted" if accepted else None


def _draft_from_claims(claims: list[Claim], answer: str, context: EvidenceContext) -> DraftAnswer:
    by_id = {sentence.sentence_id: sentence.label for sentence in context}
    return DraftAnswer(
        claims=[
            DraftClaim(
                citations=[
                    DraftCitation(sentence_id=by_id[c.sentence_id], quote=c.quote)
                    for c in claim.citations
                    if c.sentence_id in by_id
                ],
                text=claim.text,
            )
            for claim in claims
        ],
        answer=answer,
        insufficient_evidence=False,
    )


@dataclass
class LogData:
    sft: list[SFTExample]
    pairs: list[PreferencePair]
    records_read: int
    first_at: str | None
    last_at: str | None


def _records(log: InteractionLog, page_size: int = 200) -> Iterator[AuditRecord]:
    cursor: str | None = None
    while True:
        items, cursor = log.query(AnswerQuery(), limit=page_size, cursor=cursor)
        for item in items:
            yield log.get(item.id)
        if cursor is None:
            return


def _first_prompt_context(record: AuditRecord) -> EvidenceContext | None:
    if not record.context or not record.rounds:
        return None
    return context_load(record.context)


def build_from_log(log: InteractionLog) -> LogData:
    reviews = ReviewStore(log.engine)
    sft: list[SFTExample] = []
    pairs: list[PreferencePair] = []
    times: list[str] = []
    # (question, context) → [(record, verdict)] for pairs across answers to the same prompt.
    by_prompt: dict[tuple[str, str], list[tuple[AuditRecord, str | None]]] = defaultdict(list)
    records: dict[str, AuditRecord] = {}
    count = 0
    for record in _records(log):
        count += 1
        answer = record.answer
        times.append(answer.created_at)
        records[answer.id] = record
        context = _first_prompt_context(record)
        if context is None:
            continue
        feedback = log.feedback_for(answer.id)
        verdict = review_verdict(
            feedback,
            {target: value for (_, target), value in reviews.final_labels(answer.id).items()},
        )
        prompt_key = (answer.question, str(record.context))
        by_prompt[prompt_key].append((record, verdict))
        delivered: str | None = None
        if not answer.refused and answer.claims:
            delivered = completion_text(_draft_from_claims(answer.claims, answer.answer, context))
            if verdict != "rejected":
                sft.append(
                    SFTExample(
                        question=answer.question,
                        context=context,
                        completion=delivered,
                        source="log",
                        created_at=answer.created_at,
                        origin=answer.id,
                    )
                )
        drafted = _generated(record)
        # (a) a revision that verified better than the first draft.
        if len(drafted) >= 2:
            first, last = drafted[0], drafted[-1]
            if _passed(last) > _passed(first) or (_all_passed(last) and not _all_passed(first)):
                pairs.append(
                    PreferencePair(
                        answer.question,
                        context,
                        chosen=last.raw_generation,
                        rejected=first.raw_generation,
                        source="revision",
                        created_at=answer.created_at,
                        origin=answer.id,
                    )
                )
        # (d) the verified part of a generation ≻ the generation with failing claims in it.
        if delivered is not None and answer.dropped_claims and verdict != "rejected":
            best_raw = next(
                (r.raw_generation for r in reversed(drafted) if _passed(r) and _failed(r)), None
            )
            if best_raw is not None:
                pairs.append(
                    PreferencePair(
                        answer.question,
                        context,
                        chosen=delivered,
                        rejected=best_raw,
                        source="verified-vs-failed",
                        created_at=answer.created_at,
                        origin=answer.id,
                    )
                )
        # (c) an analyst's preference between this answer and another to the same question.
        for item in feedback:
            other = item.record.other_answer_id
            if item.record.preferred is None or other is None or other not in records:
                continue
            pair = _preference_between(record, records[other], item.record.preferred, context)
            if pair is not None:
                pairs.append(pair)
    # (b) accepted ≻ rejected in review, for answers to the same prompt.
    for (question, _), group in by_prompt.items():
        accepted = [r for r, v in group if v == "accepted" and not r.answer.refused]
        rejected = [r for r, v in group if v == "rejected"]
        for good in accepted:
            good_context = context_load(good.context)
            good_text = completion_text(
                _draft_from_claims(good.answer.claims, good.answer.answer, good_context)
            )
            for bad in rejected:
                bad_text = _generation_of(bad)
                if bad_text is None or bad_text == good_text:
                    continue
                pairs.append(
                    PreferencePair(
                        question,
                        good_context,
                        chosen=good_text,
                        rejected=bad_text,
                        source="review",
                        created_at=max(good.answer.created_at, bad.answer.created_at),
                        origin=f"{good.answer.id}>{bad.answer.id}",
                    )
                )
    times.sort()
    return LogData(sft, pairs, count, times[0] if times else None, times[-1] if times else None)


def _preference_between(
    this: AuditRecord, other: AuditRecord, preferred: str, context: EvidenceContext
) -> PreferencePair | None:
    # Only answers generated from the same prompt make a pair a policy can learn from.
    if other.answer.question != this.answer.question or other.context != this.context:
        return None
    this_text, other_text = _generation_of(this), _generation_of(other)
    if this_text is None or other_text is None or this_text == other_text:
        return None
    chosen, rejected = (this_text, other_text) if preferred == "this" else (other_text, this_text)
    return PreferencePair(
        this.answer.question,
        context,
        chosen=chosen,
        rejected=rejected,
        source="analyst-preference",
        created_at=max(this.answer.created_at, other.answer.created_at),
        origin=f"{this.answer.id}~{other.answer.id}",
    )


def _generation_of(record: AuditRecord) -> str | None:
    """What the generator wrote for this answer: the last drafted round's raw output."""
    drafted = _generated(record)
    return drafted[-1].raw_generation if drafted else None


def _generated(record: AuditRecord) -> list[Round]:
    """The rounds the generator drafted: a statement lookup's draft is delivered (and taught
    as a verified answer) but is no generation to prefer or reject."""
    return [r for r in record.rounds if r.draft is not None and r.drafter is None]


def _passed(round_: object) -> int:
    return sum(1 for claim in getattr(round_, "report", []) if claim.get("passed"))


def _failed(round_: object) -> int:
    return sum(1 for claim in getattr(round_, "report", []) if not claim.get("passed"))


def _all_passed(round_: object) -> bool:
    report = getattr(round_, "report", [])
    answer_ok = all(r.get("verdict") == "pass" for r in getattr(round_, "answer_checks", []))
    return bool(report) and all(c.get("passed") for c in report) and answer_ok
