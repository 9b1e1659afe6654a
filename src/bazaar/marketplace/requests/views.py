"""The read side of purchase requests: the list page and the detail, shaped per viewer.

Who sees what of a request that everyone with a tie to it may read:
- the deal (`acceptedOfferId`, `lockedPrice`, the delivery note and files): its buyer, the
  seller of its accepted offer and admins, never the sellers who lost;
- the full delivery address: its buyer and admins; the accepted seller only while the deal
  is live and paid for (funded, delivered, disputed), never before funding nor after it
  ended; everyone else sees `shipsTo` (city and country);
- the buyer's note to a shop (template orders): its buyer, that shop's owner and admins.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from bazaar.kit.db import utcnow
from bazaar.kit.pagination import Page, PageParams
from bazaar.marketplace.categories import service as categories
from bazaar.marketplace.categories.errors import CategoryNotFound
from bazaar.marketplace.offers.schemas import OfferOut
from bazaar.marketplace.requests import repository as repo
from bazaar.marketplace.requests import state
from bazaar.marketplace.requests.schemas import HistoryOut, RequestDetail, RequestSummary
from bazaar.marketplace.shops import service as shops
from bazaar.models import PurchaseRequest, User

_COMPUTED = {"ships_to", "offer_count"}
_SUMMARY_FIELDS = [f for f in RequestSummary.model_fields if f not in _COMPUTED]
# Shown to the deal's parties and admins only.
_DEAL_FIELDS = ("accepted_offer_id", "locked_price")
# The states in which the accepted seller needs the address: paid for and not yet over.
ADDRESS_TO_SELLER = frozenset({state.FUNDED, state.DELIVERED, state.DISPUTED})


def _ships_to(request: PurchaseRequest) -> dict[str, str | None] | None:
    address = request.delivery_address
    if not address:
        return None
    return {"city": address.get("city"), "country": address.get("country")}


def _base(request: PurchaseRequest, offer_count: int, *, deal: bool) -> dict[str, Any]:
    """The public fields; the deal's (`deal`) for its parties and admins only."""
    data = {name: getattr(request, name) for name in _SUMMARY_FIELDS}
    if not deal:
        data.update(dict.fromkeys(_DEAL_FIELDS))
    data["ships_to"] = _ships_to(request)
    data["offer_count"] = offer_count
    return data


def summary(request: PurchaseRequest, offer_count: int, viewer: User | None) -> RequestSummary:
    """A list item. Lists show other people's requests only while they are open (no deal);
    the deal's fields are still shown only to the buyer and admins, never from a list to a
    seller."""
    deal = viewer is not None and (viewer.id == request.buyer_id or viewer.has_role("admin"))
    return RequestSummary.model_validate(_base(request, offer_count, deal=deal))


async def _shop_owner(session: AsyncSession, request: PurchaseRequest) -> uuid.UUID | None:
    if request.target_shop_id is None or request.buyer_note is None:
        return None
    return (await shops.get_shop(session, request.target_shop_id)).owner_id


async def detail(
    session: AsyncSession, request: PurchaseRequest, viewer: User | None
) -> RequestDetail:
    """Everything about one request shaped for the viewer, who may see it (loaded through
    service.get_readable, or just written by them)."""
    counts = await repo.live_offer_counts(session, [request.id])
    seller_id = await repo.accepted_seller_id(session, request)
    is_buyer = viewer is not None and viewer.id == request.buyer_id
    is_admin = viewer is not None and viewer.has_role("admin")
    is_seller = viewer is not None and seller_id is not None and viewer.id == seller_id
    privileged = is_buyer or is_admin or is_seller
    sees_address = is_buyer or is_admin or (is_seller and request.status in ADDRESS_TO_SELLER)
    shop_owner = await _shop_owner(session, request)
    sees_note = is_buyer or is_admin or (viewer is not None and viewer.id == shop_owner)
    offers: list[OfferOut] | None = None
    if is_buyer or is_admin:
        offers = [OfferOut.model_validate(o) for o in await repo.offers_of(session, request.id)]
    elif viewer is not None:
        own = await repo.offers_of(session, request.id, seller_id=viewer.id)
        offers = [OfferOut.model_validate(o) for o in own]
    history = [
        HistoryOut.model_validate(
            {
                "actor_id": entry.actor_id,
                "actor_name": name,
                "actor_role": entry.actor_role,
                "from_status": entry.from_status,
                "to_status": entry.to_status,
                "reason": entry.reason,
                "created_at": entry.created_at,
            }
        )
        for entry, name in await repo.history(session, request.id)
    ]
    data = _base(request, counts.get(request.id, 0), deal=privileged)
    data.update(
        delivery_address=request.delivery_address if sees_address else None,
        buyer_note=request.buyer_note if sees_note else None,
        delivery_note=request.delivery_note if privileged else None,
        delivery_files=list(request.delivery_files or []) if privileged else [],
        history=history,
        offers=offers,
    )
    return RequestDetail.model_validate(data)


async def category_filter(session: AsyncSession, ref: str | None) -> list[uuid.UUID] | None:
    """The category and its sub-categories; an unknown category matches nothing."""
    if ref is None:
        return None
    try:
        category = await categories.get_category(session, ref)
    except CategoryNotFound:
        return []
    return await categories.descendant_ids(session, category.id)


async def list_page(
    session: AsyncSession,
    viewer: User | None,
    params: PageParams,
    *,
    q: str | None = None,
    status: str | None = None,
    category_ref: str | None = None,
    budget_min: Decimal | None = None,
    budget_max: Decimal | None = None,
    currency: str | None = None,
    mine: bool = False,
    sort: str = "newest",
    backend: str,
    now: datetime | None = None,
) -> Page[RequestSummary]:
    """One page of the requests the viewer may see: the rows, the total and one grouped
    offer count, whatever the page size. `category_ref` includes its sub-categories."""
    filters = repo.Filters(
        q=q,
        status=status,
        category_ids=await category_filter(session, category_ref),
        budget_min=budget_min,
        budget_max=budget_max,
        currency=currency,
        mine=mine,
        sort=sort,
    )
    rows, total = await repo.list_requests(
        session, viewer, filters, params, now=now or utcnow(), backend=backend
    )
    counts = await repo.live_offer_counts(session, [r.id for r in rows])
    items = [summary(r, counts.get(r.id, 0), viewer) for r in rows]
    return Page[RequestSummary].build(items, total, params)
