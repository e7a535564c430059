"""Reviewed items out (datasets JSONL, Argilla, Label Studio) and Label Studio's annotations
back in, as review events: the round trip."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ElementTree
from pathlib import Path
from typing import Any

import pytest

from engine.settings import get_settings
from service.review import CitationDecision, RejectReason, ReviewStore, Verdict, citation_target
from service.review_exchange import (
    argilla_dataset,
    import_label_studio,
    label_studio_config,
    label_studio_tasks,
    reviewed_items,
)
from tests.service_app import Service, ServiceFactory, sqlite_only
from tests.test_ingest_cli import verirag


def _reviewed(make_service: ServiceFactory) -> tuple[Service, str, ReviewStore]:
    service = make_service()
    answer_id = service.ask().json()["id"]
    service.ask(question="What were Acme's net sales in fiscal 2022?")  # never reviewed
    reviews = ReviewStore(service.engine)
    reviews.label_citation(answer_id, "carol", 0, 0, CitationDecision.ACCEPT)
    reviews.label_citation(
        answer_id, "dave", 0, 0, CitationDecision.REJECT, RejectReason.WRONG_ROW, "other row"
    )
    reviews.label_verdict(answer_id, "carol", Verdict.CORRECT)
    reviews.label_verdict(answer_id, "dave", Verdict.CORRECT)
    reviews.adjudicate(answer_id, "lead", citation_target(0, 0), "accept")
    return service, answer_id, reviews


@sqlite_only
def test_reviewed_items_carry_every_label_and_the_final_one(
    make_service: ServiceFactory,
) -> None:
    service, answer_id, reviews = _reviewed(make_service)
    citation, verdict = reviewed_items(service.log, reviews)
    assert (citation["target"], verdict["target"]) == ("citation:0:0", "verdict")
    assert citation["answer_id"] == verdict["answer_id"] == answer_id
    assert citation["quote"] and citation["filing"] == "ACME_2023_10K" and citation["page"] == 3
    assert [(x["reviewer"], x["value"], x["reason"]) for x in citation["labels"]] == [
        ("carol", "accept", None),
        ("dave", "reject", "wrong_row"),
    ]
    assert citation["final"] == "accept" and verdict["final"] == "correct"
    assert verdict["quote"] is None and verdict["claim"] is None


@sqlite_only
def test_the_jsonl_export_loads_with_datasets(
    make_service: ServiceFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import datasets

    service, answer_id, _ = _reviewed(make_service)
    settings = service.client.app.state.components.settings
    monkeypatch.setenv("VERIRAG_DATABASE_URL", settings.service_database_url)
    get_settings.cache_clear()
    out = tmp_path / "reviews.jsonl"
    result = verirag("review", "export", "--format", "jsonl", "--out", out)
    get_settings.cache_clear()
    assert result.exit_code == 0, result.stderr
    loaded = datasets.load_dataset("json", data_files=str(out), split="train")
    assert loaded.num_rows == 2
    assert loaded["target"] == ["citation:0:0", "verdict"] and loaded["final"] == [
        "accept",
        "correct",
    ]
    assert loaded[0]["labels"][1]["reason"] == "wrong_row"
    assert set(loaded["answer_id"]) == {answer_id}


@sqlite_only
def test_the_argilla_export_names_only_what_its_settings_define(
    make_service: ServiceFactory,
) -> None:
    service, _, reviews = _reviewed(make_service)
    exported = argilla_dataset(reviewed_items(service.log, reviews))
    settings = exported["settings"]
    fields = {f["name"] for f in settings["fields"]}
    metadata = {m["name"] for m in settings["metadata"]}
    questions = {q["name"]: q["labels"] for q in settings["questions"]}
    assert len(exported["records"]) == 2
    for record in exported["records"]:
        assert set(record["fields"]) <= fields and set(record["metadata"]) <= metadata
        for suggestion in record["suggestions"]:
            assert suggestion["value"] in questions[suggestion["question_name"]]
    citation = exported["records"][0]
    assert citation["suggestions"] == [
        {"question_name": "decision", "value": "accept", "agent": "verirag-review"}
    ]
    assert "dave=reject:wrong_row" in citation["metadata"]["reviewers"]


def _annotated(tasks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """What Label Studio's JSON export looks like after an annotator worked on the tasks."""
    exported = json.loads(json.dumps(tasks))
    citation, verdict = exported
    citation["id"], verdict["id"] = 41, 42
    citation["annotations"] = [
        {
            "id": 1,
            "completed_by": {"id": 7, "email": "ann@example.com"},
            "was_cancelled": False,
            "result": [
                {
                    "id": "a1",
                    "from_name": "decision",
                    "to_name": "quote",
                    "type": "choices",
                    "value": {"choices": ["reject"]},
                },
                {
                    "id": "a2",
                    "from_name": "reason",
                    "to_name": "quote",
                    "type": "choices",
                    "value": {"choices": ["wrong_period"]},
                },
                {
                    "id": "a3",
                    "from_name": "note",
                    "to_name": "answer",
                    "type": "textarea",
                    "value": {"text": ["the 2022 column"]},
                },
            ],
        },
        {"id": 2, "completed_by": 8, "was_cancelled": True, "result": []},
    ]
    verdict["annotations"] = [
        {
            "id": 3,
            "completed_by": 7,
            "was_cancelled": False,
            "result": [
                {
                    "from_name": "verdict",
                    "to_name": "answer",
                    "type": "choices",
                    "value": {"choices": ["incorrect"]},
                }
            ],
        }
    ]
    stranger = {"id": 43, "data": {"answer_id": "a0000", "target": "verdict"}, "annotations": []}
    answer_id = citation["data"]["answer_id"]
    wrapped = {
        "id": 44,
        "data": {"answer_id": answer_id, "target": "citation:-1:0"},
        "annotations": [
            {
                "id": 4,
                "completed_by": 7,
                "result": [_choice_region("decision", "accept")],
            }
        ],
    }
    odd = {
        "id": 45,
        "data": {"answer_id": answer_id, "target": "reviewer"},
        "annotations": [
            {"id": 5, "completed_by": 7, "result": [_choice_region("verdict", "correct")]}
        ],
    }
    return [citation, verdict, stranger, wrapped, odd]


def _choice_region(name: str, value: str) -> dict[str, Any]:
    return {"from_name": name, "to_name": "quote", "type": "choices", "value": {"choices": [value]}}


def test_label_studio_round_trip(make_service: ServiceFactory) -> None:
    service, answer_id, reviews = _reviewed(make_service)
    items = reviewed_items(service.log, reviews)
    tasks = label_studio_tasks(items)

    # The config's controls are the names the tasks' predictions use, and every $variable it
    # shows is in each task's data.
    config = ElementTree.fromstring(label_studio_config())
    controls = {node.get("name") for node in config.iter() if node.tag in {"Choices", "TextArea"}}
    variables = set(re.findall(r"\$(\w+)", label_studio_config()))
    for task in tasks:
        assert variables <= set(task["data"])
        for region in task["predictions"][0]["result"]:
            assert region["from_name"] in controls
    reason_choices = {
        node.get("value") for node in config.iter("Choice") if node.get("alias") is not None
    }
    assert reason_choices == {r.value for r in RejectReason}

    report = import_label_studio(_annotated(tasks), service.log, reviews)
    assert report.recorded == 2 and report.unchanged == 0
    # The cancelled annotation, the unknown answer, a negative index, a made-up target.
    assert len(report.skipped) == 4, report.skipped
    # One annotator (Label Studio user 7, written as a number or as the user) is one reviewer.
    labels = reviews.labels_of(answer_id, "label-studio:7")
    citation = labels["citation:0:0"]
    assert (citation.value, citation.reason, citation.note) == (
        "reject",
        "wrong_period",
        "the 2022 column",
    )
    assert labels["verdict"].value == "incorrect"

    # Importing the same export again records nothing new.
    again = import_label_studio(_annotated(tasks), service.log, reviews)
    assert (again.recorded, again.unchanged) == (0, 2) and len(again.skipped) == 4
    # And the imported labels travel out with the next export.
    reviewers = {
        label["reviewer"]
        for item in reviewed_items(service.log, reviews)
        for label in item["labels"]
    }
    assert "label-studio:7" in reviewers
