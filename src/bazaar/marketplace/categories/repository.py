"""Every category query."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from bazaar.kit.ids import LEGACY_ID, parse_uuid
from bazaar.models import Category, PurchaseRequest, RequestTemplate

# Any fixed number works; it only has to differ from other advisory locks in the app.
_TREE_LOCK_KEY = 0x0BA2AA2_CA7


async def all_categories(session: AsyncSession) -> list[Category]:
    """The whole table in one query; the tree is a small reference set built in memory."""
    return list((await session.execute(sa.select(Category))).scalars())


async def by_ref(session: AsyncSession, ref: str) -> Category | None:
    """By UUID, 24-hex legacy id or slug (slugs never look like ids, so no ambiguity)."""
    as_uuid = parse_uuid(ref)
    text = ref.strip().lower()
    if as_uuid is not None:
        clause = Category.id == as_uuid
    elif LEGACY_ID.match(text):
        clause = Category.legacy_object_id == text
    else:
        clause = Category.slug == text
    return (await session.execute(sa.select(Category).where(clause))).scalar_one_or_none()


async def lock_tree(session: AsyncSession) -> None:
    """Serialize structural changes so two concurrent moves cannot build a cycle.

    On PostgreSQL a transaction-scoped advisory lock; SQLite write transactions already
    run one at a time (BEGIN IMMEDIATE).
    """
    if session.get_bind().dialect.name == "postgresql":
        await session.execute(sa.select(sa.func.pg_advisory_xact_lock(_TREE_LOCK_KEY)))


async def taken_slugs(session: AsyncSession, base: str) -> set[str]:
    """Slugs equal to `base` or of the form `base-...` (candidates for a derived slug)."""
    stmt = sa.select(Category.slug).where(
        sa.or_(Category.slug == base, Category.slug.like(f"{base}-%"))
    )
    return set((await session.execute(stmt)).scalars())


async def slug_in_use(session: AsyncSession, slug: str, exclude: uuid.UUID | None = None) -> bool:
    stmt = sa.select(Category.id).where(Category.slug == slug)
    if exclude is not None:
        stmt = stmt.where(Category.id != exclude)
    return (await session.execute(stmt.limit(1))).first() is not None


@dataclass(frozen=True)
class Usage:
    children: int
    requests: int
    templates: int

    @property
    def in_use(self) -> bool:
        return bool(self.children or self.requests or self.templates)


async def usage(session: AsyncSession, category_id: uuid.UUID) -> Usage:
    """How many sub-categories, purchase requests and templates point at a category."""

    def count(model: type, column: Any) -> sa.ScalarSelect[int]:
        stmt = sa.select(sa.func.count()).select_from(model).where(column == category_id)
        return stmt.scalar_subquery()

    stmt = sa.select(
        count(Category, Category.parent_id),
        count(PurchaseRequest, PurchaseRequest.category_id),
        count(RequestTemplate, RequestTemplate.category_id),
    )
    children, requests, templates = (await session.execute(stmt)).one()
    return Usage(int(children), int(requests), int(templates))


async def descendant_ids(session: AsyncSession, category_id: uuid.UUID) -> list[uuid.UUID]:
    """The category and every category below it, in one recursive query."""
    tree = (
        sa.select(Category.id.label("id"))
        .where(Category.id == category_id)
        .cte("subtree", recursive=True)
    )
    # UNION (not UNION ALL) drops rows already seen, so even a corrupt cyclic tree ends.
    tree = tree.union(sa.select(Category.id).where(Category.parent_id == tree.c.id))
    rows = (await session.execute(sa.select(tree.c.id))).scalars()
    found = list(rows)
    # The root first, the rest in a stable order.
    rest = sorted((i for i in found if i != category_id), key=str)
    return [category_id, *rest] if category_id in found else []
