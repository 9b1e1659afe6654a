"""Alembic environment: async engine from Settings, batch mode for SQLite."""

from __future__ import annotations

import asyncio
from typing import Any

from alembic import context
from sqlalchemy.engine import Connection

from bazaar import models
from bazaar.config import get_settings
from bazaar.kit.db import create_engine

config = context.config
target_metadata = models.Base.metadata


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


async def _run_async() -> None:
    engine = config.attributes.get("engine") or create_engine(
        config.attributes.get("settings") or get_settings()
    )
    async with engine.connect() as connection:
        await connection.run_sync(_run)
        await connection.commit()
    if "engine" not in config.attributes:
        await engine.dispose()


def run_migrations_online() -> None:
    connection: Any = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    asyncio.run(_run_async())


if context.is_offline_mode():
    raise SystemExit("offline migrations are not supported; run `bazaar migrate`")
run_migrations_online()
