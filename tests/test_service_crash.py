"""kill -9 of a real `verirag serve` while it answers, takes feedback and ingests an upload:
after a restart every acknowledged record is there and the index is consistent.

The generator is a scripted OpenAI-compatible server in this process (the seam this test is
not about); the service, its database, index, embedding model and judge are the real ones.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from ingest.store import IndexStore
from tests import filings
from tests.conftest import REPO
from tests.test_answer_pipeline import QUESTION, _labels, good_draft
from tests.test_crash import _cli as run_cli

pytestmark = pytest.mark.slow

SERVED = "scripted-generator"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def generator_url() -> Iterator[str]:
    """An OpenAI-compatible server whose completions are drafts citing the context shown."""
    import uvicorn
    from fastapi import FastAPI

    app = FastAPI()

    @app.get("/v1/models")
    def models() -> dict[str, Any]:
        return {"object": "list", "data": [{"id": SERVED, "object": "model"}]}

    @app.post("/v1/chat/completions")
    def complete(body: dict[str, Any]) -> dict[str, Any]:
        time.sleep(0.2)  # long enough for requests to be in flight when the server dies
        draft = good_draft(_labels(body["messages"][-1]["content"]))
        return {
            "id": "c1",
            "object": "chat.completion",
            "model": SERVED,
            "choices": [
                {"index": 0, "message": {"role": "assistant", "content": json.dumps(draft)}}
            ],
            "usage": {"prompt_tokens": 1, "completion_tokens": 1},
        }

    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}/v1"
    server.should_exit = True
    thread.join(10)


def _cli(*args: str | Path, env: dict[str, str]) -> str:
    done = run_cli(*args, env=env)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def _upload(base: str, key: str, pdf: Path) -> str:
    """Uploads a filing through the API; the id of its ingest job."""
    with pdf.open("rb") as handle:
        response = httpx.post(
            f"{base}/v1/filings",
            headers={"Authorization": f"Bearer {key}"},
            files={"file": (pdf.name, handle, "application/pdf")},
            timeout=60,
        )
    assert response.status_code == 202, response.text
    return str(response.json()["id"])


def _finished_job(base: str, key: str, job_id: str, seconds: float = 120) -> dict[str, Any]:
    """The job once done or failed, polled through the API at ``base``."""
    deadline = time.monotonic() + seconds
    while True:
        job = httpx.get(f"{base}/v1/jobs/{job_id}", headers={"Authorization": f"Bearer {key}"})
        body: dict[str, Any] = job.json()
        if body["status"] in {"done", "failed"}:
            return body
        assert time.monotonic() < deadline, body
        time.sleep(0.2)


def _start(data: Path, port: int, env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as sink:
        process = subprocess.Popen(
            [sys.executable, "-m", "service.cli", "serve", "--port", str(port), "--data-dir", data],
            cwd=REPO,
            env=env,
            stdout=sink,
            stderr=sink,
        )
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        assert process.poll() is None, log.read_text()[-3000:]
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2).status_code == 200:
                return process
        except httpx.TransportError:
            pass
        time.sleep(0.25)
    process.kill()
    raise AssertionError(f"verirag serve did not become ready: {log.read_text()[-3000:]}")


def test_kill_9_loses_no_acknowledged_answer_feedback_or_upload(
    acme_index: Path, tmp_path: Path, tiny_judge: Path, model_cache: Path, generator_url: str
) -> None:
    data = tmp_path / "index"
    shutil.copytree(acme_index, data)
    env = {
        **os.environ,
        "VERIRAG_CACHE_DIR": str(model_cache),
        "VERIRAG_GENERATOR_BACKEND": "openai",
        "VERIRAG_GENERATOR_URL": generator_url,
        "VERIRAG_GENERATOR_MODEL": SERVED,
        "VERIRAG_NLI_MODEL": "trained:tiny-nli",
        "VERIRAG_RERANK_TOP": "0",
        "VERIRAG_ANSWER_QUEUE_SIZE": "64",
        "VERIRAG_RATE_LIMIT_PER_MINUTE": "10000",
        "VERIRAG_ANSWER_RATE_LIMIT_PER_MINUTE": "10000",
        # The killed process's ingest job is requeued once it misses four beats.
        "VERIRAG_JOB_HEARTBEAT_SECONDS": "1",
    }
    analyst = _cli("keys", "create", "--role", "analyst", "--data-dir", data, env=env)
    reviewer = _cli("keys", "create", "--role", "compliance", "--data-dir", data, env=env)
    admin = _cli("keys", "create", "--role", "admin", "--data-dir", data, env=env)
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    log = tmp_path / "serve.log"
    process = _start(data, port, env, log)

    answers: list[str] = []
    feedback: list[tuple[str, str]] = []
    uploads: list[str] = []
    stop = threading.Event()
    lock = threading.Lock()

    def client(number: int) -> None:
        headers = {"Authorization": f"Bearer {analyst}"}
        with httpx.Client(base_url=base, headers=headers, timeout=60) as http:
            n = 0
            while not stop.is_set():
                n += 1
                try:
                    response = http.post(
                        "/v1/answers",
                        json={"question": f"{QUESTION} ({number}.{n})"},
                    )
                    if response.status_code != 200:
                        continue
                    answer_id = response.json()["id"]
                    with lock:
                        answers.append(answer_id)
                    rated = http.post(f"/v1/answers/{answer_id}/feedback", json={"rating": 5})
                    if rated.status_code == 201:
                        with lock:
                            feedback.append((answer_id, rated.json()["id"]))
                except httpx.TransportError:
                    return  # the server died under us: whatever was acknowledged counts

    pdf = filings.write_10k(tmp_path / "GLOBEX_2022_10K.pdf", company="Globex Corporation")

    def upload() -> None:
        uploads.append(_upload(base, admin, pdf))

    with ThreadPoolExecutor(max_workers=5) as pool:
        running = [pool.submit(client, n) for n in range(4)]
        deadline = time.monotonic() + 120
        while len(feedback) < 3:
            assert time.monotonic() < deadline, log.read_text()[-3000:]
            time.sleep(0.05)
        pool.submit(upload).result(timeout=60)
        time.sleep(0.3)  # the ingest job has started; answers are mid-flight
        process.send_signal(signal.SIGKILL)
        process.wait(10)
        stop.set()
        for future in running:
            future.result(timeout=60)

    acknowledged = list(answers)
    assert acknowledged and uploads
    process = _start(data, port, env, log)
    try:
        headers = {"Authorization": f"Bearer {reviewer}"}
        for answer_id in acknowledged:
            response = httpx.get(f"{base}/v1/answers/{answer_id}", headers=headers, timeout=30)
            assert response.status_code == 200, (answer_id, response.text)
        for answer_id, feedback_id in feedback:
            record = httpx.get(f"{base}/v1/answers/{answer_id}", headers=headers).json()
            assert feedback_id in {item["id"] for item in record["feedback"]}
        # The upload was acknowledged, so its job finishes after the restart.
        admin_headers = {"Authorization": f"Bearer {admin}"}
        job = _finished_job(base, admin, uploads[0])
        assert job["status"] == "done", job
        names = {
            item["name"]
            for item in httpx.get(f"{base}/v1/filings", headers=admin_headers).json()["items"]
        }
        assert names == {"ACME_2023_10K", "GLOBEX_2022_10K"}
        # The CLI asks the running service over HTTP, as the README's main job does.
        asked = json.loads(
            _cli("ask", QUESTION, "--url", base, "--key", analyst, "--json", env=env)
        )
        assert asked["answer"] == "$1,577 million" and asked["claims"]
        assert httpx.get(f"{base}/v1/answers/{asked['id']}", headers=headers).status_code == 200
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
    with IndexStore(data) as store:
        info = store.info()
        assert info["filings"] == 2 and store.vector_count == info["chunks"]


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_two_api_processes_share_one_database_and_one_index(
    acme_index: Path,
    tmp_path: Path,
    tiny_judge: Path,
    model_cache: Path,
    generator_url: str,
    database_url: str,
) -> None:
    """Two replicas of `verirag serve` on one PostgreSQL database and one index folder: a
    filing uploaded through one is ingested once (by whichever worker claims it) and answered
    from through the other, which sees the new index version without a restart."""
    data = tmp_path / "index"
    shutil.copytree(acme_index, data)
    env = {
        **os.environ,
        "VERIRAG_CACHE_DIR": str(model_cache),
        "VERIRAG_DATABASE_URL": database_url,
        "VERIRAG_GENERATOR_BACKEND": "openai",
        "VERIRAG_GENERATOR_URL": generator_url,
        "VERIRAG_GENERATOR_MODEL": SERVED,
        "VERIRAG_NLI_MODEL": "trained:tiny-nli",
        "VERIRAG_RERANK_TOP": "0",
    }
    admin = _cli("keys", "create", "--role", "admin", "--data-dir", data, env=env)
    analyst = _cli("keys", "create", "--role", "analyst", "--data-dir", data, env=env)
    ports = [_free_port(), _free_port()]
    processes = [
        _start(data, port, env, tmp_path / f"serve-{n}.log") for n, port in enumerate(ports)
    ]
    first, second = (f"http://127.0.0.1:{port}" for port in ports)
    try:
        pdf = filings.write_10k(tmp_path / "GLOBEX_2022_10K.pdf", company="Globex Corporation")
        job = _finished_job(second, admin, _upload(first, admin, pdf), seconds=180)
        assert job["status"] == "done" and job["result"]["outcome"] == "ingested", job
        ready = httpx.get(f"{second}/readyz", timeout=30).json()
        assert ready["has_filings"] and ready["checks"]["index"].startswith("ok (2 filings")
        answer = httpx.post(
            f"{second}/v1/answers",
            headers={"Authorization": f"Bearer {analyst}"},
            json={"question": QUESTION, "filters": {"filings": ["GLOBEX_2022_10K"]}},
            timeout=120,
        ).json()
        cited = {c["filing"] for claim in answer["claims"] for c in claim["citations"]}
        assert cited == {"GLOBEX_2022_10K"}, answer
    finally:
        for process in processes:
            process.send_signal(signal.SIGTERM)
        for process in processes:
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
    with IndexStore(data) as store:
        assert store.info()["filings"] == 2
