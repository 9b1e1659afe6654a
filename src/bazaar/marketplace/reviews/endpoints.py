"""Reviews: buyer and seller rate each other after a completed deal."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, status

from bazaar.kit.deps import ReadSession, SettingsDep, WriteSession
from bazaar.kit.errors import NotFound
from bazaar.kit.openapi import errors
from bazaar.kit.pagination import Page, Pagination
from bazaar.kit.schemas import Envelope
from bazaar.marketplace.auth import SignedIn
from bazaar.marketplace.reviews import service
from bazaar.marketplace.reviews.errors import (
    AlreadyReviewed,
    RequestNotFound,
    ReviewNotAllowed,
    ReviewWindowClosed,
)
from bazaar.marketplace.reviews.schemas import (
    RequestReviews,
    ReviewCreate,
    ReviewOut,
    ReviewRole,
)

router = APIRouter()


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=Envelope[ReviewOut],
    responses=errors(RequestNotFound, ReviewNotAllowed, ReviewWindowClosed, AlreadyReviewed),
)
@router.post(
    "/",
    status_code=status.HTTP_201_CREATED,
    response_model=Envelope[ReviewOut],
    include_in_schema=False,
)
async def create_review(
    body: ReviewCreate, user: SignedIn, session: WriteSession, settings: SettingsDep
) -> Envelope[ReviewOut]:
    """Rate the other party of a completed request (1–5 stars, optional text ≤ 2000 chars).

    The buyer rates the seller whose offer was accepted, and that seller rates the buyer;
    each once, within the review window (7 days) after completion.
    Errors: 404 `REQUEST_NOT_FOUND` (unknown request or you are not a party),
    409 `REVIEW_NOT_ALLOWED` (not completed), 409 `REVIEW_WINDOW_CLOSED`,
    409 `ALREADY_REVIEWED`.
    """
    review = await service.create_review(session, user, body, window=settings.review_window)
    return Envelope(data=review)


@router.get(
    "", response_model=Envelope[Page[ReviewOut]], responses=errors(NotFound("User not found"))
)
@router.get("/", response_model=Envelope[Page[ReviewOut]], include_in_schema=False)
async def list_reviews_about_user(
    session: ReadSession,
    params: Pagination,
    user_id: Annotated[
        str, Query(alias="userId", min_length=1, max_length=64, description="UUID or legacy id")
    ],
    role: Annotated[
        ReviewRole | None,
        Query(
            description="Only reviews the user received as this side of the deal "
            "(`seller`: written by their buyers)"
        ),
    ] = None,
) -> Envelope[Page[ReviewOut]]:
    """Public: the reviews written about a user, newest first."""
    # A user reviewed "as seller" is one whose reviews were written by buyers.
    author_role = {"seller": "buyer", "buyer": "seller"}.get(role) if role else None
    page = await service.reviews_about(session, user_id, author_role, params)
    return Envelope(data=page)


@router.get(
    "/request/{request_id}",
    response_model=Envelope[RequestReviews],
    responses=errors(RequestNotFound),
)
async def reviews_of_request(
    request_id: str, user: SignedIn, session: ReadSession, settings: SettingsDep
) -> Envelope[RequestReviews]:
    """The reviews of one request, for its buyer and its accepted seller only.

    `canReview` says whether you may still write yours; `reviewWindowClosesAt` is null
    until the request is completed.
    """
    data = await service.reviews_of_request(
        session, user, request_id, window=settings.review_window
    )
    return Envelope(data=data)
