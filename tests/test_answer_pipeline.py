"""The answer pipeline: retrieve → generate → verify → revise → deliver or refuse.

The logic tests script the generator (the seam they are not about) to return chosen drafts
against the real retrieval context of a filing the tests build, and check what is delivered.
The end-to-end tests run the real packaged generator and a trained judge through `verirag ask`.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from engine.errors import GeneratorOutputError, VerifierUnavailableError
from engine.generation import Generation, OutputConstraint
from engine.lookup import (
    STATEMENT_LOOKUP_VERSION,
    MetricCalculator,
    RowLookup,
    StatementLookup,
)
from engine.pipeline import AnswerPipeline, PipelineConfig
from engine.settings import get_settings
from engine.statement_asks import StatementAsk, read_statement_ask
from ingest.store import IndexStore
from tests.test_verifier import BrokenJudge, OverlapJudge
from verifier.checks import Verifier
from verifier.constitution import load_constitution
from verifier.types import DraftAnswer, EvidenceContext

QUESTION = "What were Acme's net sales in fiscal 2023?"


@pytest.fixture(scope="module")
def data(acme_index: Path) -> Path:
    return acme_index


class ScriptedGenerator:
    """Returns drafts written by the test from the context it is shown."""

    model_version = "scripted"

    def __init__(self, *scripts: Callable[[dict[str, str]], dict[str, Any]]) -> None:
        self.scripts = list(scripts)
        self.calls: list[list[dict[str, str]]] = []

    def warm_up(self) -> None:
        return None

    def generate(
        self,
        messages: list[dict[str, str]],
        constraint: OutputConstraint,
        max_new_tokens: int,
        on_text: Callable[[str], None] | None = None,
    ) -> Generation:
        self.calls.append(messages)
        labels = _labels(
            messages[-1]["content"] if len(self.calls) == 1 else messages[3]["content"]
        )
        script = self.scripts[min(len(self.calls), len(self.scripts)) - 1]
        text = json.dumps(script(labels))
        return Generation(text, self.model_version, 100, 50, 0.01)


def _labels(prompt: str) -> dict[str, str]:
    """Sentence text → its label, from the rendered context."""
    found = {}
    for line in prompt.splitlines():
        text, _, label = line.rpartition(" [")
        if text and label.startswith("S") and label.endswith("]"):
            found[text] = label[:-1]
    return found


def _cite(labels: dict[str, str], starts: str) -> tuple[str, str]:
    text = next(t for t in labels if t.startswith(starts))
    return labels[text], text


def _claim(text: str, label: str, quote: str) -> dict[str, Any]:
    return {"citations": [{"sentence_id": label, "quote": quote}], "text": text}


def good_draft(labels: dict[str, str]) -> dict[str, Any]:
    label, _ = _cite(labels, "Net sales were $1,577 million")
    return {
        "claims": [
            _claim(
                "Net sales were $1,577 million in fiscal 2023",
                label,
                "Net sales were $1,577 million in fiscal 2023",
            )
        ],
        "answer": "$1,577 million",
        "insufficient_evidence": False,
    }


def bad_draft(labels: dict[str, str]) -> dict[str, Any]:
    label, _ = _cite(labels, "Net sales were $1,577 million")
    return {
        "claims": [
            _claim(
                "Net sales were $1,900 million in fiscal 2023",
                label,
                "Net sales were $1,577 million in fiscal 2023",
            )
        ],
        "answer": "$1,900 million",
        "insufficient_evidence": False,
    }


def mixed_draft(labels: dict[str, str]) -> dict[str, Any]:
    draft = good_draft(labels)
    draft["claims"].append(bad_draft(labels)["claims"][0])
    draft["claims"].append(
        {"citations": [{"sentence_id": "S99", "quote": "x" * 20}], "text": "Invented."}
    )
    return draft


def _pipeline(
    store: IndexStore, generator: Any, judge: Any = None, rounds: int = 1
) -> AnswerPipeline:
    from service.cli import _retriever

    settings = get_settings().model_copy(update={"data_dir": store.data_dir})
    return AnswerPipeline(
        store,
        _retriever(settings, store, "hybrid", 0),
        generator,
        Verifier(load_constitution(), judge or OverlapJudge()),
        PipelineConfig(revision_rounds=rounds),
    )


def test_a_faithful_draft_is_delivered_with_full_citations(data: Path) -> None:
    with IndexStore(data) as store:
        record = _pipeline(store, ScriptedGenerator(good_draft)).answer(QUESTION)
    answer = record.answer
    assert not answer.refused and not answer.partial
    assert answer.answer == "$1,577 million"
    (claim,) = answer.claims
    (citation,) = claim.citations
    assert citation.filing == "ACME_2023_10K" and citation.page == 3
    assert citation.sentence_id.startswith("s") and len(citation.sentence_id) > 10
    page_text = IndexStore(data).page("ACME_2023_10K", 3)["text"]
    quoted = page_text[citation.quote_start : citation.quote_end]
    assert " ".join(quoted.split()) == citation.quote
    assert set(claim.verdicts.values()) == {"pass"}
    assert answer.timings.rounds == 1
    assert answer.versions.constitution == answer.constitution_version
    assert answer.versions.index and answer.versions.judge == "overlap-test-judge"


def test_a_failing_draft_is_critiqued_and_the_revision_delivered(data: Path) -> None:
    generator = ScriptedGenerator(bad_draft, good_draft)
    with IndexStore(data) as store:
        record = _pipeline(store, generator).answer(QUESTION)
    assert record.answer.answer == "$1,577 million" and not record.answer.refused
    assert len(record.rounds) == 2
    critique = generator.calls[1][-1]["content"]
    assert "numbers-in-evidence" in critique and "$1,900 million" in critique
    assert record.rounds[0].report[0]["passed"] is False


def test_nothing_verifiable_is_a_refusal_not_an_error(data: Path) -> None:
    with IndexStore(data) as store:
        record = _pipeline(store, ScriptedGenerator(bad_draft)).answer(QUESTION)
    answer = record.answer
    assert answer.refused and answer.claims == [] and answer.answer == "insufficient evidence"
    assert (
        answer.dropped_claims and answer.dropped_claims[0].verdicts["numbers-in-evidence"] == "fail"
    )
    assert len(record.rounds) == 2


def test_failing_claims_are_dropped_and_the_answer_marked_partial(data: Path) -> None:
    with IndexStore(data) as store:
        record = _pipeline(store, ScriptedGenerator(mixed_draft), rounds=0).answer(QUESTION)
    answer = record.answer
    assert answer.partial and not answer.refused
    assert [c.text for c in answer.claims] == ["Net sales were $1,577 million in fiscal 2023"]
    assert len(answer.dropped_claims) == 2


@pytest.mark.parametrize(
    "direct", ["$1,577 million, the best year since 1987 at $2 billion", "Yes", "Globex"]
)
def test_a_direct_answer_the_claims_do_not_establish_is_refused(data: Path, direct: str) -> None:
    def overclaims(labels: dict[str, str]) -> dict[str, Any]:
        draft = good_draft(labels)
        draft["answer"] = direct
        return draft

    with IndexStore(data) as store:
        record = _pipeline(store, ScriptedGenerator(overclaims), rounds=0).answer(QUESTION)
    answer = record.answer
    assert answer.refused and answer.claims == []
    assert "do not establish the answer" in (answer.refusal_reason or "")
    assert [c.text for c in answer.dropped_claims] == [
        "Net sales were $1,577 million in fiscal 2023"
    ]


def test_a_direct_answer_in_the_claims_words_is_delivered(data: Path) -> None:
    def worded(labels: dict[str, str]) -> dict[str, Any]:
        draft = good_draft(labels)
        draft["answer"] = "Net sales were $1.6 billion"
        return draft

    with IndexStore(data) as store:
        record = _pipeline(store, ScriptedGenerator(worded), rounds=0).answer(QUESTION)
    assert not record.answer.refused and record.answer.answer == "Net sales were $1.6 billion"


def test_the_model_declining_is_an_explicit_refusal(data: Path) -> None:
    def declines(labels: dict[str, str]) -> dict[str, Any]:
        return {"claims": [], "answer": "insufficient evidence", "insufficient_evidence": True}

    generator = ScriptedGenerator(declines)
    with IndexStore(data) as store:
        record = _pipeline(store, generator).answer(QUESTION)
    assert record.answer.refused and len(generator.calls) == 1
    assert "no supporting evidence" in (record.answer.refusal_reason or "")


def test_a_judge_failure_delivers_nothing(data: Path) -> None:
    with IndexStore(data) as store, pytest.raises(VerifierUnavailableError):
        _pipeline(store, ScriptedGenerator(good_draft), BrokenJudge()).answer(QUESTION)


def test_output_outside_the_schema_is_a_refusal_with_the_reason(data: Path) -> None:
    class Garbage(ScriptedGenerator):
        def generate(self, *args: Any, **kwargs: Any) -> Generation:
            return Generation("Sure! Net sales were big.", "garbage", 1, 1, 0.0)

    with IndexStore(data) as store:
        record = _pipeline(store, Garbage()).answer(QUESTION)
    assert record.answer.refused and record.answer.claims == []
    # The public reason says what failed; the detail, which quotes the output, is audit-only.
    assert "outside the answer schema" in (record.answer.refusal_reason or "")
    assert "Net sales were big" not in (record.answer.refusal_reason or "")
    assert "not an answer in the schema" in (record.rounds[0].error or "")
    assert record.rounds[0].draft is None


def test_a_failed_revision_keeps_what_the_first_round_verified(data: Path) -> None:
    class CutOff(ScriptedGenerator):
        def generate(self, *args: Any, **kwargs: Any) -> Generation:
            if self.calls:
                raise GeneratorOutputError("generation stopped at 400 tokens")
            return super().generate(*args, **kwargs)

    with IndexStore(data) as store:
        record = _pipeline(store, CutOff(mixed_draft)).answer(QUESTION)
    assert not record.answer.refused and record.answer.partial
    assert record.answer.answer == "$1,577 million"
    assert record.rounds[1].error == "generation stopped at 400 tokens"


def test_the_prompt_shows_ids_pages_sections_and_table_headers(data: Path) -> None:
    from engine.generation import build_constraint, build_messages, render_context

    with IndexStore(data) as store:
        pipeline = _pipeline(store, ScriptedGenerator(good_draft))
        chunks = pipeline.retriever.retrieve(
            "Net sales 2023 2022 consolidated statements of income", 6, None
        )
        context = pipeline.build_context(chunks)
    rendered = render_context(context)
    assert "--- ACME_2023_10K, page 5, Item 8" in rendered
    assert "Consolidated Statements of Income (in millions) | columns:" in rendered
    assert "columns:" in rendered and "2023" in rendered
    assert "[S1]" in rendered
    messages = build_messages(QUESTION, context)
    assert messages[-1]["content"].endswith(QUESTION)
    constraint = build_constraint(context)
    assert (
        constraint.json_schema["$defs"]["DraftCitation"]["properties"]["sentence_id"]["enum"]
        == context.labels
    )


def test_a_statement_row_shows_each_figure_beside_its_year_outside_the_quotable_text() -> None:
    from engine.generation import build_constraint, render_context
    from tests.test_verifier import _sentence

    header = (("2023", "2022", "2021"),)
    lined_up = _sentence(
        "S1",
        "Purchases of property, plant and equipment (1,577) (1,373) (1,420)",
        kind="table_row",
        table_title="Consolidated Statement of Cash Flows",
        table_scale="millions",
        table_header_rows=header,
    )
    with_change_column = _sentence(
        "S2",
        "Net sales $ 2,410 $ 2,231 8 %",
        kind="table_row",
        table_header_rows=(("2023", "2022", "% change"),),
    )
    prose = _sentence("S3", "Net sales rose 8% to $2,410 million in 2023.")
    rendered = render_context(EvidenceContext([lined_up, with_change_column, prose])).splitlines()

    # Signs as printed: a parenthesised outflow stays parenthesised.
    assert (
        "Purchases of property, plant and equipment (1,577) (1,373) (1,420) [S1] "
        "(2023: (1,577); 2022: (1,373); 2021: (1,420))" in rendered
    )
    # Three figures under two years and a percentage: no year is guessed for any of them.
    assert "Net sales $ 2,410 $ 2,231 8 % [S2]" in rendered
    assert "Net sales rose 8% to $2,410 million in 2023. [S3]" in rendered
    # The note is the prompt's, not the filing's: no quote may contain it.
    grammar = build_constraint(EvidenceContext([lined_up])).grammar
    assert "(1,577) (1,373) (1,420)" in grammar and "2023: " not in grammar


def test_an_empty_context_only_allows_a_refusal() -> None:
    from engine.generation import build_constraint

    constraint = build_constraint(EvidenceContext([]))
    assert (
        constraint.grammar.startswith("root ::= ") and "insufficient_evidence" in constraint.grammar
    )
    assert "\n" not in constraint.grammar  # one rule: the refusal, nothing else


def test_ask_output_shows_quote_filing_page_section_and_verdicts(
    data: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from service.cli import _print_answer, answer_json

    with IndexStore(data) as store:
        record = _pipeline(store, ScriptedGenerator(mixed_draft), rounds=0).answer(QUESTION)
    _print_answer(record.answer)
    printed = capsys.readouterr().out
    assert "PARTIAL ANSWER: $1,577 million" in printed
    assert '"Net sales were $1,577 million in fiscal 2023"' in printed
    assert "ACME_2023_10K, page 3" in printed and "Item 7" in printed
    assert "quote-verbatim pass" in printed and "2 claim(s) failed verification" in printed
    shaped = answer_json(record.answer)
    assert (
        shaped["claims"][0]["citations"][0]["sentence_id"]
        == record.answer.claims[0].citations[0].sentence_id
    )
    assert set(shaped) >= {
        "id",
        "answer",
        "refused",
        "partial",
        "claims",
        "constitution_version",
        "model",
    }


def test_a_logged_answer_can_be_reverified_under_another_constitution(
    data: Path, tmp_path: Path
) -> None:
    from verifier.constitution import DEFAULT_CONSTITUTION

    stricter = tmp_path / "stricter.toml"
    stricter.write_text(
        DEFAULT_CONSTITUTION.read_text().replace("max_figures = 2", "max_figures = 0")
    )
    with IndexStore(data) as store:
        record = _pipeline(store, ScriptedGenerator(good_draft), rounds=0).answer(QUESTION)
        same = _pipeline(store, ScriptedGenerator(good_draft)).reverify(record)
        pipeline = _pipeline(store, ScriptedGenerator(good_draft))
        pipeline.verifier = Verifier(load_constitution(stricter), OverlapJudge())
        again = pipeline.reverify(record)
    assert not record.answer.refused and not same.refused
    assert same.answer == record.answer.answer and same.id == record.answer.id
    assert again.refused and "rule answer-specific" in (again.refusal_reason or "")
    assert again.versions.constitution != record.answer.versions.constitution


# -- the statement lookup --------------------------------------------------------------------


def _lookup_pipeline(store: IndexStore, generator: Any) -> AnswerPipeline:
    pipeline = _pipeline(store, generator)
    pipeline.lookup = StatementLookup()
    pipeline.calculator = MetricCalculator()
    return pipeline


def test_a_line_item_question_is_read_off_its_statement_row_and_verified(data: Path) -> None:
    generator = ScriptedGenerator(bad_draft)
    with IndexStore(data) as store:
        record = _lookup_pipeline(store, generator).answer(
            "What was Acme's cost of sales in fiscal 2022?"
        )
    answer = record.answer
    assert generator.calls == []  # a verified lookup needs no generation
    assert not answer.refused and answer.drafted_by == STATEMENT_LOOKUP_VERSION
    # The 2022 column of "Cost of sales (981) (902) (850)": an expense, so no minus sign.
    assert answer.answer == "902 million"
    (claim,) = answer.claims
    assert "cost of sales was 902 million in fiscal 2022" in claim.text
    assert set(claim.verdicts.values()) == {"pass"}
    assert claim.citations[0].quote == "Cost of sales (981) (902) (850)"
    (round_,) = record.rounds
    assert round_.drafter == STATEMENT_LOOKUP_VERSION and round_.messages  # the prompt, kept
    assert record.answer.model == "scripted"  # the generator that would have answered


def test_a_metric_the_question_defines_is_computed_from_its_rows_and_verified(
    data: Path,
) -> None:
    generator = ScriptedGenerator(bad_draft)
    with IndexStore(data) as store:
        record = _lookup_pipeline(store, generator).answer(
            "What was Acme's FY2023 gross margin? Define gross margin as gross profit divided "
            "by net sales, in percent to one decimal place."
        )
    answer = record.answer
    assert generator.calls == [] and answer.drafted_by == "metric-calculator@1"
    assert answer.answer == "37.8%" and not answer.refused
    (claim,) = answer.claims
    assert claim.text == (
        "Acme Widgets Corporation's gross margin in fiscal 2023 = (596 million [gross profit] "
        "÷ $1,577 million [net sales]) × 100 = 37.8%."
    )
    assert {c.quote for c in claim.citations} == {
        "Gross profit 596 506 472",
        "Net sales $ 1,577 $ 1,408 $ 1,322",
    }
    assert claim.verdicts["arithmetic-checked"] == "pass"
    assert set(claim.verdicts.values()) == {"pass"}


def test_a_computed_metric_is_left_to_the_generator(data: Path) -> None:
    generator = ScriptedGenerator(good_draft)
    with IndexStore(data) as store:
        record = _lookup_pipeline(store, generator).answer(
            "What was Acme's net sales growth between fiscal 2022 and fiscal 2023?"
        )
    assert len(generator.calls) == 1
    assert all(r.drafter is None for r in record.rounds)
    assert record.answer.drafted_by == "scripted"


def test_a_lookup_that_fails_verification_hands_the_question_to_the_generator(
    data: Path,
) -> None:
    # The lookup reads 2023's net sales off the income statement; a constitution whose words
    # rule forbids the company's name fails the lookup's claim, and the generator answers.
    generator = ScriptedGenerator(good_draft)
    with IndexStore(data) as store:
        pipeline = _lookup_pipeline(store, generator)
        question = "What were net sales in fiscal 2023?"
        context_rows = pipeline._citable_rows(pipeline.retriever.retrieve(question, 12), question)
        ask = read_statement_ask(question)
        _, drafted, _ = pipeline._lookup_draft(ask, context_rows) or (None, None, None)
        assert drafted is not None and drafted.answer == "$1,577 million"
        drafted.claims[0].text += " Sales rose sharply."
        pipeline.lookup = _FixedLookup(drafted)
        record = pipeline.answer(question)
    assert record.rounds[0].drafter == STATEMENT_LOOKUP_VERSION
    assert record.rounds[0].report[0]["passed"] is False
    assert len(generator.calls) == 1 and record.answer.drafted_by == "scripted"
    assert record.answer.answer == "$1,577 million" and not record.answer.refused


class _FixedLookup(StatementLookup):
    def __init__(self, draft: DraftAnswer) -> None:
        self.fixed = draft

    def draft(self, ask: StatementAsk, lookup: RowLookup) -> DraftAnswer:
        return self.fixed
