"""Migration 0010 goes up, down and up again on both databases (taken alone: from 0009,
whatever the later migrations do)."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import command

from bazaar.kit.db import Database
from bazaar.kit.migrations import alembic_config, upgrade
from tests.conftest import PG_ADMIN_URL, _pg_exec, base_settings

TRIGGERS = sa.text(
    "SELECT tgname FROM pg_trigger WHERE NOT tgisinternal "
    "AND tgrelid IN ('ledger_entries'::regclass, 'ledger_transactions'::regclass) "
    "ORDER BY tgname"
)


async def guards(database: Database) -> tuple[list[str], bool]:
    """The ledger's triggers (PostgreSQL) and whether the unique reverses_id index exists."""
    async with database.engine.connect() as conn:
        triggers: list[str] = []
        if database.backend == "postgresql":
            triggers = list((await conn.execute(TRIGGERS)).scalars())

        def indexes(sync: Any) -> set[str]:
            return {i["name"] for i in sa.inspect(sync).get_indexes("ledger_transactions")}

        names = await conn.run_sync(indexes)
    return triggers, "uq_ledger_transactions_reverses_id" in names


async def test_ledger_guards_migrate_down_and_up(tmp_path: Path, backend: str) -> None:
    extra: dict[str, Any] = {}
    name = f"bazaar_mig_{uuid.uuid4().hex[:10]}"
    if backend == "postgresql":
        await asyncio.to_thread(_pg_exec, f'CREATE DATABASE "{name}"')
        extra["pg_url"] = f"{PG_ADMIN_URL.rsplit('/', 1)[0]}/{name}"
    settings = base_settings(tmp_path, **extra)
    config = alembic_config()
    config.attributes["settings"] = settings
    database = Database(settings)
    expected = (
        [
            "ledger_entries_append_only",
            "ledger_entries_balanced",
            "ledger_transactions_append_only",
            "ledger_transactions_balanced",
        ]
        if backend == "postgresql"
        else []
    )
    try:
        await asyncio.to_thread(upgrade, settings, "0010_ledger_guards")
        assert await guards(database) == (expected, True)
        await database.dispose()
        await asyncio.to_thread(command.downgrade, config, "0009_escrow")
        assert await guards(database) == ([], False)
        await database.dispose()
        await asyncio.to_thread(upgrade, settings, "0010_ledger_guards")
        assert await guards(database) == (expected, True)
    finally:
        await database.dispose()
        if backend == "postgresql":
            await asyncio.to_thread(_pg_exec, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
