"""The token cleanup sweep removes long-expired tokens and keeps the rest."""

from __future__ import annotations

import uuid
from datetime import timedelta

import sqlalchemy as sa

from bazaar.config import Settings
from bazaar.kit.db import Database, utcnow
from bazaar.models import RefreshToken, UserToken
from bazaar.worker import Worker
from tests.fixtures.users import MakeUser


async def test_cleanup_deletes_tokens_expired_over_a_day_ago(
    db: Database, settings: Settings, make_user: MakeUser
) -> None:
    account = await make_user()
    now = utcnow()
    ages = {
        "old": now - timedelta(days=2),
        "recent": now - timedelta(hours=1),
        "live": now + timedelta(days=1),
    }
    async with db.session() as session:
        for label, expires_at in ages.items():
            session.add(
                RefreshToken(
                    user_id=account.id,
                    family_id=uuid.uuid4(),
                    token_hash=f"r-{label}".ljust(64, "0"),
                    expires_at=expires_at,
                )
            )
            session.add(
                UserToken(
                    user_id=account.id,
                    purpose="password_reset",
                    token_hash=f"u-{label}".ljust(64, "0"),
                    expires_at=expires_at,
                )
            )
        await session.commit()

    await Worker(db, settings, name="test", kinds=(), sweeps={"auth.token_cleanup"}).run_once()

    async with db.session(False) as session:
        refresh = set((await session.execute(sa.select(RefreshToken.token_hash))).scalars())
        emailed = set((await session.execute(sa.select(UserToken.token_hash))).scalars())
    assert {h[:8].rstrip("0") for h in refresh} == {"r-recent", "r-live"}
    assert {h[:8].rstrip("0") for h in emailed} == {"u-recent", "u-live"}
