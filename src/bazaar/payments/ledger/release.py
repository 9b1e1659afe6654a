"""Release: escrow → the seller, less the platform fee (full or partial)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncSession

from bazaar.config import Settings
from bazaar.kit.money import format_money
from bazaar.models import LedgerTransaction, Payment
from bazaar.payments.ledger import accounts, outflow, rules
from bazaar.payments.ledger.lock import ensure_locked
from bazaar.payments.ledger.posting import RELEASE, Leg, fingerprint


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
    out = await outflow.prepare(
        session,
        payment,
        kind=RELEASE,
        request=request,
        to=[accounts.seller_payable(payment), accounts.platform_fees(asset)],
        wanted=wanted,
        key=key,
        now=now,
        enforcement=enforcement,
    )
    if out.done is not None:
        return out.done
    gross = out.held if wanted is None else wanted
    fee = rules.fee_of(gross, fee_percent, places)
    return await outflow.finish(
        session,
        out,
        legs=[
            Leg(out.escrow, -gross),
            Leg(accounts.seller_payable(payment), gross - fee),
            Leg(accounts.platform_fees(asset), fee),
        ],
        meta={
            "amount": format_money(gross),
            "fee": format_money(fee),
            "seller": format_money(gross - fee),
        },
        cause=cause,
        now=now,
    )
