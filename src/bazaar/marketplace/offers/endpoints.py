"""`/api/marketplace/offers`: sellers' offers on purchase requests, and accepting one."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse

from bazaar.kit.deps import ReadSession, SettingsDep, WriteSession
from bazaar.kit.errors import InvalidStateTransition
from bazaar.kit.openapi import errors
from bazaar.kit.pagination import Page, Pagination
from bazaar.kit.schemas import Envelope, ok
from bazaar.marketplace.auth import Buyer, IdempotencyKey, Seller, SignedIn
from bazaar.marketplace.offers import service
from bazaar.marketplace.offers.errors import (
    NotTargetShop,
    NotTheRequestBuyer,
    NotTheSeller,
    OfferChanged,
    OfferExists,
    OfferExpired,
    OfferNotFound,
    OfferNotPending,
    OwnRequest,
    TermsChanged,
)
from bazaar.marketplace.offers.schemas import (
    AcceptedOut,
    AcceptOffer,
    ConfirmOffer,
    MyOfferOut,
    OfferCreate,
    OfferOut,
    OfferStatus,
    OfferUpdate,
    RejectOffer,
)
from bazaar.marketplace.requests.errors import RequestNotFound, RequestNotOpen, TransitionForbidden
from bazaar.payments.errors import PaymentInProgress, TokenNotPayable
from bazaar.payments.payouts.errors import PayoutWalletMissing
from bazaar.payments.schemas import PaymentOut

router = APIRouter()

_ACCEPT = (
    OfferNotFound,
    NotTheRequestBuyer,
    TransitionForbidden,
    InvalidStateTransition,
    RequestNotOpen,
    OfferNotPending,
    OfferExpired,
    OfferChanged,
    PaymentInProgress,
    TokenNotPayable,
)


@router.post(
    "",
    status_code=201,
    response_model=Envelope[OfferOut],
    responses=errors(
        RequestNotFound,
        OwnRequest,
        NotTargetShop,
        RequestNotOpen,
        OfferExists,
        PayoutWalletMissing,
    ),
)
@router.post("/", status_code=201, include_in_schema=False, response_model=Envelope[OfferOut])
async def create_offer(
    body: OfferCreate, seller: Seller, session: WriteSession, settings: SettingsDep
) -> Envelope[OfferOut]:
    """Make an offer on an open request (seller role).

    One live (pending or accepted) offer per seller and request: a second is 409
    `OFFER_EXISTS`. Offering on your own request is 403 `OWN_REQUEST`; a request made from
    a shop's template takes offers from that shop only (403). `price` is the total for the
    requested quantity, as a decimal string; `currency` defaults to the request's;
    `expiresAt` defaults to the earlier of the request's deadline and now +
    OFFER_DEFAULT_TTL. Your shop must have a payout wallet on the offer's `network` (the
    money is paid out there): 409 `PAYOUT_WALLET_MISSING` otherwise.
    """
    offer = await service.make_offer(session, seller, body, settings=settings)
    return Envelope(data=OfferOut.model_validate(offer))


@router.get("", response_model=Envelope[Page[OfferOut]], responses=errors(RequestNotFound))
@router.get("/", include_in_schema=False, response_model=Envelope[Page[OfferOut]])
async def list_offers(
    user: SignedIn,
    session: ReadSession,
    params: Pagination,
    request_id: Annotated[str, Query(alias="requestId", max_length=64)],
    status: OfferStatus | None = None,
) -> Envelope[Page[OfferOut]]:
    """Offers on one request, newest first: the buyer sees all of them, a seller only their
    own. A request you may not see is 404."""
    page = await service.list_for_request(session, request_id, user, status, params)
    return Envelope(data=page)


@router.get("/mine", response_model=Envelope[Page[MyOfferOut]])
async def my_offers(
    user: SignedIn, session: ReadSession, params: Pagination, status: OfferStatus | None = None
) -> Envelope[Page[MyOfferOut]]:
    """Your offers (as a seller), newest first, with each request's title and status."""
    return Envelope(data=await service.list_mine(session, user, status, params))


@router.get("/{ref}", response_model=Envelope[OfferOut], responses=errors(OfferNotFound))
async def get_offer(ref: str, user: SignedIn, session: ReadSession) -> Envelope[OfferOut]:
    """One offer, for its seller, the request's buyer and admins (others get 404)."""
    offer = await service.get_readable(session, ref, user)
    return Envelope(data=OfferOut.model_validate(offer))


@router.patch(
    "/{ref}",
    response_model=Envelope[OfferOut],
    responses=errors(
        OfferNotFound, NotTheSeller, OfferNotPending, OfferExpired, PayoutWalletMissing
    ),
)
async def update_offer(
    ref: str, body: OfferUpdate, user: SignedIn, session: WriteSession, settings: SettingsDep
) -> Envelope[OfferOut]:
    """Edit your pending offer. Its `version` goes up; the buyer accepts the new version."""
    offer = await service.update_offer(session, ref, user, body, settings=settings)
    return Envelope(data=OfferOut.model_validate(offer))


@router.post(
    "/{ref}/confirm",
    response_model=Envelope[OfferOut],
    responses=errors(
        OfferNotFound, NotTheSeller, OfferNotPending, RequestNotOpen, OfferExpired, TermsChanged
    ),
)
async def confirm_offer(
    ref: str, body: ConfirmOffer, user: SignedIn, session: WriteSession
) -> Envelope[OfferOut]:
    """Confirm your pending offer for the request's current terms.

    When the buyer changes what is bought (title, description, category, quantity,
    currency, digital or delivery address), the request's `termsVersion` goes up and offers
    made for older terms cannot be accepted (409 `OFFER_TERMS_OUTDATED`) until their seller
    confirms them. Send the `termsVersion` you reviewed: 409 `REQUEST_TERMS_CHANGED` if the
    terms changed again since. The price stays; edit the offer to change it.
    """
    offer = await service.confirm(session, ref, user, terms_version=body.terms_version)
    return Envelope(data=OfferOut.model_validate(offer))


@router.post(
    "/{ref}/withdraw",
    response_model=Envelope[OfferOut],
    responses=errors(OfferNotFound, NotTheSeller, OfferNotPending),
)
async def withdraw_offer(ref: str, user: SignedIn, session: WriteSession) -> Envelope[OfferOut]:
    """Withdraw your pending offer."""
    offer = await service.withdraw(session, ref, user)
    return Envelope(data=OfferOut.model_validate(offer))


@router.post(
    "/{ref}/reject",
    response_model=Envelope[OfferOut],
    responses=errors(OfferNotFound, NotTheRequestBuyer, OfferNotPending),
)
async def reject_offer(
    ref: str, user: SignedIn, session: WriteSession, body: RejectOffer | None = None
) -> Envelope[OfferOut]:
    """Decline a pending offer on your request, optionally with a reason for the seller."""
    reason = body.reason if body else None
    offer = await service.reject(session, ref, user, reason=reason)
    return Envelope(data=OfferOut.model_validate(offer))


@router.post("/{ref}/accept", response_model=Envelope[AcceptedOut], responses=errors(*_ACCEPT))
async def accept_offer(
    ref: str,
    body: AcceptOffer,
    user: Buyer,
    session: WriteSession,
    settings: SettingsDep,
    idem: IdempotencyKey,
) -> JSONResponse:
    """Accept a pending offer on your open request (buyer role).

    The request becomes `accepted` at the offer's price, every other pending offer is
    superseded, and a `pending` payment is created, due before `fundingDeadline` (now +
    PAYMENT_WINDOW). Send `{"version": n}`, the offer version you reviewed (required): 409
    `OFFER_CHANGED` if the seller edited it since. An offer made for older terms of the
    request is 409 `OFFER_TERMS_OUTDATED` until its seller confirms it; an offer whose
    seller is banned or no longer a seller is 409 `OFFER_SELLER_UNAVAILABLE`. A request
    that is no longer open is 409 `INVALID_STATE_TRANSITION`.

    Send an `Idempotency-Key` header to make retries safe: the same key and body replay the
    first answer (header `Idempotent-Replayed: true`); the same key with another body is 409
    `IDEMPOTENCY_KEY_REUSED`.
    """
    if idem.replay:
        return idem.replay
    offer, request, payment = await service.accept(
        session, ref, user, version=body.version, settings=settings
    )
    accepted = AcceptedOut(
        offer=OfferOut.model_validate(offer),
        request_id=request.id,
        request_status=request.status,
        funding_deadline=request.funding_deadline,
        payment=PaymentOut.model_validate(payment),
    )
    return await idem.save(session, ok(accepted.model_dump(mode="json", by_alias=True)), 200)
