"""Transaction safety: how many confirmations a transfer needs, the AML screen a funded
payment goes through, and the guard's decision on a payment it held back.

- `confirmations_required`: an admin's threshold for the (chain, token) if stored
  (`confirmation_thresholds`, editable at runtime), else TRANSACTION_SAFETY_CONFIRMATIONS,
  else TRANSACTION_SAFETY_DEFAULT_CONFIRMATIONS.
- `screen`: called by the escrow (`escrow.on_funds_confirmed`) once the money is confirmed;
  a reason puts the payment in `awaiting_review`. Rules, from the settings: the sender on
  the deny-list, the payment above TRANSACTION_SAFETY_MAX_PAYMENT, the buyer's funding in
  the last 24 h above TRANSACTION_SAFETY_DAILY_USER_LIMIT.
- `approve` / `reject`: a guard (or an admin) decides; approve holds the money in escrow
  (the request becomes funded), reject refunds it to the buyer.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from bazaar.config import Settings
from bazaar.kit.errors import ValidationFailed
from bazaar.kit.pagination import PageParams
from bazaar.kit.tokens import registry
from bazaar.kit.wallets import EVM_NETWORKS
from bazaar.models import Payment, PurchaseRequest, User
from bazaar.payments import status
from bazaar.payments.safety import repository as repo
from bazaar.payments.safety import rules
from bazaar.payments.safety.errors import NotApprovable, NotAwaitingReview, PaymentNotFound

log = structlog.get_logger("bazaar.safety")

DAY = timedelta(hours=24)
APPROVED = "guard.approved"
ACCEPTED = "accepted"  # the request status that waits for its payment
REJECTED = "guard.rejected"


# -- confirmation thresholds -----------------------------------------------------------------


async def confirmations_required(
    session: AsyncSession, chain_id: int, currency: str, *, settings: Settings
) -> int:
    """Confirmations a transfer of `currency` on `chain_id` needs (at least 1)."""
    stored = await repo.threshold(session, chain_id, currency.upper())
    if stored is not None:
        return max(1, stored)
    return configured_confirmations(settings, chain_id, currency)


def configured_confirmations(settings: Settings, chain_id: int, currency: str) -> int:
    """The threshold the settings give, before any admin override."""
    return rules.configured_confirmations(
        settings.transaction_safety_confirmations,
        chain_id,
        currency,
        settings.transaction_safety_default_confirmations,
    )


@dataclass(frozen=True)
class Threshold:
    chain_id: int
    network: str | None
    currency: str
    confirmations: int
    source: str  # admin | config | default
    updated_by: uuid.UUID | None = None
    updated_at: datetime | None = None


async def list_thresholds(session: AsyncSession, *, settings: Settings) -> list[Threshold]:
    """The threshold of every (chain, token) the token registry can be paid on, and of any
    pair an admin stored, with where each value comes from."""
    stored = {(row.chain_id, row.currency): row for row in await repo.thresholds(session)}
    pairs = {
        (chain_id, token.symbol)
        for token in registry(settings).tokens.values()
        for chain_id in token.networks
    } | set(stored)
    result = []
    for chain_id, currency in sorted(pairs):
        row = stored.get((chain_id, currency))
        network = EVM_NETWORKS.get(chain_id)
        if row is not None:
            result.append(
                Threshold(
                    chain_id,
                    network,
                    currency,
                    row.confirmations,
                    "admin",
                    row.updated_by,
                    row.updated_at,
                )
            )
            continue
        value = configured_confirmations(settings, chain_id, currency)
        table = settings.transaction_safety_confirmations.get(str(chain_id))
        configured = table is not None and (
            not isinstance(table, dict) or currency in table or rules.ANY_TOKEN in table
        )
        result.append(
            Threshold(chain_id, network, currency, value, "config" if configured else "default")
        )
    return result


@dataclass(frozen=True)
class ThresholdChange:
    chain_id: int
    currency: str
    confirmations: int


async def set_thresholds(
    session: AsyncSession,
    changes: list[ThresholdChange],
    *,
    admin: User,
    settings: Settings,
    now: datetime,
) -> list[Threshold]:
    """Store thresholds for (chain, token) pairs the token registry can be paid on; every
    pair is checked before any is written. Returns the whole table."""
    tokens = registry(settings)
    seen: set[tuple[int, str]] = set()
    checked: list[ThresholdChange] = []
    for index, change in enumerate(changes):
        where = f"{index}." if len(changes) > 1 else ""
        token = tokens.token(change.currency, f"{where}currency")
        if change.chain_id not in token.deployments:
            networks = ", ".join(str(c) for c in token.networks) or "none"
            raise ValidationFailed.on(
                f"{where}chainId", f"{token.symbol} is not paid on this chain (it is on {networks})"
            )
        if not 1 <= change.confirmations <= rules.MAX_CONFIRMATIONS:
            raise ValidationFailed.on(
                f"{where}confirmations", f"from 1 to {rules.MAX_CONFIRMATIONS}"
            )
        key = (change.chain_id, token.symbol)
        if key in seen:
            raise ValidationFailed.on(f"{where}currency", "this chain and token are given twice")
        seen.add(key)
        checked.append(ThresholdChange(change.chain_id, token.symbol, change.confirmations))
    for change in checked:
        await repo.upsert_threshold(
            session,
            chain_id=change.chain_id,
            currency=change.currency,
            confirmations=change.confirmations,
            updated_by=admin.id,
            now=now,
        )
        log.info(
            "confirmation_threshold_set",
            chain_id=change.chain_id,
            currency=change.currency,
            confirmations=change.confirmations,
            by=str(admin.id),
        )
    session.expire_all()
    return await list_thresholds(session, settings=settings)


# -- AML screen ------------------------------------------------------------------------------


async def screen(
    session: AsyncSession,
    payment: Payment,
    *,
    sender: str | None,
    amount: Decimal,
    now: datetime,
    settings: Settings,
) -> str | None:
    """Why the funded `payment` must wait for a guard, or None. `sender` is the address the
    confirmed transfer came from, `amount` what it brought (the payment's `amount_paid`,
    which already counts it, is what the per-payment limit compares)."""
    reasons: list[str] = []
    if sender:
        try:
            canonical = rules.canonical_address(sender)
        except ValueError:
            canonical = None
        if canonical is not None and canonical in settings.transaction_safety_denylist:
            reasons.append(f"sender {canonical} is on the deny-list")
    currency = payment.currency
    paid = max(payment.amount_paid or Decimal(0), amount)
    max_payment = rules.limit_for(settings.transaction_safety_max_payment, currency)
    if rules.over(paid, max_payment):
        assert max_payment is not None
        reasons.append(
            f"payment of {rules.describe(paid, currency)} is above the per-payment limit "
            f"of {rules.describe(max_payment, currency)}"
        )
    daily = rules.limit_for(settings.transaction_safety_daily_user_limit, currency)
    if daily is not None:
        earlier = await repo.funded_since(
            session, payment.buyer_id, currency, now - DAY, exclude_payment_id=payment.id
        )
        if rules.over(earlier + paid, daily):
            reasons.append(
                f"buyer's funding in 24 h ({rules.describe(earlier + paid, currency)}) is above "
                f"the daily limit of {rules.describe(daily, currency)}"
            )
    if not reasons:
        return None
    reason = "; ".join(reasons)
    log.info("payment_held_for_review", payment_id=str(payment.id), reason=reason)
    return reason[:500]


# -- guard review ----------------------------------------------------------------------------


async def review_queue(
    session: AsyncSession, params: PageParams, *, currency: str | None = None
) -> tuple[list[Payment], int]:
    """Payments in `awaiting_review`, oldest first (guards and admins)."""
    return await repo.awaiting_review(session, params, currency.upper() if currency else None)


async def _locked_for_review(
    session: AsyncSession, payment_id: uuid.UUID
) -> tuple[Payment, PurchaseRequest]:
    """The payment and its request, locked in the escrow's order (request, then payment)."""
    from bazaar.payments import escrow

    if await repo.get_payment_unscoped(session, payment_id) is None:
        raise PaymentNotFound()
    payment, request = await escrow.lock(session, payment_id)
    if payment.status != status.AWAITING_REVIEW:
        raise NotAwaitingReview(f"This payment is {payment.status}, not awaiting review")
    return payment, request


async def approve(
    session: AsyncSession,
    payment_id: uuid.UUID,
    *,
    guard: User,
    note: str | None,
    now: datetime,
    settings: Settings,
) -> Payment:
    """The guard lets the money into escrow: the payment is held, the request funded."""
    from bazaar.payments import escrow

    payment, request = await _locked_for_review(session, payment_id)
    if request.status != ACCEPTED or request.accepted_offer_id != payment.offer_id:
        raise NotApprovable(
            f"The request is {request.status} and no longer waits for this payment; reject it "
            "to refund the buyer"
        )
    if payment.amount_paid < payment.amount:
        raise NotApprovable("The payment is not paid in full; reject it to refund the buyer")
    payment.reviewed_by = guard.id
    payment.reviewed_at = now
    payment.review_note = note
    await escrow.mark_held(
        session, payment, now=now, settings=settings, cause=APPROVED, actor_id=guard.id
    )
    log.info("payment_review_approved", payment_id=str(payment.id), by=str(guard.id))
    return payment


async def reject(
    session: AsyncSession,
    payment_id: uuid.UUID,
    *,
    guard: User,
    reason: str,
    now: datetime,
    settings: Settings,
) -> Payment:
    """The guard refuses the money: everything paid is refunded to the buyer's refund
    address (a payout instruction) and the request follows the refund."""
    from bazaar.payments import escrow

    # Unlike approve, no check of the request or the amount: money that came late (the
    # request moved on) or short is exactly what a guard refunds.
    payment, _request = await _locked_for_review(session, payment_id)
    payment.reviewed_by = guard.id
    payment.reviewed_at = now
    payment.review_note = reason
    await session.flush()
    refunded = await escrow.refund(
        session,
        payment.id,
        actor_id=guard.id,
        key=f"payment:{payment.id}:guard-reject",
        now=now,
        settings=settings,
        cause=REJECTED,
        reason=reason,
    )
    log.info("payment_review_rejected", payment_id=str(payment.id), by=str(guard.id))
    return refunded
