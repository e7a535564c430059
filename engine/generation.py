"""The generator seam, the prompt, and the output constraint every backend enforces.

The answer is JSON in the ``DraftAnswer`` schema. Two forms of the constraint are built from one
context: a JSON schema (sentence labels as an enum; what any OpenAI-compatible server accepts
as ``response_format``) and an EBNF grammar, stricter, in which a citation's quote can only be a
run of whole clauses of the sentence it cites, so a quote is verbatim by construction. The
in-process backend and vLLM (``structured_outputs.grammar``) decode under the grammar.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from verifier.numbers import aligned_columns, normalise_text
from verifier.types import INSUFFICIENT_EVIDENCE, DraftAnswer, EvidenceContext, EvidenceSentence

MAX_CLAIMS = 3
MAX_CITATIONS = 2
MAX_CLAIM_CHARS = 160
MAX_ANSWER_CHARS = 120
MAX_QUOTE_OPTIONS = 12
# A quote longer than this would eat the generation budget; cite a clause instead.
MAX_QUOTE_CHARS = 400

SYSTEM_PROMPT = (
    "You answer questions about SEC filings using only the filing sentences you are given; "
    "each ends with its label in brackets. Reply with JSON. Each claim first cites a sentence "
    "by its label and quotes it "
    "exactly, then states one fact that the quote supports, keeping its figures, units and "
    "years unchanged. 'answer' is the short direct answer. If the sentences do not answer "
    'the question, reply {"claims": [], "answer": "insufficient evidence", '
    '"insufficient_evidence": true}.'
)

EXAMPLE_USER = (
    "Filing sentences:\n"
    "--- ACME_2020_10K, page 41, Item 7 ---\n"
    "We operate 14 plants in North America. [S1]\n"
    "Revenue increased 8% to $2,410 million in 2020, driven by higher volumes. [S2]\n"
    "--- ACME_2020_10K, page 58, Item 8 ---\n"
    "Table: Consolidated Statements of Cash Flows (in millions) | columns: 2020 2019\n"
    "Depreciation and amortization 95 90 [S3] (2020: 95; 2019: 90)\n"
    "Purchases of property, plant and equipment (312) (287) [S4] (2020: (312); 2019: (287))\n\n"
    "Question: What were ACME's revenue and capital expenditures in FY2020?"
)
EXAMPLE_ASSISTANT = json.dumps(
    {
        "claims": [
            {
                "citations": [
                    {
                        "sentence_id": "S2",
                        "quote": "Revenue increased 8% to $2,410 million in 2020",
                    }
                ],
                "text": "ACME's revenue was $2,410 million in 2020.",
            },
            {
                "citations": [
                    {
                        "sentence_id": "S4",
                        "quote": "Purchases of property, plant and equipment (312) (287)",
                    }
                ],
                "text": "ACME's purchases of property, plant and equipment were $312 million "
                "in 2020.",
            },
        ],
        "answer": "$2,410 million revenue and $312 million capital expenditures",
        "insufficient_evidence": False,
    }
)


@dataclass(frozen=True, slots=True)
class OutputConstraint:
    json_schema: dict[str, Any]
    grammar: str  # xgrammar / vLLM EBNF


@dataclass(frozen=True, slots=True)
class Generation:
    text: str
    model: str
    prompt_tokens: int
    completion_tokens: int
    seconds: float
    finish_reason: str = "stop"  # "length" when max_new_tokens cut it off


class Generator(Protocol):
    """Turns chat messages into text that satisfies ``constraint``. ``model_version`` names
    the weights and adapter that produced it; ``warm_up`` loads or connects."""

    model_version: str

    def warm_up(self) -> None: ...

    def generate(
        self,
        messages: list[dict[str, str]],
        constraint: OutputConstraint,
        max_new_tokens: int,
        on_text: Callable[[str], None] | None = None,
    ) -> Generation: ...


def _describe(sentence: EvidenceSentence) -> str:
    parts = [sentence.filing, f"page {sentence.page + 1}"]
    if sentence.section:
        parts.append(sentence.section)
    return ", ".join(parts)


def display_text(text: str) -> str:
    """A sentence as the generator sees and quotes it: on one line (table rows are stored
    with a line per cell) and in the verifier's normal form (straight quotes, no line-break
    hyphenation), so every quote the grammar allows is one the verifier accepts."""
    return normalise_text(text)


def column_figures(sentence: EvidenceSentence) -> str:
    """A statement row's figures each beside its column's year, "(2021: $59,268; 2020:
    $55,556)", or "" when the row's figures and the header's years do not line up one to one.

    Given "Total assets $ 59,268 $ 55,556" under "2021 2020", the small generator most often
    took the other year's figure: matching the n-th figure to the n-th year two lines up is
    the step it fails. Beside its year, the figure is one token away from the year the
    question names. The note is outside the quotable text (after the label): quotes stay
    spans of the filing's own sentence."""
    if sentence.kind != "table_row":
        return ""
    columns = aligned_columns(display_text(sentence.text), sentence.table_header_rows)
    if not columns:
        return ""
    # As printed, sign included: "(203)" is a loss or an outflow, never 203.
    return (
        "("
        + "; ".join(f"{year}: {figure.text.replace('$ ', '$')}" for year, figure in columns)
        + ")"
    )


def render_context(context: EvidenceContext) -> str:
    """Sentences grouped under their filing and page; a table's title, scale and column
    headers are shown once above its rows, and each row's figures are repeated beside their
    years (``column_figures``).

    Each sentence's label follows its text. A small model finds a label by attending to the
    text it wants and reading what comes next; with labels in front, what comes next is the
    following sentence's label, and SmolLM2 after SFT often credited its quote to the next
    sentence."""
    lines: list[str] = []
    heading = None
    table_heading = None
    for sentence in context:
        current = _describe(sentence)
        if current != heading:
            lines.append(f"--- {current} ---")
            heading, table_heading = current, None
        if sentence.kind == "table_row":
            scale = f" (in {sentence.table_scale})" if sentence.table_scale else ""
            title = sentence.table_title or "Table"
            header = sentence.table_header
            this_table = f"{title}{scale}" + (f" | columns: {header}" if header else "")
            if this_table != table_heading:
                lines.append(f"Table: {this_table}")
                table_heading = this_table
        else:
            table_heading = None
        by_year = column_figures(sentence)
        line = f"{display_text(sentence.text)} [{sentence.label}]"
        lines.append(f"{line} {by_year}" if by_year else line)
    return "\n".join(lines)


def build_messages(
    question: str,
    context: EvidenceContext,
    critique: str | None = None,
    previous: str | None = None,
) -> list[dict[str, str]]:
    user = f"Filing sentences:\n{render_context(context)}\n\nQuestion: {question}"
    messages = [
        {"role": "system", "content": SYSTEM_PROMPT},
        {"role": "user", "content": EXAMPLE_USER},
        {"role": "assistant", "content": EXAMPLE_ASSISTANT},
        {"role": "user", "content": user},
    ]
    if critique and previous:
        messages += [
            {"role": "assistant", "content": previous},
            {
                "role": "user",
                "content": "A verifier checked your answer against the rules and found:\n"
                f"{critique}\nWrite the answer again. Fix or leave out every claim it names; "
                "keep only what your quotes support.",
            },
        ]
    return messages


_CLAUSE_BREAK = re.compile(r"[,;:]\s+|\s+(?:and|but|while|which|whereas)\s+")


def quote_options(text: str) -> list[str]:
    """Spans a citation of this sentence may quote: the whole sentence and runs of its clauses
    (clauses end at commas, semicolons, colons and conjunctions), longest first."""
    text = display_text(text)
    bounds = [0]
    for match in _CLAUSE_BREAK.finditer(text):
        bounds.append(match.start())
        bounds.append(match.end())
    bounds.append(len(text))
    pieces = [(bounds[i], bounds[i + 1]) for i in range(0, len(bounds) - 1, 2)]
    options = {text} if len(text) <= MAX_QUOTE_CHARS else set()
    for first in range(len(pieces)):
        for last in range(first, len(pieces)):
            span = text[pieces[first][0] : pieces[last][1]].strip().rstrip(".")
            if 12 <= len(span) <= MAX_QUOTE_CHARS:
                options.add(span)
    ordered = sorted(options, key=len, reverse=True)
    return ordered[:MAX_QUOTE_OPTIONS]


def _ebnf_raw(text: str) -> str:
    """Text that must appear exactly as given, as an EBNF literal."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _ebnf_literal(text: str) -> str:
    """A string as it appears inside a JSON string, as an EBNF literal."""
    return _ebnf_raw(json.dumps(text, ensure_ascii=False)[1:-1])


def build_constraint(context: EvidenceContext, max_claims: int = MAX_CLAIMS) -> OutputConstraint:
    labels = context.labels
    schema = DraftAnswer.model_json_schema()
    citation = schema["$defs"]["DraftCitation"]
    citation["properties"]["sentence_id"]["enum"] = labels
    citation["properties"]["quote"]["minLength"] = 1
    claim = schema["$defs"]["DraftClaim"]
    claim["properties"]["citations"].update(minItems=1, maxItems=MAX_CITATIONS)
    claim["properties"]["text"]["maxLength"] = MAX_CLAIM_CHARS
    schema["properties"]["claims"]["maxItems"] = max_claims
    schema["properties"]["answer"]["maxLength"] = MAX_ANSWER_CHARS
    schema["required"] = ["claims", "answer", "insufficient_evidence"]
    for definition in (citation, claim):
        definition["required"] = list(definition["properties"])
        definition["additionalProperties"] = False
    schema["additionalProperties"] = False

    citation_rules = []
    for sentence in context:
        allowed = quote_options(sentence.text)
        if not allowed:
            continue  # one long clause: nothing quotable within the budget
        options = " | ".join(_ebnf_literal(option) for option in allowed)
        citation_rules.append(
            f'"{{\\"sentence_id\\": \\"{sentence.label}\\", \\"quote\\": \\"" ({options}) "\\"}}"'
        )
    refusal = json.dumps(
        {"claims": [], "answer": INSUFFICIENT_EVIDENCE, "insufficient_evidence": True}
    )
    if not citation_rules:
        return OutputConstraint(schema, f"root ::= {_ebnf_raw(refusal)}")
    grammar = "\n".join(
        [
            "root ::= answer | refusal",
            'answer ::= "{\\"claims\\": [" claim (", " claim){0,'
            f'{max_claims - 1}}} "], \\"answer\\": \\"" char{{1,{MAX_ANSWER_CHARS}}} '
            '"\\", \\"insufficient_evidence\\": false}"',
            f"refusal ::= {_ebnf_raw(refusal)}",
            'claim ::= "{\\"citations\\": [" citation (", " citation){0,'
            f'{MAX_CITATIONS - 1}}} "], \\"text\\": \\"" sentence "\\"}}"',
            # One sentence per claim: a full stop only inside a number or at the very end.
            f'sentence ::= piece{{8,{MAX_CLAIM_CHARS}}} "."?',
            'piece ::= [^"\\\\\\x00-\\x1f.] | "." [0-9A-Za-z]',
            "citation ::= " + " | ".join(citation_rules),
            'char ::= [^"\\\\\\x00-\\x1f]',
        ]
    )
    return OutputConstraint(json_schema=schema, grammar=grammar)
