"""Database upkeep sweeps: SQLite statistics, pruning finished work."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from bazaar.config import Settings
from bazaar.kit.db import Database, utcnow
from bazaar.kit.jobs import DEAD, DONE, EXPIRED, PENDING, RUNNING, SWEEPS, BatchSweep
from bazaar.models import Category, IdempotencyKey, Job, PeriodicTask
from bazaar.notifications.service import NOTIFICATION_JOB
from bazaar.worker import Worker, load_handlers


async def _stat_tables(db: Database) -> set[str]:
    async with db.session(False) as session:
        exists = (
            await session.execute(
                sa.text("SELECT count(*) FROM sqlite_master WHERE name = 'sqlite_stat1'")
            )
        ).scalar()
        if not exists:
            return set()
        return set((await session.execute(sa.text("SELECT tbl FROM sqlite_stat1"))).scalars())


async def test_sqlite_statistics_are_refreshed_by_the_hourly_sweep(
    db: Database, settings: Settings
) -> None:
    if db.backend != "sqlite":
        pytest.skip("PostgreSQL gathers statistics itself (autovacuum)")
    load_handlers()
    rows = [{"id": uuid.uuid4(), "slug": f"c-{i}", "name": f"C {i}"} for i in range(400)]
    async with db.session() as session:
        await session.execute(sa.insert(Category), rows)
        await session.commit()
    assert "categories" not in await _stat_tables(db)
    worker = Worker(db, settings, name="t", kinds=set(), sweeps={"ops.sqlite_optimize"})
    assert await worker.run_once() == 1
    assert "categories" in await _stat_tables(db)


async def test_the_sweep_does_nothing_on_postgresql(db: Database, settings: Settings) -> None:
    if db.backend != "postgresql":
        pytest.skip("PostgreSQL only")
    load_handlers()
    worker = Worker(db, settings, name="t", kinds=set(), sweeps={"ops.sqlite_optimize"})
    assert await worker.run_once() == 1  # the sweep ran (and had nothing to do)


@contextlib.contextmanager
def deletes_per_transaction(db: Database) -> Iterator[list[int]]:
    """Rows deleted by each committed write transaction while the block runs."""
    counts: list[int] = []
    current = [0]

    def on_execute(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if statement.lstrip().upper().startswith("DELETE"):
            current[0] += max(cursor.rowcount, 0)

    def on_commit(conn: Any) -> None:
        counts.append(current[0])
        current[0] = 0

    engine = db.engine.sync_engine
    sa.event.listen(engine, "after_cursor_execute", on_execute)
    sa.event.listen(engine, "commit", on_commit)
    try:
        yield counts
    finally:
        sa.event.remove(engine, "after_cursor_execute", on_execute)
        sa.event.remove(engine, "commit", on_commit)


async def test_prune_deletes_old_finished_work_in_batches_and_keeps_what_is_pending(
    db: Database, settings: Settings
) -> None:
    load_handlers()
    now = utcnow()
    recent, old, ancient = (now - timedelta(days=d) for d in (1, 8, 31))
    jobs: dict[str, dict[str, Any]] = {}

    def job(label: str, kind: str, status: str, at: datetime, **extra: Any) -> None:
        finished = at if status in (DONE, EXPIRED, DEAD) else None
        jobs[label] = {
            "id": uuid.uuid4(),
            "kind": kind,
            "payload": {"label": label},
            "status": status,
            "run_at": at,
            "created_at": at,
            "finished_at": finished,
            "attempts": 1,
            "max_attempts": 0,
            "expires_at": None,
            "locked_until": None,
            **extra,
        }

    for n in range(7):
        job(f"old-done-{n}", "test.x", DONE, old)
    job("old-expired", "realtime.emit", EXPIRED, old, expires_at=old)
    job("ancient-dead", "test.x", DEAD, ancient)
    # Kept:
    job("recent-done", "test.x", DONE, recent)
    job("old-dead", "test.x", DEAD, old)  # DEAD_JOB_RETENTION is 30 days
    job("waiting-notification", NOTIFICATION_JOB, PENDING, ancient)  # no handler yet
    job("running", "test.x", RUNNING, old, locked_until=now + timedelta(minutes=1))
    job("overdue-live", "realtime.emit", PENDING, recent, expires_at=recent)  # -> expired
    job("live", "realtime.emit", PENDING, now, expires_at=now + timedelta(minutes=1))
    keys = [
        {
            "id": uuid.uuid4(),
            "scope": "user",
            "key": f"k-{n}",
            "method": "POST",
            "path": "/api/payments",
            "request_hash": "0" * 64,
            "created_at": recent if n == 0 else old,
        }
        for n in range(6)
    ]
    async with db.transaction() as session:
        await session.execute(sa.insert(Job), list(jobs.values()))
        await session.execute(sa.insert(IdempotencyKey), keys)

    small_batches = settings.model_copy(update={"prune_batch_size": 3})
    worker = Worker(db, small_batches, name="t", kinds=set(), sweeps={"ops.prune"})
    with deletes_per_transaction(db) as deleted:
        assert await worker.run_once(now) == 1

    async with db.reading() as session:
        rows = (await session.execute(sa.select(Job))).scalars()
        left = {job.payload["label"]: job.status for job in rows}
        key_ids = set((await session.execute(sa.select(IdempotencyKey.key))).scalars())
    assert left == {
        "recent-done": DONE,
        "old-dead": DEAD,
        "waiting-notification": PENDING,
        "running": RUNNING,
        "overdue-live": EXPIRED,
        "live": PENDING,
    }
    assert key_ids == {"k-0"}
    # 7 + 1 jobs, 1 dead job and 5 keys, never more than a batch in one transaction.
    assert sum(deleted) == 14
    assert max(deleted) == 3
    assert len([n for n in deleted if n]) >= 6
    async with db.reading() as session:
        row = await session.get(PeriodicTask, "ops.prune")
    assert row is not None and row.last_error is None
    assert row.next_run_at == now + timedelta(hours=1)


def test_prune_runs_hourly_without_a_surrounding_transaction() -> None:
    load_handlers()
    sweep = SWEEPS["ops.prune"]
    assert isinstance(sweep, BatchSweep)
    assert sweep.every == timedelta(hours=1)
