"""Test set-up: no network, one thread, real packaged models, data from ../shared when present."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"

# The REST app and its keys, for every API test module.
pytest_plugins = ["tests.service_app"]

# Before anything imports transformers: the packaged weights are all there is.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")


def _loopback(address: Any) -> bool:
    host = address[0] if isinstance(address, tuple) else address
    return isinstance(host, str) and (host.startswith("127.") or host in {"::1", "localhost"})


@pytest.fixture(autouse=True)
def _no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests must not reach beyond this machine; a stray hub download fails loudly."""
    real_connect = socket.socket.connect

    def guarded(self: socket.socket, address: Any) -> Any:
        if self.family in (socket.AF_INET, socket.AF_INET6) and not _loopback(address):
            raise RuntimeError(f"test tried to reach the network: {address!r}")
        return real_connect(self, address)

    monkeypatch.setattr(socket.socket, "connect", guarded)


@pytest.fixture(scope="session")
def model_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One int8 ONNX export per test session, shared by every test that embeds."""
    return tmp_path_factory.mktemp("model-cache")


@pytest.fixture(autouse=True)
def _settings_env(monkeypatch: pytest.MonkeyPatch, model_cache: Path) -> Iterator[None]:
    from engine.settings import get_settings

    monkeypatch.setenv("VERIRAG_TORCH_THREADS", "1")
    monkeypatch.setenv("VERIRAG_SHOW_PROGRESS", "false")
    monkeypatch.setenv("VERIRAG_CACHE_DIR", str(model_cache))
    monkeypatch.delenv("VERIRAG_DATA_DIR", raising=False)
    monkeypatch.delenv("VERIRAG_EMBEDDING_RUNTIME", raising=False)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


@pytest.fixture(scope="session")
def embedder(model_cache: Path) -> Any:
    from ingest.embedding import OnnxEmbedder

    model = OnnxEmbedder(cache_dir=model_cache, threads=1)
    model.warm_up()
    return model


@pytest.fixture
def shared() -> Path:
    if not SHARED.is_dir():
        pytest.skip(
            f"real data not found at {SHARED}: these checks need ../shared next to the repo"
        )
    return SHARED


def nli_pairs(seed: int, count: int) -> list[Any]:
    """Three-way pairs about filing facts: restatements entail, changed figures and negations
    contradict, unrelated facts are neutral."""
    import random

    from verifier.training import NliPair

    rng = random.Random(seed)
    companies = ["Acme", "Globex", "Initech", "Umbrella", "Hooli", "Stark", "Wayne", "Tyrell"]
    metrics = ["net sales", "operating income", "capital expenditures", "net income", "revenue"]
    pairs = []
    while len(pairs) < count:
        company, metric = rng.choice(companies), rng.choice(metrics)
        value, year = rng.randint(100, 9999), rng.randint(2015, 2023)
        premise = f"{company} reported {metric} of ${value:,} million in fiscal {year}."
        kind = len(pairs) % 3
        if kind == 0:
            hypothesis = f"In fiscal {year}, {company}'s {metric} was ${value:,} million."
            label = "entailment"
        elif kind == 1:
            hypothesis = f"{company} did not report any {metric} in fiscal {year}."
            label = "contradiction"
        else:
            other = rng.choice([m for m in metrics if m != metric])
            hypothesis = f"{company} plans to open a new office in {rng.choice(['Ohio', 'Texas'])}."
            hypothesis = hypothesis if rng.random() < 0.5 else f"{company}'s {other} will grow."
            label = "neutral"
        pairs.append(NliPair(premise, hypothesis, label, "tests"))
    return pairs


@pytest.fixture(scope="session")
def tiny_judge(model_cache: Path) -> Path:
    """A judge trained for a few seconds on templated pairs, saved where 'trained:tiny-nli'
    finds it."""
    from verifier.nli import judge_directory
    from verifier.training import JudgeTrainingConfig, train_judge

    target = judge_directory("tiny-nli", model_cache)
    if not target.exists():
        config = JudgeTrainingConfig(
            epochs=3, batch_size=16, max_tokens=64, learning_rate=1e-4, threads=1
        )
        train_judge(
            config,
            nli_pairs(seed=1, count=240),
            target,
            calibrate=lambda _: {"threshold": 0.0},
            log=lambda _: None,
        )
    return target


@pytest.fixture(scope="session")
def acme_index(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An index of one generated 10-K (tests/filings.py), shared by the answer tests."""
    from tests import filings
    from tests.test_ingest_cli import ingest_json

    folder = tmp_path_factory.mktemp("acme")
    filings.write_10k(folder / "ACME_2023_10K.pdf")
    index = folder / "index"
    code, _ = ingest_json(folder, "--data-dir", index)
    assert code == 0
    return index


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty service database: SQLite in WAL mode, and a new database on the
    PostgreSQL server scripts/test starts (VERIRAG_TEST_POSTGRES_URL)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'service.sqlite'}"
        return
    server = os.environ.get("VERIRAG_TEST_POSTGRES_URL")
    if not server:
        pytest.skip(
            "VERIRAG_TEST_POSTGRES_URL is not set, so these ran on SQLite only: scripts/test "
            "starts a PostgreSQL server and sets it"
        )
    import uuid

    import psycopg

    name = f"verirag_test_{uuid.uuid4().hex[:12]}"
    plain = server.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(plain, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    yield server.rsplit("/", 1)[0] + f"/{name}"
    with psycopg.connect(plain, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
