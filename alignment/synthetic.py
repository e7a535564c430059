"""Evidence-linked training data beyond the log.

1. Question → cited-answer examples built from the ingested filings: a statement row ("Net
   sales 32,765 31,657 30,109" under "2018 2017 2016", in millions) becomes "What was Acme's net
   sales in FY2018?" answered by a claim that quotes that row; a prose sentence stating a figure
   becomes a question about its subject answered by a claim that quotes it. The context mixes
   the evidence with distracting rows and sentences, in the order the service shows them. Some
   contexts leave the evidence out and the target is the refusal. Every answer is checked by
   the verifier before it is kept, so the data obeys the constitution it teaches.
2. Constitutional critique and revision (SL-CAI): the current generator answers, the verifier
   critiques the answer against the constitution, the generator revises; the revision becomes
   an SFT target and the pair (revision ≻ original) a preference pair.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from alignment.config import check_position_weights
from alignment.examples import PreferencePair, SFTExample, completion_text, refusal_completion
from engine.errors import GeneratorOutputError
from engine.generation import Generator, OutputConstraint, build_messages
from ingest.store import IndexStore
from retrieval.sentences import SentenceRanker
from verifier.checks import Verifier, critique
from verifier.numbers import aligned_columns, normalise_text, quantities, row_unit
from verifier.types import (
    DraftAnswer,
    DraftCitation,
    DraftClaim,
    EvidenceContext,
    VerificationReport,
)

_LEADING_LABEL = re.compile(r"^(?P<label>[A-Za-z][A-Za-z ,'&()/-]{3,80}?)\s*[\$(]?\s*\d")
_PROSE_FACT = re.compile(
    r"^(?P<subject>[A-Z][A-Za-z ,'&-]{3,70}?)\s+"
    r"(?P<verb>increased|decreased|rose|fell|declined|grew|was|were|totaled|totalled)\s+"
    r"(?P<rest>[^;]*?\d[^;]*?)(?:[.;]|$)"
)


@dataclass(frozen=True, slots=True)
class _Candidate:
    question: str
    evidence_id: str
    filing_id: str
    claim: str
    quote: str
    answer: str
    distractor_ids: tuple[str, ...]


def row_label(text: str) -> str | None:
    match = _LEADING_LABEL.match(normalise_text(text).replace("\n", " "))
    if match is None:
        return None
    label = re.sub(r"\s+", " ", match.group("label")).strip(" ,($")
    words = label.split()
    if len(words) < 2 or len(words) > 10:
        return None
    return label


def company_name(row: dict[str, Any]) -> str:
    return str(row.get("company") or row["filing"].split("_")[0])


_SINGULAR_SCALE = {"thousands": "thousand", "millions": "million", "billions": "billion"}


def claim_figure(quantity_text: str, scale: str | None) -> str:
    """A table figure as a claim states it: no sign parentheses, the currency sign against
    the number, and the table's scale written out ("(1,577)" in millions → "1,577 million")."""
    figure = quantity_text.strip().strip("()").strip()
    figure = re.sub(r"\$\s+", "$", figure)
    if scale and not re.search(r"(?i)(thousand|million|billion|%)", figure):
        figure = f"{figure} {_SINGULAR_SCALE.get(scale.lower(), scale)}"
    return figure


def _table_candidates(
    store: IndexStore, rng: random.Random, wanted: int, per_table: int = 4
) -> list[_Candidate]:
    candidates: list[_Candidate] = []
    groups = store.table_row_groups()
    rng.shuffle(groups)
    for group in groups:
        if len(candidates) >= wanted:
            break
        rows = store.evidence_sentences(group)
        usable = []
        for row in rows:
            label = row_label(row["text"])
            headers = tuple(tuple(str(c) for c in h) for h in row.get("table_header_rows") or ())
            columns = aligned_columns(normalise_text(row["text"]), headers)
            # Percentages in a statement are rates (a discount rate, a margin): a row label
            # alone does not say what they measure, so no question is made from them.
            if label and columns and not any(q.percent for _, q in columns):
                usable.append((row, label, columns))
        rng.shuffle(usable)
        for row, label, columns in usable[:per_table]:
            year, quantity = rng.choice(columns)
            company = company_name(row)
            figure = claim_figure(quantity.text, row_unit(row["text"], row.get("table_scale")))
            quote = re.sub(r"\s+", " ", normalise_text(row["text"])).strip().rstrip(".")
            candidates.append(
                _Candidate(
                    question=f"What was {company}'s {label.lower()} in FY{year}?",
                    evidence_id=row["id"],
                    filing_id=row["filing_id"],
                    claim=f"{company}'s {label.lower()} was {figure} in {year}.",
                    quote=quote,
                    answer=figure,
                    distractor_ids=tuple(r["id"] for r in rows if r["id"] != row["id"]),
                )
            )
    return candidates


def _prose_candidates(store: IndexStore, rng: random.Random, wanted: int) -> list[_Candidate]:
    ids = store.prose_sentence_ids()
    rng.shuffle(ids)
    candidates: list[_Candidate] = []
    for start in range(0, len(ids), 200):
        if len(candidates) >= wanted:
            break
        for row in store.evidence_sentences(ids[start : start + 200]):
            text = normalise_text(row["text"]).replace("\n", " ")
            match = _PROSE_FACT.match(text)
            if match is None:
                continue
            # An amount, a percentage or a scaled figure: not a day of the month or a count.
            figures = [
                q
                for q in quantities(match.group("rest"))
                if q.currency or q.percent or q.scale != 1.0
            ]
            if not figures:
                continue
            subject = match.group("subject").strip()
            if subject.split()[0].lower() in {"it", "this", "that", "there", "these", "we"}:
                continue
            year = row.get("fiscal_year")
            company = company_name(row)
            when = f" in FY{year}" if year else ""
            clause = match.group(0).rstrip(".;").strip()
            first_figure = figures[0].text
            candidates.append(
                _Candidate(
                    question=f"What did {company} report about {subject.lower()}{when}?",
                    evidence_id=row["id"],
                    filing_id=row["filing_id"],
                    claim=f"{clause}.",
                    quote=clause,
                    answer=first_figure,
                    distractor_ids=(),
                )
            )
            if len(candidates) >= wanted:
                break
    return candidates


def build_evidence_examples(
    store: IndexStore,
    verifier: Verifier,
    count: int,
    context_sentences: int = 10,
    refusal_share: float = 0.15,
    seed: int = 13,
    ranker: SentenceRanker | None = None,
    evidence_position_weights: Sequence[float] | None = None,
) -> list[SFTExample]:
    """``count`` examples, each verified; about ``refusal_share`` of them refusals (examples
    whose evidence was left out of the context). Each context is ordered as the service
    orders one: by ``ranker`` (the service's sentence ranker), else in reading order. Trained
    on reading order, where the evidence is rarely the first sentence, a model learned to pass
    over S1, which is where the service's ranker puts the answer most often.

    ``evidence_position_weights`` (relative weights of S1, S2, …): the evidence is then moved
    to a position drawn from them, the other sentences keeping their order. A synthesised
    question names its row outright, so the ranker puts its evidence first nearly always,
    and a model trained on that trusts S1 (cited S1 with a made-up figure when the real
    question's S1 was another row); the service's own histogram on real questions
    (`bench/context_positions.py`) is the distribution to draw from. Weights past the
    context's length are not drawn; where none that fit is positive, the evidence stays where
    the ranker put it."""
    if evidence_position_weights is not None:
        check_position_weights(evidence_position_weights)
    rng = random.Random(seed)
    # Its own generator: placing the evidence leaves every other draw as it would be without
    # it, so the same candidates are tried (the verifier reads labels, not positions).
    placement_rng = random.Random(f"{seed}:evidence-position")
    # Candidates beyond the count: the verifier turns some down (four in five statement rows
    # with the MiniLM judge), and two filings hold only a few hundred usable rows.
    tables = _table_candidates(store, rng, 5 * count, per_table=12)
    prose = _prose_candidates(store, rng, count)
    pool = tables + prose
    rng.shuffle(pool)
    refusals_wanted = round(count * refusal_share)
    answers_wanted = count - refusals_wanted
    fillers: dict[str, list[str]] = {}
    examples: list[SFTExample] = []
    answers = refusals = 0
    for candidate in pool:
        if answers >= answers_wanted and refusals >= refusals_wanted:
            break
        refuse = refusals < refusals_wanted and (
            answers >= answers_wanted or rng.random() < refusal_share
        )
        if not refuse and answers >= answers_wanted:
            continue
        distractors = list(candidate.distractor_ids)
        rng.shuffle(distractors)
        if candidate.filing_id not in fillers:
            fillers[candidate.filing_id] = store.prose_sentence_ids(filing_id=candidate.filing_id)
        filler_ids = [i for i in fillers[candidate.filing_id] if i != candidate.evidence_id]
        wanted_fill = max(0, context_sentences - 1 - min(len(distractors), context_sentences // 2))
        fill = rng.sample(filler_ids, min(wanted_fill, len(filler_ids)))
        chosen = distractors[: context_sentences // 2] + fill
        if not refuse:
            chosen.append(candidate.evidence_id)
        rows = store.evidence_sentences(list(dict.fromkeys(chosen)))
        rows.sort(key=_reading_order)
        rows = rows[:context_sentences] if refuse else _keep(rows, candidate, context_sentences)
        if ranker is not None:
            rows = [rows[i] for i in ranker.rank(candidate.question, rows)]
        if evidence_position_weights is not None and not refuse:
            rows = _place_evidence(
                rows, candidate.evidence_id, evidence_position_weights, placement_rng
            )
        context = EvidenceContext.from_rows(rows)
        if refuse:
            evidence_words = candidate.quote.lower()
            if any(evidence_words in normalise_text(s.text).lower() for s in context):
                continue  # the answer slipped in through a duplicate row
            refusals += 1
            examples.append(
                SFTExample(
                    question=candidate.question,
                    context=context,
                    completion=refusal_completion(),
                    source="evidence-refusal",
                    answerable=False,
                    origin=candidate.evidence_id,
                )
            )
            continue
        label = next(s.label for s in context if s.sentence_id == candidate.evidence_id)
        draft = DraftAnswer(
            claims=[
                DraftClaim(
                    citations=[DraftCitation(sentence_id=label, quote=candidate.quote)],
                    text=candidate.claim,
                )
            ],
            answer=candidate.answer,
            insufficient_evidence=False,
        )
        report = verifier.verify(draft, context, candidate.question)
        if not (report.all_passed and report.answer_supported):
            continue
        answers += 1
        examples.append(
            SFTExample(
                question=candidate.question,
                context=context,
                completion=completion_text(draft),
                source="evidence",
                gold_answer=candidate.answer,
                gold_labels=[label],
                origin=candidate.evidence_id,
            )
        )
    # When the verifier turned down more candidates than the pool could replace, the refusals
    # keep their share of what was built: 45 refusals beside 58 answers teach refusing.
    if answers and refusal_share < 1:
        keep = round(answers * refusal_share / (1 - refusal_share))
        surplus = {id(e) for e in [e for e in examples if not e.answerable][keep:]}
        examples = [e for e in examples if id(e) not in surplus]
    return examples


def _place_evidence(
    rows: list[dict[str, Any]], evidence_id: str, weights: Sequence[float], rng: random.Random
) -> list[dict[str, Any]]:
    """``rows`` with the evidence moved to a position drawn from ``weights`` (S1 first);
    positions past the context's end are not drawn."""
    usable = list(weights[: len(rows)])
    if not sum(usable):
        return rows
    position = rng.choices(range(len(usable)), weights=usable)[0]
    evidence = [row for row in rows if row["id"] == evidence_id]
    others = [row for row in rows if row["id"] != evidence_id]
    return others[:position] + evidence + others[position:]


def _keep(rows: list[dict[str, Any]], candidate: _Candidate, size: int) -> list[dict[str, Any]]:
    evidence = [r for r in rows if r["id"] == candidate.evidence_id]
    others = [r for r in rows if r["id"] != candidate.evidence_id][: size - 1]
    return sorted(others + evidence, key=_reading_order)


def _reading_order(row: dict[str, Any]) -> tuple[str, int, int]:
    return (row["filing"], row["page"], row["start"])


@dataclass
class RevisionData:
    sft: list[SFTExample]
    pairs: list[PreferencePair]
    attempted: int
    improved: int


def _score(report: VerificationReport) -> tuple[bool, int]:
    return (report.all_passed and report.answer_supported, len(report.passed_claims))


def constitutional_revisions(
    prompts: Sequence[SFTExample],
    generator: Generator,
    verifier: Verifier,
    constraint_for: Callable[[EvidenceContext], OutputConstraint],
    max_new_tokens: int = 320,
) -> RevisionData:
    """SL-CAI: answer, critique against the constitution, revise; keep revisions that the
    verifier rates higher than the original."""
    sft: list[SFTExample] = []
    pairs: list[PreferencePair] = []
    improved = 0
    for example in prompts:
        messages = build_messages(example.question, example.context)
        constraint = constraint_for(example.context)
        try:
            original = generator.generate(messages, constraint, max_new_tokens)
            draft = DraftAnswer.model_validate_json(original.text)
        except (GeneratorOutputError, ValueError):
            continue  # no complete answer to critique (cut off by the budget, or no JSON)
        report = verifier.verify(draft, example.context, example.question)
        if report.all_passed and report.answer_supported:
            continue  # nothing to critique
        if example.source.startswith("evidence"):
            # The verified reference answer ≻ the model's own failing sample.
            pairs.append(
                PreferencePair(
                    example.question,
                    example.context,
                    chosen=example.completion,
                    rejected=original.text,
                    source="verified-vs-failed",
                    answerable=example.answerable,
                    origin=example.origin,
                )
            )
        findings = critique(report, verifier.constitution)
        if not findings:
            continue
        revision_messages = build_messages(
            example.question, example.context, findings, original.text
        )
        try:
            revised = generator.generate(revision_messages, constraint, max_new_tokens)
            revised_draft = DraftAnswer.model_validate_json(revised.text)
        except (GeneratorOutputError, ValueError):
            continue
        revised_report = verifier.verify(revised_draft, example.context, example.question)
        if _score(revised_report) <= _score(report):
            continue
        improved += 1
        pairs.append(
            PreferencePair(
                example.question,
                example.context,
                chosen=revised.text,
                rejected=original.text,
                source="revision",
                answerable=example.answerable,
                origin=example.origin,
            )
        )
        if revised_report.all_passed and revised_report.answer_supported:
            sft.append(
                SFTExample(
                    question=example.question,
                    context=example.context,
                    completion=completion_text(revised_draft),
                    source="revision",
                    answerable=example.answerable,
                    gold_answer=example.gold_answer,
                    gold_labels=example.gold_labels,
                    origin=example.origin,
                )
            )
    return RevisionData(sft, pairs, len(prompts), improved)


def perturbed_pairs(
    examples: Sequence[SFTExample], verifier: Verifier, seed: int = 13
) -> list[PreferencePair]:
    """Hard negatives for the reward model and DPO: each verified answer ≻ a copy of it broken
    in one way the constitution forbids (a changed figure, the same row's figure from another
    year's column, a paraphrased quote, a quote that runs on into the next sentence, the right
    quote credited to the neighbouring sentence, a citation of the wrong sentence, a refusal of
    an answerable question, an answer to an unanswerable one). A perturbation is kept only
    when the verifier indeed fails it."""
    rng = random.Random(seed)
    column_rng = random.Random(f"{seed}:other-column")  # the other kinds draw as before
    pairs: list[PreferencePair] = []
    for example in examples:
        draft = DraftAnswer.model_validate_json(example.completion)
        broken: list[tuple[str, DraftAnswer]] = []
        if example.answerable and draft.claims:
            claim = draft.claims[0]
            numbers = quantities(claim.text)
            if numbers:
                changed = claim.text.replace(numbers[0].text, _shifted(numbers[0].text, rng), 1)
                broken.append(("changed-figure", _with_claim(draft, claim.text, changed)))
            citation = claim.citations[0]
            cited = example.context.get(citation.sentence_id)
            if cited is not None and cited.kind == "table_row":
                # The small model's commonest misreading of a statement row: the right row,
                # another year's column (2020 total assets given for 2021).
                swapped = _other_column(draft, cited.text, column_rng)
                if swapped is not None:
                    broken.append(("other-column", swapped))
            words = citation.quote.split()
            if len(words) > 4:
                paraphrase = " ".join([*words[:2], "reportedly", *words[2:]])
                broken.append(("paraphrased-quote", _with_quote(draft, paraphrase)))
            others = [s for s in example.context if s.label != citation.sentence_id]
            if others:
                # The small model's commonest slips: a quote that runs on past its sentence's
                # end, and the right words credited to the neighbouring sentence.
                sentences = list(example.context.sentences)
                cited_at = next(
                    (i for i, s in enumerate(sentences) if s.label == citation.sentence_id), -1
                )
                neighbour = (sentences[cited_at + 1 :] or others)[0]
                following = normalise_text(neighbour.text).split()
                if following:
                    overrun = f"{citation.quote} {' '.join(following[:8])}"
                    broken.append(("overrun-quote", _with_quote(draft, overrun)))
                mislabelled = draft.model_copy(deep=True)
                mislabelled.claims[0].citations[0].sentence_id = neighbour.label
                broken.append(("mislabelled-citation", mislabelled))
                wrong = rng.choice(others)
                moved = draft.model_copy(deep=True)
                moved.claims[0].citations[0] = DraftCitation(
                    sentence_id=wrong.label, quote=normalise_text(wrong.text)[:200]
                )
                broken.append(("wrong-citation", moved))
            broken.append(
                ("unwarranted-refusal", DraftAnswer.model_validate_json(refusal_completion()))
            )
        elif not example.answerable:
            sentence = rng.choice(example.context.sentences)
            quote = normalise_text(sentence.text)[:200]
            broken.append(
                (
                    "answered-unanswerable",
                    DraftAnswer(
                        claims=[
                            DraftClaim(
                                citations=[DraftCitation(sentence_id=sentence.label, quote=quote)],
                                text="The answer to the question is "
                                f"{rng.randint(10, 9999):,} million.",
                            )
                        ],
                        answer=f"{rng.randint(10, 9999):,} million",
                    ),
                )
            )
        for kind, rejected in broken:
            if kind not in {"unwarranted-refusal", "answered-unanswerable"}:
                report = verifier.verify(rejected, example.context, example.question)
                if report.all_passed and report.answer_supported:
                    continue
            pairs.append(
                PreferencePair(
                    example.question,
                    example.context,
                    chosen=example.completion,
                    rejected=completion_text(rejected),
                    source=f"perturbed:{kind}",
                    answerable=example.answerable,
                    origin=example.origin,
                )
            )
    return pairs


def _shifted(figure: str, rng: random.Random) -> str:
    digits = [i for i, ch in enumerate(figure) if ch.isdigit()]
    position = rng.choice(digits)
    replacement = str((int(figure[position]) + rng.randint(1, 8)) % 10)
    return figure[:position] + replacement + figure[position + 1 :]


def _other_column(draft: DraftAnswer, row: str, rng: random.Random) -> DraftAnswer | None:
    """``draft`` with its first claim's figure from ``row`` (and the same figure in the direct
    answer) replaced by another figure of that row, as printed; None when the claim states
    none of the row's figures or the row has only one."""
    figures = list(dict.fromkeys(quantity.printed for quantity in quantities(row)))
    claim = draft.claims[0]
    stated = next(
        (
            q.printed
            for q in quantities(claim.text)
            if q.printed in figures and q.printed in claim.text
        ),
        None,
    )
    if stated is None:
        return None
    others = [figure for figure in figures if figure != stated]
    if not others:
        return None
    other = rng.choice(others)
    changed = draft.model_copy(deep=True)
    changed.claims[0].text = claim.text.replace(stated, other, 1)
    changed.answer = draft.answer.replace(stated, other, 1)
    return changed


def _with_claim(draft: DraftAnswer, old: str, new: str) -> DraftAnswer:
    changed = draft.model_copy(deep=True)
    changed.claims[0].text = new
    return changed


def _with_quote(draft: DraftAnswer, quote: str) -> DraftAnswer:
    changed = draft.model_copy(deep=True)
    changed.claims[0].citations[0].quote = quote
    return changed


def held_out_question_prompts(
    questions_path: Any,
    store: IndexStore,
    build_context: Callable[[str, Any], EvidenceContext],
) -> list[dict[str, Any]]:
    """Prompt rows for gold questions (FinanceBench-style JSONL) whose filing is in the index:
    the context the service would build for the question within its filing, the gold answer,
    and as gold citations the context sentences on the gold evidence pages. These rows are
    only ever evaluated on, never trained on."""
    from alignment.examples import context_dump, question_id
    from engine.answer_eval import load_gold
    from retrieval.catalog import QueryFilters

    indexed = {filing.name for filing in store.filings()}
    rows = []
    for gold in load_gold(questions_path):
        if gold.filing not in indexed or not gold.answer:
            continue
        context = build_context(gold.question, QueryFilters(filings=frozenset({gold.filing})))
        if not context.sentences:
            continue
        labels = [s.label for s in context if (s.filing, s.page) in gold.evidence_pages]
        rows.append(
            {
                "prompt": build_messages(gold.question, context),
                "question": gold.question,
                "question_id": question_id(gold.question),
                "context": context_dump(context),
                "answerable": True,
                "gold_answer": gold.answer,
                "gold_labels": labels,
                "reference": "",
                "source": "financebench",
            }
        )
    return rows
