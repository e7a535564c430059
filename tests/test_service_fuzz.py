"""Schemathesis against the served OpenAPI document: generated requests for every operation,
valid and invalid, and not one may get a 5xx. CI runs a few hundred cases;
`python -m bench.fuzz` runs the same test with thousands."""

from __future__ import annotations

import json
import os
import shutil
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from engine.settings import Settings, get_settings
from service.api.app import create_app
from service.api.components import build_components
from service.api.metrics import ServiceMetrics
from service.db import open_database
from service.keys import KeyStore, Role
from tests.test_answer_pipeline import ScriptedGenerator, good_draft
from tests.test_verifier import OverlapJudge
from verifier.checks import Verifier
from verifier.constitution import load_constitution

EXAMPLES = int(os.environ.get("VERIRAG_FUZZ_EXAMPLES", "25"))
CASES: Counter[str] = Counter()
STATUSES: Counter[int] = Counter()


def _draft_or_decline(labels: dict[str, str]) -> dict[str, Any]:
    """The good draft when its sentence is in the context, else the model's refusal form."""
    try:
        return good_draft(labels)
    except StopIteration:
        return {"claims": [], "answer": "", "insufficient_evidence": True}


@pytest.fixture(scope="module")
def served(
    acme_index: Path, tmp_path_factory: pytest.TempPathFactory, embedder: Any
) -> Iterator[tuple[str, dict[str, str]]]:
    import uvicorn

    folder = tmp_path_factory.mktemp("fuzz")
    data = folder / "index"
    shutil.copytree(acme_index, data)
    chosen = Settings(
        **{
            **get_settings().model_dump(),
            "data_dir": data,
            "rerank_top": 0,
            "rate_limit_per_minute": 1_000_000,
            "answer_rate_limit_per_minute": 1_000_000,
            "unauthenticated_rate_limit_per_minute": 1_000_000,
            "max_upload_bytes": 2_000_000,
            "log_format": "text",
        }
    )
    keys = KeyStore(open_database(chosen.service_database_url))
    tokens = {role.value: keys.create(role, f"fuzz {role.value}")[0] for role in Role}

    def components(s: Settings, metrics: ServiceMetrics) -> Any:
        return build_components(
            s,
            metrics,
            generator=ScriptedGenerator(_draft_or_decline),
            verifier=Verifier(load_constitution(), OverlapJudge()),
            embedder=embedder,
        )

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(chosen, components), host="127.0.0.1", port=port, log_level="warning"
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 120
    while not server.started:
        assert time.monotonic() < deadline, "the API did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}", tokens
    server.should_exit = True
    thread.join(30)
    report = os.environ.get("VERIRAG_FUZZ_REPORT")
    if report:
        Path(report).write_text(
            json.dumps({"cases": dict(CASES), "statuses": {str(k): v for k, v in STATUSES.items()}})
        )


def _key_for(path: str, tokens: dict[str, str]) -> str:
    if path.startswith("/v1/answers"):
        return tokens["analyst"]
    return tokens["admin"]


def _fuzz(operation: Any, mode: Any, url: str, tokens: dict[str, str]) -> Callable[[], None]:
    from hypothesis import given

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        derandomize=True,
        database=None,
    )
    def run(case: Any) -> None:
        headers = {"Authorization": f"Bearer {_key_for(case.path, tokens)}"}
        response = case.call(base_url=url, headers=headers, timeout=60)
        CASES[f"{case.method} {case.path} {mode.value}"] += 1
        STATUSES[response.status_code] += 1
        assert response.status_code < 500, (
            f"{case.method} {case.formatted_path} → {response.status_code}: {response.text[:500]}"
        )
        if response.status_code >= 400:
            body = response.json()
            assert set(body) == {"error"} and body["error"]["type"], body

    return run  # type: ignore[no-any-return]


def test_no_generated_request_gets_a_server_error(served: tuple[str, dict[str, str]]) -> None:
    from hypothesis.errors import Unsatisfiable

    url, tokens = served
    schema = schemathesis.openapi.from_url(f"{url}/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 14
    for operation in operations:
        for mode in (schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE):
            try:
                _fuzz(operation, mode, url, tokens)()
            except Unsatisfiable:
                # No input of this operation can be made invalid (no parameters, no body).
                assert mode is schemathesis.GenerationMode.NEGATIVE
    assert sum(CASES.values()) >= len(operations) * min(EXAMPLES, 5)
