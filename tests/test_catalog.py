from __future__ import annotations

import json
from pathlib import Path

import pytest

from ingest.metadata import from_file_name, load_overrides, merge
from ingest.store import StoredFiling
from ingest.types import FilingMetadata, FormType
from retrieval.catalog import Catalog, company_aliases


@pytest.mark.parametrize(
    ("company", "alias"),
    [
        ("Johnson & Johnson", "jnj"),
        ("Johnson & Johnson", "j&j"),
        ("American Express", "amex"),
        ("Foot Locker", "footlocker"),
        ("MGM Resorts", "mgm"),
        ("3M", "3m"),
        ("Activision Blizzard", "activision"),
        ("BEST BUY CO., INC.", "best buy"),
    ],
)
def test_aliases(company: str, alias: str) -> None:
    assert alias in company_aliases(company)


def _filing(name: str, meta: FilingMetadata) -> StoredFiling:
    return StoredFiling(
        id=name, name=name, path="", sha256="", parser_version="", page_count=1, metadata=meta
    )


def test_years_quarters_and_forms_narrow_within_the_company() -> None:
    def meta(name: str, **kw: object) -> FilingMetadata:
        return merge(from_file_name(Path(name + ".pdf")), FilingMetadata(name=name, **kw))

    names = ["JPMORGAN_2021Q1_10Q", "JPMORGAN_2022Q2_10Q", "VERIZON_2021_10K", "VERIZON_2022_10K"]
    catalog = Catalog([_filing(n, meta(n, ticker="JPM" if "JPM" in n else "VZ")) for n in names])
    pick = lambda q: sorted(f.name for f in catalog.select(catalog.parse(q)) or [])  # noqa: E731
    assert pick("Which of JPM's segments had the lowest net revenue in 2021 Q1?") == [
        "JPMORGAN_2021Q1_10Q"
    ]
    assert pick("In the second fiscal quarter of 2022, what was JPMorgan's net income?") == [
        "JPMORGAN_2022Q2_10Q"
    ]
    assert pick("As of FY 2021, how much did Verizon expect to pay for retirees in 2024?") == [
        "VERIZON_2021_10K"
    ]
    # The later filing reports the earlier year as its comparative.
    assert pick("Has Verizon's debt grown between FY21 and FY22?") == ["VERIZON_2022_10K"]
    assert pick("What was Verizon's average debt over FY2020 - FY2021?") == ["VERIZON_2021_10K"]
    assert catalog.select(catalog.parse("What is a quick ratio?")) is None
    assert catalog.parse("numbers from the 10-Q").form is FormType.FORM_10Q
    parsed = catalog.parse("Which region had the biggest drop in Q22023 revenues?")
    assert (parsed.quarter, parsed.fiscal_years) == (2, frozenset({2023}))


def test_financebench_questions_keep_their_filing(shared: Path) -> None:
    """Filter parsing on the real question wordings, against the real corpus catalog."""
    overrides = load_overrides(shared / "financebench" / "documents.jsonl")
    catalog = Catalog(
        [
            _filing(name, merge(from_file_name(Path(name + ".pdf")), meta))
            for name, meta in overrides.items()
        ]
    )
    lines = (shared / "financebench" / "questions_dev.jsonl").read_text().splitlines()
    questions = [json.loads(line) for line in lines if line.strip()]
    kept = 0
    for question in questions:
        selected = catalog.select(catalog.parse(question["question"]))
        kept += selected is None or question["doc_name"] in {f.name for f in selected}
    # a question naming no company searches everything, which also keeps its filing
    assert kept / len(questions) >= 0.95, kept


def test_a_day_the_question_names_picks_the_current_report_of_that_days_event() -> None:
    def meta(name: str, filed: str) -> FilingMetadata:
        return merge(from_file_name(Path(name + ".pdf")), FilingMetadata(name=name, filed=filed))

    filings = {
        "PEPSICO_2023_8K_dated-2023-05-05": "2023-05-05",
        "PEPSICO_2023_8K_dated-2023-05-30": "2023-05-30",
        "PEPSICO_2023Q1_EARNINGS": "2023-04-25",
    }
    catalog = Catalog([_filing(n, meta(n, filed)) for n, filed in filings.items()])
    question = "At the PepsiCo AGM held on May 3, 2023, what was the outcome of the vote?"
    parsed = catalog.parse(question)
    assert {day.isoformat() for day in parsed.dates} == {"2023-05-03"}
    assert [f.name for f in catalog.select(parsed) or []] == ["PEPSICO_2023_8K_dated-2023-05-05"]
    # A day no filing reports narrows nothing.
    later = catalog.select(catalog.parse("What did PepsiCo say on December 1, 2023?")) or []
    assert len(later) == 3


def test_a_question_naming_no_period_searches_the_latest_year_of_filings() -> None:
    def meta(name: str, **kw: object) -> FilingMetadata:
        return merge(from_file_name(Path(name + ".pdf")), FilingMetadata(name=name, **kw))

    catalog = Catalog(
        [
            _filing("BOEING_2018_10K", meta("BOEING_2018_10K", period_end="2018-12-31")),
            _filing("BOEING_2022_10K", meta("BOEING_2022_10K", period_end="2022-12-31")),
            # A quarter after the annual report: both speak for the present.
            _filing("BOEING_2023Q1_10Q", meta("BOEING_2023Q1_10Q")),
            _filing("BOEING_NOTES", meta("BOEING_NOTES", company="Boeing")),  # date unknown
        ]
    )
    pick = lambda q: sorted(f.name for f in catalog.select(catalog.parse(q)) or [])  # noqa: E731
    assert pick("Is Boeing's business subject to cyclicality?") == [
        "BOEING_2022_10K",
        "BOEING_2023Q1_10Q",
        "BOEING_NOTES",
    ]
    # A named period still reaches back.
    assert pick("Was Boeing's business cyclical in FY2018?") == ["BOEING_2018_10K"]


def test_a_question_about_the_annual_report_accepts_a_report_that_is_not_a_10k() -> None:
    catalog = Catalog(
        [
            _filing(
                "HARBOUR_2019_AR",
                FilingMetadata(
                    name="HARBOUR_2019_AR", company="Harbour", form_type=FormType.ANNUAL_REPORT
                ),
            ),
            _filing(
                "HARBOUR_2019_Q2",
                FilingMetadata(
                    name="HARBOUR_2019_Q2", company="Harbour", form_type=FormType.FORM_10Q
                ),
            ),
        ]
    )
    parsed = catalog.parse("What did Harbour's annual report say about inventories?")
    assert parsed.form is FormType.FORM_10K
    assert [f.name for f in catalog.select(parsed) or []] == ["HARBOUR_2019_AR"]
