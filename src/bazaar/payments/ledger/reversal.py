"""Reversal: the mirror image of an earlier transaction (a fund undone by a chain reorg,
a correction). Entries are never changed; the reversal posts their negation and points at
the original (`reverses_id`, unique: a transaction is reversed at most once)."""

from __future__ import annotations

import uuid
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from bazaar.models import LedgerAccount, LedgerEntry, LedgerTransaction
from bazaar.payments.ledger.accounts import AccountKey
from bazaar.payments.ledger.errors import (
    AlreadyReversed,
    LedgerTransactionNotFound,
    NotReversible,
)
from bazaar.payments.ledger.lock import lock_payment
from bazaar.payments.ledger.posting import REVERSAL, Leg, existing, fingerprint, post


async def reverse(
    session: AsyncSession, transaction_id: uuid.UUID, *, key: str, cause: str, now: datetime
) -> LedgerTransaction:
    original = await session.get(LedgerTransaction, transaction_id)
    if original is None:
        raise LedgerTransactionNotFound()
    if original.payment_id is not None:
        await lock_payment(session, original.payment_id)
    request = fingerprint(reverses=transaction_id)
    found = await existing(
        session, key, kind=REVERSAL, payment_id=original.payment_id, request=request
    )
    if found is not None:
        return found
    if original.kind == REVERSAL:
        raise NotReversible()
    earlier = await session.scalar(
        sa.select(LedgerTransaction.id).where(LedgerTransaction.reverses_id == transaction_id)
    )
    if earlier is not None:
        raise AlreadyReversed(details={"reversal": str(earlier)})
    rows = await session.execute(
        sa.select(LedgerAccount, LedgerEntry.amount)
        .join(LedgerEntry, LedgerEntry.account_id == LedgerAccount.id)
        .where(LedgerEntry.transaction_id == transaction_id)
    )
    legs = [
        Leg(AccountKey(account.kind, account.owner_id, account.asset), -amount)
        for account, amount in rows
    ]
    return await post(
        session,
        kind=REVERSAL,
        key=key,
        cause=cause,
        now=now,
        payment_id=original.payment_id,
        reverses_id=original.id,
        request=request,
        legs=legs,
        meta={"reverses_kind": original.kind},
    )
