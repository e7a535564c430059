"""kill -9 in the middle of an ingest leaves the previous index fully usable."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from ingest.store import IndexStore
from tests import filings
from tests.conftest import REPO

pytestmark = pytest.mark.slow


def _cli(*args: str | Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "service.cli", *map(str, args)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def _snapshot(data: Path, env: dict[str, str]) -> tuple[Any, ...]:
    page = _cli(
        "index",
        "page",
        "--filing",
        "ACME_2023_10K",
        "--page",
        "4",
        "--data-dir",
        data,
        "--json",
        env=env,
    )
    hits = _cli(
        "search",
        "cost of sales",
        "--filing",
        "ACME_2023_10K",
        "--data-dir",
        data,
        "--json",
        env=env,
    )
    assert page.returncode == 0 and hits.returncode == 0, page.stderr + hits.stderr
    return json.loads(page.stdout), json.loads(hits.stdout)


def _assert_consistent(data: Path) -> list[str]:
    with IndexStore(data) as store:
        assert store._db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert store.vector_count == store.info()["chunks"]
        for filing in store.filings():
            pages = store._db.execute(
                "SELECT COUNT(*) FROM pages WHERE filing_id = ?", (filing.id,)
            ).fetchone()[0]
            chunk_pages = store._db.execute(
                "SELECT COUNT(DISTINCT page) FROM chunks WHERE filing_id = ?", (filing.id,)
            ).fetchone()[0]
            assert pages == filing.page_count == 7 and chunk_pages == 7
        return [filing.name for filing in store.filings()]


def _kill_when(process: subprocess.Popen[str], marker: str | None, delay: float) -> None:
    """SIGKILL once ``marker`` shows on stderr (or after ``delay`` s without a marker)."""
    assert process.stderr is not None
    if marker is not None:
        for line in process.stderr:
            if marker in line:
                break
    else:
        time.sleep(delay)
    os.kill(process.pid, signal.SIGKILL)
    process.wait(timeout=30)


def test_kill_9_mid_ingest_keeps_the_committed_index(tmp_path: Path, model_cache: Path) -> None:
    env = {
        **os.environ,
        "VERIRAG_CACHE_DIR": str(model_cache),
        "VERIRAG_TORCH_THREADS": "1",
        "VERIRAG_INGEST_COMMIT_SECONDS": "0",  # commit after every filing: more to interrupt
        "PYTHONUNBUFFERED": "1",
    }
    data = tmp_path / "index"
    first = filings.write_10k(tmp_path / "ACME_2023_10K.pdf")
    assert _cli("ingest", first, "--data-dir", data, env=env).returncode == 0
    before = _snapshot(data, env)

    batch = tmp_path / "batch"
    batch.mkdir()
    for number in range(6):
        filings.write_10k(batch / f"CO{number}_2023_10K.pdf", company_suffix=f"No. {number}")
    command = [sys.executable, "-m", "service.cli", "ingest", str(batch), "--data-dir", str(data)]

    # Right after a filing is staged the batch commits: the FAISS file and the SQLite
    # transaction are being written. Then a kill at an arbitrary moment.
    for marker, delay in (("ingested", 0.0), (None, 2.5), ("ingested", 0.0)):
        process = subprocess.Popen(
            command,
            cwd=REPO,
            env=env,
            stderr=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            text=True,
        )
        _kill_when(process, marker, delay)
        assert process.returncode == -signal.SIGKILL
        names = _assert_consistent(data)
        assert "ACME_2023_10K" in names
        assert _snapshot(data, env) == before

    finished = _cli("ingest", batch, "--data-dir", data, env=env)
    assert finished.returncode == 0, finished.stderr
    assert len(_assert_consistent(data)) == 7
    assert _snapshot(data, env) == before
