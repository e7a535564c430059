"""The reviewers' pages at /review: server-rendered (Jinja2), every asset served by the app,
for the compliance role only.

A browser cannot send a bearer header from a link, so the pages also take the key from a
session cookie set by the login form (HttpOnly, SameSite=Strict: another site can neither read
it nor make the browser send it with a form post). The JSON API accepts only the header.
Every decision posted here becomes an append-only review event (``service.review``).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from fastapi.templating import Jinja2Templates

from service.api.components import ServiceComponents
from service.api.deps import Components, authenticate
from service.errors import (
    AuthenticationError,
    CitationNotFoundError,
    InvalidReviewError,
    PermissionDeniedError,
)
from service.evidence import (
    EvidenceBuilder,
    citation_at,
    cited_page_png,
    standalone_html,
)
from service.keys import Principal, Role
from service.log import AnswerQuery
from service.review import (
    REASON_TITLES,
    VERDICT_TARGET,
    CitationDecision,
    RejectReason,
    Verdict,
    citation_target,
)

COOKIE = "verirag_review_key"
_TEMPLATES = Jinja2Templates(directory=str(Path(__file__).resolve().parents[1] / "templates"))
_bearer = HTTPBearer(auto_error=False)
# How many recent answers the queue's views look through.
_RECENT = 500

review_router = APIRouter(prefix="/review", include_in_schema=False)

QueueView = Literal["mine", "unreviewed", "refused", "partial", "low_margin", "audit"]
_VIEW_TITLES: dict[str, str] = {
    "mine": "Assigned to me",
    "unreviewed": "Unreviewed",
    "refused": "Refused",
    "partial": "Partial",
    "low_margin": "Low verifier margin",
    "audit": "Random audit sample",
}


def _compliance_only(principal: Principal) -> Principal:
    if principal.role is not Role.COMPLIANCE:
        raise PermissionDeniedError(
            f"the review pages are for the compliance role; this key has the "
            f"{principal.role.value} role"
        )
    return principal


def _reviewer_or_none(
    request: Request,
    components: Components,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal | None:
    """The compliance reviewer, from a bearer key or the session cookie; None when there is
    neither, or the session ended (the page sends the browser to the login form). A key of
    another role is refused with 403."""
    if credentials is not None:
        return _compliance_only(authenticate(request, components, credentials.credentials))
    token = request.cookies.get(COOKIE)
    if not token:
        return None
    try:
        principal = components.sessions.principal(token)
    except AuthenticationError:
        return None
    components.request_limiter.take(principal.key_id)
    return _compliance_only(principal)


MaybeReviewer = Annotated[Principal | None, Depends(_reviewer_or_none)]


def _reviewer(request: Request, principal: MaybeReviewer) -> Principal:
    if principal is None:
        raise AuthenticationError("log in at /review/login with a compliance key")
    if request.method == "POST":
        _same_origin(request)
    return principal


def _same_origin(request: Request) -> None:
    """Refuse a form posted from another site. The cookie is SameSite=Strict already; this is
    the second lock, for browsers or proxies that do not honour it."""
    sent = request.headers.get("origin") or request.headers.get("referer")
    if not sent or sent == "null":
        return
    if urlsplit(sent).netloc != request.headers.get("host", request.url.netloc):
        raise PermissionDeniedError("a review form posted from another site is refused")


Reviewer = Annotated[Principal, Depends(_reviewer)]


def _login_redirect(request: Request) -> RedirectResponse:
    response = RedirectResponse(f"/review/login?next={request.url.path}", status_code=303)
    if COOKIE in request.cookies:
        response.delete_cookie(COOKIE, path="/review")
    return response


def _page(request: Request, name: str, **context: Any) -> HTMLResponse:
    return _TEMPLATES.TemplateResponse(request, name, context)


# ---- login -----------------------------------------------------------------------------------


@review_router.get("/login", response_class=HTMLResponse)
def login_form(request: Request, next: str = "/review", error: str | None = None) -> HTMLResponse:
    return _page(request, "review_login.html", next=_local(next), error=error)


def _local(path: str) -> str:
    """Only a path on this site: a login link cannot send a reviewer elsewhere."""
    return path if path.startswith("/review") and "//" not in path else "/review"


def _secure_cookie(request: Request, components: ServiceComponents) -> bool:
    chosen = components.settings.review_secure_cookie
    if chosen is not None:
        return chosen
    loopback = (request.url.hostname or "") in {"localhost", "127.0.0.1", "::1"}
    return request.url.scheme == "https" or not loopback


@review_router.post("/login")
def login(
    request: Request,
    components: Components,
    key: Annotated[str, Form(max_length=256)],
    next: Annotated[str, Form(max_length=512)] = "/review",
) -> Response:
    _same_origin(request)
    try:
        principal = authenticate(request, components, key.strip())
    except AuthenticationError:
        return _page(
            request, "review_login.html", next=_local(next), error="Unknown or revoked key."
        )
    _compliance_only(principal)
    response = RedirectResponse(_local(next), status_code=303)
    # The cookie carries a session token, never the key: logging out ends the session on the
    # server, and a stolen cookie is no API key.
    response.set_cookie(
        COOKIE,
        components.sessions.open(principal),
        httponly=True,
        samesite="strict",
        secure=_secure_cookie(request, components),
        max_age=8 * 3600,
        path="/review",
    )
    return response


@review_router.post("/logout")
def logout(request: Request, components: Components) -> Response:
    _same_origin(request)
    token = request.cookies.get(COOKIE)
    if token:
        components.sessions.close(token)
    response = RedirectResponse("/review/login", status_code=303)
    response.delete_cookie(COOKIE, path="/review")
    return response


# ---- the queue -------------------------------------------------------------------------------


def _weakest_entailment(components: ServiceComponents, answer_id: str) -> float | None:
    scores = [
        claim.entailment
        for claim in components.log.get(answer_id).answer.claims
        if claim.entailment is not None
    ]
    return min(scores) if scores else None


def _queue(
    components: ServiceComponents,
    principal: Principal,
    view: str,
    filing: str | None,
    model: str | None,
    seed: int,
) -> list[Any]:
    reviews = components.reviews
    if view == "mine":
        # From the assignments themselves: an assignment on an old answer is never crowded out
        # of the queue by newer traffic.
        pending = {
            answer_id
            for answer_id in reviews.assigned_to(principal.key_id)
            if VERDICT_TARGET not in reviews.labels_of(answer_id, principal.key_id)
        }
        mine, _ = components.log.query(
            AnswerQuery(ids=frozenset(pending), filing=filing or None, model=model or None),
            limit=max(len(pending), 1),
        )
        return list(mine)
    outcome = view if view in ("refused", "partial") else None
    recent, _ = components.log.query(
        AnswerQuery(outcome=outcome, filing=filing or None, model=model or None),  # type: ignore[arg-type]
        limit=_RECENT,
    )
    if view == "unreviewed":
        reviewed = reviews.reviewed_answer_ids()
        return [item for item in recent if item.id not in reviewed]
    if view == "low_margin":
        below = components.settings.review_low_margin
        weakest = {item.id: _weakest_entailment(components, item.id) for item in recent}
        return [
            item for item in recent if (score := weakest[item.id]) is not None and score < below
        ]
    if view == "audit":
        sample = set(reviews.audit_sample([item.id for item in recent], 20, seed))
        return [item for item in recent if item.id in sample]
    return list(recent)


@review_router.get("", response_class=HTMLResponse)
def queue(
    request: Request,
    principal: MaybeReviewer,
    components: Components,
    view: QueueView = "mine",
    filing: Annotated[str | None, Query(max_length=255)] = None,
    model: Annotated[str | None, Query(max_length=255)] = None,
    seed: Annotated[int | None, Query(description="Audit sample seed (default: today).")] = None,
) -> Response:
    if principal is None:
        return _login_redirect(request)
    seed = seed if seed is not None else dt.date.today().toordinal()
    items = _queue(components, principal, view, filing, model, seed)
    reviewed = components.reviews.reviewed_answer_ids()
    return _page(
        request,
        "review_queue.html",
        principal=principal,
        view=view,
        views=_VIEW_TITLES,
        items=items,
        reviewed=reviewed,
        filing=filing or "",
        model=model or "",
        seed=seed,
    )


# ---- one answer ------------------------------------------------------------------------------


@review_router.get("/answers/{answer_id}", response_class=HTMLResponse)
def answer_view(
    request: Request, answer_id: str, principal: MaybeReviewer, components: Components
) -> Response:
    if principal is None:
        return _login_redirect(request)
    record = components.log.get(answer_id)
    builder = EvidenceBuilder(components.store)
    try:
        package = builder.build(
            record,
            with_drafts=True,
            image_name=lambda c, k: (
                f"/review/answers/{answer_id}/claims/{c + 1}/citations/{k + 1}/page.png"
            ),
        )
    finally:
        builder.close()
    reviews = components.reviews
    mine = reviews.labels_of(answer_id, principal.key_id)
    # Blind double review: until this reviewer's verdict, the history shows only their own.
    blind = not reviews.sees_others(answer_id, principal.key_id)
    events = [e for e in reviews.events(answer_id) if not blind or e.actor_id == principal.key_id]
    return _page(
        request,
        "review_answer.html",
        principal=principal,
        package=package,
        mine=mine,
        citation_target=citation_target,
        reasons=REASON_TITLES,
        verdicts=list(Verdict),
        assignees=reviews.assignees(answer_id),
        events=events,
        blind=blind,
    )


@review_router.get("/answers/{answer_id}/evidence.html", response_class=HTMLResponse)
def evidence_file(answer_id: str, principal: Reviewer, components: Components) -> Response:
    """The self-contained evidence package, to save beside a review."""
    record = components.log.get(answer_id)
    builder = EvidenceBuilder(components.store)
    try:
        return HTMLResponse(
            standalone_html(builder, record, builder.build(record, with_drafts=True))
        )
    finally:
        builder.close()


@review_router.get("/answers/{answer_id}/claims/{claim}/citations/{citation}/page.png")
def page_image(
    answer_id: str, claim: int, citation: int, principal: Reviewer, components: Components
) -> Response:
    png = cited_page_png(components.store, components.log.get(answer_id), claim, citation)
    return Response(png, media_type="image/png", headers={"Cache-Control": "private, max-age=3600"})


@review_router.post("/answers/{answer_id}/claims/{claim}/citations/{citation}")
def label_citation(
    answer_id: str,
    claim: int,
    citation: int,
    principal: Reviewer,
    components: Components,
    decision: Annotated[CitationDecision, Form()],
    reason: Annotated[str, Form(max_length=32)] = "",
    note: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    if citation_at(components.log.get(answer_id), claim - 1, citation - 1) is None:
        raise CitationNotFoundError(f"answer {answer_id} has no claim {claim} citation {citation}")
    try:
        code = RejectReason(reason) if reason else None
    except ValueError as exc:
        raise InvalidReviewError(
            f"unknown reason code {reason!r}; use one of "
            + ", ".join(r.value for r in RejectReason)
        ) from exc
    components.reviews.label_citation(
        answer_id,
        principal.key_id,
        claim - 1,
        citation - 1,
        decision,
        code if decision is CitationDecision.REJECT else None,
        note or None,
    )
    return RedirectResponse(
        f"/review/answers/{answer_id}#claim{claim}-citation{citation}", status_code=303
    )


@review_router.post("/answers/{answer_id}/verdict")
def label_verdict(
    answer_id: str,
    principal: Reviewer,
    components: Components,
    verdict: Annotated[Verdict, Form()],
    note: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    components.log.get(answer_id)
    components.reviews.label_verdict(answer_id, principal.key_id, verdict, note or None)
    return RedirectResponse(f"/review/answers/{answer_id}#verdict", status_code=303)


# ---- agreement and adjudication --------------------------------------------------------------


@review_router.get("/agreement", response_class=HTMLResponse)
def agreement_page(request: Request, principal: MaybeReviewer, components: Components) -> Response:
    if principal is None:
        return _login_redirect(request)
    return _page(
        request,
        "review_agreement.html",
        principal=principal,
        report=components.reviews.agreement(),
        # A reviewer still owing a verdict on an answer does not see its disputes.
        disagreements=[
            item
            for item in components.reviews.disagreements()
            if components.reviews.sees_others(item.answer_id, principal.key_id)
        ],
    )


@review_router.post("/answers/{answer_id}/adjudicate")
def adjudicate(
    answer_id: str,
    principal: Reviewer,
    components: Components,
    target: Annotated[str, Form(max_length=64)],
    value: Annotated[str, Form(max_length=64)],
    note: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    components.log.get(answer_id)
    components.reviews.adjudicate(answer_id, principal.key_id, target, value, note or None)
    return RedirectResponse("/review/agreement", status_code=303)
