"""Durable jobs (also the outbox): rows written in the caller's transaction.

Domains register handlers with `@job_handler("kind")` and periodic sweeps with
`@periodic("name", every=...)` in their `jobs.py`; `bazaar.worker` runs them (it imports
every `bazaar.<domain>.jobs` module, so a new domain only has to add that file).

A handler gets its own write session and the job's payload; `session.info["settings"]` is
the running worker's `Settings` and `session.info["job_id"]` the job's id (sweeps get the
settings too). Its effects and the job's
`done` mark commit in one transaction, so a job that fails leaves no effects and is retried
with exponential backoff until `max_attempts`, then left as `dead` for an operator. Do not
commit inside a handler. Delivery is at least once for anything outside the database (an
email sent just before the commit failed is sent again on the retry), exactly once for
database effects. Keep handlers short: on SQLite their transaction holds the database's
single write lock, so API writes wait while a handler runs.

A sweep gets a write session and `now` (tests drive timers with a chosen clock); it runs at
most once per `every` across all workers.

    from bazaar.kit.jobs import enqueue, job_handler, periodic

    @job_handler("payment.release")
    async def release(session: AsyncSession, payload: dict[str, Any]) -> None: ...

    @periodic("requests.expire", every=timedelta(minutes=1))
    async def expire_requests(session: AsyncSession, now: datetime) -> int: ...

    await enqueue(session, "payment.release", {"paymentId": str(p.id)},
                  dedupe_key=f"payment:{p.id}:release")
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from bazaar.kit.db import utcnow
from bazaar.kit.tables import Job

JobHandler = Callable[[AsyncSession, dict[str, Any]], Awaitable[None]]
SweepHandler = Callable[[AsyncSession, datetime], Awaitable[Any]]

PENDING = "pending"
RUNNING = "running"
DONE = "done"
DEAD = "dead"

# Retry delays: 2 s, 4 s, 8 s, ... capped at an hour.
BACKOFF_CAP = timedelta(hours=1)


@dataclass(frozen=True)
class Sweep:
    name: str
    every: timedelta
    run: SweepHandler


HANDLERS: dict[str, JobHandler] = {}
SWEEPS: dict[str, Sweep] = {}


def _same(a: Callable[..., Any], b: Callable[..., Any]) -> bool:
    # A module imported twice (e.g. by a test) registers "the same" function again.
    return (a.__module__, a.__qualname__) == (b.__module__, b.__qualname__)


def job_handler(kind: str) -> Callable[[JobHandler], JobHandler]:
    """Register the handler of a job kind; one handler per kind."""

    def register(fn: JobHandler) -> JobHandler:
        current = HANDLERS.get(kind)
        if current is not None and not _same(current, fn):
            raise ValueError(f"job kind {kind!r} already handled by {current.__qualname__}")
        HANDLERS[kind] = fn
        return fn

    return register


def periodic(name: str, every: timedelta) -> Callable[[SweepHandler], SweepHandler]:
    """Register a sweep that runs at most once per `every` across all workers."""

    def register(fn: SweepHandler) -> SweepHandler:
        current = SWEEPS.get(name)
        if current is not None and not _same(current.run, fn):
            raise ValueError(f"sweep {name!r} already registered by {current.run.__qualname__}")
        SWEEPS[name] = Sweep(name=name, every=every, run=fn)
        return fn

    return register


def backoff(attempts: int) -> timedelta:
    """Delay before the next try after `attempts` failed tries."""
    return min(timedelta(seconds=2 ** min(attempts, 20)), BACKOFF_CAP)


async def enqueue(
    session: AsyncSession,
    kind: str,
    payload: dict[str, Any] | None = None,
    *,
    run_at: datetime | None = None,
    dedupe_key: str | None = None,
    max_attempts: int | None = None,
) -> Job:
    """Add a job in the current transaction; it exists only if the transaction commits.

    `dedupe_key` names one piece of work for all time (e.g. `payment:<id>:auto-release`):
    if a job with that key already exists, whatever its status, that job is returned and
    nothing is added. A concurrent transaction enqueueing the same key is tolerated too: the
    insert runs in a savepoint, so the loser's transaction stays usable.

    `max_attempts=None` means the worker's `JOB_MAX_ATTEMPTS` at run time (stored as 0).
    """
    if dedupe_key is not None:
        existing = await _by_dedupe_key(session, dedupe_key)
        if existing is not None:
            return existing
    job = Job(
        kind=kind,
        payload=payload or {},
        status=PENDING,
        run_at=run_at or utcnow(),
        dedupe_key=dedupe_key,
        attempts=0,
        max_attempts=max_attempts or 0,
    )
    if dedupe_key is None:
        session.add(job)
        await session.flush()
        return job
    try:
        async with session.begin_nested():
            session.add(job)
    except IntegrityError:
        # Another transaction committed the same key between our check and our insert.
        existing = await _by_dedupe_key(session, dedupe_key)
        if existing is None:
            raise
        return existing
    return job


async def _by_dedupe_key(session: AsyncSession, dedupe_key: str) -> Job | None:
    stmt = sa.select(Job).where(Job.dedupe_key == dedupe_key)
    return (await session.execute(stmt)).scalar_one_or_none()
