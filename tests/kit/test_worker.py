"""The worker: effects commit with `done`, retries back off, dead letters, I/O jobs outside
any transaction, expiry, sweeps with and without a transaction, lifecycle."""

from __future__ import annotations

import asyncio
import contextlib
import sys
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from asgi_lifespan import LifespanManager
from sqlalchemy.ext.asyncio import AsyncSession

from bazaar.config import Settings
from bazaar.kit.db import Database, utcnow
from bazaar.kit.jobs import (
    DEAD,
    DONE,
    EXPIRED,
    HANDLERS,
    PENDING,
    REALTIME_TTL,
    SWEEPS,
    JobContext,
    PermanentJobError,
    SweepContext,
    enqueue,
    in_batches,
    job_handler,
    periodic,
)
from bazaar.kit.locks import SlowWorkUnderLock, assert_no_write_transaction
from bazaar.models import Job, PeriodicTask, WorkerHeartbeat
from bazaar.worker import Worker, load_handlers


@pytest.fixture(autouse=True)
def _registry() -> Iterator[None]:
    """Handlers registered by a test are removed afterwards (domain ones stay)."""
    load_handlers()
    handlers, sweeps = dict(HANDLERS), dict(SWEEPS)
    yield
    HANDLERS.clear()
    HANDLERS.update(handlers)
    SWEEPS.clear()
    SWEEPS.update(sweeps)


def worker(db: Database, settings: Settings, *kinds: str, sweeps: tuple[str, ...] = ()) -> Worker:
    return Worker(db, settings, name="test", kinds=set(kinds), sweeps=set(sweeps))


async def add_job(db: Database, kind: str, payload: dict[str, Any], **kw: Any) -> Job:
    async with db.session() as session:
        job = await enqueue(session, kind, payload, **kw)
        await session.commit()
        return job


async def get_job(db: Database, job: Job) -> Job:
    async with db.session(False) as session:
        found = await session.get(Job, job.id)
        assert found is not None
        return found


async def effects(db: Database) -> list[dict[str, Any]]:
    async with db.session(False) as session:
        rows = await session.execute(sa.select(Job.payload).where(Job.kind == "test.effect"))
        return [r[0] for r in rows]


async def record_effect(session: AsyncSession, payload: dict[str, Any]) -> None:
    """A handler's database effect: an outbox row, as a real handler would write."""
    await enqueue(session, "test.effect", payload)


async def test_handler_effects_and_done_commit_together(db: Database, settings: Settings) -> None:
    seen: list[tuple[Any, ...]] = []

    @job_handler("test.ok")
    async def ok(ctx: JobContext, session: AsyncSession, payload: dict[str, Any]) -> None:
        seen.append((ctx.job_id, ctx.kind, ctx.attempt, ctx.settings, ctx.db))
        await record_effect(session, {"for": payload["n"]})

    job = await add_job(db, "test.ok", {"n": 7})
    assert await worker(db, settings, "test.ok").run_once() == 1
    assert seen == [(job.id, "test.ok", 1, settings, db)]  # the worker's own settings
    done = await get_job(db, job)
    assert (done.status, done.attempts, done.locked_by) == (DONE, 1, None)
    assert done.finished_at is not None
    assert await effects(db) == [{"for": 7}]
    assert await worker(db, settings, "test.ok").run_once() == 0


async def test_failure_rolls_back_effects_retries_with_backoff_then_dead_letters(
    db: Database, settings: Settings
) -> None:
    calls: list[datetime] = []

    @job_handler("test.flaky")
    async def flaky(ctx: JobContext, session: AsyncSession, payload: dict[str, Any]) -> None:
        calls.append(utcnow())
        await record_effect(session, {"half": "done"})
        raise RuntimeError("provider timed out")

    job = await add_job(db, "test.flaky", {}, max_attempts=3)
    w = worker(db, settings, "test.flaky")
    now = utcnow()

    assert await w.run_once(now) == 1
    first = await get_job(db, job)
    assert (first.status, first.attempts, first.locked_by) == (PENDING, 1, None)
    assert first.run_at == now + timedelta(seconds=2)
    assert first.last_error is not None and "provider timed out" in first.last_error
    assert await effects(db) == []  # the failed try left nothing behind

    assert await w.run_once(now + timedelta(seconds=1)) == 0  # not due yet
    assert await w.run_once(now + timedelta(seconds=2)) == 1
    second = await get_job(db, job)
    assert (second.status, second.attempts) == (PENDING, 2)
    assert second.run_at == now + timedelta(seconds=2 + 4)

    assert await w.run_once(now + timedelta(seconds=6)) == 1
    dead = await get_job(db, job)
    assert (dead.status, dead.attempts) == (DEAD, 3)
    assert dead.finished_at is not None
    assert await w.run_once(now + timedelta(days=1)) == 0
    assert len(calls) == 3
    assert await effects(db) == []


async def test_job_without_own_limit_uses_job_max_attempts_setting(
    db: Database, settings: Settings
) -> None:
    @job_handler("test.broken")
    async def broken(ctx: JobContext, session: AsyncSession, payload: dict[str, Any]) -> None:
        raise ValueError("bad payload")

    job = await add_job(db, "test.broken", {})
    w = worker(db, settings.model_copy(update={"job_max_attempts": 2}), "test.broken")
    now = utcnow()
    await w.run_once(now)
    await w.run_once(now + timedelta(minutes=1))
    assert (await get_job(db, job)).status == DEAD


async def test_unknown_kinds_and_future_jobs_are_left_alone(
    db: Database, settings: Settings
) -> None:
    @job_handler("test.later")
    async def later(ctx: JobContext, session: AsyncSession, payload: dict[str, Any]) -> None:
        await record_effect(session, payload)

    unknown = await add_job(db, "test.nobody-handles-this", {"x": 1})
    future = await add_job(db, "test.later", {"x": 2}, run_at=utcnow() + timedelta(hours=1))
    assert await Worker(db, settings, name="all-kinds", sweeps=set()).run_once() == 0
    for job in (unknown, future):
        row = await get_job(db, job)
        assert (row.status, row.attempts, row.locked_by) == (PENDING, 0, None)
    assert await worker(db, settings, "test.later").run_once(utcnow() + timedelta(hours=1)) == 1
    assert await effects(db) == [{"x": 2}]


async def test_jobs_enqueued_by_a_job_run_in_the_same_pass(
    db: Database, settings: Settings
) -> None:
    @job_handler("test.chain")
    async def chain(ctx: JobContext, session: AsyncSession, payload: dict[str, Any]) -> None:
        if payload["left"]:
            await enqueue(session, "test.chain", {"left": payload["left"] - 1})
        else:
            await record_effect(session, {"end": True})

    await add_job(db, "test.chain", {"left": 3})
    assert await worker(db, settings, "test.chain").run_once() == 4
    assert await effects(db) == [{"end": True}]


async def test_a_transactional_handler_runs_inside_the_jobs_write_transaction(
    db: Database, settings: Settings
) -> None:
    """The lock guard sees the job's transaction: slow work there fails the job."""

    @job_handler("test.slow-in-tx")
    async def slow(ctx: JobContext, session: AsyncSession, payload: dict[str, Any]) -> None:
        await record_effect(session, {"before": "slow work"})
        assert_no_write_transaction("test call")

    job = await add_job(db, "test.slow-in-tx", {})
    assert await worker(db, settings, "test.slow-in-tx").run_once() == 1
    failed = await get_job(db, job)
    assert (failed.status, failed.attempts) == (PENDING, 1)
    assert failed.last_error is not None and SlowWorkUnderLock.__name__ in failed.last_error
    assert await effects(db) == []


async def test_an_io_handler_runs_with_no_transaction_open_and_writes_its_own(
    db: Database, settings: Settings
) -> None:
    seen: list[tuple[Any, ...]] = []

    @job_handler("test.io", io=True)
    async def io(ctx: JobContext, payload: dict[str, Any]) -> None:
        assert_no_write_transaction("test call")  # raises if the job's claim were still open
        seen.append((ctx.job_id, ctx.kind, ctx.attempt, ctx.settings, ctx.db))
        async with ctx.db.transaction() as session:
            await record_effect(session, {"sent": payload["n"]})

    job = await add_job(db, "test.io", {"n": 1})
    assert await worker(db, settings, "test.io").run_once() == 1
    assert seen == [(job.id, "test.io", 1, settings, db)]
    done = await get_job(db, job)
    assert (done.status, done.attempts, done.locked_by, done.last_error) == (DONE, 1, None, None)
    assert done.finished_at is not None
    assert await effects(db) == [{"sent": 1}]


async def test_an_io_failure_is_retried_with_backoff_then_dead_lettered(
    db: Database, settings: Settings
) -> None:
    calls: list[int] = []

    @job_handler("test.io-flaky", io=True)
    async def flaky(ctx: JobContext, payload: dict[str, Any]) -> None:
        calls.append(ctx.attempt)
        raise ConnectionError("provider unreachable")

    job = await add_job(db, "test.io-flaky", {}, max_attempts=2)
    w = worker(db, settings, "test.io-flaky")
    now = utcnow()
    assert await w.run_once(now) == 1
    retry = await get_job(db, job)
    assert (retry.status, retry.attempts, retry.locked_by) == (PENDING, 1, None)
    assert retry.run_at == now + timedelta(seconds=2)
    assert retry.last_error is not None and "provider unreachable" in retry.last_error
    assert await w.run_once(now + timedelta(seconds=2)) == 1
    assert (await get_job(db, job)).status == DEAD
    assert calls == [1, 2]


@pytest.mark.parametrize("io", [False, True], ids=["transactional", "io"])
async def test_a_permanent_error_dead_letters_at_once_with_its_reason(
    db: Database, settings: Settings, io: bool
) -> None:
    async def refuse(ctx: JobContext, *args: Any) -> None:
        if not io:
            await record_effect(args[0], {"half": "done"})
        raise PermanentJobError("recipient does not exist")

    job_handler("test.permanent", io=io)(refuse)
    job = await add_job(db, "test.permanent", {})
    assert await worker(db, settings, "test.permanent").run_once() == 1
    dead = await get_job(db, job)
    assert (dead.status, dead.attempts) == (DEAD, 1)  # of JOB_MAX_ATTEMPTS (5)
    assert dead.last_error is not None and "recipient does not exist" in dead.last_error
    assert dead.finished_at is not None
    assert await effects(db) == []


async def test_an_io_handler_is_cut_off_before_its_lease_ends(
    db: Database, settings: Settings
) -> None:
    """Past its lease another worker could take the job over, so the handler is cancelled
    first (at 90% of the lease) and the try recorded while the claim is still ours."""
    cancelled = asyncio.Event()

    @job_handler("test.io-hangs", io=True)
    async def hangs(ctx: JobContext, payload: dict[str, Any]) -> None:
        try:
            await asyncio.Event().wait()
        finally:
            cancelled.set()

    job = await add_job(db, "test.io-hangs", {})
    short_lease = settings.model_copy(update={"job_lease_seconds": 1})
    w = worker(db, short_lease, "test.io-hangs")
    assert await asyncio.wait_for(w.run_once(), timeout=10) == 1
    assert cancelled.is_set()
    retry = await get_job(db, job)
    assert (retry.status, retry.attempts, retry.locked_by) == (PENDING, 1, None)
    assert retry.last_error is not None and "LeaseTimeout" in retry.last_error


@pytest.mark.parametrize("io", [False, True], ids=["transactional", "io"])
async def test_an_expired_job_is_never_run_and_ends_expired(
    db: Database, settings: Settings, io: bool
) -> None:
    ran: list[Any] = []

    async def emit(ctx: JobContext, *args: Any) -> None:
        ran.append(args[-1])

    job_handler("test.live", io=io)(emit)
    stale = await add_job(db, "test.live", {"n": "stale"}, expires_in=REALTIME_TTL)
    fresh = await add_job(db, "test.live", {"n": "fresh"}, expires_in=timedelta(hours=1))
    forever = await add_job(db, "test.live", {"n": "no expiry"})
    assert stale.expires_at is not None
    later = stale.expires_at + timedelta(seconds=1)

    assert await worker(db, settings, "test.live").run_once(later) == 2
    assert sorted(p["n"] for p in ran) == ["fresh", "no expiry"]
    expired = await get_job(db, stale)
    assert (expired.status, expired.attempts, expired.locked_by) == (EXPIRED, 0, None)
    assert expired.finished_at == later
    for job in (fresh, forever):
        assert (await get_job(db, job)).status == DONE


async def test_a_claimed_job_that_expires_before_its_turn_is_not_run(
    db: Database, settings: Settings
) -> None:
    """Jobs are claimed in batches; one whose expiry passes while the jobs before it run is
    marked `expired` when its turn comes. (The clock is fixed, so the first job brings the
    second one's expiry forward instead of taking minutes.)"""
    ran: list[str] = []
    now = utcnow()

    @job_handler("test.batch")
    async def handle(ctx: JobContext, session: AsyncSession, payload: dict[str, Any]) -> None:
        ran.append(payload["n"])
        if payload["n"] == "first":
            await session.execute(
                sa.update(Job)
                .where(Job.kind == "test.batch", Job.id != ctx.job_id)
                .values(expires_at=now - timedelta(seconds=1))
            )

    async with db.transaction() as session:
        await enqueue(session, "test.batch", {"n": "first"}, run_at=now - timedelta(seconds=2))
        second = await enqueue(
            session,
            "test.batch",
            {"n": "second"},
            run_at=now - timedelta(seconds=1),
            expires_in=timedelta(minutes=1),
        )

    assert await worker(db, settings, "test.batch").run_once(now) == 2  # both taken in turn
    assert ran == ["first"]
    assert (await get_job(db, second)).status == EXPIRED


async def test_periodic_sweep_runs_once_per_interval(db: Database, settings: Settings) -> None:
    seen: list[datetime] = []

    @periodic("test.tick", every=timedelta(minutes=5))
    async def tick(session: AsyncSession, now: datetime) -> int:
        seen.append(now)
        await record_effect(session, {"tick": now.isoformat()})
        return 1

    t0 = utcnow()
    a = worker(db, settings, sweeps=("test.tick",))
    b = Worker(db, settings, name="other", kinds=set(), sweeps={"test.tick"})
    assert await a.run_once(t0) == 1
    assert await b.run_once(t0 + timedelta(minutes=1)) == 0
    assert await a.run_once(t0 + timedelta(minutes=4)) == 0
    assert await b.run_once(t0 + timedelta(minutes=5)) == 1
    # Two workers at the same moment: still one run.
    results = await asyncio.gather(
        a.run_once(t0 + timedelta(minutes=10)), b.run_once(t0 + timedelta(minutes=10))
    )
    assert sorted(results) == [0, 1]
    assert seen == [t0, t0 + timedelta(minutes=5), t0 + timedelta(minutes=10)]
    assert len(await effects(db)) == 3
    async with db.session(False) as session:
        row = await session.get(PeriodicTask, "test.tick")
    assert row is not None
    assert row.last_run_at == t0 + timedelta(minutes=10)
    assert row.next_run_at == t0 + timedelta(minutes=15)
    assert row.locked_by is None


async def test_failing_sweep_is_recorded_retried_and_does_not_stop_jobs(
    db: Database, settings: Settings
) -> None:
    @periodic("test.broken-sweep", every=timedelta(hours=1))
    async def broken(session: AsyncSession, now: datetime) -> None:
        await record_effect(session, {"sweep": "partial"})
        raise RuntimeError("upstream down")

    @job_handler("test.ok")
    async def ok(ctx: JobContext, session: AsyncSession, payload: dict[str, Any]) -> None:
        await record_effect(session, {"job": "ran"})

    await add_job(db, "test.ok", {})
    w = worker(db, settings, "test.ok", sweeps=("test.broken-sweep",))
    t0 = utcnow()
    assert await w.run_once(t0) == 2
    assert await effects(db) == [{"job": "ran"}]
    async with db.session(False) as session:
        row = await session.get(PeriodicTask, "test.broken-sweep")
    assert row is not None
    assert row.last_error is not None and "upstream down" in row.last_error
    assert row.last_run_at is None
    assert row.next_run_at == t0 + timedelta(minutes=1)  # sooner than the hourly interval
    assert await w.run_once(t0 + timedelta(seconds=30)) == 0
    assert await w.run_once(t0 + timedelta(minutes=1)) == 1


async def test_a_sweep_without_transaction_commits_its_own_batches(
    db: Database, settings: Settings
) -> None:
    seen: list[tuple[str, Settings]] = []

    @periodic("test.batched", every=timedelta(hours=1), transactional=False)
    async def batched(ctx: SweepContext, now: datetime) -> int:
        assert_no_write_transaction("test call")  # no transaction around the sweep
        seen.append((ctx.name, ctx.settings))
        left = [5]

        async def step(session: AsyncSession, limit: int) -> int:
            count = min(left[0], limit)
            for n in range(count):
                await record_effect(session, {"n": left[0] - n})
            left[0] -= count
            return count

        return await in_batches(ctx.db, step, 2)

    commits: list[int] = []
    t0 = utcnow()
    w = worker(db, settings, sweeps=("test.batched",))
    with count_commits(db, commits):
        assert await w.run_once(t0) == 1
    assert seen == [("test.batched", settings)]
    assert len(await effects(db)) == 5
    # The claim, batches of 2 + 2 + 1, and the record of the run: each committed alone.
    assert len(commits) == 5
    async with db.session(False) as session:
        row = await session.get(PeriodicTask, "test.batched")
    assert row is not None
    assert (row.last_run_at, row.next_run_at, row.locked_by) == (t0, t0 + timedelta(hours=1), None)
    assert await w.run_once(t0 + timedelta(minutes=59)) == 0


@contextlib.contextmanager
def count_commits(db: Database, commits: list[int]) -> Iterator[None]:
    """Append to `commits` at every commit of the write engine while the block runs."""

    def on_commit(_conn: Any) -> None:
        commits.append(1)

    sa.event.listen(db.engine.sync_engine, "commit", on_commit)
    try:
        yield
    finally:
        sa.event.remove(db.engine.sync_engine, "commit", on_commit)


class PassWatcher(Worker):
    """A worker that tells the test when each pass (`run_once`) ends. Nothing else changes:
    after a pass, `run_forever` goes straight to its idle wait for the next poll."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.passes: list[int] = []
        self.pass_ended = asyncio.Event()

    async def run_once(self, now: datetime | None = None) -> int:
        ran = await super().run_once(now)
        self.passes.append(ran)
        self.pass_ended.set()
        return ran


async def test_run_forever_processes_jobs_beats_and_stops_promptly(
    db: Database, settings: Settings
) -> None:
    done = asyncio.Event()

    @job_handler("test.ping")
    async def ping(ctx: JobContext, session: AsyncSession, payload: dict[str, Any]) -> None:
        done.set()

    slow_poll = settings.model_copy(update={"worker_poll_interval": 30.0})
    w = PassWatcher(db, slow_poll, name="looper", kinds={"test.ping"}, sweeps=set())
    await add_job(db, "test.ping", {})
    task = asyncio.create_task(w.run_forever())
    try:
        await asyncio.wait_for(done.wait(), timeout=5)
        # The pass that ran it has ended: the worker is now idle in its 30 s poll wait.
        await asyncio.wait_for(w.pass_ended.wait(), timeout=5)
        assert w.passes == [1]
    finally:
        async with db.session(False) as session:
            beat = await session.get(WorkerHeartbeat, "looper")
        started = time.monotonic()
        w.stop()
        await asyncio.wait_for(task, timeout=5)
    assert time.monotonic() - started < 2  # did not sit out the 30 s poll interval
    assert w.passes == [1]  # stopped in the wait, before another pass
    assert beat is not None and beat.seen_at >= w.started_at
    async with db.session(False) as session:
        assert await session.get(WorkerHeartbeat, "looper") is None  # clean stop


async def test_the_app_runs_an_in_process_worker_in_development(
    db: Database, settings: Settings
) -> None:
    from bazaar.main import create_app

    ran = asyncio.Event()

    @job_handler("test.dev")
    async def dev(ctx: JobContext, session: AsyncSession, payload: dict[str, Any]) -> None:
        ran.set()

    dev_settings = settings.model_copy(
        update={"worker_in_process": True, "worker_poll_interval": 0.05}
    )
    app = create_app(dev_settings, database=db)
    async with LifespanManager(app):
        await add_job(db, "test.dev", {})
        await asyncio.wait_for(ran.wait(), timeout=10)
        async with db.session(False) as session:
            assert await session.get(WorkerHeartbeat, "in-process") is not None


def test_load_handlers_finds_jobs_modules_of_new_domains(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "fakebazaar"
    files = {
        "__init__.py": "",
        "shop/__init__.py": "",
        "shop/jobs.py": "from bazaar.kit.jobs import job_handler\n"
        "@job_handler('test.fake-shop')\nasync def h(ctx, session, payload): pass\n",
        "shop/refunds/__init__.py": "",
        "shop/refunds/jobs.py": "from bazaar.kit.jobs import job_handler\n"
        "@job_handler('test.fake-refund', io=True)\nasync def h(ctx, payload): pass\n",
        # A package without jobs is not even imported.
        "broken/__init__.py": "raise RuntimeError('must not be imported')\n",
    }
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    monkeypatch.syspath_prepend(str(tmp_path))
    try:
        assert load_handlers("fakebazaar") == [
            "fakebazaar.shop.jobs",
            "fakebazaar.shop.refunds.jobs",
        ]
        assert {"test.fake-shop", "test.fake-refund"} <= set(HANDLERS)
    finally:
        for module in [m for m in sys.modules if m.startswith("fakebazaar")]:
            del sys.modules[module]
