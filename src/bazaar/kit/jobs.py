"""Durable jobs (also the outbox) and periodic sweeps; `bazaar.worker` runs them.

Domains register in their `jobs.py` (the worker imports every `bazaar.<domain>.jobs`
module, so a new domain only has to add that file). Two kinds of job handler:

- `@job_handler(kind)`: transactional. `handler(ctx, session, payload)` runs inside the
  job's own write transaction; its effects and the job's `done` mark commit together, so
  database effects happen exactly once. Do not commit inside it, and do nothing slow: on
  SQLite the transaction holds the database's single write lock (`BEGIN IMMEDIATE`).
- `@job_handler(kind, io=True)`: network work (SMTP, HTTP, JSON-RPC). The worker claims
  the job in a short transaction (a lease), calls `handler(ctx, payload)` with no
  transaction open, then records the outcome in another short one. Delivery is at least
  once: a worker that dies after the I/O and before the record sends again. The handler may
  open its own short transactions with `ctx.db.transaction()`; it must finish within the
  lease (`JOB_LEASE_SECONDS`), or it is cancelled and retried.

`ctx` (`JobContext`) carries the worker's settings, the database, the job's id and which
try this is. A handler that raises is retried with exponential backoff until
`max_attempts`, then left `dead` for an operator; raising `PermanentJobError` buries it at
once, with the reason in `last_error`. A job enqueued with an expiry (`expires_in`, e.g.
`REALTIME_TTL` for live socket events) is never run after it: the worker marks it `expired`.

Sweeps run at most once per `every` across all workers; `now` is passed in so tests drive
timers with a chosen clock:

- `@periodic(name, every)`: `sweep(session, now)` in one write transaction. Handle each
  row with `each_in_savepoint`, so a failing row leaves nothing behind.
- `@periodic(name, every, transactional=False)`: `sweep(ctx, now)` with no transaction
  open; it commits small batches itself (`in_batches`, `ctx.db.transaction()`), so it
  never holds SQLite's write lock for long.

    from bazaar.kit.jobs import JobContext, enqueue, job_handler, periodic

    @job_handler("payment.release")
    async def release(ctx: JobContext, session: AsyncSession, payload: dict[str, Any]) -> None:
        ...

    @job_handler("telegram.send", io=True)
    async def send(ctx: JobContext, payload: dict[str, Any]) -> None: ...

    @periodic("requests.expire", every=timedelta(minutes=1))
    async def expire_requests(session: AsyncSession, now: datetime) -> int: ...

    await enqueue(session, "payment.release", {"paymentId": str(p.id)},
                  dedupe_key=f"payment:{p.id}:release")
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal, TypeVar, overload

import sqlalchemy as sa
import structlog
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from bazaar.config import Settings
from bazaar.kit.db import Database, utcnow
from bazaar.kit.tables import Job

log = structlog.get_logger("bazaar.jobs")

PENDING = "pending"
RUNNING = "running"
DONE = "done"
DEAD = "dead"
EXPIRED = "expired"  # its expiry passed before it ran; never run

# Retry delays: 2 s, 4 s, 8 s, ... capped at an hour.
BACKOFF_CAP = timedelta(hours=1)

# How long a live event (socket emit) is worth delivering: a client that reconnects later
# reloads the state instead (pass as `enqueue(..., expires_in=REALTIME_TTL)`).
REALTIME_TTL = timedelta(seconds=60)

# Pause between two batches of a batched sweep on SQLite. Its busy handler polls with
# growing sleeps (up to 100 ms) instead of queueing, so a sweep that begins its next batch
# at once could keep winning the write lock while API writes wait.
SQLITE_BATCH_PAUSE = 0.1


class PermanentJobError(Exception):
    """Retrying cannot help (the message is refused, the payload is invalid): raised by a
    handler, it dead-letters the job at once with this error as `last_error`."""


@dataclass(frozen=True)
class JobContext:
    """What the worker hands a job handler."""

    settings: Settings
    db: Database
    job_id: uuid.UUID
    kind: str
    attempt: int  # 1 on the first try


@dataclass(frozen=True)
class SweepContext:
    """What the worker hands a sweep that runs without a surrounding transaction."""

    settings: Settings
    db: Database
    name: str


TransactionalHandler = Callable[[JobContext, AsyncSession, dict[str, Any]], Awaitable[None]]
IoHandler = Callable[[JobContext, dict[str, Any]], Awaitable[None]]
SweepHandler = Callable[[AsyncSession, datetime], Awaitable[Any]]
BatchSweepHandler = Callable[[SweepContext, datetime], Awaitable[Any]]

H = TypeVar("H", bound=Callable[..., Any])
T = TypeVar("T")


@dataclass(frozen=True)
class TransactionalJob:
    kind: str
    run: TransactionalHandler


@dataclass(frozen=True)
class IoJob:
    kind: str
    run: IoHandler


@dataclass(frozen=True)
class Sweep:
    """Runs in one write transaction."""

    name: str
    every: timedelta
    run: SweepHandler


@dataclass(frozen=True)
class BatchSweep:
    """Runs with no transaction open and commits its own batches."""

    name: str
    every: timedelta
    run: BatchSweepHandler


HANDLERS: dict[str, TransactionalJob | IoJob] = {}
SWEEPS: dict[str, Sweep | BatchSweep] = {}


def _same(a: Callable[..., Any], b: Callable[..., Any]) -> bool:
    # A module imported twice (e.g. by a test) registers "the same" function again.
    return (a.__module__, a.__qualname__) == (b.__module__, b.__qualname__)


@overload
def job_handler(
    kind: str, *, io: Literal[False] = False
) -> Callable[[TransactionalHandler], TransactionalHandler]: ...


@overload
def job_handler(kind: str, *, io: Literal[True]) -> Callable[[IoHandler], IoHandler]: ...


def job_handler(kind: str, *, io: bool = False) -> Callable[[H], H]:
    """Register the handler of a job kind (one per kind); `io=True` runs it outside any
    transaction."""

    def register(fn: H) -> H:
        current = HANDLERS.get(kind)
        if current is not None and not _same(current.run, fn):
            raise ValueError(f"job kind {kind!r} already handled by {current.run.__qualname__}")
        HANDLERS[kind] = IoJob(kind, fn) if io else TransactionalJob(kind, fn)
        return fn

    return register


@overload
def periodic(
    name: str, every: timedelta, *, transactional: Literal[True] = True
) -> Callable[[SweepHandler], SweepHandler]: ...


@overload
def periodic(
    name: str, every: timedelta, *, transactional: Literal[False]
) -> Callable[[BatchSweepHandler], BatchSweepHandler]: ...


def periodic(name: str, every: timedelta, *, transactional: bool = True) -> Callable[[H], H]:
    """Register a sweep that runs at most once per `every` across all workers;
    `transactional=False` gives it `(ctx, now)` and no surrounding transaction."""

    def register(fn: H) -> H:
        current = SWEEPS.get(name)
        if current is not None and not _same(current.run, fn):
            raise ValueError(f"sweep {name!r} already registered by {current.run.__qualname__}")
        SWEEPS[name] = Sweep(name, every, fn) if transactional else BatchSweep(name, every, fn)
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
    expires_in: timedelta | None = None,
    expires_at: datetime | None = None,
) -> Job:
    """Add a job in the current transaction; it exists only if the transaction commits.

    `dedupe_key` names one piece of work for all time (e.g. `payment:<id>:auto-release`):
    if a job with that key already exists, whatever its status, that job is returned and
    nothing is added. A concurrent transaction enqueueing the same key is tolerated too: the
    insert runs in a savepoint, so the loser's transaction stays usable.

    `max_attempts=None` means the worker's `JOB_MAX_ATTEMPTS` at run time (stored as 0).
    `expires_in` (from now) or `expires_at`: after it the job is marked `expired`, not run.
    """
    if expires_in is not None:
        if expires_at is not None:
            raise ValueError("give expires_in or expires_at, not both")
        expires_at = utcnow() + expires_in
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
        expires_at=expires_at,
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


# -- helpers for sweeps ---------------------------------------------------------------------


async def each_in_savepoint(
    session: AsyncSession,
    rows: Iterable[T],
    step: Callable[[T], Awaitable[Any]],
    *,
    expected: tuple[type[Exception], ...] = (),
) -> int:
    """Run `step(row)` for each row in its own SAVEPOINT; return how many succeeded.

    A row whose step raises is rolled back to its savepoint, so none of its writes remain
    (no half-moved row), and skipped: quietly for `expected` exceptions (e.g. `Conflict`:
    someone moved it first), logged with the traceback otherwise. The transaction goes on
    with the next row and commits the others.
    """
    done = 0
    for row in rows:
        try:
            async with session.begin_nested():
                await step(row)
        except expected:
            log.debug("sweep_row_skipped", row=_describe(row))
        except Exception:
            log.exception("sweep_row_failed", row=_describe(row))
        else:
            done += 1
    return done


def _describe(row: Any) -> str:
    # A rolled-back ORM object is expired; reading its attributes would query (and fail
    # outside a greenlet), so name it by its identity key instead.
    state = sa.inspect(row, raiseerr=False)
    identity = getattr(state, "identity", None)
    if identity is not None:
        return f"{type(row).__name__}{tuple(str(part) for part in identity)}"
    return repr(row)[:200]


async def in_batches(
    db: Database, step: Callable[[AsyncSession, int], Awaitable[int]], batch: int
) -> int:
    """Repeat `step(session, batch)`, each call in its own short write transaction, until
    it handles fewer than `batch` rows; return the total. For deletes and updates of many
    rows that must not hold the write lock for long."""
    total = 0
    pause = SQLITE_BATCH_PAUSE if db.backend == "sqlite" else 0.0
    while True:
        async with db.transaction() as session:
            count = await step(session, batch)
        total += count
        if count < batch:
            return total
        await asyncio.sleep(pause)


# -- queries of the jobs table used by the prune sweep ---------------------------------------


def _rowcount(result: Any) -> int:
    return int(getattr(result, "rowcount", 0) or 0)


async def expire_overdue(session: AsyncSession, now: datetime, limit: int) -> int:
    """Mark up to `limit` pending jobs whose expiry has passed as `expired` (kinds without
    a handler included: nobody will ever want them); return how many."""
    overdue = (
        sa.select(Job.id)
        .where(Job.status == PENDING, Job.expires_at < now)  # ix_jobs_expiry
        .limit(limit)
    )
    result = await session.execute(
        sa.update(Job)
        .where(Job.id.in_(overdue), Job.status == PENDING)
        .values(status=EXPIRED, finished_at=now)
        .execution_options(synchronize_session=False)
    )
    return _rowcount(result)


async def delete_finished(
    session: AsyncSession, statuses: Iterable[str], before: datetime, limit: int
) -> int:
    """Delete up to `limit` jobs in `statuses` that finished before `before`.

    The filter on `run_at` lets ix_jobs_claim (status, run_at) find them: a finished job
    ran no earlier than it was due, so `finished_at < before` implies `run_at < before`.
    """
    wanted = [status for status in statuses if status not in (PENDING, RUNNING)]
    old = (
        sa.select(Job.id)
        .where(Job.status.in_(wanted), Job.run_at < before, Job.finished_at < before)
        .limit(limit)
    )
    result = await session.execute(
        sa.delete(Job).where(Job.id.in_(old)).execution_options(synchronize_session=False)
    )
    return _rowcount(result)
