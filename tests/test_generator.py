"""Both generator backends with the real packaged model: in process under the grammar, and over
real HTTP against the project's OpenAI-compatible server. vLLM-only request fields are checked
by the shape of the request the backend sends."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from engine.errors import GeneratorOutputError, GeneratorUnavailableError
from engine.generation import build_constraint, build_messages
from engine.local_generator import TransformersGenerator
from engine.openai_generator import OpenAIChatGenerator
from ingest.store import IndexStore
from tests.test_ingest_cli import verirag
from verifier.numbers import normalise_text
from verifier.types import DraftAnswer, EvidenceContext

QUESTION = "What were Acme's net sales in fiscal 2023?"
SERVED = "verirag-test-model"


@pytest.fixture(scope="module")
def data(acme_index: Path) -> Path:
    return acme_index


@pytest.fixture(scope="module")
def context(data: Path) -> EvidenceContext:
    with IndexStore(data) as store:
        rows = store._db.execute(
            "SELECT id FROM sentences WHERE page IN (3, 4) AND kind IN ('prose', 'table_row') "
            "ORDER BY page, position"
        ).fetchall()
        return EvidenceContext.from_rows(store.evidence_sentences([r[0] for r in rows]))


@pytest.fixture(scope="module")
def generator(model_cache: Path) -> TransformersGenerator:
    model = TransformersGenerator("packaged:SmolLM2-135M-Instruct", model_cache, threads=1)
    model.warm_up()
    return model


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="module")
def server(generator: TransformersGenerator) -> Iterator[str]:
    import uvicorn

    from service.openai_server import build_app

    port = _free_port()
    config = uvicorn.Config(
        build_app(generator, SERVED), host="127.0.0.1", port=port, log_level="warning"
    )
    instance = uvicorn.Server(config)
    thread = threading.Thread(target=instance.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not instance.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert instance.started, "the local OpenAI-compatible server did not start"
    yield f"http://127.0.0.1:{port}/v1"
    instance.should_exit = True
    thread.join(timeout=10)


def _assert_well_formed(text: str, context: EvidenceContext, verbatim: bool) -> DraftAnswer:
    draft = DraftAnswer.model_validate_json(text)
    for claim in draft.claims:
        assert claim.citations
        for citation in claim.citations:
            sentence = context.get(citation.sentence_id)
            assert sentence is not None, f"{citation.sentence_id} is not a context label"
            if verbatim:
                assert normalise_text(citation.quote) in normalise_text(sentence.text)
    return draft


def test_in_process_output_always_parses_with_verbatim_quotes(
    generator: TransformersGenerator, context: EvidenceContext
) -> None:
    constraint = build_constraint(context, max_claims=1)
    pieces: list[str] = []
    generation = generator.generate(
        build_messages(QUESTION, context), constraint, 200, on_text=pieces.append
    )
    _assert_well_formed(generation.text, context, verbatim=True)
    assert "".join(pieces) == generation.text
    assert generation.completion_tokens > 0 and generation.finish_reason == "stop"


def test_a_too_small_token_budget_is_an_error_not_a_truncated_answer(
    generator: TransformersGenerator, context: EvidenceContext
) -> None:
    with pytest.raises(GeneratorOutputError, match="before the answer was complete"):
        generator.generate(build_messages(QUESTION, context), build_constraint(context), 16)


def test_http_backend_with_a_json_schema(server: str, context: EvidenceContext) -> None:
    backend = OpenAIChatGenerator(server, SERVED, structured_output="json_schema")
    backend.warm_up()
    generation = backend.generate(
        build_messages(QUESTION, context), build_constraint(context, max_claims=1), 200
    )
    _assert_well_formed(generation.text, context, verbatim=False)
    assert generation.prompt_tokens > 100 and generation.model == SERVED


def test_http_backend_streams_under_the_vllm_grammar(server: str, context: EvidenceContext) -> None:
    backend = OpenAIChatGenerator(server, SERVED, structured_output="vllm_grammar")
    deltas: list[str] = []
    generation = backend.generate(
        build_messages(QUESTION, context),
        build_constraint(context, max_claims=1),
        200,
        on_text=deltas.append,
    )
    assert len(deltas) > 3 and "".join(deltas) == generation.text
    _assert_well_formed(generation.text, context, verbatim=True)
    assert generation.completion_tokens > 0


def test_http_backend_refuses_an_unknown_model(server: str) -> None:
    with pytest.raises(GeneratorUnavailableError, match="does not serve 'other-model'"):
        OpenAIChatGenerator(server, "other-model").warm_up()


def test_a_server_that_is_down_is_unavailable_after_retries() -> None:
    backend = OpenAIChatGenerator(
        f"http://127.0.0.1:{_free_port()}/v1", SERVED, retries=2, backoff_seconds=0.01
    )
    with pytest.raises(GeneratorUnavailableError) as caught:
        backend.generate(
            [{"role": "user", "content": "hi"}], build_constraint(EvidenceContext([])), 8
        )
    assert caught.value.retry_after_seconds and "3 attempt(s)" in str(caught.value)


class Recorder:
    """An httpx transport that records requests and replays scripted responses."""

    def __init__(self, *responses: httpx.Response) -> None:
        self.responses = list(responses)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return self.responses.pop(0)


def _completion(text: str) -> httpx.Response:
    return httpx.Response(
        200,
        json={
            "model": "acme-lora",
            "choices": [{"message": {"role": "assistant", "content": text}}],
            "usage": {"prompt_tokens": 7, "completion_tokens": 3},
        },
    )


def test_vllm_request_shape_grammar_lora_and_key(context: EvidenceContext) -> None:
    recorder = Recorder(_completion("{}"))
    backend = OpenAIChatGenerator(
        "http://vllm.internal:8000/v1",
        "acme-lora",
        api_key="secret",
        structured_output="vllm_grammar",
        transport=httpx.MockTransport(recorder),
    )
    constraint = build_constraint(context)
    backend.generate(build_messages(QUESTION, context), constraint, 200)
    (request,) = recorder.requests
    body: dict[str, Any] = json.loads(request.content)
    assert request.url.path == "/v1/chat/completions"
    assert request.headers["Authorization"] == "Bearer secret"
    assert body["model"] == "acme-lora"  # a LoRA adapter is addressed by its served name
    assert body["structured_outputs"] == {"grammar": constraint.grammar}
    assert "response_format" not in body
    assert body["max_tokens"] == 200 and body["temperature"] == 0.0 and body["stream"] is False


def test_openai_request_shape_json_schema(context: EvidenceContext) -> None:
    recorder = Recorder(_completion("{}"))
    backend = OpenAIChatGenerator("http://x/v1", "m", transport=httpx.MockTransport(recorder))
    constraint = build_constraint(context)
    backend.generate(build_messages(QUESTION, context), constraint, 50)
    body = json.loads(recorder.requests[0].content)
    assert body["response_format"]["type"] == "json_schema"
    assert body["response_format"]["json_schema"]["strict"] is True
    assert body["response_format"]["json_schema"]["schema"] == constraint.json_schema
    assert "structured_outputs" not in body


def test_transient_errors_are_retried_and_client_errors_are_not() -> None:
    recorder = Recorder(httpx.Response(503, text="busy"), _completion('{"ok": 1}'))
    backend = OpenAIChatGenerator(
        "http://x/v1", "m", backoff_seconds=0.01, transport=httpx.MockTransport(recorder)
    )
    constraint = build_constraint(EvidenceContext([]))
    assert backend.generate([{"role": "user", "content": "q"}], constraint, 8).text == '{"ok": 1}'
    assert len(recorder.requests) == 2
    refusing = Recorder(httpx.Response(400, text="grammar not supported"))
    backend = OpenAIChatGenerator("http://x/v1", "m", transport=httpx.MockTransport(refusing))
    with pytest.raises(GeneratorOutputError, match="grammar not supported"):
        backend.generate([{"role": "user", "content": "q"}], constraint, 8)
    assert len(refusing.requests) == 1


def test_a_busy_servers_retry_after_is_honoured(monkeypatch: pytest.MonkeyPatch) -> None:
    import engine.openai_generator as module

    waits: list[float] = []
    monkeypatch.setattr(module.time, "sleep", waits.append)
    constraint = build_constraint(EvidenceContext([]))
    busy = httpx.Response(429, headers={"Retry-After": "2"}, text="slow down")
    recorder = Recorder(busy, _completion('{"ok": 1}'))
    backend = OpenAIChatGenerator(
        "http://x/v1", "m", backoff_seconds=0.01, transport=httpx.MockTransport(recorder)
    )
    assert backend.generate([{"role": "user", "content": "q"}], constraint, 8).text == '{"ok": 1}'
    assert waits == [2.0]  # the server's wait, not the 0.01 s backoff
    # Asked to wait past the cap: reported busy at once, with the server's own hint.
    long_wait = Recorder(httpx.Response(503, headers={"Retry-After": "120"}, text="down"))
    backend = OpenAIChatGenerator(
        "http://x/v1", "m", max_retry_after_seconds=30, transport=httpx.MockTransport(long_wait)
    )
    with pytest.raises(GeneratorUnavailableError) as caught:
        backend.generate([{"role": "user", "content": "q"}], constraint, 8)
    assert caught.value.retry_after_seconds == 120.0 and len(long_wait.requests) == 1


def _stream(*events: str) -> httpx.Response:
    body = "".join(f"data: {event}\n\n" for event in events)
    return httpx.Response(200, headers={"content-type": "text/event-stream"}, text=body)


def _delta(text: str) -> str:
    return json.dumps({"model": "m", "choices": [{"delta": {"content": text}}]})


@pytest.mark.parametrize(
    "events",
    [
        (_delta('{"claims": '), json.dumps({"error": {"message": "CUDA out of memory"}})),
        (_delta('{"claims": '),),  # cut off: no [DONE]
    ],
    ids=["error-event", "truncated"],
)
def test_a_stream_that_fails_mid_answer_is_a_failure_not_a_short_answer(
    events: tuple[str, ...],
) -> None:
    recorder = Recorder(_stream(*events))
    backend = OpenAIChatGenerator("http://x/v1", "m", transport=httpx.MockTransport(recorder))
    seen: list[str] = []
    with pytest.raises(GeneratorUnavailableError, match=r"mid-answer|before \[DONE\]"):
        backend.generate(
            [{"role": "user", "content": "q"}],
            build_constraint(EvidenceContext([])),
            8,
            seen.append,
        )
    assert seen == ['{"claims": '] and len(recorder.requests) == 1  # streamed text: no retry
    whole = Recorder(_stream(_delta('{"ok": '), _delta("1}"), "[DONE]"))
    backend = OpenAIChatGenerator("http://x/v1", "m", transport=httpx.MockTransport(whole))
    generation = backend.generate(
        [{"role": "user", "content": "q"}], build_constraint(EvidenceContext([])), 8, seen.append
    )
    assert generation.text == '{"ok": 1}'


def test_ask_end_to_end_with_the_packaged_model(
    data: Path, tiny_judge: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VERIRAG_NLI_MODEL", "trained:tiny-nli")
    monkeypatch.setenv("VERIRAG_MAX_CLAIMS", "1")
    # The packaged model answers: the statement lookup would read this net-sales question off
    # the income statement without it.
    monkeypatch.setenv("VERIRAG_STATEMENT_LOOKUP", "false")
    monkeypatch.setenv("VERIRAG_ANSWER_ENGINE", "false")
    result = verirag("ask", QUESTION, "--data-dir", data, "--json")
    assert result.exit_code == 0, result.stderr
    answer = json.loads(result.stdout)
    assert set(answer) >= {
        "id",
        "answer",
        "refused",
        "partial",
        "claims",
        "constitution_version",
        "model",
    }
    assert answer["model"] == "packaged:SmolLM2-135M-Instruct"
    with IndexStore(data) as store:
        for claim in answer["claims"]:
            assert set(claim["verdicts"].values()) == {"pass"}
            for citation in claim["citations"]:
                (stored,) = store.sentences_by_ids([citation["sentence_id"]])
                assert normalise_text(citation["quote"]) in normalise_text(stored["text"])
                assert citation["filing"] == "ACME_2023_10K"
    if answer["refused"]:
        assert answer["claims"] == [] and answer["answer"] == "insufficient evidence"
    with InteractionLogFor(data) as log:
        record = log.get(answer["id"])
        assert record.rounds and record.rounds[0].raw_generation
        assert record.rounds[0].drafter is None


def test_ask_fails_closed_without_a_judge(data: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VERIRAG_NLI_MODEL", "trained:missing-judge")
    with InteractionLogFor(data) as log:
        before = log.count()
    result = verirag("ask", QUESTION, "--data-dir", data, "--json")
    assert result.exit_code != 0
    assert "no answer was delivered" in result.stderr and "verirag verifier train" in result.stderr
    assert result.stdout == ""
    with InteractionLogFor(data) as log:
        assert log.count() == before


def InteractionLogFor(data: Path) -> Any:  # noqa: N802 - reads as the class it returns
    from service.log import InteractionLog

    return InteractionLog.in_data_dir(data)


def test_the_lm_judge_reads_yes_no_probabilities(generator: TransformersGenerator) -> None:
    from engine.packaged_models import resolve_generator_path
    from verifier.nli import load_judge

    path = resolve_generator_path("packaged:SmolLM2-135M-Instruct", generator._cache_dir)
    judge = load_judge(f"lm:{path}", generator._cache_dir)
    scores = judge.score(
        [
            ("Net sales were $1,577 million in 2023.", "Net sales were $1,577 million in 2023."),
            ("Net sales were $1,577 million in 2023.", "The company sells tractors on Mars."),
        ]
    )
    assert all(0.0 <= s <= 1.0 for s in scores)
    assert judge.version.startswith("lm:") and judge.threshold == 0.5


def test_eval_answers_reports_outcomes_with_every_question_counted(
    data: Path, tiny_judge: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    questions = tmp_path / "questions.jsonl"
    questions.write_text(
        json.dumps(
            {
                "financebench_id": "acme-1",
                "question": QUESTION,
                "doc_name": "ACME_2023_10K",
                "answer": "$1,577 million",
                "evidence": [{"doc_name": "ACME_2023_10K", "evidence_page_num": 3}],
            }
        )
        + "\n"
    )
    monkeypatch.setenv("VERIRAG_NLI_MODEL", "trained:tiny-nli")
    monkeypatch.setenv("VERIRAG_MAX_CLAIMS", "1")
    monkeypatch.setenv("VERIRAG_REVISION_ROUNDS", "0")
    # The harness is measured on the generator: the statement lookup would answer this
    # net-sales question without it.
    monkeypatch.setenv("VERIRAG_STATEMENT_LOOKUP", "false")
    monkeypatch.setenv("VERIRAG_ANSWER_ENGINE", "false")
    report_file, plot = tmp_path / "answers.json", tmp_path / "answers.png"
    result = verirag(
        "eval",
        "answers",
        "--questions",
        questions,
        "--data-dir",
        data,
        "--given-filing",
        "--report",
        report_file,
        "--plot",
        plot,
    )
    assert result.exit_code == 0, result.stderr
    report = json.loads(report_file.read_text())
    assert report["questions"] == 1 and sum(report["counts"].values()) == 1
    assert sum(report["unverified_baseline_counts"].values()) == 1
    (outcome,) = report["per_question"]
    assert outcome["outcome"] in {"correct", "incorrect", "refused"}
    if outcome["quotes"]:
        assert outcome["verbatim_quotes"] == outcome["quotes"]
    assert report["latency_ms"]["generate_ms"]["p50"] > 0
    assert plot.stat().st_size > 1000


def test_a_yes_no_answer_is_matched_by_its_polarity_then_its_figures() -> None:
    from engine.answer_eval import match_answer

    def close(first: str, second: str) -> float:
        return 0.9  # embeddings put "yes it grew" and "no it did not" close together

    gold = "Yes, change in PPNE was positive year over year"
    grew = "Yes: the change in property, plant and equipment was $1,137 million"
    assert match_answer(gold, grew, close) == ("correct", "polarity")
    assert match_answer(gold, "No: the change was -$1,137 million", close)[0] == "incorrect"
    with_figures = "No. Verizon's debt decreased by $229 million."
    assert match_answer(with_figures, "No: a change of -$229 million", close)[0] == "correct"
    assert match_answer(with_figures, "No: a change of -$1,229 million", close)[0] == "incorrect"
    # Without a polarity on both sides, figures then similarity decide as before.
    assert match_answer("$1,577 million", "1,577 million", close) == ("correct", "figures")
    assert match_answer("Customer deposits", "Customer deposits", close)[0] == "correct"


def test_a_short_gold_name_is_matched_by_the_answer_naming_it() -> None:
    from engine.answer_eval import match_answer

    def far(first: str, second: str) -> float:
        return 0.58  # a two-word name against a sentence that names it and adds its amount

    named = "Customer deposits, the largest liability: $110,239 at the end of fiscal 2022"
    assert match_answer("Customer deposits", named, far) == ("correct", "names-the-gold")
    other = "Long-term debt, the largest liability: $42,573 at the end of fiscal 2022"
    assert match_answer("Customer deposits", other, far) == ("incorrect", "embedding-cosine")
    # A gold sentence is no name: similarity decides.
    sentence = "Among the three, cash flow from operations was the highest for Nike in FY2023."
    assert match_answer(sentence, "Cash provided by operations", far)[1] == "embedding-cosine"


def test_a_question_listing_its_items_is_matched_by_the_item_each_answer_names() -> None:
    from engine.answer_eval import match_answer

    def far(first: str, second: str) -> float:
        return 0.4  # a sentence and a caption with its amount sit far apart

    question = (
        "Among operations, investing, and financing activities, which brought in the most "
        "(or lost the least) cash flow for Nike in FY2023?"
    )
    gold = "Among the three, cash flow from operations was the highest for Nike in FY2023."
    operations = "Cash provided by operations: $5,841 million in fiscal 2023"
    financing = "Cash provided by financing activities: -$7,447 million in fiscal 2023"
    assert match_answer(gold, operations, far, question) == ("correct", "named-choice")
    assert match_answer(gold, financing, far, question) == ("incorrect", "named-choice")
    # Without the question, similarity decides as before.
    assert match_answer(gold, operations, far) == ("incorrect", "embedding-cosine")
