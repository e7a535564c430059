"""Named errors of the verifier. A claim failing a rule is a verdict, not an error: these are
for a verifier that cannot run at all, which must stop an answer from being delivered."""

from __future__ import annotations


class VerifierError(Exception):
    """Base of the verifier's own errors."""


class JudgeUnavailableError(VerifierError):
    """The entailment judge cannot be loaded or run."""


class ConstitutionError(VerifierError):
    """The constitution file is missing, malformed or names an unknown check."""


class TrainingDataError(VerifierError):
    """A training or evaluation file is missing or malformed."""
