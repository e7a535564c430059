"""``verirag search`` filters and ``verirag eval retrieval`` on an index the tests build."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from ingest.store import DOCSTORE_FILE, IndexStore
from tests import filings
from tests.test_ingest_cli import ingest_json, verirag


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("search")
    filings.write_10k(folder / "ACME_2023_10K.pdf")
    filings.write_10k(folder / "ACME_2022_10K.pdf", year=2022)
    filings.write_10k(folder / "GLOBEX_2023_10K.pdf", company="Globex Corporation")
    index = folder / "index"
    code, _ = ingest_json(folder, "--data-dir", index)
    assert code == 0
    return index


def _hits(*args: str | Path) -> list[dict[str, object]]:
    result = verirag("search", *args, "--json")
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)  # type: ignore[no-any-return]


def test_explicit_filters(data: Path) -> None:
    hits = _hits("net sales", "--company", "Acme", "--year", "2022", "--data-dir", data)
    assert {h["filing"] for h in hits} == {"ACME_2022_10K"}
    hits = _hits(
        "net sales", "--filing", "GLOBEX_2023_10K", "--mode", "lexical", "--data-dir", data
    )
    assert {h["filing"] for h in hits} == {"GLOBEX_2023_10K"}


def test_human_output_shows_sentences_with_their_ids(data: Path) -> None:
    result = verirag("search", "Globex capital expenditures", "--data-dir", data, "--top-k", "1")
    assert result.exit_code == 0
    assert "GLOBEX_2023_10K" in result.stdout and "[s" in result.stdout
    assert "Capital expenditures were $96 million." in result.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["net sales", "--company", "Initech"], "no indexed filing is from a company"),
        (["net sales", "--mode", "psychic"], "use hybrid, dense or lexical"),
        (["   "], "the question is empty"),
        (["net sales", "--filing", "NOPE_2023_10K"], "no filing named NOPE_2023_10K"),
    ],
)
def test_bad_search_input(data: Path, args: list[str], message: str) -> None:
    result = verirag("search", *args, "--data-dir", data)
    assert result.exit_code == 2 and message in result.stderr


def test_eval_retrieval_writes_report_and_plot(data: Path, tmp_path: Path) -> None:
    questions = tmp_path / "questions.jsonl"
    rows = [
        {
            "id": "q1",
            "question": "What was Acme's cost of sales in FY2023?",
            "filing": "ACME_2023_10K",
            "evidence": [{"filing": "ACME_2023_10K", "page": 4}],
        },
        {
            "id": "q2",
            "question": "How much were Globex's capital expenditures?",
            "filing": "GLOBEX_2023_10K",
            "evidence": [{"filing": "GLOBEX_2023_10K", "page": 3}],
        },
    ]
    questions.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    report = tmp_path / "out" / "report.json"
    result = verirag(
        "eval", "retrieval", "--questions", questions, "--report", report, "--data-dir", data
    )
    assert result.exit_code == 0, result.stderr
    written = json.loads(report.read_text())
    assert written["questions"] == 2
    for store in ("shared", "single"):
        summary = written["summary"][store]
        assert set(summary["recall"]) == {"1", "5", "10", "20"}
        assert summary["recall"]["5"] == 1.0 and summary["errors"] == 0
        assert len(summary["curve"]) == 20
    assert written["per_question"][0]["shared"]["pages"][0][0] == "ACME_2023_10K"
    assert report.with_suffix(".png").stat().st_size > 1000


def test_eval_retrieval_refuses_a_file_that_is_not_questions(data: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"nothing": 1}\n')
    result = verirag("eval", "retrieval", "--questions", bad, "--data-dir", data)
    assert result.exit_code == 2 and "not a questions file" in result.stderr


def test_an_index_from_before_the_text_index_gets_one_on_open(data: Path, tmp_path: Path) -> None:
    import shutil

    copy = tmp_path / "old"
    shutil.copytree(data, copy)
    with sqlite3.connect(copy / DOCSTORE_FILE) as db:  # the schema-2 text index
        db.execute("DROP TABLE chunks_fts")
        db.execute("CREATE VIRTUAL TABLE chunks_fts USING fts5(text, header)")
    with IndexStore(copy) as store:
        acme = store.filing_by_name("ACME_2023_10K")
        assert acme is not None
        assert store.search_text('"capital" OR "expenditures"', 3, [acme.id])
        total = store._db.execute("SELECT COUNT(*) FROM chunks_fts").fetchone()[0]
        assert total == store.info()["chunks"]
