"""Starter categories for development and new installs; running it again adds nothing."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from bazaar.models import Category

# (slug, name, icon, children); icons are lucide icon names the frontend can render.
SeedNode = tuple[str, str, str, list["SeedNode"]]

DEFAULT_TREE: list[SeedNode] = [
    (
        "electronics",
        "Electronics",
        "cpu",
        [
            ("phones", "Phones", "smartphone", []),
            ("laptops", "Laptops", "laptop", []),
            ("audio", "Audio", "headphones", []),
        ],
    ),
    ("home-garden", "Home & Garden", "home", []),
    ("fashion", "Fashion", "shirt", []),
    (
        "digital-goods",
        "Digital goods",
        "download",
        [
            ("software", "Software", "app-window", []),
            ("gift-cards", "Gift cards", "gift", []),
        ],
    ),
    ("services", "Services", "wrench", []),
    ("collectibles", "Collectibles", "gem", []),
]


async def seed_categories(session: AsyncSession) -> int:
    """Insert the default tree's missing categories (matched by slug); returns how many.

    Existing categories are left as they are, even if an admin renamed or moved them.
    """
    existing = {c.slug: c for c in (await session.execute(sa.select(Category))).scalars()}
    created = 0

    async def plant(nodes: list[SeedNode], parent: Category | None) -> None:
        nonlocal created
        for order, (slug, name, icon, children) in enumerate(nodes):
            category = existing.get(slug)
            if category is None:
                category = Category(
                    slug=slug,
                    name=name,
                    icon=icon,
                    sort_order=order * 10,
                    parent_id=parent.id if parent else None,
                )
                session.add(category)
                await session.flush()
                existing[slug] = category
                created += 1
            await plant(children, category)

    await plant(DEFAULT_TREE, None)
    return created
