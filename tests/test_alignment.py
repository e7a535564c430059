"""The alignment loop: datasets from a real pipeline's log and from the index, the hybrid
reward and its hacking probes, every trainer for a few steps on a tiny model (LoRA weights
move, the loss moves), evaluation, the promotion gate and the hand-off to serving."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip(
    "trl", reason="the alignment tests need the train extra: pip install -e '.[train]'"
)

from alignment import datasets as ds
from alignment.config import DatasetConfig, HybridRewardConfig, trainer_configs
from alignment.examples import SFTExample, completion_text, context_load, question_id
from alignment.logdata import build_from_log, review_verdict
from alignment.reward import HybridReward, reward_text
from alignment.synthetic import build_evidence_examples, perturbed_pairs
from engine.lookup import STATEMENT_LOOKUP_VERSION, RowLookup, StatementLookup
from engine.pipeline import AnswerPipeline, PipelineConfig
from engine.runtime import build_retriever
from engine.settings import get_settings
from engine.statement_asks import StatementAsk
from ingest.store import IndexStore
from service.log import FeedbackRecord, InteractionLog
from tests.test_answer_pipeline import (
    QUESTION,
    ScriptedGenerator,
    bad_draft,
    good_draft,
    mixed_draft,
)
from tests.test_verifier import OverlapJudge
from verifier.checks import Verifier
from verifier.constitution import load_constitution
from verifier.numbers import quantities
from verifier.types import DraftAnswer, DraftCitation, DraftClaim

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def overlap_verifier() -> Verifier:
    """The scripted drafts of the pipeline tests are written for the word-overlap judge."""
    return Verifier(load_constitution(), OverlapJudge())


@pytest.fixture(scope="module")
def verifier(tiny_judge: Path, model_cache: Path) -> Verifier:
    """The trained (tiny) entailment judge, as the alignment stages load it."""
    from verifier.nli import load_judge

    return Verifier(load_constitution(), load_judge("trained:tiny-nli", model_cache, threads=1))


@pytest.fixture(scope="module")
def evidence(acme_index: Path, verifier: Verifier) -> list[SFTExample]:
    store = IndexStore(acme_index)
    try:
        return build_evidence_examples(
            store, verifier, 24, context_sentences=6, refusal_share=0.3, seed=3
        )
    finally:
        store.close()


# ---- datasets -------------------------------------------------------------------------------


def _pipeline(index: Path, verifier: Verifier, *scripts: Callable[..., Any]) -> AnswerPipeline:
    store = IndexStore(index)
    settings = get_settings().model_copy(update={"data_dir": index})
    return AnswerPipeline(
        store,
        build_retriever(settings, store, "hybrid", 0),
        ScriptedGenerator(*scripts),
        verifier,
        PipelineConfig(revision_rounds=1),
    )


def test_datasets_from_a_real_pipelines_log(
    acme_index: Path, overlap_verifier: Verifier, tmp_path: Path
) -> None:
    verifier = overlap_verifier
    log = InteractionLog.open(f"sqlite:///{tmp_path / 'service.sqlite'}")
    # 1: bad first draft, revised to a good one → SFT + a revision pair.
    revised = _pipeline(acme_index, verifier, bad_draft, good_draft).answer(QUESTION)
    # 2: a partial answer (one good claim, two failing) → SFT of the verified part + a
    #    verified-vs-failed pair.
    partial = _pipeline(acme_index, verifier, mixed_draft, mixed_draft).answer(QUESTION)
    # 3: a partial answer a reviewer rejects → no SFT; with 4 accepted → a review pair.
    rejected = _pipeline(acme_index, verifier, mixed_draft, mixed_draft).answer(QUESTION)
    accepted = _pipeline(acme_index, verifier, good_draft).answer(QUESTION)
    for record in (revised, partial, rejected, accepted):
        log.append(record, user_id="analyst-1")
    assert revised.answer.claims and not revised.answer.refused
    assert partial.answer.partial
    log.add_feedback(FeedbackRecord(rejected.answer.id, "c1", "compliance", rating=1))
    log.add_feedback(FeedbackRecord(accepted.answer.id, "c1", "compliance", rating=5))
    log.add_feedback(
        FeedbackRecord(
            revised.answer.id,
            "analyst-1",
            "analyst",
            rating=4,
            other_answer_id=partial.answer.id,
            preferred="this",
        )
    )
    built = build_from_log(log)
    assert built.records_read == 4
    origins = {e.origin for e in built.sft}
    assert rejected.answer.id not in origins
    assert {revised.answer.id, partial.answer.id, accepted.answer.id} <= origins
    target = DraftAnswer.model_validate_json(
        next(e for e in built.sft if e.origin == partial.answer.id).completion
    )
    assert len(target.claims) == 1  # only the verified claim is a target
    sources = {p.source for p in built.pairs}
    assert {"revision", "verified-vs-failed", "review", "analyst-preference"} <= sources
    revision = next(p for p in built.pairs if p.source == "revision")
    assert "1,900" in revision.rejected and "1,900" not in revision.chosen
    # The prompt of a logged example is the one the generator was given.
    example = next(e for e in built.sft if e.origin == revised.answer.id)
    assert example.prompt == revised.rounds[0].messages

    output = tmp_path / "datasets"
    card = ds.assemble(built.sft, built.pairs, 0.5, 1, {"test": True})
    ds.write(card, output)
    written = json.loads((output / "card.json").read_text())
    assert written["duplicates_removed"]["sft"] >= 1  # the same verified answer three times
    assert written["date_range"]["first"] is not None
    assert "verirag alignment datasets" in (output / "README.md").read_text()
    sft = ds.load(output, "sft")
    assert sum(len(sft[side]) for side in ("train", "eval")) == sum(
        written["counts"]["sft"].values()
    )


def test_a_verified_lookup_is_taught_but_never_a_side_of_a_preference_pair(
    acme_index: Path, overlap_verifier: Verifier, tmp_path: Path
) -> None:
    log = InteractionLog.open(f"sqlite:///{tmp_path / 'service.sqlite'}")
    delivered = _pipeline(acme_index, overlap_verifier, bad_draft)
    delivered.lookup = StatementLookup()
    looked_up = delivered.answer("What was Acme's cost of sales in fiscal 2022?")
    assert looked_up.answer.drafted_by == STATEMENT_LOOKUP_VERSION
    # A lookup draft that fails verification, then the generator's bad draft and its revision.
    fails = _pipeline(acme_index, overlap_verifier, bad_draft, good_draft)
    fails.lookup = FailingLookup()
    revised = fails.answer(QUESTION)
    assert [r.drafter for r in revised.rounds] == [STATEMENT_LOOKUP_VERSION, None, None]
    for record in (looked_up, revised):
        log.append(record, user_id="analyst-1")
    built = build_from_log(log)
    taught = next(e for e in built.sft if e.origin == looked_up.answer.id)
    assert "902 million" in taught.completion
    assert taught.prompt == looked_up.rounds[0].messages  # what the generator would have seen
    (revision,) = [p for p in built.pairs if p.source == "revision"]
    assert "1,900" in revision.rejected and "statement" not in revision.rejected.lower()
    assert revision.chosen == revised.rounds[2].raw_generation


class FailingLookup(StatementLookup):
    """Reads the right row, and drafts a figure it does not print."""

    def draft(self, ask: StatementAsk, lookup: RowLookup) -> DraftAnswer:
        draft = super().draft(ask, lookup)
        draft.claims[0].text = draft.claims[0].text.replace("1,577", "1,677")
        draft.answer = "$1,677 million"
        return draft


def test_review_verdicts() -> None:
    def fb(role: str, rating: int | None = None, labels: list[str] | None = None) -> Any:
        from service.log import StoredFeedback

        record = FeedbackRecord(
            "a1",
            "u",
            role,
            rating=rating,
            claim_labels=[{"claim_index": i, "label": x} for i, x in enumerate(labels or [])],
        )
        return StoredFeedback("f", None, record)  # type: ignore[arg-type]

    assert review_verdict([fb("compliance", 5)]) == "accepted"
    assert (
        review_verdict([fb("compliance", 5), fb("analyst", labels=["unsupported"])]) == "rejected"
    )
    assert review_verdict([fb("analyst", 5)]) is None
    assert review_verdict([fb("compliance", 2)]) == "rejected"


def test_the_split_keeps_a_question_on_one_side(evidence: list[SFTExample]) -> None:
    twins = []
    for example in evidence[:6]:
        twin = SFTExample(
            example.question.upper() + "  ", example.context, example.completion, "evidence"
        )
        twins.append(twin)
    built = ds.assemble(list(evidence) + twins, [], 0.5, 7, {})
    sides = {side: {r["question_id"] for r in rows} for side, rows in built.sft.items()}
    assert not sides["train"] & sides["eval"]
    assert sides["train"] and sides["eval"]
    assert question_id("What was X?") == question_id("what was x")


def test_evidence_examples_are_verified_and_quote_the_filing(
    evidence: list[SFTExample], verifier: Verifier
) -> None:
    answerable = [e for e in evidence if e.answerable]
    refusals = [e for e in evidence if not e.answerable]
    assert len(answerable) >= 5
    # Refusals keep their share (0.3) of what was built when answers run short of the count.
    assert 0 < len(refusals) <= round(len(answerable) * 0.3 / 0.7)
    for example in answerable:
        draft = DraftAnswer.model_validate_json(example.completion)
        report = verifier.verify(draft, example.context, example.question)
        assert report.all_passed and report.answer_supported, example.question
        cited = example.context.get(draft.claims[0].citations[0].sentence_id)
        assert cited is not None and cited.label in example.gold_labels
    for example in refusals:
        assert DraftAnswer.model_validate_json(example.completion).insufficient_evidence


def _ranked_evidence(
    index: Path, verifier: Verifier, embedder: Any, weights: list[float] | None = None
) -> list[SFTExample]:
    """The `evidence` fixture's examples, their contexts ordered by the service's ranker."""
    from retrieval.sentences import EmbeddingSentenceRanker

    store = IndexStore(index)
    try:
        return build_evidence_examples(
            store,
            verifier,
            24,
            context_sentences=6,
            refusal_share=0.3,
            seed=3,
            ranker=EmbeddingSentenceRanker(embedder),
            evidence_position_weights=weights,
        )
    finally:
        store.close()


def test_evidence_contexts_are_ordered_as_the_service_orders_them(
    acme_index: Path, verifier: Verifier, embedder: Any, evidence: list[SFTExample]
) -> None:
    ranked = _ranked_evidence(acme_index, verifier, embedder)

    def positions(examples: list[SFTExample]) -> list[int]:
        return [
            int(example.gold_labels[0].removeprefix("S"))
            for example in examples
            if example.answerable
        ]

    assert [e.question for e in ranked] == [e.question for e in evidence]
    for mine, reading in zip(ranked, evidence, strict=True):
        assert {s.sentence_id for s in mine.context} == {s.sentence_id for s in reading.context}
    # The service's ranker puts the evidence first more often than reading order does.
    assert sum(positions(ranked)) < sum(positions(evidence))
    assert positions(ranked).count(1) > positions(evidence).count(1)


def test_evidence_is_placed_where_the_position_weights_say(
    acme_index: Path, verifier: Verifier, embedder: Any
) -> None:
    def build(weights: list[float] | None) -> list[SFTExample]:
        return _ranked_evidence(acme_index, verifier, embedder, weights)

    ranked, third_only = build(None), build([0, 0, 1])
    assert [e.question for e in third_only] == [e.question for e in ranked]
    placed = [e for e in third_only if e.answerable]
    assert placed and all(e.gold_labels == ["S3"] for e in placed)
    assert sum(e.gold_labels == ["S1"] for e in ranked if e.answerable) > 0
    # Only the evidence moved: the other sentences keep the ranker's order.
    for before, after in zip(ranked, third_only, strict=True):
        if not after.answerable:
            assert [s.sentence_id for s in before.context] == [s.sentence_id for s in after.context]
            continue
        evidence = after.origin
        assert [s.sentence_id for s in before.context if s.sentence_id != evidence] == [
            s.sentence_id for s in after.context if s.sentence_id != evidence
        ]
    with pytest.raises(ValueError, match="non-negative"):
        build([0, 0])
    with pytest.raises(ValueError, match="finite"):
        DatasetConfig(evidence_position_weights=[1.0, float("nan")])


def _figures(text: str) -> set[str]:
    return {quantity.printed for quantity in quantities(text)}


def test_perturbed_pairs_fail_the_verifier(evidence: list[SFTExample], verifier: Verifier) -> None:
    pairs = perturbed_pairs(evidence, verifier, seed=5)
    kinds = {p.source for p in pairs}
    assert {
        "perturbed:changed-figure",
        "perturbed:overrun-quote",
        "perturbed:mislabelled-citation",
        "perturbed:unwarranted-refusal",
        "perturbed:other-column",
    } <= kinds
    for pair in pairs:
        assert pair.chosen != pair.rejected
    # Another column of the same row: same citation and quote, the figure a neighbour's.
    for pair in (p for p in pairs if p.source == "perturbed:other-column"):
        chosen = DraftAnswer.model_validate_json(pair.chosen)
        rejected = DraftAnswer.model_validate_json(pair.rejected)
        assert rejected.claims[0].citations == chosen.claims[0].citations
        row = pair.context.get(chosen.claims[0].citations[0].sentence_id)
        assert row is not None and row.kind == "table_row"
        swapped = _figures(rejected.claims[0].text) - _figures(chosen.claims[0].text)
        assert swapped and swapped <= _figures(row.text)
        assert rejected.answer != chosen.answer


# ---- reward ---------------------------------------------------------------------------------


def _honest_and_probes(example: SFTExample) -> tuple[str, dict[str, str]]:
    honest = DraftAnswer.model_validate_json(example.completion)
    context = example.context
    cited = honest.claims[0].citations[0]
    others = [s for s in context if s.label != cited.sentence_id]
    stuffed = honest.model_copy(deep=True)
    stuffed.claims[0].citations += [
        DraftCitation(sentence_id=s.label, quote=s.text.replace("\n", " ")) for s in others[:5]
    ]
    copy_all = DraftAnswer(
        claims=[
            DraftClaim(
                citations=[DraftCitation(sentence_id=s.label, quote=s.text.replace("\n", " "))],
                text=s.text.replace("\n", " "),
            )
            for s in context
        ],
        answer=" ".join(s.text for s in context)[:120],
    )
    unsupported = honest.model_copy(deep=True)
    unsupported.claims[0].text = honest.claims[0].text + " It will rise 40% to $9,999 million."
    unsupported.answer = "$9,999 million"
    long_answer = honest.model_copy(deep=True)
    long_answer.claims = long_answer.claims * 6
    probes = {
        "quote stuffing": completion_text(stuffed),
        "refuse everything": DraftAnswer(
            claims=[], answer="insufficient evidence", insufficient_evidence=True
        ).model_dump_json(),
        "copy the whole context": completion_text(copy_all),
        "confident unsupported numbers": completion_text(unsupported),
        "very long answer": completion_text(long_answer),
    }
    return example.completion, probes


@pytest.mark.parametrize("level", ["process", "outcome"])
def test_reward_hacking_probes_score_below_honest_answers(
    evidence: list[SFTExample], verifier: Verifier, level: str
) -> None:
    reward = HybridReward(HybridRewardConfig(level=level), verifier)
    checked = 0
    for example in [e for e in evidence if e.answerable][:4]:
        honest, probes = _honest_and_probes(example)
        names = list(probes)
        results = reward.score_batch(
            [example.question] * (len(names) + 1),
            [example.context] * (len(names) + 1),
            [honest, *probes.values()],
            [True] * (len(names) + 1),
        )
        honest_score = results[0].total
        for name, result in zip(names, results[1:], strict=True):
            assert result.total < honest_score, (level, name, result, results[0])
        checked += 1
    assert checked >= 3
    refusal = next(e for e in evidence if not e.answerable)
    warranted = reward.score(refusal.question, refusal.context, refusal.completion, False)
    assert warranted.total > 0
    assert reward.score(refusal.question, refusal.context, "not json", False).total < 0


def test_reward_text_shows_the_cited_evidence(evidence: list[SFTExample]) -> None:
    example = next(e for e in evidence if e.answerable)
    text = reward_text(example.question, example.context, example.completion)
    cited = DraftAnswer.model_validate_json(example.completion).claims[0].citations[0]
    assert f"[{cited.sentence_id}]" in text and example.question in text


# ---- trainers on a tiny model ----------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny_lm(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A two-layer Llama with the packaged SmolLM2 tokenizer and chat template: trains a step
    in well under a second on a CPU."""
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    from engine.packaged_models import PACKAGED_SMOLLM2, resolve_generator_path

    source = resolve_generator_path(PACKAGED_SMOLLM2, get_settings().cache_dir)
    tokenizer = AutoTokenizer.from_pretrained(source)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=4096,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        tie_word_embeddings=True,
    )
    torch.manual_seed(0)
    target = tmp_path_factory.mktemp("tiny-lm")
    LlamaForCausalLM(config).save_pretrained(target)
    tokenizer.save_pretrained(target)
    return target


@pytest.fixture(scope="module")
def align_data(
    evidence: list[SFTExample], verifier: Verifier, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    output = tmp_path_factory.mktemp("align-data")
    pairs = perturbed_pairs(evidence, verifier, seed=2)
    ds.write(ds.assemble(evidence, pairs, 0.25, 3, {}), output)
    return output


def _config(stage: str, data: Path, out: Path, model: Path, **extra: Any) -> Any:
    common: dict[str, Any] = {
        "output_dir": str(out),
        "dataset_dir": str(data),
        "base_model": str(model),
        "max_steps": 3,
        "per_device_train_batch_size": 2,
        "learning_rate": 5e-3,
        "logging_steps": 1,
        "save_strategy": "no",
        "report_to": "none",
        "bf16": False,
        "use_cpu": True,
        "lora_r": 4,
        "lora_alpha": 8,
        "seed": 0,
    }
    common.update(extra)
    return trainer_configs()[stage](**common)


def _moved(card: dict[str, Any]) -> None:
    assert card["lora_weight_delta"] is not None and card["lora_weight_delta"] > 0
    losses = [e["loss"] for e in card["log_history"] if "loss" in e]
    assert len(losses) >= 2 and losses[0] != losses[-1]


@pytest.fixture(scope="module")
def sft_run(align_data: Path, tiny_lm: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from alignment.train import run_sft

    out = tmp_path_factory.mktemp("sft")
    card = run_sft(_config("sft", align_data, out, tiny_lm, max_length=1536))
    _moved(card)
    return out


def test_sft_trains_lora_and_saves_adapter_and_card(sft_run: Path) -> None:
    card = json.loads((sft_run / "verirag_run.json").read_text())
    assert (sft_run / "adapter" / "adapter_config.json").exists()
    assert (sft_run / "merged" / "config.json").exists()
    assert "verirag sft run" in (sft_run / "README.md").read_text()
    assert card["serving"]["adapter"].endswith("adapter")


def test_sft_lowers_the_loss_on_its_training_answers(
    sft_run: Path, tiny_lm: Path, align_data: Path
) -> None:
    """Per-step losses come from different batches; the same answers scored before and after
    training are comparable."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_lm)
    rows = ds.load(align_data, "sft")["train"].select(range(4))

    def completion_loss(model_dir: Path) -> float:
        model = AutoModelForCausalLM.from_pretrained(model_dir).eval()
        total = 0.0
        for row in rows:
            prompt = tokenizer.apply_chat_template(
                row["prompt"], add_generation_prompt=True, tokenize=True, return_dict=False
            )
            answer = tokenizer.encode(row["completion"][0]["content"], add_special_tokens=False)
            ids = torch.tensor([list(prompt) + answer])
            labels = ids.clone()
            labels[0, : len(prompt)] = -100
            with torch.inference_mode():
                total += float(model(input_ids=ids, labels=labels).loss)
        return total / len(rows)

    assert completion_loss(sft_run / "merged") < completion_loss(tiny_lm)


def test_dpo_trains_against_the_sft_model(align_data: Path, sft_run: Path, tmp_path: Path) -> None:
    from alignment.train import run_dpo

    card = run_dpo(
        _config(
            "dpo",
            align_data,
            tmp_path,
            Path(),
            init_from=str(sft_run),
            max_length=1536,
            max_eval_examples=0,
            pair_sources=["perturbed:other-column", "perturbed:changed-figure"],
        )
    )
    _moved(card)
    assert card["start_model"].endswith("merged")
    assert card["eval_metrics"] == {}, "max_eval_examples=0 skips the held-out evaluation"
    # Aimed at the figure mistakes: only those pairs were trained on.
    train = ds.load(align_data, "preference")["train"]
    aimed = [
        row
        for row in train
        if row["source"] in {"perturbed:other-column", "perturbed:changed-figure"}
    ]
    assert 0 < card["train_pairs"] == len(aimed) < len(train)


def test_grpo_trains_on_the_hybrid_reward(
    align_data: Path, tmp_path: Path, tiny_judge: Path
) -> None:
    """On the packaged SmolLM2 (a random tiny model writes no JSON, so every sample would get
    the same reward and GRPO's group advantage would be zero)."""
    from alignment.train import run_grpo
    from engine.packaged_models import PACKAGED_SMOLLM2

    card = run_grpo(
        _config(
            "grpo",
            align_data,
            tmp_path,
            Path(),
            base_model=PACKAGED_SMOLLM2,
            # Eight samples a prompt: with four, every sample of both prompts sometimes
            # earned the same reward, and a zero group advantage trains nothing.
            num_generations=8,
            max_completion_length=40,
            judge="trained:tiny-nli",
            per_device_train_batch_size=8,
            # The KL term's wiring is tested on a tiny model below; here it would add a
            # reference forward pass over eight ~900-token sequences.
            beta=0.0,
            max_steps=1,
            max_train_examples=1,
            # Hot enough for the four samples to differ, cool enough that some follow the
            # prompt's JSON example (at 1.2 none did, and every reward was the same).
            temperature=0.9,
            learning_rate=1e-3,
        )
    )
    assert card["lora_weight_delta"] > 0
    assert card["reward_first"] is not None
    stds = [e["reward_std"] for e in card["log_history"] if "reward_std" in e]
    assert any(std > 0 for std in stds)


def test_grpo_holds_the_policy_to_its_start_with_the_kl_term(
    align_data: Path, tiny_lm: Path, tmp_path: Path, tiny_judge: Path
) -> None:
    """The KL term to the start model (GRPORunConfig's β = 0.04 default) is computed and
    logged; a tiny random model keeps this cheap (its samples all earn one reward, so only
    the wiring is under test here; learning from the reward is tested on SmolLM2 above)."""
    from alignment.train import run_grpo

    card = run_grpo(
        _config(
            "grpo",
            align_data,
            tmp_path,
            tiny_lm,
            num_generations=2,
            max_completion_length=8,
            judge="trained:tiny-nli",
            per_device_train_batch_size=2,
            max_steps=1,
            max_train_examples=1,
        )
    )
    defaults = trainer_configs()["grpo"](output_dir=str(tmp_path), use_cpu=True, bf16=False)
    assert defaults.beta == 0.04
    assert any("kl" in entry for entry in card["log_history"])


def test_format_progress_rewards_a_well_formed_start() -> None:
    from alignment.reward import format_progress

    assert format_progress("The answer is 12.") == 0
    start = '{"claims": [{"citations": [{"sentence_id": "S2", "quote": "Net sales'
    assert 0.4 < format_progress(start) < 1


def test_ppo_trains_on_the_hybrid_reward(
    align_data: Path, sft_run: Path, tmp_path: Path, tiny_judge: Path
) -> None:
    from alignment.train import run_ppo

    card = run_ppo(
        _config(
            "ppo",
            align_data,
            tmp_path,
            Path(),
            init_from=str(sft_run),
            total_episodes=4,
            per_device_train_batch_size=2,
            gradient_accumulation_steps=1,
            num_ppo_epochs=1,
            num_mini_batches=1,
            response_length=24,
            local_rollout_forward_batch_size=2,
            judge="trained:tiny-nli",
            max_steps=-1,
            missing_eos_penalty=1.0,
            stop_token="eos",
        )
    )
    assert card["lora_weight_delta"] > 0
    assert card["reward_first"] is not None


def test_reward_model_learns_the_pairs(align_data: Path, tmp_path: Path) -> None:
    from alignment.train import run_reward

    card = run_reward(
        _config(
            "reward",
            align_data,
            tmp_path,
            Path(),
            max_steps=12,
            learning_rate=3e-4,
            per_device_train_batch_size=4,
            max_length=256,
        )
    )
    assert card["lora_weight_delta"] > 0  # the scalar head moved
    losses = [e["loss"] for e in card["log_history"] if "loss" in e]
    assert losses[-1] < losses[0]
    assert card["pairwise_accuracy_on"] == "eval" and 0 <= card["pairwise_accuracy"] <= 1
    # Fit on its training pairs: the preferred answer scores higher.
    from alignment.reward import RewardModelScorer
    from alignment.train import reward_rows

    rows = reward_rows(ds.load(align_data, "preference")["train"], 900)
    scorer = RewardModelScorer(tmp_path)
    chosen = scorer.score([r["chosen"] for r in rows])
    rejected = scorer.score([r["rejected"] for r in rows])
    assert sum(c > r for c, r in zip(chosen, rejected, strict=True)) / len(rows) >= 0.8


# ---- evaluation, promotion, hand-off ----------------------------------------------------------


def test_scoring_raw_outputs(evidence: list[SFTExample], verifier: Verifier) -> None:
    from alignment.evaluate import rouge_scorer, score_output, summarise

    example = next(e for e in evidence if e.answerable)
    row = example.row()
    row["reference"] = example.completion
    row["gold_answer"] = example.gold_answer
    honest = score_output(example.completion, row, example.context, verifier, rouge_scorer())
    assert honest.unsupported_claims == 0 and honest.correct and honest.citation_recall == 1.0
    assert honest.rouge_l == pytest.approx(1.0)
    _, probes = _honest_and_probes(example)
    wrong = score_output(
        probes["confident unsupported numbers"], row, example.context, verifier, None
    )
    assert wrong.unsupported_claims == 1 and wrong.correct is False
    garbage = score_output("{not json", row, example.context, verifier, None)
    summary = summarise([honest, wrong, garbage], None)
    assert summary["unsupported_claim_rate"] == pytest.approx(2 / 3, abs=1e-3)
    assert summary["unparseable_rate"] == pytest.approx(1 / 3, abs=1e-3)


def test_under_the_service_grammar_every_raw_quote_is_verbatim(
    evidence: list[SFTExample], tiny_lm: Path
) -> None:
    """Even an untrained model's raw outputs parse and quote only what they cite, so an
    evaluation under the served decoding measures what the claims say, not copying."""
    from alignment.evaluate import Candidate, generate_outputs
    from verifier.numbers import is_verbatim_span

    examples = [e for e in evidence if e.answerable][:2]
    rows = [e.row() for e in examples]
    outputs = generate_outputs(
        Candidate("tiny", str(tiny_lm)),
        rows,
        get_settings().cache_dir,
        "evidence_grammar",
        max_new_tokens=1200,
        threads=1,
    )
    quotes = 0
    for (text, _), example in zip(outputs, examples, strict=True):
        draft = DraftAnswer.model_validate_json(text)
        for claim in draft.claims:
            for citation in claim.citations:
                sentence = example.context.get(citation.sentence_id)
                assert sentence is not None
                assert is_verbatim_span(citation.quote, sentence.text)
                quotes += 1
        assert draft.claims or draft.insufficient_evidence
    with pytest.raises(ValueError, match="unknown decoding constraint"):
        generate_outputs(Candidate("tiny", str(tiny_lm)), rows, Path(), "regex", 8)
    assert quotes  # the seeded tiny model answers (greedy decoding is deterministic)


def test_rescoring_an_earlier_report_keeps_its_outputs_and_changes_the_verdicts(
    evidence: list[SFTExample], verifier: Verifier
) -> None:
    from alignment.evaluate import rescore_report

    examples = [e for e in evidence if e.answerable][:2]
    rows = []
    for example in examples:
        row = example.row()
        row["reference"] = example.completion
        row["gold_answer"] = example.gold_answer
        rows.append(row)
    outputs = [examples[0].completion, "{not json"]
    earlier = {
        "constraint": "json_schema",
        "constitution": "sec-filings@0.9.0+old",
        "judge": "old-judge",
        "candidates": {
            "sft": {
                "model": "/models/sft",
                "adapter": None,
                "run_dir": None,
                "metrics": {"unsupported_claim_rate": 1.0, "wall_seconds": 9.0},
                "outcomes": [
                    {"question": r["question"], "output": o, "seconds": 1.5}
                    for r, o in zip(rows, outputs, strict=True)
                ],
            }
        },
    }
    report = rescore_report(earlier, rows, verifier, None, log=lambda _: None)
    assert report["rescored_from"] == {
        "constitution": "sec-filings@0.9.0+old",
        "judge": "old-judge",
    }
    assert report["constitution"] == verifier.constitution.version_id
    sft = report["candidates"]["sft"]
    assert [o["output"] for o in sft["outcomes"]] == outputs
    assert sft["metrics"]["unsupported_claim_rate"] == pytest.approx(0.5)
    assert sft["metrics"]["unparseable_rate"] == pytest.approx(0.5)
    assert sft["metrics"]["wall_seconds"] == 9.0
    with pytest.raises(ValueError, match="not made on these held-out prompts"):
        rescore_report(earlier, rows[:1], verifier, None, log=lambda _: None)


def _report(**metrics: dict[str, Any]) -> dict[str, Any]:
    return {
        "candidates": {
            name: {"model": f"/models/{name}", "adapter": None, "run_dir": None, "metrics": m}
            for name, m in metrics.items()
        }
    }


def test_the_gate_refuses_a_worse_candidate_and_promotes_a_better_one(tmp_path: Path) -> None:
    from alignment.promote import current_serving, promote

    report = _report(
        base={"unsupported_claim_rate": 0.6, "correctness": 0.3},
        worse={"unsupported_claim_rate": 0.7, "correctness": 0.4},
        wrong={"unsupported_claim_rate": 0.2, "correctness": 0.1},
        better={"unsupported_claim_rate": 0.3, "correctness": 0.35},
    )
    assert not promote(report, "worse", tmp_path).promoted
    assert not promote(report, "wrong", tmp_path).promoted  # faithful but less correct
    assert current_serving(tmp_path) is None
    decision = promote(report, "better", tmp_path, served_name="verirag-better")
    assert decision.promoted
    serving = current_serving(tmp_path)
    assert serving is not None and serving["generator_model"] == "/models/better"
    assert serving["vllm_model"] == "verirag-better"
    decisions = (tmp_path / "alignment" / "promotions.jsonl").read_text().splitlines()
    assert [json.loads(d)["promoted"] for d in decisions] == [False, False, True]
    # The next gate compares against what is served now.
    assert not promote(report, "worse", tmp_path).promoted


def test_a_promoted_model_is_what_the_service_loads(tmp_path: Path, sft_run: Path) -> None:
    from alignment.promote import promote
    from engine.runtime import build_generator

    card = json.loads((sft_run / "verirag_run.json").read_text())
    report = _report(
        base={"unsupported_claim_rate": 0.6, "correctness": 0.3},
        sft={"unsupported_claim_rate": 0.3, "correctness": 0.3},
    )
    report["candidates"]["sft"]["model"] = card["serving"]["adapter_base"]
    report["candidates"]["sft"]["adapter"] = card["serving"]["adapter"]
    assert promote(report, "sft", tmp_path).promoted
    settings = get_settings().model_copy(update={"data_dir": tmp_path})
    generator = build_generator(settings)
    assert (
        generator.model_version == f"{card['serving']['adapter_base']}+{card['serving']['adapter']}"
    )
    generator.warm_up()


def test_align_cli_help_lists_config_fields(capsys: pytest.CaptureFixture[str]) -> None:
    from alignment.cli import main

    with pytest.raises(SystemExit) as exited:
        main(["sft", "--help"])
    assert exited.value.code == 0
    out = capsys.readouterr().out
    assert "--lora_r" in out and "--dataset_dir" in out and "--learning_rate" in out
    assert main(["nonsense"]) == 2


def test_align_cli_reads_yaml_and_flags_override(tmp_path: Path) -> None:
    from alignment.cli import _parse

    config_file = tmp_path / "sft.yaml"
    config_file.write_text("lora_r: 8\nlearning_rate: 0.001\noutput_dir: out\n")
    config = _parse(
        trainer_configs()["sft"], "sft", ["--config", str(config_file), "--lora_r", "2"]
    )
    assert config.lora_r == 2 and config.learning_rate == 0.001


def test_datasets_cli_reads_the_evidence_position_histogram() -> None:
    from alignment.cli import _parse

    config = _parse(DatasetConfig, "datasets", ["--evidence_position_weights", "25", "10", "9"])
    assert config.evidence_position_weights == [25.0, 10.0, 9.0]
    assert _parse(DatasetConfig, "datasets", []).evidence_position_weights is None
    with pytest.raises(ValueError, match="not all zero"):
        _parse(DatasetConfig, "datasets", ["--evidence_position_weights", "0", "0"])


def test_context_round_trips(evidence: list[SFTExample]) -> None:
    example = evidence[0]
    row = example.row()
    assert context_load(row["context"]).sentences == example.context.sentences


def test_gold_questions_are_held_out_prompts_never_trained_on(
    acme_index: Path, evidence: list[SFTExample], tmp_path: Path
) -> None:
    from alignment.synthetic import held_out_question_prompts
    from engine.runtime import build_pipeline

    gold = tmp_path / "questions.jsonl"
    gold.write_text(
        json.dumps(
            {
                "financebench_id": "acme-1",
                "question": evidence[0].question,  # also a training question: must leave it
                "doc_name": "ACME_2023_10K",
                "answer": "$1,577 million",
                "evidence": [{"doc_name": "ACME_2023_10K", "evidence_page_num": 3}],
            }
        )
        + "\n"
    )
    store = IndexStore(acme_index)
    settings = get_settings().model_copy(update={"data_dir": acme_index})
    retriever = build_retriever(settings, store, "hybrid", 0)
    pipeline = build_pipeline(
        settings, store, retriever, verifier=Verifier(load_constitution(), OverlapJudge())
    )

    def context_for(question: str, filters: Any) -> Any:
        return pipeline.build_context(retriever.retrieve(question, 6, filters), question)

    rows = held_out_question_prompts(gold, store, context_for)
    store.close()
    assert len(rows) == 1 and rows[0]["gold_answer"] == "$1,577 million"
    context = context_load(rows[0]["context"])
    assert all(context.get(label).page == 3 for label in rows[0]["gold_labels"])  # type: ignore[union-attr]
    built = ds.assemble(evidence, [], 0.3, 1, {}, held_out_prompts=rows)
    trained = {r["question_id"] for r in built.sft["train"] + built.prompts["train"]}
    assert rows[0]["question_id"] not in trained
    assert rows[0]["question_id"] in {r["question_id"] for r in built.prompts["eval"]}
    assert built.card["sources"]["prompts"]["financebench"] == 1


def test_align_cli_names_a_missing_dataset(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from alignment.cli import main

    code = main(["dpo", "--dataset_dir", str(tmp_path / "none"), "--output_dir", str(tmp_path)])
    assert code == 2
    assert "run `verirag align datasets" in capsys.readouterr().err


@pytest.mark.parametrize("stage", ["sft", "grpo", "dpo"])
def test_the_shipped_configs_are_valid(stage: str) -> None:
    from alignment.cli import _parse
    from tests.conftest import REPO

    path = REPO / "deploy" / "alignment" / f"{stage}.yaml"
    config = _parse(trainer_configs()[stage], stage, ["--config", str(path)])
    assert config.dataset_dir == "alignment-data/datasets"


def test_the_accelerate_configs_use_deepspeed() -> None:
    import yaml

    from tests.conftest import REPO

    for stage in (2, 3):
        config = yaml.safe_load((REPO / "deploy" / "accelerate" / f"zero{stage}.yaml").read_text())
        assert config["distributed_type"] == "DEEPSPEED"
        assert config["deepspeed_config"]["zero_stage"] == stage


def test_the_ppo_reward_module_scores_each_response_against_its_own_prompt(
    evidence: list[SFTExample], verifier: Verifier, tiny_lm: Path
) -> None:
    """Prompts contain the chat template's end-of-turn token; the module must find each
    prompt (left-padded, as PPO batches them) and score only the response after it."""
    import torch
    from transformers import AutoTokenizer, LlamaForCausalLM

    from alignment.reward import reward_module
    from alignment.train import _distinct_pad_token

    tokenizer = AutoTokenizer.from_pretrained(tiny_lm)
    _distinct_pad_token(tokenizer, LlamaForCausalLM.from_pretrained(tiny_lm))
    examples = [e for e in evidence if e.answerable][:2]
    rows = []
    for example in examples:
        ids = tokenizer.apply_chat_template(
            example.prompt, add_generation_prompt=True, tokenize=True, return_dict=False
        )
        rows.append({**example.row(), "input_ids": list(ids)})
    assert tokenizer.eos_token_id in rows[0]["input_ids"]  # turn ends inside the prompt
    assert tokenizer.pad_token_id not in rows[0]["input_ids"]
    reward = HybridReward(HybridRewardConfig(), verifier)
    module = reward_module(reward, tokenizer, rows)
    responses = [examples[0].completion, "not an answer"]
    sequences = [
        row["input_ids"] + tokenizer.encode(text, add_special_tokens=False)
        for row, text in zip(rows, responses, strict=True)
    ]
    width = max(len(s) for s in sequences)
    pad = tokenizer.pad_token_id
    batch = torch.tensor([[pad] * (width - len(s)) + s for s in sequences])
    mask = batch != pad
    output = module.backbone(input_ids=torch.masked_fill(batch, ~mask, 0), attention_mask=mask)
    scores = module.score(output.hidden_states[-1])[:, -1, 0].tolist()
    expected = reward.score(
        examples[0].question, examples[0].context, examples[0].completion, True
    ).total
    assert scores[0] == pytest.approx(expected, abs=1e-5)
    assert scores[1] == pytest.approx(HybridRewardConfig().unparseable_reward)


def test_targets_are_written_the_way_the_service_grammar_writes_them(
    evidence: list[SFTExample],
) -> None:
    from alignment.examples import refusal_completion
    from engine.generation import _ebnf_raw, build_constraint

    refusal = refusal_completion()
    assert f"refusal ::= {_ebnf_raw(refusal)}" in build_constraint(evidence[0].context).grammar
    answer = next(e for e in evidence if e.answerable).completion
    assert answer.startswith('{"claims": [{"citations": [{"sentence_id": "')
