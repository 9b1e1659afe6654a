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
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from bazaar.kit.money import money_sum, to_decimal
from bazaar.models import LedgerAccount, LedgerEntry, LedgerTransaction, Payment

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
    # One tuple IN with an expanding parameter: the statement is the same for any number
    # of keys, so SQLAlchemy compiles it once (an OR of ANDs was rebuilt every call).
    return sa.tuple_(LedgerAccount.kind, LedgerAccount.owner_key, LedgerAccount.asset).in_(
        [(k.kind, k.owner_key, k.asset) for k in keys]
    )


def _key(kind: str, owner_key: str, asset: str) -> AccountKey:
    return AccountKey(kind, None if owner_key == NO_OWNER else uuid.UUID(owner_key), asset)


@dataclass(frozen=True)
class Resolved:
    ids: dict[AccountKey, uuid.UUID]
    balance: Decimal  # of `balance_of`
    key_used: bool  # a ledger transaction already has the idempotency key asked about


async def _read(
    session: AsyncSession, keys: set[AccountKey], balance_of: AccountKey | None, key: str | None
) -> tuple[dict[AccountKey, uuid.UUID], Decimal, bool]:
    a = LedgerAccount
    used = (
        sa.exists().where(LedgerTransaction.idempotency_key == key)
        if key is not None
        else sa.false()
    )
    # The one balance wanted comes in the same query (entries joined to that account only),
    # and whether the key is taken, so a movement needs no query of its own for either.
    total: sa.ColumnElement[Any] = (
        money_sum(LedgerEntry.amount) if balance_of is not None else sa.null()
    )
    stmt = sa.select(a.id, a.kind, a.owner_key, a.asset, total, used).where(_match(keys))
    if balance_of is not None:
        stmt = stmt.outerjoin(
            LedgerEntry,
            sa.and_(
                LedgerEntry.account_id == a.id,
                a.kind == balance_of.kind,
                a.owner_key == balance_of.owner_key,
            ),
        ).group_by(a.id, a.kind, a.owner_key, a.asset)
    found: dict[AccountKey, uuid.UUID] = {}
    balance = Decimal(0)
    key_used = False
    for id_, kind, owner, asset, total, taken in await session.execute(stmt):
        account = _key(kind, owner, asset)
        found[account] = id_
        key_used = key_used or bool(taken)
        if account == balance_of:
            balance = to_decimal(total or 0)
    return found, balance, key_used


async def resolve(
    session: AsyncSession,
    keys: Iterable[AccountKey],
    now: datetime,
    *,
    balance_of: AccountKey | None = None,
    key: str | None = None,
) -> Resolved:
    """The ids of the accounts for `keys`, creating the missing ones; the balance of
    `balance_of` (one of them) and whether idempotency `key` is taken, read in the same
    query. Call it after the payment lock: the balance and the key are then current.

    Race-safe on both databases: the insert is `ON CONFLICT DO NOTHING` on the unique
    (kind, owner_key, asset), so two transactions creating the same account both go on,
    and the second read finds the row whichever of them inserted it. On PostgreSQL the
    loser waits for the winner's commit at the insert (the unique index), then skips."""
    wanted = set(keys)
    found, balance, key_used = await _read(session, wanted, balance_of, key)
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
        # New accounts hold nothing; with no account found before, the key is asked here.
        created, _, taken = await _read(session, missing, None, key)
        found.update(created)
        key_used = key_used or taken
    return Resolved({k: found[k] for k in wanted}, balance, key_used)


async def ensure(
    session: AsyncSession, keys: Iterable[AccountKey], now: datetime
) -> dict[AccountKey, uuid.UUID]:
    """The ids of the accounts for `keys`, creating the missing ones (see `resolve`)."""
    return (await resolve(session, keys, now)).ids


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
