"""Read and write sessions: what reads see, what they refuse, how connections are set up."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest
import sqlalchemy as sa

from bazaar.kit.db import Database, SessionKind
from bazaar.kit.money import Money, money_sum
from bazaar.kit.sqlite_inline import InlineConnection
from bazaar.models import Category


async def _add_category(db: Database, slug: str) -> None:
    async with db.session() as session:
        session.add(Category(slug=slug, name=slug.title()))
        await session.commit()


async def test_a_read_sees_what_a_write_just_committed(db: Database) -> None:
    async with db.session(False) as reader:
        before = (await reader.execute(sa.select(sa.func.count()).select_from(Category))).scalar()
        await _add_category(db, "fresh")
        after = (await reader.execute(sa.select(sa.func.count()).select_from(Category))).scalar()
    assert after == before + 1


async def test_read_sessions_refuse_to_write(db: Database) -> None:
    async with db.session(False) as reader:
        with pytest.raises(sa.exc.DBAPIError) as refused:
            await reader.execute(sa.insert(Category).values(slug="sneaky", name="Sneaky"))
    assert "read-only" in str(refused.value).lower() or "readonly" in str(refused.value).lower()
    async with db.session(False) as reader:
        slugs = (await reader.execute(sa.select(Category.slug))).scalars().all()
    assert "sneaky" not in slugs


async def test_money_sum_is_exact_in_read_sessions(db: Database) -> None:
    values = [
        Decimal("0.100000000000000001"),
        Decimal("0.2"),
        Decimal("1234567890.000000000000000009"),
    ]
    stmt = sa.select(money_sum(sa.literal_column("v"))).select_from(
        sa.union_all(
            *(sa.select(sa.literal(v, type_=Money()).label("v")) for v in values)
        ).subquery()
    )
    async with db.session(False) as reader:
        total = (await reader.execute(stmt)).scalar()
    assert Decimal(total) == sum(values)


async def test_sqlite_inline_reads_run_on_the_loop_thread_and_writes_do_not(
    db: Database,
) -> None:
    if db.backend != "sqlite":
        pytest.skip("SQLite engines only")
    async with db.session(SessionKind.INLINE) as reader:
        raw = await (await reader.connection()).get_raw_connection()
        assert isinstance(raw.driver_connection, InlineConnection)
    async with db.session() as writer:
        raw = await (await writer.connection()).get_raw_connection()
        assert not isinstance(raw.driver_connection, InlineConnection)


async def test_read_sessions_read_off_the_loop_and_refuse_writes(db: Database) -> None:
    await _add_category(db, "scanned")
    async with db.session(SessionKind.READ) as scan:
        slugs = (await scan.execute(sa.select(Category.slug))).scalars().all()
        raw = await (await scan.connection()).get_raw_connection()
        with pytest.raises(sa.exc.DBAPIError):
            await scan.execute(sa.insert(Category).values(slug="nope", name="Nope"))
    assert "scanned" in slugs
    if db.backend == "sqlite":
        assert not isinstance(raw.driver_connection, InlineConnection)  # aiosqlite's thread
    else:
        assert db.inline_engine is db.read_engine


async def test_sqlite_inline_reads_interleave_with_a_held_write_lock(db: Database) -> None:
    """A read while another session holds the write lock (BEGIN IMMEDIATE) neither waits
    nor blocks the loop: the writer finishes after it."""
    if db.backend != "sqlite":
        pytest.skip("SQLite engines only")
    async with db.session() as writer:
        writer.add(Category(slug="pending", name="Pending"))
        await writer.flush()  # holds the write lock from here to the commit
        async with db.session(SessionKind.INLINE) as reader:
            slugs = (await reader.execute(sa.select(Category.slug))).scalars().all()
        assert "pending" not in slugs  # not committed yet
        await asyncio.sleep(0)
        await writer.commit()
    async with db.session(False) as reader:
        slugs = (await reader.execute(sa.select(Category.slug))).scalars().all()
    assert "pending" in slugs


async def test_postgresql_connections_plan_every_execution(db: Database) -> None:
    """A generic plan made the full-text count scan every row; both engines must plan
    each execution with its values."""
    if db.backend != "postgresql":
        pytest.skip("PostgreSQL engines only")
    for write in (False, True):
        async with db.session(write) as session:
            mode = (await session.execute(sa.text("SHOW plan_cache_mode"))).scalar()
            read_only = (await session.execute(sa.text("SHOW transaction_read_only"))).scalar()
        assert mode == "force_custom_plan"
        assert read_only == ("off" if write else "on")
