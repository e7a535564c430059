"""The one exception → HTTP mapping. Every error body is an ``ErrorEnvelope``."""

from __future__ import annotations

import logging
import math
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from engine.errors import (
    AnswerEngineError,
    GeneratorFailedError,
    GeneratorUnavailableError,
    VerifierUnavailableError,
)
from ingest.errors import FilingNotFoundError, IngestError
from service.api.protocol import ErrorDetail, ErrorEnvelope
from service.errors import (
    AnswerNotFoundError,
    AnswerTimeoutError,
    AuthenticationError,
    BadUploadError,
    CitationNotFoundError,
    InvalidCursorError,
    InvalidFeedbackError,
    InvalidRequestError,
    InvalidReviewError,
    JobNotFoundError,
    KeyNotFoundError,
    OverloadedError,
    PageImageUnavailableError,
    PermissionDeniedError,
    RateLimitedError,
    ServiceError,
)
from service.logs import request_id_var

logger = logging.getLogger(__name__)

# (exception, status, type). Order matters: subclasses before their bases.
_MAPPING: list[tuple[type[Exception], int, str]] = [
    (AuthenticationError, 401, "unauthenticated"),
    (PermissionDeniedError, 403, "forbidden"),
    (AnswerNotFoundError, 404, "answer_not_found"),
    (CitationNotFoundError, 404, "citation_not_found"),
    (PageImageUnavailableError, 404, "page_image_unavailable"),
    (JobNotFoundError, 404, "job_not_found"),
    (KeyNotFoundError, 404, "key_not_found"),
    (FilingNotFoundError, 404, "filing_not_found"),
    (InvalidCursorError, 422, "invalid_cursor"),
    (InvalidFeedbackError, 422, "invalid_feedback"),
    (InvalidReviewError, 422, "invalid_review"),
    (InvalidRequestError, 422, "invalid_request"),
    (BadUploadError, 400, "bad_upload"),
    (RateLimitedError, 429, "rate_limited"),
    (OverloadedError, 429, "overloaded"),
    (GeneratorUnavailableError, 503, "generator_unavailable"),
    (GeneratorFailedError, 503, "generator_failed"),
    (AnswerTimeoutError, 503, "answer_timeout"),
    (VerifierUnavailableError, 503, "verifier_unavailable"),
    (IngestError, 400, "ingest_error"),
]

_HTTP_TYPES = {
    400: "bad_request",
    401: "unauthenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "request_too_large",
    415: "unsupported_media_type",
    422: "invalid_request",
}


def error_response(
    status: int,
    kind: str,
    message: str,
    retry_after: float | None = None,
    details: list[dict[str, Any]] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    body = ErrorEnvelope(
        error=ErrorDetail(
            type=kind,
            message=message,
            request_id=request_id_var.get(),
            retry_after_seconds=retry_after,
            details=details,
        )
    )
    all_headers = dict(headers or {})
    if retry_after is not None:
        all_headers["Retry-After"] = str(max(1, math.ceil(retry_after)))
    if status == 401:
        all_headers["WWW-Authenticate"] = "Bearer"
    return JSONResponse(
        body.model_dump(mode="json", exclude_none=True), status_code=status, headers=all_headers
    )


def map_exception(exc: Exception) -> JSONResponse:
    for kind_of, status, kind in _MAPPING:
        if isinstance(exc, kind_of):
            retry_after = getattr(exc, "retry_after_seconds", None)
            if status == 503 and retry_after is None:
                retry_after = 5.0
            return error_response(status, kind, str(exc), retry_after)
    logger.error("unhandled error", exc_info=exc)
    return error_response(
        500, "internal_error", "the service failed unexpectedly; the request id is logged"
    )


def _validation_details(exc: RequestValidationError) -> list[dict[str, Any]]:
    return [
        {
            "location": [str(part) for part in error.get("loc", ())],
            "problem": str(error.get("msg", "")),
            "kind": str(error.get("type", "")),
        }
        for error in exc.errors()
    ]


def install_error_handlers(app: FastAPI) -> None:
    async def service_error(_: Request, exc: Exception) -> JSONResponse:
        return map_exception(exc)

    async def validation_error(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        details = _validation_details(exc)
        if any(d["kind"] == "json_invalid" for d in details):
            return error_response(
                400, "malformed_json", "the request body is not valid JSON", details=details
            )
        summary = "; ".join(
            f"{'.'.join(d['location'][1:]) or d['location'][0]}: {d['problem']}"
            for d in details[:3]
        )
        return error_response(
            422, "invalid_request", f"the request is invalid: {summary}", details=details
        )

    async def http_error(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        kind = _HTTP_TYPES.get(exc.status_code, "http_error")
        return error_response(
            exc.status_code, kind, str(exc.detail), headers=dict(exc.headers or {})
        )

    app.add_exception_handler(ServiceError, service_error)
    app.add_exception_handler(AnswerEngineError, service_error)
    app.add_exception_handler(IngestError, service_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(Exception, service_error)
