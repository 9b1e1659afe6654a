"""Request templates: a seller's catalog; buyers order from it in one step."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, status

from bazaar.kit.deps import ReadSession, SettingsDep, WriteSession
from bazaar.kit.errors import NotFound
from bazaar.kit.openapi import errors
from bazaar.kit.pagination import Page, Pagination
from bazaar.kit.schemas import Envelope
from bazaar.marketplace.auth import Buyer, Seller, SignedIn, Viewer
from bazaar.marketplace.categories.errors import CategoryNotFound
from bazaar.marketplace.offers.schemas import OfferOut
from bazaar.marketplace.requests import service as requests
from bazaar.marketplace.shops.errors import ShopNotFound
from bazaar.marketplace.templates import service
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
    TemplateOrder,
    TemplateOut,
    TemplateUpdate,
)
from bazaar.payments.payouts.errors import PayoutWalletMissing

router = APIRouter()

_ADDRESS_NOT_FOUND = NotFound("Address not found", code="ADDRESS_NOT_FOUND")


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=Envelope[TemplateOut],
    responses=errors(ShopRequired),
)
@router.post(
    "/",
    status_code=status.HTTP_201_CREATED,
    response_model=Envelope[TemplateOut],
    include_in_schema=False,
)
async def create_template(
    body: TemplateCreate, user: Seller, session: WriteSession, settings: SettingsDep
) -> Envelope[TemplateOut]:
    """Add an item to your shop's catalog (sellers with a shop; else 409 `SHOP_REQUIRED`).

    `price` is a decimal string in `currency`, a token your shop accepts, with no more
    decimals than the token has; `network` is the EVM chain id it is paid on, where the
    token registry has the token's contract.
    """
    return Envelope(data=await service.create_template(session, user, body, settings=settings))


@router.get("/mine", response_model=Envelope[Page[TemplateOut]])
async def list_my_templates(
    user: SignedIn,
    session: ReadSession,
    params: Pagination,
    active: Annotated[bool | None, Query(description="Only active / only inactive")] = None,
) -> Envelope[Page[TemplateOut]]:
    """Your templates, active and inactive, newest first."""
    return Envelope(data=await service.list_mine(session, user, active, params))


@router.get(
    "/shop/{shop_ref}",
    response_model=Envelope[Page[TemplateOut]],
    responses=errors(ShopNotFound, CategoryNotFound),
)
async def list_shop_templates(
    shop_ref: str,
    session: ReadSession,
    params: Pagination,
    category_id: Annotated[
        str | None,
        Query(alias="categoryId", max_length=120, description="Category (and sub-categories)"),
    ] = None,
) -> Envelope[Page[TemplateOut]]:
    """Public: a shop's active templates, newest first. `shopRef` is a UUID, slug or legacy id."""
    return Envelope(data=await service.list_for_shop(session, shop_ref, category_id, params))


@router.get(
    "/{template_id}", response_model=Envelope[TemplateOut], responses=errors(TemplateNotFound)
)
async def get_template(
    template_id: str, user: Viewer, session: ReadSession
) -> Envelope[TemplateOut]:
    """Public: one template. An inactive template is visible to its owner only."""
    template = await service.get_readable(session, template_id, user)
    return Envelope(data=TemplateOut.model_validate(template))


@router.patch(
    "/{template_id}", response_model=Envelope[TemplateOut], responses=errors(TemplateNotFound)
)
async def update_template(
    template_id: str,
    body: TemplateUpdate,
    user: SignedIn,
    session: WriteSession,
    settings: SettingsDep,
) -> Envelope[TemplateOut]:
    """Change your template; only the fields sent change. Requests already made keep
    their terms. Someone else's template is 404 `TEMPLATE_NOT_FOUND`."""
    template = await service.update_template(session, user, template_id, body, settings=settings)
    return Envelope(data=template)


@router.delete(
    "/{template_id}", response_model=Envelope[TemplateDeleted], responses=errors(TemplateNotFound)
)
async def delete_template(
    template_id: str, user: SignedIn, session: WriteSession
) -> Envelope[TemplateDeleted]:
    """Remove your template. One that was never ordered is deleted (`result: deleted`); one
    that requests were made from is deactivated instead (`result: deactivated`), so those
    requests keep their link."""
    return Envelope(data=await service.delete_template(session, user, template_id))


@router.post(
    "/{template_id}/instantiate",
    status_code=status.HTTP_201_CREATED,
    response_model=Envelope[TemplateOrder],
    responses=errors(
        OwnTemplate, TemplateNotFound, TemplateUnavailable, _ADDRESS_NOT_FOUND, PayoutWalletMissing
    ),
)
async def instantiate_template(
    template_id: str,
    body: InstantiateTemplate,
    user: Buyer,
    session: WriteSession,
    settings: SettingsDep,
) -> Envelope[TemplateOrder]:
    """Order from a template in one step (buyer role; not your own template).

    Creates an open purchase request addressed to the template's shop (title, description,
    category and budget from the template; budget = price × `quantity`), and the shop's
    offer on it at price × `quantity`, which you can accept right away. Only that shop can
    make offers on the request. Delivery is `deliveryAddressId` (one of your addresses) or
    `isDigital: true`; `message` is a private note to the shop (the request's
    `buyerNote`, seen by you, that shop and admins only).
    Errors: 403 `CANNOT_INSTANTIATE_OWN_TEMPLATE`, 404 `TEMPLATE_NOT_FOUND` (unknown or
    inactive), 409 `TEMPLATE_UNAVAILABLE` (the seller is not taking orders).
    """
    request, offer = await service.instantiate(session, user, template_id, body, settings=settings)
    detail = await requests.detail(session, request, user)
    return Envelope(data=TemplateOrder(request=detail, offer=OfferOut.model_validate(offer)))
