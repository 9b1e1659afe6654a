"""Housekeeping of sign-in tokens."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from bazaar.auth import repository
from bazaar.kit.jobs import periodic

# Expired tokens are kept a day longer: recent session history helps when a user reports
# a session they do not recognise.
STALE_AFTER = timedelta(days=1)


@periodic("auth.token_cleanup", every=timedelta(hours=1))
async def delete_stale_tokens(session: AsyncSession, now: datetime) -> int:
    """Delete refresh, reset and verification tokens that expired over a day ago."""
    return await repository.delete_stale_tokens(session, now - STALE_AFTER)
