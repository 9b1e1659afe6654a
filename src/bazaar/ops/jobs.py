"""Database upkeep: planner statistics for SQLite, which has no autovacuum to gather them."""

from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from bazaar.kit.db import SQLITE_OPTIMIZE
from bazaar.kit.jobs import periodic


@periodic("ops.sqlite_optimize", every=timedelta(hours=1))
async def sqlite_optimize(session: AsyncSession, now: datetime) -> int:
    """Refresh SQLite's planner statistics where tables changed enough (on PostgreSQL,
    autovacuum does this). Without statistics SQLite chose the wrong index for filtered
    listings (docs/performance.md). Returns 1 when it ran."""
    if session.get_bind().dialect.name != "sqlite":
        return 0
    for statement in SQLITE_OPTIMIZE:
        await session.execute(sa.text(statement))
    return 1
