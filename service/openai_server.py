"""A small OpenAI-compatible chat completions server over the in-process generator.

vLLM cannot be installed on a CPU-only machine, so this is what the OpenAI backend is tested
against over real HTTP, and what a laptop can run (``verirag generator serve``) to use the HTTP
backend without a GPU. It speaks the subset verirag uses: ``/v1/models``,
``/v1/chat/completions`` with ``response_format`` JSON schemas, vLLM's
``structured_outputs.grammar``, and ``stream`` (Server-Sent Events).
"""

from __future__ import annotations

import json
import queue
import threading
import time
from collections.abc import Iterator
from typing import Any, Literal

from fastapi import FastAPI
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, Field

from engine.errors import GeneratorOutputError
from engine.local_generator import TransformersGenerator


class ChatMessage(BaseModel):
    role: Literal["system", "user", "assistant"]
    content: str


class JsonSchemaFormat(BaseModel):
    name: str = "response"
    schema_: dict[str, Any] = Field(alias="schema")
    strict: bool | None = None


class ResponseFormat(BaseModel):
    type: Literal["text", "json_object", "json_schema"]
    json_schema: JsonSchemaFormat | None = None


class StructuredOutputs(BaseModel):
    grammar: str | None = None
    json_: dict[str, Any] | None = Field(default=None, alias="json")


class StreamOptions(BaseModel):
    include_usage: bool = False


class ChatCompletionRequest(BaseModel):
    model: str
    messages: list[ChatMessage] = Field(min_length=1)
    max_tokens: int | None = Field(default=None, ge=1)
    max_completion_tokens: int | None = Field(default=None, ge=1)
    temperature: float | None = Field(default=None, ge=0)
    stream: bool = False
    stream_options: StreamOptions | None = None
    response_format: ResponseFormat | None = None
    structured_outputs: StructuredOutputs | None = None


def _error(status: int, message: str, kind: str) -> JSONResponse:
    return JSONResponse(
        status_code=status,
        content={"error": {"message": message, "type": kind, "code": status}},
    )


def build_app(
    generator: TransformersGenerator, served_name: str, default_max_tokens: int = 512
) -> FastAPI:
    app = FastAPI(title="verirag local generator (OpenAI-compatible)")

    @app.get("/v1/models")
    def models() -> dict[str, Any]:
        return {
            "object": "list",
            "data": [{"id": served_name, "object": "model", "owned_by": "verirag"}],
        }

    @app.get("/health")
    def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.post("/v1/chat/completions", response_model=None)
    def chat_completions(body: ChatCompletionRequest) -> Any:
        if body.model != served_name:
            return _error(404, f"model '{body.model}' is not served here", "NotFoundError")
        try:
            compiled = _compile(generator, body)
        except (ValueError, RuntimeError) as exc:
            return _error(400, f"cannot compile the output constraint: {exc}", "BadRequestError")
        messages = [m.model_dump() for m in body.messages]
        limit = body.max_completion_tokens or body.max_tokens or default_max_tokens
        created = int(time.time())
        completion_id = f"chatcmpl-{time.time_ns():x}"
        if body.stream:
            return StreamingResponse(
                _stream(generator, messages, compiled, limit, served_name, completion_id, body),
                media_type="text/event-stream",
            )
        try:
            generation = generator.decode(messages, compiled, limit)
        except GeneratorOutputError as exc:
            return _error(500, str(exc), "InternalServerError")
        return {
            "id": completion_id,
            "object": "chat.completion",
            "created": created,
            "model": served_name,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": generation.text},
                    "finish_reason": generation.finish_reason,
                }
            ],
            "usage": {
                "prompt_tokens": generation.prompt_tokens,
                "completion_tokens": generation.completion_tokens,
                "total_tokens": generation.prompt_tokens + generation.completion_tokens,
            },
        }

    return app


def _compile(generator: TransformersGenerator, body: ChatCompletionRequest) -> Any:
    if body.structured_outputs is not None:
        if body.structured_outputs.grammar:
            return generator.compile(grammar=body.structured_outputs.grammar)
        if body.structured_outputs.json_ is not None:
            return generator.compile(json_schema=body.structured_outputs.json_)
    if body.response_format is not None and body.response_format.type == "json_schema":
        if body.response_format.json_schema is None:
            raise ValueError("response_format json_schema needs a 'json_schema' object")
        return generator.compile(json_schema=body.response_format.json_schema.schema_)
    if body.response_format is not None and body.response_format.type == "json_object":
        return generator.compile(json_schema={"type": "object"})
    return None


def _stream(
    generator: TransformersGenerator,
    messages: list[dict[str, str]],
    compiled: Any,
    limit: int,
    served_name: str,
    completion_id: str,
    body: ChatCompletionRequest,
) -> Iterator[str]:
    events: queue.Queue[tuple[str, Any]] = queue.Queue()

    def work() -> None:
        try:
            result = generator.decode(
                messages, compiled, limit, on_text=lambda text: events.put(("delta", text))
            )
            events.put(("done", result))
        except Exception as exc:  # the stream must end with an error event, not hang
            events.put(("error", exc))

    threading.Thread(target=work, daemon=True).start()

    def chunk(delta: dict[str, Any], finish: str | None = None) -> str:
        payload = {
            "id": completion_id,
            "object": "chat.completion.chunk",
            "model": served_name,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        }
        return f"data: {json.dumps(payload)}\n\n"

    yield chunk({"role": "assistant", "content": ""})
    while True:
        kind, value = events.get()
        if kind == "delta":
            yield chunk({"content": value})
        elif kind == "error":
            yield f"data: {json.dumps({'error': {'message': str(value)}})}\n\n"
            break
        else:
            yield chunk({}, value.finish_reason)
            if body.stream_options and body.stream_options.include_usage:
                usage = {
                    "prompt_tokens": value.prompt_tokens,
                    "completion_tokens": value.completion_tokens,
                    "total_tokens": value.prompt_tokens + value.completion_tokens,
                }
                payload = {
                    "id": completion_id,
                    "object": "chat.completion.chunk",
                    "model": served_name,
                    "choices": [],
                    "usage": usage,
                }
                yield f"data: {json.dumps(payload)}\n\n"
            break
    yield "data: [DONE]\n\n"
