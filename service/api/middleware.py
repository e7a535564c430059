"""Per-request plumbing (pure ASGI, so streaming responses pass through untouched): a request
id in the log context and the response headers, body size limits, metrics, one access-log line,
and the last-resort 500 envelope."""

from __future__ import annotations

import hashlib
import itertools
import logging
import os
import re
import time
from typing import Any

from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.api.errors import error_response
from service.api.metrics import ServiceMetrics
from service.logs import request_id_var

logger = logging.getLogger("verirag.access")

_CLIENT_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
_counter = itertools.count()


def _new_request_id() -> str:
    digest = hashlib.blake2b(
        f"{os.getpid()}:{time.time_ns()}:{next(_counter)}".encode(), digest_size=8
    )
    return "r" + digest.hexdigest()


class BodyTooLargeError(StarletteHTTPException):
    def __init__(self, limit: int) -> None:
        super().__init__(413, f"the request body is larger than the {limit:,}-byte limit")


class RequestContextMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        metrics: ServiceMetrics,
        max_request_bytes: int,
        max_upload_bytes: int,
    ) -> None:
        self.app = app
        self.metrics = metrics
        self.max_request_bytes = max_request_bytes
        self.max_upload_bytes = max_upload_bytes

    def _limit(self, scope: Scope) -> int:
        if scope["method"] == "POST" and scope["path"].rstrip("/") == "/v1/filings":
            # Multipart framing adds a little to the file itself.
            return self.max_upload_bytes + 64 * 1024
        return self.max_request_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        offered = headers.get("x-request-id", "")
        request_id = offered if _CLIENT_REQUEST_ID.match(offered) else _new_request_id()
        token = request_id_var.set(request_id)
        limit = self._limit(scope)
        state: dict[str, Any] = {"status": 500, "started": False, "received": 0}

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                state["status"] = message["status"]
                state["started"] = True
                message["headers"] = [
                    *message.get("headers", []),
                    (b"x-request-id", request_id.encode()),
                ]
            await send(message)

        async def counted_receive() -> Message:
            message = await receive()
            if message["type"] == "http.request":
                state["received"] += len(message.get("body", b""))
                if state["received"] > limit:
                    raise BodyTooLargeError(limit)
            return message

        try:
            declared = int(headers.get("content-length", "0") or 0)
        except ValueError:
            declared = 0
        try:
            if declared > limit:
                response = error_response(
                    413,
                    "request_too_large",
                    f"the request body ({declared:,} bytes) is larger than the {limit:,}-byte "
                    "limit",
                )
                await response(scope, receive, send_with_id)
            else:
                await self.app(scope, counted_receive, send_with_id)
        except BodyTooLargeError as exc:
            if not state["started"]:
                await error_response(413, "request_too_large", str(exc.detail))(
                    scope, receive, send_with_id
                )
        except Exception:
            logger.exception("unhandled error")
            if not state["started"]:
                response = error_response(
                    500,
                    "internal_error",
                    "the service failed unexpectedly; the request id is logged",
                )
                await response(scope, receive, send_with_id)
        finally:
            elapsed = time.perf_counter() - started
            route = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            method = scope["method"]
            self.metrics.requests.labels(template, method, str(state["status"])).inc()
            self.metrics.latency.labels(template, method).observe(elapsed)
            if template not in {"/healthz", "/metrics"}:
                logger.info(
                    "%s %s %s",
                    method,
                    scope["path"],
                    state["status"],
                    extra={
                        "route": template,
                        "status": state["status"],
                        "ms": round(1000 * elapsed, 1),
                    },
                )
            request_id_var.reset(token)
