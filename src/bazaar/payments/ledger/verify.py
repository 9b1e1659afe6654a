"""The invariant checker behind `bazaar ledger verify` (SPEC §5).

Each check is one query (or two) over the whole ledger and names every breach it finds:

1. every transaction's entries sum to zero per asset, and it has at least two;
2. every entry's asset is its account's asset;
3. no account but `external` has a negative balance;
4. each payment's held balance (its escrow account) equals what its transactions say:
   funded − released to the seller − refunded to the buyer − fees, and is not negative;
   an escrow account moves only in transactions of its own payment;
5. a payment settled (released, refunded, split) holds nothing;
6. idempotency keys are unique;
7. every payout marked done has its payout ledger transaction, for its amount.

The hypothesis state machine runs it after every step; tests plant each breach with raw
SQL and see it named.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from bazaar.kit.money import money_sum
from bazaar.models import LedgerAccount, LedgerEntry, LedgerTransaction, Payment, Payout
from bazaar.payments import status
from bazaar.payments.ledger import accounts
from bazaar.payments.ledger.posting import PAYOUT

SETTLED = (status.RELEASED, status.REFUNDED, status.SPLIT)
SHOWN = 20  # breaches listed per check; the count is always complete


@dataclass
class Check:
    name: str
    description: str
    breaches: list[str] = field(default_factory=list)
    count: int = 0

    @property
    def ok(self) -> bool:
        return self.count == 0

    def breach(self, text: str) -> None:
        self.count += 1
        if len(self.breaches) < SHOWN:
            self.breaches.append(text)


@dataclass
class Report:
    checks: list[Check]
    transactions: int = 0
    entries: int = 0
    accounts: int = 0
    payments: int = 0

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.checks)

    def check(self, name: str) -> Check:
        return next(c for c in self.checks if c.name == name)


async def _count(session: AsyncSession, model: type) -> int:
    return int(await session.scalar(sa.select(sa.func.count()).select_from(model)) or 0)


async def verify(session: AsyncSession) -> Report:
    """Check every ledger invariant; read-only, any session (a read session is enough)."""
    checks = [
        await _balanced(session),
        await _assets(session),
        await _not_negative(session),
        await _held(session),
        await _settled_empty(session),
        await _keys_unique(session),
        await _payouts(session),
    ]
    return Report(
        checks=checks,
        transactions=await _count(session, LedgerTransaction),
        entries=await _count(session, LedgerEntry),
        accounts=await _count(session, LedgerAccount),
        payments=await _count(session, Payment),
    )


async def _balanced(session: AsyncSession) -> Check:
    check = Check("balanced", "every transaction sums to zero per asset, with 2+ entries")
    rows = await session.execute(
        sa.select(LedgerEntry.transaction_id, LedgerEntry.asset, money_sum(LedgerEntry.amount))
        .group_by(LedgerEntry.transaction_id, LedgerEntry.asset)
        .having(money_sum(LedgerEntry.amount) != Decimal(0))
    )
    for tx, asset, total in rows:
        check.breach(f"transaction {tx}: {asset} sums to {total}")
    few = await session.execute(
        sa.select(LedgerTransaction.id, sa.func.count(LedgerEntry.id))
        .outerjoin(LedgerEntry, LedgerEntry.transaction_id == LedgerTransaction.id)
        .group_by(LedgerTransaction.id)
        .having(sa.func.count(LedgerEntry.id) < 2)
    )
    for tx, n in few:
        check.breach(f"transaction {tx}: {n} entries")
    return check


async def _assets(session: AsyncSession) -> Check:
    check = Check("assets", "every entry is in its account's asset")
    rows = await session.execute(
        sa.select(LedgerEntry.id, LedgerEntry.asset, LedgerAccount.asset)
        .join(LedgerAccount, LedgerAccount.id == LedgerEntry.account_id)
        .where(LedgerEntry.asset != LedgerAccount.asset)
    )
    for entry, asset, account_asset in rows:
        check.breach(f"entry {entry}: {asset} on an account in {account_asset}")
    return check


async def _not_negative(session: AsyncSession) -> Check:
    check = Check("not_negative", "no account but external is below zero")
    rows = await session.execute(
        sa.select(
            LedgerAccount.id,
            LedgerAccount.kind,
            LedgerAccount.owner_key,
            LedgerAccount.asset,
            money_sum(LedgerEntry.amount),
        )
        .join(LedgerEntry, LedgerEntry.account_id == LedgerAccount.id)
        .where(LedgerAccount.kind != accounts.EXTERNAL)
        .group_by(
            LedgerAccount.id, LedgerAccount.kind, LedgerAccount.owner_key, LedgerAccount.asset
        )
        .having(money_sum(LedgerEntry.amount) < Decimal(0))
    )
    for _id, kind, owner, asset, total in rows:
        check.breach(f"{kind} {owner} {asset}: {total}")
    return check


async def _held(session: AsyncSession) -> Check:
    check = Check(
        "held",
        "each payment holds funded − released − refunded − fees (≥ 0), in its own account",
    )
    # Per payment and account kind: what its transactions put in each kind of account.
    rows = await session.execute(
        sa.select(
            LedgerTransaction.payment_id,
            LedgerAccount.kind,
            LedgerAccount.owner_key,
            money_sum(LedgerEntry.amount),
        )
        .join(LedgerEntry, LedgerEntry.transaction_id == LedgerTransaction.id)
        .join(LedgerAccount, LedgerAccount.id == LedgerEntry.account_id)
        .where(LedgerTransaction.kind != PAYOUT)
        .group_by(LedgerTransaction.payment_id, LedgerAccount.kind, LedgerAccount.owner_key)
    )
    per: dict[str, dict[str, Decimal]] = defaultdict(lambda: defaultdict(Decimal))
    for payment_id, kind, owner, total in rows:
        if kind == accounts.ESCROW_HELD and str(payment_id) != owner:
            check.breach(f"escrow of payment {owner} moved by a transaction of {payment_id}")
            continue
        per[str(payment_id)][kind] += Decimal(total)
    # The escrow accounts' own balances.
    escrow = {
        owner: Decimal(total)
        for owner, total in await session.execute(
            sa.select(LedgerAccount.owner_key, money_sum(LedgerEntry.amount))
            .join(LedgerEntry, LedgerEntry.account_id == LedgerAccount.id)
            .where(LedgerAccount.kind == accounts.ESCROW_HELD)
            .group_by(LedgerAccount.owner_key)
        )
    }
    for payment in sorted(set(per) | set(escrow)):
        kinds = per.get(payment, {})
        funded = -kinds.get(accounts.EXTERNAL, Decimal(0))
        released = kinds.get(accounts.SELLER_PAYABLE, Decimal(0))
        refunded = kinds.get(accounts.BUYER_REFUNDABLE, Decimal(0))
        fees = kinds.get(accounts.PLATFORM_FEES, Decimal(0))
        expected = funded - released - refunded - fees
        held = escrow.get(payment, Decimal(0))
        if held != expected:
            check.breach(
                f"payment {payment}: holds {held}, but funded {funded} − released "
                f"{released} − refunded {refunded} − fees {fees} = {expected}"
            )
        if held < 0:
            check.breach(f"payment {payment}: holds {held}")
    return check


async def _settled_empty(session: AsyncSession) -> Check:
    check = Check("settled_empty", "a released, refunded or split payment holds nothing")
    rows = await session.execute(
        sa.select(Payment.id, Payment.status, money_sum(LedgerEntry.amount))
        .join(
            LedgerAccount,
            sa.and_(
                LedgerAccount.kind == accounts.ESCROW_HELD,
                LedgerAccount.owner_id == Payment.id,
            ),
        )
        .join(LedgerEntry, LedgerEntry.account_id == LedgerAccount.id)
        .where(Payment.status.in_(SETTLED))
        .group_by(Payment.id, Payment.status)
        .having(money_sum(LedgerEntry.amount) != Decimal(0))
    )
    for payment_id, state, total in rows:
        check.breach(f"payment {payment_id} is {state} but holds {total}")
    return check


async def _keys_unique(session: AsyncSession) -> Check:
    check = Check("keys_unique", "idempotency keys are unique")
    rows = await session.execute(
        sa.select(LedgerTransaction.idempotency_key, sa.func.count())
        .group_by(LedgerTransaction.idempotency_key)
        .having(sa.func.count() > 1)
    )
    for key, n in rows:
        check.breach(f"key {key!r} used by {n} transactions")
    return check


async def _payouts(session: AsyncSession) -> Check:
    check = Check("payouts", "every payout marked done has its payout transaction")
    posted: dict[str, Decimal] = {}
    rows = await session.execute(
        sa.select(LedgerTransaction.meta, money_sum(LedgerEntry.amount))
        .join(LedgerEntry, LedgerEntry.transaction_id == LedgerTransaction.id)
        .join(LedgerAccount, LedgerAccount.id == LedgerEntry.account_id)
        .where(LedgerTransaction.kind == PAYOUT, LedgerAccount.kind == accounts.EXTERNAL)
        .group_by(LedgerTransaction.id, LedgerTransaction.meta)
    )
    for meta, total in rows:
        payout_id = (meta or {}).get("payout_id")
        if payout_id:
            posted[str(payout_id)] = Decimal(total)
    done = await session.execute(sa.select(Payout.id, Payout.amount).where(Payout.status == "done"))
    for payout_id, amount in done:
        got = posted.get(str(payout_id))
        if got is None:
            check.breach(f"payout {payout_id} is done without a payout transaction")
        elif got != amount:
            check.breach(f"payout {payout_id} of {amount}: the ledger paid out {got}")
    return check
