"""The FastAPI application: built by ``create_app``, served by ``verirag serve``."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

from fastapi import FastAPI

from service.api.components import ServiceComponents, build_components
from service.api.errors import install_error_handlers
from service.api.metrics import ServiceMetrics
from service.api.middleware import RequestContextMiddleware
from service.api.review_pages import review_router
from service.api.routes import answers_router, filings_router, keys_router, ops_router

if TYPE_CHECKING:
    from engine.settings import Settings

logger = logging.getLogger(__name__)

ComponentsFactory = Callable[["Settings", ServiceMetrics], ServiceComponents]


def create_app(
    settings: Settings | None = None, components: ComponentsFactory | None = None
) -> FastAPI:
    """``components`` builds the service's parts from Settings (default: the configured
    models); tests pass one that injects the seams they are not about."""
    from engine.settings import get_settings

    settings = settings or get_settings()
    factory = components or build_components
    # One registry for the middleware (created with the app) and the components (at startup).
    metrics = ServiceMetrics()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        built = await asyncio.to_thread(factory, settings, metrics)
        app.state.components = built
        await asyncio.to_thread(built.warm_up)
        built.start()
        logger.info("ready", extra={"data_dir": str(settings.data_dir)})
        try:
            yield
        finally:
            await asyncio.to_thread(built.stop)

    app = FastAPI(
        title="verirag",
        summary="Verifiable answers over SEC filings: every claim quoted, cited and checked.",
        version="1",
        lifespan=lifespan,
        # /docs is served below from swagger-ui-bundle's files: FastAPI's own page loads
        # Swagger UI from a CDN and is blank on a machine without internet.
        docs_url=None,
        redoc_url=None,
    )
    app.add_middleware(
        RequestContextMiddleware,
        metrics=metrics,
        max_request_bytes=settings.max_request_bytes,
        max_upload_bytes=settings.max_upload_bytes,
    )
    install_error_handlers(app)
    for router in (answers_router, filings_router, keys_router, ops_router, review_router):
        app.include_router(router)
    _serve_local_assets(app)
    return app


def _serve_local_assets(app: FastAPI) -> None:
    """The review pages' and Swagger UI's files, from the installed packages."""
    from importlib.resources import files
    from pathlib import Path

    from fastapi.openapi.docs import get_swagger_ui_html
    from fastapi.responses import HTMLResponse
    from fastapi.staticfiles import StaticFiles

    static = Path(__file__).resolve().parents[1] / "static"
    app.mount("/review/static", StaticFiles(directory=static), name="review-static")
    swagger = Path(str(files("fastapi_offline") / "static"))
    app.mount("/docs/static", StaticFiles(directory=swagger), name="docs-static")

    @app.get("/docs", include_in_schema=False)
    def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=app.openapi_url or "/openapi.json",
            title="verirag API",
            swagger_js_url="/docs/static/swagger-ui-bundle.js",
            swagger_css_url="/docs/static/swagger-ui.css",
            swagger_favicon_url="/review/static/favicon.svg",
        )
