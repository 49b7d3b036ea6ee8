"""The ASGI app: `create_app()` builds one Service and mounts every router."""

from __future__ import annotations

from contextlib import asynccontextmanager
from collections.abc import AsyncIterator

from fastapi import FastAPI

from touchpoints.server import dashboard, live, surveys, webhooks
from touchpoints.server.service import Service
from touchpoints.settings import Settings


def create_app(settings: Settings | None = None, target: str | None = None) -> FastAPI:
    service = Service(settings, target)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        service.close()

    app = FastAPI(title="Touchpoints", lifespan=lifespan)
    app.state.service = service
    for module in (webhooks, surveys, live, dashboard):
        app.include_router(module.router)
    return app
