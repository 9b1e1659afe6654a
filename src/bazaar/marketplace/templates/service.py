"""Template rules: a seller's catalog items, and turning one into a request with an offer."""

from __future__ import annotations

import uuid
from typing import Any

from pydantic import ValidationError
from pydantic.alias_generators import to_camel
from sqlalchemy.ext.asyncio import AsyncSession

from bazaar.config import Settings
from bazaar.kit.errors import NotFound, RoleRequired, ValidationFailed
from bazaar.kit.pagination import Page, PageParams
from bazaar.marketplace.categories import service as categories
from bazaar.marketplace.offers import service as offers
from bazaar.marketplace.offers.schemas import OfferFields
from bazaar.marketplace.requests import service as requests
from bazaar.marketplace.requests.schemas import RequestCreate
from bazaar.marketplace.shops import service as shops
from bazaar.marketplace.templates import repository
from bazaar.marketplace.templates.errors import (
    OwnTemplate,
    ShopRequired,
    TemplateNotFound,
    TemplateUnavailable,
)
from bazaar.marketplace.templates.schemas import (
    InstantiateTemplate,
    TemplateCreate,
    TemplateDeleted,
    TemplateOut,
    TemplateUpdate,
)
from bazaar.models import PurchaseRequest, RequestTemplate, SellerOffer, Shop, User


async def _category_id(session: AsyncSession, ref: str | None) -> uuid.UUID | None:
    if ref is None:
        return None
    try:
        return (await categories.get_category(session, ref)).id
    except NotFound:
        raise ValidationFailed.on("categoryId", "unknown category") from None


def _check_terms(settings: Settings, shop: Shop, template: RequestTemplate) -> None:
    # The rules of the automatic offer, checked up front so a listed template can be paid:
    # a token the shop accepts, on a network with its contract, priced within its decimals.
    paid_in = shops.payment_terms(
        settings, shop, template.currency, template.network, template.price
    )
    template.currency, template.network = paid_in.symbol, paid_in.chain_id


async def _owned(session: AsyncSession, user: User, ref: str) -> RequestTemplate:
    """The caller's own template, locked for change; anyone else's is a 404."""
    template = await repository.get_owned(session, ref, user, lock=True)
    if template is None:
        raise TemplateNotFound()
    return template


async def create_template(
    session: AsyncSession, seller: User, data: TemplateCreate, *, settings: Settings
) -> TemplateOut:
    """Add an item to the seller's shop catalog (the shop must exist)."""
    shop = await shops.get_shop_by_owner(session, seller.id)
    if shop is None:
        raise ShopRequired()
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
    _check_terms(settings, shop, template)
    session.add(template)
    await session.flush()
    return TemplateOut.model_validate(template)


async def update_template(
    session: AsyncSession, user: User, ref: str, data: TemplateUpdate, *, settings: Settings
) -> TemplateOut:
    """Change the fields sent; requests already made from the template keep their terms."""
    template = await _owned(session, user, ref)
    changes = data.model_dump(exclude_unset=True, by_alias=False)
    if "category_id" in changes:
        changes["category_id"] = await _category_id(session, changes["category_id"])
    for name, value in changes.items():
        setattr(template, name, value)
    if changes.keys() & {"price", "currency", "network"}:
        _check_terms(settings, await shops.get_shop(session, template.shop_id), template)
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
    rows, total = await repository.list_owned(session, user, active, params)
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


async def get_readable(session: AsyncSession, ref: str, viewer: User | None) -> RequestTemplate:
    """A template anyone may see; an inactive one only by its owner (else 404)."""
    template = await repository.get_readable(session, ref, viewer)
    if template is None:
        raise TemplateNotFound()
    return template


def _build(model: type[Any], values: dict[str, Any]) -> Any:
    """Build another domain's input from a stored template. A row imported from the old
    system may break today's rules (e.g. a 2-letter title): answer 400, not 500."""
    try:
        return model.model_validate(values)
    except ValidationError as exc:
        details = [
            {"path": ".".join(to_camel(str(p)) for p in e["loc"]), "msg": e["msg"]}
            for e in exc.errors()
        ]
        raise ValidationFailed(
            "This template cannot be ordered as it is", details=details
        ) from None


async def instantiate(
    session: AsyncSession,
    buyer: User,
    ref: str,
    data: InstantiateTemplate,
    *,
    settings: Settings,
) -> tuple[PurchaseRequest, SellerOffer]:
    """Order from a template: an open request aimed at the template's shop, and the shop
    owner's offer on it at the template's terms (price × quantity).

    Both are written in the caller's transaction: if either step fails, nothing is kept.
    The template is read under a shared lock until the order commits, so a concurrent
    delete waits and then sees the order (deactivating instead), or went first and the
    order is 404 (a price change waits too: the order gets the terms it read).

    The buyer's `message` is a private note to the shop (`buyer_note`), never part of the
    public description.
    """
    requests.require_buyer_role(buyer)
    template = await repository.get_readable(session, ref, buyer, share=True)
    if template is not None and template.seller_id == buyer.id:
        raise OwnTemplate()
    if template is None or not template.is_active:
        raise TemplateNotFound()
    shop = await shops.get_shop(session, template.shop_id)
    seller = await repository.get_user(session, shop.owner_id)
    if seller is None or seller.banned_at is not None:
        raise TemplateUnavailable()
    total = template.price * data.quantity
    request_data: RequestCreate = _build(
        RequestCreate,
        {
            "title": template.title,
            "description": template.description,
            "category_id": str(template.category_id) if template.category_id else None,
            "quantity": data.quantity,
            "budget_min": total,
            "budget_max": total,
            "currency": template.currency,
            "delivery_address_id": data.delivery_address_id,
            "is_digital": bool(data.is_digital),
            "publish": True,
        },
    )
    offer_data: OfferFields = _build(
        OfferFields,
        {
            "price": total,
            "currency": template.currency,
            "network": template.network,
            "delivery_days": template.delivery_days,
        },
    )
    request = await requests.create_request(
        session,
        buyer,
        request_data,
        target_shop_id=shop.id,
        template_id=template.id,
        buyer_note=data.message,
        settings=settings,
    )
    try:
        offer = await offers.create_offer(
            session, seller, request, offer_data, from_template=True, settings=settings
        )
    except RoleRequired:
        # The shop owner lost the seller role since listing the template. The request
        # written above goes with the rolled-back transaction.
        raise TemplateUnavailable() from None
    return request, offer
