"""Load benchmark: a real ``verirag serve`` on loopback, driven by concurrent API clients, against
the serial single-client baseline measured in the same run.

The bench starts the server itself (or uses ``--url``), creates one analyst key per simulated
client (each key has its own rate limit) plus one for the baseline and a compliance key for the
checks, asks one untimed warm-up question, then runs two phases:

- baseline: one client asking questions one after another for ``--baseline-seconds``;
- load: ``--clients`` asyncio clients for ``--duration`` seconds. Each mostly asks questions and,
  after an accepted answer, sometimes reads it back, lists its answers or rates it. A 429, or a
  503 with Retry-After, is a shed request: the client sleeps the Retry-After (capped, with
  jitter) and asks again.

At each deadline no new request is issued and the ones in flight are waited for (each has a
client-side timeout, so nothing hangs the bench). Then every acknowledged answer (an id received
in a 200) is looked for in the compliance listing and read back by its own key.

It prints, and writes as JSON: accepted answers/s and shed requests/s; p50/p95/p99 latency per
route (client side) and per stage (the answers' own timings, and the server's
verirag_stage_seconds histogram scraped around each phase); 5xx, timeouts and connection errors;
lost records; and accepted answers/s under load ÷ the serial single-client baseline's, which
backpressure should keep near 1 rather than let collapse. It exits 1 on any 5xx other than a 503
with Retry-After, a timeout, a connection error, an unexpected 4xx or a lost record; 2 when the
run could not start.

Two profiles (``--profile``):

- ``lookups`` (the default): FinanceBench dev questions about the sample filing's company and
  generic line-item questions, most of which the statement lookup answers from a row without
  the generator;
- ``generation``: open prose questions that neither the statement lookup nor the metric
  calculator takes (a built-in list about the sample filing, plus the dev questions about its
  company that are not plain lookups), so every answer runs the generator: the in-process one
  (the packaged SmolLM2 unless VERIRAG_GENERATOR_* say otherwise) or, with
  ``--generator-url``, an OpenAI-compatible server. The started server gets a small queue
  (``--workers`` 1, ``--queue-size`` 1: VERIRAG_ANSWER_WORKERS / VERIRAG_ANSWER_QUEUE_SIZE), so
  more clients than it admits hit the queue-full path (429 ``overloaded``). It reports the shed
  requests by type and in how many accepted answers the generator ran, and also fails when a
  shed response has no Retry-After or when no question was shed for a full queue although
  more clients ran than the queue admits.

    python -m bench.load                                    # 50 clients, 300 s (15-25 minutes)
    python -m bench.load --clients 4 --duration 30 --baseline-seconds 20      # a smoke run
    python -m bench.load --url http://127.0.0.1:8000 --data-dir /srv/verirag  # a running server
    python -m bench.load --profile generation --clients 3 --duration 30 --baseline-seconds 15
    python -m bench.load --profile generation --generator-url http://127.0.0.1:8001/v1
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import random
import re
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import IO, Any
from urllib.parse import quote

import httpx
import numpy as np

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "financebench"
RESULTS_DIR = REPO / "bench" / "results"
DEFAULT_DATA_DIR = RESULTS_DIR / "load-data"
SAMPLE_FILING = SHARED / "pdfs" / "3M_2018_10K.pdf"
SAMPLE_METADATA = SHARED / "documents.jsonl"
DEV_QUESTIONS = SHARED / "questions_dev.jsonl"
SAMPLE_COMPANY = "3M"
DOCSTORE_FILE = "docstore.sqlite"  # ingest.store.DOCSTORE_FILE, without importing the package

BASELINE_NAME = "serial single-client baseline"
# This checkout's CLI, whatever `verirag` on PATH happens to be installed from.
CLI = (sys.executable, "-m", "service.cli")

ANSWER = "POST /v1/answers"
READ = "GET /v1/answers/{id}"
LIST = "GET /v1/answers"
FEEDBACK = "POST /v1/answers/{id}/feedback"
ROUTES = (ANSWER, READ, LIST, FEEDBACK)

STAGE_HISTOGRAM = "verirag_stage_seconds"
QUEUE_GAUGE = "verirag_answer_queue_depth"
PERCENTILES = (50, 95, 99)
JITTER = 0.5  # a shed client sleeps Retry-After × [1, 1 + JITTER): honoured, never shortened
METRICS_INTERVAL_S = 2.0
PROGRESS_INTERVAL_S = 30.0
TIMELINE_BIN_S = 10.0
FAILURE_EXAMPLES = 20
KEY_WORKERS = 4
CHECK_ATTEMPTS = 10
CHECK_TIMEOUT_S = 600.0
LIST_PAGE = 200
MAX_LIST_PAGES = 5000
DRAIN_SLACK_S = 120.0

# Used where no FinanceBench questions are at hand; no company or year named, so the retriever
# searches whatever the index holds.
BUILTIN_QUESTIONS = (
    "What were total net sales for the fiscal year?",
    "What was net income for the fiscal year?",
    "What was capital expenditure (purchases of property, plant and equipment) for the year?",
    "How much cash and cash equivalents did the company hold at the end of the fiscal year?",
    "What was total long-term debt at the end of the fiscal year?",
    "What were research and development expenses for the year?",
    "How much did the company pay in dividends during the year?",
    "What was the effective income tax rate for the year?",
    "What were total assets at the end of the fiscal year?",
    "What was operating income for the fiscal year?",
)


PROFILES = ("lookups", "generation")
# Prose questions about the sample filing that no row answers: neither the statement lookup (an
# amount in one year) nor the metric calculator (a defined metric, a margin, a share) takes them,
# so the generator drafts every answer.
GENERATION_QUESTIONS = (
    f"What are the main risk factors {SAMPLE_COMPANY} describes?",
    f"How does {SAMPLE_COMPANY} describe its business segments and what each one sells?",
    f"What legal proceedings and environmental matters does {SAMPLE_COMPANY} disclose?",
    f"What does {SAMPLE_COMPANY} say about its exposure to foreign currency exchange rates?",
    f"How does {SAMPLE_COMPANY} describe competition in the markets it serves?",
    f"What does {SAMPLE_COMPANY} say about the sources and availability of its raw materials?",
    f"How does {SAMPLE_COMPANY} describe its research and development activities?",
    f"What does {SAMPLE_COMPANY} say about its pension and postretirement benefit plans?",
    f"How does {SAMPLE_COMPANY} describe its liquidity and its sources of funding?",
    f"What does {SAMPLE_COMPANY} disclose about its share repurchase program?",
)


def make_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bench.load", description=__doc__.split("\n\n")[0] if __doc__ else None
    )
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=None,
        help=f"the server's index folder (default {DEFAULT_DATA_DIR}; without a "
        f"{DOCSTORE_FILE}, {SAMPLE_FILING.name} is ingested into it first). With --url it is "
        "required: the keys are created in that server's database",
    )
    parser.add_argument(
        "--url", default=None, help="use the server running here instead of starting one"
    )
    parser.add_argument(
        "--port", type=int, default=None, help="port of the started server (default: a free one)"
    )
    parser.add_argument(
        "--clients", type=int, default=50, help="concurrent clients under load (default 50)"
    )
    parser.add_argument(
        "--duration", type=float, default=300.0, help="seconds of the load phase (default 300)"
    )
    parser.add_argument(
        "--baseline-seconds",
        type=float,
        default=120.0,
        help=f"seconds of the {BASELINE_NAME} phase (default 120)",
    )
    parser.add_argument(
        "--profile",
        choices=PROFILES,
        default="lookups",
        help="'lookups' (default): line-item questions, mostly answered from statement rows; "
        "'generation': prose questions that every answer drafts with the generator, against a "
        "server with a small queue (--workers, --queue-size) so the queue-full path is hit",
    )
    parser.add_argument(
        "--questions",
        type=Path,
        default=None,
        help="JSONL with a 'question' field per line (default, lookups: the FinanceBench dev "
        f"questions about {SAMPLE_COMPANY} plus built-in generic 10-K questions, the built-in "
        "ones alone where that file is absent; generation: built-in prose questions plus the "
        f"dev questions about {SAMPLE_COMPANY} that are not plain lookups)",
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=1,
        help="generation profile: VERIRAG_ANSWER_WORKERS of the started server (default 1)",
    )
    parser.add_argument(
        "--queue-size",
        type=int,
        default=1,
        help="generation profile: VERIRAG_ANSWER_QUEUE_SIZE of the started server (default 1)",
    )
    parser.add_argument(
        "--generator-url",
        default=None,
        help="an OpenAI-compatible server (…/v1) as the started server's generator "
        "(VERIRAG_GENERATOR_BACKEND=openai) instead of the in-process model",
    )
    parser.add_argument(
        "--generator-model",
        default=None,
        help="with --generator-url: the served model name (default VERIRAG_GENERATOR_MODEL, "
        "else the packaged SmolLM2, as `verirag generator serve` names it)",
    )
    parser.add_argument(
        "--max-requests",
        type=int,
        default=20000,
        help="hard cap on API requests over the whole run, checks excluded (default 20000)",
    )
    parser.add_argument(
        "--request-timeout",
        type=float,
        default=960.0,
        help="client-side limit on one request, seconds; past it the request counts as a hang "
        "(default 960: above the server's default answer timeout of 900 s, which includes the "
        "queue, so only a server that breaks its own bound trips it)",
    )
    parser.add_argument(
        "--ready-timeout",
        type=float,
        default=300.0,
        help="seconds to wait for GET /readyz to answer 200 (models load first; default 300)",
    )
    parser.add_argument(
        "--retry-after-cap",
        type=float,
        default=60.0,
        help="longest sleep on one Retry-After, seconds (default 60)",
    )
    parser.add_argument(
        "--followup-rate",
        type=float,
        default=0.3,
        help="after an accepted answer, chance of each of: reading it, listing answers, "
        "posting feedback (default 0.3)",
    )
    parser.add_argument(
        "--warmup", type=int, default=1, help="untimed answers before the baseline (default 1)"
    )
    parser.add_argument(
        "--shutdown-timeout",
        type=float,
        default=60.0,
        help="seconds between SIGTERM and SIGKILL for the started server (default 60)",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the clients' choices")
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        help="JSON of the figures (default bench/results/load-YYYYmmdd-HHMMSS.json)",
    )
    return parser


class SetupError(Exception):
    """The run could not start: no index, no key, no server."""


# ---- questions ------------------------------------------------------------------------------


def _read_questions(path: Path, company: str | None) -> list[str]:
    questions = []
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                raise SetupError(f"{path}:{number}: not JSON ({exc})") from exc
            question = record.get("question") if isinstance(record, dict) else None
            if not isinstance(question, str) or not question.strip():
                raise SetupError(f"{path}:{number}: no 'question' string")
            if company is None or record.get("company") == company:
                questions.append(question.strip())
    return questions


def drafted_from_rows(question: str) -> bool:
    """Whether the statement lookup or the metric calculator would draft this question's
    answer from statement rows (the service's own tests), rather than the generator."""
    from engine.statement_asks import read_statement_ask

    ask = read_statement_ask(question)
    return ask.line_item_year is not None or ask.computes


def generation_questions() -> tuple[list[str], str]:
    """Prose questions for the generation profile, none of which a row answers."""
    candidates = list(GENERATION_QUESTIONS)
    dev: list[str] = []
    if DEV_QUESTIONS.is_file():
        dev = [q for q in _read_questions(DEV_QUESTIONS, SAMPLE_COMPANY) if q not in candidates]
    questions = [q for q in candidates + dev if not drafted_from_rows(q)]
    kept_dev = sum(q in questions for q in dev)
    kept_builtin = len(questions) - kept_dev
    if not questions:
        raise SetupError("every generation question would be answered from statement rows")
    return questions, (
        f"{kept_builtin} built-in prose questions about {SAMPLE_COMPANY} + {kept_dev} "
        f"{DEV_QUESTIONS.name} questions about it that are not plain lookups"
    )


def load_questions(path: Path | None, profile: str = "lookups") -> tuple[list[str], str]:
    """The questions and where they came from."""
    if path is None and profile == "generation":
        return generation_questions()
    if path is not None:
        if not path.is_file():
            raise SetupError(f"no questions file at {path}")
        questions = _read_questions(path, None)
        if not questions:
            raise SetupError(f"no questions in {path}")
        return questions, str(path)
    if not DEV_QUESTIONS.is_file():
        return list(BUILTIN_QUESTIONS), "built-in generic 10-K questions"
    # The dev set holds only a couple of questions about the sample filing's company: a load of
    # two distinct questions would measure whatever a server does with repeats, so the generic
    # ones are mixed in.
    dev = _read_questions(DEV_QUESTIONS, SAMPLE_COMPANY)
    return (
        dev + list(BUILTIN_QUESTIONS),
        f"{len(dev)} {DEV_QUESTIONS.name} questions about {SAMPLE_COMPANY} + "
        f"{len(BUILTIN_QUESTIONS)} built-in generic 10-K questions",
    )


# ---- the server, its index and its keys -----------------------------------------------------


def server_env() -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("HF_HUB_OFFLINE", "1")
    env.setdefault("TRANSFORMERS_OFFLINE", "1")
    # The repository root first, so `service` and `ingest` are this checkout's packages.
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    return env


def ensure_index(data_dir: Path, env: dict[str, str]) -> bool:
    """Ingest the sample filing where ``data_dir`` holds no index; whether it did."""
    if (data_dir / DOCSTORE_FILE).exists():
        return False
    if not SAMPLE_FILING.is_file():
        raise SetupError(
            f"no index in {data_dir} and no sample filing at {SAMPLE_FILING} to build one; "
            "pass --data-dir with an index"
        )
    command = [*CLI, "ingest", str(SAMPLE_FILING), "--data-dir", str(data_dir)]
    if SAMPLE_METADATA.is_file():
        command += ["--metadata", str(SAMPLE_METADATA)]
    print(f"... no index in {data_dir}: ingesting {SAMPLE_FILING.name}", file=sys.stderr)
    started = time.perf_counter()
    completed = subprocess.run(
        command, cwd=REPO, env=env, stdout=sys.stderr, stderr=sys.stderr, check=False
    )
    if completed.returncode != 0:
        raise SetupError(
            f"ingesting {SAMPLE_FILING.name} failed (exit code {completed.returncode})"
        )
    print(f"    ingested in {time.perf_counter() - started:.1f} s", file=sys.stderr)
    return True


@dataclass(frozen=True)
class Keys:
    compliance: str
    baseline: str
    clients: tuple[str, ...]


def create_key(data_dir: Path, env: dict[str, str], role: str, name: str) -> str:
    command = [*CLI, "keys", "create", "--role", role, "--name", name, "--data-dir", str(data_dir)]
    problem = ""
    # A second attempt, because concurrent creations can collide on a locked SQLite file.
    for _ in range(3):
        try:
            completed = subprocess.run(
                command, cwd=REPO, env=env, capture_output=True, text=True, timeout=300, check=False
            )
        except subprocess.TimeoutExpired:
            problem = "timed out after 300 s"
            continue
        lines = [line.strip() for line in completed.stdout.splitlines() if line.strip()]
        if completed.returncode == 0 and len(lines) == 1 and not any(c.isspace() for c in lines[0]):
            return lines[0]
        problem = (
            f"exit code {completed.returncode}, {len(lines)} line(s) on stdout; "
            f"stderr: {completed.stderr.strip()[-500:]}"
        )
    raise SetupError(f"`verirag keys create --role {role} --name {name}` failed: {problem}")


def create_keys(data_dir: Path, env: dict[str, str], clients: int, stamp: str) -> Keys:
    started = time.perf_counter()
    prefix = f"bench-load-{stamp}"
    # The first creation migrates a new database; run it alone so two processes never race on it.
    compliance = create_key(data_dir, env, "compliance", f"{prefix}-compliance")
    names = [f"{prefix}-baseline", *(f"{prefix}-client-{i:03d}" for i in range(clients))]

    def analyst(name: str) -> str:
        return create_key(data_dir, env, "analyst", name)

    with ThreadPoolExecutor(max_workers=KEY_WORKERS) as pool:
        analysts = list(pool.map(analyst, names))
    print(
        f"    {len(names) + 1} keys created in {time.perf_counter() - started:.1f} s",
        file=sys.stderr,
    )
    return Keys(compliance, analysts[0], tuple(analysts[1:]))


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class Server:
    """``verirag serve`` in its own process group, its output in a log file."""

    def __init__(self, data_dir: Path, port: int, log_path: Path, env: dict[str, str]) -> None:
        self.url = f"http://127.0.0.1:{port}"
        self.log_path = log_path
        self.command = [
            *CLI,
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--data-dir",
            str(data_dir),
        ]
        log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log: IO[bytes] = log_path.open("wb")
        # Its own session: a Ctrl-C here reaches the bench, which then stops the server in order.
        self.process = subprocess.Popen(
            self.command,
            cwd=REPO,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def exit_code(self) -> int | None:
        return self.process.poll()

    def log_tail(self, lines: int = 30) -> str:
        with contextlib.suppress(OSError):
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
            return "\n".join(text.splitlines()[-lines:])
        return ""

    def stop(self, grace_s: float) -> dict[str, Any]:
        crashed = self.process.poll()
        result: dict[str, Any] = {"exited_before_stop": crashed is not None, "killed": False}
        started = time.perf_counter()
        if crashed is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=grace_s)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
                result["killed"] = True
        # Workers the server forked and left behind belong to this run: end them too.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, 0)
            result["left_children"] = True
            os.killpg(self.process.pid, signal.SIGKILL)
        result["exit_code"] = self.process.returncode
        # uvicorn re-raises the SIGTERM it handled once its shutdown is complete, so -15 is a
        # clean exit too.
        result["graceful"] = not result["killed"] and self.process.returncode in (
            0,
            -signal.SIGTERM,
        )
        result["stop_s"] = round(time.perf_counter() - started, 2)
        self._log.close()
        return result


def wait_ready(url: str, timeout_s: float, server: Server | None) -> float:
    """Poll GET /readyz until it answers 200; the seconds it took."""
    started = time.perf_counter()
    last = "no answer yet"
    with httpx.Client(base_url=url, timeout=10.0) as client:
        while time.perf_counter() - started < timeout_s:
            if server is not None and (code := server.exit_code()) is not None:
                raise SetupError(
                    f"the server exited with code {code} while loading; the end of "
                    f"{server.log_path}:\n{server.log_tail()}"
                )
            try:
                response = client.get("/readyz")
            except httpx.HTTPError as exc:
                last = f"{type(exc).__name__}"
            else:
                if response.status_code == 200:
                    return time.perf_counter() - started
                last = f"{response.status_code} {response.text[:200]}"
            time.sleep(1.0)
    raise SetupError(f"{url}/readyz not ready after {timeout_s:.0f} s (last: {last})")


# ---- requests and what they count as --------------------------------------------------------


@dataclass
class Reply:
    kind: str  # ok | shed | server_error | client_error | malformed | timeout | connection
    seconds: float
    status: int | None = None
    retry_after: float | None = None
    body: Any = None
    detail: str = ""


def parse_retry_after(value: str | None) -> float | None:
    if value is None:
        return None
    with contextlib.suppress(ValueError):
        return max(0.0, float(value))
    # RFC 9110 also allows an HTTP date.
    with contextlib.suppress(TypeError, ValueError, IndexError):
        return max(0.0, (parsedate_to_datetime(value) - datetime.now(UTC)).total_seconds())
    return None


def json_body(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def error_type(body: Any) -> str:
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        return str(body["error"].get("type", "?"))
    return "?"


def classify(route: str, response: httpx.Response, seconds: float) -> Reply:
    status = response.status_code
    body = json_body(response)
    retry_after = parse_retry_after(response.headers.get("retry-after"))
    reply = Reply("ok", seconds, status, retry_after, body)
    if 200 <= status < 300:
        if route == ANSWER and not (isinstance(body, dict) and isinstance(body.get("id"), str)):
            reply.kind, reply.detail = "malformed", f"no answer id in {response.text[:200]!r}"
    elif status == 429 or (status == 503 and retry_after is not None):
        reply.kind, reply.detail = "shed", error_type(body)
    elif status >= 500:
        reply.kind, reply.detail = "server_error", response.text[:300]
    else:
        reply.kind, reply.detail = "client_error", response.text[:300]
    return reply


@dataclass
class Phase:
    """What one phase's clients saw."""

    name: str
    clients: int
    planned_s: float
    started: float = 0.0
    deadline: float = math.inf
    finished: float = 0.0
    requests: int = 0
    in_flight: int = 0
    statuses: dict[str, Counter[str]] = field(default_factory=dict)
    latencies: dict[str, dict[str, list[float]]] = field(default_factory=dict)
    accepted: list[tuple[float, str, str]] = field(default_factory=list)  # (offset, id, key)
    shed_offsets: list[float] = field(default_factory=list)
    shed_types: Counter[str] = field(default_factory=Counter)
    retry_after_s: list[float] = field(default_factory=list)
    missing_retry_after: int = 0
    capped_retry_after: int = 0
    backoff_s: float = 0.0
    refused: int = 0
    partial: int = 0
    generated: int = 0  # accepted answers whose timings show the generator ran
    drafted_by: Counter[str] = field(default_factory=Counter)
    stage_ms: dict[str, list[float]] = field(default_factory=dict)
    problems: Counter[str] = field(default_factory=Counter)
    examples: list[dict[str, Any]] = field(default_factory=list)
    queue_depth: list[tuple[float, float]] = field(default_factory=list)
    metrics_before: str | None = None
    metrics_after: str | None = None
    server_exit: int | None = None
    budget_exhausted: bool = False

    def offset(self) -> float:
        return time.monotonic() - self.started

    def record(self, route: str, reply: Reply) -> None:
        self.requests += 1
        label = str(reply.status) if reply.status is not None else reply.kind
        self.statuses.setdefault(route, Counter())[label] += 1
        self.latencies.setdefault(route, {}).setdefault(reply.kind, []).append(reply.seconds)
        if reply.kind == "shed":
            self.shed_offsets.append(self.offset())
            self.shed_types[f"{reply.status} {reply.detail}"] += 1
            if reply.retry_after is None:
                self.missing_retry_after += 1
            else:
                self.retry_after_s.append(reply.retry_after)
        elif reply.kind != "ok":
            self.problem(reply.kind, route=route, status=reply.status, detail=reply.detail)

    def problem(self, kind: str, **detail: Any) -> None:
        self.problems[kind] += 1
        if len(self.examples) < FAILURE_EXAMPLES:
            self.examples.append({"kind": kind, "at_s": round(self.offset(), 1), **detail})

    def accept(self, answer: dict[str, Any], key: str) -> None:
        self.accepted.append((self.offset(), answer["id"], key))
        self.refused += bool(answer.get("refused"))
        self.partial += bool(answer.get("partial"))
        self.drafted_by[str(answer.get("drafted_by") or "nothing delivered")] += 1
        timings = answer.get("timings")
        if isinstance(timings, dict):
            generate_ms = timings.get("generate_ms")
            self.generated += isinstance(generate_ms, int | float) and generate_ms > 0
            for name, value in timings.items():
                if name.endswith("_ms") and isinstance(value, int | float):
                    self.stage_ms.setdefault(name, []).append(float(value))


class Budget:
    """The hard cap on requests, shared by every client of the run."""

    def __init__(self, limit: int) -> None:
        self.left = limit

    def take(self) -> bool:
        if self.left <= 0:
            return False
        self.left -= 1
        return True


@dataclass
class Context:
    url: str
    questions: list[str]
    request_timeout: float
    retry_after_cap: float
    followup_rate: float
    budget: Budget
    seed: int
    metrics_key: str
    server: Server | None

    def client(self, key: str | None, timeout: float | None = None) -> httpx.AsyncClient:
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        limit = timeout or self.request_timeout
        return httpx.AsyncClient(
            base_url=self.url,
            headers=headers,
            timeout=httpx.Timeout(limit, connect=min(30.0, limit)),
        )


async def send(
    ctx: Context,
    client: httpx.AsyncClient,
    phase: Phase,
    route: str,
    method: str,
    path: str,
    *,
    payload: dict[str, Any] | None = None,
    params: dict[str, Any] | None = None,
) -> Reply:
    started = time.perf_counter()
    phase.in_flight += 1
    try:
        # httpx's timeouts bound each read, not the whole exchange; this bounds the whole.
        async with asyncio.timeout(ctx.request_timeout):
            response = await client.request(method, path, json=payload, params=params)
    except (TimeoutError, httpx.TimeoutException) as exc:
        reply = Reply("timeout", time.perf_counter() - started, detail=type(exc).__name__)
    except httpx.TransportError as exc:
        reply = Reply(
            "connection", time.perf_counter() - started, detail=f"{type(exc).__name__}: {exc}"
        )
    else:
        reply = classify(route, response, time.perf_counter() - started)
    finally:
        phase.in_flight -= 1
    phase.record(route, reply)
    return reply


async def _sleep(seconds: float, deadline: float) -> None:
    await asyncio.sleep(max(0.0, min(seconds, deadline - time.monotonic())))


async def backoff(ctx: Context, phase: Phase, reply: Reply, rng: random.Random) -> None:
    wanted = reply.retry_after if reply.retry_after is not None else 1.0
    if wanted > ctx.retry_after_cap:
        phase.capped_retry_after += 1
    delay = min(wanted, ctx.retry_after_cap) * (1.0 + JITTER * rng.random())
    started = time.monotonic()
    await _sleep(delay, phase.deadline)
    phase.backoff_s += time.monotonic() - started


async def followups(
    ctx: Context, client: httpx.AsyncClient, phase: Phase, answer_id: str, rng: random.Random
) -> None:
    path = f"/v1/answers/{quote(answer_id, safe='')}"
    steps: list[tuple[str, str, str, dict[str, Any] | None, dict[str, Any] | None]] = [
        (READ, "GET", path, None, None),
        (LIST, "GET", "/v1/answers", None, {"limit": 20}),
        (
            FEEDBACK,
            "POST",
            f"{path}/feedback",
            {"rating": rng.randint(1, 5), "comment": "bench.load"},
            None,
        ),
    ]
    for route, method, url, payload, params in steps:
        if rng.random() >= ctx.followup_rate:
            continue
        if time.monotonic() >= phase.deadline:
            return
        if not ctx.budget.take():
            phase.budget_exhausted = True
            return
        reply = await send(ctx, client, phase, route, method, url, payload=payload, params=params)
        if reply.kind == "shed":
            await backoff(ctx, phase, reply, rng)
            return


async def run_client(ctx: Context, phase: Phase, key: str, rng: random.Random) -> None:
    async with ctx.client(key) as client:
        while time.monotonic() < phase.deadline:
            if not ctx.budget.take():
                phase.budget_exhausted = True
                return
            payload = {"question": rng.choice(ctx.questions)}
            reply = await send(ctx, client, phase, ANSWER, "POST", "/v1/answers", payload=payload)
            if reply.kind == "shed":
                await backoff(ctx, phase, reply, rng)
            elif reply.kind == "ok":
                phase.accept(reply.body, key)
                await followups(ctx, client, phase, reply.body["id"], rng)
            else:
                # A broken server answers errors fast: pause, or the loop spends the request
                # budget on one failure mode in seconds.
                await _sleep(1.0 + rng.random(), phase.deadline)


async def warm_up(ctx: Context, phase: Phase, key: str, count: int) -> None:
    """Untimed answers first, so the baseline does not pay for lazily loaded models."""
    phase.started = time.monotonic()
    rng = random.Random(f"{ctx.seed}-warm-up")
    async with ctx.client(key) as client:
        for _ in range(count + 10):
            if len(phase.accepted) >= count or not ctx.budget.take():
                break
            payload = {"question": rng.choice(ctx.questions)}
            reply = await send(ctx, client, phase, ANSWER, "POST", "/v1/answers", payload=payload)
            if reply.kind == "ok":
                phase.accept(reply.body, key)
            elif reply.kind == "shed":
                await backoff(ctx, phase, reply, rng)
            else:
                break
    phase.finished = time.monotonic()


# ---- /metrics -------------------------------------------------------------------------------

_SAMPLE = re.compile(r"^([A-Za-z_:][A-Za-z0-9_:]*)(?:\{(.*)\})?\s+(\S+)")
_LABEL = re.compile(r'([A-Za-z_][A-Za-z0-9_]*)="((?:[^"\\]|\\.)*)"')


def parse_metrics(text: str) -> list[tuple[str, dict[str, str], float]]:
    samples = []
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        match = _SAMPLE.match(line)
        if match is None:
            continue
        try:
            value = float(match.group(3))
        except ValueError:
            continue
        samples.append((match.group(1), dict(_LABEL.findall(match.group(2) or "")), value))
    return samples


@dataclass
class Histogram:
    buckets: dict[float, float] = field(default_factory=dict)  # upper bound → cumulative count
    sum: float = 0.0
    count: float = 0.0


def stage_histograms(text: str | None) -> dict[str, Histogram]:
    """verirag_stage_seconds by stage, summed over any other labels."""
    stages: dict[str, Histogram] = {}
    for name, labels, value in parse_metrics(text or ""):
        stage = labels.get("stage")
        if stage is None or not name.startswith(STAGE_HISTOGRAM):
            continue
        histogram = stages.setdefault(stage, Histogram())
        if name == f"{STAGE_HISTOGRAM}_bucket" and "le" in labels:
            bound = float(labels["le"])
            histogram.buckets[bound] = histogram.buckets.get(bound, 0.0) + value
        elif name == f"{STAGE_HISTOGRAM}_sum":
            histogram.sum += value
        elif name == f"{STAGE_HISTOGRAM}_count":
            histogram.count += value
    return stages


def histogram_quantile(q: float, buckets: dict[float, float]) -> float | None:
    """Prometheus' histogram_quantile: linear within the bucket holding the rank."""
    bounds = sorted(buckets)
    if not bounds or buckets[bounds[-1]] <= 0:
        return None
    rank = q * buckets[bounds[-1]]
    lower, below = 0.0, 0.0
    for bound in bounds:
        count = buckets[bound]
        if count >= rank:
            if math.isinf(bound):
                return lower  # the open top bucket: its lower edge is all that is known
            if count == below:
                return bound
            return lower + (bound - lower) * (rank - below) / (count - below)
        lower, below = bound, count
    return lower


def stage_delta(before: str | None, after: str | None) -> dict[str, Any] | None:
    if after is None:
        return None
    old, new = stage_histograms(before), stage_histograms(after)
    if not new:
        return None
    result: dict[str, Any] = {}
    for stage, histogram in sorted(new.items()):
        previous = old.get(stage, Histogram())
        buckets = {b: c - previous.buckets.get(b, 0.0) for b, c in histogram.buckets.items()}
        count = histogram.count - previous.count
        figures: dict[str, Any] = {"count": int(count)}
        if count > 0:
            figures["mean_s"] = round((histogram.sum - previous.sum) / count, 3)
            for p in PERCENTILES:
                value = histogram_quantile(p / 100, buckets)
                figures[f"p{p}_s"] = None if value is None else round(value, 3)
        result[stage] = figures
    return result


def gauge(text: str, name: str) -> float | None:
    values = [value for sample, _, value in parse_metrics(text) if sample == name]
    return sum(values) if values else None


async def scrape(client: httpx.AsyncClient, phase: Phase) -> str | None:
    try:
        response = await client.get("/metrics")
    except httpx.HTTPError as exc:
        phase.problem("metrics_unreachable", detail=type(exc).__name__)
        return None
    if response.status_code >= 500:
        phase.problem("server_error", route="GET /metrics", status=response.status_code)
    return response.text if response.status_code == 200 else None


async def sample_metrics(ctx: Context, phase: Phase, stop: asyncio.Event) -> None:
    """Queue depth every few seconds, a progress line now and then, and whether the server is
    still there."""
    next_progress = PROGRESS_INTERVAL_S
    async with ctx.client(ctx.metrics_key, timeout=10.0) as client:
        while not stop.is_set():
            text = await scrape(client, phase)
            depth = gauge(text, QUEUE_GAUGE) if text is not None else None
            if depth is not None:
                phase.queue_depth.append((round(phase.offset(), 1), depth))
            if ctx.server is not None and phase.server_exit is None:
                phase.server_exit = ctx.server.exit_code()
                if phase.server_exit is not None:
                    phase.problem("server_exited", exit_code=phase.server_exit)
            if phase.offset() >= next_progress:
                next_progress += PROGRESS_INTERVAL_S
                print(
                    f"    {phase.name} t={phase.offset():.0f}s: {len(phase.accepted)} accepted, "
                    f"{len(phase.shed_offsets)} shed, {phase.in_flight} in flight, queue depth "
                    f"{'-' if depth is None else f'{depth:g}'}, problems {dict(phase.problems)}",
                    file=sys.stderr,
                    flush=True,
                )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), METRICS_INTERVAL_S)


# ---- phases ---------------------------------------------------------------------------------


async def run_phase(ctx: Context, name: str, keys: list[str], seconds: float) -> Phase:
    phase = Phase(name, len(keys), seconds)
    async with ctx.client(ctx.metrics_key, timeout=10.0) as client:
        phase.metrics_before = await scrape(client, phase)
    print(f"... {name}: {len(keys)} client(s) for {seconds:g} s", file=sys.stderr, flush=True)
    stop = asyncio.Event()
    phase.started = time.monotonic()
    phase.deadline = phase.started + seconds
    sampler = asyncio.create_task(sample_metrics(ctx, phase, stop))
    clients = [
        asyncio.create_task(run_client(ctx, phase, key, random.Random(f"{ctx.seed}-{name}-{i}")))
        for i, key in enumerate(keys)
    ]
    # Every request is bounded, so this only fires on a bug; it keeps the run bounded regardless.
    done, pending = await asyncio.wait(
        clients, timeout=seconds + ctx.request_timeout + ctx.retry_after_cap + DRAIN_SLACK_S
    )
    for task in pending:
        task.cancel()
        phase.problem("abandoned")
    await asyncio.gather(*pending, return_exceptions=True)
    for task in done:
        if not task.cancelled() and (error := task.exception()) is not None:
            phase.problem("bench_error", detail=f"{type(error).__name__}: {error}")
    phase.finished = time.monotonic()
    stop.set()
    await sampler
    async with ctx.client(ctx.metrics_key, timeout=10.0) as client:
        phase.metrics_after = await scrape(client, phase)
    return phase


def _percentiles(values: list[float], digits: int = 3) -> dict[str, Any]:
    if not values:
        return {"n": 0}
    points = np.percentile(np.asarray(values, dtype=float), PERCENTILES)
    figures: dict[str, Any] = {"n": len(values)}
    figures.update(
        {f"p{p}": round(float(v), digits) for p, v in zip(PERCENTILES, points, strict=True)}
    )
    figures["max"] = round(max(values), digits)
    return figures


def _timeline(phase: Phase) -> list[dict[str, Any]]:
    wall = phase.finished - phase.started
    bins = max(1, math.ceil(wall / TIMELINE_BIN_S))
    accepted = Counter(min(bins - 1, int(t // TIMELINE_BIN_S)) for t, _, _ in phase.accepted)
    shed = Counter(min(bins - 1, int(t // TIMELINE_BIN_S)) for t in phase.shed_offsets)
    return [
        {"from_s": i * TIMELINE_BIN_S, "accepted": accepted[i], "shed": shed[i]}
        for i in range(bins)
    ]


def summarise(phase: Phase) -> dict[str, Any]:
    wall = max(1e-9, phase.finished - phase.started)
    accepted = len(phase.accepted)
    in_window = sum(1 for t, _, _ in phase.accepted if t <= phase.planned_s)
    depths = [depth for _, depth in phase.queue_depth]
    return {
        "clients": phase.clients,
        "planned_s": phase.planned_s,
        "wall_s": round(wall, 2),
        "requests": phase.requests,
        "accepted_answers": accepted,
        # Over the whole wall time, the drain after the deadline included: every answer counts
        # and the serial baseline's last answer is not cut off.
        "accepted_answers_per_s": round(accepted / wall, 5),
        "accepted_answers_in_window": in_window,
        # Only what finished before the deadline: the steady state, without the drain.
        "accepted_answers_per_s_in_window": (
            round(in_window / phase.planned_s, 5) if phase.planned_s else None
        ),
        "refused": phase.refused,
        "partial": phase.partial,
        "generator_ran": phase.generated,
        "drafted_by": dict(phase.drafted_by),
        "shed_requests": len(phase.shed_offsets),
        # 429 "overloaded": the answer queue was full (429 "rate_limited" is a key's budget).
        "shed_queue_full": sum(n for kind, n in phase.shed_types.items() if "overloaded" in kind),
        "shed_requests_per_s": round(len(phase.shed_offsets) / wall, 4),
        "shed_by_type": dict(phase.shed_types),
        "retry_after_s": _percentiles(phase.retry_after_s),
        "shed_without_retry_after": phase.missing_retry_after,
        "retry_after_capped": phase.capped_retry_after,
        "client_backoff_s": round(phase.backoff_s, 1),
        "statuses": {route: dict(counts) for route, counts in phase.statuses.items()},
        "latency_s": {
            route: {kind: _percentiles(values) for kind, values in kinds.items()}
            for route, kinds in phase.latencies.items()
        },
        "answer_timings_ms": {
            name: _percentiles(values, 1) for name, values in sorted(phase.stage_ms.items())
        },
        "server_stage_seconds": stage_delta(phase.metrics_before, phase.metrics_after),
        "queue_depth": {
            "samples": len(depths),
            "median": float(np.median(depths)) if depths else None,
            "max": max(depths) if depths else None,
        },
        "problems": dict(phase.problems),
        "problem_examples": phase.examples,
        "server_exit_code": phase.server_exit,
        "budget_exhausted": phase.budget_exhausted,
        "timeline": _timeline(phase) if phase.planned_s else [],
    }


# ---- lost records ---------------------------------------------------------------------------


async def _fetch(
    client: httpx.AsyncClient, path: str, params: dict[str, Any] | None, cap: float
) -> tuple[int | None, Any, str]:
    """GET with shed responses honoured and retried; (status, body, problem)."""
    status: int | None = None
    for _ in range(CHECK_ATTEMPTS):
        try:
            response = await client.get(path, params=params)
        except httpx.HTTPError as exc:
            kind = "timeout" if isinstance(exc, httpx.TimeoutException) else "connection"
            return None, None, f"{kind}: {type(exc).__name__}"
        status = response.status_code
        retry_after = parse_retry_after(response.headers.get("retry-after"))
        if status == 429 or (status == 503 and retry_after is not None):
            wanted = retry_after if retry_after is not None else 1.0
            await asyncio.sleep(min(wanted, cap) * (1.0 + JITTER * random.random()))
            continue
        return status, json_body(response), ""
    return status, None, f"still shed after {CHECK_ATTEMPTS} attempts"


async def _list_all(ctx: Context, key: str, wanted: set[str]) -> dict[str, Any]:
    """Page through the compliance listing until every wanted id is seen or it ends."""
    missing = set(wanted)
    rows = pages = 0
    cursor: Any = None
    cursors: set[str] = set()
    result: dict[str, Any] = {"complete": False, "stopped_once_all_found": False, "error": None}
    async with ctx.client(key, timeout=60.0) as client:
        while pages < MAX_LIST_PAGES:
            params: dict[str, Any] = {"limit": LIST_PAGE}
            if cursor is not None:
                params["cursor"] = cursor
            status, body, problem = await _fetch(client, "/v1/answers", params, ctx.retry_after_cap)
            pages += 1
            items = body.get("items") if isinstance(body, dict) else None
            if status != 200 or not isinstance(items, list):
                result["error"] = problem or f"page {pages}: status {status}, body {body!r:.200}"
                result["status"] = status
                break
            for item in items:
                rows += 1
                if isinstance(item, dict):
                    missing.discard(str(item.get("id", item.get("answer_id"))))
            cursor = body.get("next_cursor")
            if not missing:
                result["complete"] = True
                result["stopped_once_all_found"] = cursor is not None
                break
            if cursor is None or cursor == "":
                result["complete"] = True
                break
            if str(cursor) in cursors:
                result["error"] = f"next_cursor {cursor!r} came back twice"
                break
            cursors.add(str(cursor))
        else:
            result["error"] = f"more than {MAX_LIST_PAGES} pages"
    result.update(rows_seen=rows, pages=pages, missing=sorted(missing))
    return result


async def _get_each(ctx: Context, owners: dict[str, str]) -> dict[str, Any]:
    """Read every acknowledged answer back with the key that asked for it (an analyst may read
    its own), so the rate limit spreads over the keys as it did under load."""
    by_key: dict[str, list[str]] = {}
    for answer_id, key in owners.items():
        by_key.setdefault(key, []).append(answer_id)
    found: set[str] = set()
    not_found: list[str] = []
    errors: list[dict[str, Any]] = []

    async def read(key: str, ids: list[str]) -> None:
        async with ctx.client(key, timeout=60.0) as client:
            for answer_id in ids:
                path = f"/v1/answers/{quote(answer_id, safe='')}"
                status, _, problem = await _fetch(client, path, None, ctx.retry_after_cap)
                if status == 200:
                    found.add(answer_id)
                elif status == 404:
                    not_found.append(answer_id)
                else:
                    errors.append({"id": answer_id, "status": status, "problem": problem})

    tasks = [asyncio.create_task(read(key, ids)) for key, ids in by_key.items()]
    if tasks:
        _, pending = await asyncio.wait(tasks, timeout=CHECK_TIMEOUT_S)
        for task in pending:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    unchecked = len(owners) - len(found) - len(not_found) - len(errors)
    return {
        "found": len(found),
        "not_found": len(not_found),
        "not_found_ids": sorted(not_found),
        "errors": len(errors),
        "error_examples": errors[:FAILURE_EXAMPLES],
        "server_errors": sum(1 for e in errors if (e["status"] or 0) >= 500),
        "unchecked": unchecked,
    }


async def check_records(ctx: Context, owners: dict[str, str], compliance: str) -> dict[str, Any]:
    print(f"... checking {len(owners)} acknowledged answers", file=sys.stderr, flush=True)
    listing = await _list_all(ctx, compliance, set(owners))
    reads = await _get_each(ctx, owners)
    # A missing row only means lost where the listing got to its end.
    unlisted = set(listing["missing"]) if listing["complete"] else set()
    lost = unlisted | set(reads["not_found_ids"])
    reads["not_found_ids"] = reads["not_found_ids"][:FAILURE_EXAMPLES]
    complete = listing["complete"] and reads["errors"] == 0 and reads["unchecked"] == 0
    return {
        "acknowledged": len(owners),
        "listed": {
            "rows_seen": listing["rows_seen"],
            "pages": listing["pages"],
            "acknowledged_found": len(owners) - len(listing["missing"]),
            "complete": listing["complete"],
            "stopped_once_all_found": listing["stopped_once_all_found"],
            "error": listing["error"],
        },
        "read_back": reads,
        "lost": len(lost),
        "lost_ids": sorted(lost)[:FAILURE_EXAMPLES],
        "check_complete": complete,
    }


# ---- the run --------------------------------------------------------------------------------


async def run_all(ctx: Context, keys: Keys, args: argparse.Namespace) -> dict[str, Any]:
    warm = Phase("warm-up", 1, 0.0)
    if args.warmup > 0:
        print(f"... warm-up: {args.warmup} untimed answer(s)", file=sys.stderr, flush=True)
        await warm_up(ctx, warm, keys.baseline, args.warmup)
        print(
            f"    {len(warm.accepted)} accepted in {warm.finished - warm.started:.1f} s",
            file=sys.stderr,
        )
    baseline = await run_phase(ctx, "baseline", [keys.baseline], args.baseline_seconds)
    load = await run_phase(ctx, "load", list(keys.clients), args.duration)
    owners: dict[str, str] = {}
    duplicates = 0
    for phase in (warm, baseline, load):
        for _, answer_id, key in phase.accepted:
            duplicates += answer_id in owners
            owners[answer_id] = key
    records = await check_records(ctx, owners, keys.compliance)
    records["duplicate_ids"] = duplicates
    return {
        "warm_up": summarise(warm),
        "baseline": summarise(baseline),
        "load": summarise(load),
        "records": records,
    }


def _healthz(url: str, key: str) -> dict[str, Any]:
    try:
        response = httpx.get(
            f"{url}/healthz", headers={"Authorization": f"Bearer {key}"}, timeout=10.0
        )
    except httpx.HTTPError as exc:
        return {"status": None, "error": type(exc).__name__}
    return {"status": response.status_code, "body": json_body(response)}


def _environment() -> dict[str, Any]:
    from bench.common import run_environment

    return {**run_environment(), "httpx": httpx.__version__}


def failures(result: dict[str, Any], queue_overflow: bool = False) -> list[str]:
    """Why the run fails; empty when it passes. ``queue_overflow``: the load phase ran more
    clients than the server admits (the generation profile), so questions must have been shed
    for a full queue, each with a Retry-After."""
    reasons = []
    for name in ("warm_up", "baseline", "load"):
        problems = result[name]["problems"]
        for kind, label in (
            ("server_error", "5xx responses (other than 503 with Retry-After)"),
            ("timeout", "requests timed out (hangs)"),
            ("connection", "connection errors"),
            ("client_error", "unexpected 4xx responses"),
            ("malformed", "200 answers without an id"),
            ("abandoned", "clients abandoned at the drain limit"),
            ("bench_error", "bench client errors"),
            ("server_exited", "server exits"),
        ):
            if problems.get(kind):
                reasons.append(f"{name}: {problems[kind]} {label}")
    for name in ("baseline", "load"):
        if result[name]["accepted_answers"] == 0:
            reasons.append(f"{name}: no answer was accepted, so there is nothing to compare")
    if queue_overflow:
        for name in ("warm_up", "baseline", "load"):
            missing = result[name]["shed_without_retry_after"]
            if missing:
                reasons.append(f"{name}: {missing} shed responses without Retry-After")
        if result["load"]["shed_queue_full"] == 0:
            reasons.append(
                "load: no question was shed for a full queue (429 overloaded) although more "
                "clients ran than the server admits: the queue-full path was not exercised"
            )
    records = result["records"]
    if records["lost"]:
        reasons.append(f"{records['lost']} acknowledged answers lost")
    if records["read_back"]["server_errors"]:
        reasons.append(f"{records['read_back']['server_errors']} 5xx while reading answers back")
    if not records["check_complete"]:
        reasons.append("the lost-records check did not finish (see records)")
    return reasons


def _fmt(value: Any, digits: int = 3) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    return f"{value:,}" if isinstance(value, int) else str(value)


def print_report(document: dict[str, Any]) -> None:
    result = document["result"]
    print()
    print(
        f"Load on {document['url']}: {document['clients']} clients for {document['duration_s']:g}"
        f" s against the {BASELINE_NAME} ({document['baseline_s']:g} s); "
        f"{document['questions']['count']} questions ({document['questions']['source']})"
    )
    print(f"profile {document['profile']}; server settings: {document.get('server_settings')}")
    header = (
        f"{'phase':<10} {'clients':>7} {'wall s':>8} {'accepted':>8} {'answers/s':>10} "
        f"{'in window/s':>11} {'refused':>7} {'shed':>6} {'shed/s':>8} {'requests':>8}"
    )
    print(header)
    for name in ("baseline", "load"):
        s = result[name]
        print(
            f"{name:<10} {s['clients']:>7} {s['wall_s']:>8.1f} {s['accepted_answers']:>8} "
            f"{s['accepted_answers_per_s']:>10.4f} "
            f"{_fmt(s['accepted_answers_per_s_in_window'], 4):>11} "
            f"{s['refused']:>7} {s['shed_requests']:>6} {s['shed_requests_per_s']:>8.3f} "
            f"{s['requests']:>8}"
        )
    ratio = document["ratio_vs_serial_single_client_baseline"]
    print(
        f"\naccepted answers/s under load ÷ {BASELINE_NAME}: "
        f"{_fmt(ratio['accepted_answers_per_s'], 2)} (in-window rates: "
        f"{_fmt(ratio['accepted_answers_per_s_in_window'], 2)})"
    )
    load = result["load"]
    retry_after = load["retry_after_s"]
    for name in ("baseline", "load"):
        s = result[name]
        print(
            f"{name}: the generator ran in {s['generator_ran']} of {s['accepted_answers']} "
            f"accepted answers; drafted by {s['drafted_by']}"
        )
    print(
        f"shed under load: {load['shed_requests']} ({load['shed_by_type']}); queue full "
        f"{load['shed_queue_full']}; Retry-After s "
        f"p50 {_fmt(retry_after.get('p50'))}, max {_fmt(retry_after.get('max'))};"
        f" capped at --retry-after-cap {load['retry_after_capped']}; missing Retry-After "
        f"{load['shed_without_retry_after']}; queue depth median "
        f"{_fmt(load['queue_depth']['median'], 1)}, max {_fmt(load['queue_depth']['max'], 1)}"
    )

    print("\nclient latency, s")
    print(
        f"  {'route':<32} {'phase':<9} {'outcome':<13} {'n':>6} {'p50':>8} {'p95':>8} "
        f"{'p99':>8} {'max':>8}"
    )
    for route in ROUTES:
        for name in ("baseline", "load"):
            for kind, figures in sorted(result[name]["latency_s"].get(route, {}).items()):
                print(
                    f"  {route:<32} {name:<9} {kind:<13} {figures['n']:>6} "
                    + " ".join(
                        f"{_fmt(figures.get(k), 2):>8}" for k in ("p50", "p95", "p99", "max")
                    )
                )

    print("\nanswer stages from the answers' timings, ms")
    print(f"  {'stage':<14} {'phase':<9} {'n':>6} {'p50':>10} {'p95':>10} {'p99':>10}")
    for name in ("baseline", "load"):
        for stage, figures in result[name]["answer_timings_ms"].items():
            print(
                f"  {stage:<14} {name:<9} {figures['n']:>6} "
                + " ".join(f"{_fmt(figures.get(k), 0):>10}" for k in ("p50", "p95", "p99"))
            )

    print(f"\nserver {STAGE_HISTOGRAM} over each phase (quantiles interpolated in buckets), s")
    for name in ("baseline", "load"):
        stages = result[name]["server_stage_seconds"]
        if not stages:
            print(f"  {name}: not available from /metrics")
            continue
        for stage, figures in stages.items():
            print(
                f"  {stage:<14} {name:<9} count {figures['count']:>6}  mean "
                f"{_fmt(figures.get('mean_s'), 2):>8}  "
                + "  ".join(f"p{p} {_fmt(figures.get(f'p{p}_s'), 2):>8}" for p in PERCENTILES)
            )

    records = result["records"]
    listed, reads = records["listed"], records["read_back"]
    print(
        f"\nrecords: {records['acknowledged']} acknowledged; compliance listing: "
        f"{listed['acknowledged_found']} of them found in {listed['rows_seen']} rows seen "
        f"({listed['pages']} pages, {'complete' if listed['complete'] else 'INCOMPLETE'}"
        f"{', stopped once all were found' if listed['stopped_once_all_found'] else ''}); "
        f"read back: {reads['found']} found, {reads['not_found']} not found, {reads['errors']} "
        f"errors, {reads['unchecked']} unchecked; LOST {records['lost']}"
    )
    for name in ("warm_up", "baseline", "load"):
        problems = result[name]["problems"]
        print(f"problems, {name}: {problems or 'none'}")
        for example in result[name]["problem_examples"][:5]:
            print(f"    {example}")
    server = document.get("server")
    if server:
        print(
            f"server: ready in {_fmt(document.get('startup_s'), 1)} s; stopped in "
            f"{server['stop_s']} s with exit code {server['exit_code']} "
            f"({'graceful' if server['graceful'] else 'NOT graceful'}"
            f"{', after SIGKILL' if server['killed'] else ''}); log {document['server_log']}"
        )


def server_settings(args: argparse.Namespace) -> dict[str, str]:
    """The VERIRAG_* settings the profile and the generator options give a started server."""
    settings: dict[str, str] = {}
    if args.profile == "generation":
        settings["VERIRAG_ANSWER_WORKERS"] = str(args.workers)
        settings["VERIRAG_ANSWER_QUEUE_SIZE"] = str(args.queue_size)
    if args.generator_url:
        settings["VERIRAG_GENERATOR_BACKEND"] = "openai"
        settings["VERIRAG_GENERATOR_URL"] = args.generator_url
    if args.generator_model:
        settings["VERIRAG_GENERATOR_MODEL"] = args.generator_model
    return settings


def main(args: argparse.Namespace) -> int:
    for name, value in (
        ("--clients", args.clients),
        ("--duration", args.duration),
        ("--baseline-seconds", args.baseline_seconds),
        ("--max-requests", args.max_requests),
        ("--request-timeout", args.request_timeout),
    ):
        if value <= 0:
            print(f"error: {name} must be positive", file=sys.stderr)
            return 2
    if not 0.0 <= args.followup_rate <= 1.0:
        print("error: --followup-rate is a probability, 0 to 1", file=sys.stderr)
        return 2
    if args.workers < 1 or args.queue_size < 0:
        print("error: --workers must be at least 1 and --queue-size at least 0", file=sys.stderr)
        return 2
    if args.url is not None and (args.generator_url or args.generator_model):
        print(
            "error: --generator-url and --generator-model configure the server this bench "
            "starts; a server at --url has its own generator",
            file=sys.stderr,
        )
        return 2
    if args.url is not None and args.data_dir is None:
        print(
            "error: with --url, pass the --data-dir (and the VERIRAG_DATABASE_URL) of that "
            "server: its keys are created there",
            file=sys.stderr,
        )
        return 2
    if os.getloadavg()[0] > 0.5:
        print(
            f"warning: load average {os.getloadavg()[0]:.2f} before the run: other work on this "
            "machine slows answers unevenly between the phases; rerun when it is quiet",
            file=sys.stderr,
        )
    stamp = time.strftime("%Y%m%d-%H%M%S")
    data_dir = (args.data_dir or DEFAULT_DATA_DIR).expanduser().resolve()
    out = args.out or RESULTS_DIR / f"load-{stamp}.json"
    env = server_env()
    settings = server_settings(args)
    env.update(settings)
    # Only a server this bench starts is known to admit workers + queue size at once.
    queue_overflow = (
        args.profile == "generation"
        and args.url is None
        and args.clients > args.workers + args.queue_size
    )
    server: Server | None = None
    document: dict[str, Any] = {
        "benchmark": "load",
        "profile": args.profile,
        "server_settings": settings if args.url is None else "those of the server at --url",
        "baseline_name": BASELINE_NAME,
        "data_dir": str(data_dir),
        "clients": args.clients,
        "duration_s": args.duration,
        "baseline_s": args.baseline_seconds,
        "options": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
        "environment": _environment(),
    }
    try:
        questions, source = load_questions(args.questions, args.profile)
        document["questions"] = {"source": source, "count": len(questions)}
        if args.url is None:
            document["index_built"] = ensure_index(data_dir, env)
        print(f"... creating {args.clients + 2} keys in {data_dir}", file=sys.stderr, flush=True)
        keys = create_keys(data_dir, env, args.clients, stamp)
        if args.url is None:
            log_path = RESULTS_DIR / f"load-{stamp}-server.log"
            server = Server(data_dir, args.port or free_port(), log_path, env)
            document["server_log"] = str(log_path)
            print(f"... {' '.join(server.command)} (log: {log_path})", file=sys.stderr, flush=True)
            url = server.url
        else:
            url = args.url.rstrip("/")
        document["url"] = url
        document["startup_s"] = round(wait_ready(url, args.ready_timeout, server), 2)
        print(f"    ready in {document['startup_s']} s", file=sys.stderr, flush=True)
        document["healthz"] = _healthz(url, keys.compliance)
        ctx = Context(
            url=url,
            questions=questions,
            request_timeout=args.request_timeout,
            retry_after_cap=args.retry_after_cap,
            followup_rate=args.followup_rate,
            budget=Budget(args.max_requests),
            seed=args.seed,
            metrics_key=keys.compliance,
            server=server,
        )
        result = asyncio.run(run_all(ctx, keys, args))
    except SetupError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    finally:
        if server is not None:
            print("... stopping the server (SIGTERM)", file=sys.stderr, flush=True)
            document["server"] = server.stop(args.shutdown_timeout)
    document["result"] = result
    document["environment"]["load_average_after"] = os.getloadavg()
    base, load = result["baseline"], result["load"]

    def ratio(key: str) -> float | None:
        return round(load[key] / base[key], 3) if base[key] else None

    document["ratio_vs_serial_single_client_baseline"] = {
        "accepted_answers_per_s": ratio("accepted_answers_per_s"),
        "accepted_answers_per_s_in_window": ratio("accepted_answers_per_s_in_window"),
    }
    reasons = failures(result, queue_overflow)
    if document.get("server", {}).get("killed"):
        print(
            "warning: the server did not stop within --shutdown-timeout of SIGTERM", file=sys.stderr
        )
    document["failures"] = reasons
    document["passed"] = not reasons
    print_report(document)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(document, indent=2, default=str) + "\n", encoding="utf-8")
    print(f"\nresults: {out}")
    if reasons:
        print("\nFAILED: " + "; ".join(reasons), file=sys.stderr)
        return 1
    print("PASSED: no 5xx, no hang, no connection error, no lost record")
    return 0


if __name__ == "__main__":
    sys.exit(main(make_parser().parse_args()))
