"""The token cleanup sweep removes long-expired and long-spent tokens and keeps the rest."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

import sqlalchemy as sa

from bazaar.config import Settings
from bazaar.kit.db import Database, utcnow
from bazaar.models import RefreshToken, UserToken
from bazaar.worker import Worker
from tests.fixtures.users import MakeUser


def label(token_hash: str) -> str:
    return token_hash.rstrip("0")


async def test_cleanup_deletes_expired_and_spent_tokens_in_batches(
    db: Database, settings: Settings, make_user: MakeUser
) -> None:
    account = await make_user()
    now = utcnow()
    live = now + timedelta(days=20)
    old, recent = now - timedelta(days=8), now - timedelta(hours=1)  # JOB_RETENTION is 7 days
    refresh: dict[str, dict[str, datetime | None]] = {
        # deleted
        "r-expired-long-ago": {"expires_at": now - timedelta(days=2)},
        "r-revoked-long-ago": {"expires_at": live, "revoked_at": old},
        "r-revoked-long-ago-2": {"expires_at": live, "revoked_at": old},
        # kept
        "r-expired-recently": {"expires_at": recent},
        "r-live": {"expires_at": live},
        "r-revoked-recently": {"expires_at": live, "revoked_at": recent},
        # Rotated long ago but not expired: presenting it again must still be recognised
        # as reuse of a stolen token, which revokes the family.
        "r-rotated-long-ago": {"expires_at": live, "rotated_at": old},
    }
    emailed: dict[str, dict[str, datetime | None]] = {
        "u-expired-long-ago": {"expires_at": now - timedelta(days=2)},
        "u-used-long-ago": {"expires_at": live, "used_at": old},
        "u-used-long-ago-2": {"expires_at": live, "used_at": old},
        "u-expired-recently": {"expires_at": recent},
        "u-live": {"expires_at": live},
        "u-used-recently": {"expires_at": live, "used_at": recent},
    }
    async with db.transaction() as session:
        for name, times in refresh.items():
            session.add(
                RefreshToken(
                    user_id=account.id,
                    family_id=uuid.uuid4(),
                    token_hash=name.ljust(64, "0"),
                    **times,
                )
            )
        for name, times in emailed.items():
            session.add(
                UserToken(
                    user_id=account.id,
                    purpose="password_reset",
                    token_hash=name.ljust(64, "0"),
                    **times,
                )
            )

    small_batches = settings.model_copy(update={"prune_batch_size": 2})
    worker = Worker(db, small_batches, name="test", kinds=(), sweeps={"auth.token_cleanup"})
    assert await worker.run_once(now) == 1

    async with db.reading() as session:
        kept_refresh = {label(h) for h in await session.scalars(sa.select(RefreshToken.token_hash))}
        kept_emailed = {label(h) for h in await session.scalars(sa.select(UserToken.token_hash))}
    assert kept_refresh == {
        "r-expired-recently",
        "r-live",
        "r-revoked-recently",
        "r-rotated-long-ago",
    }
    assert kept_emailed == {"u-expired-recently", "u-live", "u-used-recently"}
