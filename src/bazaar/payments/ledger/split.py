"""Split: everything held, shared between buyer and seller (a dispute's outcome).

The buyer's share is `held × buyer_percent / 100` rounded down to the token's smallest
unit; the seller's side is the remainder, and the platform fee is taken from the seller's
side only (rounded down the same way). buyer + seller + fee = held, exactly.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncSession

from bazaar.config import Settings
from bazaar.kit.money import format_money
from bazaar.models import LedgerTransaction, Payment
from bazaar.payments.ledger import accounts, outflow, rules
from bazaar.payments.ledger.lock import ensure_locked
from bazaar.payments.ledger.posting import SPLIT, Leg, fingerprint


async def split(
    session: AsyncSession,
    payment: Payment,
    buyer_percent: Decimal | str | int,
    *,
    fee_percent: Decimal | str,
    key: str,
    cause: str,
    now: datetime,
    enforcement: bool = True,
    settings: Settings | None = None,
    decimals: int | None = None,
) -> LedgerTransaction:
    payment = await ensure_locked(session, payment)
    places = rules.decimals_of(payment, settings, decimals)
    share = rules.percent(buyer_percent)
    request = fingerprint(buyer_percent=share, fee_percent=rules.percent(fee_percent))
    asset = accounts.asset_of(payment)
    out = await outflow.prepare(
        session,
        payment,
        kind=SPLIT,
        request=request,
        to=[
            accounts.buyer_refundable(payment),
            accounts.seller_payable(payment),
            accounts.platform_fees(asset),
        ],
        wanted=None,
        key=key,
        now=now,
        enforcement=enforcement,
    )
    if out.done is not None:
        return out.done
    held = out.held
    buyer = rules.round_down(held * share / Decimal(100), places)
    seller_side = held - buyer
    fee = rules.fee_of(seller_side, fee_percent, places)
    return await outflow.finish(
        session,
        out,
        legs=[
            Leg(out.escrow, -held),
            Leg(accounts.buyer_refundable(payment), buyer),
            Leg(accounts.seller_payable(payment), seller_side - fee),
            Leg(accounts.platform_fees(asset), fee),
        ],
        meta={
            "amount": format_money(held),
            "buyer": format_money(buyer),
            "seller": format_money(seller_side - fee),
            "fee": format_money(fee),
        },
        cause=cause,
        now=now,
    )
