"""Durable jobs (also the outbox): rows written in the caller's transaction.

Domains register handlers with `@job_handler("kind")` and periodic sweeps with
`@periodic("name", every=...)` in their `jobs.py`; `bazaar.worker` runs them.
A handler gets the job's own session (committed with the job's `done` mark) and payload.
A sweep gets a session and `now`, so tests drive timers with a chosen clock.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from bazaar.kit.db import utcnow
from bazaar.models import Job

JobHandler = Callable[[AsyncSession, dict[str, Any]], Awaitable[None]]
SweepHandler = Callable[[AsyncSession, datetime], Awaitable[Any]]


@dataclass(frozen=True)
class Sweep:
    name: str
    every: timedelta
    run: SweepHandler


HANDLERS: dict[str, JobHandler] = {}
SWEEPS: dict[str, Sweep] = {}


def job_handler(kind: str) -> Callable[[JobHandler], JobHandler]:
    def register(fn: JobHandler) -> JobHandler:
        HANDLERS[kind] = fn
        return fn

    return register


def periodic(name: str, every: timedelta) -> Callable[[SweepHandler], SweepHandler]:
    def register(fn: SweepHandler) -> SweepHandler:
        SWEEPS[name] = Sweep(name=name, every=every, run=fn)
        return fn

    return register


async def enqueue(
    session: AsyncSession,
    kind: str,
    payload: dict[str, Any] | None = None,
    *,
    run_at: datetime | None = None,
    dedupe_key: str | None = None,
    max_attempts: int = 5,
) -> Job:
    """Add a job in the current transaction; it exists only if the transaction commits."""
    job = Job(
        kind=kind,
        payload=payload or {},
        run_at=run_at or utcnow(),
        dedupe_key=dedupe_key,
        max_attempts=max_attempts,
    )
    session.add(job)
    await session.flush()
    return job
