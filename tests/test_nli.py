"""The entailment judge: trained for real (tiny, in seconds), saved with its card, loaded by
name, and scoring clear entailments above clear contradictions."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import pytest

from tests.conftest import nli_pairs
from verifier.errors import JudgeUnavailableError, TrainingDataError
from verifier.evaluate import balanced_accuracy, load_bench, roc_auc
from verifier.nli import (
    JUDGE_CARD,
    UNREADABLE_SCORE,
    load_judge,
    packaged_judge_directory,
    premise_windows,
    split_claim,
    support,
)
from verifier.training import JudgeTrainingConfig, load_nli_pairs, train_judge


def test_training_changes_the_weights_and_lowers_the_loss(tmp_path: Path) -> None:
    import torch
    from transformers import AutoModelForSequenceClassification

    from ingest.embedding import resolve_model_path

    card = train_judge(
        JudgeTrainingConfig(epochs=2, batch_size=16, max_tokens=64, learning_rate=1e-4, threads=1),
        nli_pairs(seed=3, count=96),
        tmp_path / "judge",
        log=lambda _: None,
    )
    assert card["training"]["last_loss"] < card["training"]["first_loss"]
    assert card["data"]["by_label"] == {"entailment": 32, "contradiction": 32, "neutral": 32}
    saved = json.loads((tmp_path / "judge" / JUDGE_CARD).read_text())
    assert saved["config"]["epochs"] == 2
    base = AutoModelForSequenceClassification.from_pretrained(
        resolve_model_path("packaged:all-MiniLM-L6-v2"), num_labels=3
    )
    trained = AutoModelForSequenceClassification.from_pretrained(tmp_path / "judge")
    layer = "bert.encoder.layer.0.attention.self.query.weight"
    assert not torch.equal(base.state_dict()[layer], trained.state_dict()[layer])


def test_the_trained_judge_separates_clear_pairs(tiny_judge: Path, model_cache: Path) -> None:
    judge = load_judge("trained:tiny-nli", model_cache)
    held_out = nli_pairs(seed=99, count=60)
    scores = judge.score([(p.premise, p.hypothesis) for p in held_out])
    entail = [s for s, p in zip(scores, held_out, strict=True) if p.label == "entailment"]
    contra = [s for s, p in zip(scores, held_out, strict=True) if p.label == "contradiction"]
    assert min(entail) > max(contra)
    assert judge.version.startswith("tiny-nli@")
    assert judge.threshold == 0.0  # from its card


def test_a_claim_too_long_for_the_judges_window_is_unsupported_not_an_error(
    tiny_judge: Path, model_cache: Path
) -> None:
    """A 1,500-term claim once made the tokenizer raise (it could not truncate the premise
    enough), which failed the whole answer with a 503; it is now simply not entailed."""
    judge = load_judge("trained:tiny-nli", model_cache)
    premise = "Net sales were $1,577 million in fiscal 2023."
    endless = "Net sales were " + " + ".join(["$1,577 million"] * 1500) + "."
    short = "Net sales were $1,577 million in fiscal 2023."
    long_score, short_score = judge.score([(premise, endless), (premise, short)])
    assert long_score == UNREADABLE_SCORE < judge.threshold
    assert short_score == judge.score([(premise, short)])[0]  # the other pair is judged as ever


def test_a_missing_judge_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(JudgeUnavailableError, match="verirag verifier train"):
        load_judge("trained:nothing-here", tmp_path)
    judge = load_judge(str(tmp_path / "not-a-model"), tmp_path)
    with pytest.raises(JudgeUnavailableError):
        judge.warm_up()


def test_the_packaged_judge_answers_without_training(model_cache: Path) -> None:
    """The default judge ships in the package as int8 ONNX: it loads with no training, no
    ../shared and no network, takes its threshold from its card, and tells restated filing
    facts from negated ones it never saw (a judge trained without ANLI's pairs scored these
    backwards, ROC-AUC 0.0, while its verifier-bench figures looked close: see its card)."""
    from verifier.nli import PACKAGED_JUDGE

    judge = load_judge(PACKAGED_JUDGE, model_cache, runtime="onnx-int8", threads=1)
    judge.warm_up()
    assert judge.version.startswith("minilm-nli@") and judge.version.endswith("+onnx-int8")
    card = json.loads((packaged_judge_directory() / JUDGE_CARD).read_text())
    assert judge.threshold == card["threshold"]
    pairs = [p for p in nli_pairs(seed=99, count=60) if p.label != "neutral"]
    scores = judge.score([(p.premise, p.hypothesis) for p in pairs])
    labels = [int(p.label == "entailment") for p in pairs]
    assert roc_auc(scores, labels) >= 0.75
    restated = sorted(s for s, y in zip(scores, labels, strict=True) if y)
    assert restated[len(restated) // 2] > judge.threshold
    with pytest.raises(JudgeUnavailableError, match="onnx-int8"):
        load_judge(PACKAGED_JUDGE, model_cache, runtime="torch")


def test_a_packaged_judge_scores_as_its_trained_weights_do_in_the_int8_runtime(
    tiny_judge: Path, model_cache: Path, tmp_path: Path
) -> None:
    from verifier.nli import CrossEncoderJudge, package_judge

    card = package_judge(tiny_judge, tmp_path / "shipped")
    assert card["packaged_from"].startswith("tiny-nli@") and card["runtime"] == "onnx-int8"
    assert not list((tmp_path / "shipped").glob("*.safetensors"))
    shipped = load_judge(str(tmp_path / "shipped"), tmp_path / "empty-cache", runtime="onnx-int8")
    exported = CrossEncoderJudge(
        str(tiny_judge), runtime="onnx-int8", cache_dir=model_cache, threads=1
    )
    pairs = [(p.premise, p.hypothesis) for p in nli_pairs(seed=7, count=12)]
    assert shipped.score(pairs) == pytest.approx(exported.score(pairs), abs=1e-6)
    # Nothing was exported into the shipped judge's cache: it runs the graph it carries.
    assert not (tmp_path / "empty-cache").exists()


def test_claims_are_split_and_premises_windowed() -> None:
    assert split_claim("Sales rose 5%. Margins fell to 30.5% in 2023.") == [
        "Sales rose 5%.",
        "Margins fell to 30.5% in 2023.",
    ]
    premise = " ".join(f"Sentence number {i} says something." for i in range(60))
    windows = premise_windows(premise, 200)
    assert all(len(w) <= 200 for w in windows) and len(windows) > 5
    assert "Sentence number 59" in windows[-1]


def test_a_claim_sentence_is_judged_on_the_windows_that_share_most_words_with_it() -> None:
    from verifier.nli import most_shared

    windows = [
        "The board met twice.",
        "Revenue was $2,410 million in fiscal 2020.",
        "Revenue and margins are discussed below.",
    ]
    sentence = "Acme's revenue was $2,410 million in fiscal 2020."
    assert most_shared(windows, sentence, 1) == [windows[1]]
    assert most_shared(windows, sentence, 2) == windows[1:]  # in reading order
    assert most_shared(windows, sentence, None) == windows


class _CountingJudge:
    """Scores a pair by word overlap and counts the pairs it is asked about."""

    threshold = 0.5
    version = "counting"

    def __init__(self) -> None:
        self.pairs: list[tuple[str, str]] = []

    def warm_up(self) -> None:
        pass

    def score(self, pairs: Sequence[tuple[str, str]]) -> list[float]:
        self.pairs.extend(pairs)
        return [len(set(p.split()) & set(h.split())) / len(set(h.split())) for p, h in pairs]


def test_support_scores_each_window_and_sentence_pair_once() -> None:
    judge = _CountingJudge()
    premise = " ".join(f"Filler sentence {i} about nothing." for i in range(40))
    premise += " Revenue was $2,410 million in fiscal 2020."
    claim = "Revenue was $2,410 million in fiscal 2020."
    results = support(judge, [(premise, claim), (premise, claim)], 200, None)
    windows = premise_windows(premise, 200)
    assert len(judge.pairs) == len(windows)  # the repeated item is not scored again
    assert results[0].score == results[1].score == 1.0
    judge.pairs.clear()
    nearest = support(judge, [(premise, claim)], 200, 1)
    assert len(judge.pairs) == 1 and nearest[0].score == 1.0


def test_support_takes_the_weakest_claim_sentence(tiny_judge: Path, model_cache: Path) -> None:
    judge = load_judge("trained:tiny-nli", model_cache)
    premise = "Acme reported revenue of $2,410 million in fiscal 2020."
    both = support(
        judge,
        [
            (premise, "In fiscal 2020, Acme's revenue was $2,410 million."),
            (
                premise,
                "In fiscal 2020, Acme's revenue was $2,410 million. "
                "Acme did not report any revenue in fiscal 2020.",
            ),
        ],
    )
    assert both[1].score < both[0].score
    assert both[1].weakest_sentence.startswith("Acme did not")


def test_metrics() -> None:
    assert roc_auc([0.1, 0.4, 0.35, 0.8], [0, 0, 1, 1]) == pytest.approx(0.75)
    assert roc_auc([0.5, 0.5], [0, 1]) == pytest.approx(0.5)
    assert balanced_accuracy([0.1, 0.9, 0.8, 0.2], [0, 1, 0, 1], 0.5) == pytest.approx(0.5)


def test_bad_training_and_bench_files_are_clear_errors(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"premise": "a", "hypothesis": "b", "label": "maybe"}\n')
    with pytest.raises(TrainingDataError, match=r"bad\.jsonl:1"):
        load_nli_pairs(bad)
    with pytest.raises(TrainingDataError, match=r"bad\.jsonl:1"):
        load_bench(bad)
    with pytest.raises(TrainingDataError, match="no such file"):
        load_bench(tmp_path / "missing.jsonl")


def test_eval_verifier_writes_a_score_per_example(
    tiny_judge: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.test_ingest_cli import verirag

    bench = tmp_path / "bench.jsonl"
    rows = []
    for number, pair in enumerate(nli_pairs(seed=7, count=30)):
        if pair.label != "neutral":
            rows.append(
                {
                    "id": f"t-{number}",
                    "dataset": "templated" if number % 2 else "templated-b",
                    "premise": pair.premise,
                    "hypothesis": pair.hypothesis,
                    "label": int(pair.label == "entailment"),
                }
            )
    bench.write_text("\n".join(json.dumps(r) for r in rows))
    monkeypatch.setenv("VERIRAG_NLI_MODEL", "trained:tiny-nli")
    scores = tmp_path / "scores.jsonl"
    result = verirag("eval", "verifier", "--data", bench, "--scores-out", scores)
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["macro_roc_auc"] > 0.9
    assert set(report["datasets"]) == {"templated", "templated-b"}
    written = [json.loads(line) for line in scores.read_text().splitlines()]
    assert [w["id"] for w in written] == [r["id"] for r in rows]
    assert all(isinstance(w["score"], float) for w in written)


def test_the_operating_threshold_bounds_false_accepts() -> None:
    from verifier.evaluate import BenchExample, accept_rates, operating_threshold

    examples = [
        BenchExample(f"e{i}", "d", "p", "h", label) for i, label in enumerate([0] * 10 + [1] * 10)
    ]
    scores = [i / 10 for i in range(10)] + [0.5 + i / 20 for i in range(10)]
    threshold = operating_threshold(examples, scores, max_false_accept=0.2)
    false_accept, true_accept = accept_rates(examples, scores, threshold)
    assert false_accept <= 0.2 and threshold == pytest.approx(0.75)
    assert true_accept == pytest.approx(0.5)
    assert operating_threshold(examples, scores, 0.0) > 0.9


def test_calibrate_records_both_thresholds_in_the_card(
    tiny_judge: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import shutil

    from tests.test_ingest_cli import verirag

    judge = tmp_path / "judge"
    shutil.copytree(tiny_judge, judge)
    bench = tmp_path / "bench.jsonl"
    rows = [
        {
            "id": f"t-{n}",
            "premise": p.premise,
            "hypothesis": p.hypothesis,
            "label": int(p.label == "entailment"),
        }
        for n, p in enumerate(nli_pairs(seed=11, count=24))
    ]
    bench.write_text("\n".join(json.dumps(r) for r in rows))
    result = verirag(
        "verifier", "calibrate", "--judge", judge, "--bench", bench, "--max-false-accept", "0.1"
    )
    assert result.exit_code == 0, result.stderr
    card = json.loads((judge / JUDGE_CARD).read_text())
    assert card["calibration"]["operating_false_accept"] <= 0.1
    assert card["threshold"] == card["calibration"]["operating_threshold"]
    assert "threshold_balanced" in card and card["kind"] == "verirag-entailment-judge"
