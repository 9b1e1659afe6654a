"""Database upkeep: pruning finished work, and planner statistics for SQLite, which has no
autovacuum to gather them."""

from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from bazaar.kit import jobs
from bazaar.kit.db import SQLITE_OPTIMIZE
from bazaar.kit.jobs import SweepContext, in_batches, periodic
from bazaar.models import IdempotencyKey


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


@periodic("ops.prune", every=timedelta(hours=1), transactional=False)
async def prune(ctx: SweepContext, now: datetime) -> dict[str, int]:
    """Delete what nobody needs any more, PRUNE_BATCH_SIZE rows per short transaction (so
    SQLite's write lock is never held for long): done and expired jobs and idempotency keys
    after JOB_RETENTION, dead jobs after DEAD_JOB_RETENTION. Pending jobs stay, except
    that live events past their expiry are marked `expired` first. Sign-in tokens are
    pruned by auth.token_cleanup."""
    settings, db = ctx.settings, ctx.db
    batch = settings.prune_batch_size
    kept_from = now - settings.job_retention
    dead_kept_from = now - settings.dead_job_retention
    counts = {
        "expired": await in_batches(
            db, lambda session, limit: jobs.expire_overdue(session, now, limit), batch
        ),
        "jobs": await in_batches(
            db,
            lambda session, limit: jobs.delete_finished(
                session, (jobs.DONE, jobs.EXPIRED), kept_from, limit
            ),
            batch,
        ),
        "deadJobs": await in_batches(
            db,
            lambda session, limit: jobs.delete_finished(
                session, (jobs.DEAD,), dead_kept_from, limit
            ),
            batch,
        ),
        "idempotencyKeys": await in_batches(
            db, lambda session, limit: _delete_idempotency_keys(session, kept_from, limit), batch
        ),
    }
    return {name: count for name, count in counts.items() if count}


async def _delete_idempotency_keys(session: AsyncSession, before: datetime, limit: int) -> int:
    # A client retries a money-moving POST within minutes; a week-old key replays nothing.
    old = (
        sa.select(IdempotencyKey.id)
        .where(IdempotencyKey.created_at < before)  # ix_idempotency_keys_created_at
        .limit(limit)
    )
    result = await session.execute(
        sa.delete(IdempotencyKey)
        .where(IdempotencyKey.id.in_(old))
        .execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0) or 0)
