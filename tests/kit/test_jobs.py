"""Enqueueing: a job exists only if its transaction commits; dedupe keys name work once."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from bazaar.kit.db import Database, utcnow
from bazaar.kit.jobs import DONE, HANDLERS, PENDING, backoff, enqueue, job_handler
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

        task = asyncio.create_task(second())
        await asyncio.sleep(0.3)  # let the second transaction reach the conflicting insert
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
    async def send(session: AsyncSession, payload: dict[str, object]) -> None: ...

    async def other_send(session: AsyncSession, payload: dict[str, object]) -> None: ...

    job_handler("test.send")(send)
    try:
        job_handler("test.send")(send)  # the same function again (module re-import) is fine
        with pytest.raises(ValueError, match="already handled"):
            job_handler("test.send")(other_send)
        assert HANDLERS["test.send"] is send
    finally:
        HANDLERS.pop("test.send")
