from __future__ import annotations

from pathlib import Path

import pytest

from ingest.errors import MetadataFileError
from ingest.metadata import from_cover_page, from_file_name, load_overrides, resolve
from ingest.types import FormType


@pytest.mark.parametrize(
    ("name", "company", "form", "year", "period"),
    [
        ("3M_2018_10K", "3M", FormType.FORM_10K, 2018, "FY"),
        ("AMCOR_2023Q2_10Q", "Amcor", FormType.FORM_10Q, 2023, "Q2"),
        ("JOHNSON_JOHNSON_2022Q4_EARNINGS", "Johnson Johnson", FormType.EARNINGS, 2022, "Q4"),
        ("PEPSICO_2023_8K_dated-2023-05-05", "Pepsico", FormType.FORM_8K, 2023, None),
        ("Pfizer_2023Q2_10Q", "Pfizer", FormType.FORM_10Q, 2023, "Q2"),
    ],
)
def test_financebench_file_names(
    name: str, company: str, form: FormType, year: int, period: str | None
) -> None:
    meta = from_file_name(Path(f"{name}.pdf"))
    assert (meta.company, meta.form_type, meta.fiscal_year, meta.fiscal_period) == (
        company,
        form,
        year,
        period,
    )


def test_edgar_file_name() -> None:
    meta = from_file_name(Path("aapl-10-k-2024-11-01.html"))
    assert (meta.ticker, meta.form_type, meta.filed) == ("AAPL", FormType.FORM_10K, "2024-11-01")


def test_cover_page() -> None:
    cover = (
        "UNITED STATES\nSECURITIES AND EXCHANGE COMMISSION\nFORM 10-Q\n"
        "For the quarterly period ended June 30, 2023\nPfizer Inc.\n"
        "(Exact name of registrant as specified in its charter)\n"
    )
    meta = from_cover_page("x", cover)
    assert meta.form_type is FormType.FORM_10Q
    assert meta.period_end == "2023-06-30"
    assert meta.company == "Pfizer Inc."


def test_overrides_win_and_file_name_fills_gaps(tmp_path: Path) -> None:
    overrides = tmp_path / "documents.jsonl"
    overrides.write_text(
        '{"doc_name": "ACME_2023_10K", "company": "Acme Widgets", "doc_type": "10k", '
        '"doc_period": 2023}\n'
    )
    meta = resolve(Path("ACME_2023_10K.pdf"), "FORM 10-K", load_overrides(overrides))
    assert (meta.company, meta.form_type, meta.fiscal_year) == (
        "Acme Widgets",
        FormType.FORM_10K,
        2023,
    )


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json}\n", "not valid JSON"),
        ('{"company": "x"}\n', "missing 'doc_name'"),
        ('{"doc_name": "a", "doc_period": "last year"}\n', "is not a year"),
    ],
)
def test_malformed_overrides_name_the_line(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "meta.jsonl"
    path.write_text(content)
    with pytest.raises(MetadataFileError, match=message) as error:
        load_overrides(path)
    assert f"{path}:1" in str(error.value)


@pytest.mark.parametrize(
    ("cover", "form"),
    [
        ("Harbour Mills plc\nAnnual Report and Accounts 2019\nStrategic report", "annual report"),
        ("Integrated Report 2023\nGroup financial statements", "annual report"),
        ("UNITED STATES\nSECURITIES AND EXCHANGE COMMISSION\nFORM 10-K\nAnnual report", "10-K"),
    ],
)
def test_an_annual_report_that_is_no_sec_form_is_read_as_one(cover: str, form: str) -> None:
    meta = from_cover_page("x", cover)
    assert meta.form_type is not None and meta.form_type.value == form


def test_an_annual_report_excerpt_takes_its_form_from_the_metadata(tmp_path: Path) -> None:
    overrides = tmp_path / "documents.jsonl"
    overrides.write_text('{"doc_name": "R1", "doc_type": "annual report excerpt"}\n')
    assert load_overrides(overrides)["R1"].form_type is FormType.ANNUAL_REPORT
