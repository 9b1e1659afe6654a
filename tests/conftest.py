"""Test harness: one migrated database per run (SQLite file or a fresh PostgreSQL database),
emptied after every test; the app served in-process over httpx's ASGI transport.

BAZAAR_TEST_BACKEND=sqlite (default) or postgresql (then Redis is used too).
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from asgi_lifespan import LifespanManager
from fastapi import FastAPI

from bazaar.config import Settings
from bazaar.kit.db import Base, Database
from bazaar.kit.migrations import upgrade

BACKEND = os.environ.get("BAZAAR_TEST_BACKEND", "sqlite")
PG_ADMIN_URL = os.environ.get("TEST_PG_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")

pytest_plugins = [
    "tests.fixtures.users",
    "tests.fixtures.marketplace",
    "tests.fixtures.smtp",
    "tests.fixtures.payments",
    "tests.fixtures.chain",
    "tests.fixtures.files",
]


def _pg_exec(sql: str) -> None:
    import asyncpg

    async def run() -> None:
        conn = await asyncpg.connect(PG_ADMIN_URL)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(run())


def base_settings(tmp: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "node_env": "test",
        "data_dir": tmp,
        "argon2_time_cost": 1,
        "argon2_memory_cost": 1024,
        "rate_limit_auth": "100000/15 minutes",
        "rate_limit_payment": "100000/15 minutes",
        "rate_limit_ai": "100000/15 minutes",
        "rate_limit_global": "100000/15 minutes",
        "rate_limit_mail": "100000/15 minutes",
        "worker_in_process": False,
        "log_level": "WARNING",
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


@pytest.fixture(scope="session")
def tmp_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("bazaar-data")


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str | None]:
    if BACKEND != "postgresql":
        yield None
        return
    name = f"bazaar_test_{uuid.uuid4().hex[:10]}"
    _pg_exec(f'CREATE DATABASE "{name}"')
    base = PG_ADMIN_URL.rsplit("/", 1)[0]
    yield f"{base}/{name}"
    _pg_exec(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def settings(tmp_data: Path, pg_url: str | None) -> Settings:
    extra: dict[str, Any] = {}
    if pg_url:
        extra = {"pg_url": pg_url, "redis_uri": REDIS_URL}
    s = base_settings(tmp_data, **extra)
    upgrade(s)
    return s


@pytest.fixture(scope="session")
async def db(settings: Settings) -> AsyncIterator[Database]:
    database = Database(settings)
    yield database
    await database.dispose()


@pytest.fixture(autouse=True)
async def _clean_tables(request: pytest.FixtureRequest) -> AsyncIterator[None]:
    yield
    if "db" not in request.fixturenames:
        return
    database: Database = request.getfixturevalue("db")
    await truncate_all(database)


async def truncate_all(database: Database) -> None:
    tables = [t.name for t in reversed(Base.metadata.sorted_tables)]
    async with database.engine.begin() as conn:
        if database.backend == "postgresql":
            await conn.execute(sa.text(f"TRUNCATE {', '.join(tables)} CASCADE"))
        else:
            # SQLite checks self-references row by row: detach children first (categories,
            # and ledger reversals; on PostgreSQL TRUNCATE skips the ledger's row triggers).
            await conn.execute(sa.text("UPDATE categories SET parent_id = NULL"))
            await conn.execute(sa.text("UPDATE ledger_transactions SET reverses_id = NULL"))
            for name in tables:
                await conn.execute(sa.text(f"DELETE FROM {name}"))


def make_app(settings: Settings, db: Database) -> FastAPI:
    from bazaar.main import create_app

    app = create_app(settings, database=db)
    app.state.start_worker = False
    return app


@pytest.fixture(scope="session")
async def app(settings: Settings, db: Database) -> AsyncIterator[FastAPI]:
    """One app for the whole run: building it (routes, OpenAPI models) costs far more than
    most tests. Tests that add routes or change its state use `fresh_app`."""
    application = make_app(settings, db)
    async with LifespanManager(application):
        yield application


@pytest.fixture
async def fresh_app(settings: Settings, db: Database) -> AsyncIterator[FastAPI]:
    """An app of this test's own, free to change."""
    application = make_app(settings, db)
    async with LifespanManager(application):
        yield application


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app, client=("203.0.113.7", 4242))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        yield c


@pytest.fixture(scope="session")
def backend() -> str:
    return BACKEND
