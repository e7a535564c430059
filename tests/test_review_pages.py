"""The reviewers' pages: roles, the login cookie, the queue, per-citation decisions stored as
events, the agreement page and /docs with no CDN; then the same in headless Chromium
(Debian's package, driven by Playwright; skipped, with the reason, where it is absent), which
writes screenshots of the queue and the answer view for a person to look at."""

from __future__ import annotations

import json
import os
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from service.review import CitationDecision, RejectReason, ReviewStore, Verdict
from tests.service_app import Service, ServiceFactory, expect_error, sqlite_only

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARTIFACTS = Path(
    os.environ.get("VERIRAG_TEST_ARTIFACTS", Path(__file__).parents[1] / "test-artifacts")
)


def _logged_in(service: Service, who: str = "carol") -> None:
    response = service.client.post(
        "/review/login", data={"key": service.keys[who], "next": "/review"}, follow_redirects=False
    )
    assert response.status_code == 303 and response.headers["location"] == "/review"
    cookie = response.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/review" in cookie
    # The cookie holds a session token, never the API key.
    assert service.keys[who] not in cookie


@sqlite_only
def test_only_compliance_reviews(make_service: ServiceFactory) -> None:
    service = make_service(review_secure_cookie=False)
    service.ask()
    anonymous = service.client.get("/review", follow_redirects=False)
    assert anonymous.status_code == 303 and anonymous.headers["location"].startswith(
        "/review/login"
    )
    expect_error(service.request("GET", "/review", "alice"), 403, "forbidden")
    expect_error(service.request("GET", "/review", "root"), 403, "forbidden")
    refused = service.client.post("/review/login", data={"key": service.keys["alice"]})
    expect_error(refused, 403, "forbidden")
    wrong = service.client.post("/review/login", data={"key": "vr_k0000_nonsense"})
    assert wrong.status_code == 200 and "Unknown or revoked key" in wrong.text
    assert "verirag_review_key" not in wrong.headers.get("set-cookie", "")
    # A login link cannot send the reviewer off the site.
    away = service.client.post(
        "/review/login",
        data={"key": service.keys["carol"], "next": "https://evil.example/"},
        follow_redirects=False,
    )
    assert away.headers["location"] == "/review"
    # The JSON API takes no cookie: the review session is not an API key.
    service.client.cookies.set("verirag_review_key", service.keys["carol"])
    expect_error(service.client.get("/v1/answers"), 401, "unauthenticated")


def test_sessions_end_at_logout_and_with_their_key(make_service: ServiceFactory) -> None:
    service = make_service(review_secure_cookie=False)
    _logged_in(service)
    session = service.client.cookies.get("verirag_review_key")
    assert service.client.get("/review").status_code == 200
    assert service.client.post("/review/logout", follow_redirects=False).status_code == 303
    # The old token no longer opens a page, even if a copy of the cookie survived.
    service.client.cookies.set("verirag_review_key", session, path="/review")
    again = service.client.get("/review", follow_redirects=False)
    assert again.status_code == 303 and again.headers["location"].startswith("/review/login")
    _logged_in(service)
    service.request("DELETE", f"/v1/keys/{service.ids['carol']}", "root")
    revoked = service.client.get("/review", follow_redirects=False)
    assert revoked.status_code == 303 and "verirag_review_key" in revoked.headers["set-cookie"]


@sqlite_only
def test_the_session_cookie_is_secure_off_loopback(make_service: ServiceFactory) -> None:
    service = make_service()  # review_secure_cookie unset: decided by the address
    response = service.client.post(
        "/review/login", data={"key": service.keys["carol"]}, follow_redirects=False
    )
    assert "Secure" in response.headers["set-cookie"]  # http://testserver is not loopback


def test_a_reviewer_works_through_the_queue(make_service: ServiceFactory) -> None:
    service = make_service(review_secure_cookie=False)
    answer_id = service.ask().json()["id"]
    refused_id = service.ask(question="What is the weather on Mars?").json()["id"]
    reviews = ReviewStore(service.engine)
    reviews.assign(answer_id, [service.ids["carol"], "other-reviewer"], by="lead")
    _logged_in(service)

    mine = service.client.get("/review")
    assert mine.status_code == 200 and f"/review/answers/{answer_id}" in mine.text
    assert f"/review/answers/{refused_id}" not in mine.text
    unreviewed = service.client.get("/review", params={"view": "unreviewed"}).text
    assert answer_id in unreviewed and refused_id in unreviewed
    assert refused_id in service.client.get("/review", params={"view": "refused"}).text
    assert answer_id not in service.client.get("/review", params={"view": "refused"}).text
    audit = service.client.get("/review", params={"view": "audit", "seed": 3}).text
    assert audit == service.client.get("/review", params={"view": "audit", "seed": 3}).text
    bad_view = service.client.get("/review", params={"view": "everything"})
    assert bad_view.status_code == 422

    page = service.client.get(f"/review/answers/{answer_id}")
    assert page.status_code == 200
    image = f"/review/answers/{answer_id}/claims/1/citations/1/page.png"
    assert image in page.text and "/review/static/review.js" in page.text
    assert service.client.get(image).content.startswith(b"\x89PNG")
    assert service.client.get("/review/static/review.js").status_code == 200

    target = f"/review/answers/{answer_id}/claims/1/citations/1"
    expect_error(service.client.post(target, data={"decision": "reject"}), 422, "invalid_review")
    expect_error(
        service.client.post(target, data={"decision": "reject", "reason": "bad vibes"}),
        422,
        "invalid_review",
    )
    expect_error(
        service.client.post(
            f"/review/answers/{answer_id}/claims/1/citations/9", data={"decision": "accept"}
        ),
        404,
        "citation_not_found",
    )
    rejected = service.client.post(
        target,
        data={"decision": "reject", "reason": "wrong_period", "note": "2022 column"},
        follow_redirects=False,
    )
    assert rejected.status_code == 303
    accepted = service.client.post(target, data={"decision": "accept"}, follow_redirects=False)
    assert accepted.status_code == 303
    verdict = service.client.post(
        f"/review/answers/{answer_id}/verdict", data={"verdict": "correct"}, follow_redirects=False
    )
    assert verdict.status_code == 303

    events = [e for e in reviews.events(answer_id) if e.action == "label"]
    assert [(e.actor_id, e.target, e.value, e.reason) for e in events] == [
        (service.ids["carol"], "citation:0:0", "reject", "wrong_period"),
        (service.ids["carol"], "citation:0:0", "accept", None),
        (service.ids["carol"], "verdict", "correct", None),
    ]
    assert events[1].previous is not None and events[1].previous["reason"] == "wrong_period"
    # Reviewed: out of "mine" and "unreviewed".
    assert answer_id not in service.client.get("/review").text
    assert answer_id not in service.client.get("/review", params={"view": "unreviewed"}).text
    assert "History" in service.client.get(f"/review/answers/{answer_id}").text

    # A second reviewer disagrees; the agreement page lists it and an adjudication settles it.
    reviews.label_citation(
        answer_id, "other-reviewer", 0, 0, CitationDecision.REJECT, RejectReason.WRONG_ROW
    )
    reviews.label_verdict(answer_id, "other-reviewer", Verdict.CORRECT)
    agreement = service.client.get("/review/agreement").text
    assert "citation:0:0" in agreement and "reject:wrong_row" in agreement
    # A reviewer in the dispute cannot settle it; another compliance reviewer can.
    expect_error(
        service.client.post(
            f"/review/answers/{answer_id}/adjudicate",
            data={"target": "citation:0:0", "value": "accept"},
        ),
        422,
        "invalid_review",
    )
    lead = service.request(
        "POST", "/v1/keys", "root", json={"role": "compliance", "name": "lead"}
    ).json()
    settled = service.client.post(
        f"/review/answers/{answer_id}/adjudicate",
        data={"target": "citation:0:0", "value": "accept"},
        headers={"Authorization": f"Bearer {lead['key']}"},
        follow_redirects=False,
    )
    assert settled.status_code == 303
    assert reviews.final_labels(answer_id)[(answer_id, "citation:0:0")] == "accept"


@sqlite_only
def test_compliance_assigns_answers_over_the_api(make_service: ServiceFactory) -> None:
    service = make_service(review_secure_cookie=False)
    answer_id = service.ask().json()["id"]
    path = f"/v1/answers/{answer_id}/assignments"
    carol = service.ids["carol"]
    expect_error(
        service.request("POST", path, "alice", json={"reviewers": [carol]}), 403, "forbidden"
    )
    not_a_reviewer = service.request(
        "POST", path, "carol", json={"reviewers": [service.ids["bob"]]}
    )
    expect_error(not_a_reviewer, 422, "invalid_review")
    dave = service.request(
        "POST", "/v1/keys", "root", json={"role": "compliance", "name": "dave"}
    ).json()["id"]
    assigned = service.request("POST", path, "carol", json={"reviewers": [carol, dave]})
    assert assigned.status_code == 201, assigned.text
    assert assigned.json() == {"answer_id": answer_id, "reviewers": [carol, dave]}
    again = service.request("POST", path, "carol", json={"reviewers": [dave]})
    assert again.json()["reviewers"] == [carol, dave]  # no second assignment event
    expect_error(
        service.request(
            "POST", "/v1/answers/a0000/assignments", "carol", json={"reviewers": [carol]}
        ),
        404,
        "answer_not_found",
    )
    _logged_in(service)
    assert f"/review/answers/{answer_id}" in service.client.get("/review").text


@sqlite_only
def test_a_review_form_posted_from_another_site_is_refused(make_service: ServiceFactory) -> None:
    service = make_service(review_secure_cookie=False)
    answer_id = service.ask().json()["id"]
    _logged_in(service)
    target = f"/review/answers/{answer_id}/claims/1/citations/1"
    for header in ({"Origin": "https://evil.example"}, {"Referer": "https://evil.example/page"}):
        expect_error(
            service.client.post(target, data={"decision": "accept"}, headers=header),
            403,
            "forbidden",
        )
    assert ReviewStore(service.engine).events(answer_id) == []
    same_site = service.client.post(
        target,
        data={"decision": "accept"},
        headers={"Origin": "http://testserver"},
        follow_redirects=False,
    )
    assert same_site.status_code == 303
    assert len(ReviewStore(service.engine).events(answer_id)) == 1


@sqlite_only
def test_docs_render_from_local_assets(make_service: ServiceFactory) -> None:
    service = make_service(review_secure_cookie=False)
    docs = service.client.get("/docs")
    assert docs.status_code == 200
    assert "/docs/static/swagger-ui-bundle.js" in docs.text and "cdn" not in docs.text.lower()
    assert service.client.get("/docs/static/swagger-ui-bundle.js").status_code == 200
    assert service.client.get("/docs/static/swagger-ui.css").status_code == 200
    assert service.client.get("/redoc").status_code == 404


# ---- in a real browser -----------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def served(make_service: ServiceFactory) -> Iterator[tuple[Service, str]]:
    """The service on a real port (its components are the test client's, already started)."""
    service = make_service(review_secure_cookie=False)
    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            service.client.app, host="127.0.0.1", port=port, lifespan="off", log_level="warning"
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    yield service, f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


@pytest.mark.skipif(
    not Path(CHROMIUM).exists(),
    reason="needs Debian's chromium (scripts/test installs it: apt-get install chromium)",
)
@sqlite_only
def test_a_reviewer_rejects_a_citation_in_the_browser(served: tuple[Service, str]) -> None:
    from playwright.sync_api import sync_playwright

    service, url = served
    answer_id = service.ask().json()["id"]
    ReviewStore(service.engine).assign(answer_id, [service.ids["carol"]], by="lead")
    out = ARTIFACTS / "review"
    out.mkdir(parents=True, exist_ok=True)
    timings: dict[str, Any] = {}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ],
        )
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        outside: list[str] = []
        page.on(
            "request",
            lambda request: (
                outside.append(request.url) if not request.url.startswith((url, "data:")) else None
            ),
        )
        page.goto(f"{url}/review")
        assert "/review/login" in page.url
        page.fill("input[name=key]", service.keys["carol"])
        page.click("button[type=submit]")
        page.wait_for_selector("#queue")
        timings["queue_ms"] = page.evaluate(
            "performance.getEntriesByType('navigation')[0].duration"
        )
        page.screenshot(path=str(out / "queue.png"), full_page=True)

        page.click(f"a[href='/review/answers/{answer_id}']")
        image = page.wait_for_selector(".citation img")
        page.wait_for_function("document.querySelector('.citation img').naturalWidth > 0")
        timings["answer_ms"] = page.evaluate(
            "performance.getEntriesByType('navigation')[0].duration"
        )
        assert image.evaluate("img => img.naturalWidth") > 500
        page.screenshot(path=str(out / "answer.png"), full_page=True)

        # Keyboard: r focuses the reject reason; choose one and submit.
        page.keyboard.press("r")
        assert page.evaluate("document.activeElement.name") == "reason"
        citation = page.locator(".citation").first
        citation.locator("select[name=reason]").select_option("wrong_figure")
        citation.locator("input[name=note]").fill("the 2022 figure")
        citation.locator("form.reject-form button").click()
        page.wait_for_selector(".citation .decision strong.reject")
        assert "Wrong figure" in citation.locator(".decision").inner_text()
        page.screenshot(path=str(out / "answer-rejected.png"), full_page=True)

        page.goto(f"{url}/docs")
        page.wait_for_selector(".swagger-ui .info .title", timeout=20_000)
        assert "verirag" in page.inner_text(".swagger-ui .info .title")
        page.screenshot(path=str(out / "docs.png"))
        browser.close()
    assert outside == []  # every asset came from the service itself

    (event,) = [e for e in ReviewStore(service.engine).events(answer_id) if e.action == "label"]
    assert (event.actor_id, event.target, event.value, event.reason, event.note) == (
        service.ids["carol"],
        "citation:0:0",
        "reject",
        "wrong_figure",
        "the 2022 figure",
    )
    (out / "timings.json").write_text(json.dumps(timings, indent=2) + "\n")
    print(f"review pages in Chromium: {timings}; screenshots in {out}")
