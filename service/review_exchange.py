"""Reviewed items out of verirag, and Label Studio's results back in.

One item per reviewed target: each citation (quote, filing, page, the claim it supports) and
each answer's verdict, with every reviewer's newest label and the final label (adjudicated
where reviewers disagreed). Three shapes:

- JSON Lines that ``datasets.load_dataset("json", data_files=...)`` reads as one table;
- Argilla 2.x: dataset settings (fields, questions, metadata) and records whose keys are those
  names, for ``rg.Dataset(settings=...)`` and ``dataset.records.log(records)``, the final
  label given as a suggestion;
- Label Studio: a labeling config and tasks (the current final label as a prediction). Label
  Studio's JSON export of those tasks, annotated, comes back with ``import_label_studio``:
  each annotation becomes a review event under ``label-studio:<annotator>``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from engine.answers import AuditRecord
from service.errors import AnswerNotFoundError, InvalidReviewError
from service.evidence import citation_at
from service.log import InteractionLog
from service.review import (
    LABEL,
    REASON_TITLES,
    VERDICT_TARGET,
    CitationDecision,
    RejectReason,
    ReviewEvent,
    ReviewStore,
    Verdict,
    label_kind,
)

LABEL_STUDIO_ACTOR = "label-studio:"


def _citation_position(target: str) -> tuple[int, int]:
    _, claim, citation = target.split(":")
    return int(claim), int(citation)


def _existing_citation(record: AuditRecord, target: str) -> tuple[int, int]:
    """The (claim, citation) a ``citation:C:K`` target names, which the answer must have."""
    try:
        claim, citation = _citation_position(target)
    except ValueError as exc:
        raise InvalidReviewError(f"{target!r} is not a verirag target") from exc
    if label_kind(target) != "citation" or citation_at(record, claim, citation) is None:
        raise InvalidReviewError(f"the answer has no {target}")
    return claim, citation


def _item(
    record: AuditRecord, target: str, labels: list[ReviewEvent], final: str | None
) -> dict[str, Any]:
    answer = record.answer
    item: dict[str, Any] = {
        "id": f"{answer.id}/{target}",
        "answer_id": answer.id,
        "target": target,
        "kind": label_kind(target),
        "question": answer.question,
        "answer": answer.answer,
        "refused": answer.refused,
        "claim": None,
        "filing": None,
        "page": None,
        "section": None,
        "quote": None,
        "verifier_verdicts": None,
        "labels": [
            {
                "reviewer": event.actor_id,
                "value": event.value,
                "reason": event.reason,
                "note": event.note,
                "at": event.created_at.isoformat(),
            }
            for event in labels
        ],
        "final": final,
        "model": answer.versions.model,
        "adapter": answer.versions.adapter,
        "constitution": answer.versions.constitution,
        "index": answer.versions.index,
    }
    if item["kind"] == "citation":
        claim_index, citation_index = _citation_position(target)
        claim = answer.claims[claim_index]
        citation = claim.citations[citation_index]
        item.update(
            claim=claim.text,
            filing=citation.filing,
            page=citation.page,
            section=citation.section,
            quote=citation.quote,
            verifier_verdicts=",".join(
                f"{rule}={verdict}" for rule, verdict in sorted(claim.verdicts.items())
            ),
        )
    return item


def reviewed_items(
    log: InteractionLog, reviews: ReviewStore, answer_ids: Iterable[str] | None = None
) -> list[dict[str, Any]]:
    """Every labelled target of the answers (default: every reviewed answer), oldest answer
    first, citations before the verdict."""
    events = [e for e in reviews.events() if e.action == LABEL]
    wanted = set(answer_ids) if answer_ids is not None else {e.answer_id for e in events}
    newest: dict[tuple[str, str], dict[str, ReviewEvent]] = {}
    for event in events:
        if event.answer_id in wanted:
            newest.setdefault((event.answer_id, event.target), {})[event.actor_id] = event
    final = reviews.final_labels()
    records: dict[str, AuditRecord] = {}
    items = []
    for (answer_id, target), by_reviewer in sorted(
        newest.items(), key=lambda kv: (kv[0][0], kv[0][1] == VERDICT_TARGET, kv[0][1])
    ):
        record = records.get(answer_id) or records.setdefault(answer_id, log.get(answer_id))
        labels = sorted(by_reviewer.values(), key=lambda e: (e.created_at, e.actor_id))
        items.append(_item(record, target, labels, final.get((answer_id, target))))
    return items


# ---- Argilla ---------------------------------------------------------------------------------


def argilla_dataset(items: list[dict[str, Any]]) -> dict[str, Any]:
    """Settings and records in Argilla 2.x's names: ``rg.Settings(fields=[rg.TextField(...)],
    questions=[rg.LabelQuestion(...)], metadata=[...])`` from ``settings``, then
    ``dataset.records.log(records)``. Reviewers' labels travel in metadata (Argilla's own
    responses belong to Argilla users); the final label is the suggestion."""
    settings = {
        "fields": [
            {"type": "text", "name": name, "title": title, "required": required}
            for name, title, required in (
                ("question", "Question", True),
                ("answer", "Answer", True),
                ("claim", "Claim", False),
                ("quote", "Quote", False),
            )
        ],
        "questions": [
            {
                "type": "label_selection",
                "name": "decision",
                "title": "Does the quote, on its page, support the claim?",
                "labels": [d.value for d in CitationDecision],
                "required": False,
            },
            {
                "type": "label_selection",
                "name": "reason",
                "title": "Why rejected",
                "labels": {r.value: REASON_TITLES[r] for r in RejectReason},
                "required": False,
            },
            {
                "type": "label_selection",
                "name": "verdict",
                "title": "The answer is",
                "labels": [v.value for v in Verdict],
                "required": False,
            },
        ],
        "metadata": [
            {"type": "terms", "name": name}
            for name in ("answer_id", "target", "kind", "filing", "model", "reviewers")
        ]
        + [{"type": "integer", "name": "page"}],
    }
    records = []
    for item in items:
        suggestions = []
        if item["final"]:
            decision, _, reason = item["final"].partition(":")
            question = "decision" if item["kind"] == "citation" else "verdict"
            suggestions.append(
                {"question_name": question, "value": decision, "agent": "verirag-review"}
            )
            if reason:
                suggestions.append(
                    {"question_name": "reason", "value": reason, "agent": "verirag-review"}
                )
        records.append(
            {
                "id": item["id"],
                "fields": {
                    "question": item["question"],
                    "answer": item["answer"],
                    "claim": item["claim"] or "",
                    "quote": item["quote"] or "",
                },
                "metadata": {
                    "answer_id": item["answer_id"],
                    "target": item["target"],
                    "kind": item["kind"],
                    "filing": item["filing"] or "",
                    "page": item["page"] if item["page"] is not None else -1,
                    "model": item["model"],
                    "reviewers": ";".join(
                        f"{label['reviewer']}={label['value']}"
                        + (f":{label['reason']}" if label["reason"] else "")
                        for label in item["labels"]
                    ),
                },
                "suggestions": suggestions,
            }
        )
    return {"settings": settings, "records": records}


# ---- Label Studio ----------------------------------------------------------------------------


def label_studio_config() -> str:
    """The labeling config for the tasks ``label_studio_tasks`` writes."""
    reasons = "\n".join(
        f'      <Choice value="{r.value}" alias="{r.value}" hint="{REASON_TITLES[r]}"/>'
        for r in RejectReason
    )
    verdicts = "\n".join(f'    <Choice value="{v.value}"/>' for v in Verdict)
    return f"""<View>
  <Header value="$question"/>
  <Text name="answer" value="$answer"/>
  <View visibleWhen="choice-unselected" whenTagName="verdict">
    <Text name="claim" value="$claim"/>
    <Text name="quote" value="$quote"/>
    <Text name="where" value="$where"/>
  </View>
  <Choices name="decision" toName="quote" choice="single" required="false">
    <Choice value="accept"/>
    <Choice value="reject"/>
  </Choices>
  <View visibleWhen="choice-selected" whenTagName="decision" whenChoiceValue="reject">
    <Choices name="reason" toName="quote" choice="single">
{reasons}
    </Choices>
  </View>
  <Choices name="verdict" toName="answer" choice="single" required="false">
{verdicts}
  </Choices>
  <TextArea name="note" toName="answer" maxSubmissions="1"/>
</View>
"""


def _choice(name: str, to_name: str, value: str) -> dict[str, Any]:
    return {
        "from_name": name,
        "to_name": to_name,
        "type": "choices",
        "value": {"choices": [value]},
    }


def label_studio_tasks(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Tasks for Label Studio's JSON import; the final label, where there is one, as a
    prediction annotators can accept or change."""
    tasks = []
    for item in items:
        where = (
            f"{item['filing']}, page {item['page'] + 1}"
            + (f", {item['section']}" if item["section"] else "")
            if item["kind"] == "citation"
            else ""
        )
        task: dict[str, Any] = {
            "data": {
                "item_id": item["id"],
                "answer_id": item["answer_id"],
                "target": item["target"],
                "kind": item["kind"],
                "question": item["question"],
                "answer": item["answer"],
                "claim": item["claim"] or "",
                "quote": item["quote"] or "",
                "where": where,
            },
        }
        if item["final"]:
            decision, _, reason = item["final"].partition(":")
            if item["kind"] == "citation":
                result = [_choice("decision", "quote", decision)]
                if reason:
                    result.append(_choice("reason", "quote", reason))
            else:
                result = [_choice("verdict", "answer", decision)]
            task["predictions"] = [{"model_version": "verirag-review", "result": result}]
        tasks.append(task)
    return tasks


@dataclass
class ImportReport:
    recorded: int = 0  # new review events
    unchanged: int = 0  # annotations equal to the annotator's current label
    skipped: list[str] = field(default_factory=list)  # why each unusable annotation was left


def _annotator(annotation: dict[str, Any]) -> str:
    # Label Studio writes its user id, or (newer exports) the user with id and email: the id
    # either way, so one annotator is one reviewer.
    by = annotation.get("completed_by")
    if isinstance(by, dict):
        by = by.get("id") or by.get("email")
    if by is None:
        raise InvalidReviewError("the annotation names no annotator (completed_by)")
    return f"{LABEL_STUDIO_ACTOR}{by}"


def _chosen(result: list[dict[str, Any]]) -> tuple[dict[str, str], str | None]:
    choices: dict[str, str] = {}
    note = None
    for region in result:
        value = region.get("value") or {}
        if region.get("type") == "choices" and value.get("choices"):
            choices[str(region.get("from_name"))] = str(value["choices"][0])
        elif region.get("type") == "textarea" and value.get("text"):
            note = " ".join(str(t) for t in value["text"])
    return choices, note


def import_label_studio(
    tasks: list[dict[str, Any]], log: InteractionLog, reviews: ReviewStore
) -> ImportReport:
    """Record the annotations of Label Studio's JSON export as review events."""
    report = ImportReport()
    for task in tasks:
        data = task.get("data") or {}
        answer_id, target = data.get("answer_id"), data.get("target")
        where = f"task {task.get('id', '?')} ({answer_id}/{target})"
        if not answer_id or not target:
            report.skipped.append(f"{where}: not a verirag task (no answer_id and target)")
            continue
        try:
            record = log.get(str(answer_id))
        except AnswerNotFoundError:
            report.skipped.append(f"{where}: no such answer in this service's log")
            continue
        for annotation in task.get("annotations") or []:
            if annotation.get("was_cancelled"):
                report.skipped.append(f"{where}: annotation {annotation.get('id')} was skipped")
                continue
            try:
                actor = _annotator(annotation)
                choices, note = _chosen(annotation.get("result") or [])
                current = reviews.labels_of(record.answer.id, actor).get(target)
                if target != VERDICT_TARGET:
                    claim, citation = _existing_citation(record, target)
                    if "decision" not in choices:
                        raise InvalidReviewError("no accept/reject choice")
                    decision = CitationDecision(choices["decision"])
                    reason = (
                        RejectReason(choices["reason"])
                        if decision is CitationDecision.REJECT and "reason" in choices
                        else None
                    )
                    if current and (current.value, current.reason, current.note) == (
                        decision.value,
                        reason.value if reason else None,
                        note,
                    ):
                        report.unchanged += 1
                        continue
                    reviews.label_citation(
                        record.answer.id, actor, claim, citation, decision, reason, note
                    )
                else:
                    if "verdict" not in choices:
                        raise InvalidReviewError("no verdict choice")
                    verdict = Verdict(choices["verdict"])
                    if current and (current.value, current.note) == (verdict.value, note):
                        report.unchanged += 1
                        continue
                    reviews.label_verdict(record.answer.id, actor, verdict, note)
                report.recorded += 1
            except (InvalidReviewError, ValueError) as exc:
                report.skipped.append(f"{where}: {exc}")
    return report
