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
    r"(?P<currency>\$|(?i:USD|US\$)\s?)?\s?(?P<open>\()?\s?(?P<currency2>\$)?\s?"
    r"(?:(?<=USD)|(?<=US\$)|(?<![A-Za-z\d.,]))(?P<number>\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?|\.\d+)(?![\d,]\d)"
    r"\s?(?P<close>\))?"
    r"(?:\s?(?P<percent>%|(?i:percent|per cent)\b)"
    r"|\s?(?P<scale>(?i:thousands?|millions?|billions?|trillions?|bn|mm|mn)|[kKmMbB])"
    r"(?![A-Za-z]))?",
)
# Superscript digits are footnote marks ("$1,577¹ million"); NFKC would fuse them into numbers.
_SUPERSCRIPTS = re.compile("[\u00b9\u00b2\u00b3\u2070-\u2079]")
_YEAR_LIKE = re.compile(r"^(19[5-9]\d|20\d\d)$")
_FISCAL_YEAR = re.compile(
    r"(?:\b|(?<=Q[1-4]))(?:FY\s?'?|fiscal\s+(?:year\s+)?|financial\s+year\s+)(?P<year>(?:19|20)?\d\d)\b",
    re.IGNORECASE,
)
_YEAR = re.compile(r"(?<![\d,.$])(19[5-9]\d|20\d\d)(?!\d|,\d|\.\d|-week)")
_QUARTER = re.compile(
    r"(?:\bQ(?P<q>[1-4])(?=\b|FY|\d)|\b(?P<q2>[1-4])Q(?=\b|\d)"
    r"|\b(?P<word>first|second|third|fourth)[-\s]quarter\b)",
    re.IGNORECASE,
)
_QUARTER_WORDS = {"first": 1, "second": 2, "third": 3, "fourth": 4}


@dataclass(frozen=True, slots=True)
class Quantity:
    text: str
    number: float  # as written, without scale or sign
    printed: str  # the digits as printed: "1,577" in "$1,577 million"
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


def _joined(text: str, index: int, inner: str, beyond: str) -> bool:
    """Whether text[index] continues the token that ``inner`` belongs to: a letter or digit,
    or the separator inside a number ("1,577", "3.5") when digits sit on both sides."""
    neighbour = text[index]
    if neighbour.isalnum():
        return True
    return neighbour in ",." and inner.isdigit() and beyond.isdigit()


def is_verbatim_span(quote: str, sentence: str) -> bool:
    """Whether ``quote`` is a span of ``sentence`` in the normal form, starting and ending on
    token boundaries: "1,577 million" is not a span of "$21,577 million", nor "creased" of
    "decreased"."""
    wanted, text = normalise_text(quote), normalise_text(sentence)
    if not wanted:
        return False
    start = text.find(wanted)
    while start >= 0:
        end = start + len(wanted)
        opens = start == 0 or not (
            wanted[0].isalnum() and _joined(text, start - 1, wanted[0], text[start - 2 : start - 1])
        )
        closes = end == len(text) or not (
            wanted[-1].isalnum() and _joined(text, end, wanted[-1], text[end + 1 : end + 2])
        )
        if opens and closes:
            return True
        start = text.find(wanted, start + 1)
    return False


def normalise_text(text: str) -> str:
    """Unicode compatibility forms, straight quotes and hyphens, no line-break hyphenation,
    single spaces: the normal form both quote and sentence are compared in."""
    text = unicodedata.normalize("NFKC", _SUPERSCRIPTS.sub("", text)).replace("\u00ad", "")
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
        # A lone letter is a scale after a currency amount ("$1.6B") or glued to a decimal
        # ("1.6B"); "3M" is a name and "3 M" not an amount.
        if len(scale_word) == 1 and not currency:
            glued = match.end("number") == match.start("scale")
            if glued and "." in raw:
                pass
            elif glued and scale_word in {"k", "m"}:
                continue  # "3M", "10K": a name or a form, not an amount
            elif glued:
                pass  # "9B": billions
            else:
                scale_word = ""
        after = text[match.end("number") : match.end("number") + 3]
        if re.match(r"-[KQ]\b", after):
            continue  # a form name: 10-K, 10-Q
        if not scale_word and not percent and after[:1].isalpha():
            continue  # "3Q22", "2nd": a label, not an amount
        # Single digits without a unit are mostly ordinals and list numbers ("Item 7").
        before = text[max(0, match.start() - 8) : match.start()].lower()
        if re.search(r"\b(item|note|part|page)\s*$", before) and not (currency or scale_word):
            continue
        decimals = len(raw.split(".")[1]) if "." in raw else 0
        found.append(
            Quantity(
                text=match.group().strip(),
                number=float(raw.replace(",", "")),
                printed=raw,
                scale=_SCALES.get(scale_word, 1.0),
                decimals=decimals,
                percent=percent,
                currency=currency,
                position=match.start("number"),
            )
        )
    return found


def evidence_values(text: str, context_scale: str | None) -> list[tuple[float, bool, bool]]:
    """Values a piece of evidence states, as (value, is_percent, is_scaled): each number as
    written (unscaled only when nothing scales it), times its own scale word, and times the
    scale of the table or sentence it sits in."""
    values: list[tuple[float, bool, bool]] = []
    scale_text = (context_scale or "").lower()
    if not scale_text:
        sentence_scale = re.search(r"in (thousands|millions|billions)", text, re.IGNORECASE)
        scale_text = sentence_scale.group(1).lower() if sentence_scale else ""
    context = _SCALES.get(scale_text, 1.0)
    for quantity in quantities(text):
        scaled = quantity.scale != 1.0 or context != 1.0
        values.append((quantity.number, quantity.percent, scaled))
        if quantity.scale != 1.0:
            values.append((quantity.value, quantity.percent, False))
        elif context != 1.0:
            values.append((quantity.number * context, quantity.percent, False))
    return values


def quantity_supported(
    claim: Quantity, evidence: list[tuple[float, bool, bool]], allow_rounding: bool
) -> bool:
    """Whether the claim's figure is one the evidence states. Rounding is accepted only to the
    precision the claim itself shows, and only with at least two significant digits. A figure
    written without a scale matches the evidence's digits as written ("1,577" under "in
    millions"), except a currency amount: "$32,765" is not "$32,765 million"."""
    tolerance = 1e-9 * max(1.0, abs(claim.value))
    if allow_rounding and claim.significant_digits >= 2:
        tolerance = max(tolerance, 0.5 * 10 ** (-claim.decimals) * claim.scale)
    bare = claim.scale == 1.0
    wanted = claim.number if bare else claim.value
    for value, percent, scaled_digits in evidence:
        if claim.percent != percent and (claim.percent or value > 100):
            continue
        if scaled_digits and not bare:
            continue  # written digits of a scaled figure compare only with a bare claim
        if scaled_digits and bare and claim.currency:
            continue
        if abs(abs(value) - abs(wanted)) <= tolerance + 1e-9 * abs(wanted):
            return True
    return False


@dataclass(frozen=True, slots=True)
class Period:
    year: int | None
    quarter: int | None
    text: str
    position: int = 0


def _full_year(text: str) -> int:
    year = int(text)
    if year < 100:
        return year + (1900 if year >= 50 else 2000)
    return year


def periods(text: str) -> list[Period]:
    """Fiscal years (2018, FY2018, FY18, fiscal 2018) and quarters (Q3, third quarter)."""
    text = normalise_text(text)
    found: list[Period] = []
    covered: list[tuple[int, int]] = []
    for match in _FISCAL_YEAR.finditer(text):
        if re.match(r"-week", text[match.end() : match.end() + 5]):
            continue  # "fiscal 53-week year" names a length, not a year
        found.append(Period(_full_year(match.group("year")), None, match.group(), match.start()))
        covered.append(match.span())
    for match in _YEAR.finditer(text):
        if any(start <= match.start() < end for start, end in covered):
            continue
        # "$2018 million" or "2018.5" are amounts, not years.
        if text[max(0, match.start() - 1) : match.start()] == "$":
            continue
        found.append(Period(int(match.group()), None, match.group(), match.start()))
    for match in _QUARTER.finditer(text):
        digit = match.group("q") or match.group("q2")
        number = int(digit) if digit else _QUARTER_WORDS[match.group("word").lower()]
        found.append(Period(None, number, match.group(), match.start()))
    return found


def years_in(text: str) -> set[int]:
    return {p.year for p in periods(text) if p.year is not None}


def quarters_in(text: str) -> set[int]:
    return {p.quarter for p in periods(text) if p.quarter is not None}


# A per-share (or per-unit) amount: "(in millions, except per share data)" tables print these
# as written.
_PER_UNIT = re.compile(
    r"\bper\s+(?:common\s+|ordinary\s+|diluted\s+|basic\s+)?(?:share|unit|ads)\b|\beps\b",
    re.IGNORECASE,
)


# "Weighted-average shares outstanding for EPS": a count of shares, in the table's unit.
_SHARE_COUNT = re.compile(r"\bshares\b", re.IGNORECASE)


def per_unit_amount(text: str) -> bool:
    return bool(_PER_UNIT.search(text)) and not _SHARE_COUNT.search(text)


# A cost, an expense or money paid out is printed in brackets because it is subtracted; its
# amount is the figure without its sign ("cost of sales of $981 million", "capital
# expenditures of $1,577 million"). A bracketed result (a net loss) is negative.
_SUBTRACTED_ITEM = re.compile(
    r"\b(?:costs?|expenses?|purchases?|payments?|additions?|repurchases?|acquisitions?|"
    r"expenditures?|spending|paid|used|depreciation|amortization|provision)\b",
    re.IGNORECASE,
)


def is_subtracted_item(caption: str) -> bool:
    """Whether a statement row's bracketed figure is an amount subtracted (a cost, money paid
    out), stated without its sign, rather than a negative result."""
    return bool(_SUBTRACTED_ITEM.search(caption))


def printed_negative(figure: Quantity) -> bool:
    """Whether a statement prints the figure as negative: in brackets."""
    text = figure.text.lstrip("$ ")
    return text.startswith("(") and text.endswith(")")


def scale_factor(scale: str | None) -> float:
    """What a scale word multiplies by: 1e6 for "millions"; 1 for none."""
    return _SCALES.get((scale or "").lower(), 1.0)


def row_unit(row_text: str, table_scale: str | None) -> str | None:
    """The unit of a table row's figures: the table's, except on a per-share row ("Diluted
    earnings per share") or a row of rates ("Effective tax rate 21.6 % 24.6 %"), whose
    figures are printed as they are."""
    if not table_scale or per_unit_amount(row_text):
        return None
    figures = quantities(normalise_text(row_text))
    return None if figures and all(f.percent for f in figures) else table_scale


def header_years(header_rows: tuple[tuple[str, ...], ...]) -> list[int]:
    """Years of a table's columns, left to right."""
    years: list[int] = []
    for row in header_rows:
        for cell in row:
            years.extend(int(y) for y in _YEAR.findall(normalise_text(cell)))
    return years


_EMPTY_CELL = re.compile(r"(?:^|\s)[—–-](?=\s|$)")


_NOTE = re.compile(r"\([^()]*[A-Za-z]{2,}[^()]*\)")
_MONTH_BEFORE = re.compile(
    r"\b(?:january|february|march|april|may|june|july|august|september|october|november|"
    r"december|jan|feb|mar|apr|jun|jul|aug|sept?|oct|nov|dec)\.?$",
    re.IGNORECASE,
)
_FOOTNOTE = re.compile(r"\(\d\)")


def row_figures(row_text: str) -> list[Quantity]:
    """A table row's figures, without the numbers its caption holds: those in a note in
    brackets ("Long-term debt (includes debt of consolidated entities: 2022, $12,662)") and
    the day of a date ("Balance as of December 31, 2019")."""
    text = normalise_text(row_text)
    notes = [match.span() for match in _NOTE.finditer(text)]
    kept: list[Quantity] = []
    for quantity in quantities(text):
        if any(start <= quantity.position < end for start, end in notes):
            continue
        before = text[: quantity.position].rstrip(" ($")
        day = quantity.number <= 31 and not quantity.decimals and not quantity.currency
        if not kept and day and _MONTH_BEFORE.search(before):
            continue
        kept.append(quantity)
    return kept


def _footnote_mark(row_text: str, first: Quantity, figures_too_many: bool) -> bool:
    """Whether a row's first figure is a footnote mark on its caption: a bracketed digit
    written onto the caption's last word ("Wireless retail(4)"), or right after the caption
    where it is the one figure too many ("Interest expense (after-tax) (1) 268 208 143")."""
    if not _FOOTNOTE.fullmatch(first.text):
        return False
    before = normalise_text(row_text)[: first.position]
    if before.endswith("(") and before[-2:-1].isalpha():
        return True
    before = before.rstrip(" (")
    return figures_too_many and (before[-1:].isalpha() or before[-1:] == ")")


def _column_years(header_rows: tuple[tuple[str, ...], ...]) -> tuple[list[int], int] | None:
    """(the years of a table's period columns, left to right; how many change columns follow
    them): a cell naming two years ("2022 vs. 2021") heads a change column. None when a
    change column comes before a period column, where the order of figures is unclear."""
    years: list[int] = []
    changes = 0
    for row in header_rows:
        for cell in row:
            found = [int(y) for y in _YEAR.findall(normalise_text(cell))]
            if len(found) >= 2 and len(set(found)) == len(found):
                changes += 1
            elif changes:
                if found:
                    return None
            else:
                years.extend(found)
    return years, changes


def aligned_columns(
    row_text: str, header_rows: tuple[tuple[str, ...], ...]
) -> list[tuple[int, Quantity]] | None:
    """(year, figure) per column when the row's figures and the header's years line up one to
    one; None when they do not (a percentage column, a merged header). Change columns after
    the period columns ("2022 vs. 2021") may hold a figure in every row or be left blank (a
    rate's row): the period columns' figures come first either way."""
    columns = _column_years(header_rows)
    if columns is None:
        return None
    years, changes = columns
    values = row_figures(row_text)
    too_many = len(values) == len(years) + changes + 1
    if values and _footnote_mark(row_text, values[0], too_many):
        values = values[1:]
    if len(values) == len(years) + changes:
        values = values[: len(years)]
    if not years or len(values) != len(years) or len(set(years)) != len(years):
        return None
    if _EMPTY_CELL.search(normalise_text(row_text)):
        # A dash is a cell with nothing in it ("Restructuring charges — 1 (1)"): the figures
        # no longer line up with the years one to one, and which column is empty is unknown.
        return None
    return list(zip(years, values, strict=True))
