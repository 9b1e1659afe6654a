"""Template rules: a seller's catalog items, and turning one into a request with an offer."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from bazaar.kit.errors import NotFound, ValidationFailed
from bazaar.kit.pagination import Page, PageParams
from bazaar.marketplace.categories import service as categories
from bazaar.marketplace.shops import service as shops
from bazaar.marketplace.templates import repository
from bazaar.marketplace.templates.errors import ShopRequired, TemplateNotFound
from bazaar.marketplace.templates.schemas import (
    TemplateCreate,
    TemplateDeleted,
    TemplateOut,
    TemplateUpdate,
)
from bazaar.models import RequestTemplate, Shop, User


async def _category_id(session: AsyncSession, ref: str | None) -> uuid.UUID | None:
    if ref is None:
        return None
    try:
        return (await categories.get_category(session, ref)).id
    except NotFound:
        raise ValidationFailed.on("categoryId", "unknown category") from None


def _check_currency(shop: Shop, currency: str) -> None:
    # A template is priced in a token the shop takes, so its automatic offer can be paid.
    if shop.accepted_tokens and currency not in shop.accepted_tokens:
        accepted = ", ".join(shop.accepted_tokens)
        raise ValidationFailed.on("currency", f"your shop accepts only {accepted}")


async def _owned(session: AsyncSession, user: User, ref: str) -> RequestTemplate:
    """The caller's own template, locked for change; anyone else's is a 404."""
    template = await repository.get(session, ref, lock=True)
    if template is None or template.seller_id != user.id:
        raise TemplateNotFound()
    return template


async def create_template(session: AsyncSession, seller: User, data: TemplateCreate) -> TemplateOut:
    """Add an item to the seller's shop catalog (the shop must exist)."""
    shop = await shops.get_shop_by_owner(session, seller.id)
    if shop is None:
        raise ShopRequired()
    _check_currency(shop, data.currency)
    template = RequestTemplate(
        shop_id=shop.id,
        seller_id=seller.id,
        title=data.title,
        description=data.description,
        price=data.price,
        currency=data.currency,
        network=data.network,
        delivery_days=data.delivery_days,
        category_id=await _category_id(session, data.category_id),
        is_active=data.is_active,
    )
    session.add(template)
    await session.flush()
    return TemplateOut.model_validate(template)


async def update_template(
    session: AsyncSession, user: User, ref: str, data: TemplateUpdate
) -> TemplateOut:
    """Change the fields sent; requests already made from the template keep their terms."""
    template = await _owned(session, user, ref)
    changes = data.model_dump(exclude_unset=True, by_alias=False)
    if "category_id" in changes:
        changes["category_id"] = await _category_id(session, changes["category_id"])
    if "currency" in changes:
        _check_currency(await shops.get_shop(session, template.shop_id), changes["currency"])
    for name, value in changes.items():
        setattr(template, name, value)
    await session.flush()
    return TemplateOut.model_validate(template)


async def delete_template(session: AsyncSession, user: User, ref: str) -> TemplateDeleted:
    """Delete a never-ordered template; deactivate one that requests point to.

    Requests keep a link to the template they came from, so an ordered template stays as an
    inactive row rather than leaving those requests pointing at nothing.
    """
    template = await _owned(session, user, ref)
    if await repository.was_instantiated(session, template.id):
        template.is_active = False
        await session.flush()
        return TemplateDeleted(id=template.id, result="deactivated")
    await repository.delete(session, template)
    return TemplateDeleted(id=template.id, result="deleted")


async def list_mine(
    session: AsyncSession, user: User, active: bool | None, params: PageParams
) -> Page[TemplateOut]:
    rows, total = await repository.list_by_seller(session, user.id, active, params)
    return Page[TemplateOut].build([TemplateOut.model_validate(t) for t in rows], total, params)


async def list_for_shop(
    session: AsyncSession, shop_ref: str, category_ref: str | None, params: PageParams
) -> Page[TemplateOut]:
    """A shop's active templates; `category_ref` includes its sub-categories."""
    shop = await shops.get_shop(session, shop_ref)
    category_ids = None
    if category_ref is not None:
        category = await categories.get_category(session, category_ref)
        category_ids = await categories.descendant_ids(session, category.id)
    rows, total = await repository.list_active_by_shop(session, shop.id, category_ids, params)
    return Page[TemplateOut].build([TemplateOut.model_validate(t) for t in rows], total, params)


async def get_visible(session: AsyncSession, ref: str, viewer: User | None) -> RequestTemplate:
    """A template anyone may see; an inactive one only by its owner."""
    template = await repository.get(session, ref)
    if template is None:
        raise TemplateNotFound()
    if not template.is_active and (viewer is None or viewer.id != template.seller_id):
        raise TemplateNotFound()
    return template
