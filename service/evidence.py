"""The evidence package: everything a compliance reviewer needs to judge one answer.

For each claim, each citation with the quote where it really sits: on a PDF filing, the quote's
own boxes (one per printed line) and the page rendered with them highlighted; on an HTML filing,
the page's text around the sentence with the quote marked. With them the verifier's verdicts and
reasons per rule, what each drafting round proposed, and the versions and timings that produced
the answer. The package is JSON, or one self-contained HTML file (page images inline), so it
can be filed with a review outside the service.
"""

from __future__ import annotations

import base64
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field

from engine.answers import AuditRecord, Citation, Timings, Versions
from ingest.errors import FilingNotFoundError, IngestError, UnreadableFilingError
from ingest.render import (
    DEFAULT_ZOOM,
    QuoteBoxes,
    displayed_boxes,
    locate_quote,
    open_filing_pdf,
    render_boxes,
)
from ingest.store import IndexStore, StoredFiling
from service.errors import CitationNotFoundError, PageImageUnavailableError

# Characters of an HTML filing's page shown on each side of the quoted sentence.
_HTML_EXCERPT_CHARS = 900


class TextExcerpt(BaseModel):
    """An HTML filing's page text around the citation: ``before`` + ``quote`` + ``after`` is
    a verbatim slice of the stored page text, with the quoted span in ``quote``."""

    before: str
    quote: str
    after: str
    quote_start: int = Field(description="Character offset of the quote in the page text.")


class Highlight(BaseModel):
    """Where the quote is on its page. On a PDF, ``boxes`` are the quote's line boxes in PDF
    points from the top left of the page as displayed (its rotation applied: the page image's
    space divided by its zoom), ``exact`` False when only the stored sentence box could be
    used; ``image`` names the highlighted page image. On an HTML filing, ``excerpt``."""

    kind: Literal["pdf", "html", "unavailable"]
    boxes: list[tuple[float, float, float, float]] = Field(default_factory=list)
    exact: bool = False
    page_size: tuple[float, float] | None = Field(
        default=None, description="The PDF page's width and height in points."
    )
    image: str | None = Field(
        default=None,
        description="The highlighted page as a PNG: a URL in the API, a file name in an export.",
    )
    excerpt: TextExcerpt | None = None
    unavailable: str | None = Field(default=None, description="Why the page cannot be shown.")


class CitationEvidence(BaseModel):
    claim_index: int
    citation_index: int
    filing: str
    filing_id: str
    page: int = Field(description="Zero-indexed page of the filing.")
    section: str | None
    sentence_id: str
    sentence: str | None = Field(description="The whole cited sentence as stored at ingest.")
    quote: str
    highlight: Highlight


class ClaimEvidence(BaseModel):
    index: int
    text: str
    verdicts: dict[str, str]
    reasons: dict[str, str] = Field(description="The verifier's reason per rule.")
    entailment: float | None
    citations: list[CitationEvidence]


class RoundEvidence(BaseModel):
    """One drafting round: what the drafter proposed and what the verifier said of it."""

    index: int
    drafter: str
    proposed: dict[str, Any] | None
    report: list[dict[str, Any]]
    answer_checks: list[dict[str, Any]]
    error: str | None
    generate_ms: float
    verify_ms: float


class DroppedClaimEvidence(BaseModel):
    text: str
    failed_rules: list[str]
    reasons: dict[str, str]


class EvidencePackage(BaseModel):
    answer_id: str
    question: str
    answer: str
    refused: bool
    partial: bool
    refusal_reason: str | None
    drafted_by: str | None
    created_at: str
    claims: list[ClaimEvidence]
    rounds: list[RoundEvidence] | None = Field(
        description="Drafting rounds; null for callers who may not read drafts (analysts)."
    )
    dropped_claims: list[DroppedClaimEvidence] | None
    versions: Versions
    timings: Timings
    package_ms: float = Field(description="Time spent building this package.")


@dataclass
class EvidenceBuilder:
    """Builds packages from audit records over the index the answers cite. PDFs are opened
    once per build and checked against the sha256 stored at ingest."""

    store: IndexStore
    zoom: float = DEFAULT_ZOOM
    _documents: dict[str, Any] = field(default_factory=dict, init=False, repr=False)
    # Each quote is located once per build: the package's boxes and its page image share it.
    _located: dict[tuple[str, int, str, Any], QuoteBoxes] = field(
        default_factory=dict, init=False, repr=False
    )

    def _filing(self, filing_id: str) -> StoredFiling | None:
        return self.store.filing_by_id(filing_id)

    def _pdf(self, filing: StoredFiling) -> Any:
        if filing.id not in self._documents:
            self._documents[filing.id] = open_filing_pdf(Path(filing.path), filing.sha256)
        return self._documents[filing.id]

    def close(self) -> None:
        for document in self._documents.values():
            document.close()
        self._documents.clear()
        self._located.clear()

    def _locate(self, document: Any, citation: Citation) -> QuoteBoxes:
        key = (citation.filing_id, citation.page, citation.quote, citation.box)
        if key not in self._located:
            self._located[key] = locate_quote(document[citation.page], citation.quote, citation.box)
        return self._located[key]

    def highlight(self, citation: Citation) -> Highlight:
        filing = self._filing(citation.filing_id)
        if filing is None:
            return Highlight(
                kind="unavailable",
                unavailable=f"{citation.filing} is no longer in the index (deleted or re-ingested)",
            )
        if not filing.path.lower().endswith(".pdf"):
            return self._html_highlight(filing, citation)
        try:
            document = self._pdf(filing)
        except UnreadableFilingError as exc:
            return Highlight(kind="unavailable", unavailable=str(exc))
        if not 0 <= citation.page < len(document):
            return Highlight(
                kind="unavailable", unavailable=f"{filing.name} has no page {citation.page}"
            )
        page = document[citation.page]
        located = self._locate(document, citation)
        return Highlight(
            kind="pdf",
            boxes=displayed_boxes(page, located.boxes),
            exact=located.exact,
            page_size=(float(page.rect.width), float(page.rect.height)),
        )

    def _html_highlight(self, filing: StoredFiling, citation: Citation) -> Highlight:
        """The page text around the quote. The logged offsets are trusted only where the page
        still holds the quote there (a parser upgrade re-reads a file under the same id);
        otherwise the quote is looked for on the page, and failing that shown as unavailable."""
        try:
            text = self.store.page(filing.name, citation.page)["text"]
        except FilingNotFoundError as exc:
            return Highlight(kind="unavailable", unavailable=str(exc))
        span = _quote_span(text, citation)
        if span is None:
            return Highlight(
                kind="unavailable",
                unavailable=f"{filing.name} page {citation.page} no longer holds the quote "
                "(re-ingested since the answer); re-ask to cite the current text",
            )
        start, end = span
        return Highlight(
            kind="html",
            excerpt=TextExcerpt(
                before=text[max(0, start - _HTML_EXCERPT_CHARS) : start],
                quote=text[start:end],
                after=text[end : end + _HTML_EXCERPT_CHARS],
                quote_start=start,
            ),
        )

    def page_image(self, citation: Citation) -> bytes:
        """The cited PDF page as a PNG with the quote highlighted."""
        filing = self._filing(citation.filing_id)
        if filing is None or not filing.path.lower().endswith(".pdf"):
            raise UnreadableFilingError(
                Path(citation.filing),
                f"page {citation.page} has no page image: only PDF filings still in the index "
                "are rendered (an HTML filing's evidence shows the text around the quote)",
            )
        document = self._pdf(filing)
        if not 0 <= citation.page < len(document):
            raise UnreadableFilingError(Path(filing.path), f"has no page {citation.page} to render")
        png, _, _ = render_boxes(
            document, citation.page, self._locate(document, citation).boxes, self.zoom
        )
        return png

    def build(
        self,
        record: AuditRecord,
        *,
        with_drafts: bool,
        image_name: Any = None,
    ) -> EvidencePackage:
        """The package of one answer. ``image_name(claim_index, citation_index)`` names each
        PDF citation's page image (a URL or a file name); without it no image is named."""
        started = time.perf_counter()
        answer = record.answer
        sentences = {
            row["id"]: row["text"]
            for row in self.store.sentences_by_ids(
                [c.sentence_id for claim in answer.claims for c in claim.citations]
            )
        }
        claims = []
        for claim_index, claim in enumerate(answer.claims):
            citations = []
            for citation_index, citation in enumerate(claim.citations):
                highlight = self.highlight(citation)
                if highlight.kind == "pdf" and image_name is not None:
                    highlight.image = image_name(claim_index, citation_index)
                citations.append(
                    CitationEvidence(
                        claim_index=claim_index,
                        citation_index=citation_index,
                        filing=citation.filing,
                        filing_id=citation.filing_id,
                        page=citation.page,
                        section=citation.section,
                        sentence_id=citation.sentence_id,
                        sentence=sentences.get(citation.sentence_id),
                        quote=citation.quote,
                        highlight=highlight,
                    )
                )
            claims.append(
                ClaimEvidence(
                    index=claim_index,
                    text=claim.text,
                    verdicts=claim.verdicts,
                    reasons=claim.reasons,
                    entailment=claim.entailment,
                    citations=citations,
                )
            )
        rounds = [
            RoundEvidence(
                index=index,
                drafter=round_.drafter or answer.model,
                proposed=round_.draft,
                report=round_.report,
                answer_checks=round_.answer_checks,
                error=round_.error,
                generate_ms=round_.generate_ms,
                verify_ms=round_.verify_ms,
            )
            for index, round_ in enumerate(record.rounds)
        ]
        dropped = [
            DroppedClaimEvidence(
                text=claim.text,
                failed_rules=[
                    rule for rule, verdict in claim.verdicts.items() if verdict != "pass"
                ],
                reasons=claim.reasons,
            )
            for claim in answer.dropped_claims
        ]
        return EvidencePackage(
            answer_id=answer.id,
            question=answer.question,
            answer=answer.answer,
            refused=answer.refused,
            partial=answer.partial,
            refusal_reason=answer.refusal_reason,
            drafted_by=answer.drafted_by,
            created_at=answer.created_at,
            claims=claims,
            rounds=rounds if with_drafts else None,
            dropped_claims=dropped if with_drafts else None,
            versions=answer.versions,
            timings=answer.timings,
            package_ms=(time.perf_counter() - started) * 1000,
        )


def _squeeze(text: str) -> str:
    return "".join(text.split())


def _quote_span(text: str, citation: Citation) -> tuple[int, int] | None:
    """Where the quote is in the page text: its logged offsets when the text there still is
    the quote (whitespace aside), else its first occurrence, else None."""
    wanted = _squeeze(citation.quote)
    for start, end in (
        (citation.quote_start, citation.quote_end),
        (citation.sentence_start, citation.sentence_end),
    ):
        if (
            start is not None
            and end is not None
            and 0 <= start < end <= len(text)
            and _squeeze(text[start:end]) == wanted
        ):
            return start, end
    pattern = r"\s*".join(re.escape(character) for character in wanted)
    found = re.search(pattern, text) if wanted else None
    return (found.start(), found.end()) if found else None


def cited_page_png(
    store: IndexStore, record: AuditRecord, claim_number: int, citation_number: int
) -> bytes:
    """The highlighted page of claim ``claim_number``'s citation ``citation_number`` (both
    counting from 1, as in URLs), or a typed error: no such citation, or no page to show."""
    cited = citation_at(record, claim_number - 1, citation_number - 1)
    if cited is None:
        raise CitationNotFoundError(
            f"answer {record.answer.id} has no claim {claim_number} citation {citation_number}; "
            "its evidence package lists them"
        )
    builder = EvidenceBuilder(store)
    try:
        return builder.page_image(cited)
    except IngestError as exc:
        raise PageImageUnavailableError(str(exc)) from exc
    finally:
        builder.close()


def image_file_name(claim_index: int, citation_index: int) -> str:
    return f"claim{claim_index + 1}-citation{citation_index + 1}.png"


def citation_at(record: AuditRecord, claim_index: int, citation_index: int) -> Citation | None:
    claims = record.answer.claims
    if not 0 <= claim_index < len(claims):
        return None
    citations = claims[claim_index].citations
    if not 0 <= citation_index < len(citations):
        return None
    return citations[citation_index]


def data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def evidence_html(package: EvidencePackage, images: dict[tuple[int, int], str]) -> str:
    """The package as one self-contained HTML page; ``images`` maps (claim, citation) to the
    page image's data URI, so the file opens anywhere with no server."""
    import jinja2

    environment = jinja2.Environment(
        loader=jinja2.PackageLoader("service", "templates"),
        autoescape=jinja2.select_autoescape(("html",)),
    )
    return environment.get_template("evidence.html").render(package=package, images=images)


def page_images(
    builder: EvidenceBuilder, record: AuditRecord, package: EvidencePackage
) -> dict[tuple[int, int], bytes]:
    """Each PDF citation's highlighted page, keyed by (claim, citation)."""
    images = {}
    for claim in package.claims:
        for citation in claim.citations:
            if citation.highlight.kind != "pdf":
                continue
            cited = citation_at(record, citation.claim_index, citation.citation_index)
            if cited is not None:
                images[(citation.claim_index, citation.citation_index)] = builder.page_image(cited)
    return images


def standalone_html(
    builder: EvidenceBuilder,
    record: AuditRecord,
    package: EvidencePackage,
    images: dict[tuple[int, int], bytes] | None = None,
) -> str:
    """The package as one self-contained HTML page, its page images inline (rendered here
    unless ``images`` already holds them)."""
    rendered = page_images(builder, record, package) if images is None else images
    return evidence_html(package, {key: data_uri(png) for key, png in rendered.items()})


def write_evidence(
    builder: EvidenceBuilder, record: AuditRecord, out_dir: Path, *, with_drafts: bool
) -> list[Path]:
    """The package as evidence.json, evidence.html (self-contained) and one PNG per PDF
    citation in ``out_dir``; returns the files written."""
    package = builder.build(record, with_drafts=with_drafts, image_name=image_file_name)
    images = page_images(builder, record, package)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for (claim_index, citation_index), png in images.items():
        path = out_dir / image_file_name(claim_index, citation_index)
        path.write_bytes(png)
        written.append(path)
    json_path = out_dir / "evidence.json"
    json_path.write_text(package.model_dump_json(indent=2) + "\n", encoding="utf-8")
    html_path = out_dir / "evidence.html"
    html_path.write_text(standalone_html(builder, record, package, images), encoding="utf-8")
    return [json_path, html_path, *written]
