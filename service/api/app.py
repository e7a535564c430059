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
    )
    app.add_middleware(
        RequestContextMiddleware,
        metrics=metrics,
        max_request_bytes=settings.max_request_bytes,
        max_upload_bytes=settings.max_upload_bytes,
    )
    install_error_handlers(app)
    for router in (answers_router, filings_router, keys_router, ops_router):
        app.include_router(router)
    return app
