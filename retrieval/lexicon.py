"""Financial vocabulary: the words analysts use → the words filings print.

A question asks for "capex" or "COGS"; the cash-flow statement says "Purchases of property,
plant and equipment" and the income statement "Cost of sales". Neither a bag-of-words index
nor a small embedding model bridges that gap, so queries are expanded with the line-item
wording of the metric they name. The entries are general accounting vocabulary (US GAAP
statement captions), not tuned to any question.
"""

from __future__ import annotations

import re

# metric or term in a question → phrases a filing uses for it
METRIC_PHRASES: dict[str, tuple[str, ...]] = {
    r"cap(?:ital)?\s*ex(?:penditures?)?|capex": (
        "purchases of property, plant and equipment",
        "capital expenditures",
        "additions to property and equipment",
        "payments for property and equipment",
    ),
    r"cogs|cost of goods sold": ("cost of sales", "cost of revenue", "cost of goods sold"),
    r"revenues?|top line|sales": ("net sales", "total revenues", "net revenues"),
    r"operating (?:income|profit)|ebit\b": (
        "operating income",
        "income from operations",
        "operating profit",
    ),
    r"net (?:income|earnings|profit)": ("net income", "net earnings"),
    r"pp&?n?e|fixed assets?|property,? plant": (
        "property, plant and equipment, net",
        "property and equipment, net",
    ),
    r"d&a|depreciation|amortization": ("depreciation and amortization",),
    r"operating cash flow|cash (?:flow )?from operations|cash from operating": (
        "net cash provided by operating activities",
    ),
    r"free cash flow|fcf": (
        "net cash provided by operating activities",
        "purchases of property, plant and equipment",
    ),
    r"dividends?": ("cash dividends paid", "dividends paid", "dividends declared"),
    r"inventor(?:y|ies)|dio\b": ("inventories",),
    r"receivables?|dso\b": ("accounts receivable",),
    r"payables?|dpo\b": ("accounts payable",),
    r"quick ratio|liquidity": (
        "cash and cash equivalents",
        "accounts receivable",
        "marketable securities",
        "total current liabilities",
    ),
    r"working capital|current ratio": ("total current assets", "total current liabilities"),
    r"effective tax rate|tax rate": (
        "effective tax rate",
        "provision for income taxes",
        "income before income taxes",
    ),
    r"gross margin|gross profit": ("gross margin", "gross profit", "cost of sales"),
    r"operating margin": ("operating income", "net sales"),
    r"ebitda": ("operating income", "depreciation and amortization"),
    r"interest coverage|interest expense": ("interest expense", "operating income"),
    r"asset turnover": ("total assets", "property, plant and equipment, net", "net sales"),
    r"cash conversion cycle|\bccc\b": (
        "inventories",
        "accounts receivable",
        "accounts payable",
        "cost of sales",
    ),
    r"(?:share|stock) repurchases?|buybacks?": (
        "repurchases of common stock",
        "purchases of treasury stock",
        "share repurchase",
    ),
    r"restructuring": ("restructuring charges", "restructuring and other"),
    r"total assets": ("total assets",),
    r"debt": ("long-term debt", "total debt", "debt maturing within one year"),
    r"segments?": ("segment results", "reportable segments"),
    r"balance sheets?|statement of financial position": (
        "consolidated balance sheets",
        "total assets",
        "total liabilities",
    ),
    r"income statements?|statements? of (?:income|operations|earnings)|p&l": (
        "consolidated statements of income",
        "consolidated statements of operations",
    ),
    r"cash flow statements?|statements? of cash flows?": ("consolidated statements of cash flows",),
}

_COMPILED = [
    (re.compile(rf"\b(?:{pattern})\b", re.IGNORECASE), phrases)
    for pattern, phrases in METRIC_PHRASES.items()
]


def expansion_phrases(question: str) -> list[str]:
    """Line-item phrases for every metric the question names, in order, without repeats."""
    phrases: dict[str, None] = {}
    for pattern, candidates in _COMPILED:
        if pattern.search(question):
            for phrase in candidates:
                phrases.setdefault(phrase, None)
    return list(phrases)
