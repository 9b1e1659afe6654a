"""Seller offer rules: make, edit, confirm for new terms, withdraw, reject, accept (which
locks the deal and creates the payment), list, and the expiry of offers nobody accepted.

An offer answers one version of its request's terms (`terms_version`): after the buyer
changes what is bought, the offer cannot be accepted until its seller confirms it again.

Lock order on PostgreSQL: the request row, then offer rows, then the payment row.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from bazaar.chat import service as chat
from bazaar.config import Settings
from bazaar.kit.db import utcnow
from bazaar.kit.errors import RoleRequired, ValidationFailed
from bazaar.kit.money import format_money
from bazaar.kit.pagination import Page, PageParams
from bazaar.marketplace.offers import repository as repo
from bazaar.marketplace.offers.errors import (
    NotTargetShop,
    NotTheRequestBuyer,
    NotTheSeller,
    OfferChanged,
    OfferExists,
    OfferExpired,
    OfferNotFound,
    OfferNotPending,
    OfferSellerUnavailable,
    OfferTermsOutdated,
    OwnRequest,
    TermsChanged,
)
from bazaar.marketplace.offers.schemas import (
    MyOfferOut,
    OfferCreate,
    OfferFields,
    OfferOut,
    OfferUpdate,
)
from bazaar.marketplace.requests import service as requests
from bazaar.marketplace.requests import state
from bazaar.marketplace.requests.errors import RequestNotOpen
from bazaar.marketplace.shops import service as shops
from bazaar.models import Payment, PurchaseRequest, SellerOffer, Shop, User
from bazaar.notifications.service import notify
from bazaar.payments import service as payments
from bazaar.payments.payouts.errors import PayoutWalletMissing

PENDING = "pending"


def _info(offer: SellerOffer, request: PurchaseRequest, **extra: Any) -> dict[str, Any]:
    return {
        "offerId": str(offer.id),
        "requestId": str(request.id),
        "title": request.title,
        "price": format_money(offer.price),
        "currency": offer.currency,
        **extra,
    }


def _expired(offer: SellerOffer, now: datetime) -> bool:
    return offer.expires_at is not None and offer.expires_at <= now


def _expiry(
    given: datetime | None, request: PurchaseRequest, now: datetime, settings: Settings
) -> datetime:
    """Default: the earlier of the request's deadline and now + OFFER_DEFAULT_TTL."""
    default = now + settings.offer_default_ttl
    deadline = request.expires_at
    if given is None:
        return min(default, deadline) if deadline is not None else default
    at = given.replace(tzinfo=UTC) if given.tzinfo is None else given.astimezone(UTC)
    if at <= now:
        raise ValidationFailed.on("expiresAt", "must be in the future")
    if deadline is not None and at > deadline:
        raise ValidationFailed.on("expiresAt", "must not be after the request's deadline")
    return at


def _require_payout_wallet(shop: Shop | None, chain_id: int) -> None:
    """The money of an accepted offer is paid out to the seller's shop wallet on the
    offer's network: an offer that could never be paid out is refused when it is made or
    moved to another network (409 PAYOUT_WALLET_MISSING), not when the money is held."""
    if shop is None or not (shop.payout_wallets or {}).get(str(chain_id)):
        raise PayoutWalletMissing(
            f"Your shop has no payout wallet on network {chain_id}: add one in the shop "
            "settings (payoutWallets) before offering to be paid there",
            details=[{"path": "network", "msg": "no payout wallet of your shop on this network"}],
        )


async def get_readable(
    session: AsyncSession, ref: str | uuid.UUID, viewer: User, *, lock: bool = False
) -> SellerOffer:
    """An offer its seller, the request's buyer or an admin may see; others get 404."""
    offer = await repo.get_readable(session, ref, viewer, lock=lock)
    if offer is None:
        raise OfferNotFound()
    return offer


async def make_offer(
    session: AsyncSession, seller: User, data: OfferCreate, *, settings: Settings
) -> SellerOffer:
    """An offer on the request `data.request_id` names, which the seller must be able to
    see (else 404, as a missing one)."""
    request = await requests.get_readable(session, data.request_id, seller)
    return await create_offer(session, seller, request, data, settings=settings)


async def create_offer(
    session: AsyncSession,
    seller: User,
    request: PurchaseRequest,
    data: OfferFields,
    *,
    from_template: bool = False,
    settings: Settings,
    now: datetime | None = None,
) -> SellerOffer:
    """A pending offer on an open request, which the caller has read for the seller: one
    live offer per seller and request; a request aimed at a shop (from a template) takes
    offers from that shop's owner only."""
    now = now or utcnow()
    if not seller.has_role("seller"):
        raise RoleRequired.any_of("seller")
    if request.buyer_id == seller.id:
        raise OwnRequest()
    # A shared lock: an accept (which takes the row for update) cannot run in between.
    # Unscoped: re-reading the request the caller already read for this seller.
    request = await requests.get_unscoped(session, request.id, share=True)
    if request.status != state.OPEN or requests.lapsed(request, now):
        raise RequestNotOpen()
    shop = await shops.get_shop_by_owner(session, seller.id)
    if request.target_shop_id is not None and (shop is None or shop.id != request.target_shop_id):
        raise NotTargetShop()
    if await repo.live_offer(session, request.id, seller.id) is not None:
        raise OfferExists()
    paid_in = shops.payment_terms(
        settings, shop, data.currency or request.currency, data.network, data.price
    )
    _require_payout_wallet(shop, paid_in.chain_id)
    offer = SellerOffer(
        request_id=request.id,
        seller_id=seller.id,
        shop_id=shop.id if shop is not None else None,
        price=data.price,
        currency=paid_in.symbol,
        network=paid_in.chain_id,
        delivery_days=data.delivery_days,
        message=data.message,
        status=PENDING,
        expires_at=_expiry(data.expires_at, request, now, settings),
        version=1,
        # Read under the shared lock above: a terms edit (which locks the request for
        # update) cannot slip in before this offer is stored.
        terms_version=request.terms_version,
        from_template=from_template,
        created_at=now,
        updated_at=now,
    )
    try:
        # The partial unique index is the last word when two offers race past the check.
        async with session.begin_nested():
            session.add(offer)
    except IntegrityError:
        raise OfferExists() from None
    await notify(session, request.buyer_id, "offer.received", _info(offer, request))
    await requests.emit(session, f"user:{request.buyer_id}", "offer:new", _info(offer, request))
    # The buyer and this seller can talk about the request from the first offer on.
    await chat.ensure_request_conversation(session, request.id, request.buyer_id, seller.id)
    return offer


async def update_offer(
    session: AsyncSession,
    ref: str,
    seller: User,
    data: OfferUpdate,
    *,
    settings: Settings,
    now: datetime | None = None,
) -> SellerOffer:
    """Edit a pending offer (its seller); the version goes up and the buyer must accept the
    new version."""
    now = now or utcnow()
    offer = await get_readable(session, ref, seller, lock=True)
    if offer.seller_id != seller.id:
        raise NotTheSeller()
    request = await _request_of(session, offer)
    if offer.status != PENDING:
        raise OfferNotPending()
    if _expired(offer, now):
        raise OfferExpired()
    given = data.model_fields_set
    if not given:
        raise ValidationFailed.on("body", "send at least one field to change")
    for field in ("price", "currency", "network", "delivery_days", "message"):
        if field in given:
            setattr(offer, field, getattr(data, field))
    if given & {"price", "currency", "network"}:
        shop = await shops.get_shop_by_owner(session, seller.id)
        paid_in = shops.payment_terms(settings, shop, offer.currency, offer.network, offer.price)
        _require_payout_wallet(shop, paid_in.chain_id)
        offer.currency, offer.network = paid_in.symbol, paid_in.chain_id
    if "expires_at" in given:
        offer.expires_at = _expiry(data.expires_at, request, now, settings)
    offer.version += 1
    offer.updated_at = now
    await session.flush()
    info = _info(offer, request, version=offer.version)
    await notify(session, request.buyer_id, "offer.updated", info)
    await requests.emit(session, f"user:{request.buyer_id}", "offer:updated", info)
    return offer


async def _locked(session: AsyncSession, offer: SellerOffer) -> SellerOffer:
    """The offer re-read under a row lock (the caller already may act on it)."""
    locked = await repo.get_unscoped(session, offer.id, lock=True)
    if locked is None:  # deleted with its request meanwhile
        raise OfferNotFound()
    return locked


async def _request_of(session: AsyncSession, offer: SellerOffer) -> PurchaseRequest:
    # Unscoped: whoever may see an offer may see its request (its seller offered on it,
    # its buyer owns it, admins see every non-draft), and offers exist on open requests only.
    return await requests.get_unscoped(session, offer.request_id)


async def confirm(
    session: AsyncSession,
    ref: str,
    seller: User,
    *,
    terms_version: int,
    now: datetime | None = None,
) -> SellerOffer:
    """The seller confirms a pending offer for the request's current terms, the version
    they reviewed (`terms_version`; 409 REQUEST_TERMS_CHANGED if the buyer changed them
    again). Price and version stay: the seller edits the offer to change them. Confirming
    an offer that already answers the current terms changes nothing."""
    now = now or utcnow()
    offer = await get_readable(session, ref, seller)
    if offer.seller_id != seller.id:
        raise NotTheSeller()
    if not seller.has_role("seller"):
        raise RoleRequired.any_of("seller")
    # Lock order: the request (shared: a terms edit or an accept waits), then the offer.
    request = await requests.get_unscoped(session, offer.request_id, share=True)
    offer = await _locked(session, offer)
    if offer.status != PENDING:
        raise OfferNotPending()
    if request.status != state.OPEN or requests.lapsed(request, now):
        raise RequestNotOpen()
    if _expired(offer, now):
        raise OfferExpired()
    if terms_version != request.terms_version:
        raise TermsChanged(details={"currentTermsVersion": request.terms_version})
    if offer.terms_version == request.terms_version:
        return offer
    offer.terms_version = request.terms_version
    offer.updated_at = now
    await session.flush()
    info = _info(offer, request, version=offer.version, termsVersion=offer.terms_version)
    await notify(session, request.buyer_id, "offer.confirmed", info)
    await requests.emit(session, f"user:{request.buyer_id}", "offer:updated", info)
    return offer


async def withdraw(
    session: AsyncSession, ref: str, seller: User, *, now: datetime | None = None
) -> SellerOffer:
    """The seller takes back a pending offer."""
    now = now or utcnow()
    offer = await get_readable(session, ref, seller, lock=True)
    if offer.seller_id != seller.id:
        raise NotTheSeller()
    request = await _request_of(session, offer)
    if offer.status != PENDING:
        raise OfferNotPending()
    offer.status = "withdrawn"
    offer.updated_at = now
    await session.flush()
    info = _info(offer, request)
    await notify(session, request.buyer_id, "offer.withdrawn", info)
    await requests.emit(session, f"user:{request.buyer_id}", "offer:updated", info)
    return offer


async def reject(
    session: AsyncSession,
    ref: str,
    buyer: User,
    *,
    reason: str | None,
    now: datetime | None = None,
) -> SellerOffer:
    """The buyer declines a pending offer; the seller is told why."""
    now = now or utcnow()
    offer = await get_readable(session, ref, buyer, lock=True)
    request = await _request_of(session, offer)
    if buyer.id != request.buyer_id:
        raise NotTheRequestBuyer()
    if offer.status != PENDING:
        raise OfferNotPending()
    offer.status = "rejected"
    offer.updated_at = now
    await session.flush()
    await notify(session, offer.seller_id, "offer.rejected", _info(offer, request, reason=reason))
    return offer


async def _check_seller(session: AsyncSession, offer: SellerOffer) -> None:
    """The offer's seller can still sell: not banned, still holding the seller role. Their
    row stays share-locked until the accept commits, so a ban waits for it."""
    seller = await repo.seller_account(session, offer.seller_id)
    if seller is None or seller.banned_at is not None or not seller.has_role("seller"):
        raise OfferSellerUnavailable()


async def accept(
    session: AsyncSession,
    ref: str,
    buyer: User,
    *,
    version: int,
    settings: Settings,
    now: datetime | None = None,
) -> tuple[SellerOffer, PurchaseRequest, Payment]:
    """The buyer accepts a pending offer, at the `version` they reviewed, made for the
    request's current terms: the request becomes `accepted` at the offer's price, every
    other pending offer is superseded, and a pending payment is due before the funding
    deadline (now + PAYMENT_WINDOW)."""
    now = now or utcnow()
    requests.require_buyer_role(buyer)
    offer = await get_readable(session, ref, buyer)
    # The request row is the lock every accept of this request queues on (taken before the
    # offer's: see the lock order above). Unscoped: the offer was readable, so is this.
    request = await requests.get_unscoped(session, offer.request_id, lock=True)
    if buyer.id != request.buyer_id:
        raise NotTheRequestBuyer()
    await requests.check_transition(session, request, state.ACCEPTED, actor=buyer, role=state.BUYER)
    if requests.lapsed(request, now):
        raise RequestNotOpen("The request's deadline has passed")
    offer = await _locked(session, offer)
    if offer.status != PENDING:
        raise OfferNotPending(f"This offer is {offer.status}")
    if _expired(offer, now):
        raise OfferExpired()
    if version != offer.version:
        raise OfferChanged(details={"currentVersion": offer.version})
    if offer.terms_version != request.terms_version:
        raise OfferTermsOutdated(
            details={
                "offerTermsVersion": offer.terms_version,
                "requestTermsVersion": request.terms_version,
            }
        )
    await _check_seller(session, offer)
    request.locked_price = offer.price
    request.accepted_offer_id = offer.id
    request.funding_deadline = now + settings.payment_window
    await requests.transition(
        session, request, state.ACCEPTED, actor=buyer, role=state.BUYER, now=now
    )
    offer.status = "accepted"
    offer.updated_at = now
    superseded = await requests.supersede_offers(session, request, offer.id, now)
    for other_id, seller_id in superseded:
        info = {"offerId": str(other_id), "requestId": str(request.id), "title": request.title}
        await notify(session, seller_id, "offer.superseded", info)
    await session.flush()
    payment = await payments.create_pending_payment(session, request, offer, now, settings=settings)
    return offer, request, payment


async def list_for_request(
    session: AsyncSession,
    request_ref: str,
    viewer: User,
    status: str | None,
    params: PageParams,
) -> Page[OfferOut]:
    """The buyer (and admins) see every offer; anyone else who may see the request only
    their own."""
    request = await requests.get_readable(session, request_ref, viewer)
    rows, total = await repo.list_readable(
        session, viewer, params, request_id=request.id, status=status
    )
    return Page[OfferOut].build([OfferOut.model_validate(o) for o in rows], total, params)


async def list_mine(
    session: AsyncSession, seller: User, status: str | None, params: PageParams
) -> Page[MyOfferOut]:
    rows, total = await repo.list_readable(
        session, seller, params, seller_id=seller.id, status=status
    )
    labels = await repo.request_labels(session, {o.request_id for o in rows})
    items = []
    for offer in rows:
        title, request_status = labels.get(offer.request_id, ("", ""))
        base = OfferOut.model_validate(offer).model_dump()
        items.append(
            MyOfferOut.model_validate(
                {**base, "request_title": title, "request_status": request_status}
            )
        )
    return Page[MyOfferOut].build(items, total, params)


async def due_to_expire(session: AsyncSession, now: datetime, limit: int) -> list[uuid.UUID]:
    """Pending offers past their expiry, claimed for this sweep."""
    return await repo.due_to_expire(session, now, limit)


async def expire(session: AsyncSession, offer_id: uuid.UUID, now: datetime) -> None:
    """pending → expired, and the seller is told; 409 when it is no longer pending (a
    concurrent sweep or the seller got there first)."""
    moved = await repo.expire(session, offer_id, now)
    if moved is None:
        raise OfferNotPending()
    seller_id, request_id = moved
    info = {"offerId": str(offer_id), "requestId": str(request_id)}
    await notify(session, seller_id, "offer.expired", info)
