"""The hybrid reward: a learned preference score plus the verifier's own signals, minus
penalties for the ways a policy games a quoting constitution.

    reward = w_pref · tanh(RM score)
           + w_entail · entailed + w_verbatim · verbatim + w_numbers · numbers + w_answer · answer
           − w_length · excess length − w_excess · (claims, citations over the limits)
           − w_refusal · [refused an answerable question or answered an unanswerable one]

``level='process'`` scores each claim and averages (a bad claim costs its share);
``level='outcome'`` gives the grounding terms only when the whole answer passes. The same
object serves GRPO (``reward_function``), PPO (``RewardModule``, the shape TRL's PPO expects of
a reward model) and evaluation.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

from alignment.config import HybridRewardConfig
from alignment.examples import context_load
from engine.generation import display_text
from verifier.checks import Verifier
from verifier.types import DraftAnswer, EvidenceContext, Verdict, VerificationReport


def reward_text(
    question: str, context: EvidenceContext, completion: str, evidence_chars: int = 900
) -> str:
    """What the preference model reads: the question, the sentences the answer cites (the
    evidence it must be faithful to) and the answer's claims with their quotes."""
    try:
        draft = DraftAnswer.model_validate_json(completion)
    except ValueError:
        return f"Question: {question}\nEvidence: none\nAnswer (unparseable): {completion[:600]}"
    cited: list[str] = []
    for claim in draft.claims:
        for citation in claim.citations:
            sentence = context.get(citation.sentence_id)
            if sentence is not None and sentence.label not in cited:
                cited.append(sentence.label)
    evidence = " ".join(
        f"[{label}] {display_text(context.get(label).text)}"  # type: ignore[union-attr]
        for label in cited
    )[:evidence_chars]
    claims = " ".join(
        f"Claim: {claim.text} Quotes: "
        + " | ".join(f"[{c.sentence_id}] {c.quote}" for c in claim.citations)
        for claim in draft.claims
    )
    verdict = "refuses" if draft.insufficient_evidence and not draft.claims else "answers"
    return (
        f"Question: {question}\nEvidence: {evidence or 'none'}\n"
        f"Answer ({verdict}): {draft.answer}\n{claims}"
    )


class PreferenceScorer(Protocol):
    def score(self, texts: Sequence[str]) -> list[float]: ...


class RewardModelScorer:
    """A reward model trained by `verirag align reward`: an encoder with a scalar head."""

    def __init__(self, run_dir: Path, batch_size: int = 16) -> None:
        self.run_dir = run_dir
        self.batch_size = batch_size
        self._model: Any = None
        self._tokenizer: Any = None
        card = json.loads((run_dir / "verirag_run.json").read_text())
        self.evidence_chars = int(card.get("evidence_chars", 900))

    def warm_up(self) -> None:
        if self._model is not None:
            return
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        model_dir = self.run_dir / "model"
        self._tokenizer = AutoTokenizer.from_pretrained(model_dir)
        self._model = AutoModelForSequenceClassification.from_pretrained(model_dir).eval()

    def score(self, texts: Sequence[str]) -> list[float]:
        import torch

        self.warm_up()
        scores: list[float] = []
        for start in range(0, len(texts), self.batch_size):
            batch = self._tokenizer(
                list(texts[start : start + self.batch_size]),
                padding=True,
                truncation=True,
                max_length=512,
                return_tensors="pt",
            )
            with torch.inference_mode():
                logits = self._model(**batch).logits[:, 0]
            scores += [float(v) for v in logits]
        return scores


@dataclass
class RewardBreakdown:
    total: float
    parsed: bool
    refused: bool = False
    claims: int = 0
    entailed: float = 0.0
    verbatim: float = 0.0
    numbers: float = 0.0
    answer_rules: float = 0.0
    all_passed: bool = False
    preference: float | None = None
    penalties: dict[str, float] = field(default_factory=dict)


ANSWER_SKELETON = (
    '{"claims": [',
    '{"citations": [',
    '{"sentence_id": "',
    '", "quote": "',
    '"}], "text": "',
    '"answer": "',
    '"insufficient_evidence": ',
)


def format_progress(text: str) -> float:
    """Share of the answer schema's skeleton found in order in ``text``: 0 for prose, near 1
    for an answer cut off at its end. What lets a policy that cannot yet write the schema
    learn to (group-relative rewards need differences between samples)."""
    position = found = 0
    compact = re.sub(r"\s+", " ", text)
    for marker in ANSWER_SKELETON:
        at = compact.find(marker, position)
        if at < 0:
            break
        found += 1
        position = at + len(marker)
    return found / len(ANSWER_SKELETON)


def _share(reports: list[Any], rule_ids: set[str]) -> float:
    if not reports:
        return 0.0
    passed = 0
    for report in reports:
        results = [r for r in report.results if r.rule_id in rule_ids]
        passed += all(r.verdict is Verdict.PASS for r in results)
    return passed / len(reports)


class HybridReward:
    def __init__(
        self,
        config: HybridRewardConfig,
        verifier: Verifier,
        preference: PreferenceScorer | None = None,
        evidence_chars: int = 900,
    ) -> None:
        if config.level not in {"process", "outcome"}:
            raise ValueError(f"reward level must be 'process' or 'outcome', not {config.level!r}")
        self.config = config
        self.verifier = verifier
        self.preference = preference
        self.evidence_chars = evidence_chars
        rules = verifier.constitution.rules
        self._rules_by_check: dict[str, set[str]] = {}
        for rule in rules:
            self._rules_by_check.setdefault(rule.check, set()).add(rule.id)

    def _ids(self, *checks: str) -> set[str]:
        ids: set[str] = set()
        for check in checks:
            ids |= self._rules_by_check.get(check, set())
        return ids

    def score(
        self,
        question: str,
        context: EvidenceContext,
        completion: str,
        answerable: bool | None = None,
        preference: float | None = None,
    ) -> RewardBreakdown:
        config = self.config
        try:
            draft = DraftAnswer.model_validate_json(completion)
        except ValueError:
            progress = format_progress(completion)
            return RewardBreakdown(
                total=config.unparseable_reward + config.format_credit * progress,
                parsed=False,
                penalties={"format_progress": progress},
            )
        penalties: dict[str, float] = {}
        excess_chars = max(0, len(completion) - config.length_budget_chars)
        if excess_chars:
            penalties["length"] = config.weight_length * excess_chars / config.length_budget_chars
        over = max(0, len(draft.claims) - config.max_claims) + sum(
            max(0, len(claim.citations) - config.max_citations) for claim in draft.claims
        )
        if over:
            penalties["excess"] = config.weight_excess * over
        pref_term = 0.0
        if preference is not None:
            pref_term = config.weight_preference * math.tanh(preference)
        refused = not draft.claims
        if refused:
            total = pref_term - sum(penalties.values())
            if answerable is True:
                penalties["unwarranted_refusal"] = config.weight_refusal
                total -= config.weight_refusal
            elif answerable is False:
                total += config.warranted_refusal_reward
            return RewardBreakdown(
                total=total, parsed=True, refused=True, preference=preference, penalties=penalties
            )
        report = self.verifier.verify(draft, context, question)
        breakdown = self._grounding(report)
        weights = (
            config.weight_entailment,
            config.weight_verbatim,
            config.weight_numbers,
            config.weight_answer,
        )
        signals = (
            breakdown.entailed,
            breakdown.verbatim,
            breakdown.numbers,
            breakdown.answer_rules,
        )
        if config.level == "process":
            grounded = sum(w * s for w, s in zip(weights, signals, strict=True))
        else:
            grounded = sum(weights) if breakdown.all_passed else 0.0
        if answerable is False:
            penalties["unwarranted_answer"] = config.weight_refusal
        breakdown.total = grounded + pref_term - sum(penalties.values())
        breakdown.preference = preference
        breakdown.penalties = penalties
        return breakdown

    def _grounding(self, report: VerificationReport) -> RewardBreakdown:
        claims = report.claims
        answer_rules = (
            sum(r.verdict is Verdict.PASS for r in report.answer_results)
            / len(report.answer_results)
            if report.answer_results
            else 1.0
        )
        return RewardBreakdown(
            total=0.0,
            parsed=True,
            claims=len(claims),
            entailed=_share(claims, self._ids("entailment")),
            verbatim=_share(claims, self._ids("quote_verbatim", "citation_in_context")),
            numbers=_share(claims, self._ids("numbers", "periods")),
            answer_rules=answer_rules,
            all_passed=report.all_passed and report.answer_supported,
        )

    def score_batch(
        self,
        questions: Sequence[str],
        contexts: Sequence[EvidenceContext],
        completions: Sequence[str],
        answerable: Sequence[bool | None],
    ) -> list[RewardBreakdown]:
        preferences: list[float | None] = [None] * len(completions)
        if self.preference is not None:
            texts = [
                reward_text(q, c, text, self.evidence_chars)
                for q, c, text in zip(questions, contexts, completions, strict=True)
            ]
            preferences = list(self.preference.score(texts))
        return [
            self.score(q, c, text, a, p)
            for q, c, text, a, p in zip(
                questions, contexts, completions, answerable, preferences, strict=True
            )
        ]

    def reward_function(self) -> Callable[..., list[float]]:
        """A TRL reward function: ``(prompts, completions, question, context, answerable)``,
        the last three being dataset columns TRL passes through."""

        def hybrid_reward(
            prompts: list[Any],
            completions: list[Any],
            question: list[str],
            context: list[str],
            answerable: list[bool] | None = None,
            **_: Any,
        ) -> list[float]:
            texts = [c[-1]["content"] if isinstance(c, list) else str(c) for c in completions]
            flags: list[bool | None] = list(answerable) if answerable else [None] * len(texts)
            results = self.score_batch(question, [context_load(c) for c in context], texts, flags)
            return [r.total for r in results]

        hybrid_reward.__name__ = f"hybrid_{self.config.level}"
        return hybrid_reward


def breakdown_dict(breakdown: RewardBreakdown) -> dict[str, Any]:
    return asdict(breakdown)


def reward_module(reward: HybridReward, tokenizer: Any, prompts: Sequence[dict[str, Any]]) -> Any:
    """The hybrid reward in the shape TRL's PPO calls a reward model: a module with a backbone
    (``base_model_prefix``) whose last hidden state ``score`` maps to one value per token. The
    backbone decodes each query+response, finds its prompt among the training prompts (by token
    ids) and places the hybrid reward of the response at every position."""
    import torch

    by_ids: dict[tuple[int, ...], dict[str, Any]] = {}
    for row in prompts:
        by_ids[tuple(int(t) for t in row["input_ids"])] = row
    lengths = sorted({len(key) for key in by_ids}, reverse=True)

    class _Output:
        def __init__(self, hidden: Any) -> None:
            self.hidden_states = (hidden,)

    class _Backbone(torch.nn.Module):
        def forward(self, input_ids: Any, attention_mask: Any, **_: Any) -> _Output:
            values = []
            for ids, mask in zip(input_ids.tolist(), attention_mask.tolist(), strict=True):
                tokens = [t for t, m in zip(ids, mask, strict=True) if m]
                row = None
                for length in lengths:
                    row = by_ids.get(tuple(tokens[:length]))
                    if row is not None:
                        break
                if row is None:
                    values.append(reward.config.unparseable_reward)
                    continue
                text = tokenizer.decode(tokens[len(row["input_ids"]) :], skip_special_tokens=True)
                result = reward.score_batch(
                    [row["question"]], [context_load(row["context"])], [text], [row["answerable"]]
                )[0]
                values.append(result.total)
            value = torch.tensor(values, dtype=torch.float32, device=input_ids.device)
            hidden = value[:, None, None].expand(-1, input_ids.shape[1], 1).contiguous()
            return _Output(hidden)

    class HybridRewardModule(torch.nn.Module):
        base_model_prefix = "backbone"

        def __init__(self) -> None:
            super().__init__()
            self.backbone = _Backbone()
            # Trainers move and prepare reward models by their parameters; this one has none
            # that learn, so it carries a frozen marker.
            self.register_buffer("marker", torch.zeros(1))

        def score(self, hidden: Any) -> Any:
            return hidden

    return HybridRewardModule()
