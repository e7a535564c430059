"""What a question says about which filings it is about: company, fiscal year, quarter, form.

Analysts rarely name filing ids; they write a short name, initials, a ticker, "FY2018",
"Q2 2023". The catalog holds every indexed filing with the names it can be called by, derived
by general rules from the company name (words, initials, joined words, two-letter syllables)
and the ticker, and matches a question against them. When a question names no company,
nothing is filtered: search everything.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from ingest.store import IndexStore, StoredFiling
from ingest.types import FormType

_CORPORATE_SUFFIXES = {
    "inc",
    "incorporated",
    "corp",
    "corporation",
    "co",
    "company",
    "companies",
    "plc",
    "ltd",
    "limited",
    "llc",
    "lp",
    "holdings",
    "group",
    "the",
    "and",
    "&",
    "of",
    "sa",
    "nv",
    "ag",
}
# Aliases shorter than this (other than tickers and initials) match too many ordinary words.
_MIN_ALIAS_CHARS = 3
_WORD = re.compile(r"[a-z0-9]+(?:&[a-z0-9]+)?")
_YEAR = re.compile(r"\b(?:fy|fiscal(?:\s+year)?)?\s*'?((?:19|20)\d{2})\b", re.IGNORECASE)
_SHORT_FY = re.compile(r"\bfy\s*'?(\d{2})\b", re.IGNORECASE)
_QUARTER = re.compile(
    r"\bq([1-4])\b|\bq([1-4])(?=(?:19|20)\d{2}\b)|\b(first|second|third|fourth)\s+(?:fiscal\s+)?quarter",
    re.IGNORECASE,
)
_QUARTER_YEAR = re.compile(r"\bq[1-4]((?:19|20)\d{2})\b", re.IGNORECASE)
_ORDINALS = {"first": 1, "second": 2, "third": 3, "fourth": 4}
_DAY = re.compile(
    r"\b((?:jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec)[a-z]*\.?\s+\d{1,2},?\s+"
    r"(?:19|20)\d{2})\b",
    re.IGNORECASE,
)
# A current report (8-K) is due within four business days of the event it reports.
_EVENT_REPORT_DAYS = timedelta(days=6)
_FORM_WORDS = {
    FormType.FORM_10K: re.compile(r"\b10-?k\b|\bannual report\b", re.IGNORECASE),
    FormType.FORM_10Q: re.compile(r"\b10-?q\b|\bquarterly report\b", re.IGNORECASE),
    FormType.FORM_8K: re.compile(r"\b8-?k\b|\bcurrent report\b", re.IGNORECASE),
    FormType.EARNINGS: re.compile(r"\bearnings (?:release|call|report)\b", re.IGNORECASE),
}


def _normalise(text: str) -> str:
    text = text.lower().replace("’", "'").replace("'s", "")
    return " ".join(_WORD.findall(text.replace(" & ", "&").replace("&", " & ")))


def company_aliases(company: str, ticker: str | None = None) -> set[str]:
    """Names a company goes by, from its registered or common name."""
    words = [w for w in _normalise(company).split() if w not in {"&"}]
    core = [w for w in words if w not in _CORPORATE_SUFFIXES] or words
    aliases = {" ".join(core), "".join(core)}
    if core:
        aliases.add(core[0])  # "Acme" for "Acme Resorts"
    if len(core) >= 2:
        initials = "".join(w[0] for w in core)
        aliases.update({initials, "&".join(w[0] for w in core), "n".join(w[0] for w in core)})
        aliases.add("".join(w[:2] for w in core))  # "geel" for "General Electric"
    if ticker:
        aliases.add(ticker.lower())
    return {a for a in aliases if len(a) >= 2}


@dataclass(frozen=True, slots=True)
class QueryFilters:
    """Explicit or parsed restrictions; empty fields restrict nothing."""

    companies: frozenset[str] = frozenset()  # catalog company keys
    fiscal_years: frozenset[int] = frozenset()
    quarter: int | None = None
    form: FormType | None = None
    filings: frozenset[str] = frozenset()  # filing names given explicitly
    dates: frozenset[date] = frozenset()  # days the question names ("May 3, 2023")

    @property
    def empty(self) -> bool:
        return not (
            self.companies
            or self.fiscal_years
            or self.quarter
            or self.form
            or self.filings
            or self.dates
        )


@dataclass(slots=True)
class CatalogEntry:
    filing: StoredFiling
    company_key: str
    aliases: set[str] = field(default_factory=set)


class Catalog:
    """The indexed filings and the names they answer to."""

    def __init__(self, filings: list[StoredFiling]) -> None:
        self.entries: list[CatalogEntry] = []
        for filing in filings:
            meta = filing.metadata
            name = meta.company or filing.name.split("_")[0]
            key = _normalise(name)
            aliases = company_aliases(name, meta.ticker)
            # The FinanceBench-style file stem names the company as well ("JOHNSON_JOHNSON").
            stem_company = re.split(r"_(?:19|20)\d{2}", filing.name)[0].replace("_", " ")
            aliases |= company_aliases(stem_company)
            self.entries.append(CatalogEntry(filing, key, aliases))
        # An alias shared by two different companies identifies neither.
        owners: dict[str, set[str]] = {}
        for entry in self.entries:
            for alias in entry.aliases:
                owners.setdefault(alias, set()).add(entry.company_key)
        for entry in self.entries:
            entry.aliases = {a for a in entry.aliases if len(owners[a]) == 1}

    @classmethod
    def from_store(cls, store: IndexStore) -> Catalog:
        return cls(store.filings())

    def companies_in(self, question: str) -> frozenset[str]:
        text = f" {_normalise(question)} "
        compact = text.replace(" ", "")
        found = set()
        for entry in self.entries:
            for alias in entry.aliases:
                if len(alias) < _MIN_ALIAS_CHARS and alias not in text.split():
                    continue
                if f" {alias} " in text or (
                    len(alias) >= 6 and " " not in alias and alias in compact
                ):
                    found.add(entry.company_key)
                    break
        return frozenset(found)

    def parse(self, question: str) -> QueryFilters:
        years = {int(y) for y in _YEAR.findall(question)}
        years |= {2000 + int(y) for y in _SHORT_FY.findall(question)}
        years |= {int(y) for y in _QUARTER_YEAR.findall(question)}  # "Q22023"
        quarter = None
        if match := _QUARTER.search(question):
            digit = match.group(1) or match.group(2)
            quarter = int(digit) if digit else _ORDINALS[match.group(3).lower()]
        form = next((f for f, pattern in _FORM_WORDS.items() if pattern.search(question)), None)
        return QueryFilters(
            companies=self.companies_in(question),
            fiscal_years=frozenset(years),
            quarter=quarter,
            form=form,
            dates=frozenset(d for text in _DAY.findall(question) if (d := _parse_day(text))),
        )

    def select(self, filters: QueryFilters) -> list[StoredFiling] | None:
        """The filings a search should be restricted to; None means search everything.

        Company is a hard filter. Year, quarter and form narrow within the company's filings
        only as far as some filing matches them. A question's years also name the comparative
        periods a later filing reports ("FY2021 vs FY2022" is in the 2022 10-K, a three-year
        average to FY2020 in the 2020 one), so of several named years the latest one some
        filing reports for is the one searched.
        """
        if filters.filings:
            return [e.filing for e in self.entries if e.filing.name in filters.filings]
        if not filters.companies:
            return None
        chosen = [e.filing for e in self.entries if e.company_key in filters.companies]
        narrowing = (_by_years(filters), _by_quarter(filters), _by_form(filters), _by_day(filters))
        for narrow in narrowing:
            narrowed = [f for f in chosen if narrow(f)]
            if narrowed:
                chosen = narrowed
        reported = [
            year
            for f in chosen
            if (year := f.metadata.fiscal_year) is not None and year in filters.fiscal_years
        ]
        if len(filters.fiscal_years) > 1 and reported:
            latest = max(reported)
            chosen = [f for f in chosen if f.metadata.fiscal_year == latest]
        if not (filters.fiscal_years or filters.quarter or filters.dates):
            chosen = _current(chosen)
        return chosen


def _current(filings: list[StoredFiling]) -> list[StoredFiling]:
    """Of a company's filings, those of its latest year of reporting: a question that names
    no period asks about the present ("Is the business subject to cyclicality?" is the latest
    10-K's to answer, not an older one's), and the latest annual report with what was
    filed after it is what an analyst reads for that. Filings whose date is unknown stay."""
    dated = {id(f): day for f in filings if (day := _as_of(f)) is not None}
    if len(dated) < 2:
        return filings
    since = max(dated.values()) - _CURRENT_SPAN
    return [f for f in filings if dated.get(id(f), since) >= since]


def _as_of(filing: StoredFiling) -> date | None:
    """The day a filing speaks as of: its period's end, else its filing day, else the end of
    its fiscal quarter or year taken as calendar months (fiscal years that end elsewhere are
    off by months, which a year's window absorbs)."""
    meta = filing.metadata
    known = _iso_day(meta.period_end) or _iso_day(meta.filed)
    if known is not None or meta.fiscal_year is None:
        return known
    quarter = re.fullmatch(r"Q([1-4])", meta.fiscal_period or "")
    month = 3 * int(quarter.group(1)) if quarter else 12
    return date(meta.fiscal_year, month, 28)


FilingTest = Callable[[StoredFiling], bool]
_CURRENT_SPAN = timedelta(days=366)


def _by_years(filters: QueryFilters) -> FilingTest:
    return lambda f: not filters.fiscal_years or f.metadata.fiscal_year in filters.fiscal_years


def _by_day(filters: QueryFilters) -> FilingTest:
    """A filing made on a day the question names, or in the days after it in which a current
    report of that day's event is due ("At the AGM held on May 3, 2023" → the 8-K filed May 5),
    or reporting on a period that ends that day."""

    def reports(filing: StoredFiling) -> bool:
        filed = _iso_day(filing.metadata.filed)
        period_end = _iso_day(filing.metadata.period_end)
        return any(
            (filed is not None and day <= filed <= day + _EVENT_REPORT_DAYS) or period_end == day
            for day in filters.dates
        )

    return lambda f: not filters.dates or reports(f)


def _parse_day(text: str) -> date | None:
    cleaned = re.sub(r"[.,]", " ", text).split()
    month, day, year = cleaned[0][:3].title(), cleaned[1], cleaned[2]
    try:
        return datetime.strptime(f"{month} {day} {year}", "%b %d %Y").date()
    except ValueError:
        return None


def _iso_day(text: str | None) -> date | None:
    try:
        return date.fromisoformat(text) if text else None
    except ValueError:
        return None


def _by_quarter(filters: QueryFilters) -> FilingTest:
    wanted = f"Q{filters.quarter}" if filters.quarter else None
    return lambda f: wanted is None or f.metadata.fiscal_period == wanted


# "The annual report" of a company that files no 10-K is its own report to shareholders.
_SAME_ROLE = {FormType.FORM_10K: {FormType.FORM_10K, FormType.ANNUAL_REPORT}}


def _by_form(filters: QueryFilters) -> FilingTest:
    if filters.form is None:
        return lambda f: True
    accepted = _SAME_ROLE.get(filters.form, {filters.form})
    return lambda f: f.metadata.form_type in accepted
