"""Payout: money Bazaar owes a user leaves for their wallet (seller_payable or
buyer_refundable → external). Posted when the payout is done (verified on chain): a payout
that fails moved nothing."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from bazaar.models import LedgerTransaction, Payout
from bazaar.payments.ledger import accounts
from bazaar.payments.ledger.accounts import AccountKey
from bazaar.payments.ledger.errors import InvalidLedgerAmount
from bazaar.payments.ledger.lock import lock_payment
from bazaar.payments.ledger.posting import PAYOUT, Leg, existing, fingerprint, post

SOURCE = {"release": accounts.SELLER_PAYABLE, "refund": accounts.BUYER_REFUNDABLE}


async def payout(
    session: AsyncSession, payout: Payout, *, key: str, cause: str, now: datetime
) -> LedgerTransaction:
    """Take `payout.amount` out of the recipient's payable/refundable account. One ledger
    transaction per payout: a second call for the same payout (even with another key)
    returns the first; InsufficientBalance when the account holds less than the payout."""
    payment = await lock_payment(session, payout.payment_id)
    kind = SOURCE.get(payout.kind)
    if kind is None:
        raise InvalidLedgerAmount(f"unknown payout kind {payout.kind!r}")
    if payout.amount <= 0:
        raise InvalidLedgerAmount("A payout moves a positive amount")
    request = fingerprint(payout_id=payout.id, amount=payout.amount)
    found = await existing(session, key, kind=PAYOUT, payment_id=payment.id, request=request)
    if found is not None:
        return found
    for earlier in await session.scalars(
        sa.select(LedgerTransaction).where(
            LedgerTransaction.payment_id == payment.id, LedgerTransaction.kind == PAYOUT
        )
    ):
        if (earlier.meta or {}).get("payout_id") == str(payout.id):
            return earlier
    asset = accounts.asset_of(payment)
    return await post(
        session,
        kind=PAYOUT,
        key=key,
        cause=cause,
        now=now,
        payment_id=payment.id,
        request=request,
        legs=[
            Leg(AccountKey(kind, payout.recipient_id, asset), -payout.amount),
            Leg(accounts.external(asset), payout.amount),
        ],
        meta={"payout_id": str(payout.id), "to": payout.to_address},
    )
