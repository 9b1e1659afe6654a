"""The read side of purchase requests: the list page and the detail, shaped per viewer.

A viewer is privileged on a request when they are its buyer, the seller of its accepted
offer, or an admin: only they see the full delivery address and the delivery proof.
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
from bazaar.marketplace.requests.schemas import HistoryOut, RequestDetail, RequestSummary
from bazaar.models import PurchaseRequest, User

_COMPUTED = {"ships_to", "offer_count"}
_SUMMARY_FIELDS = [f for f in RequestSummary.model_fields if f not in _COMPUTED]


def _ships_to(request: PurchaseRequest) -> dict[str, str | None] | None:
    address = request.delivery_address
    if not address:
        return None
    return {"city": address.get("city"), "country": address.get("country")}


def _base(request: PurchaseRequest, offer_count: int) -> dict[str, Any]:
    data = {name: getattr(request, name) for name in _SUMMARY_FIELDS}
    data["ships_to"] = _ships_to(request)
    data["offer_count"] = offer_count
    return data


def summary(request: PurchaseRequest, offer_count: int) -> RequestSummary:
    return RequestSummary.model_validate(_base(request, offer_count))


async def detail(
    session: AsyncSession, request: PurchaseRequest, viewer: User | None
) -> RequestDetail:
    """Everything about one request shaped for the viewer, who may see it (loaded through
    service.get_readable, or just written by them)."""
    counts = await repo.live_offer_counts(session, [request.id])
    seller_id = await repo.accepted_seller_id(session, request)
    is_buyer = viewer is not None and viewer.id == request.buyer_id
    is_admin = viewer is not None and viewer.has_role("admin")
    privileged = is_buyer or is_admin or (viewer is not None and viewer.id == seller_id)
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
    data = _base(request, counts.get(request.id, 0))
    data.update(
        delivery_address=request.delivery_address if privileged else None,
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
    items = [summary(r, counts.get(r.id, 0)) for r in rows]
    return Page[RequestSummary].build(items, total, params)
