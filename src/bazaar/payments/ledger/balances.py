"""Balances: the exact sum of an account's entries (`money_sum`, exact on SQLite too)."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from bazaar.kit.money import money_sum
from bazaar.models import LedgerAccount, LedgerEntry, Payment
from bazaar.payments.ledger import accounts


async def balance(session: AsyncSession, account_id: uuid.UUID) -> Decimal:
    total = await session.scalar(
        sa.select(money_sum(LedgerEntry.amount)).where(LedgerEntry.account_id == account_id)
    )
    return Decimal(total or 0)


async def balances(
    session: AsyncSession, account_ids: Iterable[uuid.UUID]
) -> dict[uuid.UUID, Decimal]:
    """Each account's balance (0 for one without entries), in one query."""
    ids = list(set(account_ids))
    result = {i: Decimal(0) for i in ids}
    if not ids:
        return result
    rows = await session.execute(
        sa.select(LedgerEntry.account_id, money_sum(LedgerEntry.amount))
        .where(LedgerEntry.account_id.in_(ids))
        .group_by(LedgerEntry.account_id)
    )
    for account_id, total in rows:
        result[account_id] = Decimal(total or 0)
    return result


async def held(session: AsyncSession, payment: Payment) -> Decimal:
    """What the escrow holds for `payment` now (0 before any funding)."""
    total = await session.scalar(
        sa.select(money_sum(LedgerEntry.amount))
        .join(LedgerAccount, LedgerAccount.id == LedgerEntry.account_id)
        .where(
            LedgerAccount.kind == accounts.ESCROW_HELD,
            LedgerAccount.owner_key == str(payment.id),
            LedgerAccount.asset == accounts.asset_of(payment),
        )
    )
    return Decimal(total or 0)


async def owed(session: AsyncSession, kind: str, owner_id: uuid.UUID, asset: str) -> Decimal:
    """What Bazaar owes a user on one asset: `seller_payable` or `buyer_refundable`."""
    total = await session.scalar(
        sa.select(money_sum(LedgerEntry.amount))
        .join(LedgerAccount, LedgerAccount.id == LedgerEntry.account_id)
        .where(
            LedgerAccount.kind == kind,
            LedgerAccount.owner_key == str(owner_id),
            LedgerAccount.asset == asset,
        )
    )
    return Decimal(total or 0)
