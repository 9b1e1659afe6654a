"""GET /health: what a load balancer, Docker healthcheck or on-call person needs to know."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any, Literal

import sqlalchemy as sa
import structlog
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from bazaar import __version__
from bazaar.config import Settings
from bazaar.kit.db import Database, utcnow
from bazaar.kit.errors import AppError, envelope_error
from bazaar.kit.migrations import current_revision, head_revision
from bazaar.kit.openapi import errors
from bazaar.kit.ratelimit import get_rate_limits
from bazaar.kit.schemas import Envelope, Schema
from bazaar.models.system import WorkerHeartbeat

log = structlog.get_logger("bazaar.health")
router = APIRouter()

CHECK_TIMEOUT = 3.0  # seconds per dependency; a health check must answer quickly
# A worker that has not beaten for this long is considered gone.
WORKER_STALE_AFTER = timedelta(seconds=60)


class DatabaseHealth(Schema):
    backend: str
    revision: str | None
    head: str | None
    ok: bool


class RedisHealth(Schema):
    configured: bool
    ok: bool | None = None  # null when REDIS_URI is not set


class WorkerHealth(Schema):
    last_heartbeat: datetime | None
    ok: bool


class Health(Schema):
    status: Literal["ok", "degraded"]
    version: str
    database: DatabaseHealth
    redis: RedisHealth
    worker: WorkerHealth
    integrations: dict[str, bool]


@lru_cache(maxsize=1)
def _head() -> str | None:
    # The migration scripts ship with the code, so the head cannot change while we run.
    return head_revision()


async def _check_database(db: Database) -> tuple[bool, str | None, datetime | None]:
    """(reachable, current revision, newest worker heartbeat)."""
    try:
        async with asyncio.timeout(CHECK_TIMEOUT), db.engine.connect() as conn:
            revision = await conn.run_sync(current_revision)
            try:
                newest = sa.select(sa.func.max(WorkerHeartbeat.seen_at))
                heartbeat = (await conn.execute(newest)).scalar()
            except sa.exc.DBAPIError:
                heartbeat = None  # table missing before the first migration
            await conn.rollback()
    except Exception as exc:  # noqa: BLE001 - any failure means "unreachable"
        log.warning("health_database_unreachable", error=f"{type(exc).__name__}: {exc}"[:300])
        return False, None, None
    return True, revision, heartbeat


async def _check_redis(request: Request, settings: Settings) -> bool | None:
    if not settings.redis_uri:
        return None
    limits = get_rate_limits(request.app)
    if limits.backend != "redis":
        return None
    try:
        async with asyncio.timeout(CHECK_TIMEOUT):
            return await limits.check()
    except Exception:  # noqa: BLE001
        return False


@router.get(
    "/health",
    response_model=Envelope[Health],
    tags=["ops"],
    responses=errors(
        AppError(
            "The database is unreachable; `error.details` holds the report",
            code="UNHEALTHY",
            status_code=503,
        )
    ),
)
async def health(request: Request) -> Any:
    """Service health for monitors and container healthchecks. No authentication.

    `status` is `ok` when the database is reachable and migrated to the head revision,
    Redis (when configured) answers, and a worker has reported within the last minute;
    otherwise `degraded`. The response is 200 in both cases and 503 `UNHEALTHY` (with the
    same report in `error.details`) when the database cannot be reached.
    """
    settings: Settings = request.app.state.settings
    db: Database = request.app.state.db
    (db_ok, revision, heartbeat), redis_ok = await asyncio.gather(
        _check_database(db), _check_redis(request, settings)
    )
    # The first call reads every migration script (about a second): keep it off the loop.
    head = await asyncio.to_thread(_head)
    worker_ok = heartbeat is not None and utcnow() - heartbeat <= WORKER_STALE_AFTER
    healthy = db_ok and revision == head and redis_ok is not False and worker_ok
    report = Health(
        status="ok" if healthy else "degraded",
        version=__version__,
        database=DatabaseHealth(backend=db.backend, revision=revision, head=head, ok=db_ok),
        redis=RedisHealth(configured=bool(settings.redis_uri), ok=redis_ok),
        worker=WorkerHealth(last_heartbeat=heartbeat, ok=worker_ok),
        integrations=settings.enabled_integrations,
    )
    if not db_ok:
        details = report.model_dump(mode="json", by_alias=True)
        return envelope_error(503, "UNHEALTHY", "The database is unreachable", details)
    return JSONResponse({"success": True, "data": report.model_dump(mode="json", by_alias=True)})
