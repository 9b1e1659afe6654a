"""The worker: effects commit with `done`, retries back off, dead letters, sweeps, lifecycle."""

from __future__ import annotations

import asyncio
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
from bazaar.kit.jobs import DEAD, DONE, HANDLERS, PENDING, SWEEPS, enqueue, job_handler, periodic
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
    seen: list[tuple[Any, Any]] = []

    @job_handler("test.ok")
    async def ok(session: AsyncSession, payload: dict[str, Any]) -> None:
        seen.append((session.info["job_id"], session.info["settings"]))
        await record_effect(session, {"for": payload["n"]})

    job = await add_job(db, "test.ok", {"n": 7})
    assert await worker(db, settings, "test.ok").run_once() == 1
    assert seen == [(job.id, settings)]  # handlers read the worker's own settings
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
    async def flaky(session: AsyncSession, payload: dict[str, Any]) -> None:
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
    async def broken(session: AsyncSession, payload: dict[str, Any]) -> None:
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
    async def later(session: AsyncSession, payload: dict[str, Any]) -> None:
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
    async def chain(session: AsyncSession, payload: dict[str, Any]) -> None:
        if payload["left"]:
            await enqueue(session, "test.chain", {"left": payload["left"] - 1})
        else:
            await record_effect(session, {"end": True})

    await add_job(db, "test.chain", {"left": 3})
    assert await worker(db, settings, "test.chain").run_once() == 4
    assert await effects(db) == [{"end": True}]


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
    async def ok(session: AsyncSession, payload: dict[str, Any]) -> None:
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


async def test_run_forever_processes_jobs_beats_and_stops_promptly(
    db: Database, settings: Settings
) -> None:
    done = asyncio.Event()

    @job_handler("test.ping")
    async def ping(session: AsyncSession, payload: dict[str, Any]) -> None:
        done.set()

    slow_poll = settings.model_copy(update={"worker_poll_interval": 30.0})
    w = Worker(db, slow_poll, name="looper", kinds={"test.ping"}, sweeps=set())
    await add_job(db, "test.ping", {})
    task = asyncio.create_task(w.run_forever())
    try:
        await asyncio.wait_for(done.wait(), timeout=5)
        await asyncio.sleep(0.2)  # now idle in its 30 s poll sleep
    finally:
        async with db.session(False) as session:
            beat = await session.get(WorkerHeartbeat, "looper")
        started = time.monotonic()
        w.stop()
        await asyncio.wait_for(task, timeout=5)
    assert time.monotonic() - started < 2  # did not sit out the 30 s poll interval
    assert beat is not None and beat.seen_at >= w.started_at
    async with db.session(False) as session:
        assert await session.get(WorkerHeartbeat, "looper") is None  # clean stop


async def test_the_app_runs_an_in_process_worker_in_development(
    db: Database, settings: Settings
) -> None:
    from bazaar.main import create_app

    ran = asyncio.Event()

    @job_handler("test.dev")
    async def dev(session: AsyncSession, payload: dict[str, Any]) -> None:
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
        "@job_handler('test.fake-shop')\nasync def h(session, payload): pass\n",
        "shop/refunds/__init__.py": "",
        "shop/refunds/jobs.py": "from bazaar.kit.jobs import job_handler\n"
        "@job_handler('test.fake-refund')\nasync def h(session, payload): pass\n",
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
