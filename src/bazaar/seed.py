"""Development data: every domain's seed, idempotent (a second run adds nothing)."""

from __future__ import annotations

from bazaar.config import Settings
from bazaar.kit.db import Transactions


async def seed_all(db: Transactions, settings: Settings) -> dict[str, int]:
    """Run each domain's seed; returns how many rows each one created."""
    from bazaar.marketplace.categories.seed import seed_categories
    from bazaar.users.seed import seed_users

    created: dict[str, int] = {}
    created["users"] = await seed_users(db, settings) if settings.seed_dev_users else 0
    async with db.transaction() as session:
        created["categories"] = await seed_categories(session)
    return created
