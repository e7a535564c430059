"""Prometheus metrics of one service instance (its own registry, so apps never share one)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from engine.answers import AuditRecord
from service.log import outcome_of

_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)
_STAGE_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60, 120, 300, 600)


class ServiceMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "verirag_http_requests",
            "HTTP requests by route template, method and status.",
            ["route", "method", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "verirag_http_request_seconds",
            "HTTP request latency by route template and method.",
            ["route", "method"],
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.stages = Histogram(
            "verirag_stage_seconds",
            "Time per answer stage: queue, retrieve, generate, verify, total.",
            ["stage"],
            buckets=_STAGE_BUCKETS,
            registry=self.registry,
        )
        self.answers = Counter(
            "verirag_answers",
            "Answers delivered, by outcome (answered, partial, refused).",
            ["outcome"],
            registry=self.registry,
        )
        self.verdicts = Counter(
            "verirag_claim_verdicts",
            "Verifier verdicts on generated claims, by constitution rule.",
            ["rule", "verdict"],
            registry=self.registry,
        )
        self.refusals = Counter(
            "verirag_refusals",
            "Refused answers by reason kind.",
            ["reason"],
            registry=self.registry,
        )
        self.shed_requests = Counter(
            "verirag_requests_shed",
            "Questions refused before work began (queue_full, generator_unavailable, "
            "rate_limited).",
            ["reason"],
            registry=self.registry,
        )
        self.queue_waiting = Gauge(
            "verirag_answer_queue_depth",
            "Questions admitted and waiting for an answer worker.",
            registry=self.registry,
        )
        self.answers_running = Gauge(
            "verirag_answers_in_progress",
            "Questions being answered now.",
            registry=self.registry,
        )
        self.jobs_pending = Gauge(
            "verirag_jobs_pending",
            "Filing jobs queued or running.",
            registry=self.registry,
        )

    # AnswerObserver
    def queue_depth(self, waiting: int, running: int) -> None:
        self.queue_waiting.set(waiting)
        self.answers_running.set(running)

    def shed(self, reason: str) -> None:
        self.shed_requests.labels(reason).inc()

    def answered(self, record: AuditRecord) -> None:
        answer = record.answer
        timings = answer.timings
        for stage, ms in (
            ("queue", timings.queue_ms),
            ("retrieve", timings.retrieve_ms),
            ("generate", timings.generate_ms),
            ("verify", timings.verify_ms),
            ("total", timings.total_ms + timings.queue_ms),
        ):
            self.stages.labels(stage).observe(ms / 1000)
        self.answers.labels(outcome_of(record)).inc()
        for claim in [*answer.claims, *answer.dropped_claims]:
            for rule, verdict in claim.verdicts.items():
                self.verdicts.labels(rule, verdict).inc()
        if answer.refused:
            reason = answer.refusal_reason or ""
            if "no citable sentence" in reason:
                kind = "no_evidence_retrieved"
            elif "found no supporting evidence" in reason:
                kind = "generator_declined"
            elif "do not establish the answer" in reason:
                kind = "answer_not_established"
            elif "no answer that could be checked" in reason:
                kind = "generation_failed"
            else:
                kind = "claims_failed_verification"
            self.refusals.labels(kind).inc()

    def render(self) -> bytes:
        return generate_latest(self.registry)
