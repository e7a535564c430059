"""The evidence package: each citation's quote located on its page and highlighted there, over
the API and the CLI; HTML filings show the text around the quote; real filings in ../shared
(skipped, with the reason, where absent) check the boxes against the page's own words."""

from __future__ import annotations

import dataclasses
import json
import random
import shutil
from pathlib import Path
from typing import Any

import pymupdf
import pytest

from engine.answers import Citation
from engine.settings import get_settings
from ingest.errors import UnreadableFilingError
from ingest.ids import file_sha256
from ingest.pdf import PdfReader
from ingest.render import (
    displayed_boxes,
    locate_quote,
    open_filing_pdf,
    render_highlight,
    visible_characters,
    words_in_boxes,
)
from ingest.store import IndexStore
from service.evidence import EvidenceBuilder
from tests.service_app import ServiceFactory, expect_error, sqlite_only
from tests.test_html_reader import EDGAR_STYLE_10K
from tests.test_ingest_cli import ingest_json, verirag

SHARED_PDFS = Path(__file__).resolve().parents[1].parent / "shared" / "financebench" / "pdfs"


def highlighted_share(png: bytes, box: Any, zoom: float) -> float:
    """Share of the box's pixels tinted by the highlight (yellow: red and green high, blue
    clearly lower)."""
    pixmap = pymupdf.Pixmap(png)
    x0, y0, x1, y1 = (int(v * zoom) for v in box)
    tinted = total = 0
    for y in range(max(y0, 0), min(y1, pixmap.height)):
        for x in range(max(x0, 0), min(x1, pixmap.width)):
            r, g, b = pixmap.pixel(x, y)[:3]
            total += 1
            tinted += r > 150 and g > 120 and b < r - 60
    return tinted / max(total, 1)


# ---- the API --------------------------------------------------------------------------------


@sqlite_only
def test_the_evidence_package_locates_and_highlights_each_quote(
    make_service: ServiceFactory,
) -> None:
    service = make_service(statement_lookup=True)
    answer = service.ask(top_k=8).json()
    assert not answer["refused"]
    (citation,) = answer["claims"][0]["citations"]
    # The citation carries the sentence's box from ingest.
    assert citation["box"] is not None and len(citation["box"]) == 4

    package = service.request("GET", f"/v1/answers/{answer['id']}/evidence", "alice").json()
    assert package["answer_id"] == answer["id"] and package["question"] == answer["question"]
    assert package["rounds"] is None and package["dropped_claims"] is None  # analyst
    assert package["versions"] == answer["versions"] and package["package_ms"] > 0
    (claim,) = package["claims"]
    assert claim["verdicts"] == answer["claims"][0]["verdicts"] and claim["reasons"]
    (evidence,) = claim["citations"]
    highlight = evidence["highlight"]
    assert highlight["kind"] == "pdf" and highlight["exact"] and highlight["boxes"]
    assert evidence["quote"] == citation["quote"]
    assert citation["quote"] in " ".join(evidence["sentence"].split())

    # The boxes cover exactly the quote's words on the cited page.
    store = IndexStore(service_data_of(service))
    filing = store.filing_by_id(citation["filing_id"])
    assert filing is not None
    with pymupdf.open(filing.path) as document:
        page = document[citation["page"]]
        # The package's boxes are in the displayed page; the words in the unrotated one.
        unrotated = [pymupdf.Rect(box) * page.derotation_matrix for box in highlight["boxes"]]
        assert words_in_boxes(page, unrotated) == visible_characters(citation["quote"])
        width, height = highlight["page_size"]
        assert (width, height) == (page.rect.width, page.rect.height)
        for x0, y0, x1, y1 in highlight["boxes"]:
            assert 0 <= x0 < x1 <= width and 0 <= y0 < y1 <= height

    # The page image is a PNG of that page with the quote tinted and the rest not.
    image = service.request("GET", highlight["image"], "alice")
    assert image.status_code == 200 and image.headers["content-type"] == "image/png"
    pixmap = pymupdf.Pixmap(image.content)
    zoom = pixmap.width / width
    assert abs(pixmap.height - height * zoom) <= 1
    for box in highlight["boxes"]:
        assert highlighted_share(image.content, box, zoom) > 0.4
    margin = (0.0, 0.0, 40.0, 40.0)  # the page's top-left corner is blank margin
    assert highlighted_share(image.content, margin, zoom) == 0

    # Compliance sees the drafting rounds; the HTML export is one file with the image inline.
    audit = service.request("GET", f"/v1/answers/{answer['id']}/evidence", "carol").json()
    (round_,) = audit["rounds"]
    assert round_["drafter"] == answer["drafted_by"] and round_["proposed"]["claims"]
    html = service.request(
        "GET", f"/v1/answers/{answer['id']}/evidence", "carol", params={"format": "html"}
    )
    assert html.status_code == 200 and html.headers["content-type"].startswith("text/html")
    assert "data:image/png;base64," in html.text and "Drafting rounds" in html.text
    assert 'src="http' not in html.text and "<script" not in html.text  # self-contained


def service_data_of(service: Any) -> Path:
    app = service.client.app
    return Path(app.state.components.settings.data_dir)


@sqlite_only
def test_evidence_follows_the_answer_s_readers_and_names_missing_citations(
    make_service: ServiceFactory,
) -> None:
    service = make_service()
    alices = service.ask("alice").json()["id"]
    path = f"/v1/answers/{alices}/evidence"
    expect_error(service.request("GET", path, "bob"), 404, "answer_not_found")
    expect_error(service.request("GET", path, "root"), 403, "forbidden")
    expect_error(service.request("GET", path), 401, "unauthenticated")
    expect_error(
        service.request("GET", f"{path}/claims/2/citations/1/page.png", "alice"),
        404,
        "citation_not_found",
    )
    expect_error(
        service.request("GET", f"{path}/claims/1/citations/0/page.png", "alice"),
        404,
        "citation_not_found",
    )
    bad_format = service.request("GET", path, "alice", params={"format": "pdf"})
    assert bad_format.status_code == 422


@sqlite_only
def test_the_cli_writes_json_html_and_page_images(
    make_service: ServiceFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    service = make_service(statement_lookup=True)
    answer_id = service.ask().json()["id"]
    settings = service.client.app.state.components.settings
    monkeypatch.setenv("VERIRAG_DATABASE_URL", settings.service_database_url)
    get_settings.cache_clear()
    monkeypatch.setattr("engine.settings.get_settings", get_settings)
    out = tmp_path / "evidence"
    result = verirag(
        "evidence",
        answer_id,
        "--out",
        out,
        "--data-dir",
        settings.data_dir,
    )
    assert result.exit_code == 0, result.stderr
    package = json.loads((out / "evidence.json").read_text())
    assert package["answer_id"] == answer_id and package["rounds"]
    (evidence,) = package["claims"][0]["citations"]
    image = out / evidence["highlight"]["image"]
    assert image.read_bytes().startswith(b"\x89PNG")
    html = (out / "evidence.html").read_text()
    assert "data:image/png;base64," in html and evidence["quote"] in html

    missing = verirag(
        "evidence",
        "a0000",
        "--out",
        out,
        "--data-dir",
        settings.data_dir,
    )
    assert missing.exit_code == 2 and "no answer with id a0000" in missing.stderr
    get_settings.cache_clear()


@sqlite_only
def test_a_refusal_s_package_has_no_citations(make_service: ServiceFactory) -> None:
    service = make_service()
    refusal = service.ask(question="What is the weather on Mars?").json()
    assert refusal["refused"]
    package = service.request("GET", f"/v1/answers/{refusal['id']}/evidence", "carol").json()
    assert package["refused"] and package["claims"] == [] and package["refusal_reason"]
    html = service.request(
        "GET", f"/v1/answers/{refusal['id']}/evidence", "carol", params={"format": "html"}
    )
    assert html.status_code == 200 and "Refused" in html.text


@sqlite_only
def test_a_page_image_of_a_changed_pdf_is_a_typed_404(
    make_service: ServiceFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    service = make_service(statement_lookup=True)
    answer = service.ask().json()
    store = service.client.app.state.components.store
    original = store.filing_by_id(answer["claims"][0]["citations"][0]["filing_id"])
    copy = tmp_path / "moved.pdf"
    shutil.copy(original.path, copy)
    moved = dataclasses.replace(original, path=str(copy))
    monkeypatch.setattr(store, "filing_by_id", lambda _: moved)
    image = f"/v1/answers/{answer['id']}/evidence/claims/1/citations/1/page.png"
    assert service.request("GET", image, "alice").status_code == 200
    copy.write_bytes(copy.read_bytes() + b"\n% edited after ingest\n")
    expect_error(service.request("GET", image, "alice"), 404, "page_image_unavailable")
    # The package still comes back, saying why the page cannot be shown.
    package = service.request("GET", f"/v1/answers/{answer['id']}/evidence", "alice").json()
    highlight = package["claims"][0]["citations"][0]["highlight"]
    assert (
        highlight["kind"] == "unavailable"
        and "changed since it was ingested" in (highlight["unavailable"])
    )


def test_highlights_follow_a_rotated_page(tmp_path: Path) -> None:
    """A landscape page stored rotated: words come in the unrotated space, the image in the
    displayed one; the highlight must land on the quote in the image."""
    from tests.filings import write_10k

    path = write_10k(tmp_path / "ACME_2023_10K.pdf")
    with pymupdf.open(path) as document:  # type: ignore[no-untyped-call]
        document[4].set_rotation(90)
        rotated = tmp_path / "rotated.pdf"
        document.save(rotated)
    with pymupdf.open(rotated) as document:  # type: ignore[no-untyped-call]
        page = document[4]
        quote = "Net sales $ 1,577 $ 1,408 $ 1,322"
        rendered = render_highlight(document, 4, quote, None)
        assert rendered.quote.exact
        shown = displayed_boxes(page, rendered.quote.boxes)
        assert rendered.width > rendered.height  # displayed as landscape
        for box in shown:
            assert highlighted_share(rendered.png, box, rendered.zoom) > 0.4
        # The unrotated boxes would point at blank paper in the image.
        assert highlighted_share(rendered.png, rendered.quote.boxes[0], rendered.zoom) < 0.1


def test_a_quote_matches_whole_words_only(tmp_path: Path) -> None:
    document = pymupdf.open()  # type: ignore[no-untyped-call]
    page = document.new_page()
    page.insert_text(
        (72, 100), "Revenue was 11,200 in 2023, 1,200,000 in 2021 and (1,200) in 2022.", fontsize=11
    )
    located = locate_quote(page, "1,200", None)
    assert located.exact
    (box,) = located.boxes
    # Only the whole number: not inside 11,200 or 1,200,000; the word under it is "(1,200)".
    assert words_in_boxes(page, [box]) == "(1,200)"
    assert locate_quote(page, "1,200) in 2022", None).exact  # up to, not into, punctuation
    assert not locate_quote(page, "1,20", None).exact  # part of a number is not the quote
    assert not locate_quote(page, "venue", None).exact  # part of a word is not the quote
    document.close()


# ---- files that changed, HTML filings -------------------------------------------------------


def test_a_changed_or_missing_pdf_is_refused_not_drawn_on(tmp_path: Path) -> None:
    from tests.filings import write_10k

    path = write_10k(tmp_path / "ACME_2023_10K.pdf")
    sha = file_sha256(path)
    with open_filing_pdf(path, sha) as document:
        rendered = render_highlight(document, 3, "Net sales", None)
        assert rendered.quote.exact and rendered.png.startswith(b"\x89PNG")
    assert file_sha256(path) == sha  # drawing never writes the filing
    path.write_bytes(path.read_bytes() + b"\n% appended\n")
    with pytest.raises(UnreadableFilingError, match="changed since it was ingested"):
        open_filing_pdf(path, sha)
    path.unlink()
    with pytest.raises(UnreadableFilingError, match="gone"):
        open_filing_pdf(path, sha)


def test_a_quote_the_page_does_not_hold_falls_back_to_the_sentence_box(tmp_path: Path) -> None:
    from tests.filings import write_10k

    path = write_10k(tmp_path / "ACME_2023_10K.pdf")
    with pymupdf.open(path) as document:  # type: ignore[no-untyped-call]
        stored_box = (72.0, 100.0, 300.0, 112.0)
        located = locate_quote(document[3], "words printed on no page", stored_box)
        assert not located.exact and located.boxes == (stored_box,)


def test_an_html_filing_shows_the_text_around_the_quote(tmp_path: Path) -> None:
    source = tmp_path / "acme-10-k-2024.htm"
    source.write_text(EDGAR_STYLE_10K, encoding="ascii")
    index = tmp_path / "index"
    code, _ = ingest_json(source, "--data-dir", index)
    assert code == 0
    with IndexStore(index) as store:
        (filing,) = store.filings()
        sentences = [s for s in store.filing_sentences(filing.id) if s["kind"] == "prose"]
        sentence = sentences[0]
        text = store.page(filing.name, sentence["page"])["text"]
        quote = " ".join(sentence["text"].split()[:4])
        start = text.index(quote, sentence["start"])
        citation = Citation(
            sentence_id=sentence["id"],
            filing=filing.name,
            filing_id=filing.id,
            page=sentence["page"],
            section=sentence["section"],
            quote=quote,
            sentence_start=sentence["start"],
            sentence_end=sentence["end"],
            quote_start=start,
            quote_end=start + len(quote),
        )
        builder = EvidenceBuilder(store)
        highlight = builder.highlight(citation)
        assert highlight.kind == "html" and highlight.image is None
        excerpt = highlight.excerpt
        assert excerpt is not None and excerpt.quote == quote
        assert text[excerpt.quote_start - len(excerpt.before) : start] == excerpt.before
        assert text.startswith(
            excerpt.before + excerpt.quote + excerpt.after, start - len(excerpt.before)
        )
        with pytest.raises(UnreadableFilingError, match="no page image"):
            builder.page_image(citation)
        # Offsets logged before a re-ingest moved the text: the quote is found again.
        shifted = citation.model_copy(update={"quote_start": 0, "quote_end": len(quote)})
        again = builder.highlight(shifted).excerpt
        assert again is not None and again.quote == quote and again.quote_start == start
        # A quote the page no longer holds is unavailable, not a wrong span marked.
        gone = citation.model_copy(update={"quote": "words this page never held"})
        missing = builder.highlight(gone)
        assert missing.kind == "unavailable" and "no longer holds the quote" in str(
            missing.unavailable
        )


# ---- real filings ---------------------------------------------------------------------------


@pytest.mark.skipif(
    not SHARED_PDFS.is_dir(), reason=f"needs the FinanceBench filings in {SHARED_PDFS}"
)
def test_highlights_on_real_filings_lie_on_the_cited_page_over_the_quote(tmp_path: Path) -> None:
    """Quotes cut from sentences the PDF reader stored (prose and table rows, whole and in
    part) on three real 10-Ks: every box is on the page and the words under the boxes are the
    quote, for all but a sliver the reader spaces differently from the text layer."""
    rng = random.Random(7)
    pdfs = sorted(SHARED_PDFS.glob("*10K*.pdf"))
    chosen = rng.sample(pdfs, 3)
    checked = exact = covered = 0
    for pdf in chosen:
        copy = shutil.copy(pdf, tmp_path / pdf.name)
        parsed = PdfReader().read(Path(copy))
        sentences = [
            (page.number, sentence)
            for page in parsed.pages
            for sentence in page.sentences
            if sentence.bbox is not None and len(sentence.text.split()) >= 3
        ]
        with pymupdf.open(copy) as document:
            for number, sentence in rng.sample(sentences, min(60, len(sentences))):
                words = sentence.text.split()
                cut = rng.randint(0, len(words) // 3)
                quote = " ".join(words[cut : cut + max(3, len(words) // 2)])
                page = document[number]
                located = locate_quote(page, quote, sentence.bbox)
                checked += 1
                exact += located.exact
                rect = page.rect
                for x0, y0, x1, y1 in located.boxes:
                    assert (
                        rect.x0 <= x0 < x1 <= rect.x1 + 0.5 and rect.y0 <= y0 < y1 <= rect.y1 + 0.5
                    )
                if located.exact:
                    under = words_in_boxes(page, list(located.boxes))
                    covered += (
                        visible_characters(quote) in under
                        and len(under) - len(visible_characters(quote)) < 40
                    )
    assert checked >= 150
    assert exact / checked >= 0.98, (exact, checked)
    assert covered / exact >= 0.98, (covered, exact)
