"""Numbers, scales and fiscal periods in claims and in filing evidence.

"$1,577 million", "$1.577 billion" and "1,577" in a table headed "(in millions)" are one
figure; "(2,605)" in a statement is 2,605 with a sign the claim may express in words ("a loss
of"). Years are periods, not amounts, and are checked by the period rule.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

_SCALES = {
    "thousand": 1e3,
    "thousands": 1e3,
    "k": 1e3,
    "million": 1e6,
    "millions": 1e6,
    "mm": 1e6,
    "m": 1e6,
    "mn": 1e6,
    "billion": 1e9,
    "billions": 1e9,
    "bn": 1e9,
    "b": 1e9,
    "trillion": 1e12,
    "trillions": 1e12,
}
_NUMBER = re.compile(
    r"(?P<currency>\$|USD\s?|US\$)?\s?(?P<open>\()?\s?(?P<currency2>\$)?\s?"
    r"(?<![A-Za-z\d.,])(?P<number>\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?|\.\d+)"
    r"\s?(?P<close>\))?"
    r"(?:\s?(?P<percent>%|percent\b|per cent\b)"
    r"|\s?(?P<scale>thousands?|millions?|billions?|trillions?|bn|mm|mn|[kKmMbB])(?![A-Za-z]))?",
)
_YEAR_LIKE = re.compile(r"^(19[5-9]\d|20\d\d)$")
_FISCAL_YEAR = re.compile(
    r"\b(?:FY\s?'?|fiscal\s+(?:year\s+)?|financial\s+year\s+)(?P<year>(?:19|20)?\d\d)\b",
    re.IGNORECASE,
)
_YEAR = re.compile(r"(?<![\d,.$])(19[5-9]\d|20\d\d)(?![\d,])")
_QUARTER = re.compile(
    r"\b(?:Q(?P<q>[1-4])|(?P<word>first|second|third|fourth)[-\s]quarter)\b", re.IGNORECASE
)
_QUARTER_WORDS = {"first": 1, "second": 2, "third": 3, "fourth": 4}


@dataclass(frozen=True, slots=True)
class Quantity:
    text: str
    number: float  # as written, without scale or sign
    scale: float  # 1 when none is written
    decimals: int  # digits after the decimal point, as written
    percent: bool
    currency: bool
    position: int

    @property
    def value(self) -> float:
        return self.number * self.scale

    @property
    def significant_digits(self) -> int:
        digits = re.sub(r"\D", "", f"{self.number:.{self.decimals}f}").lstrip("0")
        return len(digits)


def normalise_text(text: str) -> str:
    """Unicode compatibility forms, straight quotes and hyphens, no line-break hyphenation,
    single spaces: the normal form both quote and sentence are compared in."""
    text = unicodedata.normalize("NFKC", text).replace("\u00ad", "")
    text = re.sub(r"[\u2018\u2019\u201a\u201b\u2032]", "'", text)
    text = re.sub(r"[\u201c\u201d\u201e\u201f\u2033]", '"', text)
    text = re.sub(r"[\u2010\u2011\u2012\u2013\u2014\u2015\u2212]", "-", text)
    text = re.sub(r"(\w)-\s*\n\s*(\w)", r"\1\2", text)
    return re.sub(r"\s+", " ", text).strip()


def quantities(text: str) -> list[Quantity]:
    """Amounts, percentages and counts in ``text``; years are left out (see ``periods``)."""
    text = normalise_text(text)
    found = []
    for match in _NUMBER.finditer(text):
        raw = match.group("number")
        scale_word = (match.group("scale") or "").lower()
        percent = match.group("percent") is not None
        currency = bool(match.group("currency") or match.group("currency2"))
        if _YEAR_LIKE.match(raw) and not (currency or percent or scale_word):
            continue
        # A lone letter is a scale only after a currency amount ("$1.6B"), not "3 M" (a name).
        if len(scale_word) == 1 and not currency:
            if match.end("number") == match.start("scale"):
                continue  # "3M", "10K": a name or a form, not an amount
            scale_word = ""
        if re.match(r"-[KQ]\b", text[match.end("number") : match.end("number") + 3]):
            continue  # a form name: 10-K, 10-Q
        # Single digits without a unit are mostly ordinals and list numbers ("Item 7").
        before = text[max(0, match.start() - 6) : match.start()].lower()
        if re.search(r"(item|note|part|page)\s*$", before):
            continue
        decimals = len(raw.split(".")[1]) if "." in raw else 0
        found.append(
            Quantity(
                text=match.group().strip(),
                number=float(raw.replace(",", "")),
                scale=_SCALES.get(scale_word, 1.0),
                decimals=decimals,
                percent=percent,
                currency=currency,
                position=match.start(),
            )
        )
    return found


def evidence_values(text: str, context_scale: str | None) -> list[tuple[float, bool]]:
    """Values a piece of evidence states, as (value, is_percent): each number as written,
    times its own scale word, and times the scale of the table or sentence it sits in."""
    values: list[tuple[float, bool]] = []
    scale_text = (context_scale or "").lower()
    if not scale_text:
        sentence_scale = re.search(r"in (thousands|millions|billions)", text, re.IGNORECASE)
        scale_text = sentence_scale.group(1).lower() if sentence_scale else ""
    context = _SCALES.get(scale_text, 1.0)
    for quantity in quantities(text):
        values.append((quantity.number, quantity.percent))
        values.append((quantity.value, quantity.percent))
        if quantity.scale == 1.0 and context != 1.0:
            values.append((quantity.number * context, quantity.percent))
    return values


def quantity_supported(
    claim: Quantity, evidence: list[tuple[float, bool]], allow_rounding: bool
) -> bool:
    """Whether the claim's figure is one the evidence states. Rounding is accepted only to the
    precision the claim itself shows, and only with at least two significant digits."""
    tolerance = 1e-9 * max(1.0, abs(claim.value))
    if allow_rounding and claim.significant_digits >= 2:
        tolerance = max(tolerance, 0.5 * 10 ** (-claim.decimals) * claim.scale)
    candidates = [claim.value] if claim.scale != 1.0 else [claim.number]
    for value, percent in evidence:
        if claim.percent and not percent and value > 100:
            continue
        for wanted in candidates:
            if abs(abs(value) - abs(wanted)) <= tolerance + 1e-9 * abs(wanted):
                return True
    return False


@dataclass(frozen=True, slots=True)
class Period:
    year: int | None
    quarter: int | None
    text: str


def _full_year(text: str) -> int:
    year = int(text)
    return year + 2000 if year < 100 else year


def periods(text: str) -> list[Period]:
    """Fiscal years (2018, FY2018, FY18, fiscal 2018) and quarters (Q3, third quarter)."""
    text = normalise_text(text)
    found: list[Period] = []
    covered: list[tuple[int, int]] = []
    for match in _FISCAL_YEAR.finditer(text):
        found.append(Period(_full_year(match.group("year")), None, match.group()))
        covered.append(match.span())
    for match in _YEAR.finditer(text):
        if any(start <= match.start() < end for start, end in covered):
            continue
        # "$2018 million" or "2018.5" are amounts, not years.
        if text[max(0, match.start() - 1) : match.start()] == "$":
            continue
        found.append(Period(int(match.group()), None, match.group()))
    for match in _QUARTER.finditer(text):
        number = (
            int(match.group("q"))
            if match.group("q")
            else _QUARTER_WORDS[match.group("word").lower()]
        )
        found.append(Period(None, number, match.group()))
    return found


def years_in(text: str) -> set[int]:
    return {p.year for p in periods(text) if p.year is not None}


def quarters_in(text: str) -> set[int]:
    return {p.quarter for p in periods(text) if p.quarter is not None}


def header_years(header_rows: tuple[tuple[str, ...], ...]) -> list[int]:
    """Years of a table's columns, left to right."""
    years: list[int] = []
    for row in header_rows:
        for cell in row:
            years.extend(int(y) for y in _YEAR.findall(normalise_text(cell)))
    return years


def aligned_columns(
    row_text: str, header_rows: tuple[tuple[str, ...], ...]
) -> list[tuple[int, Quantity]] | None:
    """(year, figure) per column when the row's figures and the header's years line up one to
    one; None when they do not (a change column, a percentage column, a merged header)."""
    years = header_years(header_rows)
    values = quantities(row_text)
    if not years or len(values) != len(years) or len(set(years)) != len(years):
        return None
    return list(zip(years, values, strict=True))
