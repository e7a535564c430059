"""Named errors of the answer pipeline. A verifier refusal is not among them: it is an answer."""

from __future__ import annotations


class ServiceError(Exception):
    """Base of everything the service raises on purpose."""


class GeneratorUnavailableError(ServiceError):
    """The generator backend cannot be loaded or reached (down, timed out, misconfigured)."""

    def __init__(self, message: str, retry_after_seconds: float | None = None) -> None:
        super().__init__(message)
        self.retry_after_seconds = retry_after_seconds


class GeneratorOutputError(ServiceError):
    """The generator returned something that is not an answer in the schema."""


class VerifierUnavailableError(ServiceError):
    """The verifier or its entailment judge cannot run; no answer may be delivered."""


class AnswerNotFoundError(ServiceError):
    """No logged answer has this id."""
