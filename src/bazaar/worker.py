"""The background worker: periodic sweeps and queued jobs, safe to run as many copies.

Each loop: heartbeat, run the sweeps that are due, then claim and run due jobs until none
are left, then sleep `WORKER_POLL_INTERVAL`.

Claiming is a short transaction that marks rows `running` with a lease (`locked_by`,
`locked_until`); on PostgreSQL it uses `FOR UPDATE SKIP LOCKED` so workers never wait on
each other, on SQLite the write transaction (`BEGIN IMMEDIATE`) serializes claimers. Jobs
past their expiry are marked `expired` there (or when they come up), never run.

A transactional job then runs in its own transaction, which first re-reads the row with
`FOR UPDATE` and checks the lease is still ours: while the handler runs, the row stays
locked, so on PostgreSQL no other worker can take it over even after the lease ends; if the
worker dies, its connection closes, the lock goes, and once the lease has expired another
worker reclaims the job. An I/O job (`io=True`) runs with no transaction open, bounded by
its lease, and its outcome is recorded in a short transaction that checks the lease is
still ours; on SQLite nothing holds the write lock while it waits on the network.
Only kinds with a registered handler are claimed; others wait for the code that handles them.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import os
import pkgutil
import signal
import socket
import traceback
import uuid
from collections.abc import Awaitable, Callable, Collection, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import sqlalchemy as sa
import structlog
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from bazaar.config import Settings
from bazaar.kit import jobs
from bazaar.kit.db import Database, utcnow
from bazaar.models import Job, PeriodicTask, WorkerHeartbeat

log = structlog.get_logger("bazaar.worker")
T = TypeVar("T")

CLAIM_BATCH = 10
# A failing sweep is retried after its interval, but at least this soon.
SWEEP_RETRY = timedelta(minutes=1)
HEARTBEAT_EVERY = timedelta(seconds=15)  # during a long pass; /health calls 60 s stale
# Work without a transaction (I/O jobs, batched sweeps) must end this share of the lease
# before the lease does, leaving time to record its outcome while the claim is still ours.
LEASE_MARGIN = 0.1
_ID_LEN = 100  # locked_by / worker_id column width


def load_handlers(root: str = "bazaar") -> list[str]:
    """Import every `jobs` module under `root` (e.g. bazaar.payments.jobs) so they register.

    Packages are walked on disk without importing them, so only the `jobs` modules (and
    their parents) are imported. Errors propagate: a worker missing handlers must not start.
    """
    package = importlib.import_module(root)
    names = sorted(_jobs_modules(list(package.__path__), root))
    for name in names:
        importlib.import_module(name)
    return names


def _jobs_modules(paths: list[str], prefix: str) -> Iterator[str]:
    for info in pkgutil.iter_modules(paths, prefix + "."):
        short = info.name.rsplit(".", 1)[-1]
        if info.ispkg:
            if info.name == "bazaar.kit":
                continue  # the registry itself, not a domain
            yield from _jobs_modules([str(Path(p) / short) for p in paths], info.name)
        elif short == "jobs":
            yield info.name


def _insert(backend: str) -> Any:
    return postgresql.insert if backend == "postgresql" else sqlite.insert


class Worker:
    """Runs sweeps and jobs against one database; `kinds`/`sweeps` narrow what it takes."""

    def __init__(
        self,
        db: Database,
        settings: Settings,
        name: str | None = None,
        *,
        kinds: Collection[str] | None = None,
        sweeps: Collection[str] | None = None,
    ) -> None:
        load_handlers()
        self.db = db
        self.settings = settings
        self.name = (name or f"{socket.gethostname()}-{os.getpid()}")[:_ID_LEN]
        # Leases carry a per-instance token, so two workers given the same name (or two
        # Worker objects in one process) never mistake each other's claims for their own.
        suffix = ":" + uuid.uuid4().hex[:8]
        self.token = self.name[: _ID_LEN - len(suffix)] + suffix
        self.kinds = set(kinds) if kinds is not None else None
        self.sweep_names = set(sweeps) if sweeps is not None else None
        self.started_at = utcnow()
        self._stopping = asyncio.Event()
        self._beats = False  # set by run_forever: keep /health fresh through long passes
        self._last_beat = self.started_at

    # -- lifecycle -------------------------------------------------------------------

    def stop(self) -> None:
        """Ask the loop to exit after the current job."""
        self._stopping.set()

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()

    async def run_forever(self) -> None:
        log.info("worker_started", worker=self.name)
        self._beats = True
        try:
            while not self.stopping:
                try:
                    await self.heartbeat()
                    await self.run_once()
                except Exception:
                    # The database may be briefly unreachable; keep trying, never die.
                    log.exception("worker_loop_error", worker=self.name)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(
                        self._stopping.wait(), timeout=self.settings.worker_poll_interval
                    )
        finally:
            await self._forget_heartbeat()
            log.info("worker_stopped", worker=self.name)

    async def heartbeat(self) -> None:
        """Record that this worker is alive (read by /health)."""
        now = self._last_beat = utcnow()
        stmt = (
            _insert(self.db.backend)(WorkerHeartbeat)
            .values(worker_id=self.name, started_at=self.started_at, seen_at=now)
            .on_conflict_do_update(
                index_elements=["worker_id"],
                set_={"seen_at": now, "started_at": self.started_at},
            )
        )
        async with self.db.session() as session:
            await session.execute(stmt)
            await session.commit()

    async def _forget_heartbeat(self) -> None:
        # A clean stop removes the row, so /health tells "stopped" from "died".
        with contextlib.suppress(Exception):
            async with self.db.session() as session:
                await session.execute(
                    sa.delete(WorkerHeartbeat).where(WorkerHeartbeat.worker_id == self.name)
                )
                await session.commit()

    # -- one pass ----------------------------------------------------------------------

    async def run_once(self, now: datetime | None = None) -> int:
        """Run due sweeps, then due jobs until none are left; return how many were taken
        in hand (a job found expired at its turn counts, one expired at the claim does not).

        `now` fixes the clock (tests move it forward); by default the real time is read
        before every claim, so jobs enqueued by the jobs just run are picked up too.
        """
        ran = 0
        for name, lease in await self._claim_sweeps(now or utcnow()):
            await self._run_sweep(name, lease, now or utcnow())
            ran += 1
        while not self.stopping:
            claimed, found = await self._claim_jobs(now or utcnow())
            if not found:
                break
            for index, job in enumerate(claimed):
                if self.stopping:
                    await self._release([j.id for j in claimed[index:]])
                    break
                # A batch of I/O jobs can take minutes: keep /health's view fresh.
                if self._beats and utcnow() - self._last_beat > HEARTBEAT_EVERY:
                    await self.heartbeat()
                await self._run_job(job, now or utcnow())
                ran += 1
        return ran

    def _budget(self, lease_ends: datetime, now: datetime) -> float:
        """Seconds work claimed until `lease_ends` may take, keeping a margin to record
        the outcome before another worker may take the work over."""
        margin = self.settings.job_lease_seconds * LEASE_MARGIN
        return (lease_ends - now).total_seconds() - margin

    # -- jobs ----------------------------------------------------------------------------

    def _handled_kinds(self) -> list[str]:
        kinds = set(jobs.HANDLERS)
        if self.kinds is not None:
            kinds &= self.kinds
        return sorted(kinds)

    def _limit(self, job: Job) -> int:
        return job.max_attempts or self.settings.job_max_attempts

    async def _claim_jobs(self, now: datetime) -> tuple[list[Claimed], int]:
        """Claim due jobs; return them and how many rows were due (claimed, expired or
        buried), so the caller knows whether to look again."""
        kinds = self._handled_kinds()
        if not kinds:
            return [], 0
        due = sa.or_(
            sa.and_(Job.status == jobs.PENDING, Job.run_at <= now),
            sa.and_(Job.status == jobs.RUNNING, Job.locked_until < now),
        )
        stmt = (
            sa.select(Job)
            .where(Job.kind.in_(kinds), due)
            .order_by(Job.run_at)
            .limit(CLAIM_BATCH)
            .with_for_update(skip_locked=True)
        )
        lease = now + timedelta(seconds=self.settings.job_lease_seconds)
        claimed: list[Claimed] = []
        found = 0
        async with self.db.session() as session:
            for job in (await session.execute(stmt)).scalars():
                found += 1
                if _expired(job, now):
                    _expire(job, now)
                    continue
                if job.status == jobs.RUNNING and job.attempts >= self._limit(job):
                    # Its worker died on the last allowed try: do not crash another one.
                    self._bury(job, now, "worker lost while running (lease expired)")
                    continue
                if job.status == jobs.RUNNING:
                    log.warning("job_lease_expired", job_id=str(job.id), previous=job.locked_by)
                job.status = jobs.RUNNING
                job.locked_by = self.token
                job.locked_until = lease
                job.attempts += 1
                claimed.append(
                    Claimed(
                        job.id, job.kind, dict(job.payload), job.attempts, job.expires_at, lease
                    )
                )
            await session.commit()
        return claimed, found

    async def _release(self, job_ids: list[uuid.UUID]) -> None:
        """Hand back claimed jobs we will not run (shutting down, or too little of the
        lease left), without using a try."""
        async with self.db.session() as session:
            await session.execute(
                sa.update(Job)
                .where(Job.id.in_(job_ids), Job.locked_by == self.token)
                .values(
                    status=jobs.PENDING,
                    locked_by=None,
                    locked_until=None,
                    attempts=Job.attempts - 1,
                )
            )
            await session.commit()

    async def _own(self, session: AsyncSession, job_id: uuid.UUID) -> Job | None:
        stmt = (
            sa.select(Job)
            .where(Job.id == job_id, Job.status == jobs.RUNNING, Job.locked_by == self.token)
            .with_for_update()
        )
        return (await session.execute(stmt)).scalar_one_or_none()

    def _context(self, job: Claimed) -> jobs.JobContext:
        return jobs.JobContext(self.settings, self.db, job.id, job.kind, job.attempt)

    async def _run_job(self, job: Claimed, now: datetime) -> None:
        bound = structlog.contextvars.bound_contextvars(job_id=str(job.id), worker=self.name)
        with bound:
            handler = jobs.HANDLERS.get(job.kind)
            if handler is None:
                # Unregistered since the claim (tests do this); the job is not lost.
                await self._record_failure(job.id, LookupError(f"no handler for {job.kind!r}"), now)
            elif isinstance(handler, jobs.IoJob):
                await self._run_io(handler, job, now)
            else:
                await self._run_in_transaction(handler, job, now)

    async def _run_in_transaction(
        self, handler: jobs.TransactionalJob, job: Claimed, now: datetime
    ) -> None:
        """The handler's effects and the `done` mark commit together. The row stays locked
        (`FOR UPDATE`) while the handler runs, so on PostgreSQL no other worker can take
        it over even after the lease ends."""
        try:
            async with self.db.session() as session:
                row = await self._own(session, job.id)
                if row is None:
                    log.warning("job_lease_lost")
                    return
                if _expired(row, now):
                    _expire(row, now)
                else:
                    await handler.run(self._context(job), session, dict(row.payload))
                    _finish(row, jobs.DONE, utcnow())
                await session.commit()
        except Exception as exc:
            # The session closed with a rollback: no effect of the failed try remains.
            await self._record_failure(job.id, exc, now)

    async def _run_io(self, handler: jobs.IoJob, job: Claimed, now: datetime) -> None:
        """Claimed (done), I/O with no transaction open, then the outcome in a short one."""
        if job.expires_at is not None and job.expires_at <= now:
            await self._record(job.id, lambda row: _expire(row, now))
            return
        budget = self._budget(job.lease_ends, now)
        if budget <= 0:
            # Jobs before it in the batch used up its lease: let a fresh claim take it.
            await self._release([job.id])
            return
        try:
            await _within(budget, handler.run(self._context(job), job.payload))
        except Exception as exc:
            await self._record_failure(job.id, exc, now)
            return
        await self._record(job.id, lambda row: _finish(row, jobs.DONE, utcnow()))

    async def _record(self, job_id: uuid.UUID, change: Callable[[Job], None]) -> None:
        async with self.db.session() as session:
            row = await self._own(session, job_id)
            if row is None:
                # Another worker took it over after our lease ended: it runs it again.
                log.warning("job_lease_lost")
                return
            change(row)
            await session.commit()

    async def _record_failure(self, job_id: uuid.UUID, exc: Exception, now: datetime) -> None:
        error = "".join(traceback.format_exception(exc))[-4000:]
        async with self.db.session() as session:
            job = await self._own(session, job_id)
            if job is None:
                log.warning("job_lease_lost", error=repr(exc))
                return
            if isinstance(exc, jobs.PermanentJobError) or job.attempts >= self._limit(job):
                self._bury(job, now, error)
            else:
                delay = jobs.backoff(job.attempts)
                job.status = jobs.PENDING
                job.run_at = now + delay
                job.locked_by = None
                job.locked_until = None
                job.last_error = error
                log.warning(
                    "job_failed",
                    kind=job.kind,
                    attempts=job.attempts,
                    retry_in_s=delay.total_seconds(),
                    error=repr(exc),
                )
            await session.commit()

    def _bury(self, job: Job, now: datetime, error: str) -> None:
        _finish(job, jobs.DEAD, now)
        job.last_error = error
        log.error("job_dead", job_id=str(job.id), kind=job.kind, attempts=job.attempts)

    # -- sweeps --------------------------------------------------------------------------

    def _sweeps(self) -> list[jobs.Sweep | jobs.BatchSweep]:
        return [
            sweep
            for name, sweep in sorted(jobs.SWEEPS.items())
            if self.sweep_names is None or name in self.sweep_names
        ]

    async def _claim_sweeps(self, now: datetime) -> list[tuple[str, datetime]]:
        sweeps = self._sweeps()
        if not sweeps:
            return []
        names = [s.name for s in sweeps]
        create = (
            _insert(self.db.backend)(PeriodicTask)
            .values([{"name": name, "next_run_at": now} for name in names])
            .on_conflict_do_nothing(index_elements=["name"])
        )
        due = (
            sa.select(PeriodicTask)
            .where(
                PeriodicTask.name.in_(names),
                PeriodicTask.next_run_at <= now,
                sa.or_(PeriodicTask.locked_until.is_(None), PeriodicTask.locked_until < now),
            )
            .order_by(PeriodicTask.name)
            .with_for_update(skip_locked=True)
        )
        lease = now + timedelta(seconds=self.settings.job_lease_seconds)
        async with self.db.session() as session:
            await session.execute(create)
            rows = list((await session.execute(due)).scalars())
            for row in rows:
                row.locked_by = self.token
                row.locked_until = lease
            await session.commit()
        return [(row.name, lease) for row in rows]

    async def _own_sweep(self, session: AsyncSession, name: str) -> PeriodicTask | None:
        stmt = (
            sa.select(PeriodicTask)
            .where(PeriodicTask.name == name, PeriodicTask.locked_by == self.token)
            .with_for_update()
        )
        return (await session.execute(stmt)).scalar_one_or_none()

    async def _run_sweep(self, name: str, lease_ends: datetime, now: datetime) -> None:
        sweep = jobs.SWEEPS[name]
        with structlog.contextvars.bound_contextvars(sweep=name, worker=self.name):
            try:
                if isinstance(sweep, jobs.BatchSweep):
                    result = await self._run_batch_sweep(sweep, lease_ends, now)
                else:
                    result = await self._run_sweep_in_transaction(sweep, now)
                if result:
                    log.info("sweep_done", result=result)
            except Exception as exc:
                log.exception("sweep_failed")
                await self._record_sweep_failure(sweep, exc, now)

    async def _run_sweep_in_transaction(self, sweep: jobs.Sweep, now: datetime) -> Any:
        async with self.db.session() as session:
            row = await self._own_sweep(session, sweep.name)
            if row is None:
                log.warning("sweep_lease_lost")
                return None
            result = await sweep.run(session, now)
            _sweep_done(row, sweep, now)
            await session.commit()
        return result

    async def _run_batch_sweep(
        self, sweep: jobs.BatchSweep, lease_ends: datetime, now: datetime
    ) -> Any:
        """No transaction around the sweep: it commits its own batches. Bounded by the
        lease, so a slow pass stops (its batches kept) before another worker may start."""
        budget = self._budget(lease_ends, now)
        if budget <= 0:
            raise TimeoutError("the sweeps before it used up its lease")
        context = jobs.SweepContext(self.settings, self.db, sweep.name)
        result = await _within(budget, sweep.run(context, now))
        async with self.db.session() as session:
            row = await self._own_sweep(session, sweep.name)
            if row is None:
                log.warning("sweep_lease_lost")
                return result
            _sweep_done(row, sweep, now)
            await session.commit()
        return result

    async def _record_sweep_failure(
        self, sweep: jobs.Sweep | jobs.BatchSweep, exc: Exception, now: datetime
    ) -> None:
        try:
            async with self.db.session() as session:
                row = await self._own_sweep(session, sweep.name)
                if row is None:
                    return
                row.next_run_at = now + min(sweep.every, SWEEP_RETRY)
                row.locked_by = None
                row.locked_until = None
                row.last_error = "".join(traceback.format_exception(exc))[-4000:]
                await session.commit()
        except Exception:
            # The lease expires on its own; the loop must go on.
            log.exception("sweep_failure_not_recorded")


@dataclass(frozen=True)
class Claimed:
    """What the claim read of a job: enough to run it without the row."""

    id: uuid.UUID
    kind: str
    payload: dict[str, Any]
    attempt: int
    expires_at: datetime | None
    lease_ends: datetime


async def _within(seconds: float, work: Awaitable[T]) -> T:
    """`await work`, cancelled after `seconds` (its own timeouts pass through as they are)."""
    limit = asyncio.timeout(seconds)
    try:
        async with limit:
            return await work
    except TimeoutError as exc:
        if not limit.expired():
            raise
        raise LeaseTimeout(f"still running after {seconds:.0f} s of its lease") from exc


class LeaseTimeout(TimeoutError):
    """Work without a transaction was cut off before its lease could end."""


def _expired(job: Job, now: datetime) -> bool:
    return job.expires_at is not None and job.expires_at <= now


def _expire(job: Job, now: datetime) -> None:
    _finish(job, jobs.EXPIRED, now)
    log.info("job_expired", job_id=str(job.id), kind=job.kind)


def _finish(job: Job, status: str, at: datetime) -> None:
    job.status = status
    job.finished_at = at
    job.locked_by = None
    job.locked_until = None
    if status != jobs.DEAD:
        job.last_error = None


def _sweep_done(row: PeriodicTask, sweep: jobs.Sweep | jobs.BatchSweep, now: datetime) -> None:
    row.last_run_at = now
    row.next_run_at = now + sweep.every
    row.locked_by = None
    row.locked_until = None
    row.last_error = None


async def run_until_signal(worker: Worker) -> None:
    """Run `worker` until SIGTERM/SIGINT: the first finishes the current job and exits,
    a second one cancels at once."""
    loop = asyncio.get_running_loop()
    task = asyncio.ensure_future(worker.run_forever())

    def on_signal(signum: int) -> None:
        if worker.stopping:
            log.warning("worker_forced_exit", signal=signal.Signals(signum).name)
            task.cancel()
            return
        log.info("worker_stopping", signal=signal.Signals(signum).name)
        worker.stop()

    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, on_signal, signum)
    try:
        with contextlib.suppress(asyncio.CancelledError):
            await task
    finally:
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(signum)
