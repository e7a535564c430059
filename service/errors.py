"""Named errors of the service (API, storage, keys, jobs). The answer engine's own errors are
in ``engine/errors.py``."""

from __future__ import annotations


class ServiceError(Exception):
    """Base of everything the service raises on purpose."""


class AnswerNotFoundError(ServiceError):
    """No logged answer has this id."""


class CitationNotFoundError(ServiceError):
    """The answer has no claim or citation at this position."""


class PageImageUnavailableError(ServiceError):
    """A cited page cannot be rendered: an HTML filing, or a PDF deleted or changed since it
    was ingested."""


class InvalidReviewError(ServiceError):
    """A review action that contradicts its answer or the review vocabulary (a rejection with
    no reason code, a citation the answer does not have)."""


class InvalidCursorError(ServiceError):
    """A list cursor this service did not issue."""


class AuthenticationError(ServiceError):
    """No API key, or one that is malformed, unknown or revoked."""


class PermissionDeniedError(ServiceError):
    """The caller's role may not use this route or read this record."""


class KeyNotFoundError(ServiceError):
    """No API key has this id."""


class OverloadedError(ServiceError):
    """The answer queue is full; the client should retry after ``retry_after_seconds``."""

    def __init__(self, message: str, retry_after_seconds: float) -> None:
        super().__init__(message)
        self.retry_after_seconds = retry_after_seconds


class RateLimitedError(OverloadedError):
    """This API key has used its request budget for now."""


class AnswerTimeoutError(ServiceError):
    """The answer did not finish within the service's answer timeout."""

    def __init__(self, message: str, retry_after_seconds: float) -> None:
        super().__init__(message)
        self.retry_after_seconds = retry_after_seconds


class BadUploadError(ServiceError):
    """An uploaded filing that cannot be ingested (type, size, name, encryption)."""


class JobNotFoundError(ServiceError):
    """No ingest job has this id."""


class InvalidFeedbackError(ServiceError):
    """Feedback that contradicts its answer (claim index out of range, unrelated answers)."""


class InvalidRequestError(ServiceError):
    """A well-formed request the service will not take (e.g. a question over the length
    limit)."""
