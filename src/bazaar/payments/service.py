"""Payments as the marketplace and the API see them: one pending payment per accepted offer,
reads scoped to the viewer, release and refund by the parties, the timers' queries, provider
health and the admin cleanup. The money moves themselves are in `escrow.py`.

Lock order, to stay free of deadlocks on PostgreSQL: the purchase request row first, then
its payment row (the accept and the funding-window sweep already hold the request).
"""

from __future__ import annotations

import asyncio
import csv
import io
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from bazaar.config import Settings
from bazaar.kit.db import Database, utcnow
from bazaar.kit.errors import RoleRequired, ValidationFailed
from bazaar.kit.locks import assert_no_write_transaction
from bazaar.kit.money import QUANTUM, format_money, to_decimal
from bazaar.kit.pagination import PageParams
from bazaar.kit.tokens import registry
from bazaar.models import (
    ChainTransfer,
    Payment,
    PaymentEvent,
    Payout,
    PurchaseRequest,
    SellerOffer,
    User,
)
from bazaar.notifications.service import notify
from bazaar.payments import escrow, repository
from bazaar.payments import status as status_
from bazaar.payments.chain.rpc import ChainClient, ChainRequestRefused, ChainUnavailable
from bazaar.payments.errors import (
    NotThePaymentBuyer,
    NotThePaymentSeller,
    PaymentInProgress,
    PaymentNotFound,
    TokenNotPayable,
)

PENDING = status_.PENDING
EXPIRED = status_.EXPIRED
CANCELLED = status_.CANCELLED
FAILED = status_.FAILED
# A closed payment is over and no money moved; an unpaid one may still be dropped.
CLOSED = status_.CLOSED
UNPAID = status_.UNPAID
# Over for the marketplace: closed, or the money went back to the buyer (a payment refused
# under review), so its request may reopen.
SETTLED_BACK = (*CLOSED, status_.REFUNDED)
PR = PurchaseRequest


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
    payments = await repository.not_closed_locked(session, request_id, SETTLED_BACK)
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


# -- reads for the API -------------------------------------------------------------------------


@dataclass
class PaymentView:
    """A payment with what its detail shows: its history, the chain transfers that fund
    it and the payouts (a party sees the payouts made to them; an admin all)."""

    payment: Payment
    events: list[PaymentEvent]
    transfers: list[ChainTransfer]
    payouts: list[Payout]


async def get_readable(session: AsyncSession, payment_id: uuid.UUID, viewer: User) -> Payment:
    """A payment of the viewer's (buyer or seller; an admin any): else 404."""
    payment = await repository.get_readable(session, payment_id, viewer)
    if payment is None:
        raise PaymentNotFound()
    return payment


async def view(session: AsyncSession, payment: Payment, viewer: User) -> PaymentView:
    admin = viewer.has_role("admin") and viewer.id not in (payment.buyer_id, payment.seller_id)
    return PaymentView(
        payment=payment,
        events=await repository.events_of(session, payment.id),
        transfers=await repository.transfers_of(session, payment.id),
        payouts=await repository.payouts_of(session, payment.id, None if admin else viewer.id),
    )


async def list_payments(
    session: AsyncSession,
    viewer: User,
    params: PageParams,
    *,
    everyone: bool = False,
    status: str | None = None,
    q: uuid.UUID | None = None,
) -> tuple[list[Payment], int]:
    """The viewer's payments (as buyer or seller), newest first; `everyone` is the admin's
    search over all payments (403 ROLE_REQUIRED for anyone else)."""
    if everyone and not viewer.has_role("admin"):
        raise RoleRequired.any_of("admin")
    return await repository.list_readable(
        session, viewer, params, everyone=everyone, status=status, q=q
    )


EXPORT_COLUMNS = (
    "id",
    "created_at",
    "status",
    "role",
    "request_id",
    "buyer_id",
    "seller_id",
    "amount",
    "amount_paid",
    "platform_fee",
    "currency",
    "network",
    "token_contract",
    "provider",
    "overpaid",
    "paid_late",
    "held_at",
    "settled_at",
)


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Decimal):
        return format_money(value) or ""
    if isinstance(value, datetime):
        return value.isoformat().replace("+00:00", "Z")
    text = str(value)
    # A cell a spreadsheet would run as a formula is quoted as text (CSV injection).
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


async def export_csv(db: Database, viewer: User, *, everyone: bool) -> AsyncIterator[str]:
    """The viewer's payments as CSV, oldest first, read in batches by a read session of
    its own (the response streams after the request's session is closed)."""
    if everyone and not viewer.has_role("admin"):
        raise RoleRequired.any_of("admin")
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(EXPORT_COLUMNS)
    yield buffer.getvalue()
    async with db.session(False) as session:
        async for batch in repository.stream_readable(session, viewer, everyone=everyone):
            buffer.seek(0)
            buffer.truncate()
            for p in batch:
                role = (
                    "buyer"
                    if p.buyer_id == viewer.id
                    else ("seller" if p.seller_id == viewer.id else "admin")
                )
                row = {**{c: getattr(p, c, None) for c in EXPORT_COLUMNS}, "role": role}
                writer.writerow([_cell(row[c]) for c in EXPORT_COLUMNS])
            yield buffer.getvalue()


# -- release and refund by the parties ---------------------------------------------------------


async def release_by(
    session: AsyncSession,
    payment_id: uuid.UUID,
    user: User,
    *,
    key: str,
    settings: Settings,
    now: datetime | None = None,
) -> Payment:
    """The buyer (or an admin) releases a held payment once the seller has delivered."""
    now = now or utcnow()
    payment = await get_readable(session, payment_id, user)
    is_buyer = user.id == payment.buyer_id
    if not is_buyer and not user.has_role("admin"):
        raise NotThePaymentBuyer()
    cause = "buyer.confirmed_delivery" if is_buyer else "admin.release"
    return await escrow.release(
        session, payment.id, actor_id=user.id, key=key, now=now, settings=settings, cause=cause
    )


async def refund_by(
    session: AsyncSession,
    payment_id: uuid.UUID,
    user: User,
    *,
    key: str,
    reason: str | None,
    settings: Settings,
    now: datetime | None = None,
) -> Payment:
    """The seller (or an admin, with a reason) refunds a held payment to the buyer."""
    now = now or utcnow()
    payment = await get_readable(session, payment_id, user)
    is_seller = user.id == payment.seller_id
    if not is_seller and not user.has_role("admin"):
        raise NotThePaymentSeller()
    if not is_seller and not reason:
        raise ValidationFailed.on("reason", "an admin must give a reason")
    cause = "seller.refund" if is_seller else "admin.refund"
    return await escrow.refund(
        session,
        payment.id,
        actor_id=user.id,
        key=key,
        now=now,
        settings=settings,
        cause=cause,
        reason=reason,
    )


async def held_payment_of(session: AsyncSession, request_id: uuid.UUID) -> Payment | None:
    """The request's payment held in escrow, if any, read without a lock (the release
    then locks the request, then the payment)."""
    return await repository.with_status(session, request_id, status_.HELD)


# -- timers --------------------------------------------------------------------------------------


async def inspection_ended(session: AsyncSession, now: datetime, limit: int) -> list[uuid.UUID]:
    """Held payments whose request was delivered and whose inspection window has ended."""
    return await repository.held_and_due(
        session,
        request_status="delivered",
        deadline=PurchaseRequest.inspection_deadline,
        now=now,
        limit=limit,
        held=status_.HELD,
    )


async def delivery_lapsed(session: AsyncSession, now: datetime, limit: int) -> list[uuid.UUID]:
    """Held payments whose request is funded but not delivered by its delivery deadline."""
    return await repository.held_and_due(
        session,
        request_status="funded",
        deadline=PurchaseRequest.delivery_deadline,
        now=now,
        limit=limit,
        held=status_.HELD,
    )


async def short_when_lapsed(session: AsyncSession, now: datetime, limit: int) -> list[uuid.UUID]:
    """Partially paid payments whose funding window ended with no transfer still
    confirming: what was paid goes back to the buyer and the request reopens."""
    return await repository.short_and_lapsed(
        session, now=now, limit=limit, short=status_.PARTIALLY_PAID, waiting=repository.ARRIVING
    )


@dataclass(frozen=True)
class _Reminder:
    which: str  # the notification is payment.<which>_deadline_soon
    request_status: str
    payment_statuses: tuple[str, ...]
    deadline: str  # the request's column
    party: str  # "buyer" | "seller": who must act before it


# The buyer before the funding deadline (money not all in yet), the seller before the
# delivery deadline, the buyer before the inspection deadline.
_REMINDERS = (
    _Reminder(
        "funding",
        "accepted",
        (status_.PENDING, status_.PARTIALLY_PAID),
        "funding_deadline",
        "buyer",
    ),
    _Reminder("delivery", "funded", (status_.HELD,), "delivery_deadline", "seller"),
    _Reminder("inspection", "delivered", (status_.HELD,), "inspection_deadline", "buyer"),
)


async def send_reminders(
    session: AsyncSession, now: datetime, *, settings: Settings, limit: int
) -> int:
    """Remind the party who must act before each deadline (funding, delivery, inspection),
    once each (stamped on the payment in the same transaction)."""
    sent = 0
    for plan in _REMINDERS:
        due = await repository.reminders_due(
            session,
            request_status=plan.request_status,
            deadline=getattr(PurchaseRequest, plan.deadline),
            reminded=getattr(Payment, f"{plan.which}_reminded_at"),
            now=now,
            lead=settings.payment_reminder_before,
            limit=limit,
            statuses=plan.payment_statuses,
        )
        for payment, request in due:
            at = getattr(request, plan.deadline)
            info = {
                "paymentId": str(payment.id),
                "requestId": str(request.id),
                "title": request.title,
                "deadline": at.isoformat().replace("+00:00", "Z") if at else None,
            }
            party = payment.buyer_id if plan.party == "buyer" else payment.seller_id
            await notify(session, party, f"payment.{plan.which}_deadline_soon", info)
            setattr(payment, f"{plan.which}_reminded_at", now)
            sent += 1
    await session.flush()
    return sent


# -- provider health -----------------------------------------------------------------------------

HEALTH_TIMEOUT = 3.0


async def _chain_health(settings: Settings, chain_id: int) -> dict[str, Any]:
    entry: dict[str, Any] = {"chainId": chain_id, "reachable": False, "blockNumber": None}
    try:
        async with ChainClient.for_chain(settings, chain_id) as chain:
            block = await asyncio.wait_for(chain.block_number(), HEALTH_TIMEOUT)
        entry.update(reachable=True, blockNumber=int(block))
    except TimeoutError:
        entry["error"] = f"no answer within {HEALTH_TIMEOUT:g} s"
    except (ChainUnavailable, ChainRequestRefused) as exc:
        entry["error"] = str(exc)[:300]
    return entry


async def health(settings: Settings) -> dict[str, Any]:
    """Which providers are configured and whether their nodes answer (one JSON-RPC call
    per chain, concurrently, each bounded by HEALTH_TIMEOUT). Network I/O: call it with no
    transaction open."""
    assert_no_write_transaction("payment provider health")
    chains = list(
        await asyncio.gather(*(_chain_health(settings, c) for c in sorted(settings.rpc_urls)))
    )
    receivers = bool(settings.onchain_receiver_address or settings.onchain_receivers)
    configured = bool(chains) and receivers
    return {
        "onchain": {
            "configured": configured,
            "healthy": configured and all(c["reachable"] for c in chains),
            "chains": chains,
        },
        "requestNetwork": {
            "configured": bool(settings.request_network_api_key),
            "healthy": None,
        },
    }


# -- admin cleanup ---------------------------------------------------------------------------

CLEANABLE = (status_.PENDING, status_.EXPIRED, status_.CANCELLED)


@dataclass
class Cleanup:
    payments: list[Payment]
    request_ids: list[uuid.UUID]


async def cleanup(
    session: AsyncSession, provider: str, *, dry_run: bool, now: datetime | None = None
) -> Cleanup:
    """The unfunded leftovers of one provider: its payments that are pending, expired or
    cancelled with no ledger transaction, no chain transfer and no payout, and the
    requests that existed only for them (every payment of the request is such a leftover
    and the request never got past `accepted`: accepted, cancelled or expired). Without
    `dry_run` they are deleted (the requests with their offers and history); a payment any
    money touched is never a candidate, and the delete statement checks it again."""
    from bazaar.marketplace.requests import service as requests

    payments = await repository.cleanup_candidates(session, provider, CLEANABLE, lock=False)
    if not dry_run and payments:
        # The agreed lock order: the requests first (by id), then their payments, re-read
        # under their locks (one may have been paid meanwhile: it is no longer a candidate).
        for request_id in sorted({p.request_id for p in payments}):
            await requests.get_unscoped(session, request_id, lock=True)
        payments = await repository.cleanup_candidates(session, provider, CLEANABLE, lock=True)
    ids = {p.id for p in payments}
    request_ids = list(dict.fromkeys(p.request_id for p in payments))
    siblings = await repository.payments_of_requests(session, request_ids)
    only_ours = {p.request_id for p in siblings} - {
        p.request_id for p in siblings if p.id not in ids
    }
    removable = await requests.unfunded_requests(
        session, [r for r in request_ids if r in only_ours], lock=not dry_run
    )
    if not dry_run:
        await repository.delete_payments(session, [p.id for p in payments])
        await requests.remove_unfunded(session, removable)
    return Cleanup(payments=payments, request_ids=removable)
