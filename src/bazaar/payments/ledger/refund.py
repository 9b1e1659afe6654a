"""Refund: escrow → the buyer (what remains, or a part of it); no fee."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncSession

from bazaar.config import Settings
from bazaar.kit.money import format_money
from bazaar.models import LedgerTransaction, Payment
from bazaar.payments.ledger import accounts, outflow, rules
from bazaar.payments.ledger.lock import ensure_locked
from bazaar.payments.ledger.posting import REFUND, Leg, fingerprint


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
    out = await outflow.prepare(
        session,
        payment,
        kind=REFUND,
        request=request,
        to=[accounts.buyer_refundable(payment)],
        wanted=wanted,
        key=key,
        now=now,
        enforcement=enforcement,
    )
    if out.done is not None:
        return out.done
    gross = out.held if wanted is None else wanted
    return await outflow.finish(
        session,
        out,
        legs=[Leg(out.escrow, -gross), Leg(accounts.buyer_refundable(payment), gross)],
        meta={"amount": format_money(gross)},
        cause=cause,
        now=now,
    )
