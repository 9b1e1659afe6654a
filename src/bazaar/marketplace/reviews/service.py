"""Review rules: who may rate whom, once, within the window after completion."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from bazaar.kit.db import utcnow
from bazaar.kit.ids import get_by_ref
from bazaar.kit.pagination import Page, PageParams
from bazaar.marketplace.requests import service as requests
from bazaar.marketplace.reviews import repository
from bazaar.marketplace.reviews.errors import (
    AlreadyReviewed,
    RequestNotFound,
    ReviewNotAllowed,
    ReviewWindowClosed,
)
from bazaar.marketplace.reviews.schemas import RequestReviews, ReviewCreate, ReviewOut
from bazaar.models import PurchaseRequest, Review, User
from bazaar.notifications.service import notify

REVIEWABLE_STATUS = "completed"
CENTS = Decimal("0.01")


class _Deal:
    """A request seen from one caller: their side and the other party."""

    def __init__(
        self, request: PurchaseRequest, seller_id: uuid.UUID | None, user_id: uuid.UUID
    ) -> None:
        self.request = request
        self.seller_id = seller_id
        if user_id == request.buyer_id:
            self.role: str | None = "buyer"
            self.counterpart: uuid.UUID | None = seller_id
        elif seller_id is not None and user_id == seller_id:
            self.role = "seller"
            self.counterpart = request.buyer_id
        else:
            self.role = None
            self.counterpart = None


async def _load_deal(session: AsyncSession, request_ref: str, user: User) -> _Deal:
    """The request and the caller's side in it; 404 when the caller is not a party.

    Read through the requests domain's scoped getter, then narrowed to the two parties:
    others who may see the request (anyone for an open one, admins) get 404 all the same.
    """
    # Its 404 is REQUEST_NOT_FOUND too, the same answer as for a non-party.
    request = await requests.get_readable(session, request_ref, user)
    deal = _Deal(request, await requests.accepted_seller_id(session, request), user.id)
    if deal.role is None:
        raise RequestNotFound()
    return deal


def review_window_closes_at(request: PurchaseRequest, window: timedelta) -> datetime | None:
    """When reviews stop being accepted; None while the request is not completed."""
    if request.status != REVIEWABLE_STATUS:
        return None
    # Rows imported without a completion time fall back to their last change.
    completed_at = request.completed_at or request.updated_at
    return completed_at + window


async def _to_out(session: AsyncSession, reviews: list[Review]) -> list[ReviewOut]:
    names = await repository.user_names(session, {r.author_id for r in reviews})
    return [
        ReviewOut.model_validate(
            {
                "id": r.id,
                "request_id": r.request_id,
                "author_id": r.author_id,
                "author_name": names.get(r.author_id, ""),
                "author_role": r.author_role,
                "subject_id": r.subject_id,
                "rating": r.rating,
                "text": r.text,
                "created_at": r.created_at,
            }
        )
        for r in reviews
    ]


async def create_review(
    session: AsyncSession, author: User, data: ReviewCreate, *, window: timedelta
) -> ReviewOut:
    """Rate the other party of a completed deal; each side once, within `window`."""
    deal = await _load_deal(session, data.request_id, author)
    closes_at = review_window_closes_at(deal.request, window)
    if closes_at is None or deal.counterpart is None:
        raise ReviewNotAllowed()
    if utcnow() > closes_at:
        raise ReviewWindowClosed()
    if await repository.find_review(session, deal.request.id, author.id) is not None:
        raise AlreadyReviewed()
    review = Review(
        request_id=deal.request.id,
        author_id=author.id,
        subject_id=deal.counterpart,
        author_role=deal.role,
        rating=data.rating,
        text=data.text,
    )
    try:
        # A concurrent twin passes the check above; the unique (request, author) pair stops it.
        async with session.begin_nested():
            session.add(review)
            await session.flush()
    except IntegrityError:
        raise AlreadyReviewed() from None
    await notify(
        session,
        deal.counterpart,
        "review.received",
        {"reviewId": str(review.id), "requestId": str(deal.request.id), "rating": review.rating},
    )
    return (await _to_out(session, [review]))[0]


async def reviews_of_request(
    session: AsyncSession, user: User, request_ref: str, *, window: timedelta
) -> RequestReviews:
    """Both reviews of a deal, for its two parties only."""
    deal = await _load_deal(session, request_ref, user)
    reviews = await repository.list_for_request(session, deal.request.id)
    closes_at = review_window_closes_at(deal.request, window)
    already = any(r.author_id == user.id for r in reviews)
    can_review = (
        closes_at is not None
        and deal.counterpart is not None
        and not already
        and utcnow() <= closes_at
    )
    return RequestReviews(
        reviews=await _to_out(session, reviews),
        can_review=can_review,
        review_window_closes_at=closes_at,
    )


async def reviews_about(
    session: AsyncSession, user_ref: str, author_role: str | None, params: PageParams
) -> Page[ReviewOut]:
    """Public: reviews written about one user, newest first."""
    user = await get_by_ref(session, User, user_ref, what="User")
    rows, total = await repository.list_about_user(session, user.id, author_role, params)
    return Page[ReviewOut].build(await _to_out(session, rows), total, params)


async def rating_summary(
    session: AsyncSession, user_id: uuid.UUID, *, author_role: str | None = None
) -> dict[str, Any]:
    """`{"average": "4.50" | None, "count": n}` over the reviews about `user_id`.

    `author_role="buyer"` limits it to reviews buyers wrote, i.e. the user's seller rating.
    """
    count, total = await repository.rating_totals(session, user_id, author_role)
    if count == 0:
        return {"average": None, "count": 0}
    average = (Decimal(total) / Decimal(count)).quantize(CENTS, rounding=ROUND_HALF_EVEN)
    return {"average": str(average), "count": count}


async def completed_deals(session: AsyncSession, seller_id: uuid.UUID) -> int:
    """Requests completed with this user's offer as the accepted one."""
    return await repository.count_completed_deals(session, seller_id)
