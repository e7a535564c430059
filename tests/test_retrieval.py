"""Retrievers: one contract for every implementation, then what each adds."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from ingest.errors import FilingNotFoundError
from ingest.pdf import PdfReader
from ingest.pipeline import IngestOptions, Ingestor
from ingest.store import IndexStore, VectorHit
from retrieval.catalog import Catalog, QueryFilters
from retrieval.dense import DenseRetriever
from retrieval.hybrid import (
    HybridRetriever,
    boost_pages,
    keep_first_hits,
    reciprocal_rank_fusion,
)
from retrieval.lexical import LexicalRetriever, fts_query
from retrieval.query import read_query
from retrieval.types import Retriever
from tests import filings

FILINGS = {
    "ACME_2023_10K": {"company": "Acme Widgets Corporation", "year": 2023},
    "ACME_2022_10K": {"company": "Acme Widgets Corporation", "year": 2022},
    "GLOBEX_2023_10K": {"company": "Globex Corporation", "year": 2023},
}


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory, embedder: Any) -> Iterator[IndexStore]:
    folder = tmp_path_factory.mktemp("retrieval")
    paths = [filings.write_10k(folder / f"{name}.pdf", **spec) for name, spec in FILINGS.items()]
    with IndexStore(folder / "index") as opened:
        report = Ingestor(opened, embedder, {".pdf": PdfReader()}, IngestOptions()).ingest(paths)
        assert report.ok
        yield opened


def _make(kind: str, store: IndexStore, embedder: Any) -> Retriever:
    catalog = Catalog.from_store(store)
    dense = DenseRetriever(store, embedder, catalog)
    lexical = LexicalRetriever(store, catalog)
    return {
        "dense": dense,
        "lexical": lexical,
        "hybrid": HybridRetriever(store, dense, lexical, catalog),
    }[kind]


@pytest.fixture(params=["dense", "lexical", "hybrid"])
def retriever(request: pytest.FixtureRequest, store: IndexStore, embedder: Any) -> Retriever:
    return _make(request.param, store, embedder)


# ---- the contract every retriever keeps ----------------------------------------------------


def test_hits_are_ranked_bounded_and_point_at_stored_sentences(
    retriever: Retriever, store: IndexStore
) -> None:
    hits = retriever.retrieve("cost of sales", top_k=4, filters=QueryFilters())
    assert 0 < len(hits) <= 4
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
    for hit in hits:
        sentences = store.sentences_by_ids(hit.sentence_ids)
        assert [s["id"] for s in sentences] == hit.sentence_ids
        assert {s["page"] for s in sentences} == {hit.page}
        assert {s["filing_id"] for s in sentences} == {hit.filing_id}
        assert hit.filing in FILINGS and hit.section is not None


def test_the_evidence_page_is_found(retriever: Retriever) -> None:
    hits = retriever.retrieve(
        "cost of sales gross profit", 3, QueryFilters(filings=frozenset({"ACME_2023_10K"}))
    )
    assert 4 in {hit.page for hit in hits[:2]}
    assert {hit.filing for hit in hits} == {"ACME_2023_10K"}


def test_explicit_filing_filter_restricts(retriever: Retriever) -> None:
    hits = retriever.retrieve("net sales", 10, QueryFilters(filings=frozenset({"ACME_2022_10K"})))
    assert hits and {h.filing for h in hits} == {"ACME_2022_10K"}


def test_company_and_year_are_read_from_the_question(retriever: Retriever) -> None:
    hits = retriever.retrieve("What were Globex's net sales in FY2023?", 10)
    assert hits and {h.filing for h in hits} == {"GLOBEX_2023_10K"}
    acme = retriever.retrieve("Acme net sales in fiscal 2022", 10)
    assert acme and {h.filing for h in acme} == {"ACME_2022_10K"}


def test_a_question_naming_no_company_searches_everything(retriever: Retriever) -> None:
    hits = retriever.retrieve("net sales and operating income", 30)
    assert {h.filing for h in hits} == set(FILINGS)


def test_an_unknown_filing_is_a_clear_error(retriever: Retriever) -> None:
    with pytest.raises(FilingNotFoundError, match="NOPE_2023_10K"):
        retriever.retrieve("net sales", 5, QueryFilters(filings=frozenset({"NOPE_2023_10K"})))


# ---- what each adds --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "question",
    ['What is "net sales" AND (cost) - NEAR: OR?', "***", "a the of", "NOT 10-K's ^ $1,577"],
)
def test_lexical_queries_never_break_on_fts_syntax(store: IndexStore, question: str) -> None:
    LexicalRetriever(store).retrieve(question, 5, QueryFilters())


def test_metric_names_reach_the_line_items_filings_print(store: IndexStore) -> None:
    assert '"capital expenditures"' in fts_query(read_query("What was capex?"))
    hits = LexicalRetriever(store).retrieve(
        "What was the capex?", 3, QueryFilters(filings=frozenset({"ACME_2023_10K"}))
    )
    assert hits[0].page == 3 and "Capital expenditures" in hits[0].text
    assert (
        LexicalRetriever(store, expand=False).retrieve(
            "What was the capex?", 3, QueryFilters(filings=frozenset({"ACME_2023_10K"}))
        )
        == []
    )


def test_reciprocal_rank_fusion_rewards_agreement() -> None:
    dense = [VectorHit(1, 0.9), VectorHit(2, 0.8), VectorHit(3, 0.7)]
    lexical = [VectorHit(3, 12.0), VectorHit(4, 9.0), VectorHit(1, 5.0)]
    fused = reciprocal_rank_fusion([(dense, 1.0), (lexical, 1.0)], k=60)
    assert [h.vector_id for h in fused] == [1, 3, 2, 4]
    assert fused[0].score == pytest.approx(1 / 61 + 1 / 63)


def test_a_page_where_two_passages_match_outranks_a_page_with_one() -> None:
    # Page 9 has two passages well up the list; page 7's second sits at the bottom of the
    # list, where fused scores are flat, and adds nothing: long pages are not preferred.
    fused = [VectorHit(1, 0.030), VectorHit(2, 0.028), VectorHit(3, 0.020), VectorHit(4, 0.010)]
    pages = {1: ("f", 7), 2: ("f", 9), 3: ("f", 9), 4: ("f", 7)}
    boosted = boost_pages(fused, pages, 0.5)
    assert [h.vector_id for h in boosted] == [2, 1, 3, 4]
    assert boosted[0].score == pytest.approx(0.028 + 0.5 * (0.020 - 0.010))
    assert [h.score for h in boosted[1:]] == [0.030, 0.020, 0.010]  # only a page's best moves
    assert boost_pages(fused, pages, 0.0) == fused


def test_a_page_one_list_ranks_first_keeps_a_place_near_the_top() -> None:
    # Pages 1-6 are ranked middling by both lists; page 9 is the BM25 list's first hit and
    # nowhere in the dense list, so fusion put it last.
    fused = [VectorHit(i, 0.03 - 0.001 * i) for i in range(1, 7)] + [VectorHit(9, 0.016)]
    pages = {i: ("f", i) for i in range(1, 7)} | {9: ("f", 9), 10: ("f", 2), 12: ("f", 12)}
    kept = keep_first_hits(fused, [VectorHit(9, 12.0)], pages, floor=4)
    assert [h.vector_id for h in kept] == [1, 2, 3, 9, 4, 5, 6]
    assert [h.score for h in kept] == sorted((h.score for h in kept), reverse=True)
    # A first hit whose page is already within the floor (here through another chunk of
    # page 2) moves nothing; one without a known page neither.
    assert keep_first_hits(fused, [VectorHit(10, 1.0)], pages, floor=4) == fused
    assert keep_first_hits(fused, [VectorHit(11, 1.0)], pages, floor=4) == fused
    # A first hit fusion dropped altogether is put back.
    assert [h.vector_id for h in keep_first_hits(fused, [VectorHit(12, 1.0)], pages, 4)] == [
        1,
        2,
        3,
        12,
        4,
        5,
        6,
        9,
    ]


def test_both_lists_first_hits_fit_under_the_floor() -> None:
    fused = [VectorHit(i, 0.05 - 0.001 * i) for i in range(1, 21)]
    pages = {i: ("f", i) for i in range(1, 21)}

    def kept(*firsts: int) -> list[int]:
        ranked = keep_first_hits(fused, [VectorHit(i, 1.0) for i in firsts], pages, floor=5)
        assert sorted(h.vector_id for h in ranked) == list(range(1, 21))  # nothing lost or doubled
        assert [h.score for h in ranked] == sorted((h.score for h in ranked), reverse=True)
        return [h.vector_id for h in ranked]

    assert kept(15, 18)[:5] == [1, 2, 3, 15, 18]
    # One first already on the fifth page, the other below it: the fourth page gives way.
    assert kept(9, 5)[:5] == [1, 2, 3, 9, 5]
    assert kept(2, 3) == list(range(1, 21))


def test_cross_encoder_prefers_the_answering_passage() -> None:
    from retrieval.rerank import OnnxCrossEncoder

    scores = OnnxCrossEncoder(threads=1).score(
        "How much were capital expenditures?",
        [
            "The Company's headquarters are in Delaware.",
            "Capital expenditures were $96 million in 2023.",
        ],
    )
    assert scores[1] > scores[0]


def test_hybrid_with_reranker_keeps_the_contract(store: IndexStore, embedder: Any) -> None:
    from retrieval.hybrid import HybridConfig
    from retrieval.rerank import OnnxCrossEncoder

    catalog = Catalog.from_store(store)
    hybrid = HybridRetriever(
        store,
        DenseRetriever(store, embedder, catalog),
        LexicalRetriever(store, catalog),
        catalog,
        reranker=OnnxCrossEncoder(threads=1),
        config=HybridConfig(rerank_top=5),
    )
    hits = hybrid.retrieve(
        "capital expenditures", 3, QueryFilters(filings=frozenset({"ACME_2023_10K"}))
    )
    assert len(hits) == 3 and hits[0].page == 3


@pytest.mark.parametrize("kind", ["hnsw", "ivf"])
def test_approximate_indexes_keep_recall_against_exact_search(kind: str) -> None:
    import faiss

    from retrieval import ann

    rng = np.random.default_rng(7)
    centres = rng.normal(size=(50, 64)).astype(np.float32)
    points = centres[rng.integers(0, 50, 20_000)] + 0.3 * rng.normal(size=(20_000, 64))
    points /= np.linalg.norm(points, axis=1, keepdims=True)
    exact = faiss.IndexIDMap2(faiss.IndexFlatIP(64))
    ids = np.arange(1000, 21_000, dtype=np.int64)
    exact.add_with_ids(points.astype(np.float32), ids)
    queries = points[rng.integers(0, 20_000, 200)] + 0.05 * rng.normal(size=(200, 64))
    queries = (queries / np.linalg.norm(queries, axis=1, keepdims=True)).astype(np.float32)
    approximate = ann.build(exact, kind)
    _, truth = exact.search(queries, 10)
    _, found = approximate.search(queries, 10)
    recall = np.mean([len(set(t) & set(f)) / 10 for t, f in zip(truth, found, strict=True)])
    assert recall >= 0.9, recall
    # filtered search returns only allowed ids
    allowed = ids[::7]
    params = ann.search_parameters(kind, faiss.IDSelectorBatch(allowed))
    _, filtered = approximate.search(queries[:20], 10, params=params)
    assert set(filtered[filtered >= 0].tolist()) <= set(allowed.tolist())


def test_dense_retriever_caches_its_approximate_index(store: IndexStore, embedder: Any) -> None:
    dense = DenseRetriever(store, embedder, vector_index="hnsw")
    hits = dense.retrieve("cost of sales", 3, QueryFilters(filings=frozenset({"ACME_2023_10K"})))
    assert hits and hits[0].filing == "ACME_2023_10K"
    assert store.vector_cache_path("hnsw").exists()


def test_llamaindex_query_engine_retrieves_through_verirag(
    store: IndexStore, embedder: Any
) -> None:
    from llama_index.core.llms import MockLLM
    from llama_index.core.query_engine import RetrieverQueryEngine
    from llama_index.core.response_synthesizers.no_text import NoText

    from retrieval.llamaindex import VeriragLlamaIndexRetriever

    adapter = VeriragLlamaIndexRetriever(
        _make("hybrid", store, embedder),
        top_k=3,
        filters=QueryFilters(filings=frozenset({"ACME_2023_10K"})),
    )
    # Retrieval only: "no text" synthesis, and a mock LLM so nothing reaches for a provider.
    engine = RetrieverQueryEngine(adapter, response_synthesizer=NoText(llm=MockLLM()))
    response = engine.query("cost of sales gross profit")
    nodes = response.source_nodes
    assert len(nodes) == 3
    assert {n.node.metadata["filing"] for n in nodes} == {"ACME_2023_10K"}
    top = next(n for n in nodes if n.node.metadata["page"] == 4)
    assert top.node.node_id == top.node.id_ and top.score is not None
    cited = store.sentences_by_ids(top.node.metadata["sentence_ids"])
    assert cited and {s["page"] for s in cited} == {4}
    assert "Cost of sales" in top.node.get_content()


@contextmanager
def _duo_index(
    tmp_path: Path, embedder: Any, write: Callable[[Path], Path]
) -> Iterator[tuple[IndexStore, QueryFilters]]:
    """An index of the one Duo Instruments 10-K ``write`` makes, and the filter to it."""
    path = write(tmp_path / "DUO_2023_10K.pdf")
    with IndexStore(tmp_path / "index") as opened:
        Ingestor(opened, embedder, {".pdf": PdfReader()}, IngestOptions()).ingest([path])
        yield opened, QueryFilters(filings=frozenset({"DUO_2023_10K"}))


def _hybrid(store: IndexStore, embedder: Any, **config: Any) -> HybridRetriever:
    from retrieval.hybrid import HybridConfig

    catalog = Catalog.from_store(store)
    dense = DenseRetriever(store, embedder, catalog)
    lexical = LexicalRetriever(store, catalog)
    return HybridRetriever(store, dense, lexical, catalog, config=HybridConfig(**config))


def _page_order(
    store: IndexStore, embedder: Any, question: str, only: QueryFilters, **config: Any
) -> list[int]:
    """The pages of the hybrid's first ten hits, in order, once each."""
    hits = _hybrid(store, embedder, **config).retrieve(question, 10, only)
    return list(dict.fromkeys(hit.page for hit in hits))


def test_metric_questions_bring_statement_tables_forward(store: IndexStore, embedder: Any) -> None:
    only = QueryFilters(filings=frozenset({"ACME_2023_10K"}))
    question = "What was the gross margin?"  # a metric: its line items are table rows
    with_tables = _hybrid(store, embedder).retrieve(question, 10, only)
    without = _hybrid(store, embedder, table_weight=0).retrieve(question, 10, only)
    rank = [h.table_id is not None for h in with_tables].index(True)
    assert rank <= [h.table_id is not None for h in without].index(True)
    assert with_tables[rank].page == 4


def test_line_item_questions_bring_their_primary_statement_forward(
    store: IndexStore, embedder: Any
) -> None:
    only = QueryFilters(filings=frozenset({"ACME_2023_10K"}))
    # The MD&A page (3) states revenue in prose; the income statement is page 4.
    question = "What was Acme's revenue in fiscal 2023 and 2022?"
    alone = {"table_weight": 0, "page_second_weight": 0}  # the statement list's effect alone
    with_statements = _hybrid(store, embedder, **alone).retrieve(question, 10, only)
    without = _hybrid(store, embedder, **alone, statement_weight=0).retrieve(question, 10, only)
    assert without[0].page == 3
    assert with_statements[0].page == 4


def test_statement_pages_are_told_by_their_titles() -> None:
    from ingest.vocabulary import BALANCE, CASH_FLOWS, INCOME, named_statements, statement_kinds

    # PDF text splits words; a page's head is matched with whitespace squeezed out.
    assert statement_kinds(
        "Table of Contents\n3M Company and Subsidiaries\nConsolidated Statement of Cash Flow s"
    ) == {CASH_FLOWS}
    assert statement_kinds("NIKE, INC. CONSOLIDATED BALANCE SHEETS MAY 31,") == {BALANCE}
    assert statement_kinds("Consolidated Statements of Comprehensive Income") == set()
    index_page = "Consolidated Statements of Operations 58 Consolidated Balance Sheets 60"
    assert statement_kinds(index_page) == {INCOME, BALANCE}  # an index: the retriever skips it
    assert named_statements("What is the FY2018 capital expenditure amount for 3M?") == [CASH_FLOWS]
    assert named_statements("Using the balance sheet, what is the FY2021 inventory?") == [BALANCE]
    assert named_statements("Is Boeing's business subject to cyclicality?") == []
    # A breakdown is not in the group's statements, unless the question names one.
    segments = "Which of JPM's business segments had the lowest net revenue in 2021 Q1?"
    assert named_statements(segments) == []
    assert named_statements("Per the income statement, which segment grew?") == [INCOME]


def test_a_page_is_a_statement_when_a_title_line_says_so() -> None:
    from ingest.vocabulary import (
        BALANCE,
        INCOME,
        is_consolidated_title,
        page_statement_titles,
    )

    page = "Table of Contents\nCONSOLIDATED STATEMENTS OF INCOME\nYear Ended December 31"
    assert page_statement_titles(page) == {INCOME: "CONSOLIDATED STATEMENTS OF INCOME"}
    # Prose that names a statement, wrapped or whole, is no title.
    note = "Table of Contents\nOur derivatives are carried at fair value on the Consolidated"
    assert page_statement_titles(note + " Balance Sheets. The accounting for changes") == {}
    assert page_statement_titles("and service revenue on our consolidated income statements.") == {}
    assert page_statement_titles("COMPREHENSIVE INCOME STATEMENTS\n(In millions)") == {}
    segment = page_statement_titles(
        "U.S. CONSUMER SERVICES\nTABLE 9: USCS SELECTED INCOME STATEMENT DATA"
    )
    assert list(segment) == [INCOME] and not is_consolidated_title(segment[INCOME])
    assert not is_consolidated_title("PARENT COMPANY – CONDENSED CONSOLIDATED BALANCE SHEETS")
    assert page_statement_titles("NIKE, INC.\nCONSOLIDATED BALANCE SHEETS\nMAY 31,") == {
        BALANCE: "CONSOLIDATED BALANCE SHEETS"
    }


def test_a_question_over_two_statements_gets_a_page_of_each_first(
    tmp_path: Any, embedder: Any
) -> None:
    with _duo_index(tmp_path, embedder, filings.write_statements_10k) as (opened, only):
        question = (
            "What is the FY2023 EBITDA less capex? Define EBITDA as operating income plus "
            "depreciation and amortization from the cash flow statement."
        )

        def first_pages(**config: Any) -> list[int]:
            return _page_order(opened, embedder, question, only, **config)[:2]

        # Income statement (2) and cash flow statement (3), not the segment's table (4).
        assert sorted(first_pages()) == [2, 3]
        assert sorted(first_pages(statement_weight=0)) != [2, 3]


def test_officer_certifications_answer_only_questions_about_them(
    tmp_path: Any, embedder: Any
) -> None:
    with _duo_index(tmp_path, embedder, filings.write_certified_10k) as (opened, only):
        retriever = _hybrid(opened, embedder)
        legal = retriever.retrieve("Has Duo reported any material legal matter?", 10, only)
        assert legal[0].page == 1 and 2 not in {hit.page for hit in legal}
        asked = retriever.retrieve(
            "Who certified the annual report under Sarbanes-Oxley?", 10, only
        )
        assert 2 in {hit.page for hit in asked}


def test_a_certification_page_is_told_by_its_exhibit_title_and_the_law_it_cites() -> None:
    from ingest.vocabulary import is_officer_certification

    assert is_officer_certification("\n".join(filings.CERTIFICATION))
    assert is_officer_certification("EXHIBIT 32\nCERTIFICATION PURSUANT TO 18 U.S.C. SECTION 1350")
    # An exhibit index names the certification; it is not one.
    assert not is_officer_certification("Item 15. Exhibits\nExhibit 31.1 Certification of CEO.")


def test_breakdown_questions_bring_the_page_that_compares_the_segments_forward(
    tmp_path: Any, embedder: Any
) -> None:
    with _duo_index(tmp_path, embedder, filings.write_segmented_10k) as (opened, only):
        question = "Which of Duo's business segments had the lowest net revenue in 2023?"
        # The segment results table (3), ahead of a segment's own page (2).
        assert _page_order(opened, embedder, question, only)[0] == 3
        assert _page_order(opened, embedder, question, only, breakdown_weight=0)[0] != 3


def test_the_list_of_subsidiaries_answers_only_questions_about_them(
    tmp_path: Any, embedder: Any
) -> None:
    with _duo_index(tmp_path, embedder, filings.write_segmented_10k) as (opened, only):
        retriever = _hybrid(opened, embedder)
        countries = retriever.retrieve("In which countries does Duo operate?", 10, only)
        assert 4 not in {hit.page for hit in countries}
        asked = retriever.retrieve("Where are Duo's subsidiaries incorporated?", 10, only)
        assert asked[0].page == 4


def test_the_auditors_consent_answers_only_questions_about_it(tmp_path: Any, embedder: Any) -> None:
    """The consent to "incorporation by reference" once outranked the list of subsidiaries for
    where they are incorporated: it states no fact about the company."""
    with _duo_index(tmp_path, embedder, filings.write_segmented_10k) as (opened, only):
        retriever = _hybrid(opened, embedder)
        incorporated = retriever.retrieve("Where are Duo's subsidiaries incorporated?", 10, only)
        assert 5 not in {hit.page for hit in incorporated}
        asked = retriever.retrieve("Which accounting firm gave its consent?", 10, only)
        assert asked[0].page == 5


def test_a_question_naming_a_notes_topic_gets_the_note(tmp_path: Any, embedder: Any) -> None:
    with _duo_index(tmp_path, embedder, filings.write_noted_10k) as (opened, only):
        question = "Which acquisitions did Duo make in 2023?"
        # The acquisitions note (10) ahead of the MD&A pages that repeat the word (6-8).
        assert _page_order(opened, embedder, question, only)[0] == 10
        assert _page_order(opened, embedder, question, only, notes_weight=0).index(10) > 0
        # A line item of a statement is answered on the statement, not in a note: a question
        # that also asks for capex gets no notes list.
        retriever = _hybrid(opened, embedder)
        assert retriever._note_pages(read_query(question), None)
        with_capex = "What were Duo's acquisitions and capex in 2023?"
        assert read_query(with_capex).statements
        assert _page_order(opened, embedder, with_capex, only) == _page_order(
            opened, embedder, with_capex, only, notes_weight=0
        )


def test_retrieval_reads_page_kinds_from_the_store_not_from_page_text(
    tmp_path: Any, embedder: Any
) -> None:
    """The subsidiaries page is left out because the store labels it, at ingest: with its
    label removed (as a labelling that does not see it would store), the same text is found."""
    import sqlite3

    from ingest.store import DOCSTORE_FILE

    with _duo_index(tmp_path, embedder, filings.write_segmented_10k) as (opened, only):
        question = "In which countries does Duo operate?"
        assert 4 not in {hit.page for hit in _hybrid(opened, embedder).retrieve(question, 10, only)}
        with sqlite3.connect(opened.data_dir / DOCSTORE_FILE) as db:
            db.execute("DELETE FROM page_kinds WHERE kind = 'subsidiaries'")
        found = _hybrid(opened, embedder).retrieve(question, 10, only)
        assert 4 in {hit.page for hit in found}


def test_an_auditors_consent_is_told_by_its_title_and_its_words() -> None:
    from ingest.vocabulary import asks_about_consent, is_auditor_consent

    consent = "\n".join(filings.CONSENT)
    assert is_auditor_consent(consent)
    assert is_auditor_consent(
        "EXHIBIT 23\nCONSENT OF INDEPENDENT REGISTERED PUBLIC ACCOUNTING "
        "FIRM\nWe hereby consent to the incorporation by reference in the Registration "
    )
    # An exhibit index lists the consent without being one; prose may mention consent.
    assert not is_auditor_consent("Exhibit Index\n21 Subsidiaries\n23 Consent of KPMG LLP")
    assert not is_auditor_consent("Item 7\nWe obtained the consent of the lenders to amend.")
    assert asks_about_consent("Who is the company's auditor?")
    assert not asks_about_consent("Where are the subsidiaries incorporated?")


def test_a_breakdown_page_is_told_by_a_title_line_naming_the_breakdown() -> None:
    from ingest.vocabulary import asked_breakdowns, breakdown_names

    assert asked_breakdowns("Which of Duo's business segments earned the most?") == ["segments"]
    assert breakdown_names("Segment results – managed basis\nThe following tables") == ["segments"]
    assert breakdown_names("Table of Contents\nOur Divisions\nWe are organized") == ["segments"]
    assert asked_breakdowns("Which line of business grew fastest?") == ["segments"]
    assert breakdown_names("Assets by reportable segment were as follows:") == []
    assert breakdown_names("Results of our segments are discussed below.") == []
    assert breakdown_names("Segment operating profit 1,234 1,101") == []
    assert asked_breakdowns("What are the geographies Duo operates in?") == ["regions"]
    assert breakdown_names("Net Revenue by Geographic Area\n(in millions)") == ["regions"]
    assert asked_breakdowns("Which product category sold best?") == ["product categories"]
    assert breakdown_names("Revenue by Product Category\n(in millions)") == ["product categories"]
    assert breakdown_names("Asset Category\nEquity securities") == []
    assert asked_breakdowns("What was Duo's FY2021 net income?") == []
    assert asked_breakdowns("Is Duo a regional bank?") == []


def test_a_list_of_subsidiaries_runs_from_its_exhibit_title_to_the_next_exhibit() -> None:
    from ingest.vocabulary import subsidiary_list_pages

    names = "\n".join(f"Duo Bottlers {n} S.A.\nUruguay" for n in "ABCDEFGH")
    consent = "Consent of Independent Registered Public Accounting Firm\n" + names
    power = "Filed herewith\nEXHIBIT 24\nPOWER OF ATTORNEY\n" + names
    figures = "\n".join(f"Net sales {n} 1,{n}00 9{n}0" for n in range(1, 12))
    heads = [
        ("f1", 9, "Item 15. Exhibits\n(21) Subsidiaries of the Registrant."),
        ("f1", 40, "EXHIBIT 21\nDUO, INC. SUBSIDIARIES\nEntity Name\nJurisdiction\n" + names),
        ("f1", 41, names),
        ("f1", 42, "Duo, Inc.\nExhibit 21 (continued)\n" + names),  # a running header
        ("f1", 43, consent),
        ("f1", 44, names),  # a list after the consent is another exhibit's
        ("f2", 8, "Exhibit 21\nName of Company\nOrganized Under Law of\n" + names),
        ("f2", 7, "Exhibit 21\nDUO COMPANY AND CONSOLIDATED SUBSIDIARIES\n" + names),
        ("f2", 9, power),
        ("f3", 5, "EXHIBIT 21\nSubsidiaries of Duo\n" + names),
        ("f3", 6, figures),  # a financial table is no list of names
        ("f3", 7, ""),
    ]
    assert subsidiary_list_pages(heads) == [
        ("f1", 40),
        ("f1", 41),
        ("f1", 42),
        ("f2", 7),
        ("f2", 8),
        ("f3", 5),
    ]


def test_queries_are_written_from_what_each_page_is_and_prints(
    tmp_path: Any, embedder: Any
) -> None:
    from retrieval.synthetic import SynthesisConfig, synthesise

    with _duo_index(tmp_path, embedder, filings.write_statements_10k) as (opened, _):
        made = synthesise(opened)
        assert made == synthesise(opened, SynthesisConfig())  # seeded: the same every run
        statements = [q for q in made if q.kind == "statement"]
        # Rows of the income statement (page 2) and the cash flow statement (page 3), never
        # of the segment's table (page 4), each answered on its own page.
        assert {page for q in statements for _, page in q.pages} == {2, 3}
        (filing,) = opened.filings()
        labels = {
            table.page: {" ".join(row[0].split()).lower() for row in table.rows if row}
            for table in opened.filing_tables(filing.id)
        }
        for query in statements:
            assert "2023" in query.text and "Duo" in query.text
            ((_, page),) = query.pages
            assert any(label in query.text.lower() for label in labels[page])
