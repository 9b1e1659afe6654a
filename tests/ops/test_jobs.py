"""Database upkeep sweeps."""

from __future__ import annotations

import uuid

import pytest
import sqlalchemy as sa

from bazaar.config import Settings
from bazaar.kit.db import Database
from bazaar.models import Category
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
