"""The generator over an OpenAI-compatible chat completions server (vLLM in production).

The model or LoRA adapter is chosen by name (vLLM serves adapters registered with
``--lora-modules name=path`` under their own model name). Output is constrained either with
``response_format`` (a JSON schema: what every compatible server accepts) or with vLLM's
``structured_outputs.grammar``, the grammar in which quotes are verbatim by construction.
Timeouts, connection failures and busy answers (429, 5xx) are retried with exponential
backoff, waiting at least as long as the server's ``Retry-After`` asks (up to a cap), then
reported as ``GeneratorUnavailableError`` with a retry-after hint: never an answer made up
locally. A stream fails when the server sends an ``error`` event or the stream ends before
``[DONE]``; once text has streamed to the caller it is not retried (the caller would see it
twice).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from email.utils import parsedate_to_datetime
from typing import Any, Literal

import httpx

from engine.errors import GeneratorOutputError, GeneratorUnavailableError
from engine.generation import Generation, OutputConstraint

_RETRYABLE_STATUS = {429, 500, 502, 503, 504}


def retry_after_seconds(response: httpx.Response) -> float | None:
    """The wait a ``Retry-After`` header asks for (seconds, or an HTTP date), if any."""
    value = response.headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


class OpenAIChatGenerator:
    def __init__(
        self,
        base_url: str,
        model: str,
        api_key: str | None = None,
        structured_output: Literal["json_schema", "vllm_grammar"] = "json_schema",
        timeout_seconds: float = 120.0,
        retries: int = 2,
        backoff_seconds: float = 0.5,
        transport: httpx.BaseTransport | None = None,
        max_retry_after_seconds: float = 30.0,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.model = model
        self.model_version = f"openai:{model}"
        self.structured_output = structured_output
        self._retries = retries
        self._backoff = backoff_seconds
        # A server asking for longer than this is reported busy at once: the answer has a
        # deadline, and the caller gets the server's hint instead.
        self._max_retry_after = max_retry_after_seconds
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._client = httpx.Client(
            base_url=self.base_url,
            headers=headers,
            timeout=httpx.Timeout(timeout_seconds, connect=min(10.0, timeout_seconds)),
            transport=transport,
        )

    def warm_up(self) -> None:
        """Checks the server answers and serves the configured model."""
        try:
            response = self._client.get("/models")
            response.raise_for_status()
            served = {item.get("id") for item in response.json().get("data", [])}
        except (httpx.HTTPError, ValueError) as exc:
            raise GeneratorUnavailableError(
                f"the generator server at {self.base_url} is not reachable: {exc}",
                retry_after_seconds=5.0,
            ) from exc
        if served and self.model not in served:
            raise GeneratorUnavailableError(
                f"the server at {self.base_url} does not serve '{self.model}' "
                f"(it serves {', '.join(sorted(str(s) for s in served))})"
            )

    def request_body(
        self,
        messages: list[dict[str, str]],
        constraint: OutputConstraint,
        max_new_tokens: int,
        stream: bool,
    ) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": self.model,
            "messages": messages,
            "max_tokens": max_new_tokens,
            "temperature": 0.0,
            "stream": stream,
        }
        if self.structured_output == "vllm_grammar":
            body["structured_outputs"] = {"grammar": constraint.grammar}
        else:
            body["response_format"] = {
                "type": "json_schema",
                "json_schema": {
                    "name": "verirag_answer",
                    "schema": constraint.json_schema,
                    "strict": True,
                },
            }
        if stream:
            body["stream_options"] = {"include_usage": True}
        return body

    def generate(
        self,
        messages: list[dict[str, str]],
        constraint: OutputConstraint,
        max_new_tokens: int,
        on_text: Callable[[str], None] | None = None,
    ) -> Generation:
        body = self.request_body(messages, constraint, max_new_tokens, stream=on_text is not None)
        last_error: Exception | None = None
        asked_wait: float | None = None
        for attempt in range(self._retries + 1):
            if attempt:
                time.sleep(max(self._backoff * 2 ** (attempt - 1), asked_wait or 0.0))
            started = time.perf_counter()
            try:
                if on_text is None:
                    return self._complete(body, started)
                return self._stream(body, started, on_text)
            except httpx.HTTPStatusError as exc:
                if exc.response.status_code not in _RETRYABLE_STATUS:
                    raise GeneratorOutputError(
                        f"the generator server refused the request ({exc.response.status_code}): "
                        f"{exc.response.text[:300]}"
                    ) from exc
                last_error = exc
                asked_wait = retry_after_seconds(exc.response)
                if asked_wait is not None and asked_wait > self._max_retry_after:
                    break
            except (httpx.TransportError, httpx.TimeoutException) as exc:
                last_error = exc
                asked_wait = None
        raise GeneratorUnavailableError(
            f"the generator server at {self.base_url} failed after {attempt + 1} "
            f"attempt(s): {last_error}",
            retry_after_seconds=asked_wait if asked_wait else 10.0,
        ) from last_error

    def _complete(self, body: dict[str, Any], started: float) -> Generation:
        response = self._client.post("/chat/completions", json=body)
        response.raise_for_status()
        try:
            payload = response.json()
            text = payload["choices"][0]["message"]["content"] or ""
        except (ValueError, KeyError, IndexError, TypeError) as exc:
            raise GeneratorOutputError(f"malformed completion: {response.text[:300]}") from exc
        usage = payload.get("usage") or {}
        return Generation(
            text=text,
            model=str(payload.get("model", self.model)),
            prompt_tokens=int(usage.get("prompt_tokens", 0)),
            completion_tokens=int(usage.get("completion_tokens", 0)),
            seconds=time.perf_counter() - started,
        )

    def _stream(
        self, body: dict[str, Any], started: float, on_text: Callable[[str], None]
    ) -> Generation:
        parts: list[str] = []
        usage: dict[str, Any] = {}
        model = self.model
        done = False
        with self._client.stream("POST", "/chat/completions", json=body) as response:
            if response.status_code >= 400:
                response.read()
                response.raise_for_status()
            try:
                for line in response.iter_lines():
                    if not line.startswith("data:"):
                        continue
                    data = line.removeprefix("data:").strip()
                    if data == "[DONE]":
                        done = True
                        break
                    try:
                        event = json.loads(data)
                    except ValueError as exc:
                        raise GeneratorOutputError(f"malformed stream event: {data[:200]}") from exc
                    if event.get("error"):
                        raise GeneratorUnavailableError(
                            "the generator server failed mid-answer: "
                            f"{json.dumps(event['error'])[:300]}",
                            retry_after_seconds=10.0,
                        )
                    model = str(event.get("model", model))
                    usage = event.get("usage") or usage
                    for choice in event.get("choices") or []:
                        delta = (choice.get("delta") or {}).get("content")
                        if delta:
                            parts.append(delta)
                            on_text(delta)
            except (httpx.TransportError, httpx.TimeoutException) as exc:
                if not parts:
                    raise  # nothing reached the caller yet: retried like any failure
                raise GeneratorUnavailableError(
                    f"the generator server's stream broke mid-answer: {exc}",
                    retry_after_seconds=10.0,
                ) from exc
        if not done:
            raise GeneratorUnavailableError(
                "the generator server's stream ended before [DONE]: the answer was cut off",
                retry_after_seconds=10.0,
            )
        return Generation(
            text="".join(parts),
            model=model,
            prompt_tokens=int(usage.get("prompt_tokens", 0)),
            completion_tokens=int(usage.get("completion_tokens", 0)),
            seconds=time.perf_counter() - started,
        )

    def close(self) -> None:
        self._client.close()
