"""The one posting function every movement goes through.

A movement (fund, release, refund, split, payout, reversal) decides the legs; `post`
checks them and writes the transaction and its entries:

- the entries sum to zero per asset, and each entry's asset is its account's;
- no account but `external` goes below zero (debited accounts are locked first);
- the idempotency key: a movement calls `existing()` first, after locking the payment, and
  gets the transaction the same key already posted (nothing is posted twice) or
  `LedgerKeyReused` when the key was used for a different movement. The unique index on
  `idempotency_key` is the last guard.

On PostgreSQL the database refuses the same things again (migration 0010: append-only
triggers and a deferred balance check at COMMIT); on SQLite this function is the guard and
`ledger verify` the proof.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import make_transient_to_detached

from bazaar.kit.money import format_money, to_decimal
from bazaar.models import LedgerEntry, LedgerTransaction
from bazaar.payments.ledger import accounts, balances
from bazaar.payments.ledger.accounts import AccountKey
from bazaar.payments.ledger.errors import (
    InsufficientBalance,
    LedgerKeyReused,
    UnbalancedTransaction,
)

# fund | release | refund | split | payout | reversal
FUND = "fund"
RELEASE = "release"
REFUND = "refund"
SPLIT = "split"
PAYOUT = "payout"
REVERSAL = "reversal"
KINDS = (FUND, RELEASE, REFUND, SPLIT, PAYOUT, REVERSAL)
# Core tables: an INSERT through them skips the ORM's bulk-persistence layer (~1 ms each).
TRANSACTIONS: sa.Table = LedgerTransaction.__table__  # type: ignore[assignment]
ENTRIES: sa.Table = LedgerEntry.__table__  # type: ignore[assignment]


@dataclass(frozen=True)
class Leg:
    """One side of a movement: `amount` added to `account` (negative takes away)."""

    account: AccountKey
    amount: Decimal


def fingerprint(**request: Any) -> dict[str, Any]:
    """What the caller asked for, as JSON (money as exact decimal strings): stored in the
    transaction's `meta["request"]` and compared when its key comes back."""
    return {
        k: format_money(v) if isinstance(v, Decimal) else (None if v is None else str(v))
        for k, v in sorted(request.items())
    }


async def existing(
    session: AsyncSession,
    key: str,
    *,
    kind: str,
    payment_id: uuid.UUID | None,
    request: Mapping[str, Any],
) -> LedgerTransaction | None:
    """The transaction `key` already posted for this very movement, if any; a key used for
    another movement (kind, payment or request differ) is `LedgerKeyReused`."""
    found = await session.scalar(
        sa.select(LedgerTransaction).where(LedgerTransaction.idempotency_key == key)
    )
    if found is None:
        return None
    same = (
        found.kind == kind
        and found.payment_id == payment_id
        and (found.meta or {}).get("request") == dict(request)
    )
    if not same:
        raise LedgerKeyReused(details={"key": key, "postedAs": found.kind})
    return found


async def post(
    session: AsyncSession,
    *,
    kind: str,
    key: str,
    cause: str,
    now: datetime,
    legs: Sequence[Leg],
    request: Mapping[str, Any],
    payment_id: uuid.UUID | None = None,
    reverses_id: uuid.UUID | None = None,
    meta: Mapping[str, Any] | None = None,
    known: Mapping[AccountKey, Decimal] | None = None,
    resolved: Mapping[AccountKey, uuid.UUID] | None = None,
) -> LedgerTransaction:
    """Write one balanced transaction. `known` gives balances the caller has already read
    under the payment lock (the escrow's), `resolved` account ids it already has, so
    neither is read twice."""
    if kind not in KINDS:
        raise ValueError(f"unknown ledger transaction kind {kind!r}")
    per_account: dict[AccountKey, Decimal] = defaultdict(Decimal)
    per_asset: dict[str, Decimal] = defaultdict(Decimal)
    for leg in legs:
        amount = to_decimal(leg.amount)
        per_account[leg.account] += amount
        per_asset[leg.account.asset] += amount
    moves = {k: v for k, v in per_account.items() if v != 0}
    unbalanced = {asset: total for asset, total in per_asset.items() if total != 0}
    if unbalanced or len(moves) < 2:
        raise UnbalancedTransaction(
            details={"kind": kind, "unbalanced": {a: str(t) for a, t in unbalanced.items()}}
        )

    if resolved is not None and all(k in resolved for k in moves):
        found: Mapping[AccountKey, uuid.UUID] = resolved
    else:
        found = await accounts.ensure(session, moves, now)
    debited = {
        k: found[k] for k, amount in moves.items() if amount < 0 and k.kind != accounts.EXTERNAL
    }
    to_sum = [i for k, i in debited.items() if known is None or k not in known]
    await accounts.lock(session, to_sum)
    current = await balances.balances(session, to_sum)
    for k, account_id in debited.items():
        before = known[k] if known is not None and k in known else current[account_id]
        if before + moves[k] < 0:
            raise InsufficientBalance(
                details={"account": k.kind, "balance": str(before), "debit": str(-moves[k])}
            )

    row = {
        "id": uuid.uuid4(),
        "kind": kind,
        "payment_id": payment_id,
        "idempotency_key": key,
        "reverses_id": reverses_id,
        "cause": cause,
        "meta": {"request": dict(request), **(meta or {})},
        "created_at": now,
    }
    # Core INSERTs, the transaction row first (the entries reference it): the ORM's flush
    # and bulk paths cost more than the statements themselves (bench/ledger_release.py).
    # The row is then attached to the session as a loaded object, without a SELECT.
    await session.execute(sa.insert(TRANSACTIONS).values(**row))
    transaction = LedgerTransaction(**row)
    make_transient_to_detached(transaction)
    session.add(transaction)
    await session.execute(
        sa.insert(ENTRIES),
        [
            {
                "id": uuid.uuid4(),
                "transaction_id": transaction.id,
                "account_id": found[k],
                "asset": k.asset,
                "amount": amount,
                "created_at": now,
            }
            for k, amount in sorted(moves.items(), key=lambda item: (item[0].kind, item[1]))
        ],
    )
    return transaction


async def entries_of(session: AsyncSession, transaction_id: uuid.UUID) -> list[LedgerEntry]:
    return list(
        await session.scalars(
            sa.select(LedgerEntry)
            .where(LedgerEntry.transaction_id == transaction_id)
            .order_by(LedgerEntry.id)
        )
    )
