"""Ledger accounts: one per (kind, owner, asset), created on first use.

Kinds: `external` (the world outside Bazaar, one per asset, the only account allowed below
zero), `escrow_held` (owned by a payment), `seller_payable` and `buyer_refundable` (owned
by a user), `platform_fees` (no owner). The asset names the token on its chain,
`"<SYMBOL>:<chain id>:<contract>"`, so USDC on two chains never mixes.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from bazaar.models import LedgerAccount, Payment

EXTERNAL = "external"
ESCROW_HELD = "escrow_held"
SELLER_PAYABLE = "seller_payable"
BUYER_REFUNDABLE = "buyer_refundable"
PLATFORM_FEES = "platform_fees"
KINDS = (EXTERNAL, ESCROW_HELD, SELLER_PAYABLE, BUYER_REFUNDABLE, PLATFORM_FEES)
NO_OWNER = "-"


def asset_of(payment: Payment) -> str:
    """`USDC:8453:0x8335…` — rows older than the token registry have no chain: `-`."""
    chain = "-" if payment.network is None else str(payment.network)
    return f"{payment.currency}:{chain}:{payment.token_contract or '-'}"


@dataclass(frozen=True)
class AccountKey:
    kind: str
    owner_id: uuid.UUID | None
    asset: str

    @property
    def owner_key(self) -> str:
        return NO_OWNER if self.owner_id is None else str(self.owner_id)


def external(asset: str) -> AccountKey:
    return AccountKey(EXTERNAL, None, asset)


def escrow(payment: Payment) -> AccountKey:
    return AccountKey(ESCROW_HELD, payment.id, asset_of(payment))


def seller_payable(payment: Payment) -> AccountKey:
    return AccountKey(SELLER_PAYABLE, payment.seller_id, asset_of(payment))


def buyer_refundable(payment: Payment) -> AccountKey:
    return AccountKey(BUYER_REFUNDABLE, payment.buyer_id, asset_of(payment))


def platform_fees(asset: str) -> AccountKey:
    return AccountKey(PLATFORM_FEES, None, asset)


def _match(keys: Iterable[AccountKey]) -> sa.ColumnElement[bool]:
    return sa.or_(
        *(
            sa.and_(
                LedgerAccount.kind == k.kind,
                LedgerAccount.owner_key == k.owner_key,
                LedgerAccount.asset == k.asset,
            )
            for k in keys
        )
    )


def _key(account: LedgerAccount) -> AccountKey:
    return AccountKey(account.kind, account.owner_id, account.asset)


async def ensure(
    session: AsyncSession, keys: Iterable[AccountKey], now: datetime
) -> dict[AccountKey, LedgerAccount]:
    """The accounts for `keys`, creating the missing ones.

    Race-safe on both databases: the insert is `ON CONFLICT DO NOTHING` on the unique
    (kind, owner_key, asset), so two transactions creating the same account both go on,
    and the second read finds the row whichever of them inserted it. On PostgreSQL the
    loser waits for the winner's commit at the insert (the unique index), then skips."""
    wanted = set(keys)
    found = {
        _key(a): a for a in (await session.scalars(sa.select(LedgerAccount).where(_match(wanted))))
    }
    missing = wanted - found.keys()
    if missing:
        insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
        rows = [
            {
                "id": uuid.uuid4(),
                "kind": k.kind,
                "owner_id": k.owner_id,
                "owner_key": k.owner_key,
                "asset": k.asset,
                "created_at": now,
            }
            for k in sorted(missing, key=lambda k: (k.kind, k.owner_key, k.asset))
        ]
        stmt = insert(LedgerAccount).values(rows)
        await session.execute(stmt.on_conflict_do_nothing())
        found.update(
            {
                _key(a): a
                for a in await session.scalars(sa.select(LedgerAccount).where(_match(missing)))
            }
        )
    return {k: found[k] for k in wanted}


async def lock(session: AsyncSession, account_ids: Iterable[uuid.UUID]) -> None:
    """Row locks on accounts about to be debited, in id order (no deadlock between two
    payouts of one seller); SQLite's write transaction is already exclusive."""
    ids = sorted(set(account_ids))
    if ids and session.get_bind().dialect.name == "postgresql":
        await session.execute(
            sa.select(LedgerAccount.id)
            .where(LedgerAccount.id.in_(ids))
            .order_by(LedgerAccount.id)
            .with_for_update()
        )
