"""Release: escrow → the seller, less the platform fee (full or partial)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncSession

from bazaar.config import Settings
from bazaar.kit.money import format_money
from bazaar.models import LedgerTransaction, Payment
from bazaar.payments.ledger import accounts, rules
from bazaar.payments.ledger.lock import ensure_locked
from bazaar.payments.ledger.posting import RELEASE, Leg, existing, fingerprint, post


async def release(
    session: AsyncSession,
    payment: Payment,
    amount: Decimal | None = None,
    *,
    fee_percent: Decimal | str,
    key: str,
    cause: str,
    now: datetime,
    enforcement: bool = True,
    settings: Settings | None = None,
    decimals: int | None = None,
) -> LedgerTransaction:
    """Move `amount` (None: everything held) to the seller's payable account; the fee,
    `amount × fee_percent / 100` rounded down to the token's smallest unit, goes to the
    platform and the seller gets the rest, so the two always sum to `amount`."""
    payment = await ensure_locked(session, payment)
    places = rules.decimals_of(payment, settings, decimals)
    wanted = None if amount is None else rules.checked_amount(amount, places)
    request = fingerprint(amount=wanted, fee_percent=rules.percent(fee_percent))
    asset = accounts.asset_of(payment)
    escrow = accounts.escrow(payment)
    resolved = await accounts.resolve(
        session,
        [escrow, accounts.seller_payable(payment), accounts.platform_fees(asset)],
        now,
        balance_of=escrow,
        key=key,
    )
    if resolved.key_used:
        found = await existing(session, key, kind=RELEASE, payment_id=payment.id, request=request)
        if found is not None:
            return found
    rules.refuse_terminal(payment)
    held = await rules.cover(
        session,
        payment,
        held=resolved.balance,
        wanted=wanted,
        move=RELEASE,
        key=key,
        now=now,
        enforcement=enforcement,
    )
    gross = held if wanted is None else wanted
    fee = rules.fee_of(gross, fee_percent, places)
    return await post(
        session,
        kind=RELEASE,
        key=key,
        cause=cause,
        now=now,
        payment_id=payment.id,
        request=request,
        legs=[
            Leg(escrow, -gross),
            Leg(accounts.seller_payable(payment), gross - fee),
            Leg(accounts.platform_fees(asset), fee),
        ],
        meta={
            "amount": format_money(gross),
            "fee": format_money(fee),
            "seller": format_money(gross - fee),
        },
        known={escrow: held},
        resolved=resolved.ids,
    )
