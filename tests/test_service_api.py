"""The REST API through httpx (Starlette's TestClient) against the real app: real index,
real retrieval and embedding model, real SQLite and PostgreSQL. The generator and the judge are
scripted (the seams these tests are not about), so an answer takes milliseconds."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests import filings
from tests.service_app import ServiceFactory, expect_error, wait_for_job
from tests.test_answer_pipeline import QUESTION, ScriptedGenerator, good_draft, mixed_draft
from tests.test_verifier import BrokenJudge

# ---- answering -------------------------------------------------------------------------------


def test_an_analyst_gets_a_verified_answer_and_its_audit_record(
    make_service: ServiceFactory,
) -> None:
    service = make_service()
    response = service.ask(top_k=8)
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["answer"] == "$1,577 million" and not answer["refused"]
    (claim,) = answer["claims"]
    (citation,) = claim["citations"]
    assert citation["filing"] == "ACME_2023_10K" and citation["page"] == 3
    assert citation["section"] and citation["sentence_id"].startswith("s")
    assert citation["quote_start"] is not None and citation["sentence_end"] > 0
    assert set(claim["verdicts"].values()) == {"pass"}
    versions = answer["versions"]
    assert versions["model"] == "scripted" and versions["constitution"].startswith("sec-filings")
    assert answer["drafted_by"] == "scripted"
    assert versions["index"] != "empty" and "judge" in versions
    assert answer["timings"]["queue_ms"] >= 0 and answer["timings"]["total_ms"] > 0

    # Acknowledged means committed: the row is there for any other connection.
    assert answer["id"] in service.log.ids()
    record = service.request("GET", f"/v1/answers/{answer['id']}", "alice").json()
    assert record["answer"] == answer
    assert record["user_id"] == service.ids["alice"]
    assert record["retrieved"] and all("score" in chunk for chunk in record["retrieved"])
    assert record["rounds"] is None  # drafts are for compliance's eyes
    audit = service.request("GET", f"/v1/answers/{answer['id']}", "carol").json()
    (round_,) = audit["rounds"]
    assert round_["messages"][0]["role"] == "system" and round_["raw_generation"]
    assert round_["report"][0]["passed"] is True
    assert record["feedback"] == []


def test_a_line_item_question_is_answered_by_the_statement_lookup(
    make_service: ServiceFactory,
) -> None:
    generator = ScriptedGenerator(good_draft)
    service = make_service(generator=generator, statement_lookup=True)
    answer = service.ask(top_k=8).json()
    assert answer["drafted_by"] == "statement-lookup@1" and not answer["refused"]
    assert answer["answer"] == "$1,577 million" and generator.calls == []
    (claim,) = answer["claims"]
    (citation,) = claim["citations"]
    # The income statement's row, in the 2023 column, rather than the MD&A's sentence.
    assert citation["page"] == 4 and citation["quote"] == "Net sales $ 1,577 $ 1,408 $ 1,322"
    assert set(claim["verdicts"].values()) == {"pass"}
    assert answer["versions"]["model"] == "scripted"


def test_listing_filters_and_pages(make_service: ServiceFactory) -> None:
    service = make_service()
    asked = [service.ask(question=f"{QUESTION} ({n})").json()["id"] for n in range(3)]
    service.ask("bob")
    page = service.request("GET", "/v1/answers", "alice", params={"limit": 2}).json()
    assert [item["id"] for item in page["items"]] == asked[::-1][:2]
    rest = service.request(
        "GET", "/v1/answers", "alice", params={"limit": 2, "cursor": page["next_cursor"]}
    ).json()
    assert [item["id"] for item in rest["items"]] == [asked[0]] and rest["next_cursor"] is None

    everyone = service.request("GET", "/v1/answers", "carol").json()["items"]
    assert len(everyone) == 4
    bobs = service.request("GET", "/v1/answers", "carol", params={"user": service.ids["bob"]})
    assert [item["user_id"] for item in bobs.json()["items"]] == [service.ids["bob"]]
    by_filing = service.request(
        "GET", "/v1/answers", "carol", params={"filing": "ACME_2023_10K", "outcome": "answered"}
    ).json()["items"]
    assert len(by_filing) == 4
    assert (
        service.request("GET", "/v1/answers", "carol", params={"filing": "OTHER_2020_10K"}).json()[
            "items"
        ]
        == []
    )
    assert (
        service.request(
            "GET", "/v1/answers", "carol", params={"model": "scripted", "outcome": "refused"}
        ).json()["items"]
        == []
    )
    later = service.request(
        "GET", "/v1/answers", "carol", params={"since": "2100-01-01T00:00:00Z"}
    ).json()
    assert later["items"] == []
    expect_error(
        service.request("GET", "/v1/answers", "carol", params={"cursor": "not-a-cursor"}),
        422,
        "invalid_cursor",
    )


def test_feedback_is_stored_append_only_with_labels_corrections_and_preferences(
    make_service: ServiceFactory,
) -> None:
    service = make_service(generator=ScriptedGenerator(good_draft))
    first = service.ask().json()["id"]
    second = service.ask(question=QUESTION.upper()).json()["id"]
    other_question = service.ask(question="What was Acme's operating income?").json()["id"]
    response = service.request(
        "POST",
        f"/v1/answers/{first}/feedback",
        "alice",
        json={
            "rating": 4,
            "comment": "right figure",
            "claim_labels": [{"claim_index": 0, "label": "supported"}],
            "corrected_answer": "$1,577 million in fiscal 2023",
            "preference": {"other_answer_id": second, "preferred": "this"},
        },
    )
    assert response.status_code == 201, response.text
    stored = response.json()
    assert stored["answer_id"] == first and stored["role"] == "analyst"
    review = service.request(
        "POST", f"/v1/answers/{first}/feedback", "carol", json={"comment": "checked page 4"}
    )
    assert review.status_code == 201 and review.json()["role"] == "compliance"
    record = service.request("GET", f"/v1/answers/{first}", "carol").json()
    assert [f["id"] for f in record["feedback"]] == [stored["id"], review.json()["id"]]
    assert record["feedback"][0]["claim_labels"] == [{"claim_index": 0, "label": "supported"}]
    assert record["feedback"][0]["preferred"] == "this"

    before = len(service.log.feedback_for(first))
    for body, kind in [
        ({}, "invalid_request"),
        ({"rating": 9}, "invalid_request"),
        ({"claim_labels": [{"claim_index": 5, "label": "supported"}]}, "invalid_feedback"),
        ({"claim_labels": [{"claim_index": 0, "label": "great"}]}, "invalid_request"),
        (
            {"preference": {"other_answer_id": other_question, "preferred": "other"}},
            "invalid_feedback",
        ),
        ({"preference": {"other_answer_id": "a0", "preferred": "other"}}, "invalid_feedback"),
        ({"rating": 3, "surprise": True}, "invalid_request"),
    ]:
        expect_error(
            service.request("POST", f"/v1/answers/{first}/feedback", "alice", json=body),
            422,
            kind,
        )
    assert len(service.log.feedback_for(first)) == before


# ---- roles -----------------------------------------------------------------------------------


def test_every_route_enforces_its_role(make_service: ServiceFactory) -> None:
    service = make_service()
    alices = service.ask("alice").json()["id"]
    bobs = service.ask("bob").json()["id"]

    # An analyst cannot see that another analyst's answer exists, list it, or rate it.
    expect_error(service.request("GET", f"/v1/answers/{bobs}", "alice"), 404, "answer_not_found")
    listed = service.request("GET", "/v1/answers", "alice").json()["items"]
    assert [item["id"] for item in listed] == [alices]
    expect_error(
        service.request("GET", "/v1/answers", "alice", params={"user": service.ids["bob"]}),
        403,
        "forbidden",
    )
    expect_error(
        service.request("POST", f"/v1/answers/{bobs}/feedback", "alice", json={"rating": 1}),
        404,
        "answer_not_found",
    )
    # Compliance reads and reviews everything but does not ask.
    assert service.request("GET", f"/v1/answers/{bobs}", "carol").status_code == 200
    assert (
        service.request("POST", f"/v1/answers/{bobs}/feedback", "carol", json={"rating": 2})
    ).status_code == 201
    expect_error(service.ask("carol"), 403, "forbidden")
    # Admin manages filings and keys, and reads no answers.
    expect_error(service.request("GET", f"/v1/answers/{alices}", "root"), 403, "forbidden")
    expect_error(service.request("GET", "/v1/answers", "root"), 403, "forbidden")
    expect_error(service.ask("root"), 403, "forbidden")

    admin_only = [
        ("GET", "/v1/keys", None),
        ("POST", "/v1/keys", {"role": "analyst", "name": "x"}),
        ("DELETE", f"/v1/keys/{service.ids['bob']}", None),
        ("GET", "/v1/jobs", None),
        ("GET", "/v1/jobs/j000", None),
        ("DELETE", "/v1/filings/f000", None),
    ]
    for who in ("alice", "carol"):
        for method, path, body in admin_only:
            expect_error(service.request(method, path, who, json=body), 403, "forbidden")
        upload = service.request(
            "POST", "/v1/filings", who, files={"file": ("x.pdf", b"%PDF-1.4", "application/pdf")}
        )
        expect_error(upload, 403, "forbidden")
    for who in ("alice", "carol", "root"):
        assert service.request("GET", "/v1/filings", who).status_code == 200

    # No key, a malformed key, an unknown key, a revoked key.
    expect_error(service.request("GET", "/v1/filings"), 401, "unauthenticated")
    for bad in ("nonsense", "vr_k0000_secret", service.keys["bob"][:-2] + "xx"):
        response = service.request("GET", "/v1/filings", headers={"Authorization": f"Bearer {bad}"})
        expect_error(response, 401, "unauthenticated")
        assert response.headers["www-authenticate"] == "Bearer"
    created = service.request(
        "POST", "/v1/keys", "root", json={"role": "analyst", "name": "temp"}
    ).json()
    assert created["key"].startswith("vr_") and created["role"] == "analyst"
    temp = {"Authorization": f"Bearer {created['key']}"}
    assert service.request("GET", "/v1/filings", headers=temp).status_code == 200
    listed_keys = service.request("GET", "/v1/keys", "root").json()["items"]
    assert all("key" not in item and "secret_hash" not in item for item in listed_keys)
    assert service.request("DELETE", f"/v1/keys/{created['id']}", "root").json()["revoked_at"]
    expect_error(service.request("GET", "/v1/filings", headers=temp), 401, "unauthenticated")


def test_keys_are_stored_hashed(make_service: ServiceFactory) -> None:
    from sqlalchemy import select

    from service.db import api_keys

    service = make_service()
    with service.engine.connect() as connection:
        hashes = [row[0] for row in connection.execute(select(api_keys.c.secret_hash))]
    assert len(hashes) == 4 and all(h.startswith("$argon2id$") for h in hashes)
    # The secret is everything after the key id; it may itself contain "_".
    secrets = [key.split("_", 2)[2] for key in service.keys.values()]
    assert all(len(secret) >= 40 for secret in secrets)
    assert not any(secret in stored for secret in secrets for stored in hashes)


@pytest.mark.parametrize("scope", ["process", "database"])
def test_per_key_rate_limits(make_service: ServiceFactory, scope: str) -> None:
    service = make_service(rate_limit_per_minute=3, rate_limit_scope=scope)
    for _ in range(3):
        assert service.request("GET", "/v1/filings", "alice").status_code == 200
    error = expect_error(service.request("GET", "/v1/filings", "alice"), 429, "rate_limited")
    assert error["retry_after_seconds"] > 0
    # Another key has its own budget.
    assert service.request("GET", "/v1/filings", "bob").status_code == 200


# ---- bad input -------------------------------------------------------------------------------


def test_bad_questions_get_typed_4xx_and_store_nothing(make_service: ServiceFactory) -> None:
    service = make_service(max_question_chars=200, max_request_bytes=4096)
    headers = {**service.headers("alice"), "Content-Type": "application/json"}
    cases = [
        (service.ask(question=""), 422, "invalid_request"),
        (service.ask(question="   \n "), 422, "invalid_request"),
        (service.ask(question="x" * 201), 422, "invalid_request"),
        (service.ask(top_k=0), 422, "invalid_request"),
        (service.ask(filters={"filings": ["NOPE_2023_10K"]}), 404, "filing_not_found"),
        (service.ask(filters={"companies": ["Nonexistent Corp"]}), 404, "filing_not_found"),
        (service.ask(filters={"fiscal_years": [12]}), 422, "invalid_request"),
        (service.ask(unexpected=1), 422, "invalid_request"),
        (
            service.client.post("/v1/answers", content=b'{"question": ', headers=headers),
            400,
            "malformed_json",
        ),
        (
            service.client.post("/v1/answers", content=b"[1, 2]", headers=headers),
            422,
            "invalid_request",
        ),
        (
            service.client.post(
                "/v1/answers",
                content=json.dumps({"question": "y" * 5000}).encode(),
                headers=headers,
            ),
            413,
            "request_too_large",
        ),
        (service.request("GET", "/v1/answers/a123", "alice"), 404, "answer_not_found"),
        (service.request("GET", "/v1/nowhere", "alice"), 404, "not_found"),
        (service.request("PUT", "/v1/answers", "alice"), 405, "method_not_allowed"),
    ]
    for response, status, kind in cases:
        expect_error(response, status, kind)
    assert service.log.count() == 0


def test_the_openapi_document_describes_routes_and_the_error_envelope(
    make_service: ServiceFactory,
) -> None:
    spec = make_service().client.get("/openapi.json").json()
    paths = spec["paths"]
    for path in [
        "/v1/answers",
        "/v1/answers/{answer_id}",
        "/v1/answers/{answer_id}/feedback",
        "/v1/filings",
        "/v1/filings/{filing_id}",
        "/v1/jobs/{job_id}",
        "/v1/keys",
        "/healthz",
        "/readyz",
        "/metrics",
    ]:
        assert path in paths, path
    post = paths["/v1/answers"]["post"]
    assert post["responses"]["429"]["content"]["application/json"]["schema"]["$ref"].endswith(
        "ErrorEnvelope"
    )
    assert "HTTPBearer" in json.dumps(spec["components"]["securitySchemes"])


# ---- failure behaviour -----------------------------------------------------------------------


class GatedGenerator(ScriptedGenerator):
    """Holds every generation until the test opens the gate."""

    def __init__(self) -> None:
        super().__init__(good_draft)
        self.gate = threading.Event()
        self.started = threading.Semaphore(0)

    def generate(self, *args: Any, **kwargs: Any) -> Any:
        self.started.release()
        assert self.gate.wait(30)
        return super().generate(*args, **kwargs)


def test_a_full_queue_sheds_with_429_and_retry_after(make_service: ServiceFactory) -> None:
    generator = GatedGenerator()
    service = make_service(generator=generator, answer_workers=1, answer_queue_size=1)
    results: list[httpx.Response] = []

    def ask(n: int) -> None:
        results.append(service.ask(question=f"{QUESTION} #{n}"))

    first = threading.Thread(target=ask, args=(1,))
    first.start()
    assert generator.started.acquire(timeout=30)  # the worker is busy with the first
    second = threading.Thread(target=ask, args=(2,))
    second.start()
    deadline = time.monotonic() + 10
    while service.client.app.state.components.answers.depth != (1, 1):  # type: ignore[attr-defined]
        assert time.monotonic() < deadline
        time.sleep(0.01)
    shed = service.ask(question=f"{QUESTION} #3")
    error = expect_error(shed, 429, "overloaded")
    assert int(shed.headers["retry-after"]) >= 1 and error["retry_after_seconds"] >= 1
    generator.gate.set()
    first.join(30)
    second.join(30)
    assert sorted(r.status_code for r in results) == [200, 200]
    assert service.log.count() == 2
    metrics = service.client.get("/metrics").text
    assert 'verirag_requests_shed_total{reason="queue_full"} 1.0' in metrics


def test_questions_that_would_wait_too_long_are_shed(make_service: ServiceFactory) -> None:
    generator = GatedGenerator()
    service = make_service(
        generator=generator, answer_workers=1, answer_queue_size=8, answer_max_wait_seconds=15
    )
    answers = service.client.app.state.components.answers  # type: ignore[attr-defined]
    answers._recent_seconds.extend([10.0] * 3)  # answers have been taking 10 s
    results: list[httpx.Response] = []
    threads = [
        threading.Thread(target=lambda n=n: results.append(service.ask(question=f"{QUESTION} {n}")))
        for n in range(2)
    ]
    threads[0].start()
    assert generator.started.acquire(timeout=30)
    threads[1].start()  # waits about 10 s: admitted
    deadline = time.monotonic() + 10
    while answers.depth != (1, 1):
        assert time.monotonic() < deadline
        time.sleep(0.01)
    # A third would wait about 20 s, over the 15 s bound, though the queue has room.
    shed = service.ask(question=f"{QUESTION} 3")
    assert expect_error(shed, 429, "overloaded")["retry_after_seconds"] == 10
    generator.gate.set()
    for thread in threads:
        thread.join(30)
    assert sorted(r.status_code for r in results) == [200, 200]


def test_a_dead_generator_gets_503_with_retry_after_and_no_answer(
    make_service: ServiceFactory,
) -> None:
    import socket

    from engine.openai_generator import OpenAIChatGenerator

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    generator = OpenAIChatGenerator(
        base_url=f"http://127.0.0.1:{port}/v1", model="m", retries=0, timeout_seconds=2
    )
    service = make_service(generator=generator)
    ready = service.client.get("/readyz")
    assert ready.status_code == 503 and ready.json()["checks"]["generator"].startswith("unreach")
    error = expect_error(service.ask(), 503, "generator_unavailable")
    assert error["retry_after_seconds"] >= 1
    # Known down: the next question is refused at once, not queued behind a dead backend.
    expect_error(service.ask(), 503, "generator_unavailable")
    assert service.log.count() == 0


def test_a_verifier_that_cannot_run_fails_closed(make_service: ServiceFactory) -> None:
    service = make_service(judge=BrokenJudge())
    expect_error(service.ask(), 503, "verifier_unavailable")
    assert service.log.count() == 0


def test_health_readiness_and_metrics(make_service: ServiceFactory) -> None:
    service = make_service()
    assert service.client.get("/healthz").json() == {"status": "ok"}
    ready = service.client.get("/readyz").json()
    assert ready["ready"] and set(ready["checks"]) == {"database", "index", "models", "generator"}
    assert ready["has_filings"] and ready["checks"]["index"].startswith("ok (1 filings")
    assert ready["versions"]["constitution"].startswith("sec-filings")
    service.ask()
    text = service.client.get("/metrics").text
    assert 'verirag_answers_total{outcome="answered"} 1.0' in text
    assert 'verirag_stage_seconds_count{stage="generate"} 1.0' in text
    assert 'verirag_claim_verdicts_total{rule="quote-verbatim",verdict="pass"} 1.0' in text
    assert 'verirag_http_requests_total{method="POST",route="/v1/answers",status="200"}' in text
    assert "verirag_answer_queue_depth 0.0" in text


# ---- streaming -------------------------------------------------------------------------------


def _events(response: httpx.Response) -> list[tuple[str, dict[str, Any]]]:
    events = []
    for block in response.text.strip().split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.splitlines())
        events.append((lines["event"], json.loads(lines["data"])))
    return events


def test_streaming_releases_only_verified_claims_after_the_answer_is_logged(
    make_service: ServiceFactory,
) -> None:
    service = make_service(generator=ScriptedGenerator(mixed_draft), revision_rounds=0)
    response = service.ask(stream=True)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    events = _events(response)
    names = [name for name, _ in events]
    assert names[0] == "queued" and names[1] == "retrieved" and names[2] == "round"
    assert names[-1] == "answer"
    answer = events[-1][1]
    claims = [data for name, data in events if name == "claim"]
    # The draft had three claims; two failed verification and never left the service.
    assert events[2][1]["claims"] == 3 and events[2][1]["verified"] == 1
    assert [c["text"] for c in claims] == [c["text"] for c in answer["claims"]]
    assert len(claims) == 1 and set(claims[0]["verdicts"].values()) == {"pass"}
    assert answer["partial"] and len(answer["dropped_claims"]) == 2
    assert all("$1,900" not in json.dumps(data) for name, data in events if name == "claim")
    assert answer["id"] in service.log.ids()


def test_streaming_reports_a_failure_as_an_error_event(make_service: ServiceFactory) -> None:
    service = make_service(judge=BrokenJudge())
    events = _events(service.ask(stream=True))
    assert events[-1][0] == "error"
    assert events[-1][1]["error"]["type"] == "verifier_unavailable"
    assert not any(name == "claim" for name, _ in events)


# ---- filings ---------------------------------------------------------------------------------


def test_an_empty_service_is_ready_and_takes_its_first_filing(
    make_service: ServiceFactory, tmp_path: Path
) -> None:
    """Ready to serve is not having filings: a new deployment behind a load balancer that
    routes only to ready pods must take its first upload. /readyz says both."""
    service = make_service(data_dir=tmp_path / "empty-index")
    ready = service.client.get("/readyz")
    assert ready.status_code == 200, ready.text
    body = ready.json()
    assert body["ready"] and not body["has_filings"]
    assert body["checks"]["index"].startswith("empty")
    early = service.ask()  # answered, as a refusal that says why
    assert early.status_code == 200 and early.json()["refused"]
    assert early.json()["versions"]["index"] == "empty"
    pdf = filings.write_10k(tmp_path / "GLOBEX_2022_10K.pdf", company="Globex Corporation")
    with pdf.open("rb") as handle:
        response = service.request(
            "POST", "/v1/filings", "root", files={"file": (pdf.name, handle, "application/pdf")}
        )
    assert response.status_code == 202, response.text
    assert wait_for_job(service, response.json()["id"])["status"] == "done"
    after = service.client.get("/readyz").json()
    assert after["ready"] and after["has_filings"]


def test_upload_ingests_in_the_background_and_delete_removes(
    make_service: ServiceFactory, tmp_path: Path
) -> None:
    service = make_service()
    pdf = filings.write_10k(tmp_path / "GLOBEX_2022_10K.pdf", company="Globex Corporation")
    with pdf.open("rb") as handle:
        response = service.request(
            "POST", "/v1/filings", "root", files={"file": (pdf.name, handle, "application/pdf")}
        )
    assert response.status_code == 202, response.text
    job = wait_for_job(service, response.json()["id"])
    assert job["status"] == "done" and job["result"]["outcome"] == "ingested", job
    listed = service.request("GET", "/v1/filings", "alice").json()
    names = {item["name"]: item for item in listed["items"]}
    assert set(names) == {"ACME_2023_10K", "GLOBEX_2022_10K"}

    # The running service answers from the new filing without a restart.
    answer = service.ask(filters={"filings": ["GLOBEX_2022_10K"]}).json()
    assert {c["filing"] for claim in answer["claims"] for c in claim["citations"]} == {
        "GLOBEX_2022_10K"
    }

    gone = service.request("DELETE", f"/v1/filings/{names['GLOBEX_2022_10K']['id']}", "root")
    assert gone.status_code == 202
    assert wait_for_job(service, gone.json()["id"])["result"]["outcome"] == "removed"
    after = service.request("GET", "/v1/filings", "alice").json()["items"]
    assert [item["name"] for item in after] == ["ACME_2023_10K"]
    expect_error(
        service.request("DELETE", "/v1/filings/f-unknown", "root"), 404, "filing_not_found"
    )
    expect_error(service.request("GET", "/v1/jobs/j-unknown", "root"), 404, "job_not_found")


def test_bad_uploads_are_refused_and_nothing_changes(
    make_service: ServiceFactory, tmp_path: Path
) -> None:
    service = make_service(max_upload_bytes=200_000)
    before = service.request("GET", "/v1/filings", "root").json()
    encrypted = filings.write_encrypted(tmp_path / "LOCKED_2023_10K.pdf").read_bytes()
    real = filings.write_10k(tmp_path / "REAL_2023_10K.pdf").read_bytes()
    cases = [
        (("notes.txt", b"hello", "text/plain"), 400, "bad_upload"),
        (("FAKE_2023_10K.pdf", b"<html>not a pdf</html>", "application/pdf"), 400, "bad_upload"),
        (("../../etc/EVIL_2023_10K.pdf", real, "application/pdf"), 400, "bad_upload"),
        (("..\\EVIL_2023_10K.pdf", real, "application/pdf"), 400, "bad_upload"),
        (("LOCKED_2023_10K.pdf", encrypted, "application/pdf"), 400, "bad_upload"),
        (("EMPTY_2023_10K.pdf", b"", "application/pdf"), 400, "bad_upload"),
        (("HUGE_2023_10K.pdf", b"%PDF-1.4\n" + b"0" * 400_000, "application/pdf"), 413, None),
    ]
    for file, status, kind in cases:
        response = service.request("POST", "/v1/filings", "root", files={"file": file})
        expect_error(response, status, kind or "request_too_large")
    expect_error(
        service.request("POST", "/v1/filings", "root", data={"other": "x"}), 422, "invalid_request"
    )
    assert service.request("GET", "/v1/jobs", "root").json()["items"] == []
    assert service.request("GET", "/v1/filings", "root").json() == before
    uploads = tmp_path / "index" / "uploads"
    assert not uploads.exists() or not any(p.is_file() for p in uploads.rglob("*"))


class ExplodingGenerator(ScriptedGenerator):
    def generate(self, *args: Any, **kwargs: Any) -> Any:
        raise StopIteration  # the worst thing a thread can hand an asyncio future


class ExplodingRetriever:
    def retrieve(self, *args: Any, **kwargs: Any) -> Any:
        raise StopIteration


def test_an_unexpected_failure_is_a_typed_envelope_not_a_hang(
    make_service: ServiceFactory,
) -> None:
    service = make_service(generator=ExplodingGenerator(good_draft), answer_timeout_seconds=30)
    pipeline = service.client.app.state.components.pipeline  # type: ignore[attr-defined]
    started = time.monotonic()
    # A generator's own failure is the generator's 503 ...
    expect_error(service.ask(), 503, "generator_failed")
    # ... and anything else the last-resort 500.
    retriever, pipeline.retriever = pipeline.retriever, ExplodingRetriever()
    expect_error(service.ask(), 500, "internal_error")
    assert time.monotonic() - started < 10
    assert service.log.count() == 0
    # The worker survived: the next question is answered.
    pipeline.retriever = retriever
    pipeline.generator = ScriptedGenerator(good_draft)
    assert service.ask().status_code == 200
