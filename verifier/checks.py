"""The verifier: each rule of the constitution, run claim by claim, with a reason per verdict.

A claim is judged only against its own citations. The entailment premise is the quoted span
(for a statement row, with its table's title, scale and the column years it falls under); the
numbers and periods the claim states must appear in those same citations.
"""

from __future__ import annotations

import functools
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from itertools import pairwise

from ingest.vocabulary import same_item_terms
from verifier.arithmetic import (
    Formula,
    FormulaInput,
    formula_in,
    names_alternative,
    settled_polarity,
    shared_item_words,
    totals_group,
)
from verifier.asked import AskedQuestion, MeaningVocabulary, as_asked
from verifier.constitution import Constitution, Rule
from verifier.errors import JudgeUnavailableError
from verifier.meaning import cited_rows_mean_the_asked_quantity, row_label
from verifier.nli import WINDOWS_PER_SENTENCE, EntailmentJudge, support
from verifier.numbers import (
    Quantity,
    aligned_columns,
    evidence_values,
    header_years,
    is_subtracted_item,
    is_verbatim_span,
    normalise_text,
    per_unit_amount,
    periods,
    printed_negative,
    quantities,
    quantity_supported,
    quarters_in,
    row_unit,
    years_in,
)
from verifier.types import (
    ClaimReport,
    DraftAnswer,
    DraftClaim,
    EvidenceContext,
    EvidenceSentence,
    RuleResult,
    Verdict,
    VerificationReport,
)
from verifier.words import content_words, stem, stems, topic_stems


@dataclass(frozen=True, slots=True)
class CitedSpan:
    sentence: EvidenceSentence
    quote: str
    verbatim: bool


def render_for_judge(span: CitedSpan) -> str:
    """The cited sentence as the judge reads it: the whole sentence, not only the quoted
    clause, so a condition or negation the quote left out still counts ("If the merger is not
    completed, we will pay…"). A statement row's figures are spelled out with their column
    years and scale, because "Net sales $ 32,765 $ 31,657" means nothing to an NLI model
    without the header two lines up."""
    sentence = span.sentence
    text = normalise_text(sentence.text)
    if sentence.kind != "table_row":
        return text
    scale = f" (in {sentence.table_scale})" if sentence.table_scale else ""
    title = f"{sentence.table_title}{scale}: " if sentence.table_title else (scale.strip() + " ")
    columns = aligned_columns(text, sentence.table_header_rows)
    if columns:
        label = text[: columns[0][1].position].strip(" $:") or text
        figures = "; ".join(f"{label} in {year} was {q.text}" for year, q in columns)
        return f"{title.strip()} {figures}.".strip()
    header = sentence.table_header
    return f"{title.strip()} {header + ': ' if header else ''}{text}".strip()


def _span_years(span: CitedSpan) -> set[int]:
    years = years_in(span.quote) | set(header_years(span.sentence.table_header_rows))
    if not years_in(span.sentence.text) and span.sentence.fiscal_year:
        # A sentence that names no year speaks of its filing's own fiscal year.
        years.add(span.sentence.fiscal_year)
    return years


# A claim rule: the claim, its cited spans, the whole context and the question, as read once.
ClaimCheck = Callable[
    [Rule, DraftClaim, list[CitedSpan], EvidenceContext, AskedQuestion], RuleResult
]


class Verifier:
    """Checks a draft answer against the evidence it was generated from."""

    def __init__(self, constitution: Constitution, judge: EntailmentJudge) -> None:
        self.constitution = constitution
        self.judge = judge
        self._claim_checks: dict[str, ClaimCheck] = {
            "citation_present": self._citation_present,
            "citation_in_context": self._citation_in_context,
            "quote_verbatim": self._quote_verbatim,
            "numbers": self._numbers,
            "periods": self._periods,
            "figure_periods": self._figure_periods,
            "arithmetic": self._arithmetic,
            "claim_words": self._claim_words,
            "asked_period": self._asked_period,
            "not_instructions": self._not_instructions,
        }

    def warm_up(self) -> None:
        try:
            self.judge.warm_up()
        except JudgeUnavailableError:
            raise
        except Exception as exc:
            raise JudgeUnavailableError(f"the entailment judge failed to load: {exc}") from exc

    # -- claim rules -------------------------------------------------------------------------

    def _spans(self, claim: DraftClaim, context: EvidenceContext) -> list[CitedSpan]:
        spans = []
        for citation in claim.citations:
            sentence = context.get(citation.sentence_id)
            if sentence is None:
                continue
            verbatim = is_verbatim_span(citation.quote, sentence.text)
            spans.append(CitedSpan(sentence, citation.quote, verbatim))
        return spans

    def _citation_present(
        self,
        rule: Rule,
        claim: DraftClaim,
        spans: list[CitedSpan],
        context: EvidenceContext,
        asked: AskedQuestion,
    ) -> RuleResult:
        if claim.citations:
            return RuleResult(rule.id, Verdict.PASS, f"{len(claim.citations)} citation(s)")
        return RuleResult(rule.id, Verdict.FAIL, "the claim cites no sentence", span=claim.text)

    @staticmethod
    def _not_instructions(
        rule: Rule,
        claim: DraftClaim,
        spans: list[CitedSpan],
        context: EvidenceContext,
        asked: AskedQuestion,
    ) -> RuleResult:
        patterns = instruction_patterns(rule)
        for span in spans:
            text = span.sentence.text
            if any(pattern.search(text) for pattern in patterns):
                return RuleResult(
                    rule.id,
                    Verdict.FAIL,
                    f"{span.sentence.label} is an instruction to the reader or a model, not a "
                    "statement of the filing; it is evidence of nothing",
                    span=span.quote,
                )
        return RuleResult(rule.id, Verdict.PASS, "no cited sentence is an instruction")

    def _citation_in_context(
        self,
        rule: Rule,
        claim: DraftClaim,
        spans: list[CitedSpan],
        context: EvidenceContext,
        asked: AskedQuestion,
    ) -> RuleResult:
        unknown = [c.sentence_id for c in claim.citations if context.get(c.sentence_id) is None]
        if unknown:
            return RuleResult(
                rule.id,
                Verdict.FAIL,
                f"cites {', '.join(unknown)}, which the answer was not given",
                span=", ".join(unknown),
            )
        if not claim.citations:
            return RuleResult(rule.id, Verdict.FAIL, "no citation to check")
        return RuleResult(rule.id, Verdict.PASS, "every cited sentence was in the context")

    def _quote_verbatim(
        self,
        rule: Rule,
        claim: DraftClaim,
        spans: list[CitedSpan],
        context: EvidenceContext,
        asked: AskedQuestion,
    ) -> RuleResult:
        if not spans:
            return RuleResult(rule.id, Verdict.FAIL, "no cited sentence to quote from")
        minimum = int(rule.options.get("min_quote_chars", 1))
        for span in spans:
            if not span.verbatim:
                return RuleResult(
                    rule.id,
                    Verdict.FAIL,
                    f"the quote is not a span of {span.sentence.label} (whole words, exact text)",
                    span=span.quote,
                )
            quote = normalise_text(span.quote)
            if len(quote) < minimum and quote != normalise_text(span.sentence.text):
                return RuleResult(
                    rule.id,
                    Verdict.FAIL,
                    f"the quote from {span.sentence.label} is shorter than {minimum} characters",
                    span=span.quote,
                )
        return RuleResult(rule.id, Verdict.PASS, "every quote is verbatim")

    def _numbers(
        self,
        rule: Rule,
        claim: DraftClaim,
        spans: list[CitedSpan],
        context: EvidenceContext,
        asked: AskedQuestion,
    ) -> RuleResult:
        formula = formula_in(claim.text)
        # A calculation's inputs are quoted figures; its result and constants are checked by
        # the arithmetic rule.
        stated = [f.quantity for f in _cited_inputs(formula)] if formula else quantities(claim.text)
        if not stated:
            return RuleResult(rule.id, Verdict.PASS, "the claim states no figures")
        evidence = [
            value
            for span in spans
            if span.verbatim
            for value in evidence_values(span.quote, figure_scale(span.sentence, claim.text))
        ]
        allow_rounding = bool(rule.options.get("allow_rounding", True))
        missing = [q.text for q in stated if not quantity_supported(q, evidence, allow_rounding)]
        if missing:
            return RuleResult(
                rule.id,
                Verdict.FAIL,
                f"{', '.join(missing)} does not appear in the cited evidence",
                span=missing[0],
            )
        return RuleResult(rule.id, Verdict.PASS, f"{len(stated)} figure(s) found in the evidence")

    def _periods(
        self,
        rule: Rule,
        claim: DraftClaim,
        spans: list[CitedSpan],
        context: EvidenceContext,
        asked: AskedQuestion,
    ) -> RuleResult:
        claimed_years = years_in(claim.text)
        claimed_quarters = quarters_in(claim.text)
        if not claimed_years and not claimed_quarters:
            return RuleResult(rule.id, Verdict.PASS, "the claim names no period")
        valid = [span for span in spans if span.verbatim]
        evidence_years: set[int] = set()
        evidence_quarters: set[int] = set()
        for span in valid:
            evidence_years |= _span_years(span)
            evidence_quarters |= quarters_in(span.quote)
            filing = span.sentence
            if (
                filing.fiscal_period
                and filing.fiscal_period.startswith("Q")
                and (not claimed_years or filing.fiscal_year in claimed_years)
            ):
                # A 10-Q's sentences speak of its own quarter ("three months ended June 30").
                evidence_quarters |= quarters_in(filing.fiscal_period)
        missing_years = sorted(claimed_years - evidence_years)
        missing_quarters = sorted(claimed_quarters - evidence_quarters)
        if missing_years or missing_quarters:
            named = [str(y) for y in missing_years] + [f"Q{q}" for q in missing_quarters]
            return RuleResult(
                rule.id,
                Verdict.FAIL,
                f"{', '.join(named)} is not a period of the cited evidence",
                span=named[0],
            )
        # A calculation's inputs are placed in their columns by the entailment check, each with
        # its own period; nearness to a year in the sentence says nothing there.
        formula = formula_in(claim.text)
        misplaced = None if formula else self._wrong_column(claim, valid, claimed_years)
        if misplaced:
            return RuleResult(rule.id, Verdict.FAIL, misplaced, span=misplaced)
        return RuleResult(rule.id, Verdict.PASS, "every period appears in the evidence")

    @staticmethod
    def _asked_period(
        rule: Rule,
        claim: DraftClaim,
        spans: list[CitedSpan],
        context: EvidenceContext,
        asked: AskedQuestion,
    ) -> RuleResult:
        """When the question asks about one fiscal year, a claim about other years does not
        answer it. The claim's period is the years it names, else those its cited prose
        names; one of them must lie within ``years_around`` of the asked year (a filing
        compares a year with the one before). "Margins increased … COVID impacts recognized
        on certain assets in 2020" does not explain FY2022's operating margin."""
        if len(asked.years) != 1:
            return RuleResult(rule.id, Verdict.PASS, "the question asks about no single year")
        year = next(iter(asked.years))
        named = years_in(claim.text)
        if not named:
            for span in spans:
                if span.verbatim and span.sentence.kind != "table_row":
                    named |= years_in(span.quote)
        if not named:
            return RuleResult(rule.id, Verdict.PASS, "the claim and its prose name no year")
        around = int(rule.options.get("years_around", 1))
        if any(abs(named_year - year) <= around for named_year in named):
            return RuleResult(rule.id, Verdict.PASS, f"the claim speaks of {year} or next to it")
        years = ", ".join(str(y) for y in sorted(named))
        return RuleResult(
            rule.id,
            Verdict.FAIL,
            f"the claim is about {years}; the question asks about {year}",
            span=years.split(", ")[0],
        )

    @staticmethod
    def _figure_periods(
        rule: Rule,
        claim: DraftClaim,
        spans: list[CitedSpan],
        context: EvidenceContext,
        asked: AskedQuestion,
    ) -> RuleResult:
        """A figure taken from a statement row with several year columns belongs to one of
        them, and the claim says which: the year it names, else the single year the question
        asks about. "Total assets 39,589 5,962" copies cells and states nothing an analyst can
        use; "Net sales were $1,577 million" answering "… in FY2023?" states 2023's figure and
        must be that column's. Years the claim names are checked column by column by the
        period rule; quarter columns share their years and are left to it too."""
        if years_in(claim.text) or quarters_in(claim.text):
            return RuleResult(rule.id, Verdict.PASS, "the claim names its periods")
        asked_years = asked.years
        for quantity in quantities(claim.text):
            for span in spans:
                if not span.verbatim:
                    continue
                by_year = _column_matches(quantity, span, claim.text)
                if not by_year or len(by_year) < 2 or not any(by_year.values()):
                    continue
                holding = sorted(year for year, matches in by_year.items() if matches)
                if len(asked_years) == 1 and next(iter(asked_years)) in by_year:
                    year = next(iter(asked_years))
                    if by_year[year]:
                        continue
                    return RuleResult(
                        rule.id,
                        Verdict.FAIL,
                        f"{quantity.text} is the {holding[0]} figure of the cited row, and the "
                        f"question asks about {year}",
                        span=quantity.text,
                    )
                years = ", ".join(str(year) for year in sorted(by_year))
                return RuleResult(
                    rule.id,
                    Verdict.FAIL,
                    f"{quantity.text} is one of the cited row's year columns ({years}), and "
                    "the claim does not say which year it states",
                    span=quantity.text,
                )
        return RuleResult(rule.id, Verdict.PASS, "no figure of a multi-year row without its year")

    @staticmethod
    def _arithmetic(
        rule: Rule,
        claim: DraftClaim,
        spans: list[CitedSpan],
        context: EvidenceContext,
        asked: AskedQuestion,
    ) -> RuleResult:
        """A claim that states a calculation states it in the one form verirag can redo
        (``verifier.arithmetic``), its constants are the question's or those of an average or
        a percentage (2, 100), and its result is what the arithmetic gives, to the precision
        the result is stated to."""
        if "=" not in claim.text:
            return RuleResult(rule.id, Verdict.PASS, "the claim states no calculation")
        formula = formula_in(claim.text)
        if formula is None:
            return RuleResult(
                rule.id,
                Verdict.FAIL,
                "the claim states a calculation verirag cannot redo: write it as 'what, when = "
                "figure [line item] − figure [line item] = result'",
                span=claim.text,
            )
        if formula.ranking is not None and (unranked := _unranked(formula, asked)):
            return RuleResult(rule.id, Verdict.FAIL, unranked, span=claim.text)
        given = asked.constants | {2.0, 100.0}
        foreign = [c.text for c in formula.constants if c.number not in given]
        if foreign:
            return RuleResult(
                rule.id,
                Verdict.FAIL,
                f"the constant {foreign[0]} comes from neither the question nor an average or "
                "a percentage",
                span=foreign[0],
            )
        value = formula.computed()
        if value is not None and formula.ranking is not None and not formula.adds_up():
            total = formula.total
            return RuleResult(
                rule.id,
                Verdict.FAIL,
                f"the ranked figures do not add up to {total.quantity.text} [{total.item}]: a "
                "member is missing or counted twice"
                if total is not None
                else "the ranked figures do not add up",
                span=claim.text,
            )
        if value is not None and formula.ranking is not None and not formula.checks():
            return RuleResult(
                rule.id,
                Verdict.FAIL,
                f"the {formula.ranking} of the ranked figures is not {formula.result.text} "
                f"[{formula.result_item}] alone",
                span=formula.result.text,
            )
        if value is None or not formula.checks():
            shown = (
                "cannot be computed"
                if value is None
                else f"gives {value / formula.result.scale:,.6g}"
            )
            return RuleResult(
                rule.id,
                Verdict.FAIL,
                f"the calculation {shown}, not {formula.result.text}",
                span=formula.result.text,
            )
        if formula.ranking is not None:
            return RuleResult(
                rule.id,
                Verdict.PASS,
                f"{formula.result.text} [{formula.result_item}] is the {formula.ranking} of the "
                "items the question names",
            )
        return RuleResult(
            rule.id, Verdict.PASS, f"{formula.result.text} is what the stated arithmetic gives"
        )

    def _claim_words(
        self,
        rule: Rule,
        claim: DraftClaim,
        spans: list[CitedSpan],
        context: EvidenceContext,
        asked: AskedQuestion,
    ) -> RuleResult:
        """Every content word of the claim comes from its cited sentences (with their table's
        title and headers), the filing's company, or the question: a small model's claim may
        rephrase, not add. Words are compared after a light stemming, so "expenditure" meets
        "expenditures"."""
        valid = [span for span in spans if span.verbatim]
        if not valid:
            return RuleResult(rule.id, Verdict.FAIL, "no verbatim cited span")
        # The question's wording, as a source of words (read for words, not parsed).
        sources = [asked.text]
        for span in valid:
            sentence = span.sentence
            sources += [sentence.text, sentence.table_title or "", sentence.table_header]
            sources += [sentence.company or "", sentence.filing.replace("_", " ")]
        allowed = {stem(w) for w in content_words(" ".join(sources))}
        # A calculation may name what its arithmetic does, which the arithmetic rule checks.
        paraphrase = _PARAPHRASE | (_CALCULATION_WORDS if formula_in(claim.text) else set())
        extra = sorted(
            {w for w in content_words(claim.text) - paraphrase if stem(w) not in allowed}
        )
        limit = int(rule.options.get("max_unsupported_words", 0))
        if len(extra) > limit:
            return RuleResult(
                rule.id,
                Verdict.FAIL,
                f"the claim adds {', '.join(extra)}, found in neither its evidence nor the "
                "question",
                span=extra[0],
            )
        return RuleResult(rule.id, Verdict.PASS, "every content word is in the evidence")

    @staticmethod
    def _wrong_column(claim: DraftClaim, spans: list[CitedSpan], years: set[int]) -> str | None:
        """A figure claimed for one year that sits in another year's column of the cited row.
        Columns come from the whole row, whichever cells the quote covered."""
        if not years:
            return None
        for quantity, year in figures_with_years(claim.text):
            for span in spans:
                by_year = _column_matches(quantity, span, claim.text)
                if not by_year or year not in by_year:
                    continue
                if any(by_year.values()) and not by_year[year]:
                    other = next(y for y, ok in by_year.items() if ok)
                    return f"{quantity.text} is the {other} figure of that row, not {year}'s"
        return None

    # -- the whole answer ------------------------------------------------------------------

    def verify(
        self, draft: DraftAnswer, context: EvidenceContext, question: AskedQuestion | str = ""
    ) -> VerificationReport:
        """Every rule of the constitution on every claim, then the answer-level rules. The
        question, when given, lets the answer rules check that a figure sits in the column of
        the period the question asks about. A string (a logged question) is read here, once;
        the pipeline passes the ``AskedQuestion`` it read for the request."""
        started = time.perf_counter()
        asked = as_asked(question, MeaningVocabulary.of_constitution(self.constitution))
        claim_rules = [r for r in self.constitution.rules if r.scope == "claim"]
        spans_per_claim = [self._spans(claim, context) for claim in draft.claims]
        entailment = self._entailment(draft, spans_per_claim, claim_rules)
        reports = []
        for index, (claim, spans) in enumerate(zip(draft.claims, spans_per_claim, strict=True)):
            results = []
            for rule in claim_rules:
                if rule.check == "entailment":
                    results.append(entailment[(rule.id, index)])
                else:
                    check = self._claim_checks[rule.check]
                    results.append(check(rule, claim, spans, context, asked))
            reports.append(ClaimReport(index, claim, results, self.constitution.blocking))
        answer_results = []
        for rule in self.constitution.rules:
            if rule.scope != "answer":
                continue
            if rule.check == "answer_grounded":
                answer_results.append(
                    self._answer_grounded(rule, draft, reports, spans_per_claim, asked)
                )
            elif rule.check == "answer_specific":
                answer_results.append(self._answer_specific(rule, draft))
            elif rule.check == "answer_on_topic":
                answer_results.append(answer_on_topic(rule, draft, reports, spans_per_claim, asked))
            elif rule.check == "answer_item":
                answer_results.append(
                    answer_is_the_asked_item(rule, draft, reports, spans_per_claim, asked)
                )
            elif rule.check == "answer_meaning":
                cited = [[s.sentence for s in spans if s.verbatim] for spans in spans_per_claim]
                answer_results.append(
                    cited_rows_mean_the_asked_quantity(rule, draft, reports, cited, asked)
                )
        return VerificationReport(
            constitution_version=self.constitution.version_id,
            judge_version=self.judge.version,
            claims=reports,
            answer_results=answer_results,
            milliseconds=1000 * (time.perf_counter() - started),
        )

    def _entailment(
        self,
        draft: DraftAnswer,
        spans_per_claim: list[list[CitedSpan]],
        claim_rules: list[Rule],
    ) -> dict[tuple[str, int], RuleResult]:
        results: dict[tuple[str, int], RuleResult] = {}
        # The calibrated threshold lives in the judge's card, read when it loads.
        self.warm_up()
        for rule in (r for r in claim_rules if r.check == "entailment"):
            threshold_option = rule.options.get("threshold", "judge")
            threshold = (
                self.judge.threshold if threshold_option == "judge" else float(threshold_option)
            )
            window = int(rule.options.get("window_chars", 700))
            nearest = rule.options.get("windows_per_sentence", WINDOWS_PER_SENTENCE)
            by_structure = bool(rule.options.get("statement_rows", False))
            jobs = []
            for index, (claim, spans) in enumerate(zip(draft.claims, spans_per_claim, strict=True)):
                valid = [span for span in spans if span.verbatim]
                if not valid:
                    results[(rule.id, index)] = RuleResult(
                        rule.id, Verdict.FAIL, "no verbatim cited span to judge against"
                    )
                    continue
                formula = formula_in(claim.text)
                if formula is not None:
                    verdict, reason = formula_inputs_placed(formula, claim, valid)
                    score = 1.0 if verdict is Verdict.PASS else 0.0
                    results[(rule.id, index)] = RuleResult(rule.id, verdict, reason, score=score)
                    continue
                lookup = statement_row_lookup(claim, spans) if by_structure else None
                if lookup is not None:
                    verdict, reason = lookup
                    score = 1.0 if verdict is Verdict.PASS else 0.0
                    results[(rule.id, index)] = RuleResult(rule.id, verdict, reason, score=score)
                    continue
                premise = " ".join(render_for_judge(span) for span in valid)
                jobs.append((index, premise, claim.text))
            try:
                scores = support(
                    self.judge,
                    [(p, c) for _, p, c in jobs],
                    window,
                    None if nearest is None else int(nearest),
                )
            except JudgeUnavailableError:
                raise
            except Exception as exc:
                raise JudgeUnavailableError(f"the entailment judge failed: {exc}") from exc
            for (index, _, _), scored in zip(jobs, scores, strict=True):
                verdict = Verdict.PASS if scored.score >= threshold else Verdict.FAIL
                reason = (
                    f"entailment {scored.score:.2f} {'≥' if verdict is Verdict.PASS else '<'} "
                    f"threshold {threshold:.2f}"
                )
                span = None if verdict is Verdict.PASS else scored.weakest_sentence
                results[(rule.id, index)] = RuleResult(
                    rule.id, verdict, reason, score=scored.score, span=span
                )
        return results

    @staticmethod
    def _answer_specific(rule: Rule, draft: DraftAnswer) -> RuleResult:
        limit = int(rule.options.get("max_figures", 2))
        figures = quantities(draft.answer)
        if len(figures) > limit:
            return RuleResult(
                rule.id,
                Verdict.FAIL,
                f"the direct answer lists {len(figures)} figures; an answer states at most "
                f"{limit}, not a row of evidence",
                span=draft.answer,
            )
        return RuleResult(rule.id, Verdict.PASS, "the direct answer is specific")

    def _answer_grounded(
        self,
        rule: Rule,
        draft: DraftAnswer,
        reports: list[ClaimReport],
        spans_per_claim: list[list[CitedSpan]],
        asked: AskedQuestion | None = None,
    ) -> RuleResult:
        asked = asked or AskedQuestion()
        passing = passing_spans(reports, spans_per_claim)
        if not passing:
            return RuleResult(rule.id, Verdict.FAIL, "no claim survived verification")
        stated = " ".join([draft.answer, *(r.claim.text for r in reports if r.passed)])
        evidence = [
            v for s in passing for v in evidence_values(s.quote, figure_scale(s.sentence, stated))
        ]
        # A verified calculation's result is established by its claim, not printed anywhere.
        verified = [f for r in reports if r.passed and (f := formula_in(r.claim.text))]
        for formula in verified:
            evidence += evidence_values(formula.result.text, None)
        missing = [
            q.text for q in quantities(draft.answer) if not quantity_supported(q, evidence, True)
        ]
        years: set[int] = set()
        for span in passing:
            years |= _span_years(span)
        missing += [str(y) for y in sorted(years_in(draft.answer) - years)]
        # Every content word must come from the verified claims or their quotes, so a name no
        # claim mentions is not delivered as fact. Polarity ("yes", "no") is never carried by
        # word overlap: "has no commercial paper" does not answer "did it pay a dividend?"...
        words = content_words(draft.answer)
        grounded = " ".join(
            [r.claim.text for r in reports if r.passed] + [s.quote for s in passing]
        )
        # ... unless a verified calculation of the change the question asks about settles it.
        settled = settled_polarity(asked, verified) if asked.given else None
        if settled is not None and words & _POLARITY == {settled}:
            words -= _POLARITY
        missing += sorted((words - content_words(grounded)) | (words & _POLARITY))
        if not words and not quantities(draft.answer) and not years_in(draft.answer):
            missing.append("(an empty answer)")  # a period alone ("2019") is an answer
        # Figures are paired with the years the answer names, or else with the one year the
        # question asks about.
        answer_years = years_in(draft.answer)
        asked_years = set(asked.years)
        probe = draft.answer
        if not answer_years and len(asked_years) == 1:
            probe = f"{draft.answer} in {next(iter(asked_years))}"
        if not missing and (answer_years or len(asked_years) == 1):
            misplaced = self._wrong_column(
                DraftClaim(citations=[], text=probe), passing, answer_years or asked_years
            )
            if misplaced:
                return RuleResult(rule.id, Verdict.FAIL, misplaced, span=draft.answer)
        if missing:
            return RuleResult(
                rule.id,
                Verdict.FAIL,
                f"the direct answer states {', '.join(missing)}, which no delivered claim's "
                "evidence contains",
                span=missing[0],
            )
        return RuleResult(rule.id, Verdict.PASS, "the direct answer is backed by the claims")


def instruction_patterns(rule: Rule) -> tuple[re.Pattern[str], ...]:
    """The rule's vocabulary as patterns: an addressee, then within a few words a modal, then
    an answering verb ("the assistant must answer"); an overriding verb before what it
    overrides ("ignore the rules"); an answering verb before "every question"."""
    options = rule.options
    return _instruction_patterns(
        *(
            tuple(options.get(key, ()))
            for key in (
                "addressees",
                "modals",
                "answering",
                "overriding",
                "overridden",
                "every_question",
            )
        )
    )


@functools.lru_cache(maxsize=8)
def _instruction_patterns(
    addressees: tuple[str, ...],
    modals: tuple[str, ...],
    answering: tuple[str, ...],
    overriding: tuple[str, ...],
    overridden: tuple[str, ...],
    every_question: tuple[str, ...],
) -> tuple[re.Pattern[str], ...]:
    def words(phrases: tuple[str, ...]) -> str:
        return "|".join(r"\s+".join(map(re.escape, p.split())) for p in phrases)

    # The gaps are bounded and exclude sentence breaks, so a match costs a short scan from
    # each (rare) first word, never a backtracking search over the whole text.
    gap = r"[^.;:!?]{0,60}?"
    forms = []
    if addressees and modals and answering:
        forms.append(
            rf"\b(?:{words(addressees)})\b{gap}\b(?:{words(modals)})\b{gap}"
            rf"\b(?:{words(answering)})\b"
        )
    if overriding and overridden:
        forms.append(rf"\b(?:{words(overriding)})\b{gap}\b(?:{words(overridden)})\b")
    if answering and every_question:
        forms.append(rf"\b(?:{words(answering)})\b{gap}\b(?:{words(every_question)})\b")
    return tuple(re.compile(form, re.IGNORECASE) for form in forms)


def passing_spans(
    reports: list[ClaimReport], spans_per_claim: list[list[CitedSpan]]
) -> list[CitedSpan]:
    """The verbatim cited spans of the claims that passed every blocking rule."""
    return [
        span
        for report, spans in zip(reports, spans_per_claim, strict=True)
        if report.passed
        for span in spans
        if span.verbatim
    ]


def answer_on_topic(
    rule: Rule,
    draft: DraftAnswer,
    reports: list[ClaimReport],
    spans_per_claim: list[list[CitedSpan]],
    question: AskedQuestion | str,
) -> RuleResult:
    """The delivered answer speaks to what was asked: the direct answer, the verified claims,
    their quotes or the titles and headers of the tables they cite share a topic word with
    the question, or name a caption the question's accounting terms point to ("capital
    expenditure" → "purchases of property, plant and equipment"). A true, well-cited sentence
    about something else is not an answer, and support checks cannot see that. A string
    question is read here."""
    asked = as_asked(question)
    if not asked.given:
        return RuleResult(rule.id, Verdict.PASS, "no question to compare with")
    passing = passing_spans(reports, spans_per_claim)
    names = " ".join(
        f"{span.sentence.company or ''} {span.sentence.filing.replace('_', ' ')}"
        for spans in spans_per_claim
        for span in spans
    )
    topics = asked.topic_stems - stems(content_words(names))
    if not topics:
        return RuleResult(rule.id, Verdict.PASS, "the question names no topic beyond its filing")
    wanted = topics | asked.expansion_stems
    claims = [draft.answer, *(r.claim.text for r in reports if r.passed)]
    delivered = list(claims)
    for span in passing:
        delivered += [span.quote, span.sentence.table_title or "", span.sentence.table_header]
    captions = claims + [row_label(s.sentence) for s in passing if s.sentence.kind == "table_row"]
    named = [item.words for item in asked.items if any(map(item.named_in, captions))]
    if named:
        return RuleResult(rule.id, Verdict.PASS, f"the answer names {', '.join(named)}")
    shared = wanted & topic_stems(" ".join(delivered))
    # One shared word is a coincidence as often as a topic ("operations" of a divestiture
    # against a question about operating, investing and financing cash flows).
    needed = min(int(rule.options.get("min_shared_topics", 1)), len(topics))
    if len(shared) >= needed:
        return RuleResult(
            rule.id, Verdict.PASS, f"the answer speaks to {', '.join(sorted(shared)[:4])}"
        )
    found = f"only {', '.join(sorted(shared))}" if shared else "no topic"
    return RuleResult(
        rule.id,
        Verdict.FAIL,
        f"the answer shares {found} with the question (asked about "
        f"{', '.join(sorted(topics)[:6])}): true, perhaps, but not an answer",
        span=draft.answer,
    )


def answer_is_the_asked_item(
    rule: Rule,
    draft: DraftAnswer,
    reports: list[ClaimReport],
    spans_per_claim: list[list[CitedSpan]],
    question: AskedQuestion | str,
) -> RuleResult:
    """When the question asks for a line item or a metric ("capital expenditure", "net working
    capital"), each figure of the direct answer is stated by a verified claim whose evidence
    names it: its cited row's caption or cited sentence, or the subject of its verified
    calculation, as the analyst term or a caption filings print for the same item. Free cash
    flow is not capital expenditure, and total current liabilities is one input of net working
    capital, not its value, however true and well cited. A string question is read here."""
    items = as_asked(question).items
    # A metric computed from other items (free cash flow, net working capital) is what is
    # asked; the items its definition names ("cash from operations less capex") are inputs.
    computed = [item for item in items if not item.same_item]
    asked = computed or list(items)
    figures = quantities(draft.answer)
    if not asked or not figures:
        return RuleResult(rule.id, Verdict.PASS, "the answer states no figure of a named item")
    passing = [
        (report, spans)
        for report, spans in zip(reports, spans_per_claim, strict=True)
        if report.passed
    ]
    for figure in figures:
        stating = [
            (report, spans)
            for report, spans in passing
            if quantity_supported(figure, evidence_values(report.claim.text, None), True)
        ] or passing
        for report, spans in stating:
            # The evidence names the item, not the drafter: a cited row's caption or the cited
            # sentence, or the subject of a verified calculation (an executed result). A claim
            # that only says "net sales" beside a figure from elsewhere names nothing.
            names = [
                row_label(s.sentence) if s.sentence.kind == "table_row" else s.sentence.text
                for s in spans
                if s.verbatim
            ]
            if formula := formula_in(report.claim.text):
                names.append(formula.subject)
            if any(item.named_in(name) for item in asked for name in names):
                break
        else:
            stated_for = next(
                (row_label(s.sentence) for _, spans in stating for s in spans if s.verbatim),
                "another item",
            )
            wanted = " or ".join(item.words for item in asked)
            return RuleResult(
                rule.id,
                Verdict.FAIL,
                f"the question asks for {wanted}; {figure.text} is {stated_for!r}, not that",
                span=figure.text,
            )
    return RuleResult(rule.id, Verdict.PASS, "every figure of the answer is the asked item's")


_POLARITY = frozenset({"yes", "no"})
# Words a faithful restatement may add to its evidence: reporting verbs and connectives, never
# a direction ("increased"), an amount or a name.
_CALCULATION_WORDS = frozenset({"change", "average", "percentage", "points", "together"})
_PARAPHRASE = frozenset(
    [
        "reported",
        "reports",
        "report",
        "totaled",
        "totalled",
        "total",
        "amounted",
        "amount",
        "approximately",
        "about",
        "company",
        "company's",
        "companies",
        "fiscal",
        "year",
        "years",
        "quarter",
        "quarters",
        "ended",
        "ending",
        "end",  # "at the end of FY2021": the balance-sheet date, checked by the periods rule
        "during",
        "had",
        "has",
        "have",
        "their",
        "our",
        "we",
        "they",
        "value",
        "figure",
        "respectively",
        "compared",
        # A company's legal form ("Acme Corporation", "Acme, Inc.") names the same company
        # the filing's metadata calls "Acme"; it states no fact.
        "corporation",
        "corp",
        "incorporated",
        "inc",
        "plc",
        "ltd",
        "llc",
    ]
)


def figures_with_years(claim_text: str) -> list[tuple[Quantity, int]]:
    """Each figure of a claim with the year it is claimed for: the one named in its own clause
    ("$1,577 million in 2023, $1,408 million in 2022"), else the nearest one. Figures of a
    claim that names no year are left out."""
    mentions = [(p.year, p.position) for p in periods(claim_text) if p.year is not None]
    if not mentions:
        return []
    text = normalise_text(claim_text)
    breaks = [0, *(m.end() for m in _CLAUSE_BREAK.finditer(text)), len(text) + 1]
    paired = []
    for quantity in quantities(claim_text):
        clause = next((a, b) for a, b in pairwise(breaks) if a <= quantity.position < b)
        same_clause = [m for m in mentions if clause[0] <= m[1] < clause[1]]
        candidates = same_clause if len({year for year, _ in same_clause}) == 1 else mentions
        year, _ = min(candidates, key=lambda m: abs(m[1] - quantity.position))
        paired.append((quantity, year))
    return paired


def _column_matches(quantity: Quantity, span: CitedSpan, claim_text: str) -> dict[int, bool] | None:
    """For a statement row with one figure per year column: whether ``quantity`` is that
    column's figure (with the table's scale), per year. None for any other sentence."""
    sentence = span.sentence
    scale = figure_scale(sentence, claim_text)
    if by_grid := _grid_column_matches(quantity, sentence, scale):
        return by_grid
    columns = aligned_columns(normalise_text(sentence.text), sentence.table_header_rows)
    if not columns:
        return None
    return {
        year: quantity_supported(quantity, evidence_values(figure.text, scale), True)
        for year, figure in columns
    }


def _grid_column_matches(
    quantity: Quantity, sentence: EvidenceSentence, scale: str | None
) -> dict[int, bool] | None:
    """The same from the row's cells and the header path above each (``table_cells``): a
    cell under one period's header is that period's figure, whatever else its column says
    ("2019" over "Amount" and "%"). None when no cell sits under exactly one period."""
    by_year: dict[int, bool] = {}
    for text, path in sentence.table_cells:
        years = set(header_years(tuple((part,) for part in path)))
        if len(years) != 1:
            continue
        year = years.pop()
        found = quantity_supported(quantity, evidence_values(text, scale), True)
        by_year[year] = by_year.get(year, False) or found
    return by_year or None


def figure_scale(sentence: EvidenceSentence, claim_text: str) -> str | None:
    """The unit of a cited sentence's figures for a claim: its row's (the table's, except on a
    per-share row), and none when the claim itself speaks of a per-share amount ("diluted EPS
    of $6.42")."""
    return None if per_unit_amount(claim_text) else row_unit(sentence.text, sentence.table_scale)


def statement_row_lookup(claim: DraftClaim, spans: list[CitedSpan]) -> tuple[Verdict, str] | None:
    """The verdict on a claim that looks up figures in its cited statement rows, with the
    reason; None when the claim is not such a lookup and the judge must decide.

    A claim is a lookup when every citation is a verbatim span of a statement row whose
    figures line up one to one with its header's years; every figure the claim states is in
    its quote and is the figure of the column of the year the claim names for it; the claim
    names the row's line item (its caption's words, or an analyst term for the same item such
    as "capital expenditures" for "Purchases of property, plant and equipment"); and every
    other word comes from the row's caption or the filing's company.
    A lookup whose figures sit in the right columns but whose words do not name the row's
    line item fails: "hedge funds were 413 in 2021" citing the row "Real estate 413 413" is
    the judge's commonest false accept on rows. A small NLI model cannot read a row of bare
    figures under a header (measured: ROC-AUC 0.58 on 600 held-out row claims), while this
    check is exact; a direction ("increased"), a negation or a second company leave the
    decision to the judge.
    """
    if not spans or not all(span.verbatim for span in spans):
        return None
    if any(span.sentence.kind != "table_row" for span in spans):
        return None
    if quarters_in(claim.text):
        return None  # quarter columns share their years (three and nine months ended …)
    paired = figures_with_years(claim.text)
    if not paired or len(paired) != len(quantities(claim.text)):
        return None
    for quantity, year in paired:
        placed = False
        for span in spans:
            by_year = _column_matches(quantity, span, claim.text)
            in_quote = quantity_supported(
                quantity, evidence_values(span.quote, figure_scale(span.sentence, claim.text)), True
            )
            if by_year and by_year.get(year) and in_quote:
                placed = True
                break
        if not placed:
            return None
    # Single letters are possessives and initials ("Acme's", "PP&E"), and "FY2023" is a
    # period, checked above: neither is content.
    claim_words = {
        word
        for word in content_words(claim.text)
        if len(word) > 1 and not re.fullmatch(r"(?:fy|q)\d{1,4}", word)
    }
    claim_stems = stems(claim_words)
    named: set[str] = set()
    allowed: set[str] = set()
    for span in spans:
        sentence = span.sentence
        label = row_label(sentence)
        # The claim names the row's line item: every word of its caption (an abbreviation or
        # note in brackets and a footnote mark aside: "operations1"), or an analyst term for
        # the same item plus the caption's remaining qualifiers ("net sales, Americas" is not
        # "net sales").
        caption = _caption_of(label)
        unnamed, term_words = _unnamed_caption_words(claim.text, claim_stems, caption)
        named |= term_words
        if unnamed:
            return Verdict.FAIL, (
                f'the cited row is "{label}", and the claim does not name that line item '
                f"(missing: {', '.join(sorted(unnamed))})"
            )
        # Not the table's title or headers: "net deferred tax assets" in a claim citing the
        # row "Deferred tax assets" of a table titled "… assets and liabilities, net" names
        # another line item in the table's words.
        sources = [label, caption, sentence.company or "", sentence.filing.replace("_", " ")]
        allowed |= stems(content_words(" ".join(sources)))
    extra = {w for w in claim_words - _PARAPHRASE - named if stem(w) not in allowed}
    if extra:
        return None
    figures = ", ".join(f"{quantity.text} ({year})" for quantity, year in paired)
    labels = "; ".join(sorted({row_label(span.sentence) for span in spans}))
    return Verdict.PASS, (
        f"statement-row lookup: {figures} sit in the named years' columns of the cited row "
        f'"{labels}", and the claim adds nothing else'
    )


def _cited_inputs(formula: Formula) -> list[FormulaInput]:
    """Every figure a calculation reads off a cited row: its inputs and a ranking's total."""
    return [*formula.inputs, *([formula.total] if formula.total is not None else [])]


def _unranked(formula: Formula, asked: AskedQuestion) -> str | None:
    """Why a ranking does not answer the question, or None when it does: it ranks exactly the
    items the question names, one figure each, or the members of the group the question asks
    about, which add up to the cited total of that group (so none is left out), the way the
    question's superlative asks. A ranking that cannot show nothing was left out is none."""
    group = asked.group_ranking
    if group is not None:
        if group.direction != formula.ranking:
            return f"the question asks for the {group.superlative}, not the {formula.ranking}"
        if formula.total is None or not totals_group(formula.total.item, group.group):
            return f"a ranking of {group.group} members cites the total of them they add up to"
        subtotal = next((i for i in formula.inputs if i.item.lower().startswith("total")), None)
        if subtotal is not None:
            # A subtotal with the rest of its group's rows adds up too, and outranks them.
            return f"{subtotal.item!r} is a subtotal, not a member of the group"
        return None
    ranked = asked.ranking
    if ranked is None:
        return "a ranking answers only a question that names the items it ranks, or a group"
    if ranked.direction != formula.ranking:
        return f"the question asks for the {ranked.superlative}, not the {formula.ranking}"
    if len(formula.inputs) != len(ranked.alternatives):
        return (
            f"the question ranks {len(ranked.alternatives)} items, the claim {len(formula.inputs)}"
        )
    for alternative in ranked.alternatives:
        naming = [i for i in formula.inputs if names_alternative(i.item, alternative)]
        if len(naming) != 1:
            return f"{alternative!r} is not one ranked figure's line item"
    if not shared_item_words([i.item for i in formula.inputs], ranked.alternatives):
        # "Other investing activities" names "investing" too, but is not the row that
        # stands beside "Cash provided by operations".
        return "the ranked line items are not parallel rows: they share no words of their own"
    return None


def formula_inputs_placed(
    formula: Formula, claim: DraftClaim, spans: list[CitedSpan]
) -> tuple[Verdict, str]:
    """Whether each input of a calculation is the figure of a cited statement row that its
    brackets name, in the column of its period: the calculation follows from its citations
    when its inputs do (the arithmetic rule redoes the rest). A small NLI model cannot read a
    formula over table rows; this check is exact."""
    placed = []
    for formula_input in _cited_inputs(formula):
        year = formula.input_year(formula_input)
        if year is None:
            return Verdict.FAIL, (
                f"{formula_input.quantity.text} [{formula_input.item}] has no period: name it "
                "in its brackets or name one for the calculation"
            )
        row = next(
            (
                span
                for span in spans
                if span.sentence.kind == "table_row"
                and _names_caption(formula_input.item, row_label(span.sentence))
                and (by_year := _column_matches(formula_input.quantity, span, claim.text))
                and by_year.get(year)
                and quantity_supported(
                    formula_input.quantity,
                    evidence_values(span.quote, figure_scale(span.sentence, claim.text)),
                    True,
                )
            ),
            None,
        )
        if row is None:
            return Verdict.FAIL, (
                f"{formula_input.quantity.text} is not the {year} figure of a cited row that "
                f"prints {formula_input.item}"
            )
        label = row_label(row.sentence)
        columns = aligned_columns(normalise_text(row.sentence.text), row.sentence.table_header_rows)
        printed = dict(columns or []).get(year)
        # A sign the statement does not print would cook the arithmetic; a bracketed cost or
        # payment may be used as the amount it is, except in a ranking, where an outflow
        # taken as an amount would outrank every inflow.
        if printed is not None and formula_input.negative and not printed_negative(printed):
            return Verdict.FAIL, (
                f"{formula_input.quantity.text} is positive in the cited row {label!r}, and the "
                "calculation makes it negative"
            )
        if (
            printed is not None
            and printed_negative(printed)
            and not formula_input.negative
            and (formula.ranking is not None or not is_subtracted_item(label))
        ):
            return Verdict.FAIL, (
                f"{formula_input.quantity.text} is negative in the cited row {label!r} "
                f"({printed.text}), and the calculation makes it positive"
            )
        placed.append(f"{formula_input.quantity.text} ({label}, {year})")
    return Verdict.PASS, "calculation inputs sit in their named rows' year columns: " + "; ".join(
        placed
    )


def _names_caption(item: str, label: str) -> bool:
    """Whether an input's bracketed words name a row's line item."""
    item_stems = stems({w for w in content_words(item.lower()) if len(w) > 1})
    unnamed, _ = _unnamed_caption_words(item, item_stems, _caption_of(label))
    return not unnamed


def _caption_of(label: str) -> str:
    """A row's caption without an abbreviation or note in brackets or a footnote mark
    ("operations1"), lower-cased."""
    caption = re.sub(r"(?<=[a-z])\d+\b", "", re.sub(r"\([^)]*\)", " ", label))
    return normalise_text(caption).lower()


def _unnamed_caption_words(
    text: str, text_stems: set[str], caption: str
) -> tuple[set[str], set[str]]:
    """(the caption's words ``text`` leaves unnamed, the analyst term's words that name the
    item instead). Text names a row's line item with every word of its caption, or with an
    analyst term for the same item plus the caption's remaining qualifiers ("net sales,
    Americas" is not "net sales")."""
    caption_words = {word for word in content_words(caption) if len(word) > 1}
    unnamed = {w for w in caption_words - _PARAPHRASE if stem(w) not in text_stems}
    if unnamed:
        for term, phrase in same_item_terms(text, caption):
            rest = {w for w in content_words(caption.replace(phrase, " ")) if len(w) > 1}
            if stems(rest - _PARAPHRASE) <= text_stems:
                return set(), content_words(term)
    return unnamed, set()


_CLAUSE_BREAK = re.compile(r"[;,]\s+|\s+and\s+|\s+while\s+|\s+whereas\s+")


def critique(report: VerificationReport, constitution: Constitution) -> str:
    """The verifier's findings as a critique the generator can revise against: each failing
    rule, quoted from the constitution, with the claim and the failing span."""
    lines = []
    for claim in report.claims:
        for failure in claim.failures:
            if failure.rule_id not in constitution.blocking:
                continue
            rule = constitution.rule(failure.rule_id)
            detail = f' Failing span: "{failure.span}".' if failure.span else ""
            lines.append(
                f'- Claim {claim.index + 1} ("{claim.claim.text}") breaks rule {rule.id}: '
                f"{rule.text} Finding: {failure.reason}.{detail}"
            )
    for failure in report.answer_results:
        if failure.verdict is Verdict.FAIL:
            rule = constitution.rule(failure.rule_id)
            lines.append(f"- The direct answer breaks rule {rule.id}: {failure.reason}.")
    return "\n".join(lines)
