"""The ASGI app: `create_app()` builds one Service and mounts every router.

One pure-ASGI middleware (cheaper per request than Starlette's BaseHTTPMiddleware) does
what every response needs: the body size limit, security headers and the request
metrics. Errors a user can act on become 4xx with `{"detail": "..."}`; anything else is
a 500 whose body names no internals (the log has the traceback).
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from touchpoints.core.errors import NotFoundError, OutOfMemoryError, TouchpointsError
from touchpoints.core.settings import Settings
from touchpoints.server import api, cache, csrf
from touchpoints.server.metrics import Metrics
from touchpoints.server.service import Service

log = logging.getLogger("touchpoints.server")

STATIC_DIR = Path(__file__).resolve().parent.parent / "web" / "static"
CSP = (
    "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "frame-ancestors 'none'; base-uri 'self'; form-action 'self'; object-src 'none'"
)
# Swagger UI (vendored under /static/vendor/swagger-ui) starts with an inline script.
DOCS_CSP = (
    "default-src 'self'; script-src 'self' 'unsafe-inline'; "
    "style-src 'self' 'unsafe-inline'; img-src 'self' data:; worker-src blob:; "
    "frame-ancestors 'none'; base-uri 'self'; object-src 'none'"
)
SECURITY_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    # same-origin, not no-referrer: with no-referrer browsers send `Origin: null` on the
    # site's own form posts, which the CSRF check must refuse; other sites still get none.
    (b"referrer-policy", b"same-origin"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"permissions-policy", b"camera=(), microphone=(), geolocation=()"),
]
DOCS_PATHS = ("/docs",)


class EdgeMiddleware:
    """Body size limit, security headers (HSTS when configured), the CSRF cookie a page
    asked for, and per-route metrics for every HTTP request."""

    def __init__(
        self, app: ASGIApp, max_body_bytes: int, metrics: Metrics, hsts_seconds: int = 0
    ) -> None:
        self.app = app
        self.limit = max_body_bytes
        self.metrics = metrics
        self.hsts = (
            f"max-age={hsts_seconds}; includeSubDomains".encode() if hsts_seconds > 0 else None
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        began = time.perf_counter()
        status = 500
        started = False
        path = scope["path"]
        csp = (DOCS_CSP if path.startswith(DOCS_PATHS) else CSP).encode()
        https = scope.get("scheme") == "https"

        async def send_with_headers(message: Message) -> None:
            nonlocal status, started
            if message["type"] == "http.response.start":
                started = True
                status = message["status"]
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"server"]
                headers += SECURITY_HEADERS
                headers.append((b"content-security-policy", csp))
                if self.hsts is not None and https:
                    headers.append((b"strict-transport-security", self.hsts))
                fresh = (scope.get("state") or {}).get(csrf.STATE)
                if fresh:
                    headers.append((b"set-cookie", csrf.set_cookie_header(fresh, https)))
                message = {**message, "headers": headers}
            await send(message)

        declared = next((v for k, v in scope["headers"] if k == b"content-length"), None)
        if declared is not None and declared.isdigit() and int(declared) > self.limit:
            response = JSONResponse(
                {"detail": f"request body larger than the limit of {self.limit:,} bytes"}, 413
            )
            await response(scope, receive, send_with_headers)
        elif _has_nul(scope):
            # No filter, id or name holds a NUL; PostgreSQL would refuse it with an error.
            response = JSONResponse({"detail": "a NUL character in the URL"}, 400)
            await response(scope, receive, send_with_headers)
        else:
            try:
                await self.app(scope, self._counting(receive), send_with_headers)
            except Exception:
                # Answered here (not by Starlette's outermost handler) so that a 500 gets
                # the security headers too; the traceback goes to the log only.
                if status != 500 or started:
                    raise
                log.exception("unexpected error on %s %s", scope["method"], path)
                await JSONResponse(
                    {"detail": "internal error; the server log has the details"}, 500
                )(scope, receive, send_with_headers)
        route = scope.get("route")
        name = getattr(route, "path", None) or "(unmatched)"
        self.metrics.observe(scope["method"], name, status, time.perf_counter() - began)

    def _counting(self, receive: Receive) -> Receive:
        """Count streamed bytes: a body without Content-Length is stopped at the limit."""
        size = 0
        limit = self.limit

        async def counted() -> Message:
            nonlocal size
            message = await receive()
            if message["type"] == "http.request":
                size += len(message.get("body", b""))
                if size > limit:
                    raise api.BodyTooLarge(limit)
            return message

        return counted


def _has_nul(scope: Scope) -> bool:
    return "\x00" in scope["path"] or b"%00" in scope.get("query_string", b"")


def create_app(
    settings: Settings | None = None, target: str | None = None, announce: str | None = None
) -> FastAPI:
    """The whole HTTP side over one Service (one store connection per process).

    `announce`: the URL this server listens on, set by `serve` and `demo-serve`: on a DuckDB
    file, other processes then reach the store through it (`server.local`)."""
    from touchpoints.server import local

    service = Service(settings, target)
    metrics = Metrics()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        door = local.open_door(app, service, announce) if announce else None
        tasks = [asyncio.create_task(_repeat(*job)) for job in _housekeeping(service)]
        if door is not None:
            tasks.append(asyncio.create_task(local.reap_forever(door)))
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
            if door is not None:
                await asyncio.to_thread(local.close_door, door)
            service.close()

    app = FastAPI(
        title="Touchpoints",
        summary="Ingest customer interactions at every touchpoint and measure them.",
        version="1",
        lifespan=lifespan,
        # The default pages load Swagger UI and ReDoc from a CDN; /docs below serves a copy.
        docs_url=None,
        redoc_url=None,
    )
    app.state.service = service
    app.state.metrics = metrics
    app.add_middleware(
        EdgeMiddleware,
        max_body_bytes=service.settings.max_body_bytes,
        metrics=metrics,
        hsts_seconds=service.settings.hsts_seconds,
    )
    if service.settings.trusted_proxies:
        # Outermost: the scheme and client address are the proxy's word before anything
        # (cookies' Secure flag, HSTS, CSRF origins, rate limits) reads them.
        from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

        app.add_middleware(ProxyHeadersMiddleware, trusted_hosts=service.settings.trusted_proxies)
    redact_access_log()
    _error_handlers(app)

    @app.get("/healthz", summary="Liveness: the store answers a query (no auth)")
    def healthz() -> JSONResponse:
        try:
            service.read(lambda store: store.query("SELECT 1 AS ok"))
        except Exception as exc:  # the store is down: say so, do not crash
            log.warning("health check failed: %s", type(exc).__name__)
            return JSONResponse({"status": "unavailable", "engine": service.store.engine}, 503)
        return JSONResponse({"status": "ok", "engine": service.store.engine})

    @app.get(
        "/metrics",
        summary="Prometheus metrics (no auth: counts only; restrict at the proxy)",
        response_class=PlainTextResponse,
    )
    def prometheus() -> PlainTextResponse:
        text = metrics.render() + cache.metrics_text(service)
        return PlainTextResponse(text, media_type="text/plain; version=0.0.4")

    @app.get("/docs", include_in_schema=False)
    def docs() -> HTMLResponse:
        from fastapi.openapi.docs import get_swagger_ui_html

        return get_swagger_ui_html(
            openapi_url="/openapi.json",
            title="Touchpoints API",
            swagger_js_url="/static/vendor/swagger-ui/swagger-ui-bundle.js",
            swagger_css_url="/static/vendor/swagger-ui/swagger-ui.css",
            swagger_favicon_url="/static/favicon.svg",
            # Swagger UI would otherwise ask validator.swagger.io for a badge.
            swagger_ui_parameters={"validatorUrl": None},
        )

    app.include_router(api.router)
    app.include_router(local.router)
    from touchpoints.server import attendant, dashboard, live, login, surveys, webhooks

    for module in (webhooks, attendant, surveys, login, live, dashboard):
        app.include_router(module.router)
    if STATIC_DIR.is_dir():
        from fastapi.staticfiles import StaticFiles

        app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    return app


# Credentials that travel in URLs: survey links (/s/<token>) and provider handshakes.
_SECRET_PATH = re.compile(r"^/s/[^/?]+")
_SECRET_QUERY = re.compile(r"(?i)((?:^|[?&])(?:token|hub\.verify_token|key|secret)=)[^&]*")


def redact(path: str) -> str:
    """A request line's path with tokens replaced by `[redacted]`."""
    path = _SECRET_PATH.sub("/s/[redacted]", path)
    return _SECRET_QUERY.sub(r"\1[redacted]", path)


class RedactTokens(logging.Filter):
    """uvicorn's access log line without the credentials a URL may carry."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) >= 3 and isinstance(args[2], str):
            record.args = (*args[:2], redact(args[2]), *args[3:])
        return True


def redact_access_log() -> None:
    access = logging.getLogger("uvicorn.access")
    if not any(isinstance(f, RedactTokens) for f in access.filters):
        access.addFilter(RedactTokens())


def _housekeeping(service: Service) -> list[tuple[str, float, Callable[[], object]]]:
    """What the server does on its own, as (name, every seconds, job): the comment
    retention period (LGPD/GDPR) daily, the weekly report when a directory is set, and
    the alerts (e-mail, webhooks) when an alerts file is set."""
    from touchpoints.ingest.privacy import purge_comments
    from touchpoints.reports.schedule import write_due_report

    settings = service.settings
    jobs: list[tuple[str, float, Callable[[], object]]] = []
    if settings.comment_retention_days is not None:
        days = settings.comment_retention_days
        jobs.append(
            (
                "comment retention",
                24 * 3600,
                lambda: service.read(purge_comments, days, scrub=False),
            )
        )
    if settings.report_dir:
        jobs.append(
            (
                "weekly report",
                600,
                lambda: service.read(write_due_report, settings, datetime.now(UTC)),
            )
        )
    if settings.alerts:
        from touchpoints.reports import alerts

        # A broken file, or one naming a touchpoint the catalog lacks, stops the start.
        config = alerts.load_config(settings.alerts)
        service.read(lambda store: alerts.check_touchpoints(config, store.catalog().ids))
        jobs.append(
            (
                "alerts",
                config.every_seconds,
                lambda: alerts.summary(alerts.check(service.read, config, settings)),
            )
        )
    if settings.attendant:
        from touchpoints.server.attendant import release_queue

        jobs.append(("attendant queue", 60, lambda: release_queue(service)))
    return jobs


async def _repeat(name: str, every: float, job: Callable[[], object]) -> None:
    """Run `job` in a worker thread now and then every `every` seconds; a failure is
    logged (without details that could hold personal data) and tried again next time."""
    from starlette.concurrency import run_in_threadpool

    while True:
        try:
            log.info("%s: %s", name, await run_in_threadpool(job))
        except Exception as exc:
            log.warning("%s failed: %s", name, type(exc).__name__)
        await asyncio.sleep(every)


def _error_handlers(app: FastAPI) -> None:
    async def too_large(request: Request, exc: Exception) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, 413)

    async def usage(request: Request, exc: Exception) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, 400)

    async def not_found(request: Request, exc: Exception) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, 404)

    from touchpoints.server.login import forbidden_page, out_of_memory_page
    from touchpoints.server.users import Forbidden

    handlers: dict[Any, Any] = {
        api.BodyTooLarge: too_large,
        TouchpointsError: usage,
        NotFoundError: not_found,
        Forbidden: forbidden_page,
        OutOfMemoryError: out_of_memory_page,
    }
    for exc_type, handler in handlers.items():
        app.add_exception_handler(exc_type, handler)
