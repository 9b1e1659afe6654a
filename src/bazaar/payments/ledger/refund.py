"""Refund: escrow → the buyer (what remains, or a part of it); no fee."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncSession

from bazaar.config import Settings
from bazaar.kit.money import format_money
from bazaar.models import LedgerTransaction, Payment
from bazaar.payments.ledger import accounts, rules
from bazaar.payments.ledger.lock import ensure_locked
from bazaar.payments.ledger.posting import REFUND, Leg, existing, fingerprint, post


async def refund(
    session: AsyncSession,
    payment: Payment,
    amount: Decimal | None = None,
    *,
    key: str,
    cause: str,
    now: datetime,
    enforcement: bool = True,
    settings: Settings | None = None,
    decimals: int | None = None,
) -> LedgerTransaction:
    """Move `amount` (None: what remains held) to the buyer's refundable account."""
    payment = await ensure_locked(session, payment)
    places = rules.decimals_of(payment, settings, decimals)
    wanted = None if amount is None else rules.checked_amount(amount, places)
    request = fingerprint(amount=wanted)
    escrow = accounts.escrow(payment)
    resolved = await accounts.resolve(
        session, [escrow, accounts.buyer_refundable(payment)], now, balance_of=escrow, key=key
    )
    if resolved.key_used:
        found = await existing(session, key, kind=REFUND, payment_id=payment.id, request=request)
        if found is not None:
            return found
    rules.refuse_terminal(payment)
    held = await rules.cover(
        session,
        payment,
        held=resolved.balance,
        wanted=wanted,
        move=REFUND,
        key=key,
        now=now,
        enforcement=enforcement,
    )
    gross = held if wanted is None else wanted
    return await post(
        session,
        kind=REFUND,
        key=key,
        cause=cause,
        now=now,
        payment_id=payment.id,
        request=request,
        legs=[Leg(escrow, -gross), Leg(accounts.buyer_refundable(payment), gross)],
        meta={"amount": format_money(gross)},
        known={escrow: held},
        resolved=resolved.ids,
    )
