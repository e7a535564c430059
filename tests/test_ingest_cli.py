"""The ``verirag ingest`` / ``index`` / ``search`` commands end to end, with the real
packaged embedding model, real SQLite and FAISS, on PDFs the tests write."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from service.cli import app
from tests import filings

runner = CliRunner()


def verirag(*args: str | Path) -> Any:
    return runner.invoke(app, [str(a) for a in args], catch_exceptions=False)


def ingest_json(*args: str | Path) -> tuple[int, dict[str, Any]]:
    result = verirag("ingest", *args, "--json")
    (report,) = [r for r in json.loads(result.stdout) if r["results"]]
    return result.exit_code, report


def info(data_dir: Path) -> dict[str, Any]:
    result = verirag("index", "info", "--data-dir", data_dir, "--json")
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)  # type: ignore[no-any-return]


def page(data_dir: Path, filing: str, number: int) -> dict[str, Any]:
    result = verirag(
        "index",
        "page",
        "--filing",
        filing,
        "--page",
        str(number),
        "--data-dir",
        data_dir,
        "--json",
    )
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)  # type: ignore[no-any-return]


@pytest.fixture
def ten_k(tmp_path: Path) -> Path:
    folder = tmp_path / "in"
    folder.mkdir()
    return filings.write_10k(folder / "ACME_2023_10K.pdf")


def test_ingest_then_info_page_and_search(tmp_path: Path, ten_k: Path) -> None:
    data = tmp_path / "index"
    code, report = ingest_json(ten_k, "--data-dir", data)
    assert code == 0
    assert [r["outcome"] for r in report["results"]] == ["ingested"]
    stats = info(data)
    assert stats["filings"] == 1 and stats["pages"] == 7
    assert stats["tables"] == 1 and stats["chunks"] > 5 and stats["sentences"] > 20
    assert stats["embedding_model"] == "packaged:all-MiniLM-L6-v2@onnx-int8"
    assert stats["filing_names"] == ["ACME_2023_10K"]

    statement = page(data, "ACME_2023_10K", 4)
    assert statement["sentences"]
    for sentence in statement["sentences"]:
        assert statement["text"][sentence["start"] : sentence["end"]] == sentence["text"]
    assert {s["section"] for s in statement["sentences"]} == {"Item 8"}

    result = verirag("search", "cost of sales in 2022", "--data-dir", data, "--json")
    assert result.exit_code == 0, result.stderr
    hits = json.loads(result.stdout)
    assert hits[0]["filing"] == "ACME_2023_10K"
    assert {h["page"] for h in hits[:2]} & {4}
    assert set(hits[0]) == {"filing", "page", "section", "score", "text", "sentence_ids"}


def test_reingest_changes_nothing(tmp_path: Path, ten_k: Path) -> None:
    data = tmp_path / "index"
    assert ingest_json(ten_k, "--data-dir", data)[0] == 0
    before = (info(data), page(data, "ACME_2023_10K", 2))
    vector_files = sorted((data / "vectors").iterdir())
    code, report = ingest_json(ten_k, "--data-dir", data)
    assert code == 0
    assert [r["outcome"] for r in report["results"]] == ["unchanged"]
    assert (info(data), page(data, "ACME_2023_10K", 2)) == before
    assert sorted((data / "vectors").iterdir()) == vector_files


def test_same_file_in_another_folder_keeps_its_ids(tmp_path: Path, ten_k: Path) -> None:
    first, second = tmp_path / "a", tmp_path / "b"
    assert ingest_json(ten_k, "--data-dir", first)[0] == 0
    copy = tmp_path / "copy" / ten_k.name
    copy.parent.mkdir()
    shutil.copy(ten_k, copy)
    assert ingest_json(copy, "--data-dir", second)[0] == 0
    assert (
        page(first, "ACME_2023_10K", 3)["sentences"]
        == page(second, "ACME_2023_10K", 3)["sentences"]
    )
    assert info(first)["index_version"] == info(second)["index_version"]


def test_changed_file_replaces_its_old_version(tmp_path: Path, ten_k: Path) -> None:
    data = tmp_path / "index"
    assert ingest_json(ten_k, "--data-dir", data)[0] == 0
    old = info(data)
    filings.write_10k(ten_k, extra_sentence="A new plant opened in Ohio in 2023.")
    code, report = ingest_json(ten_k, "--data-dir", data)
    assert code == 0
    assert [r["outcome"] for r in report["results"]] == ["replaced"]
    new = info(data)
    assert new["filings"] == 1 and new["pages"] == old["pages"]
    assert new["index_version"] != old["index_version"]
    texts = [s["text"] for s in page(data, "ACME_2023_10K", 2)["sentences"]]
    assert "A new plant opened in Ohio in 2023." in texts
    result = verirag("search", "new plant in Ohio", "--data-dir", data, "--json", "--top-k", "1")
    assert json.loads(result.stdout)[0]["page"] == 2


def test_remove_deletes_a_filing_and_its_vectors(tmp_path: Path) -> None:
    data = tmp_path / "index"
    a = filings.write_10k(tmp_path / "ACME_2023_10K.pdf")
    b = filings.write_10k(tmp_path / "OTHER_2023_10K.pdf", company_suffix="II")
    assert ingest_json(a, b, "--data-dir", data)[0] == 0
    both = info(data)
    result = verirag("ingest", "--remove", "ACME_2023_10K", "--data-dir", data)
    assert result.exit_code == 0, result.stderr
    after = info(data)
    assert after["filing_names"] == ["OTHER_2023_10K"]
    assert after["chunks"] < both["chunks"] and after["pages"] == 7
    hits = json.loads(verirag("search", "net sales", "--data-dir", data, "--json").stdout)
    assert {h["filing"] for h in hits} == {"OTHER_2023_10K"}
    missing = verirag("ingest", "--remove", "NOPE", "--data-dir", data)
    assert missing.exit_code == 1 and "NOPE" in missing.stderr


def test_bad_files_are_skipped_with_reasons_and_nothing_stored_is_touched(
    tmp_path: Path, ten_k: Path
) -> None:
    data = tmp_path / "index"
    assert ingest_json(ten_k, "--data-dir", data)[0] == 0
    before = (info(data), page(data, "ACME_2023_10K", 4))
    batch = tmp_path / "batch"
    batch.mkdir()
    filings.write_encrypted(batch / "ENC_2023_10K.pdf")
    filings.write_scanned(batch / "SCAN_2023_10K.pdf")
    filings.write_corrupt(batch / "CORRUPT_2023_10K.pdf")
    filings.write_not_a_filing(batch / "RECIPE.pdf")
    (batch / "EMPTY_2023_10K.pdf").write_bytes(b"")
    (batch / "notes.htm").write_text("<html><body>   </body></html>")
    good = filings.write_10k(batch / "GOOD_2023_10K.pdf", company_suffix="Good")
    code, report = ingest_json(batch, tmp_path / "missing.pdf", "--data-dir", data)
    assert code == 1
    outcomes = {Path(r["path"]).name: (r["outcome"], r["reason"]) for r in report["results"]}
    assert outcomes[good.name][0] == "ingested"
    expected = {
        "ENC_2023_10K.pdf": "encrypted",
        "SCAN_2023_10K.pdf": "no text layer",
        "CORRUPT_2023_10K.pdf": "not a readable PDF",
        "RECIPE.pdf": "does not look like an SEC filing",
        "EMPTY_2023_10K.pdf": "empty",
        "notes.htm": "no visible text",
        "missing.pdf": "no such file",
    }
    for name, reason in expected.items():
        assert outcomes[name][0] == "failed" and reason in outcomes[name][1], (name, outcomes)
    after = info(data)
    assert after["filing_names"] == ["ACME_2023_10K", "GOOD_2023_10K"]
    assert page(data, "ACME_2023_10K", 4) == before[1]


def test_opening_an_index_with_another_model_is_a_clear_error(
    tmp_path: Path, ten_k: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from engine.settings import get_settings

    data = tmp_path / "index"
    assert ingest_json(ten_k, "--data-dir", data)[0] == 0
    monkeypatch.setenv("VERIRAG_EMBEDDING_RUNTIME", "torch")
    get_settings.cache_clear()
    other = filings.write_10k(tmp_path / "OTHER_2023_10K.pdf", company_suffix="II")
    result = verirag("ingest", other, "--data-dir", data)
    assert result.exit_code == 2
    assert "packaged:all-MiniLM-L6-v2@onnx-int8" in result.stderr
    search = verirag("search", "net sales", "--data-dir", data)
    assert search.exit_code == 2 and "embedded with" in search.stderr
    assert info(data)["filing_names"] == ["ACME_2023_10K"]


def test_metadata_overrides_and_their_errors(tmp_path: Path, ten_k: Path) -> None:
    data = tmp_path / "index"
    overrides = tmp_path / "documents.jsonl"
    overrides.write_text(
        json.dumps(
            {
                "doc_name": "ACME_2023_10K",
                "company": "Acme Widgets",
                "doc_type": "10k",
                "doc_period": 2023,
            }
        )
        + "\n"
    )
    assert ingest_json(ten_k, "--data-dir", data, "--metadata", overrides)[0] == 0
    result = verirag("index", "info", "--data-dir", data)
    assert "Acme Widgets 10-K FY2023" in result.stdout
    overrides.write_text("{broken\n")
    other = filings.write_10k(tmp_path / "OTHER_2023_10K.pdf", company_suffix="II")
    bad = verirag("ingest", other, "--data-dir", data, "--metadata", overrides)
    assert bad.exit_code == 2 and f"{overrides}:1" in bad.stderr


def test_glob_patterns_and_usage_errors(tmp_path: Path) -> None:
    data = tmp_path / "index"
    for name in ("A_2023_10K", "B_2023_10K"):
        filings.write_10k(tmp_path / f"{name}.pdf", company_suffix=name)
    code, report = ingest_json(str(tmp_path / "*_10K.pdf"), "--data-dir", data)
    assert code == 0 and len(report["results"]) == 2
    nothing = verirag("ingest", "--data-dir", data)
    assert nothing.exit_code == 2 and "nothing to do" in nothing.stderr
    no_index = verirag("index", "info", "--data-dir", tmp_path / "elsewhere")
    assert no_index.exit_code == 2 and "no index" in no_index.stderr
    no_page = verirag("index", "page", "--filing", "A_2023_10K", "--page", "99", "--data-dir", data)
    assert no_page.exit_code == 2 and "no page 99" in no_page.stderr
