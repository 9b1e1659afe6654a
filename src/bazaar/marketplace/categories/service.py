"""Category rules: slugs, tree shape (no cycles, bounded depth), deletion only when unused.

Other domains use `get_category` (404 on an unknown ref) and `descendant_ids` (a category
plus everything below it, for "in this category" filters).
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterator

from sqlalchemy.ext.asyncio import AsyncSession

from bazaar.kit.errors import ValidationFailed
from bazaar.kit.ids import LEGACY_ID, parse_uuid
from bazaar.marketplace.categories import repository as repo
from bazaar.marketplace.categories.errors import (
    CategoryCycle,
    CategoryInUse,
    CategoryNotFound,
    SlugTaken,
)
from bazaar.marketplace.categories.schemas import (
    CategoryCreate,
    CategoryCrumb,
    CategoryDetail,
    CategoryFlat,
    CategoryNode,
    CategoryOut,
    CategoryUpdate,
)
from bazaar.marketplace.categories.slugs import derive_base, first_free
from bazaar.models import Category

# Deep enough for any shop taxonomy; a bound keeps responses and recursion small.
MAX_DEPTH = 8


class Tree:
    """All categories indexed for lookups, ordering and shape checks (no further queries)."""

    def __init__(self, categories: list[Category]) -> None:
        self.by_id = {c.id: c for c in categories}
        self.children: dict[uuid.UUID | None, list[Category]] = defaultdict(list)
        for c in categories:
            self.children[c.parent_id].append(c)
        for siblings in self.children.values():
            # Ordered in Python, not SQL, so both databases agree whatever their collation.
            siblings.sort(key=lambda c: (c.sort_order, c.name.casefold(), c.name, str(c.id)))

    def find(self, ref: str) -> Category | None:
        as_uuid = parse_uuid(ref)
        if as_uuid is not None:
            return self.by_id.get(as_uuid)
        text = ref.strip().lower()
        if LEGACY_ID.match(text):
            return next((c for c in self.by_id.values() if c.legacy_object_id == text), None)
        return next((c for c in self.by_id.values() if c.slug == text), None)

    def ancestors(self, category: Category) -> list[Category]:
        """From the top-level category down to the parent."""
        chain: list[Category] = []
        seen = {category.id}
        parent_id = category.parent_id
        while parent_id is not None and parent_id not in seen:
            seen.add(parent_id)
            parent = self.by_id[parent_id]
            chain.append(parent)
            parent_id = parent.parent_id
        return chain[::-1]

    def walk(
        self, parent_id: uuid.UUID | None = None, depth: int = 0
    ) -> Iterator[tuple[Category, int]]:
        """Depth-first, pre-order, siblings in display order."""
        for c in self.children.get(parent_id, []):
            yield c, depth
            yield from self.walk(c.id, depth + 1)

    def height(self, category: Category) -> int:
        """Levels in the subtree rooted at `category` (1 for a leaf)."""
        return 1 + max((self.height(c) for c in self.children.get(category.id, [])), default=0)

    def node(self, category: Category) -> CategoryNode:
        base = CategoryOut.model_validate(category).model_dump()
        kids = [self.node(c) for c in self.children.get(category.id, [])]
        return CategoryNode(**base, children=kids)


async def load_tree(session: AsyncSession) -> Tree:
    return Tree(await repo.all_categories(session))


async def list_tree(session: AsyncSession) -> list[CategoryNode]:
    tree = await load_tree(session)
    return [tree.node(c) for c in tree.children.get(None, [])]


async def list_flat(session: AsyncSession) -> list[CategoryFlat]:
    tree = await load_tree(session)
    return [
        CategoryFlat(**CategoryOut.model_validate(c).model_dump(), depth=depth)
        for c, depth in tree.walk()
    ]


def _find(tree: Tree, ref: str) -> Category:
    category = tree.find(ref)
    if category is None:
        raise CategoryNotFound()
    return category


async def get_category(session: AsyncSession, ref: str | uuid.UUID) -> Category:
    """A category by UUID, slug or legacy id; 404 CATEGORY_NOT_FOUND otherwise."""
    category = await repo.by_ref(session, str(ref))
    if category is None:
        raise CategoryNotFound()
    return category


async def get_category_detail(session: AsyncSession, ref: str) -> CategoryDetail:
    tree = await load_tree(session)
    category = _find(tree, ref)
    node = tree.node(category)
    crumbs = [CategoryCrumb.model_validate(a) for a in tree.ancestors(category)]
    return CategoryDetail(
        **node.model_dump(exclude={"children"}), children=node.children, ancestors=crumbs
    )


async def descendant_ids(session: AsyncSession, category_id: uuid.UUID) -> list[uuid.UUID]:
    """The category itself followed by all its sub-categories; [] when it does not exist."""
    return await repo.descendant_ids(session, category_id)


def _parent(tree: Tree, ref: str | None) -> Category | None:
    if ref is None:
        return None
    parent = tree.find(ref)
    if parent is None:
        raise ValidationFailed.on("parentId", "parent category not found")
    return parent


def _check_depth(tree: Tree, parent: Category | None, height: int) -> None:
    depth = 0 if parent is None else len(tree.ancestors(parent)) + 1
    if depth + height > MAX_DEPTH:
        raise ValidationFailed.on("parentId", f"categories nest at most {MAX_DEPTH} levels deep")


async def _unique_slug(session: AsyncSession, name: str) -> str:
    base = derive_base(name, fallback="category")
    return first_free(base, await repo.taken_slugs(session, base))


async def create_category(session: AsyncSession, data: CategoryCreate) -> Category:
    await repo.lock_tree(session)
    tree = await load_tree(session)
    parent = _parent(tree, data.parent_id)
    _check_depth(tree, parent, 1)
    if data.slug is not None:
        if await repo.slug_in_use(session, data.slug):
            raise SlugTaken(details=[{"path": "slug", "msg": "already in use"}])
        slug = data.slug
    else:
        slug = await _unique_slug(session, data.name)
    category = Category(
        name=data.name,
        slug=slug,
        parent_id=parent.id if parent else None,
        icon=data.icon,
        sort_order=data.sort_order,
    )
    session.add(category)
    await session.flush()
    return category


async def update_category(session: AsyncSession, ref: str, data: CategoryUpdate) -> Category:
    await repo.lock_tree(session)
    tree = await load_tree(session)
    category = _find(tree, ref)
    given = data.model_fields_set
    if "parent_id" in given:
        parent = _parent(tree, data.parent_id)
        if parent is not None and (parent.id == category.id or category in tree.ancestors(parent)):
            raise CategoryCycle(details=[{"path": "parentId", "msg": "would create a cycle"}])
        _check_depth(tree, parent, tree.height(category))
        category.parent_id = parent.id if parent else None
    if "slug" in given and data.slug != category.slug:
        assert data.slug is not None  # the schema refuses null
        if await repo.slug_in_use(session, data.slug, exclude=category.id):
            raise SlugTaken(details=[{"path": "slug", "msg": "already in use"}])
        category.slug = data.slug
    if "name" in given and data.name is not None:
        category.name = data.name
    if "icon" in given:
        category.icon = data.icon
    if "sort_order" in given and data.sort_order is not None:
        category.sort_order = data.sort_order
    await session.flush()
    return category


async def delete_category(session: AsyncSession, ref: str) -> uuid.UUID:
    await repo.lock_tree(session)
    category = _find(await load_tree(session), ref)
    used = await repo.usage(session, category.id)
    if used.in_use:
        raise CategoryInUse(
            details={
                "children": used.children,
                "purchaseRequests": used.requests,
                "requestTemplates": used.templates,
            }
        )
    await session.delete(category)
    await session.flush()
    return category.id
