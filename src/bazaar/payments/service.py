"""Payments as the marketplace sees them: one pending payment per accepted offer.

The payments issue adds providers, the ledger and safety checks around these functions.
Lock order, to stay free of deadlocks on PostgreSQL: the purchase request row first, then
its payment row (the accept and the funding-window sweep already hold the request).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from bazaar.config import Settings
from bazaar.kit.errors import ValidationFailed
from bazaar.kit.money import QUANTUM, to_decimal
from bazaar.kit.tokens import registry
from bazaar.models import Payment, PurchaseRequest, SellerOffer
from bazaar.payments import repository
from bazaar.payments.errors import PaymentInProgress, TokenNotPayable

PENDING = "pending"
EXPIRED = "expired"
CANCELLED = "cancelled"
FAILED = "failed"
# A closed payment is over and no money moved; an unpaid one may still be dropped.
CLOSED = (EXPIRED, CANCELLED, FAILED)
UNPAID = (PENDING, *CLOSED)


def platform_fee(amount: Decimal, percent: str | Decimal) -> Decimal:
    """The platform's cut of `amount`, exact to 18 decimals."""
    fee = amount * to_decimal(percent) / Decimal(100)
    return fee.quantize(QUANTUM, rounding=ROUND_HALF_EVEN)


async def create_pending_payment(
    session: AsyncSession,
    request: PurchaseRequest,
    offer: SellerOffer,
    now: datetime,
    *,
    settings: Settings,
) -> Payment:
    """The payment the buyer must fund before the request's funding deadline, on the chain
    and token contract the token registry gives for the offer's token and network (409
    TOKEN_NOT_PAYABLE when it has none: an offer older than the registry, or a deployment
    removed from the configuration since)."""
    try:
        paid_in = registry(settings).deployment(offer.currency, offer.network)
    except ValidationFailed:
        raise TokenNotPayable() from None
    payment = Payment(
        request_id=request.id,
        offer_id=offer.id,
        buyer_id=request.buyer_id,
        seller_id=offer.seller_id,
        amount=offer.price,
        platform_fee=platform_fee(offer.price, settings.platform_fee_percent),
        currency=paid_in.symbol,
        network=paid_in.chain_id,
        token_contract=paid_in.contract,
        status=PENDING,
        expires_at=request.funding_deadline,
        created_at=now,
        updated_at=now,
    )
    session.add(payment)
    await session.flush()
    return payment


async def open_payment(session: AsyncSession, request_id: uuid.UUID) -> Payment | None:
    """The request's pending payment, locked; 409 when money is already on its way.

    Call before moving the request away from `accepted` (cancel, funding lapse, reopen).
    """
    payments = await repository.not_closed_locked(session, request_id, CLOSED)
    # Anything past `pending` (partially paid, confirming, held, under review…) means money.
    if any(p.status != PENDING for p in payments):
        raise PaymentInProgress()
    return payments[0] if payments else None


def close_payment(payment: Payment | None, status: str, now: datetime) -> None:
    """Mark an unpaid payment `expired` or `cancelled` (a no-op without one)."""
    if payment is None:
        return
    payment.status = status
    payment.updated_at = now


def in_progress_exists(request_id_column: Any) -> sa.ColumnElement[bool]:
    """SQL: the request has a payment with money arriving or held (sweeps skip those)."""
    return repository.money_moving(request_id_column, UNPAID)
