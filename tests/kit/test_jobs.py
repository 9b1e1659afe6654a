"""Enqueueing: a job exists only if its transaction commits; dedupe keys name work once;
expiry; the per-row savepoint helper of sweeps."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from bazaar.kit.db import Database, utcnow
from bazaar.kit.errors import Conflict
from bazaar.kit.jobs import (
    DONE,
    HANDLERS,
    PENDING,
    REALTIME_TTL,
    IoJob,
    JobContext,
    TransactionalJob,
    backoff,
    each_in_savepoint,
    enqueue,
    job_handler,
)
from bazaar.models import Job


async def all_jobs(db: Database) -> list[Job]:
    async with db.session(False) as session:
        return list((await session.execute(sa.select(Job).order_by(Job.created_at))).scalars())


async def test_job_from_a_rolled_back_transaction_does_not_exist(db: Database) -> None:
    async with db.session() as session:
        await enqueue(session, "test.mail", {"to": "a@example.com"})
        await session.rollback()
    assert await all_jobs(db) == []


async def test_committed_job_is_pending_with_its_payload(db: Database) -> None:
    later = utcnow() + timedelta(hours=1)
    async with db.session() as session:
        await enqueue(session, "test.mail", {"to": "a@example.com"}, run_at=later)
        await session.commit()
    [job] = await all_jobs(db)
    assert (job.kind, job.status, job.payload) == ("test.mail", PENDING, {"to": "a@example.com"})
    assert job.run_at == later
    assert job.attempts == 0


async def test_dedupe_key_returns_the_existing_job_in_any_state(db: Database) -> None:
    async with db.session() as session:
        first = await enqueue(session, "test.release", {"n": 1}, dedupe_key="pay:1:release")
        again = await enqueue(session, "test.release", {"n": 2}, dedupe_key="pay:1:release")
        assert again.id == first.id
        await session.commit()
    async with db.session() as session:
        job = await session.get(Job, first.id)
        assert job is not None
        job.status = DONE
        await session.commit()
    async with db.session() as session:
        later = await enqueue(session, "test.release", {"n": 3}, dedupe_key="pay:1:release")
        other = await enqueue(session, "test.release", {"n": 4}, dedupe_key="pay:2:release")
        await session.commit()
    assert later.id == first.id and later.status == DONE
    jobs = await all_jobs(db)
    assert sorted(j.payload["n"] for j in jobs) == [1, 4]
    assert other.id != first.id


async def lock_waiters(db: Database) -> int:
    """How many sessions of this database wait for a lock (PostgreSQL)."""
    query = sa.text(
        "SELECT count(*) FROM pg_stat_activity "
        "WHERE wait_event_type = 'Lock' AND datname = current_database()"
    )
    async with db.reading() as session:
        return int((await session.execute(query)).scalar_one())


@contextlib.asynccontextmanager
async def write_begun(db: Database) -> AsyncIterator[asyncio.Event]:
    """Set when a write transaction sends its `BEGIN IMMEDIATE` (SQLite) while the block runs:
    with another one open, it waits there for SQLite's write lock."""
    begun = asyncio.Event()

    def on_execute(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if statement == "BEGIN IMMEDIATE":
            begun.set()

    sa.event.listen(db.engine.sync_engine, "before_cursor_execute", on_execute)
    try:
        yield begun
    finally:
        sa.event.remove(db.engine.sync_engine, "before_cursor_execute", on_execute)


async def test_concurrent_enqueue_of_one_key_keeps_one_job_and_both_transactions(
    db: Database,
) -> None:
    """The second transaction waits for the first, then gets its job and can still commit."""
    first_session = db.session()
    async with first_session:
        first = await enqueue(first_session, "test.release", {"by": "a"}, dedupe_key="k")

        async def second() -> tuple[Job, Job]:
            async with db.session() as session:
                dup = await enqueue(session, "test.release", {"by": "b"}, dedupe_key="k")
                extra = await enqueue(session, "test.other", {"by": "b"})
                await session.commit()
                return dup, extra

        async with write_begun(db) as second_begun, asyncio.timeout(30):
            task = asyncio.create_task(second())
            if db.backend == "postgresql":
                # It found no job yet and now waits on our uncommitted insert (the unique
                # index on dedupe_key): a lock wait.
                while not task.done() and not await lock_waiters(db):
                    pass
            else:
                # SQLite: its transaction cannot begin before ours ends (BEGIN IMMEDIATE).
                await second_begun.wait()
        assert not task.done()
        await first_session.commit()
        dup, extra = await asyncio.wait_for(task, timeout=30)
    assert dup.id == first.id
    jobs = await all_jobs(db)
    assert sorted((j.kind, j.payload["by"]) for j in jobs) == [
        ("test.other", "b"),
        ("test.release", "a"),
    ]
    assert extra.id in {j.id for j in jobs}


def test_backoff_doubles_and_is_capped() -> None:
    assert [backoff(n).total_seconds() for n in (1, 2, 3, 4)] == [2, 4, 8, 16]
    assert backoff(50) == timedelta(hours=1)


def test_a_kind_cannot_get_a_second_handler() -> None:
    async def send(ctx: JobContext, payload: dict[str, Any]) -> None: ...

    async def other_send(
        ctx: JobContext, session: AsyncSession, payload: dict[str, Any]
    ) -> None: ...

    job_handler("test.send", io=True)(send)
    try:
        job_handler("test.send", io=True)(send)  # the same function again (re-import) is fine
        with pytest.raises(ValueError, match="already handled"):
            job_handler("test.send")(other_send)
        assert HANDLERS["test.send"] == IoJob("test.send", send)
    finally:
        HANDLERS.pop("test.send")
    job_handler("test.send")(other_send)
    try:
        assert HANDLERS["test.send"] == TransactionalJob("test.send", other_send)
    finally:
        HANDLERS.pop("test.send")


async def test_a_live_event_carries_its_expiry(db: Database) -> None:
    before = utcnow()
    async with db.transaction() as session:
        live = await enqueue(session, "test.emit", {"event": "x"}, expires_in=REALTIME_TTL)
        fixed = await enqueue(session, "test.emit", {}, expires_at=before + timedelta(hours=1))
        lasting = await enqueue(session, "test.mail", {})
        with pytest.raises(ValueError, match="not both"):
            await enqueue(session, "test.emit", {}, expires_in=REALTIME_TTL, expires_at=utcnow())
    stored = {job.id: job.expires_at for job in await all_jobs(db)}
    assert stored[live.id] is not None
    assert before + REALTIME_TTL <= stored[live.id] <= utcnow() + REALTIME_TTL
    assert stored[fixed.id] == before + timedelta(hours=1)
    assert stored[lasting.id] is None


async def test_each_row_in_its_own_savepoint_keeps_nothing_of_a_failing_row(
    db: Database,
) -> None:
    """A sweep step that fails after writing leaves nothing of its row; the other rows
    commit with the sweep's transaction."""
    async with db.transaction() as session:
        for n in range(5):
            await enqueue(session, "test.item", {"n": n})

    async with db.transaction() as session:

        async def move(job: Job) -> None:
            if job.payload["n"] == 4:
                job.status = DONE
                raise RuntimeError("fails before anything was flushed")
            job.status = DONE  # the row's own change...
            await enqueue(session, "test.moved", {"n": job.payload["n"]})  # ...and a side row
            await session.flush()
            if job.payload["n"] == 1:
                raise RuntimeError("provider answered nonsense")  # after the partial writes
            if job.payload["n"] == 2:
                raise Conflict()  # moved by someone else meanwhile: expected, skipped quietly

        found = await session.execute(sa.select(Job).where(Job.kind == "test.item"))
        rows = sorted(found.scalars(), key=lambda job: job.payload["n"])
        moved = await each_in_savepoint(session, rows, move, expected=(Conflict,))

    assert moved == 2
    jobs = await all_jobs(db)
    items = {j.payload["n"]: j.status for j in jobs if j.kind == "test.item"}
    assert items == {0: DONE, 1: PENDING, 2: PENDING, 3: DONE, 4: PENDING}
    assert sorted(j.payload["n"] for j in jobs if j.kind == "test.moved") == [0, 3]
