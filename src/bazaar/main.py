"""create_app(): middleware, routers, error handlers, lifespan with typed state."""

from __future__ import annotations

import asyncio
import contextlib
import gc
from collections.abc import AsyncIterator
from typing import Any

import sqlalchemy as sa
import structlog
from fastapi import FastAPI

from bazaar import __version__
from bazaar.api import include_routers
from bazaar.config import ConfigError, Settings, check_startup, get_settings, ignored_legacy_env
from bazaar.kit.clientip import ClientAddressMiddleware
from bazaar.kit.db import Database
from bazaar.kit.errors import install_error_handlers
from bazaar.kit.http import BodyLimitMiddleware, EnvelopeCORSMiddleware, RequestContextMiddleware
from bazaar.kit.logging import configure_logging
from bazaar.kit.openapi import install_openapi
from bazaar.kit.ratelimit import GlobalRateLimitMiddleware, RateLimits
from bazaar.ops.endpoints import router as ops_router
from bazaar.ops.metrics import HttpMetrics, MetricsMiddleware
from bazaar.realtime.server import install as install_realtime

log = structlog.get_logger("bazaar")

GC_THRESHOLDS = (50_000, 20, 100)


async def _refuse_development_passwords(db: Database, settings: Settings) -> None:
    from bazaar.users.seed import accounts_with_dev_passwords

    try:
        found = await accounts_with_dev_passwords(db, settings)
    except sa.exc.DBAPIError as exc:
        # No users table yet (not migrated) or no database: there is no account to check,
        # and /health reports the database.
        log.warning("development_password_check_skipped", error=str(exc.orig))
        return
    if found:
        raise ConfigError(
            "refusing to start: these accounts still have a published development password: "
            + ", ".join(found)
            + " (change their passwords or delete them)"
        )


def create_app(settings: Settings | None = None, database: Database | None = None) -> FastAPI:
    settings = settings or get_settings()
    check_startup(settings)
    configure_logging(settings)
    ignored = ignored_legacy_env()
    if ignored:
        log.warning("ignored_legacy_env", names=ignored, why="Bazaar has one store; see README")

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        db = database or Database(settings)
        app.state.db = db
        if settings.is_production:
            await _refuse_development_passwords(db, settings)
        worker_task: asyncio.Task[Any] | None = None
        if settings.run_worker_in_process and getattr(app.state, "start_worker", True):
            from bazaar.worker import Worker

            worker = Worker(db, settings, name="in-process")
            worker_task = asyncio.create_task(worker.run_forever())
            app.state.worker = worker
        # Everything built so far (routes, models, compiled queries) lives as long as the
        # process: parked outside the collector, full collections stop re-scanning it.
        gc.freeze()
        # A request allocates thousands of short-lived containers (ORM state, pydantic,
        # ASGI messages), nearly all freed by reference counting. With Python's default
        # young-generation threshold (700) the cycle collector ran several times per
        # request over objects that were about to die anyway: ~10 % of the CPU and a
        # fatter latency tail (docs/performance.md). Cyclic garbage is still collected,
        # in larger, rarer passes.
        gc.set_threshold(*GC_THRESHOLDS)
        try:
            async with realtime.running(db):
                yield
        finally:
            if worker_task is not None:
                app.state.worker.stop()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await asyncio.wait_for(worker_task, timeout=10)
            await rate_limits.close()
            if database is None:
                await db.dispose()

    app = FastAPI(
        title="Bazaar API",
        version=__version__,
        description="Escrow marketplace backend. Every response uses the envelope "
        '`{"success": true, "data": ...}` or `{"success": false, "error": {...}}`.',
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
    )
    app.state.settings = settings
    rate_limits = app.state.rate_limits = RateLimits(settings)
    app.state.metrics = HttpMetrics()
    install_error_handlers(app)
    include_routers(app)
    app.include_router(ops_router)
    realtime = app.state.realtime = install_realtime(app, settings)
    install_openapi(app)

    # Outermost last. CORS answers preflights before the global limit counts them, and
    # wraps the limiter and body limit so their 429/413 are readable by the browser.
    app.add_middleware(GlobalRateLimitMiddleware, limits=rate_limits)
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes)
    app.add_middleware(
        EnvelopeCORSMiddleware,
        allow_origins=[o.strip() for o in settings.frontend_url.split(",") if o.strip()],
        allow_credentials=True,
        allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"],
        allow_headers=["*"],
        expose_headers=[
            "X-Request-Id",
            "Retry-After",
            "X-RateLimit-Limit",
            "X-RateLimit-Remaining",
        ],
    )
    app.add_middleware(ClientAddressMiddleware, hops=settings.trusted_hops)
    app.add_middleware(MetricsMiddleware, metrics=app.state.metrics)
    app.add_middleware(RequestContextMiddleware, settings=settings)
    return app
