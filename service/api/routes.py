"""The routes: thin handlers that check the caller's right, call the service, shape the reply."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import asdict
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import HTMLResponse, StreamingResponse
from sqlalchemy import text
from starlette.datastructures import UploadFile as StarletteUploadFile

from engine.answers import AuditRecord
from engine.errors import AnswerEngineError
from ingest.errors import FilingNotFoundError
from ingest.metadata import parse_form
from retrieval.catalog import Catalog, QueryFilters
from service.api.components import ServiceComponents
from service.api.deps import Admin, Analyst, AnyRole, Compliance, Components, Reader
from service.api.errors import map_exception
from service.api.protocol import (
    AnswerPage,
    AnswerPublic,
    AnswerRequest,
    AnswerSummary,
    AssignmentCreate,
    Assignments,
    AuditRecordPublic,
    ErrorEnvelope,
    FeedbackCreate,
    FeedbackPublic,
    FilingList,
    FilingPublic,
    Filters,
    Health,
    JobList,
    JobPublic,
    KeyCreate,
    KeyCreated,
    KeyList,
    KeyPublic,
    Readiness,
)
from service.errors import (
    AnswerNotFoundError,
    InvalidFeedbackError,
    InvalidRequestError,
    InvalidReviewError,
    PermissionDeniedError,
)
from service.evidence import (
    EvidenceBuilder,
    EvidencePackage,
    cited_page_png,
    standalone_html,
)
from service.jobs import Job
from service.keys import Principal, Role, StoredKey
from service.log import AnswerQuery, FeedbackRecord, StoredFeedback
from service.uploads import save_upload

_ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorEnvelope, "description": description}
    for status, description in {
        400: "Malformed request",
        401: "No or bad API key",
        403: "The key's role may not do this",
        404: "Not found",
        413: "Request body too large",
        422: "Invalid request",
        429: "Overloaded or rate-limited; see Retry-After",
        503: "Generator or verifier unavailable; see Retry-After",
    }.items()
}

answers_router = APIRouter(prefix="/v1/answers", tags=["answers"], responses=_ERRORS)
filings_router = APIRouter(tags=["filings"], responses=_ERRORS)
keys_router = APIRouter(prefix="/v1/keys", tags=["keys"], responses=_ERRORS)
ops_router = APIRouter(tags=["operations"])


# ---- answers -------------------------------------------------------------------------------


def _query_filters(components: ServiceComponents, filters: Filters | None) -> QueryFilters | None:
    if filters is None:
        return None
    store = components.store
    names = set()
    for wanted in filters.filings:
        filing = store.filing_by_id(wanted) or store.filing_by_name(wanted)
        if filing is None:
            raise FilingNotFoundError(
                f"no filing with id or name {wanted!r} in the index; GET /v1/filings lists them"
            )
        names.add(filing.name)
    companies: set[str] = set()
    if filters.companies:
        catalog = Catalog.from_store(store)
        for company in filters.companies:
            found = catalog.companies_in(company)
            if not found:
                raise FilingNotFoundError(f"no indexed filing is from a company called {company!r}")
            companies |= found
    return QueryFilters(
        companies=frozenset(companies),
        fiscal_years=frozenset(filters.fiscal_years),
        quarter=filters.quarter,
        form=parse_form(filters.form),
        filings=frozenset(names),
    )


def _sse(event: str, data: Any) -> bytes:
    return f"event: {event}\ndata: {json.dumps(data, default=str)}\n\n".encode()


def _check_question(components: ServiceComponents, question: str) -> None:
    limit = components.settings.max_question_chars
    if len(question) > limit:
        raise InvalidRequestError(
            f"the question is {len(question):,} characters, more than the {limit:,} allowed; "
            "ask something shorter"
        )


@answers_router.post(
    "",
    response_model=AnswerPublic,
    summary="Ask a question; get a verified answer (or a typed refusal)",
    responses={200: {"content": {"text/event-stream": {}}}},
)
async def create_answer(body: AnswerRequest, principal: Analyst, components: Components) -> Any:
    _check_question(components, body.question)
    filters = _query_filters(components, body.filters)
    components.question_limiter.take(principal.key_id)
    service = components.answers
    if not body.stream:
        record = await service.answer(body.question, filters, body.top_k, principal.key_id)
        return AnswerPublic.of(record.answer)

    events: asyncio.Queue[tuple[str, dict[str, Any]]] = asyncio.Queue()
    future = service.submit(
        body.question,
        filters,
        body.top_k,
        principal.key_id,
        on_progress=lambda name, details: events.put_nowait((name, details)),
    )
    waiting, running = service.depth
    return StreamingResponse(
        _stream(components, future, events, waiting, running),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


async def _stream(
    components: ServiceComponents,
    future: asyncio.Future[AuditRecord],
    events: asyncio.Queue[tuple[str, dict[str, Any]]],
    waiting: int,
    running: int,
) -> AsyncIterator[bytes]:
    """Progress as it happens; claims only once the answer is verified and committed, each
    with its verdicts; then the answer itself. No draft text is ever sent."""
    yield _sse("queued", {"waiting": waiting, "running": running})
    result = asyncio.ensure_future(components.answers.wait(future))
    while not result.done():
        getter = asyncio.ensure_future(events.get())
        done, _ = await asyncio.wait({result, getter}, return_when=asyncio.FIRST_COMPLETED)
        if getter in done:
            yield _sse(*getter.result())
        else:
            getter.cancel()
    while not events.empty():
        yield _sse(*events.get_nowait())
    try:
        record = result.result()
    except Exception as exc:
        response = map_exception(exc)
        yield _sse("error", json.loads(bytes(response.body)))
        return
    answer = record.answer
    for index, claim in enumerate(answer.claims):
        yield _sse("claim", {"index": index, **claim.model_dump(mode="json")})
    yield _sse("answer", AnswerPublic.of(answer).model_dump(mode="json"))


def _feedback_public(item: StoredFeedback) -> FeedbackPublic:
    return FeedbackPublic(id=item.id, created_at=item.created_at, **asdict(item.record))


def _readable(components: ServiceComponents, principal: Principal, answer_id: str) -> str | None:
    """The answer's owner, if this caller may read it; an analyst asking for someone else's
    answer is told it does not exist (its existence is not theirs to learn)."""
    owner = components.log.owner(answer_id)
    if principal.role is Role.ANALYST and owner != principal.key_id:
        raise AnswerNotFoundError(f"no answer with id {answer_id}")
    return owner


@answers_router.get(
    "/{answer_id}",
    response_model=AuditRecordPublic,
    summary="The full audit record of an answer",
)
def get_answer(answer_id: str, principal: Reader, components: Components) -> AuditRecordPublic:
    owner = _readable(components, principal, answer_id)
    record = components.log.get(answer_id)
    drafts = principal.role is Role.COMPLIANCE
    return AuditRecordPublic(
        answer=AnswerPublic.of(record.answer),
        filters=record.filters,
        retrieved=record.retrieved,
        context=record.context,
        rounds=record.rounds if drafts else None,
        dropped_claims=record.answer.dropped_claims if drafts else None,
        user_id=owner,
        feedback=[_feedback_public(f) for f in components.log.feedback_for(answer_id)],
    )


def _image_url(answer_id: str) -> Any:
    def url(claim_index: int, citation_index: int) -> str:
        return (
            f"/v1/answers/{answer_id}/evidence/claims/{claim_index + 1}"
            f"/citations/{citation_index + 1}/page.png"
        )

    return url


@answers_router.get(
    "/{answer_id}/evidence",
    response_model=EvidencePackage,
    summary="The evidence package: each citation where it sits on its page, verdicts, versions",
    responses={200: {"content": {"text/html": {}}}},
)
def get_evidence(
    answer_id: str,
    principal: Reader,
    components: Components,
    format: Annotated[
        Literal["json", "html"],
        Query(description="json, or one self-contained HTML page with the page images inline."),
    ] = "json",
) -> Any:
    _readable(components, principal, answer_id)
    record = components.log.get(answer_id)
    drafts = principal.role is Role.COMPLIANCE
    builder = EvidenceBuilder(components.store)
    try:
        if format == "html":
            package = builder.build(record, with_drafts=drafts)
            return HTMLResponse(standalone_html(builder, record, package))
        return builder.build(record, with_drafts=drafts, image_name=_image_url(answer_id))
    finally:
        builder.close()


@answers_router.get(
    "/{answer_id}/evidence/claims/{claim}/citations/{citation}/page.png",
    response_class=Response,
    summary="A cited PDF page with the quote highlighted (claims and citations count from 1)",
    responses={200: {"content": {"image/png": {}}}},
)
def get_evidence_page(
    answer_id: str,
    claim: int,
    citation: int,
    principal: Reader,
    components: Components,
) -> Response:
    _readable(components, principal, answer_id)
    png = cited_page_png(components.store, components.log.get(answer_id), claim, citation)
    return Response(png, media_type="image/png", headers={"Cache-Control": "private, max-age=3600"})


@answers_router.post(
    "/{answer_id}/assignments",
    response_model=Assignments,
    status_code=201,
    summary="Put an answer in compliance reviewers' queues (two or more: double review)",
)
def assign_reviewers(
    answer_id: str, body: AssignmentCreate, principal: Compliance, components: Components
) -> Assignments:
    components.log.get(answer_id)
    reviewers = {
        key.id
        for key in components.keys.list()
        if key.role is Role.COMPLIANCE and not key.revoked_at
    }
    unknown = [reviewer for reviewer in body.reviewers if reviewer not in reviewers]
    if unknown:
        raise InvalidReviewError(
            f"not active compliance keys: {', '.join(unknown)}; GET /v1/keys lists them"
        )
    components.reviews.assign(answer_id, body.reviewers, principal.key_id)
    return Assignments(answer_id=answer_id, reviewers=components.reviews.assignees(answer_id))


@answers_router.get("", response_model=AnswerPage, summary="List answers, newest first")
def list_answers(
    principal: Reader,
    components: Components,
    user: Annotated[
        str | None, Query(max_length=64, description="API key id of the asker.")
    ] = None,
    since: Annotated[datetime | None, Query(description="Created at or after (ISO 8601).")] = None,
    until: Annotated[datetime | None, Query(description="Created before (ISO 8601).")] = None,
    outcome: Annotated[Literal["answered", "partial", "refused"] | None, Query()] = None,
    filing: Annotated[str | None, Query(max_length=255, description="Filing id or name.")] = None,
    model: Annotated[str | None, Query(max_length=255)] = None,
    constitution: Annotated[str | None, Query(max_length=128)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(max_length=512)] = None,
) -> AnswerPage:
    if principal.role is Role.ANALYST:
        if user is not None and user != principal.key_id:
            raise PermissionDeniedError("an analyst may list only their own answers")
        user = principal.key_id
    items, next_cursor = components.log.query(
        AnswerQuery(
            user_id=user,
            since=since,
            until=until,
            outcome=outcome,
            filing=filing,
            model=model,
            constitution=constitution,
        ),
        limit,
        cursor,
    )
    return AnswerPage(
        items=[AnswerSummary.model_validate(item, from_attributes=True) for item in items],
        next_cursor=next_cursor,
    )


def _same_question(left: str, right: str) -> bool:
    return " ".join(left.casefold().split()) == " ".join(right.casefold().split())


@answers_router.post(
    "/{answer_id}/feedback",
    response_model=FeedbackPublic,
    status_code=201,
    summary="Rate an answer, label its claims, correct it, or prefer it to another",
)
def create_feedback(
    answer_id: str, body: FeedbackCreate, principal: Reader, components: Components
) -> FeedbackPublic:
    _readable(components, principal, answer_id)
    answer = components.log.get(answer_id).answer
    for label in body.claim_labels:
        if label.claim_index >= len(answer.claims):
            raise InvalidFeedbackError(
                f"claim_index {label.claim_index} is out of range: the answer has "
                f"{len(answer.claims)} claims"
            )
    if body.preference is not None:
        other_id = body.preference.other_answer_id
        if other_id == answer_id:
            raise InvalidFeedbackError("a preference compares two different answers")
        try:
            _readable(components, principal, other_id)
        except AnswerNotFoundError as exc:
            raise InvalidFeedbackError(f"no answer with id {other_id} to compare with") from exc
        other = components.log.get(other_id).answer
        if not _same_question(other.question, answer.question):
            raise InvalidFeedbackError(
                "a preference compares two answers to the same question; these answer "
                "different questions"
            )
    stored = components.log.add_feedback(
        FeedbackRecord(
            answer_id=answer_id,
            user_id=principal.key_id,
            role=principal.role.value,
            rating=body.rating,
            comment=body.comment,
            claim_labels=[label.model_dump() for label in body.claim_labels],
            corrected_answer=body.corrected_answer,
            other_answer_id=body.preference.other_answer_id if body.preference else None,
            preferred=body.preference.preferred if body.preference else None,
        )
    )
    return _feedback_public(stored)


# ---- filings and jobs ------------------------------------------------------------------------


def _job_public(job: Job) -> JobPublic:
    return JobPublic(
        id=job.id,
        kind=job.kind,
        status=job.status,
        filing_name=job.filing_name,
        filing_id=job.filing_id,
        created_at=job.created_at,
        started_at=job.started_at,
        finished_at=job.finished_at,
        error=job.error,
        result=job.result,
    )


@filings_router.get("/v1/filings", response_model=FilingList, summary="Indexed filings")
def list_filings(_: AnyRole, components: Components) -> FilingList:
    store = components.store
    return FilingList(
        items=[
            FilingPublic(
                id=filing.id,
                name=filing.name,
                company=filing.metadata.company,
                form_type=filing.metadata.form_type.value if filing.metadata.form_type else None,
                fiscal_year=filing.metadata.fiscal_year,
                fiscal_period=filing.metadata.fiscal_period,
                period_end=filing.metadata.period_end,
                pages=filing.page_count,
            )
            for filing in store.filings()
        ],
        index_version=store.index_version,
    )


# The upload's body is described here rather than as a ``File`` parameter: FastAPI reads and
# parses a declared body before it resolves any dependency, so a body parameter would spool a
# 100 MB upload from anyone before the key was checked. The route reads the body itself, after
# ``Admin`` has passed.
_UPLOAD_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {
                        "file": {
                            "type": "string",
                            "format": "binary",
                            "description": "The filing: .pdf, .htm, .html or .xhtml.",
                        }
                    },
                }
            }
        },
    }
}


@filings_router.post(
    "/v1/filings",
    response_model=JobPublic,
    status_code=202,
    summary="Upload a filing (PDF or EDGAR HTML); it is ingested by a background job",
    openapi_extra=_UPLOAD_BODY,
)
async def upload_filing(principal: Admin, components: Components, request: Request) -> JobPublic:
    settings = components.settings
    # Malformed multipart framing is Starlette's 400, through the error envelope.
    async with request.form(max_files=1, max_fields=8) as form:
        file = form.get("file")
        if not isinstance(file, StarletteUploadFile):
            raise InvalidRequestError(
                "send the filing as the multipart/form-data field 'file' "
                "(curl -F file=@ACME_2023_10K.pdf)"
            )

        async def chunks() -> AsyncIterator[bytes]:
            while chunk := await file.read(1 << 20):
                yield chunk

        saved = await save_upload(
            chunks(), file.filename, settings.data_dir, settings.max_upload_bytes
        )
    job = await asyncio.to_thread(
        components.jobs.create,
        "ingest",
        saved.name,
        principal.key_id,
        path=saved.path,
        sha256=saved.sha256,
    )
    components.worker.notify()
    return _job_public(job)


@filings_router.delete(
    "/v1/filings/{filing_id}",
    response_model=JobPublic,
    status_code=202,
    summary="Remove a filing from the index (a background job)",
)
def delete_filing(filing_id: str, principal: Admin, components: Components) -> JobPublic:
    filing = components.store.filing_by_id(filing_id)
    if filing is None:
        raise FilingNotFoundError(f"no filing with id {filing_id}; GET /v1/filings lists them")
    job = components.jobs.create("delete", filing.name, principal.key_id, filing_id=filing.id)
    components.worker.notify()
    return _job_public(job)


@filings_router.get("/v1/jobs/{job_id}", response_model=JobPublic, summary="A filing job")
def get_job(job_id: str, _: Admin, components: Components) -> JobPublic:
    return _job_public(components.jobs.get(job_id))


@filings_router.get("/v1/jobs", response_model=JobList, summary="Recent filing jobs")
def list_jobs(
    _: Admin, components: Components, limit: Annotated[int, Query(ge=1, le=500)] = 100
) -> JobList:
    return JobList(items=[_job_public(job) for job in components.jobs.list(limit)])


# ---- keys ------------------------------------------------------------------------------------


def _key_public(key: StoredKey) -> KeyPublic:
    return KeyPublic(
        id=key.id,
        name=key.name,
        role=key.role.value,
        created_at=key.created_at,
        revoked_at=key.revoked_at,
    )


@keys_router.post("", response_model=KeyCreated, status_code=201, summary="Create an API key")
def create_key(body: KeyCreate, _: Admin, components: Components) -> KeyCreated:
    secret, stored = components.keys.create(Role(body.role), body.name)
    return KeyCreated(**_key_public(stored).model_dump(), key=secret)


@keys_router.get("", response_model=KeyList, summary="API keys (never their secrets)")
def list_keys(_: Admin, components: Components) -> KeyList:
    return KeyList(items=[_key_public(key) for key in components.keys.list()])


@keys_router.delete("/{key_id}", response_model=KeyPublic, summary="Revoke an API key")
def revoke_key(key_id: str, _: Admin, components: Components) -> KeyPublic:
    return _key_public(components.keys.revoke(key_id))


# ---- operations ------------------------------------------------------------------------------


@ops_router.get("/healthz", response_model=Health, summary="The process is up")
def healthz() -> Health:
    return Health(status="ok")


@ops_router.get(
    "/readyz",
    response_model=Readiness,
    summary="Ready to serve (database, models, generator), and whether the index has filings",
    responses={503: {"model": Readiness}},
)
def readyz(request: Request, response: Response) -> Readiness:
    components: ServiceComponents = request.app.state.components
    checks: dict[str, str] = {}
    has_filings = False
    try:
        with components.engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        checks["database"] = "ok"
    except Exception as exc:
        checks["database"] = f"unreachable: {exc}"
    try:
        store = components.store
        has_filings = store.config is not None and bool(store.filings())
        checks["index"] = (
            f"ok ({len(store.filings())} filings, {store.vector_count} vectors)"
            if has_filings
            else "empty: ingest a filing (POST /v1/filings or `verirag ingest`)"
        )
    except Exception as exc:
        checks["index"] = f"unreadable: {exc}"
    checks["models"] = "ok" if components.warm else "loading"
    if components.warm:
        try:
            components.pipeline.generator.warm_up()
            checks["generator"] = "ok"
        except AnswerEngineError as exc:
            checks["generator"] = f"unreachable: {exc}"
    else:
        checks["generator"] = "loading"
    # An empty index is ready to serve: behind a load balancer that routes only to ready pods,
    # a new deployment must take its first upload.
    ready = all(
        value.startswith("ok") or (name == "index" and value.startswith("empty"))
        for name, value in checks.items()
    )
    if not ready:
        response.status_code = 503
    versions = components.pipeline.versions().model_dump() if components.warm else None
    return Readiness(ready=ready, has_filings=has_filings, checks=checks, versions=versions)


@ops_router.get(
    "/metrics",
    summary="Prometheus metrics",
    response_class=Response,
    responses={200: {"content": {"text/plain": {}}}},
)
def metrics(request: Request) -> Response:
    components: ServiceComponents = request.app.state.components
    components.metrics.jobs_pending.set(components.jobs.pending())
    return Response(
        components.metrics.render(), media_type="text/plain; version=0.0.4; charset=utf-8"
    )
