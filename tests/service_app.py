"""The REST app under test: a real app over a copy of the generated 10-K's index, with keys
for each role, on SQLite and PostgreSQL. The generator and the judge are scripted by default
(the seams the API tests are not about). A pytest plugin (tests/conftest.py loads it), so every
API test module gets ``make_service``."""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from engine.settings import Settings, get_settings
from service.api.app import create_app
from service.api.components import build_components
from service.api.metrics import ServiceMetrics
from service.db import open_database
from service.keys import KeyStore, Role
from service.log import InteractionLog
from tests.test_answer_pipeline import QUESTION, ScriptedGenerator, good_draft
from tests.test_verifier import OverlapJudge
from verifier.checks import Verifier
from verifier.constitution import load_constitution


@pytest.fixture
def service_data(acme_index: Path, tmp_path: Path) -> Path:
    # A copy: uploads and deletes change the index.
    target = tmp_path / "index"
    shutil.copytree(acme_index, target)
    return target


class Service:
    """A running app with keys for each role."""

    def __init__(self, client: TestClient, database_url: str) -> None:
        self.client = client
        self.engine = open_database(database_url)
        self.log = InteractionLog(self.engine)
        store = KeyStore(self.engine)
        self.keys: dict[str, str] = {}
        self.ids: dict[str, str] = {}
        for name, role in [
            ("alice", Role.ANALYST),
            ("bob", Role.ANALYST),
            ("carol", Role.COMPLIANCE),
            ("root", Role.ADMIN),
        ]:
            key, stored = store.create(role, name)
            self.keys[name], self.ids[name] = key, stored.id

    def headers(self, who: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.keys[who]}"}

    def request(self, method: str, path: str, who: str | None = None, **kw: Any) -> httpx.Response:
        headers = {**(self.headers(who) if who else {}), **kw.pop("headers", {})}
        return self.client.request(method, path, headers=headers, **kw)

    def ask(self, who: str = "alice", question: str = QUESTION, **body: Any) -> httpx.Response:
        return self.request("POST", "/v1/answers", who, json={"question": question, **body})


ServiceFactory = Callable[..., Service]

# For API tests about something other than storage (rendering, templates, formats): the
# storage they touch is tested on both databases elsewhere, so one is enough here.
sqlite_only = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


@pytest.fixture
def make_service(service_data: Path, database_url: str, embedder: Any) -> Iterator[ServiceFactory]:
    clients: list[TestClient] = []

    def make(
        generator: Any = None, judge: Any = None, verifier: Any = None, **settings: Any
    ) -> Service:
        chosen = Settings(
            **{
                **get_settings().model_dump(),
                "data_dir": service_data,
                "database_url": database_url,
                "rerank_top": 0,
                # These tests script the generator; the statement lookup or the answer
                # engine would answer the net sales question first (tests turn them on).
                "statement_lookup": False,
                "answer_engine": False,
                **settings,
            }
        )

        def components(s: Settings, metrics: ServiceMetrics) -> Any:
            return build_components(
                s,
                metrics,
                generator=generator or ScriptedGenerator(good_draft),
                verifier=verifier or Verifier(load_constitution(), judge or OverlapJudge()),
                embedder=embedder,
            )

        client = TestClient(create_app(chosen, components), raise_server_exceptions=False)
        client.__enter__()
        clients.append(client)
        return Service(client, database_url)

    yield make
    for client in clients:
        client.__exit__(None, None, None)


def expect_error(response: httpx.Response, status: int, kind: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"}
    error = body["error"]
    assert error["type"] == kind, error
    assert error["message"] and error["request_id"] == response.headers["x-request-id"]
    return dict(error)


def wait_for_job(service: Service, job_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + 120
    while True:
        job = service.request("GET", f"/v1/jobs/{job_id}", "root").json()
        if job["status"] in {"done", "failed"}:
            return dict(job)
        assert time.monotonic() < deadline, job
        time.sleep(0.1)
