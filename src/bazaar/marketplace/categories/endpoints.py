"""`/api/marketplace/categories`: the category tree (public reads, admin writes)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from bazaar.kit.deps import ReadSession, WriteSession
from bazaar.kit.openapi import errors
from bazaar.kit.schemas import Envelope
from bazaar.marketplace.auth import Admin
from bazaar.marketplace.categories import service
from bazaar.marketplace.categories.errors import (
    CategoryCycle,
    CategoryInUse,
    CategoryNotFound,
    SlugTaken,
)
from bazaar.marketplace.categories.schemas import (
    CategoryCreate,
    CategoryDeleted,
    CategoryDetail,
    CategoryFlat,
    CategoryNode,
    CategoryUpdate,
)

router = APIRouter()


@router.get("", response_model=Envelope[list[CategoryNode] | list[CategoryFlat]])
@router.get("/", include_in_schema=False)
async def list_categories(
    session: ReadSession,
    flat: Annotated[
        bool, Query(description="Return a flat list (depth-first, with `depth`) instead")
    ] = False,
) -> Envelope[list[CategoryNode] | list[CategoryFlat]]:
    """The whole category tree in one response.

    Top-level categories with nested `children`, siblings ordered by `sortOrder`, then name.
    With `?flat=true`, the same categories as one list in display order (a parent before
    its children), each with `parentId` and `depth`. Not paginated: the tree is small.
    """
    items = await (service.list_flat(session) if flat else service.list_tree(session))
    return Envelope(data=items)


@router.get("/{ref}", response_model=Envelope[CategoryDetail], responses=errors(CategoryNotFound))
async def get_category(ref: str, session: ReadSession) -> Envelope[CategoryDetail]:
    """One category by UUID, slug or legacy id, with its sub-tree and its ancestors."""
    return Envelope(data=await service.get_category_detail(session, ref))


@router.post(
    "", response_model=Envelope[CategoryDetail], status_code=201, responses=errors(SlugTaken)
)
@router.post("/", include_in_schema=False, status_code=201)
async def create_category(
    body: CategoryCreate, session: WriteSession, _admin: Admin
) -> Envelope[CategoryDetail]:
    """Create a category (admin). The slug is derived from the name when omitted.

    409 `SLUG_TAKEN` when the slug is used; 400 when the parent does not exist.
    """
    category = await service.create_category(session, body)
    return Envelope(data=await service.get_category_detail(session, str(category.id)))


async def _update(
    ref: str, body: CategoryUpdate, session: WriteSession
) -> Envelope[CategoryDetail]:
    category = await service.update_category(session, ref, body)
    return Envelope(data=await service.get_category_detail(session, str(category.id)))


@router.patch(
    "/{ref}",
    response_model=Envelope[CategoryDetail],
    responses=errors(CategoryNotFound, CategoryCycle, SlugTaken),
)
async def patch_category(
    ref: str, body: CategoryUpdate, session: WriteSession, _admin: Admin
) -> Envelope[CategoryDetail]:
    """Change a category (admin): only the fields present in the body change.

    Moving it (`parentId`) under itself or one of its sub-categories is 409
    `CATEGORY_CYCLE`; `parentId: null` makes it top-level.
    """
    return await _update(ref, body, session)


@router.put(
    "/{ref}",
    response_model=Envelope[CategoryDetail],
    responses=errors(CategoryNotFound, CategoryCycle, SlugTaken),
)
async def put_category(
    ref: str, body: CategoryUpdate, session: WriteSession, _admin: Admin
) -> Envelope[CategoryDetail]:
    """Same as PATCH (kept for clients of the previous API): fields omitted stay as they are."""
    return await _update(ref, body, session)


@router.delete(
    "/{ref}",
    response_model=Envelope[CategoryDeleted],
    responses=errors(CategoryNotFound, CategoryInUse),
)
async def delete_category(
    ref: str, session: WriteSession, _admin: Admin
) -> Envelope[CategoryDeleted]:
    """Delete an unused category (admin).

    409 `CATEGORY_IN_USE` while it has sub-categories or purchase requests or templates
    point at it; `details` gives the counts.
    """
    deleted_id = await service.delete_category(session, ref)
    return Envelope(data=CategoryDeleted(id=deleted_id))
