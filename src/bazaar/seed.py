"""Development data: every domain's seed, idempotent (a second run adds nothing)."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from bazaar.config import Settings


async def seed_all(session: AsyncSession, settings: Settings) -> dict[str, int]:
    """Run each domain's seed; returns how many rows each one created."""
    from bazaar.marketplace.categories.seed import seed_categories
    from bazaar.users.seed import seed_users

    created: dict[str, int] = {}
    created["users"] = await seed_users(session, settings) if settings.seed_users else 0
    created["categories"] = await seed_categories(session)
    return created
