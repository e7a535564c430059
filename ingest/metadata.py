"""Filing metadata from the file name, the cover page, and an optional JSONL of overrides."""

from __future__ import annotations

import json
import re
from dataclasses import fields, replace
from datetime import datetime
from pathlib import Path

from ingest.errors import MetadataFileError
from ingest.types import FilingMetadata, FormType

_FINANCEBENCH_NAME = re.compile(
    r"^(?P<company>.+?)_(?P<year>(19|20)\d{2})(?P<quarter>Q[1-4])?_"
    r"(?P<form>10K|10Q|8K|EARNINGS)(?:_dated[-_](?P<date>\d{4}-\d{2}-\d{2}))?$",
    re.IGNORECASE,
)
_EDGAR_NAME = re.compile(
    r"^(?P<ticker>[a-z.]{1,6})-(?P<form>10-?k|10-?q|8-?k)-(?P<date>\d{4}-\d{2}-\d{2})$",
    re.IGNORECASE,
)
_COVER_FORM = re.compile(r"\bFORM\s+(10-K|10-Q|8-K)\b", re.IGNORECASE)
_PERIOD_END = re.compile(
    r"for\s+the\s+(?P<kind>fiscal\s+year|quarterly\s+period|year)\s+ended\s*:?\s*"
    r"(?P<date>[A-Z][a-z]+\.?\s+\d{1,2},?\s+(19|20)\d{2})",
    re.IGNORECASE,
)
_REGISTRANT = re.compile(r"\(\s*exact\s+name\s+of\s+registrant", re.IGNORECASE)
_TRADING_SYMBOL = re.compile(r"trading\s+symbol", re.IGNORECASE)
# The first cell after the "Trading Symbol(s)" heading that is a ticker alone on its line
# (PDF) or between tabs (an HTML table row): "ABC", "XY", "BRK.B".
_TICKER = re.compile(r"(?:^|\t)[ ]*([A-Z]{1,5}(?:\.[A-Z])?)[ ]*(?=$|\t)", re.MULTILINE)
_TICKER_WINDOW_CHARS = 600

_FORM_ALIASES = {
    "10k": FormType.FORM_10K,
    "10-k": FormType.FORM_10K,
    "10q": FormType.FORM_10Q,
    "10-q": FormType.FORM_10Q,
    "8k": FormType.FORM_8K,
    "8-k": FormType.FORM_8K,
    "earnings": FormType.EARNINGS,
    "earnings release": FormType.EARNINGS,
    "annual report": FormType.ANNUAL_REPORT,
    "annual report excerpt": FormType.ANNUAL_REPORT,
    "annual report and accounts": FormType.ANNUAL_REPORT,
    "integrated report": FormType.ANNUAL_REPORT,
}
# A report to shareholders that names itself so on its first pages and is not an SEC form.
_ANNUAL_REPORT_TITLE = re.compile(
    r"\bannual\s+report(?:\s+and\s+accounts)?\b|\bintegrated\s+report\b|\breport\s+to\s+"
    r"shareholders\b",
    re.IGNORECASE,
)

# Signals that a document is an SEC filing or an earnings release and not some other PDF.
_FILING_SIGNALS = re.compile(
    r"securities\s+and\s+exchange\s+commission|form\s+10-[kq]|form\s+8-k|fiscal\s+(year|quarter)|"
    r"net\s+(income|sales|revenue|loss)|earnings\s+per\s+share|total\s+assets|"
    r"cash\s+flows?|balance\s+sheets?|operating\s+income|shareholders|stockholders|"
    # IFRS and UK reports: the statements' names and the words their notes use.
    r"financial\s+position|profit\s+(?:for|before)|annual\s+report|comprehensive\s+income",
    re.IGNORECASE,
)
_MIN_FILING_SIGNALS = 2


def parse_form(value: str | None) -> FormType | None:
    if not value:
        return None
    return _FORM_ALIASES.get(value.strip().lower(), FormType.OTHER)


def _parse_date(text: str) -> str | None:
    cleaned = " ".join(text.replace(",", " ").replace(".", " ").split())
    for pattern in ("%B %d %Y", "%b %d %Y"):
        try:
            return datetime.strptime(cleaned, pattern).date().isoformat()
        except ValueError:
            continue
    return None


def from_file_name(path: Path) -> FilingMetadata:
    name = path.stem
    match = _FINANCEBENCH_NAME.match(name)
    if match:
        quarter = match.group("quarter")
        form = parse_form(match.group("form"))
        return FilingMetadata(
            name=name,
            company=match.group("company").replace("_", " ").title(),
            form_type=form,
            fiscal_year=int(match.group("year")),
            fiscal_period=quarter.upper()
            if quarter
            else ("FY" if form is FormType.FORM_10K else None),
            filed=match.group("date"),
        )
    match = _EDGAR_NAME.match(name)
    if match:
        return FilingMetadata(
            name=name,
            ticker=match.group("ticker").upper(),
            form_type=parse_form(match.group("form")),
            filed=match.group("date"),
        )
    return FilingMetadata(name=name)


def from_cover_page(name: str, cover_text: str) -> FilingMetadata:
    """What the first pages say about the filing (form, period, registrant)."""
    form_match = _COVER_FORM.search(cover_text)
    form = parse_form(form_match.group(1)) if form_match else None
    if form is None and _ANNUAL_REPORT_TITLE.search(cover_text):
        form = FormType.ANNUAL_REPORT
    period_end = fiscal_year = fiscal_period = None
    period_match = _PERIOD_END.search(cover_text)
    if period_match:
        period_end = _parse_date(period_match.group("date"))
        if period_end:
            fiscal_year = int(period_end[:4])
        fiscal_period = "FY" if "quarter" not in period_match.group("kind").lower() else None
    company = None
    registrant = _REGISTRANT.search(cover_text)
    if registrant:
        preceding = [
            line.strip()
            for line in cover_text[: registrant.start()].splitlines()
            if line.strip() and not line.strip().isdigit()
        ]
        if preceding and len(preceding[-1]) <= 80:
            company = " ".join(preceding[-1].split())
    ticker = None
    if symbol := _TRADING_SYMBOL.search(cover_text):
        window = cover_text[symbol.end() : symbol.end() + _TICKER_WINDOW_CHARS]
        if found := _TICKER.search(window):
            ticker = found.group(1)
    return FilingMetadata(
        name=name,
        company=company,
        ticker=ticker,
        form_type=form,
        fiscal_year=fiscal_year,
        fiscal_period=fiscal_period,
        period_end=period_end,
    )


def looks_like_filing(text: str) -> bool:
    found = {match.group(0).lower().split()[0] for match in _FILING_SIGNALS.finditer(text)}
    return len(found) >= _MIN_FILING_SIGNALS


def merge(base: FilingMetadata, override: FilingMetadata) -> FilingMetadata:
    """``override``'s known fields win; unknown (None) fields keep ``base``'s."""
    changes = {
        field.name: getattr(override, field.name)
        for field in fields(override)
        if field.name != "name" and getattr(override, field.name) is not None
    }
    return replace(base, **changes)


def load_overrides(path: Path) -> dict[str, FilingMetadata]:
    """Read a metadata JSONL (FinanceBench's documents.jsonl shape or verirag's own fields)."""
    overrides: dict[str, FilingMetadata] = {}
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise MetadataFileError(f"{path}: cannot read metadata file ({exc})") from exc
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise MetadataFileError(
                f"{path}:{number}: not valid JSON ({exc.msg}); each line must be one object"
            ) from exc
        name = record.get("doc_name") or record.get("name") if isinstance(record, dict) else None
        if not isinstance(name, str) or not name:
            raise MetadataFileError(
                f"{path}:{number}: missing 'doc_name' (or 'name'): the filing's file stem"
            )
        year = record.get("fiscal_year", record.get("doc_period"))
        try:
            fiscal_year = int(year) if year is not None else None
        except (TypeError, ValueError) as exc:
            raise MetadataFileError(f"{path}:{number}: fiscal year {year!r} is not a year") from exc
        overrides[name] = FilingMetadata(
            name=name,
            company=record.get("company"),
            form_type=parse_form(record.get("form_type") or record.get("doc_type")),
            fiscal_year=fiscal_year,
            fiscal_period=record.get("fiscal_period"),
            period_end=record.get("period_end"),
            filed=record.get("filed"),
            ticker=record.get("ticker"),
        )
    return overrides


def resolve(
    path: Path, cover_text: str, overrides: dict[str, FilingMetadata] | None = None
) -> FilingMetadata:
    """Cover page, then the file name (curated names win for form and period), then overrides.

    The registrant name from the cover page is preferred over the one a file name implies.
    """
    from_name = from_file_name(path)
    cover = from_cover_page(path.stem, cover_text)
    merged = merge(cover, replace(from_name, company=None))
    if merged.company is None:
        merged = replace(merged, company=from_name.company)
    if overrides and path.stem in overrides:
        merged = merge(merged, overrides[path.stem])
    return merged
