"""Background work of sign-in: the password-reset mail, and housekeeping of tokens."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from bazaar.auth import lockout, repository, service
from bazaar.kit.jobs import JobContext, SweepContext, in_batches, job_handler, periodic

# Expired tokens are kept a day longer: recent session history helps when a user reports
# a session they do not recognise.
STALE_AFTER = timedelta(days=1)


@periodic("auth.token_cleanup", every=timedelta(hours=1), transactional=False)
async def delete_stale_tokens(ctx: SweepContext, now: datetime) -> int:
    """Delete refresh, reset and verification tokens that expired over a day ago, and those
    revoked or used longer than JOB_RETENTION ago, and sign-in failure counts untouched for
    a day whose lock is over; in batches, each its own transaction."""
    expired_before = now - STALE_AFTER
    spent_before = now - ctx.settings.job_retention
    batch = ctx.settings.prune_batch_size
    refresh = await in_batches(
        ctx.db,
        lambda session, limit: repository.delete_spent_refresh_tokens(
            session, expired_before, spent_before, limit
        ),
        batch,
    )
    emailed = await in_batches(
        ctx.db,
        lambda session, limit: repository.delete_spent_user_tokens(
            session, expired_before, spent_before, limit
        ),
        batch,
    )
    # Failure counts matter for a window and a lock; a day later they are history.
    failures = await in_batches(
        ctx.db,
        lambda session, limit: lockout.delete_stale(session, expired_before, limit),
        batch,
    )
    return refresh + emailed + failures


@job_handler(service.PASSWORD_RESET_JOB)
async def password_reset(ctx: JobContext, session: AsyncSession, payload: dict[str, Any]) -> None:
    """Look the address up and, for an account, create the token and queue the mail (in
    this job's transaction: the token exists only together with its mail)."""
    await service.send_password_reset(session, ctx.settings, str(payload["email"]))
