"""Escrow orchestration: what happens when money arrives, is held, released or refunded.

Every function here runs in the caller's transaction and only flushes. Money moves lock
the purchase request row first, then the payment (`lock`): the marketplace's accept,
cancel and funding-lapse paths take the request first too, so PostgreSQL never sees the
two rows locked in opposite orders. The ledger (payments/ledger/) posts the money; this
module decides the payment's status (`lifecycle.move`), the request's move and the
payout instructions (payments/payouts/).

Decisions (docs/decisions.md, "Escrow: lifecycle"):
- overpaid: the excess over the price stays refundable to the buyer. A release pays the
  seller the price (minus the fee) and refunds the excess to the buyer in the same
  transaction, with its own payout instruction.
- paid late: funds confirmed after `expires_at` set `paid_late`. While the request is
  still `accepted` (the lapse sweep skips requests with money arriving) the payment goes on
  as usual. A payment already closed (expired/cancelled: the request lapsed back to open
  or was cancelled) goes to `awaiting_review` with the reason; a guard refunds it.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from bazaar.config import Settings
from bazaar.models import LedgerTransaction, Payment, PurchaseRequest, User
from bazaar.payments import ledger, lifecycle, repository, status
from bazaar.payments.errors import (
    DeliveryNotConfirmable,
    PaymentDisputed,
    PaymentNotFound,
    PaymentNotHeld,
    PaymentNotRefundable,
)
from bazaar.payments.payouts import service as payouts
from bazaar.payments.safety import service as safety

log = structlog.get_logger("bazaar.escrow")

# Request statuses, as marketplace/requests/state.py names them.
_ACCEPTED, _FUNDED, _DELIVERED, _DISPUTED = "accepted", "funded", "delivered", "disputed"


def _requests() -> Any:
    # marketplace.requests.service imports payments.service: import it when called.
    from bazaar.marketplace.requests import service as requests

    return requests


async def lock(session: AsyncSession, payment_id: uuid.UUID) -> tuple[Payment, PurchaseRequest]:
    """The payment and its request, locked in the agreed order: request, then payment."""
    found = await repository.get_unscoped(session, payment_id)
    if found is None:
        raise PaymentNotFound()
    request = await _requests().get_unscoped(session, found.request_id, lock=True)
    payment = await ledger.lock_payment(session, payment_id)
    return payment, request


# -- money arriving ----------------------------------------------------------------------------


async def _screen(
    session: AsyncSession, payment: Payment, *, now: datetime, settings: Settings
) -> str | None:
    reason: str | None = await safety.screen(
        session,
        payment,
        sender=payment.sender_address,
        amount=payment.amount_paid,
        now=now,
        settings=settings,
    )
    return reason


async def on_funds_confirmed(
    session: AsyncSession, payment: Payment, *, now: datetime, settings: Settings
) -> None:
    """After a confirmed transfer was posted to the ledger and added to `amount_paid`
    (the caller holds the payment's lock): short → partially_paid; enough → screened by
    the safety rules → awaiting_review with the reason, or held (request funded)."""
    cause = "chain.confirmed"
    payment.overpaid = payment.amount_paid > payment.amount
    if payment.expires_at is not None and now > payment.expires_at:
        payment.paid_late = True
    current = payment.status
    if current in (status.EXPIRED, status.CANCELLED):
        payment.review_reason = (
            f"Paid after the payment was {current}: the request no longer waits for it; "
            "refund the buyer"
        )
        await lifecycle.move(session, payment, status.AWAITING_REVIEW, cause=cause, now=now)
        return
    if current not in (status.PENDING, status.PARTIALLY_PAID, status.CONFIRMING):
        # Held, under review or settled already: a top-up only changes the flags (the
        # excess stays refundable; a settled payment's extra is left for an admin).
        log.warning("funds_after_funding", payment_id=str(payment.id), status=current)
        await session.flush()
        return
    if payment.amount_paid < payment.amount:
        if current != status.PARTIALLY_PAID:
            await lifecycle.move(session, payment, status.PARTIALLY_PAID, cause=cause, now=now)
        await session.flush()
        return
    if current == status.PENDING:
        # The table leads to held through `confirming` (a caller that did not move it there
        # when the transfer was first seen gets the step recorded here).
        await lifecycle.move(session, payment, status.CONFIRMING, cause=cause, now=now)
    reason = await _screen(session, payment, now=now, settings=settings)
    if reason:
        payment.review_reason = reason[:500]
        await lifecycle.move(
            session, payment, status.AWAITING_REVIEW, cause=cause, now=now, data={"reason": reason}
        )
        return
    await mark_held(session, payment, now=now, settings=settings, cause=cause)


async def mark_held(
    session: AsyncSession,
    payment: Payment,
    *,
    now: datetime,
    settings: Settings,
    cause: str,
    actor_id: uuid.UUID | None = None,
) -> None:
    """payment → held (held_at), and its request accepted → funded (the delivery window
    starts)."""
    requests = _requests()
    request = await requests.get_unscoped(session, payment.request_id, lock=True)
    await lifecycle.move(session, payment, status.HELD, cause=cause, now=now, actor_id=actor_id)
    payment.held_at = now
    if request.status == _ACCEPTED:
        await requests.mark_funded(
            session, request, now, settings=settings, reason="The payment is held in escrow"
        )
    await session.flush()


# -- money leaving -----------------------------------------------------------------------------


async def _actor(session: AsyncSession, actor_id: uuid.UUID | None) -> User | None:
    return None if actor_id is None else await session.get(User, actor_id)


async def _instruct(
    session: AsyncSession,
    payment: Payment,
    moved: LedgerTransaction,
    *,
    kind: str,
    amount: Decimal,
    now: datetime,
    settings: Settings,
) -> None:
    """The payout instruction for `amount` that `moved` credited: a release to the
    seller's wallet, a refund to the buyer's refund address (else the sender)."""
    if amount <= 0:
        return
    recipient_id = payment.seller_id if kind == "release" else payment.buyer_id
    to_address: str | None
    if kind == "release":
        to_address = await payouts.seller_wallet(session, payment)
    else:
        to_address = payment.refund_address or payment.sender_address
    if to_address is None:
        log.warning("payout_without_address", payment_id=str(payment.id), kind=kind)
        return
    await payouts.instruct(
        session,
        payment,
        kind=kind,
        recipient_id=recipient_id,
        to_address=to_address,
        amount=amount,
        ledger_transaction_id=moved.id,
        now=now,
        settings=settings,
    )


async def release(
    session: AsyncSession,
    payment_id: uuid.UUID,
    *,
    actor_id: uuid.UUID | None,
    key: str,
    now: datetime,
    settings: Settings,
    cause: str,
    disputed_ok: bool = False,
) -> Payment:
    """held → released: the seller is paid the price minus the platform fee (an overpaid
    excess is refunded to the buyer), payout instructions are built, and the request moves
    delivered → completed. 409 PAYMENT_NOT_HELD from any other status, 409
    DELIVERY_NOT_CONFIRMABLE while the request is not delivered, 409 PAYMENT_DISPUTED while
    it is disputed unless `disputed_ok` (the dispute's decision, which moves the request
    itself).

    The ledger keys derive from the payment (`payment:<id>:release`), so however many
    callers race, with whatever idempotency keys, the money moves once; `key` is recorded
    on the event."""
    payment, request = await lock(session, payment_id)
    if payment.status != status.HELD:
        raise PaymentNotHeld(details={"status": payment.status})
    if request.status == _DISPUTED and not disputed_ok:
        raise PaymentDisputed()
    if request.status not in (_DELIVERED, _DISPUTED):
        # Funded, not delivered yet: nothing to confirm.
        raise DeliveryNotConfirmable(details={"requestStatus": request.status})
    requests = _requests()
    actor = await _actor(session, actor_id)
    enforcement = settings.payment_ledger_enforcement
    excess = payment.amount_paid - payment.amount if payment.overpaid else Decimal(0)
    common: dict[str, Any] = {"cause": cause, "now": now, "enforcement": enforcement}
    moved = await ledger.release(
        session,
        payment,
        payment.amount if excess > 0 else None,
        fee_percent=settings.platform_fee_percent,
        key=f"payment:{payment.id}:release",
        settings=settings,
        **common,
    )
    excess_tx = None
    if excess > 0:
        excess_tx = await ledger.refund(
            session, payment, None, key=f"payment:{payment.id}:excess", settings=settings, **common
        )
    data = {"key": key, "ledgerTransactionId": str(moved.id)}
    await lifecycle.move(
        session, payment, status.RELEASED, cause=cause, now=now, actor_id=actor_id, data=data
    )
    payment.settled_at = now
    amounts = await repository.ledger_amounts(session, moved.id)
    # The fee actually taken (rounded down to the token's unit), not the 18-place quote.
    payment.platform_fee = amounts.get("platform_fees", Decimal(0))
    to_seller = amounts.get("seller_payable", Decimal(0))
    await _instruct(
        session, payment, moved, kind="release", amount=to_seller, now=now, settings=settings
    )
    if excess_tx is not None:
        back = (await repository.ledger_amounts(session, excess_tx.id))["buyer_refundable"]
        await _instruct(
            session, payment, excess_tx, kind="refund", amount=back, now=now, settings=settings
        )
    if request.status == _DELIVERED:
        is_buyer = actor is not None and actor.id == request.buyer_id
        admin = actor is not None and not is_buyer and actor.has_role("admin")
        await requests.complete(
            session,
            request,
            actor=actor,
            role="buyer" if is_buyer else ("admin" if admin else "system"),
            force=admin,
            reason="The payment was released to the seller" if admin else None,
            now=now,
        )
    await session.flush()
    return payment


async def refund(
    session: AsyncSession,
    payment_id: uuid.UUID,
    *,
    actor_id: uuid.UUID | None,
    key: str,
    now: datetime,
    settings: Settings,
    cause: str,
    reason: str | None = None,
    disputed_ok: bool = False,
    short_ok: bool = False,
) -> Payment:
    """held or awaiting_review (or partially_paid with `short_ok`: the funding timer) →
    refunded: what the escrow holds goes back to the buyer (refund address, else the
    sender), and the request moves funded/delivered → refunded (a disputed one only with
    `disputed_ok`, and left to the dispute's decision; a request never funded — money under
    review, or short when its funding window ended — goes back to `open`). 409
    PAYMENT_NOT_REFUNDABLE from any other status."""
    payment, request = await lock(session, payment_id)
    refundable: tuple[str, ...] = (status.HELD, status.AWAITING_REVIEW)
    if short_ok:
        refundable += (status.PARTIALLY_PAID,)
    if payment.status not in refundable:
        raise PaymentNotRefundable(details={"status": payment.status})
    if payment.status == status.PARTIALLY_PAID and await repository.has_arriving(
        session, payment.id, repository.ARRIVING
    ):
        # Re-checked under the lock: a top-up saved since the sweep picked this payment.
        raise PaymentNotRefundable(details={"status": payment.status, "moneyArriving": True})
    if request.status == _DISPUTED and not disputed_ok:
        raise PaymentDisputed()
    requests = _requests()
    actor = await _actor(session, actor_id)
    moved = await ledger.refund(
        session,
        payment,
        None,
        key=f"payment:{payment.id}:refund",
        cause=cause,
        now=now,
        enforcement=settings.payment_ledger_enforcement,
        settings=settings,
    )
    data = {"key": key, "ledgerTransactionId": str(moved.id), "reason": reason}
    await lifecycle.move(
        session, payment, status.REFUNDED, cause=cause, now=now, actor_id=actor_id, data=data
    )
    payment.settled_at = now
    back = (await repository.ledger_amounts(session, moved.id)).get("buyer_refundable", Decimal(0))
    await _instruct(session, payment, moved, kind="refund", amount=back, now=now, settings=settings)
    if request.status in (_FUNDED, _DELIVERED):
        is_seller = actor is not None and actor.id == payment.seller_id
        admin = actor is not None and not is_seller and actor.has_role("admin")
        await requests.refund(
            session,
            request,
            actor=actor,
            role="seller" if is_seller else ("admin" if admin else "system"),
            reason=reason,
            now=now,
        )
    elif request.status == _ACCEPTED and request.accepted_offer_id == payment.offer_id:
        # Never held (refused under review, or short at the funding deadline): the request
        # takes offers again.
        await requests.reopen(
            session, request, now, reason=reason or "The payment was refunded after review"
        )
    await session.flush()
    return payment
