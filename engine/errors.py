"""Named errors of the answer engine. A verifier refusal is not among them: it is an answer."""

from __future__ import annotations


class AnswerEngineError(Exception):
    """Base of everything the answer engine raises on purpose."""


class GeneratorUnavailableError(AnswerEngineError):
    """The generator backend cannot be loaded or reached (down, timed out, misconfigured)."""

    def __init__(self, message: str, retry_after_seconds: float | None = None) -> None:
        super().__init__(message)
        self.retry_after_seconds = retry_after_seconds


class GeneratorFailedError(AnswerEngineError):
    """The generator raised on this request (a runtime or decoding failure): no answer, but
    not a reason to think the backend is down for everyone."""


class GeneratorOutputError(AnswerEngineError):
    """The generator returned something that is not an answer in the schema."""


class VerifierUnavailableError(AnswerEngineError):
    """The verifier or its entailment judge cannot run; no answer may be delivered."""
