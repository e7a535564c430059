"""The generator over an OpenAI-compatible chat completions server (vLLM in production).

The model or LoRA adapter is chosen by name (vLLM serves adapters registered with
``--lora-modules name=path`` under their own model name). Output is constrained either with
``response_format`` (a JSON schema: what every compatible server accepts) or with vLLM's
``structured_outputs.grammar``, the grammar in which quotes are verbatim by construction.
Timeouts and connection failures are retried with exponential backoff, then reported as
``GeneratorUnavailableError`` with a retry-after hint: never an answer made up locally.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any, Literal

import httpx

from engine.errors import GeneratorOutputError, GeneratorUnavailableError
from engine.generation import Generation, OutputConstraint

_RETRYABLE_STATUS = {429, 500, 502, 503, 504}


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
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.model = model
        self.model_version = f"openai:{model}"
        self.structured_output = structured_output
        self._retries = retries
        self._backoff = backoff_seconds
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
        for attempt in range(self._retries + 1):
            if attempt:
                time.sleep(self._backoff * 2 ** (attempt - 1))
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
            except (httpx.TransportError, httpx.TimeoutException) as exc:
                last_error = exc
        raise GeneratorUnavailableError(
            f"the generator server at {self.base_url} failed after {self._retries + 1} "
            f"attempt(s): {last_error}",
            retry_after_seconds=10.0,
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
        with self._client.stream("POST", "/chat/completions", json=body) as response:
            if response.status_code >= 400:
                response.read()
                response.raise_for_status()
            for line in response.iter_lines():
                if not line.startswith("data:"):
                    continue
                data = line.removeprefix("data:").strip()
                if data == "[DONE]":
                    break
                try:
                    event = json.loads(data)
                except ValueError as exc:
                    raise GeneratorOutputError(f"malformed stream event: {data[:200]}") from exc
                model = str(event.get("model", model))
                usage = event.get("usage") or usage
                for choice in event.get("choices") or []:
                    delta = (choice.get("delta") or {}).get("content")
                    if delta:
                        parts.append(delta)
                        on_text(delta)
        return Generation(
            text="".join(parts),
            model=model,
            prompt_tokens=int(usage.get("prompt_tokens", 0)),
            completion_tokens=int(usage.get("completion_tokens", 0)),
            seconds=time.perf_counter() - started,
        )

    def close(self) -> None:
        self._client.close()
